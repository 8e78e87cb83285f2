//! The host's configuration: vendor file, site file, then the site's drop-ins, later files winning.
//!
//! `/usr/lib/carbonio-mesh/config.toml` (from the package), `/etc/carbonio-mesh/config.toml`,
//! then `/etc/carbonio-mesh/config.d/*.toml` in name order. Missing files are fine; an unknown
//! key is an error that names the file and the key, because a typo silently ignored on a
//! production mail system is worse than a refusal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::paths::{self, SystemPaths};

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
}

/// One file's content: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    exec: Option<ExecSection>,
    backup: Option<BackupSection>,
    mesh: Option<MeshSection>,
    /// Workflow name -> its steps, in order.
    workflows: Option<BTreeMap<String, Vec<String>>>,
    /// Step name -> what provides it.
    steps: Option<BTreeMap<String, StepSection>>,
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

/// Steps built in as commands: the transport `rejoin-nodes` uses to reach each node (`{node}`
/// filled in; the new password and the new archive on its standard input).
pub const BUILT_IN_COMMAND_STEPS: &[(&str, &[&str])] = &[(
    "transport",
    &[
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=10",
        "root@{node}",
        "carbonio-mesh",
        "--yes",
        "secret",
        "rejoin",
        "--input-stdin",
    ],
)];

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
        for (name, argv) in BUILT_IN_COMMAND_STEPS {
            steps.insert(
                (*name).to_owned(),
                StepConfig {
                    provider: StepProvider::Exec {
                        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
                        password_stdin: true,
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

/// The configuration files in the order they apply.
pub fn config_files(paths: &SystemPaths) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = vec![
        paths.system(paths::VENDOR_CONFIG),
        paths.system(paths::SITE_CONFIG),
    ];
    let drop_ins = paths.system(paths::SITE_CONFIG_DIR);
    match std::fs::read_dir(&drop_ins) {
        Ok(entries) => {
            let mut found: Vec<PathBuf> = entries
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(|source| ConfigError::Read {
                    path: drop_ins.clone(),
                    source,
                })?;
            found.retain(|p| p.extension().is_some_and(|e| e == "toml"));
            found.sort();
            files.extend(found);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ConfigError::Read {
                path: drop_ins,
                source,
            })
        }
    }
    Ok(files)
}

fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let location = e.span().map(|span| {
            let line = text[..span.start].matches('\n').count() + 1;
            format!("line {line}: ")
        });
        ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("{}{}", location.unwrap_or_default(), e.message()),
        }
    })
}

/// Reads and merges every configuration file.
pub fn load(paths: &SystemPaths) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for path in config_files(paths)? {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
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
            if steps.is_empty() {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("workflows.{name} lists no steps"),
                });
            }
            config.workflows.insert(name, steps);
        }
        for (name, step) in file.steps.unwrap_or_default() {
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
                            "steps.{name} needs exactly one of plugin = \"NAME\" or exec = [\"program\", \"arg\", ...]"
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
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, SystemPaths) {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let real = root.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(real.parent().unwrap()).unwrap();
            fs::write(real, text).unwrap();
        }
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        (root, paths)
    }

    #[test]
    fn no_files_means_defaults() {
        let (_root, paths) = root_with(&[]);
        assert_eq!(load(&paths).unwrap(), Config::default());
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
        let config = load(&paths).unwrap();
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
        let message = load(&paths).unwrap_err().to_string();
        assert!(message.contains("50-typo.toml"), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("unknown field `timeout`"), "{message}");
    }

    #[test]
    fn bad_values_are_refused() {
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[backup]\ndir = \"relative\"\n",
        )]);
        assert!(load(&paths).unwrap_err().to_string().contains("backup.dir"));
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[exec]\ntimeout_secs = \"x\"\n",
        )]);
        assert!(load(&paths).is_err());
    }
}

#[cfg(test)]
mod vendor_file_tests {
    use super::*;

    /// The vendor file the package installs spells out exactly the built-in defaults.
    #[test]
    fn the_packaged_vendor_config_parses_and_matches_the_defaults() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("usr/lib/carbonio-mesh");
        std::fs::create_dir_all(&target).unwrap();
        let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/deb/config.toml");
        std::fs::copy(packaged, target.join("config.toml")).unwrap();
        let config = load(&SystemPaths::new(Some(root.path().to_owned()))).unwrap();
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
