//! Every system path the host touches, in one place, under an optional `--root` prefix.
//!
//! Tests and rescue work pass `--root DIR`: `/etc/carbonio-mesh/config.toml` then means
//! `DIR/etc/carbonio-mesh/config.toml`, and plugins' file requests are confined below `DIR`.

use std::path::{Component, Path, PathBuf};

pub const VENDOR_PLUGIN_DIR: &str = "/usr/lib/carbonio-mesh/plugins";
pub const SITE_PLUGIN_DIR: &str = "/usr/local/lib/carbonio-mesh/plugins";
pub const VENDOR_CONFIG: &str = "/usr/lib/carbonio-mesh/config.toml";
pub const SITE_CONFIG: &str = "/etc/carbonio-mesh/config.toml";
pub const SITE_CONFIG_DIR: &str = "/etc/carbonio-mesh/config.d";
pub const DEFAULT_BACKUP_DIR: &str = "/var/backups/carbonio-mesh";

/// A system path a plugin asked for was not acceptable.
#[derive(Debug, thiserror::Error)]
#[error("'{path}' is not an acceptable system path: {why}")]
pub struct PathError {
    pub path: String,
    pub why: &'static str,
}

/// Maps system paths to real paths under the root.
#[derive(Debug, Clone)]
pub struct SystemPaths {
    root: PathBuf,
}

impl SystemPaths {
    /// `root` is `/` unless `--root` says otherwise.
    pub fn new(root: Option<PathBuf>) -> Self {
        SystemPaths {
            root: root.unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    /// Whether `--root` put the system somewhere else than `/`.
    pub fn is_rooted(&self) -> bool {
        self.root != Path::new("/")
    }

    /// The real path of an absolute system path. Relative paths and `..` are refused so that a
    /// plugin cannot leave the root.
    pub fn resolve(&self, system_path: &str) -> Result<PathBuf, PathError> {
        let refuse = |why| PathError {
            path: system_path.to_owned(),
            why,
        };
        let path = Path::new(system_path);
        if !path.is_absolute() {
            return Err(refuse("it must be absolute"));
        }
        let mut real = self.root.clone();
        for component in path.components() {
            match component {
                Component::RootDir => {}
                Component::Normal(part) => real.push(part),
                Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(refuse("it must not contain '..'"))
                }
            }
        }
        Ok(real)
    }

    /// A fixed system path from this module's constants, under the root.
    pub fn system(&self, system_path: &str) -> PathBuf {
        self.resolve(system_path)
            .expect("the host's own system paths are absolute")
    }

    pub fn vendor_plugin_dir(&self) -> PathBuf {
        self.system(VENDOR_PLUGIN_DIR)
    }

    pub fn site_plugin_dir(&self) -> PathBuf {
        self.system(SITE_PLUGIN_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_go_under_the_root() {
        let paths = SystemPaths::new(Some(PathBuf::from("/tmp/r")));
        assert_eq!(
            paths.resolve("/etc/x.toml").unwrap(),
            Path::new("/tmp/r/etc/x.toml")
        );
        assert_eq!(
            paths.vendor_plugin_dir(),
            Path::new("/tmp/r/usr/lib/carbonio-mesh/plugins")
        );
        assert_eq!(
            SystemPaths::new(None).resolve("/etc/./x").unwrap(),
            Path::new("/etc/x")
        );
    }

    #[test]
    fn escaping_the_root_is_refused() {
        let paths = SystemPaths::new(Some(PathBuf::from("/tmp/r")));
        assert!(paths.resolve("/etc/../../x").is_err());
        assert!(paths.resolve("etc/x").is_err());
    }
}
