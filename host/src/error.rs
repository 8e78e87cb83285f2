//! The host's errors and the exit codes they map to (documented in the README).

use carbonio_mesh_plugin_api::{ErrorKind, PluginError};

use crate::config::ConfigError;
use crate::loader::LoadError;
use crate::trust::Refusal;

/// Exit codes: scripts rely on these, so they never change meaning.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    pub const PLUGIN: u8 = 4;
    pub const OPERATION: u8 = 5;
    // 6 is `leader`'s "another host is the leader" (the plugin's own).
    /// The credentials archive's password is wrong.
    pub const WRONG_PASSWORD: u8 = 7;
    /// The credentials archive is unreadable: damaged, not encrypted, incomplete, unsafe.
    pub const BAD_ARCHIVE: u8 = 8;
    // 9 is a declined confirmation: the user answered no, nothing was changed (the plugins'
    // `Response::declined`, `carbonio_mesh_plugin_api::EXIT_DECLINED`).
    // 10 and 11 are `doctor`'s (the plugin's own): 10 every check passed or warned and one
    // warned, 11 a check failed or a node could not be checked.
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("plugin '{plugin}' refused: {refusal}")]
    Refused { plugin: String, refusal: Refusal },
    #[error("plugin '{plugin}' is masked by {path}")]
    Masked { plugin: String, path: String },
    #[error("plugin '{plugin}' cannot be loaded: {error}")]
    Load { plugin: String, error: LoadError },
    #[error("{plugin}: {}", error.message)]
    Plugin { plugin: String, error: PluginError },
}

impl HostError {
    pub fn exit_code(&self) -> u8 {
        match self {
            HostError::Usage { .. } => exit::USAGE,
            // An untrusted configuration file is refused like an untrusted plugin: it is code.
            HostError::Config(ConfigError::Refused { .. }) => exit::PLUGIN,
            HostError::Config(_) => exit::CONFIG,
            HostError::Refused { .. } | HostError::Masked { .. } | HostError::Load { .. } => {
                exit::PLUGIN
            }
            HostError::Plugin { error, .. } => error.exit_code.unwrap_or(match error.kind {
                ErrorKind::Usage => exit::USAGE,
                ErrorKind::Config => exit::CONFIG,
                ErrorKind::Operation => exit::OPERATION,
                ErrorKind::Internal => exit::PLUGIN,
            }),
        }
    }

    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            HostError::Usage { hint, .. } => Some(hint.clone()),
            HostError::Config(ConfigError::Refused { refusal, .. }) => Some(refusal.fix()),
            HostError::Config(_) => Some("correct the file, or move it aside to use the defaults".to_owned()),
            HostError::Refused { refusal, .. } => Some(refusal.fix()),
            HostError::Masked { path, .. } => Some(format!("remove {path} to use the plugin again")),
            HostError::Load { error, .. } => Some(error.fix()),
            HostError::Plugin { error, .. } => error.hint.clone().or_else(|| {
                (error.kind == ErrorKind::Internal)
                    .then(|| "this is a bug in the plugin: report it to its author; nothing more was done".to_owned())
            }),
        }
    }

    /// The error as `--format json` prints it on standard output (one shape for every failure,
    /// documented in the README): `{"error": {"message": ..., "fix": ..., "exit_code": N}}`,
    /// `fix` null when there is nothing to say. Texts are cut to `max_bytes`.
    pub fn document(&self, max_bytes: usize) -> serde_json::Value {
        let cut = |text: &str| crate::untrusted::excerpt(text, max_bytes).into_owned();
        serde_json::json!({
            "error": {
                "message": cut(&self.to_string()),
                "fix": self.hint().map(|hint| cut(&hint)),
                "exit_code": self.exit_code(),
            }
        })
    }

    /// Long details shown with `-v` only (abi_stable's layout report).
    pub fn details(&self) -> Option<&str> {
        match self {
            HostError::Load { error, .. } => error.details(),
            _ => None,
        }
    }
}

/// clap's usage error in the host's style: its first line `error: ...` as
/// `carbonio-mesh: error: ...`, each `tip: ...` as our `fix: ...` right under it; the usage line
/// and the pointer to `--help` stay as clap wrote them.
pub fn usage_message(rendered: &str) -> String {
    let mut out = String::new();
    let mut tips = String::new();
    let mut rest = String::new();
    for line in rendered.lines() {
        if let Some(tip) = line.trim_start().strip_prefix("tip: ") {
            tips.push_str(&format!("  fix: {tip}\n"));
        } else if out.is_empty() {
            let text = line.strip_prefix("error: ").unwrap_or(line);
            out.push_str(&format!("carbonio-mesh: error: {text}\n"));
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    if tips.is_empty() {
        out.push_str(&rest);
    } else {
        // clap puts a blank line before each tip: with the fix right under the error, one
        // blank line before the usage is enough.
        out.push_str(&tips);
        out.push('\n');
        out.push_str(rest.trim_start_matches('\n'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::PluginError;

    #[test]
    fn every_failure_is_one_document_shape() {
        let usage = HostError::Usage {
            message: "x".repeat(100),
            hint: "give -r".to_owned(),
        };
        let document = usage.document(10);
        assert_eq!(document["error"]["fix"], "give -r");
        assert_eq!(document["error"]["exit_code"], 2);
        // Cut like the message on standard error.
        assert!(document["error"]["message"].as_str().unwrap().len() < 100);
        let plugin = HostError::Plugin {
            plugin: "force-leave".to_owned(),
            error: PluginError::operation("Unexpected response code: 500"),
        };
        assert_eq!(
            plugin.document(4096),
            serde_json::json!({"error": {
                "message": "force-leave: Unexpected response code: 500",
                "fix": null,
                "exit_code": 5,
            }})
        );
    }

    #[test]
    fn a_declined_confirmation_has_a_code_of_its_own() {
        let declined = carbonio_mesh_plugin_api::EXIT_DECLINED;
        assert_eq!(declined, 9, "the README's exit-code table says 9");
        let host_codes = [
            exit::OK,
            exit::FAILURE,
            exit::USAGE,
            exit::CONFIG,
            exit::PLUGIN,
            exit::OPERATION,
            6, // leader's
            exit::WRONG_PASSWORD,
            exit::BAD_ARCHIVE,
        ];
        assert!(!host_codes.contains(&declined));
    }

    #[test]
    fn claps_errors_take_the_hosts_style() {
        let clap = "error: unexpected argument '--nope' found\n\n  tip: a similar argument exists: '--node'\n\nUsage: carbonio-mesh catalog services [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_message(clap),
            "carbonio-mesh: error: unexpected argument '--nope' found\n  fix: a similar argument exists: '--node'\n\nUsage: carbonio-mesh catalog services [OPTIONS]\n\nFor more information, try '--help'.\n"
        );
        let clap =
            "error: the following required arguments were not provided:\n  --id <ID>\n\nUsage: x\n";
        assert_eq!(
            usage_message(clap),
            "carbonio-mesh: error: the following required arguments were not provided:\n  --id <ID>\n\nUsage: x\n"
        );
    }
}
