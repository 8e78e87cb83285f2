//! Opening plugin NAME for a run: the file discovery picks, checked by the trust rules and loaded
//! in this process, with the crash report that names it should loading or running it crash the
//! process. The command line opens the plugin it runs this way, and `step.run` the plugins whose
//! steps a workflow takes.

use std::path::PathBuf;

use crate::plugins::crash::CrashReport;
use crate::plugins::discovery::{self, SearchDir};
use crate::plugins::loader::{self, LoadError, LoadedPlugin};
use crate::plugins::trust::{self, Opened, Refusal, TrustPolicy};

/// A plugin loaded for a run, the file it came from, and what names it if it crashes.
pub struct OpenedPlugin {
    pub plugin: LoadedPlugin,
    pub file: PathBuf,
    pub crash: CrashReport,
}

/// Why the plugin file that won discovery cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("plugin '{plugin}' refused: {refusal}")]
    Refused { plugin: String, refusal: Refusal },
    #[error("plugin '{plugin}' is masked by {path}")]
    Masked { plugin: String, path: String },
    #[error("plugin '{plugin}' cannot be loaded: {error}")]
    Load { plugin: String, error: LoadError },
}

impl OpenError {
    /// How to fix it.
    pub fn fix(&self) -> String {
        match self {
            OpenError::Refused { refusal, .. } => refusal.fix(),
            OpenError::Masked { path, .. } => format!("remove {path} to use the plugin again"),
            OpenError::Load { error, .. } => error.fix(),
        }
    }

    /// Long details shown with `-v` only (abi_stable's layout report).
    pub fn details(&self) -> Option<&str> {
        match self {
            OpenError::Load { error, .. } => error.details(),
            _ => None,
        }
    }
}

/// Finds plugin `name` (`None`: no file), checks it and loads it.
pub fn open_plugin(
    name: &str,
    dirs: &[SearchDir],
    policy: &TrustPolicy,
) -> Result<Option<OpenedPlugin>, OpenError> {
    let candidates = discovery::candidates(dirs, name);
    let Some(winner) = candidates.first() else {
        return Ok(None);
    };
    tracing::debug!(
        "plugin {name}: {} ({:?})",
        winner.path.display(),
        winner.origin
    );
    let file = match trust::open_trusted(policy, &winner.path) {
        Ok(Opened::Trusted(file)) => file,
        Ok(Opened::Masked) => {
            return Err(OpenError::Masked {
                plugin: name.to_owned(),
                path: winner.path.display().to_string(),
            })
        }
        Err(refusal) => {
            return Err(OpenError::Refused {
                plugin: name.to_owned(),
                refusal,
            })
        }
    };
    let crash = CrashReport::new(name, &winner.path);
    let plugin = crash
        .during(|| loader::load(file, name))
        .map_err(|error| OpenError::Load {
            plugin: name.to_owned(),
            error,
        })?;
    Ok(Some(OpenedPlugin {
        plugin,
        file: winner.path.clone(),
        crash,
    }))
}
