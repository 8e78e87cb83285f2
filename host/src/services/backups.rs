//! The copies of everything carbonio-mesh replaces or removes: `<backup dir>/<time>-<pid>/`,
//! one directory per process, holding each saved path at its system path
//! (`.../etc/zextras/service-discover/main.json`).
//!
//! They hold the secrets a run replaced (the old archive, the CA key, the password), so:
//!
//! - the backup directory (`[backup] dir`, default `/var/backups/carbonio-mesh`) passes the
//!   plugin trust rules, as `config.d` does: root's, writable by nobody else, no link on the way
//!   (missing directories are made, by root, so trusted); otherwise nothing is copied and the
//!   change is not made (exit 4);
//! - the run's directory is made exclusively (mode 0700) and kept open: a name planted there, a
//!   link for one, is refused rather than followed;
//! - copies follow no link: a link is copied as a link, a directory entry by entry;
//! - a backup is put back only from inside that trusted directory, through no link.

use std::cell::OnceCell;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};
use nix::errno::Errno;
use nix::fcntl::{readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, FileStat, Mode, SFlag};

use super::{failure, io_failure};
use crate::config::paths::{is_type, open_at, Entry, SystemPaths};
use crate::plugins::trust::{self, Refusal, TrustPolicy};

/// The backups of one process: see the module documentation.
pub struct Backups {
    paths: SystemPaths,
    /// The backup directory, a system path without a trailing `/`.
    root: String,
    /// `<time>-<pid>`.
    run: String,
    /// The run's directory, made on first use and kept open.
    run_dir: OnceCell<OwnedFd>,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

impl Backups {
    pub fn new(paths: SystemPaths, backup_dir: &str) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Backups {
            paths,
            root: backup_dir.trim_end_matches('/').to_owned(),
            run: format!("{stamp}-{}", std::process::id()),
            run_dir: OnceCell::new(),
        }
    }

    /// Where `system_path` is saved (a system path).
    pub(super) fn target(&self, system_path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.root,
            self.run,
            system_path.trim_start_matches('/')
        )
    }

    /// The backup directory, checked by the trust rules; made where missing when `create`.
    pub(super) fn open_root(&self, create: bool) -> Result<OwnedFd, ServiceFailure> {
        let real = self.paths.system(&self.root);
        let policy = TrustPolicy::for_current_user();
        let opened = if create {
            trust::open_or_create_trusted_dir(&policy, &real, 0o700)
        } else {
            trust::open_trusted_dir(&policy, &real)
        };
        opened.map_err(|refusal| self.refused(&refusal))
    }

    /// A refusal of the trust rules is exit 4, as an untrusted `config.d`; a directory that
    /// cannot be used (a file in its way, no permission) fails the operation (exit 5).
    fn refused(&self, refusal: &Refusal) -> ServiceFailure {
        let untrusted = matches!(
            refusal,
            Refusal::Owner { .. } | Refusal::Writable { .. } | Refusal::Symlink { .. }
        );
        let (kind, why, code) = if untrusted {
            (
                ServiceErrorKind::Denied,
                "is not trusted",
                Some(crate::exit::PLUGIN),
            )
        } else {
            (ServiceErrorKind::Failed, "cannot be used", None)
        };
        ServiceFailure {
            kind,
            message: format!(
                "the backup directory {} ([backup] dir) {why}: {refusal}; the copies would hold secrets, so nothing was changed",
                self.root
            ),
            hint: Some(refusal.fix()),
            exit_code: code,
        }
    }

    /// The run's directory: made exclusively on first use, kept open.
    fn run_dir(&self) -> Result<&OwnedFd, ServiceFailure> {
        if let Some(dir) = self.run_dir.get() {
            return Ok(dir);
        }
        let root = self.open_root(true)?;
        let name = OsStr::new(&self.run);
        let shown = format!("{}/{}", self.root, self.run);
        mkdirat(
            Some(root.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o700),
        )
        .map_err(|e| {
            io_failure(
                "make the backup directory (it must not exist yet)",
                &shown,
                e.into(),
            )
        })?;
        let dir = open_at(&root, name, DIR_FLAGS, Mode::empty())
            .map_err(|e| io_failure("open the backup directory", &shown, e))?;
        // The mode given to mkdir is filtered by the umask; 0700 exactly.
        fchmod(dir.as_raw_fd(), Mode::from_bits_truncate(0o700))
            .map_err(|e| io_failure("protect the backup directory", &shown, e.into()))?;
        Ok(self.run_dir.get_or_init(|| dir))
    }

    /// Copies `source` (the entry of `system_path`: a file, a link or a directory tree) into
    /// the run's directory; the backup's system path.
    pub(super) fn save(&self, source: &Entry, system_path: &str) -> Result<String, ServiceFailure> {
        let saving = |e: io::Error| io_failure("back up", system_path, e);
        let relative = Path::new(system_path.trim_start_matches('/'));
        let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
            return Err(failure(
                ServiceErrorKind::Invalid,
                "cannot back up the root",
            ));
        };
        let mut dir = self.run_dir()?.try_clone().map_err(saving)?;
        for part in parent.components() {
            let part = part.as_os_str();
            match mkdirat(Some(dir.as_raw_fd()), part, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(saving(errno.into())),
            }
            dir = open_at(&dir, part, DIR_FLAGS, Mode::empty()).map_err(saving)?;
        }
        // The same path may be saved twice in one run (replaced, then removed): keep both.
        let mut saved: OsString = name.to_owned();
        let mut copy = 1;
        while fstatat(
            Some(dir.as_raw_fd()),
            saved.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok()
        {
            saved = format!("{}.{copy}", name.to_string_lossy()).into();
            copy += 1;
        }
        copy_entry(&source.dir, &source.name, &dir, &saved).map_err(saving)?;
        let suffix = &saved.to_string_lossy()[name.len()..];
        Ok(format!("{}{suffix}", self.target(system_path)))
    }

    /// The backup at `backup` (a system path, as `save` answered it) for `fs.restore`: opened
    /// inside the trusted backup directory through no link, a regular file.
    pub(super) fn open_backup(&self, backup: &str) -> Result<(File, FileStat), ServiceFailure> {
        let outside = || {
            failure(
                ServiceErrorKind::Denied,
                format!(
                    "{backup} is not a backup: it is not inside the backup directory {}",
                    self.root
                ),
            )
        };
        let rest = backup
            .strip_prefix(&self.root)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(outside)?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(outside());
        }
        let reading = |e: io::Error| {
            let e = if e.raw_os_error() == Some(nix::libc::ELOOP) {
                io::Error::other("a symbolic link is on the way, which a backup never has")
            } else {
                e
            };
            io_failure("read the backup", backup, e)
        };
        let mut dir = self.open_root(false)?;
        let (last, dirs) = parts.split_last().ok_or_else(outside)?;
        for part in dirs {
            dir = open_at(&dir, OsStr::new(part), DIR_FLAGS, Mode::empty()).map_err(reading)?;
        }
        let file = open_at(
            &dir,
            OsStr::new(last),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map_err(reading)?;
        let stat = fstat(file.as_raw_fd()).map_err(|e| reading(e.into()))?;
        if !is_type(&stat, SFlag::S_IFREG) {
            return Err(failure(
                ServiceErrorKind::Invalid,
                format!("{backup} is not a regular file: only files are restored"),
            ));
        }
        Ok((File::from(file), stat))
    }
}

impl Backups {
    /// The run directory `dir` (a system path directly inside the backup directory), when it is
    /// a directory there and not a link: its name in the opened backup directory.
    fn run_dir_named(&self, dir: &str) -> Option<(OwnedFd, OsString)> {
        let name = dir
            .strip_prefix(&self.root)?
            .strip_prefix('/')
            .filter(|n| !n.is_empty() && !n.contains('/') && *n != "." && *n != "..")?;
        let root = self.open_root(false).ok()?;
        let stat = fstatat(Some(root.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
        is_type(&stat, SFlag::S_IFDIR).then(|| (root, OsString::from(name)))
    }

    /// Whether `dir` is a run directory of the backup directory (see [`Backups::remove_dir`]).
    pub(super) fn holds_dir(&self, dir: &str) -> bool {
        self.run_dir_named(dir).is_some()
    }

    /// Removes the run directory `dir` for good (a system path directly inside the trusted
    /// backup directory, not a link), through the opened backup directory.
    pub(super) fn remove_dir(&self, dir: &str) -> Result<(), ServiceFailure> {
        let Some((root, name)) = self.run_dir_named(dir) else {
            return Err(failure(
                ServiceErrorKind::Invalid,
                format!(
                    "{dir} is not a run directory of the backup directory {}",
                    self.root
                ),
            ));
        };
        let path = Path::new(&format!("/proc/self/fd/{}", root.as_raw_fd())).join(name);
        std::fs::remove_dir_all(path).map_err(|e| io_failure("remove", dir, e))
    }
}

/// Keeps `stat`'s owner on `name` in `dir` (only root can), without following it.
fn keep_owner(dir: &OwnedFd, name: &OsStr, stat: &FileStat) -> io::Result<()> {
    if nix::unistd::Uid::effective().is_root() {
        nix::unistd::fchownat(
            Some(dir.as_raw_fd()),
            name,
            Some(nix::unistd::Uid::from_raw(stat.st_uid)),
            Some(nix::unistd::Gid::from_raw(stat.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    Ok(())
}

/// Copies `from` in `from_dir` to `to` in `to_dir`, following no link: a link as a link, a
/// directory entry by entry, a file's bytes, each with its mode and (as root) its owner.
/// Anything else (a socket, a FIFO) is not copied.
fn copy_entry(from_dir: &OwnedFd, from: &OsStr, to_dir: &OwnedFd, to: &OsStr) -> io::Result<()> {
    let stat = fstatat(
        Some(from_dir.as_raw_fd()),
        from,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    let mode = Mode::from_bits_truncate(stat.st_mode & 0o7777);
    if is_type(&stat, SFlag::S_IFLNK) {
        let target = readlinkat(Some(from_dir.as_raw_fd()), from)?;
        nix::unistd::symlinkat(target.as_os_str(), Some(to_dir.as_raw_fd()), to)?;
        return keep_owner(to_dir, to, &stat);
    }
    if is_type(&stat, SFlag::S_IFDIR) {
        mkdirat(
            Some(to_dir.as_raw_fd()),
            to,
            Mode::from_bits_truncate(0o700),
        )?;
        let source = open_at(from_dir, from, DIR_FLAGS, Mode::empty())?;
        let copy = open_at(to_dir, to, DIR_FLAGS, Mode::empty())?;
        let listing = format!("/proc/self/fd/{}", source.as_raw_fd());
        for entry in std::fs::read_dir(listing)? {
            let name = entry?.file_name();
            copy_entry(&source, &name, &copy, &name)?;
        }
        fchmod(copy.as_raw_fd(), mode)?;
        return keep_owner(to_dir, to, &stat);
    }
    if !is_type(&stat, SFlag::S_IFREG) {
        return Ok(());
    }
    let source = open_at(
        from_dir,
        from,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
        Mode::empty(),
    )?;
    let mut source = File::from(source);
    let copy = open_at(
        to_dir,
        to,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    )?;
    let mut copy = File::from(copy);
    io::copy(&mut source, &mut copy)?;
    fchmod(copy.as_raw_fd(), mode)?;
    keep_owner(to_dir, to, &stat)?;
    copy.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_copy_follows_no_link_and_keeps_modes() {
        let root = crate::plugins::trust::tests::scratch();
        let etc = root.path().join("etc/app");
        std::fs::create_dir_all(etc.join("sub")).unwrap();
        std::fs::write(etc.join("sub/key"), "secret").unwrap();
        std::fs::set_permissions(etc.join("sub/key"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::write(&elsewhere, "not to be copied").unwrap();
        std::os::unix::fs::symlink(&elsewhere, etc.join("link")).unwrap();
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        let backups = Backups::new(paths.clone(), "/var/backups/carbonio-mesh");
        let entry = paths.entry("/etc/app").unwrap();
        let saved = backups.save(&entry, "/etc/app").unwrap();
        let copy = paths.system(&saved);
        assert_eq!(
            std::fs::read_to_string(copy.join("sub/key")).unwrap(),
            "secret"
        );
        let meta = std::fs::metadata(copy.join("sub/key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_link(copy.join("link")).unwrap(), elsewhere);
        let run = copy.parent().unwrap().parent().unwrap();
        assert_eq!(
            std::fs::metadata(run).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Saved again: beside the first copy.
        let again = backups.save(&entry, "/etc/app").unwrap();
        assert_eq!(again, format!("{saved}.1"));
        // A backup is put back from inside the backup directory only, through no link.
        std::fs::write(copy.join("plain"), "x").unwrap();
        assert!(backups.open_backup(&format!("{saved}/plain")).is_ok());
        assert!(backups.open_backup(&format!("{saved}/link")).is_err());
        assert!(backups.open_backup("/etc/app/sub/key").is_err());
        assert!(backups
            .open_backup(&format!("{saved}/../../../etc/app/sub/key"))
            .is_err());
    }
}
