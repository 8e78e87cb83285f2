//! The backup directory of one run, where every file a plugin replaces or removes is copied
//! first (with its mode and owner).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};

use super::failure::{failure, io_failure};
use crate::config::paths::SystemPaths;

/// The backup directory of one run: `<backup dir>/<time>-<pid>/`, made on first use (mode 0700),
/// holding each saved path at its system path (`.../etc/zextras/service-discover/main.json`).
pub struct Backups {
    paths: SystemPaths,
    run_dir: String,
}

impl Backups {
    pub fn new(paths: SystemPaths, backup_dir: &str) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Backups {
            paths,
            run_dir: format!(
                "{}/{stamp}-{}",
                backup_dir.trim_end_matches('/'),
                std::process::id()
            ),
        }
    }

    /// Where `system_path` is saved (a system path).
    pub(super) fn target(&self, system_path: &str) -> String {
        format!("{}/{}", self.run_dir, system_path.trim_start_matches('/'))
    }

    /// Copies `system_path` (file, link or directory tree) into the run's backup directory.
    pub(super) fn save(&self, system_path: &str) -> Result<String, ServiceFailure> {
        let source = self
            .paths
            .resolve(system_path)
            .map_err(|e| failure(ServiceErrorKind::Invalid, e.to_string()))?;
        // The same path may be saved twice in one run (replaced, then removed): keep both.
        let first = self.target(system_path);
        let mut backup = first.clone();
        let mut copy = 1;
        while fs::symlink_metadata(self.paths.system(&backup)).is_ok() {
            backup = format!("{first}.{copy}");
            copy += 1;
        }
        let destination = self.paths.system(&backup);
        let run_dir = self.paths.system(&self.run_dir);
        fs::create_dir_all(&run_dir)
            .map_err(|e| io_failure("create the backup directory", &self.run_dir, e))?;
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_failure("protect the backup directory", &self.run_dir, e))?;
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| io_failure("create the backup directory", &backup, e))?;
        }
        copy_tree(&source, &destination).map_err(|e| io_failure("back up", system_path, e))?;
        Ok(backup)
    }
}

/// Copies a file, symlink or directory tree, keeping permission bits and ownership.
fn copy_tree(source: &Path, destination: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(source)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(source)?, destination)?;
        return Ok(());
    }
    if meta.is_dir() {
        fs::create_dir(destination)?;
        for entry in fs::read_dir(source)? {
            let entry = entry?;
            copy_tree(&entry.path(), &destination.join(entry.file_name()))?;
        }
    } else {
        fs::copy(source, destination)?;
        let file = fs::File::open(destination)?;
        file.sync_all()?;
    }
    fs::set_permissions(
        destination,
        fs::Permissions::from_mode(meta.mode() & 0o7777),
    )?;
    // Keeping the owner matters for restoring service-discover's files; only root can.
    if nix::unistd::Uid::effective().is_root() {
        std::os::unix::fs::lchown(destination, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}
