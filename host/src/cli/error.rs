//! The host's errors and the exit codes they map to (documented in the README).

use std::io::Write;

use carbonio_mesh_plugin_api::{ErrorKind, OutputFormat, PluginError};

use crate::config::settings::ConfigError;
use crate::exit;
use crate::plugins::open::OpenError;
use crate::terminal::untrusted;

/// An error message longer than this is cut (a command's whole output does not belong in it).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Says why a run failed, the one way every failure is said: `carbonio-mesh: error: ...` and its
/// fix on standard error (cut short, control characters shown, not obeyed: messages quote Consul,
/// files and children), and with `--format json` the error document on standard output too.
/// Returns the exit status.
pub fn report(error: &HostError, format: OutputFormat) -> u8 {
    if format == OutputFormat::Json {
        // Scripts read standard output: the failure is a document there too.
        print_document(error, MAX_MESSAGE_BYTES);
    }
    let mut stderr = std::io::stderr().lock();
    let message = error.to_string();
    let message = untrusted::excerpt(&message, MAX_MESSAGE_BYTES);
    let _ = writeln!(
        stderr,
        "carbonio-mesh: error: {}",
        untrusted::escape_controls(&message)
    );
    if let Some(hint) = error.hint() {
        let hint = untrusted::excerpt(&hint, MAX_MESSAGE_BYTES);
        let _ = writeln!(stderr, "  fix: {}", untrusted::escape_controls(&hint));
    }
    if let Some(details) = error.details() {
        if tracing::enabled!(tracing::Level::INFO) {
            let _ = writeln!(stderr, "{details}");
        } else {
            let _ = writeln!(stderr, "  (run with -v for the full report)");
        }
    }
    error.exit_code()
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{message}")]
    Usage { message: String, hint: String },
    /// A usage error clap found (unknown flag, bad value): clap prints it on standard error.
    #[error("{message}")]
    ClapUsage {
        message: String,
        fix: Option<String>,
    },
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{plugin}: {}", error.message)]
    Plugin { plugin: String, error: PluginError },
}

impl From<crate::consul::client::SettingsError> for HostError {
    fn from(error: crate::consul::client::SettingsError) -> Self {
        HostError::Usage {
            message: error.message,
            hint: error.hint,
        }
    }
}

impl HostError {
    pub fn exit_code(&self) -> u8 {
        match self {
            HostError::Usage { .. } | HostError::ClapUsage { .. } => exit::USAGE,
            // An untrusted configuration file is refused like an untrusted plugin: it is code.
            HostError::Config(ConfigError::Refused { .. }) => exit::PLUGIN,
            HostError::Config(_) => exit::CONFIG,
            HostError::Open(_) => exit::PLUGIN,
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
            HostError::ClapUsage { fix, .. } => fix.clone(),
            HostError::Config(ConfigError::Refused { refusal, .. }) => Some(refusal.fix()),
            HostError::Config(_) => Some("correct the file, or move it aside to use the defaults".to_owned()),
            HostError::Open(error) => Some(error.fix()),
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
        let cut = |text: &str| untrusted::excerpt(text, max_bytes).into_owned();
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
            HostError::Open(error) => error.details(),
            _ => None,
        }
    }
}

/// clap's rendering of a usage error, taken apart: the error (its first line without `error: `,
/// and the lines that continue it), each `tip: ...`, and the rest (usage line, pointer to
/// `--help`).
struct ClapUsage<'a> {
    error: Vec<&'a str>,
    tips: Vec<&'a str>,
    rest: Vec<&'a str>,
}

impl<'a> ClapUsage<'a> {
    fn parse(rendered: &'a str) -> Self {
        let mut parts = ClapUsage {
            error: Vec::new(),
            tips: Vec::new(),
            rest: Vec::new(),
        };
        for line in rendered.lines() {
            if let Some(tip) = line.trim_start().strip_prefix("tip: ") {
                parts.tips.push(tip);
            } else if parts.error.is_empty() {
                parts
                    .error
                    .push(line.strip_prefix("error: ").unwrap_or(line));
            } else if parts.rest.is_empty() && !line.trim().is_empty() {
                // `  [possible values: human, json]`, `  --id <ID>`: still the error.
                parts.error.push(line);
            } else {
                parts.rest.push(line);
            }
        }
        parts
    }
}

/// clap's usage error in the host's style: its first line `error: ...` as
/// `carbonio-mesh: error: ...`, each `tip: ...` as our `fix: ...` right under it; the usage line
/// and the pointer to `--help` stay as clap wrote them.
pub fn usage_message(rendered: &str) -> String {
    let parts = ClapUsage::parse(rendered);
    let mut out = String::new();
    for (at, line) in parts.error.iter().enumerate() {
        if at == 0 {
            out.push_str(&format!("carbonio-mesh: error: {line}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let mut rest = String::new();
    for line in &parts.rest {
        rest.push_str(line);
        rest.push('\n');
    }
    if parts.tips.is_empty() {
        out.push_str(&rest);
    } else {
        for tip in &parts.tips {
            out.push_str(&format!("  fix: {tip}\n"));
        }
        // clap puts a blank line before each tip: with the fix right under the error, one
        // blank line before the usage is enough.
        out.push('\n');
        out.push_str(rest.trim_start_matches('\n'));
    }
    out
}

/// clap's usage error as the host's error, for the `--format json` document: the error's lines
/// joined into one message, the tips as the fix (none when clap gave none).
pub fn clap_usage(rendered: &str) -> HostError {
    let parts = ClapUsage::parse(rendered);
    let message = parts
        .error
        .iter()
        .map(|line| line.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let fix = (!parts.tips.is_empty()).then(|| parts.tips.join("; "));
    HostError::ClapUsage { message, fix }
}

/// With `--format json`, a failure is one document on standard output (see the README).
pub fn print_document(error: &HostError, max_bytes: usize) {
    use std::io::Write;
    let document = error.document(max_bytes);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{document:#}").and_then(|()| stdout.flush());
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

    #[test]
    fn claps_errors_become_the_json_error_document() {
        let clap = "error: unexpected argument '--nope' found\n\n  tip: a similar argument exists: '--node'\n\nUsage: carbonio-mesh catalog services [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_usage(clap).document(4096),
            serde_json::json!({"error": {
                "message": "unexpected argument '--nope' found",
                "fix": "a similar argument exists: '--node'",
                "exit_code": 2,
            }})
        );
        let clap = "error: invalid value 'yaml' for '--format <FORMAT>'\n  [possible values: human, json]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_usage(clap).document(4096),
            serde_json::json!({"error": {
                "message": "invalid value 'yaml' for '--format <FORMAT>' [possible values: human, json]",
                "fix": null,
                "exit_code": 2,
            }})
        );
    }
}
