//! The host's configuration: vendor file, site file, then the site's drop-ins, later files winning.
//!
//! `/usr/lib/carbonio-mesh/config.toml` (from the package), `/etc/carbonio-mesh/config.toml`,
//! then `/etc/carbonio-mesh/config.d/*.toml` in name order. Missing files are fine; an unknown
//! key is an error that names the file and the key, because a typo silently ignored on a
//! production mail system is worse than a refusal.
//!
//! Configuration is code: a `[steps.NAME]` table names a program root will run. So every file is
//! read through the plugin trust rules (`trust`): each directory from `/` and the file itself
//! owned by root (or the invoking user) and not writable by group or others, no symbolic links,
//! opened by descriptor; `config.d` is listed through its checked descriptor. A refusal names the
//! file and the fix, and nothing runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::paths::{self, SystemPaths};
use crate::trust::{self, Opened, Refusal, TrustPolicy};

/// A configuration file larger than this is not read (the vendor file is about 3 KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// The file, or a directory above it, could be written by someone other than root.
    #[error("{path} is not trusted: {refusal}")]
    Refused { path: PathBuf, refusal: Refusal },
}

/// One file's content: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    exec: Option<ExecSection>,
    backup: Option<BackupSection>,
    mesh: Option<MeshSection>,
    /// Workflow name (where it is written, for errors) -> its steps, in order.
    workflows: Option<BTreeMap<toml::Spanned<String>, Vec<String>>>,
    /// Step name (where it is written) -> what provides it.
    steps: Option<BTreeMap<toml::Spanned<String>, StepSection>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeshSection {
    /// The user Consul runs as (owns its data directory and the reset file).
    service_user: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSection {
    plugin: Option<String>,
    exec: Option<Vec<String>>,
    #[serde(default)]
    password_stdin: bool,
}

/// What carries out one workflow step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepProvider {
    /// A step the named plugin declares in its manifest.
    Plugin(String),
    /// A site command: argv with `{ip}`, `{leader}`, `{run}` filled in; with `password_stdin`
    /// the new password is written to its standard input (never put in argv).
    Exec {
        argv: Vec<String>,
        password_stdin: bool,
    },
}

/// A step's provider and the file that said so (`None`: built in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConfig {
    pub provider: StepProvider,
    pub defined_in: Option<PathBuf>,
}

/// The workflows this build knows, each step provided by the `secret` plugin. The vendor file
/// spells them out; a site replaces a step with `[steps.NAME]` in its own file.
pub const BUILT_IN_WORKFLOWS: &[(&str, &[&str])] = &[
    (
        "secret-regenerate",
        &[
            "preflight",
            "find-leader",
            "check-on-leader",
            "read-reset-index",
            "write-reset-file",
            "stop-service",
            "backup-and-remove",
            "run-setup",
            "verify",
            "check-ldap-copy",
            "revoke-old-token",
            "rejoin-nodes",
        ],
    ),
    (
        "secret-rejoin",
        &[
            "node-preflight",
            "stop-service",
            "backup-and-remove",
            "install-archive",
            "node-setup",
            "node-verify",
        ],
    ),
];

/// Steps built in as commands: the transport `rejoin-nodes` uses to reach each node (`{host}`:
/// its Carbonio hostname, else its address, never the Consul node name, which resolves
/// nowhere; the new password and the new archive on its standard input), and the one
/// `doctor --nodes` runs each node's own checks through (nothing on its standard input).
/// Each with whether it takes the password on standard input.
pub const BUILT_IN_COMMAND_STEPS: &[(&str, &[&str], bool)] = &[
    (
        "transport",
        &[
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
            "root@{host}",
            "carbonio-mesh",
            "--yes",
            "secret",
            "rejoin",
            "--input-stdin",
        ],
        true,
    ),
    (
        "doctor-transport",
        &[
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
            "root@{host}",
            "carbonio-mesh",
            "doctor",
            "--local",
            "--format",
            "json",
        ],
        false,
    ),
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecSection {
    /// Default time limit for commands run by plugins.
    timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupSection {
    /// Where copies of removed or replaced files go (a system path).
    dir: Option<String>,
}

/// The merged configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub exec_timeout: Duration,
    /// A system path (put under `--root` when used).
    pub backup_dir: String,
    /// The user service-discover's Consul runs as.
    pub service_user: String,
    /// Workflow name -> step names, in order.
    pub workflows: BTreeMap<String, Vec<String>>,
    /// Step name -> its provider.
    pub steps: BTreeMap<String, StepConfig>,
    /// The files that were read, in order.
    pub sources: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let mut workflows = BTreeMap::new();
        let mut steps = BTreeMap::new();
        for (workflow, names) in BUILT_IN_WORKFLOWS {
            workflows.insert(
                (*workflow).to_owned(),
                names.iter().map(|s| (*s).to_owned()).collect(),
            );
            for name in *names {
                steps.insert(
                    (*name).to_owned(),
                    StepConfig {
                        provider: StepProvider::Plugin("secret".to_owned()),
                        defined_in: None,
                    },
                );
            }
        }
        for (name, argv, password_stdin) in BUILT_IN_COMMAND_STEPS {
            steps.insert(
                (*name).to_owned(),
                StepConfig {
                    provider: StepProvider::Exec {
                        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
                        password_stdin: *password_stdin,
                    },
                    defined_in: None,
                },
            );
        }
        Config {
            exec_timeout: Duration::from_secs(120),
            backup_dir: paths::DEFAULT_BACKUP_DIR.to_owned(),
            service_user: "service-discover".to_owned(),
            workflows,
            steps,
            sources: Vec::new(),
        }
    }
}

/// Where a configuration file was refused, as the error for `path`.
fn refused(path: &Path, refusal: Refusal) -> ConfigError {
    ConfigError::Refused {
        path: path.to_owned(),
        refusal,
    }
}

fn is_missing(path: &Path) -> Result<bool, ConfigError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The text of an opened configuration file (`None`: an empty file or a mask to /dev/null).
fn text_of(opened: Opened, path: &Path) -> Result<Option<String>, ConfigError> {
    use std::io::Read;
    let Opened::Trusted(file) = opened else {
        return Ok(None);
    };
    let mut text = String::new();
    file.into_file()
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    Ok(Some(text))
}

/// What the trust checks opened, as its text: `None` for an empty file or a mask, and for a
/// file removed between listing and opening (nothing left to obey).
fn read_opened(
    opened: Result<Opened, Refusal>,
    path: &Path,
) -> Result<Option<String>, ConfigError> {
    match opened {
        Ok(opened) => text_of(opened, path),
        Err(Refusal::Unreadable {
            errno: nix::errno::Errno::ENOENT,
            ..
        }) => Ok(None),
        Err(refusal) => Err(refused(path, refusal)),
    }
}

/// The `*.toml` files of `config.d` in name order, each read through its checked directory.
fn read_drop_ins(
    policy: &TrustPolicy,
    dir: &Path,
) -> Result<Vec<(PathBuf, Option<String>)>, ConfigError> {
    if is_missing(dir)? {
        return Ok(Vec::new());
    }
    let dir_fd = trust::open_trusted_dir(policy, dir).map_err(|r| refused(dir, r))?;
    // Listed through the checked descriptor, not the name, which could be swapped meanwhile.
    let listing = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dir_fd)
    ));
    let read_error = |source| ConfigError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(listing)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    // Hidden files are editors' (Emacs's `.#20-site.toml` lock link), as systemd skips them.
    names.retain(|n| {
        !n.as_encoded_bytes().starts_with(b".")
            && Path::new(n).extension().is_some_and(|e| e == "toml")
    });
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let opened = trust::open_trusted_file(policy, &dir_fd, dir, &name);
            Ok((path.clone(), read_opened(opened, &path)?))
        })
        .collect()
}

/// Every configuration file that exists, in the order they apply, with its text (`None`: empty).
fn read_files(
    paths: &SystemPaths,
    policy: &TrustPolicy,
) -> Result<Vec<(PathBuf, Option<String>)>, ConfigError> {
    let mut files = Vec::new();
    for file in [
        paths.system(paths::VENDOR_CONFIG),
        paths.system(paths::SITE_CONFIG),
    ] {
        // A missing file has nothing to obey, so an untrusted directory above it does not matter.
        if !is_missing(&file)? {
            let text = read_opened(trust::open_trusted(policy, &file), &file)?;
            files.push((file, text));
        }
    }
    files.extend(read_drop_ins(
        policy,
        &paths.system(paths::SITE_CONFIG_DIR),
    )?);
    Ok(files)
}

/// The line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|span| format!("line {}: ", line_of(text, span.start)));
        ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("{}{}", location.unwrap_or_default(), e.message()),
        }
    })
}

/// A `[steps.NAME]` a file defined, remembered until every file is read: a step no workflow
/// uses is a misspelling (`[steps.stop-servce]`) that would otherwise be silently ignored.
struct DefinedStep {
    name: String,
    path: PathBuf,
    line: usize,
}

/// Reads and merges every configuration file, each through the trust checks of `policy`.
pub fn load(paths: &SystemPaths, policy: &TrustPolicy) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut defined = Vec::new();
    for (path, text) in read_files(paths, policy)? {
        let text = text.unwrap_or_default();
        let file = parse(&path, &text)?;
        if let Some(secs) = file.exec.and_then(|e| e.timeout_secs) {
            if secs == 0 {
                return Err(ConfigError::Invalid {
                    path,
                    message: "exec.timeout_secs must be at least 1".to_owned(),
                });
            }
            config.exec_timeout = Duration::from_secs(secs);
        }
        if let Some(dir) = file.backup.and_then(|b| b.dir) {
            if !dir.starts_with('/') {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("backup.dir must be an absolute path, not '{dir}'"),
                });
            }
            config.backup_dir = dir;
        }
        if let Some(user) = file.mesh.and_then(|m| m.service_user) {
            config.service_user = user;
        }
        for (name, steps) in file.workflows.unwrap_or_default() {
            let line = line_of(&text, name.span().start);
            let name = name.into_inner();
            if !BUILT_IN_WORKFLOWS.iter().any(|(known, _)| *known == name) {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!(
                        "line {line}: there is no workflow '{name}'; the workflows are {}",
                        BUILT_IN_WORKFLOWS
                            .iter()
                            .map(|(known, _)| *known)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if steps.is_empty() {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("line {line}: workflows.{name} lists no steps"),
                });
            }
            config.workflows.insert(name, steps);
        }
        for (name, step) in file.steps.unwrap_or_default() {
            let line = line_of(&text, name.span().start);
            let name = name.into_inner();
            defined.push(DefinedStep {
                name: name.clone(),
                path: path.clone(),
                line,
            });
            let provider = match (step.plugin, step.exec) {
                (Some(plugin), None) => StepProvider::Plugin(plugin),
                (None, Some(argv)) if !argv.is_empty() => StepProvider::Exec {
                    argv,
                    password_stdin: step.password_stdin,
                },
                _ => {
                    return Err(ConfigError::Invalid {
                        path,
                        message: format!(
                            "line {line}: steps.{name} needs exactly one of plugin = \"NAME\" or exec = [\"program\", \"arg\", ...]"
                        ),
                    })
                }
            };
            config.steps.insert(
                name,
                StepConfig {
                    provider,
                    defined_in: Some(path.clone()),
                },
            );
        }
        for (workflow, steps) in &config.workflows {
            if let Some(missing) = steps.iter().find(|s| !config.steps.contains_key(*s)) {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!(
                        "workflows.{workflow} names step '{missing}', which no [steps.{missing}] provides"
                    ),
                });
            }
        }
        config.sources.push(path);
    }
    for step in defined {
        let used = config.workflows.values().flatten().any(|s| *s == step.name)
            || BUILT_IN_COMMAND_STEPS
                .iter()
                .any(|(name, _, _)| *name == step.name);
        if !used {
            return Err(ConfigError::Invalid {
                path: step.path,
                message: format!(
                    "line {}: no workflow has a step '{}'; `carbonio-mesh secret plan` lists the steps (add it to a [workflows] list to run a new step)",
                    step.line, step.name
                ),
            });
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, SystemPaths) {
        let root = crate::trust::tests::scratch();
        for (path, text) in files {
            let real = root.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(real.parent().unwrap()).unwrap();
            fs::write(real, text).unwrap();
        }
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        (root, paths)
    }

    fn policy() -> TrustPolicy {
        TrustPolicy::for_current_user()
    }

    #[test]
    fn no_files_means_defaults() {
        let (_root, paths) = root_with(&[]);
        assert_eq!(load(&paths, &policy()).unwrap(), Config::default());
    }

    #[test]
    fn later_files_win_and_drop_ins_go_in_name_order() {
        let (_root, paths) = root_with(&[
            (
                "/usr/lib/carbonio-mesh/config.toml",
                "[exec]\ntimeout_secs = 10\n[backup]\ndir = \"/v\"\n",
            ),
            (
                "/etc/carbonio-mesh/config.toml",
                "[exec]\ntimeout_secs = 20\n",
            ),
            (
                "/etc/carbonio-mesh/config.d/20-b.toml",
                "[exec]\ntimeout_secs = 40\n",
            ),
            (
                "/etc/carbonio-mesh/config.d/10-a.toml",
                "[exec]\ntimeout_secs = 30\n",
            ),
            ("/etc/carbonio-mesh/config.d/notes.txt", "ignored"),
        ]);
        let config = load(&paths, &policy()).unwrap();
        assert_eq!(config.exec_timeout, Duration::from_secs(40));
        assert_eq!(config.backup_dir, "/v");
        assert_eq!(config.sources.len(), 4);
    }

    #[test]
    fn an_unknown_key_names_the_file_the_line_and_the_key() {
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.d/50-typo.toml",
            "\n[exec]\ntimeout = 5\n",
        )]);
        let message = load(&paths, &policy()).unwrap_err().to_string();
        assert!(message.contains("50-typo.toml"), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("unknown field `timeout`"), "{message}");
    }

    #[test]
    fn a_writable_drop_in_directory_or_file_is_refused_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let (root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.d/99-evil.toml",
            "[steps.preflight]\nexec = [\"/bin/sh\", \"-c\", \"id\"]\n",
        )]);
        let dir = root.path().join("etc/carbonio-mesh/config.d");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let error = load(&paths, &policy()).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Refused { path, .. } if *path == dir),
            "{error}"
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join("99-evil.toml");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
        let error = load(&paths, &policy()).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Refused { path, .. } if *path == file),
            "{error}"
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&paths, &policy()).is_ok());
        // An editor's lock link next to a fragment being edited is not configuration.
        std::os::unix::fs::symlink("root@host.1234", dir.join(".#99-evil.toml")).unwrap();
        assert!(load(&paths, &policy()).is_ok());
        let site = root.path().join("etc/carbonio-mesh/config.toml");
        std::os::unix::fs::symlink(&file, &site).unwrap();
        assert!(matches!(
            load(&paths, &policy()).unwrap_err(),
            ConfigError::Refused { .. }
        ));
    }

    #[test]
    fn unknown_steps_and_workflows_are_named_with_their_line() {
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.d/10-site.toml",
            "# site\n\n[steps.stop-servce]\nexec = [\"true\"]\n",
        )]);
        let message = load(&paths, &policy()).unwrap_err().to_string();
        assert!(message.contains("10-site.toml: line 3"), "{message}");
        assert!(message.contains("'stop-servce'"), "{message}");
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[workflows]\nsecret-regenerte = [\"preflight\"]\n",
        )]);
        let message = load(&paths, &policy()).unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("'secret-regenerte'"), "{message}");
        // A step of a workflow, and the transport, may be replaced.
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[steps.stop-service]\nexec = [\"true\"]\n[steps.transport]\nexec = [\"true\"]\n",
        )]);
        assert!(load(&paths, &policy()).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[backup]\ndir = \"relative\"\n",
        )]);
        assert!(load(&paths, &policy())
            .unwrap_err()
            .to_string()
            .contains("backup.dir"));
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[exec]\ntimeout_secs = \"x\"\n",
        )]);
        assert!(load(&paths, &policy()).is_err());
    }
}

#[cfg(test)]
mod vendor_file_tests {
    use super::*;

    /// The vendor file the package installs spells out exactly the built-in defaults.
    #[test]
    fn the_packaged_vendor_config_parses_and_matches_the_defaults() {
        let root = crate::trust::tests::scratch();
        let target = root.path().join("usr/lib/carbonio-mesh");
        std::fs::create_dir_all(&target).unwrap();
        let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/deb/config.toml");
        std::fs::copy(packaged, target.join("config.toml")).unwrap();
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        let config = load(&paths, &TrustPolicy::for_current_user()).unwrap();
        let mut config = Config {
            sources: Vec::new(),
            ..config
        };
        for step in config.steps.values_mut() {
            step.defined_in = None;
        }
        assert_eq!(config, Config::default());
    }
}
