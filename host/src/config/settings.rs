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

use crate::config::paths::{self, SystemPaths};
use crate::plugins::trust::{self, Opened, Refusal, TrustPolicy};

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
    before: Option<String>,
    after: Option<String>,
    /// Limits `before`/`after` to one workflow (both have steps of the same name).
    workflow: Option<String>,
    #[serde(default)]
    provides: Vec<String>,
}

/// What carries out one workflow step, when the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepProvider {
    /// A step the named plugin declares in its manifest.
    Plugin(String),
    /// A site command: argv with `{ip}`, `{leader}`, `{run}` filled in; with `password_stdin`
    /// the new password is written to its standard input (never put in argv).
    Exec {
        argv: Vec<String>,
        password_stdin: bool,
        /// The facts it prints as `NAME=VALUE` lines for later steps.
        provides: Vec<String>,
    },
}

/// Where something is written in the configuration, for errors: `FILE: line N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub path: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}", self.path.display(), self.line)
    }
}

/// A `[steps.NAME]` table: a provider, a place in a workflow (`before`/`after`), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConfig {
    /// `None`: the step keeps the provider its plugin declares; the table only moves it.
    pub provider: Option<StepProvider>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// `before`/`after` apply in this workflow only (none: in every workflow with that step).
    pub workflow: Option<String>,
    pub defined_in: Place,
}

impl StepConfig {
    /// A later file's table of the same name: its keys win, the others stay (a fragment that
    /// only moves a step keeps the command an earlier file gave it).
    fn merge(&mut self, later: StepConfig) {
        if later.provider.is_some() {
            self.provider = later.provider;
        }
        if later.before.is_some() || later.after.is_some() {
            self.before = later.before;
            self.after = later.after;
        }
        if later.workflow.is_some() {
            self.workflow = later.workflow;
        }
        self.defined_in = later.defined_in;
    }
}

/// A `[workflows] NAME = [...]` list: the site restates a workflow's steps in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowConfig {
    pub steps: Vec<String>,
    pub defined_in: Place,
}

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
    /// `[workflows]`: workflows the site restated, by name (the last file saying wins).
    pub workflows: BTreeMap<String, WorkflowConfig>,
    /// `[steps.NAME]` tables, in the order read (a later table of the same name replaces an
    /// earlier one in place).
    pub steps: Vec<(String, StepConfig)>,
    /// The files that were read, in order.
    pub sources: Vec<PathBuf>,
}

impl Default for Config {
    /// No file at all: every workflow exactly as the plugins declare it.
    fn default() -> Self {
        Config {
            exec_timeout: Duration::from_secs(120),
            backup_dir: paths::DEFAULT_BACKUP_DIR.to_owned(),
            service_user: "service-discover".to_owned(),
            workflows: BTreeMap::new(),
            steps: Vec::new(),
            sources: Vec::new(),
        }
    }
}

impl Config {
    /// The `[steps.NAME]` table for `name`, if any.
    pub fn step(&self, name: &str) -> Option<&StepConfig> {
        self.steps.iter().find(|(n, _)| n == name).map(|(_, s)| s)
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

/// One `[steps.NAME]` table checked on its own (whether its names exist is checked with the
/// plugins, by `workflows`): the error completes "steps.NAME ...".
fn step_config(step: StepSection, defined_in: Place) -> Result<StepConfig, String> {
    if step.before.is_some() && step.after.is_some() {
        return Err("has both before and after: give one".to_owned());
    }
    let exec_only =
        |what: &str| format!("sets {what}, which only a command step (exec = [...]) takes");
    let provider = match (step.plugin, step.exec) {
        (Some(plugin), None) => Some(StepProvider::Plugin(plugin)),
        (None, Some(argv))
            if argv
                .first()
                .is_some_and(|p| p.contains('/') && !p.starts_with('/')) =>
        {
            return Err(format!(
                "runs '{}', a relative path, which would be found from the current directory: give the program's absolute path, or a bare name found in PATH",
                argv[0]
            ))
        }
        (None, Some(argv)) if !argv.is_empty() => Some(StepProvider::Exec {
            argv,
            password_stdin: step.password_stdin,
            provides: step.provides.clone(),
        }),
        (None, None) if step.before.is_some() || step.after.is_some() => None,
        _ => {
            return Err(
                "needs one of plugin = \"NAME\" or exec = [\"program\", \"arg\", ...] (or only before/after to move the step)"
                    .to_owned(),
            )
        }
    };
    if !matches!(provider, Some(StepProvider::Exec { .. })) {
        if step.password_stdin {
            return Err(exec_only("password_stdin"));
        }
        if !step.provides.is_empty() {
            return Err(exec_only("provides"));
        }
    }
    Ok(StepConfig {
        provider,
        before: step.before,
        after: step.after,
        workflow: step.workflow,
        defined_in,
    })
}

/// Reads and merges every configuration file, each through the trust checks of `policy`.
pub fn load(paths: &SystemPaths, policy: &TrustPolicy) -> Result<Config, ConfigError> {
    let mut config = Config::default();
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
            let defined_in = Place {
                path: path.clone(),
                line: line_of(&text, name.span().start),
            };
            let name = name.into_inner();
            if steps.is_empty() {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("line {}: workflows.{name} lists no steps", defined_in.line),
                });
            }
            // Whether the workflow exists is known once the plugins are (`secret plan`).
            config
                .workflows
                .insert(name, WorkflowConfig { steps, defined_in });
        }
        // In the order written (the map sorts them by name): steps placed after the same step
        // keep that order.
        let mut tables: Vec<_> = file.steps.unwrap_or_default().into_iter().collect();
        tables.sort_by_key(|(name, _)| name.span().start);
        for (name, step) in tables {
            let line = line_of(&text, name.span().start);
            let name = name.into_inner();
            let step = step_config(
                step,
                Place {
                    path: path.clone(),
                    line,
                },
            )
            .map_err(|why| ConfigError::Invalid {
                path: path.clone(),
                message: format!("line {line}: steps.{name} {why}"),
            })?;
            match config.steps.iter_mut().find(|(n, _)| *n == name) {
                Some((_, earlier)) => earlier.merge(step),
                None => config.steps.push((name, step)),
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
        let root = crate::plugins::trust::tests::scratch();
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
            "[steps.first]\nexec = [\"/bin/sh\", \"-c\", \"id\"]\n",
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
    fn a_step_table_that_cannot_mean_anything_is_named_with_its_line() {
        for (table, why) in [
            (
                "[steps.announce]\nplugin = \"x\"\nbefore = \"a\"\nafter = \"b\"\n",
                "both before and after",
            ),
            ("[steps.announce]\n", "needs one of plugin"),
            ("[steps.announce]\nexec = []\n", "needs one of plugin"),
            (
                "[steps.announce]\nplugin = \"x\"\nexec = [\"true\"]\n",
                "needs one of plugin",
            ),
            (
                "[steps.announce]\nplugin = \"x\"\nprovides = [\"a\"]\n",
                "sets provides",
            ),
            (
                "[steps.announce]\nafter = \"x\"\npassword_stdin = true\n",
                "sets password_stdin",
            ),
            // Issue 24, item 10: a relative program ran from the current directory as root.
            (
                "[steps.announce]\nexec = [\"bin/x\"]\n",
                "'bin/x', a relative path",
            ),
        ] {
            let (_root, paths) = root_with(&[(
                "/etc/carbonio-mesh/config.d/10-site.toml",
                &format!("# site\n\n{table}"),
            )]);
            let message = load(&paths, &policy()).unwrap_err().to_string();
            assert!(
                message.contains("10-site.toml: line 3: steps.announce"),
                "{message}"
            );
            assert!(message.contains(why), "{table}: {message}");
        }
        // A later table of the same name adds its keys to the earlier one, in its place.
        let (_root, paths) = root_with(&[
            (
                "/etc/carbonio-mesh/config.toml",
                "[steps.b]\nexec = [\"true\"]\n[steps.a]\nplugin = \"x\"\n",
            ),
            (
                "/etc/carbonio-mesh/config.d/10-site.toml",
                "[steps.b]\nafter = \"a\"\n",
            ),
        ]);
        let config = load(&paths, &policy()).unwrap();
        let names: Vec<&str> = config.steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let b = config.step("b").unwrap();
        let exec = StepProvider::Exec {
            argv: vec!["true".to_owned()],
            password_stdin: false,
            provides: Vec::new(),
        };
        assert_eq!(
            (b.provider.as_ref(), b.after.as_deref()),
            (Some(&exec), Some("a"))
        );
        assert_eq!(b.defined_in.line, 1);
        // Tables are kept in the order written, not by name.
        let (_root, paths) = root_with(&[(
            "/etc/carbonio-mesh/config.toml",
            "[steps.zeta]\nexec = [\"true\"]\n[steps.alpha]\nexec = [\"true\"]\n",
        )]);
        let config = load(&paths, &policy()).unwrap();
        let names: Vec<&str> = config.steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
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
        let root = crate::plugins::trust::tests::scratch();
        let target = root.path().join("usr/lib/carbonio-mesh");
        std::fs::create_dir_all(&target).unwrap();
        let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/deb/config.toml");
        std::fs::copy(packaged, target.join("config.toml")).unwrap();
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        let config = load(&paths, &TrustPolicy::for_current_user()).unwrap();
        let config = Config {
            sources: Vec::new(),
            ..config
        };
        assert_eq!(config, Config::default());
    }
}
