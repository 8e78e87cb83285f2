//! What one run of a plugin command may do and what it did: its paths, configuration, Consul
//! client, dry-run plan, backups and the secrets it has seen. Every service handler gets it.

use std::cell::RefCell;

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};

use super::backups::Backups;
use super::failure::failure;
use super::redact::Secrets;
use super::workflows::Known;
use crate::config::paths::SystemPaths;
use crate::config::settings::Config;
use crate::consul::client::ConsulClient;
use crate::plugins::discovery::SearchDir;
use crate::plugins::open::OpenedPlugin;
use crate::plugins::trust::TrustPolicy;

/// What one run of a plugin command may do, and what it did.
pub struct HostContext {
    pub plugin: String,
    pub paths: SystemPaths,
    pub config: Config,
    pub dry_run: bool,
    /// `--yes`: confirmations are answered yes without asking.
    pub assume_yes: bool,
    /// Where plugins are looked for, and who may own them (workflow steps of other plugins).
    pub search_dirs: Vec<SearchDir>,
    pub(super) policy: TrustPolicy,
    /// The running plugin's manifest and file: the owner of the workflows it runs.
    pub(super) owner: Option<Known>,
    /// Other plugins loaded for their steps during this run, by name (never unloaded).
    pub(super) loaded: RefCell<std::collections::BTreeMap<String, std::rc::Rc<OpenedPlugin>>>,
    pub(super) consul: ConsulClient,
    pub(super) backups: Backups,
    /// Changes recorded instead of made under `--dry-run`, in order.
    pub(super) plan: RefCell<Vec<String>>,
    /// Strings that must never be shown: replaced by `<redacted>` in everything the host prints,
    /// logs, journals or audits.
    pub(super) secrets: RefCell<Secrets>,
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
            policy: TrustPolicy::for_current_user(),
            owner: None,
            loaded: RefCell::new(std::collections::BTreeMap::new()),
            consul,
            backups,
            plan: RefCell::new(Vec::new()),
            secrets: RefCell::new(Secrets::default()),
        }
    }

    /// The plugin search path of this run and its trust policy.
    pub fn search_dirs(mut self, dirs: &[SearchDir], policy: TrustPolicy) -> Self {
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
        self.owner = Some(Known {
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

    /// Refuses a plugin's system path that is not absolute or holds `..`. (Files are then
    /// opened by `SystemPaths::open`/`entry`, resolved inside `--root`.)
    pub(super) fn resolve(&self, system_path: &str) -> Result<std::path::PathBuf, ServiceFailure> {
        self.paths
            .resolve(system_path)
            .map_err(|e| failure(ServiceErrorKind::Invalid, e.to_string()))
    }

    /// Whether something is at `system_path` (a link counts, and is not followed).
    pub(super) fn exists(&self, system_path: &str) -> bool {
        self.paths
            .entry(system_path)
            .and_then(|entry| entry.stat())
            .is_ok_and(|stat| stat.is_some())
    }

    /// The changes a dry run recorded.
    pub fn take_plan(&self) -> Vec<String> {
        std::mem::take(&mut self.plan.borrow_mut())
    }

    pub(super) fn record(&self, change: String) {
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
}
