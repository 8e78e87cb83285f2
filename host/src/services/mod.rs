//! The host services plugins call through `HostHandle::call(service, payload)`.
//!
//! Every side effect of a plugin comes through here, which is what makes `--dry-run` (record,
//! don't do), `--root` (confine paths), backups before deletion and secret redaction hold for
//! every plugin at once.
//!
//! One file per family of services, named as their prefix and as the file declaring their
//! messages in `plugin-api/src/services/`; [`dispatch`] maps each service name to its handler.
//! Every handler gets the run's [`HostContext`].

mod audit;
mod backups;
mod carbonio;
mod consul;
mod context;
mod credentials;
mod exec;
mod failure;
mod fs;
mod input;
mod journal;
mod localconfig;
mod log;
mod net;
mod program;
mod prompt;
pub mod redact;
mod state;
mod steps;
pub mod workflows;

pub use context::HostContext;
pub(crate) use failure::{failure, io_error_kind, io_failure};
/// Where workflow runs are kept (named in the man pages).
pub use journal::RUNS_DIR;

use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RStr, RString};
use carbonio_mesh_plugin_abi::HostHandle;
use carbonio_mesh_plugin_api::services::{self as svc, Service, ServiceErrorKind, ServiceFailure};
use serde::{de::DeserializeOwned, Serialize};

impl HostContext {
    /// The handle to pass to the plugin; valid while `self` lives and is not moved.
    pub fn handle(&self) -> HostHandle {
        HostHandle {
            ctx: self as *const HostContext as *const c_void,
            call: host_call,
        }
    }
}

/// The dispatch table: one line per host service, from its name to its handler.
fn dispatch(context: &HostContext, service: &str, payload: &str) -> Result<String, ServiceFailure> {
    match service {
        svc::Log::NAME => serve(payload, |req| log::log(context, req)),
        svc::Progress::NAME => serve(payload, |req| log::progress(context, req)),
        svc::Exec::NAME => serve(payload, |req| exec::run(context, req)),
        svc::ExecMany::NAME => serve(payload, |req| exec::run_many(context, req)),
        svc::ReadFile::NAME => serve(payload, |req| fs::read(context, req)),
        svc::WriteFile::NAME => serve(payload, |req| fs::write(context, req)),
        svc::WriteStateFile::NAME => serve(payload, |req| state::write_state(context, req)),
        svc::RemovePath::NAME => serve(payload, |req| fs::remove(context, req)),
        svc::StatPath::NAME => serve(payload, |req| fs::stat(context, req)),
        svc::ListDir::NAME => serve(payload, |req| fs::list(context, req)),
        svc::Resolve::NAME => serve(payload, |req| net::resolve(context, req)),
        svc::LocalAddresses::NAME => {
            serve(payload, |_: svc::LocalAddresses| net::local_addresses())
        }
        svc::SourceAddress::NAME => serve(payload, net::source_address),
        svc::CarbonioServers::NAME => serve(payload, |req| carbonio::servers(context, req)),
        svc::LdapCredentials::NAME => serve(payload, |req| carbonio::credentials(context, req)),
        svc::Audit::NAME => serve(payload, |req| audit::audit(context, req)),
        svc::WorkflowSteps::NAME => serve(payload, |req| steps::resolve(context, req)),
        svc::RunStep::NAME => serve(payload, |req| steps::run(context, req)),
        svc::JournalAppend::NAME => serve(payload, |req| journal::append(context, req)),
        svc::JournalRead::NAME => serve(payload, |req| journal::read(context, req)),
        svc::RemoveRun::NAME => serve(payload, |req| journal::remove_run(context, req)),
        svc::RestorePath::NAME => serve(payload, |req| fs::restore(context, req)),
        svc::Confirm::NAME => serve(payload, |req| prompt::confirm(context, req)),
        svc::OpenCredentials::NAME => serve(payload, |req| credentials::open(context, req)),
        svc::WriteCredentials::NAME => serve(payload, |req| credentials::write(context, req)),
        svc::ReadStdin::NAME => serve(payload, input::read_stdin),
        svc::NewPassword::NAME => serve(payload, |req| credentials::new_password(context, req)),
        // Not through `serve`: Consul's body is spliced into the answer unparsed.
        svc::ConsulRequest::NAME => consul::request(context, payload),
        other => Err(failure(
            ServiceErrorKind::Invalid,
            format!(
                "this carbonio-mesh has no host service '{other}'; the plugin needs a newer host"
            ),
        )),
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
        dispatch(context, service.as_str(), payload.as_str())
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
pub(crate) fn test_consul() -> crate::consul::client::ConsulClient {
    crate::consul::client::ConsulClient::new(
        crate::consul::client::ConsulSettings::resolve(&Default::default(), None)
            .expect("defaults resolve"),
    )
}
