//! `carbonio-mesh plugins list|check`: every plugin found, which file won, and whether it loads.
//! Trust checks are made here; loading is left to `probe`, in a child process per plugin.

use std::path::{Path, PathBuf};

use carbonio_mesh_plugin_api::{OutputFormat, Table};
use serde::Serialize;

use crate::config::paths::SystemPaths;
use crate::plugins::discovery::{self, Origin, SearchDir};
use crate::plugins::probe::{self, Probed};
use crate::plugins::probe_cache::{FileIdentity, ProbeCache};
use crate::plugins::trust::{self, Opened, TrustPolicy};

/// One plugin name and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub version: Option<String>,
    pub api_version: Option<String>,
    pub description: Option<String>,
    /// The file that wins the search.
    pub path: PathBuf,
    pub origin: Origin,
    /// Files of the same name later in the search order, which this one overrides.
    pub overrides: Vec<PathBuf>,
    /// When the winning file is a mask: the files it switches off.
    pub masks: Vec<PathBuf>,
    /// `ok`, `masked`, or why the plugin was refused.
    pub status: String,
    /// The plugin's command tree, when it loaded (for `generate`).
    #[serde(skip)]
    pub command: Option<carbonio_mesh_plugin_api::CommandSpec>,
    /// For a refusal: how to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The workflow steps the plugin provides, as its manifest declares them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<carbonio_mesh_plugin_api::StepSpec>,
    /// The exit statuses the plugin declares (for the man pages).
    #[serde(skip)]
    pub exit_codes: Vec<carbonio_mesh_plugin_api::ExitCodeSpec>,
    /// The workflows the plugin runs (not listed).
    #[serde(skip)]
    pub workflows: Vec<carbonio_mesh_plugin_api::step::WorkflowSpec>,
}

impl Entry {
    pub fn is_refused(&self) -> bool {
        self.status != "ok" && self.status != "masked"
    }

    /// The manifest a probe read, for a plugin that loaded.
    pub fn manifest(&self) -> Option<carbonio_mesh_plugin_api::Manifest> {
        Some(carbonio_mesh_plugin_api::Manifest {
            name: self.name.clone(),
            version: self.version.clone()?,
            api_version: self.api_version.clone()?,
            description: self.description.clone()?,
            command: self.command.clone()?,
            steps: self.steps.clone(),
            workflows: self.workflows.clone(),
            exit_codes: self.exit_codes.clone(),
        })
    }

    /// Takes in what loading the (trusted) winning file showed.
    fn record(&mut self, probed: Probed) {
        match probed {
            Probed::Loaded(manifest) => {
                let manifest = *manifest;
                self.version = Some(manifest.version);
                self.api_version = Some(manifest.api_version);
                self.description = Some(manifest.description);
                self.command = Some(manifest.command);
                self.steps = manifest.steps;
                self.exit_codes = manifest.exit_codes;
                self.workflows = manifest.workflows;
            }
            Probed::Masked => {
                self.status = "masked".to_owned();
                self.masks = std::mem::take(&mut self.overrides);
            }
            Probed::Refused { status, fix } => {
                self.status = status;
                self.fix = Some(fix);
            }
        }
    }
}

/// Finds and checks every plugin in the search path, and loads those that pass in child
/// processes (a plugin that crashes while loading is then listed as such, see `probe`), or takes
/// what a child found for the same file in an earlier run from the probe cache under `paths`.
pub fn inspect(paths: &SystemPaths, dirs: &[SearchDir], policy: &TrustPolicy) -> Vec<Entry> {
    let mut cache = ProbeCache::open(paths, policy);
    let entries = inspect_with(dirs, policy, &mut cache);
    cache.save();
    entries
}

/// [`inspect`] with `cache`.
fn inspect_with(dirs: &[SearchDir], policy: &TrustPolicy, cache: &mut ProbeCache) -> Vec<Entry> {
    let mut entries = Vec::new();
    // Entries whose file passed the trust checks here and is not in the cache, to be loaded by
    // a probe, with the identity of the file that was checked.
    let mut trusted = Vec::new();
    for (name, candidates) in discovery::all_candidates(dirs) {
        let Some((winner, rest)) = candidates.split_first() else {
            continue;
        };
        let shadowed: Vec<PathBuf> = rest.iter().map(|c| c.path.clone()).collect();
        let mut entry = Entry {
            name: name.clone(),
            version: None,
            api_version: None,
            description: None,
            path: winner.path.clone(),
            origin: winner.origin,
            overrides: Vec::new(),
            masks: Vec::new(),
            status: "ok".to_owned(),
            command: None,
            fix: None,
            steps: Vec::new(),
            exit_codes: Vec::new(),
            workflows: Vec::new(),
        };
        match trust::open_trusted(policy, &winner.path) {
            Ok(Opened::Masked) => {
                entry.status = "masked".to_owned();
                entry.masks = shadowed;
            }
            // The descriptor is closed here: the probe opens and checks the file again itself.
            Ok(Opened::Trusted(file)) => {
                entry.overrides = shadowed;
                let identity = FileIdentity::of_fd(&file.into_file());
                match identity.and_then(|id| cache.get(&entry.name, &entry.path, id)) {
                    Some(probed) => entry.record(probed),
                    None => trusted.push((entries.len(), identity)),
                }
            }
            Err(refusal) => {
                entry.overrides = shadowed;
                entry.status = refusal.to_string();
                entry.fix = Some(refusal.fix());
            }
        }
        entries.push(entry);
    }
    let plugins: Vec<(&str, &Path)> = trusted
        .iter()
        .map(|&(at, _)| (entries[at].name.as_str(), entries[at].path.as_path()))
        .collect();
    let probes = probe::probe_all(&plugins);
    for ((at, identity), probe) in trusted.into_iter().zip(probes) {
        let entry = &mut entries[at];
        if let (Some(identity), true) = (identity, probe.lasting) {
            cache.put(&entry.name, &entry.path, identity, probe.probed.clone());
        }
        entry.record(probe.probed);
    }
    entries
}

fn origin_word(origin: Origin) -> &'static str {
    match origin {
        Origin::Dir => "dir",
        Origin::Site => "site",
        Origin::Vendor => "vendor",
    }
}

fn json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("inventory entries always encode");
    text.push('\n');
    text
}

/// `plugins list`.
pub fn list(entries: &[Entry], format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return json(&entries);
    }
    if entries.is_empty() {
        return "No plugins found\n".to_owned();
    }
    let mut table = Table::new(["Name", "Version", "API", "Origin", "Path", "Status"]);
    for entry in entries {
        let path = entry.path.display().to_string();
        // A refusal starts with the file's path, which the Path column shows already.
        let mut status = match entry.status.strip_prefix(path.as_str()) {
            Some(rest) if rest.starts_with(' ') => rest.trim_start().to_owned(),
            _ => entry.status.clone(),
        };
        if !entry.overrides.is_empty() {
            status.push_str(&format!(" (overrides {})", paths_text(&entry.overrides)));
        }
        if !entry.masks.is_empty() {
            status.push_str(&format!(" (masks {})", paths_text(&entry.masks)));
        }
        table.push([
            entry.name.clone(),
            entry.version.clone().unwrap_or_else(|| "-".to_owned()),
            entry.api_version.clone().unwrap_or_else(|| "-".to_owned()),
            origin_word(entry.origin).to_owned(),
            path,
            status,
        ]);
    }
    table.render()
}

fn paths_text(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `plugins check`: the report and whether everything is fine.
pub fn check(entries: &[Entry], format: OutputFormat) -> (String, bool) {
    let refused: Vec<&Entry> = entries.iter().filter(|e| e.is_refused()).collect();
    let fine = refused.is_empty();
    if format == OutputFormat::Json {
        #[derive(Serialize)]
        struct Report<'a> {
            ok: bool,
            checked: usize,
            refused: Vec<&'a Entry>,
        }
        return (
            json(&Report {
                ok: fine,
                checked: entries.len(),
                refused,
            }),
            fine,
        );
    }
    let mut out = String::new();
    for entry in &refused {
        out.push_str(&format!("refused: {}: {}\n", entry.name, entry.status));
        if let Some(fix) = &entry.fix {
            out.push_str(&format!("    fix: {fix}\n"));
        }
    }
    out.push_str(&format!(
        "{} plugins checked, {} refused\n",
        entries.len(),
        refused.len()
    ));
    (out, fine)
}
