//! The host services plugins call through `HostHandle::call(service, payload)`.
//!
//! Every side effect of a plugin comes through here, which is what makes `--dry-run` (record,
//! don't do), `--root` (confine paths), backups before deletion and secret redaction hold for
//! every plugin at once.

mod audit;
mod backups;
mod consul;
mod credentials;
mod exec;
mod files;
mod input;
mod ldap;
mod localconfig;
mod log;
mod net;
mod program;
mod prompt;
mod state;
mod steps;
mod workflow;

/// Where workflow runs are kept (named in the man pages).
pub use workflow::RUNS_DIR;

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RStr, RString};
use carbonio_mesh_plugin_abi::HostHandle;
use carbonio_mesh_plugin_api::services::{self as svc, Service, ServiceErrorKind, ServiceFailure};
use serde::{de::DeserializeOwned, Serialize};

use crate::config::Config;
use crate::consul::ConsulClient;
use crate::paths::SystemPaths;
use crate::redact::Secrets;

pub use backups::Backups;

/// What one run of a plugin command may do, and what it did.
pub struct HostContext {
    pub plugin: String,
    pub paths: SystemPaths,
    pub config: Config,
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes without asking.
    pub assume_yes: bool,
    /// Where plugins are looked for, and who may own them (workflow steps of other plugins).
    pub search_dirs: Vec<crate::discovery::SearchDir>,
    policy: crate::trust::TrustPolicy,
    /// The running plugin's manifest and file: the owner of the workflows it runs.
    owner: Option<crate::workflows::Known>,
    /// Other plugins loaded for their steps during this run, by name (never unloaded).
    loaded: RefCell<std::collections::BTreeMap<String, std::rc::Rc<steps::Loaded>>>,
    consul: ConsulClient,
    backups: Backups,
    /// Changes recorded instead of made under `--dry-run`, in order.
    plan: RefCell<Vec<String>>,
    /// Strings that must never be shown: replaced by `<redacted>` in everything the host prints,
    /// logs, journals or audits.
    secrets: RefCell<Secrets>,
}

impl HostContext {
    pub fn new(
        plugin: &str,
        paths: SystemPaths,
        config: Config,
        dry_run: bool,
        consul: ConsulClient,
    ) -> Self {
        let backups = Backups::new(paths.clone(), &config.backup_dir);
        HostContext {
            plugin: plugin.to_owned(),
            paths,
            config,
            dry_run,
            assume_yes: false,
            search_dirs: Vec::new(),
            policy: crate::trust::TrustPolicy::for_current_user(),
            owner: None,
            loaded: RefCell::new(std::collections::BTreeMap::new()),
            consul,
            backups,
            plan: RefCell::new(Vec::new()),
            secrets: RefCell::new(Secrets::default()),
        }
    }

    /// The plugin search path of this run and its trust policy.
    pub fn search_dirs(
        mut self,
        dirs: &[crate::discovery::SearchDir],
        policy: crate::trust::TrustPolicy,
    ) -> Self {
        self.search_dirs = dirs.to_vec();
        self.policy = policy;
        self
    }

    /// The plugin this context runs, loaded from `file`.
    pub fn running(
        mut self,
        manifest: carbonio_mesh_plugin_api::Manifest,
        file: &std::path::Path,
    ) -> Self {
        self.owner = Some(crate::workflows::Known {
            manifest,
            file: file.display().to_string(),
        });
        self
    }

    /// Answers every confirmation with yes (`--yes`).
    pub fn assume_yes(mut self, yes: bool) -> Self {
        self.assume_yes = yes;
        self
    }

    /// The handle to pass to the plugin; valid while `self` lives and is not moved.
    pub fn handle(&self) -> HostHandle {
        HostHandle {
            ctx: self as *const HostContext as *const c_void,
            call: host_call,
        }
    }

    /// Refuses a plugin's system path that is not absolute or holds `..`. (Files are then
    /// opened by `SystemPaths::open`/`entry`, resolved inside `--root`.)
    fn resolve(&self, system_path: &str) -> Result<std::path::PathBuf, ServiceFailure> {
        self.paths
            .resolve(system_path)
            .map_err(|e| failure(ServiceErrorKind::Invalid, e.to_string()))
    }

    /// Whether something is at `system_path` (a link counts, and is not followed).
    fn exists(&self, system_path: &str) -> bool {
        self.paths
            .entry(system_path)
            .and_then(|entry| entry.stat())
            .is_ok_and(|stat| stat.is_some())
    }

    /// The changes a dry run recorded.
    pub fn take_plan(&self) -> Vec<String> {
        std::mem::take(&mut self.plan.borrow_mut())
    }

    fn record(&self, change: String) {
        let change = self.redact(&change);
        tracing::info!(target: "carbonio_mesh::dry_run", plugin = %self.plugin, "would {change}");
        self.plan.borrow_mut().push(change);
    }

    /// Remembers a secret this run has seen, so that it is never shown.
    pub fn add_secret(&self, secret: &str) {
        self.secrets.borrow_mut().add(secret);
    }

    /// `text` with every registered secret replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.borrow().redact(text)
    }

    /// `text` with every registered secret but those in `shown` replaced.
    pub fn redact_except<'a>(&self, text: &'a str, shown: &[&str]) -> std::borrow::Cow<'a, str> {
        self.secrets.borrow().redact_except(text, shown)
    }

    /// Redacts every string inside `value`, before it is encoded.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        self.secrets.borrow().redact_json(value);
    }

    fn dispatch(&self, service: &str, payload: &str) -> Result<String, ServiceFailure> {
        match service {
            svc::Log::NAME => serve(payload, |req| log::log(self, req)),
            svc::Progress::NAME => serve(payload, |req| log::progress(self, req)),
                        svc::Exec::NAME => serve(payload, |req| exec::run(self, req)),
            svc::ExecMany::NAME => serve(payload, |req| exec::run_many(self, req)),
            svc::ReadFile::NAME => serve(payload, |req| files::read(self, req)),
            svc::WriteFile::NAME => serve(payload, |req| files::write(self, req)),
            svc::WriteStateFile::NAME => serve(payload, |req| state::write_state(self, req)),
            svc::RemovePath::NAME => serve(payload, |req| files::remove(self, req)),
            svc::StatPath::NAME => serve(payload, |req| files::stat(self, req)),
            svc::ListDir::NAME => serve(payload, |req| files::list(self, req)),
            svc::Resolve::NAME => serve(payload, |req| net::resolve(self, req)),
            svc::LocalAddresses::NAME => serve(payload, |_: svc::LocalAddresses| net::local_addresses()),
            svc::SourceAddress::NAME => serve(payload, net::source_address),
            svc::CarbonioServers::NAME => serve(payload, |req| ldap::servers(self, req)),
            svc::LdapCredentials::NAME => serve(payload, |req| ldap::credentials(self, req)),
            svc::Audit::NAME => serve(payload, |req| audit::audit(self, req)),
                        svc::WorkflowSteps::NAME => serve(payload, |req| steps::resolve(self, req)),
            svc::RunStep::NAME => serve(payload, |req| steps::run(self, req)),
            svc::JournalAppend::NAME => serve(payload, |req| workflow::append(self, req)),
            svc::JournalRead::NAME => serve(payload, |req| workflow::read(self, req)),
            svc::RemoveRun::NAME => serve(payload, |req| workflow::remove_run(self, req)),
            svc::RestorePath::NAME => serve(payload, |req| files::restore(self, req)),
            svc::Confirm::NAME => serve(payload, |req| prompt::confirm(self, req)),
            svc::OpenCredentials::NAME => serve(payload, |req| credentials::open(self, req)),
                        svc::WriteCredentials::NAME => serve(payload, |req| credentials::write(self, req)),
                        svc::ReadStdin::NAME => serve(payload, input::read_stdin),
            svc::NewPassword::NAME => serve(payload, |req| credentials::new_password(self, req)),
            // Not through `serve`: Consul's body is spliced into the answer unparsed.
            svc::ConsulRequest::NAME => consul::request(self, payload),
            other => Err(failure(
                ServiceErrorKind::Invalid,
                format!("this carbonio-mesh has no host service '{other}'; the plugin needs a newer host"),
            )),
        }
    }
}

/// What an I/O error means to a plugin: not found, denied, or failed.
pub(crate) fn io_error_kind(error: &std::io::Error) -> ServiceErrorKind {
    match error.kind() {
        std::io::ErrorKind::NotFound => ServiceErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ServiceErrorKind::Denied,
        _ => ServiceErrorKind::Failed,
    }
}

/// `cannot ACTION WHAT: error`, of the kind the error maps to.
pub(crate) fn io_failure(action: &str, what: &str, error: std::io::Error) -> ServiceFailure {
    failure(
        io_error_kind(&error),
        format!("cannot {action} {what}: {error}"),
    )
}

pub(crate) fn failure(kind: ServiceErrorKind, message: impl Into<String>) -> ServiceFailure {
    ServiceFailure {
        kind,
        message: message.into(),
        hint: None,
        exit_code: None,
    }
}

/// Decodes a request, runs the service, encodes its answer.
fn serve<S, F>(payload: &str, service: F) -> Result<String, ServiceFailure>
where
    S: Service + DeserializeOwned,
    S::Answer: Serialize,
    F: FnOnce(S) -> Result<S::Answer, ServiceFailure>,
{
    let request: S = serde_json::from_str(payload).map_err(|e| {
        failure(
            ServiceErrorKind::Invalid,
            format!("bad request to '{}': {e}", S::NAME),
        )
    })?;
    let answer = service(request)?;
    serde_json::to_string(&answer).map_err(|e| failure(ServiceErrorKind::Failed, e.to_string()))
}

/// The `call` function of the host handle. A panic in the host must not unwind into the plugin.
extern "C" fn host_call(
    ctx: *const c_void,
    service: RStr<'_>,
    payload: RStr<'_>,
) -> RResult<RString, RString> {
    // SAFETY: `ctx` is the `HostContext` that `HostContext::handle` built the handle from, and
    // the handle only lives for the plugin call made while that context is borrowed.
    let context = unsafe { &*(ctx as *const HostContext) };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        context.dispatch(service.as_str(), payload.as_str())
    }));
    let result = outcome.unwrap_or_else(|_| {
        Err(failure(
            ServiceErrorKind::Failed,
            format!("carbonio-mesh failed inside host service '{service}' (a bug)"),
        ))
    });
    match result {
        Ok(answer) => RResult::ROk(answer.into()),
        Err(error) => {
            let error = ServiceFailure {
                message: context.redact(&error.message),
                hint: error.hint.map(|hint| context.redact(&hint)),
                ..error
            };
            RResult::RErr(serde_json::to_string(&error).unwrap_or_default().into())
        }
    }
}

/// A Consul client for unit tests of other services (never contacted).
#[cfg(test)]
pub(crate) fn test_consul() -> ConsulClient {
    ConsulClient::new(
        crate::consul::ConsulSettings::resolve(&Default::default(), None)
            .expect("defaults resolve"),
    )
}
