//! Loading a trusted plugin file and talking to it. The only module that knows about abi_stable
//! on the host side, so that another ABI crate could replace it (abi_stable carries
//! RUSTSEC-2024-0014 through a dependency).

use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RResult, RStr};
use carbonio_mesh_plugin_abi::{HostHandle, PluginModuleRef};
use carbonio_mesh_plugin_api::{
    CommandSpec, Manifest, PluginError, Request, Response, API_VERSION,
};

use crate::plugins::trust::TrustedFile;

/// Why a trusted file still could not be used as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path} is not a carbonio-mesh plugin: {detail}")]
    NotAPlugin { path: PathBuf, detail: String },
    #[error("{path} was built against plugin-api {plugin}, but this carbonio-mesh speaks plugin-api {host}")]
    Incompatible {
        path: PathBuf,
        plugin: String,
        host: String,
    },
    #[error("{path}: the plugin's interface layout does not match this host's (plugin-api {host}): {summary}")]
    Layout {
        path: PathBuf,
        host: String,
        summary: String,
        report: String,
    },
    #[error("{path}: the plugin failed while describing itself: {message}")]
    ManifestFailed { path: PathBuf, message: String },
    #[error("{path}: the plugin's manifest is invalid: {why}")]
    BadManifest { path: PathBuf, why: String },
    #[error("{path} says it is plugin '{found}', but its file name makes it '{expected}'")]
    WrongName {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

impl LoadError {
    /// What the administrator should do about it.
    pub fn fix(&self) -> String {
        match self {
            LoadError::NotAPlugin { path, .. } => {
                format!("remove {} from the plugin directory, or rebuild it with carbonio-mesh-plugin-api", path.display())
            }
            LoadError::Incompatible { .. } | LoadError::Layout { .. } => format!(
                "rebuild the plugin against carbonio-mesh-plugin-api {API_VERSION} (or any 1.x up to it), or install the carbonio-mesh version it was built for"
            ),
            LoadError::ManifestFailed { .. } | LoadError::BadManifest { .. } => {
                "report this to the plugin's author; remove or mask the plugin meanwhile".to_owned()
            }
            LoadError::WrongName { path, found, .. } => {
                format!("rename {} to {found}.so (the file name must match the manifest)", path.display())
            }
        }
    }

    /// The complete abi_stable report for a layout mismatch, shown with `-v`.
    pub fn details(&self) -> Option<&str> {
        match self {
            LoadError::Layout { report, .. } => Some(report),
            _ => None,
        }
    }
}

/// A plugin loaded into this process. Libraries are never unloaded (abi_stable leaks them on
/// purpose): a plugin file replaced while loaded must be replaced by rename.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    module: PluginModuleRef,
}

/// Whether a plugin built against plugin-api `plugin` can run in a host built with `host`:
/// the same major, and a minor no newer than the host's.
pub fn api_compatible(plugin: &str, host: &str) -> bool {
    fn major_minor(version: &str) -> Option<(u64, u64)> {
        let mut parts = version.split(['.', '-', '+']);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }
    match (major_minor(plugin), major_minor(host)) {
        (Some((p_major, p_minor)), Some((h_major, h_minor))) => {
            p_major == h_major && p_minor <= h_minor
        }
        _ => false,
    }
}

/// The useful end of abi_stable's layout report: from its last `Error:` line on.
fn layout_summary(report: &str) -> String {
    let tail = report.rfind("Error:").map_or(report, |at| &report[at..]);
    tail.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Loads `file` (already trusted) as plugin `expected_name`.
pub fn load(file: TrustedFile, expected_name: &str) -> Result<LoadedPlugin, LoadError> {
    let path = file.path().to_owned();
    let header =
        lib_header_from_path(&file.into_load_path()).map_err(|e| map_library_error(&path, e))?;
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| map_library_error(&path, e))?;
    let manifest_json = match (module.manifest())() {
        RResult::ROk(json) => json,
        RResult::RErr(error) => {
            return Err(LoadError::ManifestFailed {
                path,
                message: plugin_error_from(error.as_str()).message,
            })
        }
    };
    let manifest: Manifest =
        serde_json::from_str(manifest_json.as_str()).map_err(|e| LoadError::BadManifest {
            path: path.clone(),
            why: e.to_string(),
        })?;
    if !api_compatible(&manifest.api_version, API_VERSION) {
        return Err(LoadError::Incompatible {
            path,
            plugin: manifest.api_version,
            host: API_VERSION.to_owned(),
        });
    }
    if manifest.name != expected_name {
        return Err(LoadError::WrongName {
            path,
            expected: expected_name.to_owned(),
            found: manifest.name,
        });
    }
    validate_command(&manifest.command, true).map_err(|why| LoadError::BadManifest {
        path: path.clone(),
        why,
    })?;
    tracing::debug!(
        "loaded {} {} (plugin-api {}) from {}",
        manifest.name,
        manifest.version,
        manifest.api_version,
        path.display()
    );
    Ok(LoadedPlugin { manifest, module })
}

fn map_library_error(path: &Path, error: LibraryError) -> LoadError {
    let path = path.to_owned();
    match error {
        LibraryError::OpenError { .. }
        | LibraryError::GetSymbolError { .. }
        | LibraryError::InvalidAbiHeader(_) => LoadError::NotAPlugin {
            path,
            detail: first_line(&error.to_string()),
        },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => LoadError::Incompatible {
            path,
            plugin: format!("ABI {actual_version}"),
            host: format!("{API_VERSION} (ABI {})", carbonio_mesh_plugin_abi_version()),
        },
        other => {
            let report = other.to_string();
            LoadError::Layout {
                path,
                host: API_VERSION.to_owned(),
                summary: layout_summary(&report),
                report,
            }
        }
    }
}

fn carbonio_mesh_plugin_abi_version() -> String {
    use abi_stable::library::RootModule;
    PluginModuleRef::VERSION_STRINGS.version.to_string()
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .to_owned()
}

/// A declared value kind must be one the command line can satisfy: on an argument that takes a
/// value, not mixed with a list of values, and its default one it accepts (clap checks the
/// default too, so a bad one would make every run without the option a usage error).
fn check_value_kind(
    arg: &carbonio_mesh_plugin_api::ArgSpec,
    kind: &carbonio_mesh_plugin_api::ValueKind,
) -> Result<(), String> {
    use carbonio_mesh_plugin_api::{ArgKind, ValueKind};
    if arg.kind == ArgKind::Flag {
        return Err("a flag takes no value, so it has no value kind".to_owned());
    }
    if !arg.possible_values.is_empty() {
        return Err("give either possible values or a value kind, not both".to_owned());
    }
    let ValueKind::Unsigned { min, max } = kind;
    if min > max {
        return Err(format!("accepts no value: {min} is above {max}"));
    }
    if let Some(default) = &arg.default {
        kind.check(default)
            .map_err(|why| format!("its default '{default}' is refused: {why}"))?;
    }
    Ok(())
}

fn validate_command(command: &CommandSpec, top: bool) -> Result<(), String> {
    if !crate::plugins::discovery::is_valid_name(&command.name) {
        return Err(format!(
            "command name '{}' is not lower-case words joined by dashes",
            command.name
        ));
    }
    // The host's options are taken at every level of a plugin's command line.
    let (reserved_long, reserved_short) = crate::cli::command::reserved_names();
    let mut seen = std::collections::BTreeSet::new();
    for arg in &command.args {
        if !crate::plugins::discovery::is_valid_name(&arg.name) {
            return Err(format!(
                "'{}' in '{}' is not a valid argument name",
                arg.name, command.name
            ));
        }
        if !seen.insert(arg.name.as_str()) {
            return Err(format!(
                "argument '{}' is declared twice in '{}'",
                arg.name, command.name
            ));
        }
        // Positionals too: an argument's name is its clap id, which the host's options share.
        if reserved_long.contains(&arg.name) {
            return Err(format!("--{} belongs to carbonio-mesh itself", arg.name));
        }
        if let Some(short) = arg.short.filter(|s| reserved_short.contains(s)) {
            return Err(format!("-{short} belongs to carbonio-mesh itself"));
        }
        if let Some(kind) = &arg.value_kind {
            check_value_kind(arg, kind)
                .map_err(|why| format!("argument '{}' in '{}': {why}", arg.name, command.name))?;
        }
    }
    for sub in &command.subcommands {
        if top && sub.name == "help" {
            return Err("a subcommand may not be called 'help'".to_owned());
        }
        validate_command(sub, false)?;
    }
    Ok(())
}

/// A plugin's error answer; text that is not a `PluginError` becomes an internal error.
fn plugin_error_from(json: &str) -> PluginError {
    serde_json::from_str(json).unwrap_or_else(|_| PluginError::internal(json.to_owned()))
}

impl LoadedPlugin {
    /// Runs one command. `host` must stay valid for the whole call.
    pub fn invoke(&self, host: &HostHandle, request: &Request) -> Result<Response, PluginError> {
        let json = serde_json::to_string(request)
            .map_err(|e| PluginError::internal(format!("cannot encode the request: {e}")))?;
        match (self.module.invoke())(host, RStr::from_str(&json)) {
            // A framed document stays where the plugin wrote it, in the answer's buffer.
            RResult::ROk(answer) => Response::from_answer(answer).map_err(|e| {
                PluginError::internal(format!("the plugin's answer is not understood: {e}"))
            }),
            RResult::RErr(error) => Err(plugin_error_from(error.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_major_and_older_or_equal_minor_is_compatible() {
        assert!(api_compatible("1.0.0", "1.1.0"));
        assert!(api_compatible("1.1.5", "1.1.0"));
        assert!(!api_compatible("1.2.0", "1.1.0"));
        assert!(!api_compatible("2.0.0", "1.1.0"));
        assert!(!api_compatible("0.1.0", "1.1.0"));
        assert!(!api_compatible("garbage", "1.1.0"));
    }

    #[test]
    fn layout_summary_keeps_the_last_error_block() {
        let report = "lots\nof\ndump\nError: field `x`\n   expected 1\n   found 2\n";
        assert_eq!(
            layout_summary(report),
            "Error: field `x` expected 1 found 2"
        );
    }

    #[test]
    fn reserved_flags_are_refused() {
        let spec =
            CommandSpec::new("p", "x").arg(carbonio_mesh_plugin_api::ArgSpec::flag("format", "no"));
        assert!(validate_command(&spec, true)
            .unwrap_err()
            .contains("--format"));
        let spec = CommandSpec::new("p", "x")
            .arg(carbonio_mesh_plugin_api::ArgSpec::flag("x", "no").short('v'));
        assert!(validate_command(&spec, true).is_err());
        let spec = CommandSpec::new("p", "x")
            .arg(carbonio_mesh_plugin_api::ArgSpec::flag("a", "1"))
            .arg(carbonio_mesh_plugin_api::ArgSpec::flag("a", "2"));
        assert!(validate_command(&spec, true).is_err());
    }

    #[test]
    fn a_value_kind_the_command_line_cannot_satisfy_is_refused() {
        use carbonio_mesh_plugin_api::ArgSpec;
        let with = |arg: ArgSpec| validate_command(&CommandSpec::new("p", "x").arg(arg), true);
        assert_eq!(
            with(
                ArgSpec::option("n", "h")
                    .default_value("32")
                    .unsigned(1, 256)
            ),
            Ok(())
        );
        for (arg, why) in [
            (
                ArgSpec::flag("n", "h").unsigned(1, 2),
                "a flag takes no value",
            ),
            (ArgSpec::option("n", "h").unsigned(5, 1), "accepts no value"),
            (
                ArgSpec::option("n", "h").default_value("0").unsigned(1, 9),
                "its default '0' is refused",
            ),
            (
                ArgSpec::option("n", "h")
                    .possible_values(&["1"])
                    .unsigned(1, 9),
                "not both",
            ),
        ] {
            let error = with(arg).unwrap_err();
            assert!(
                error.contains(why) && error.contains("argument 'n'"),
                "{error}"
            );
        }
    }

    /// Every host option is reserved at every level, the Consul ones included: a plugin's
    /// `--token` would otherwise shadow the host's.
    #[test]
    fn every_host_option_is_reserved_at_every_level() {
        let (long, _) = crate::cli::command::reserved_names();
        for name in [
            "token",
            "token-file",
            "http-addr",
            "datacenter",
            "stale",
            "root",
            "plugin-dir",
        ] {
            assert!(long.iter().any(|l| l == name), "{name}");
            let spec = CommandSpec::new("p", "x").subcommand(
                CommandSpec::new("leaf", "y")
                    .arg(carbonio_mesh_plugin_api::ArgSpec::option(name, "mine")),
            );
            let why = validate_command(&spec, true).unwrap_err();
            assert!(why.contains(&format!("--{name}")), "{why}");
            // A positional shares the id space: a positional `token` would be read as --token.
            let spec = CommandSpec::new("p", "x")
                .arg(carbonio_mesh_plugin_api::ArgSpec::positional(name, "mine"));
            assert!(validate_command(&spec, true).is_err(), "positional {name}");
        }
    }
}
