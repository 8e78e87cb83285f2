//! Deciding whether a plugin file may be loaded by a process that runs as root.
//!
//! The rule (ssh's StrictModes, applied to the whole path): every directory from `/` down to the
//! plugin, and the plugin file itself, must be owned by root (or by the invoking user when that is
//! not root) and must not be writable by group or others; the file must be a regular file without
//! setuid/setgid bits. Anyone who could write one of them could make root run their code.
//!
//! Every check is made on an opened handle, never on a name: each directory is opened relative
//! to its parent with `O_NOFOLLOW`, the file likewise, and the caller loads the file through
//! `/proc/self/fd/N`, so a path swapped after the check cannot be what gets loaded.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::Uid;

use crate::config::paths::is_type;

/// Who may own the directories and the plugin file.
#[derive(Debug, Clone, Copy)]
pub struct TrustPolicy {
    /// Root is always trusted; when the host does not run as root, so is the invoking user.
    invoking_uid: u32,
}

impl TrustPolicy {
    pub fn for_current_user() -> Self {
        TrustPolicy {
            invoking_uid: Uid::effective().as_raw(),
        }
    }

    fn owner_ok(&self, uid: u32) -> bool {
        uid == 0 || uid == self.invoking_uid
    }

    fn owners(&self) -> String {
        if self.invoking_uid == 0 {
            "root".to_owned()
        } else {
            format!("root or uid {}", self.invoking_uid)
        }
    }
}

/// Why a plugin file may not be loaded. Each variant names the path and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{path} is not an absolute path")]
    Relative { path: PathBuf },
    #[error("{path} is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("{path} is owned by uid {uid}, not by {expected}")]
    Owner {
        path: PathBuf,
        uid: u32,
        expected: String,
    },
    #[error("{path} is writable by {who} (mode {mode:04o})")]
    Writable {
        path: PathBuf,
        who: &'static str,
        mode: u32,
    },
    #[error("{path} is not a regular file")]
    NotRegular { path: PathBuf },
    #[error("{path} is not a directory")]
    NotDirectory { path: PathBuf },
    #[error("{path} has the setuid or setgid bit (mode {mode:04o})")]
    SetId { path: PathBuf, mode: u32 },
    #[error("{path} cannot be opened: {errno}")]
    Unreadable { path: PathBuf, errno: Errno },
}

impl Refusal {
    /// What the administrator should do about it.
    pub fn fix(&self) -> String {
        match self {
            Refusal::Relative { .. } => "give the plugin directory as an absolute path".to_owned(),
            Refusal::Symlink { path } => format!(
                "use the real path instead of the link (readlink -f {}); plugins and their directories are never reached through links",
                path.display()
            ),
            Refusal::Owner { path, .. } => format!("chown root:root {}", path.display()),
            // A sticky, world-writable directory is shared on purpose (/tmp, /var/tmp):
            // closing it would break the system, so the file has to move instead.
            Refusal::Writable { path, mode, .. } if mode & 0o1002 == 0o1002 => format!(
                "{} is a shared directory that anyone may write to: move the file into a directory only root can write (plugins: /usr/local/lib/carbonio-mesh/plugins)",
                path.display()
            ),
            Refusal::Writable { path, .. } => format!("chmod go-w {}", path.display()),
            Refusal::NotRegular { path } => format!("replace {} with a regular file", path.display()),
            Refusal::NotDirectory { path } => format!("{} must be a directory", path.display()),
            Refusal::SetId { path, .. } => format!("chmod ug-s {}", path.display()),
            Refusal::Unreadable { path, .. } => format!("check that {} exists and is readable", path.display()),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        match self {
            Refusal::Relative { path }
            | Refusal::Symlink { path }
            | Refusal::Owner { path, .. }
            | Refusal::Writable { path, .. }
            | Refusal::NotRegular { path }
            | Refusal::NotDirectory { path }
            | Refusal::SetId { path, .. }
            | Refusal::Unreadable { path, .. } => path,
        }
    }
}

/// A plugin file that passed every check, held open.
#[derive(Debug)]
pub struct TrustedFile {
    file: File,
    path: PathBuf,
}

impl TrustedFile {
    /// The path to hand to the dynamic loader: the open handle itself, not the name.
    pub fn load_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// Consumes the handle for loading and keeps the descriptor open until the process ends.
    ///
    /// glibc's `dlopen` first matches already-loaded objects *by name*: once descriptor N is
    /// closed and its number reused, `/proc/self/fd/N` would hand back the library loaded before
    /// instead of this file. Plugins are never unloaded anyway, so the descriptor lives as long.
    pub fn into_load_path(self) -> PathBuf {
        let path = self.load_path();
        std::mem::forget(self.file);
        path
    }

    /// The open file itself, to read (configuration files).
    pub fn into_file(self) -> File {
        self.file
    }

    /// The path the file was found at (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a plugin file turned out to be.
#[derive(Debug)]
pub enum Opened {
    Trusted(TrustedFile),
    /// An empty file or a link to `/dev/null`: the plugin is switched off.
    Masked,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

fn open_at(dir: Option<&OwnedFd>, name: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = openat(dir.map(|d| d.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check_owner_and_mode(policy: &TrustPolicy, path: &Path, stat: &FileStat) -> Result<(), Refusal> {
    if !policy.owner_ok(stat.st_uid) {
        return Err(Refusal::Owner {
            path: path.to_owned(),
            uid: stat.st_uid,
            expected: policy.owners(),
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o002 != 0 {
        return Err(Refusal::Writable {
            path: path.to_owned(),
            who: "everyone",
            mode,
        });
    }
    if mode & 0o020 != 0 {
        return Err(Refusal::Writable {
            path: path.to_owned(),
            who: "its group",
            mode,
        });
    }
    Ok(())
}

/// Opens `dir` component by component from `/`, checking each directory.
pub fn open_trusted_dir(policy: &TrustPolicy, dir: &Path) -> Result<OwnedFd, Refusal> {
    if !dir.is_absolute() {
        return Err(Refusal::Relative {
            path: dir.to_owned(),
        });
    }
    let mut current_path = PathBuf::from("/");
    let mut current =
        open_at(None, Path::new("/"), DIR_FLAGS).map_err(|errno| Refusal::Unreadable {
            path: current_path.clone(),
            errno,
        })?;
    check_dir(policy, &current_path, &current)?;
    for component in dir.components() {
        let name: &OsStr = match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(name) => name,
            // `..` would make the checked chain differ from the path shown to the user.
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Refusal::Relative {
                    path: dir.to_owned(),
                });
            }
        };
        current_path.push(name);
        current = match open_at(Some(&current), Path::new(name), DIR_FLAGS) {
            Ok(fd) => fd,
            Err(Errno::ELOOP) => return Err(Refusal::Symlink { path: current_path }),
            Err(Errno::ENOTDIR) => return Err(refusal_for_non_dir(&current_path)),
            Err(errno) => {
                return Err(Refusal::Unreadable {
                    path: current_path,
                    errno,
                })
            }
        };
        check_dir(policy, &current_path, &current)?;
    }
    Ok(current)
}

/// [`open_trusted_dir`], making the directories missing on the way (with `mode`, owned by the
/// user carbonio-mesh runs as, so trusted): for the directories it keeps its own files in. Each
/// is made in a directory that passed the checks, which nobody else can write to.
pub fn open_or_create_trusted_dir(
    policy: &TrustPolicy,
    dir: &Path,
    mode: u32,
) -> Result<OwnedFd, Refusal> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    for _ in 0..=dir.components().count() {
        match open_trusted_dir(policy, dir) {
            Err(Refusal::Unreadable {
                path,
                errno: Errno::ENOENT,
            }) => {
                let made = std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&path)
                    .and_then(|()| {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    });
                match made {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(Refusal::Unreadable {
                            path,
                            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                        })
                    }
                }
            }
            other => return other,
        }
    }
    open_trusted_dir(policy, dir)
}

fn refusal_for_non_dir(path: &Path) -> Refusal {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Refusal::Symlink {
            path: path.to_owned(),
        },
        _ => Refusal::NotDirectory {
            path: path.to_owned(),
        },
    }
}

fn check_dir(policy: &TrustPolicy, path: &Path, fd: &OwnedFd) -> Result<(), Refusal> {
    let stat = fstat(fd.as_raw_fd()).map_err(|errno| Refusal::Unreadable {
        path: path.to_owned(),
        errno,
    })?;
    check_owner_and_mode(policy, path, &stat)
}

/// Opens and checks the plugin file `file_name` in the already-checked directory `dir`.
pub fn open_trusted_file(
    policy: &TrustPolicy,
    dir_fd: &OwnedFd,
    dir: &Path,
    file_name: &OsStr,
) -> Result<Opened, Refusal> {
    let path = dir.join(file_name);
    let name = Path::new(file_name);
    // A mask is a link to /dev/null; look at the link itself before refusing links.
    let link = fstatat(
        Some(dir_fd.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|errno| Refusal::Unreadable {
        path: path.clone(),
        errno,
    })?;
    if is_type(&link, SFlag::S_IFLNK) {
        let target =
            readlinkat(Some(dir_fd.as_raw_fd()), name).map_err(|errno| Refusal::Unreadable {
                path: path.clone(),
                errno,
            })?;
        if target.as_bytes() == b"/dev/null" {
            // A mask switches a command off: only someone trusted may do that (a link's own
            // mode bits mean nothing, its owner does).
            if !policy.owner_ok(link.st_uid) {
                return Err(Refusal::Owner {
                    path,
                    uid: link.st_uid,
                    expected: policy.owners(),
                });
            }
            return Ok(Opened::Masked);
        }
        return Err(Refusal::Symlink { path });
    }
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = match open_at(Some(dir_fd), name, flags) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(Refusal::Symlink { path }),
        Err(errno) => return Err(Refusal::Unreadable { path, errno }),
    };
    let stat = fstat(fd.as_raw_fd()).map_err(|errno| Refusal::Unreadable {
        path: path.clone(),
        errno,
    })?;
    if !is_type(&stat, SFlag::S_IFREG) {
        return Err(Refusal::NotRegular { path });
    }
    // Checked before the empty-file mask: a mask is as powerful as the file it replaces.
    check_owner_and_mode(policy, &path, &stat)?;
    let mode = stat.st_mode & 0o7777;
    if mode & 0o6000 != 0 {
        return Err(Refusal::SetId { path, mode });
    }
    if stat.st_size == 0 {
        return Ok(Opened::Masked);
    }
    Ok(Opened::Trusted(TrustedFile {
        file: File::from(fd),
        path,
    }))
}

/// Checks the whole chain and opens the plugin file at `path`.
pub fn open_trusted(policy: &TrustPolicy, path: &Path) -> Result<Opened, Refusal> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Refusal::NotRegular {
            path: path.to_owned(),
        });
    };
    let dir_fd = open_trusted_dir(policy, dir)?;
    open_trusted_file(policy, &dir_fd, dir, name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A scratch directory whose ancestors pass the checks (`/tmp` is world-writable and would
    /// not): `CARBONIO_MESH_TEST_DIR` as chosen by scripts/test.sh, else the target directory.
    pub(crate) fn scratch() -> tempfile::TempDir {
        let base = match std::env::var_os("CARBONIO_MESH_TEST_DIR") {
            Some(dir) => PathBuf::from(dir).join("trust-tests"),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/trust-tests"),
        };
        fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(fs::canonicalize(base).unwrap()).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn write(path: &Path, mode: u32) {
        fs::write(path, b"\x7fELF not really").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn policy() -> TrustPolicy {
        TrustPolicy::for_current_user()
    }

    #[test]
    fn a_clean_file_is_trusted_and_loadable_through_its_descriptor() {
        let dir = scratch();
        let file = dir.path().join("ok.so");
        write(&file, 0o644);
        let Opened::Trusted(trusted) = open_trusted(&policy(), &file).unwrap() else {
            panic!("masked")
        };
        assert!(trusted.load_path().starts_with("/proc/self/fd/"));
        assert_eq!(
            fs::read(trusted.load_path()).unwrap(),
            fs::read(&file).unwrap()
        );
    }

    #[test]
    fn group_or_world_writable_files_and_dirs_are_refused() {
        let dir = scratch();
        let file = dir.path().join("p.so");
        write(&file, 0o664);
        assert!(matches!(
            open_trusted(&policy(), &file),
            Err(Refusal::Writable {
                who: "its group",
                ..
            })
        ));
        write(&file, 0o646);
        assert!(matches!(
            open_trusted(&policy(), &file),
            Err(Refusal::Writable {
                who: "everyone",
                ..
            })
        ));
        write(&file, 0o644);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let refusal = open_trusted(&policy(), &file).unwrap_err();
        assert_eq!(refusal.path(), dir.path());
        assert_eq!(
            refusal.fix(),
            format!("chmod go-w {}", dir.path().display())
        );
    }

    #[test]
    fn links_are_refused_except_a_mask_to_dev_null() {
        let dir = scratch();
        let real = dir.path().join("real.so");
        write(&real, 0o644);
        symlink(&real, dir.path().join("link.so")).unwrap();
        assert!(matches!(
            open_trusted(&policy(), &dir.path().join("link.so")),
            Err(Refusal::Symlink { .. })
        ));
        symlink("/dev/null", dir.path().join("masked.so")).unwrap();
        assert!(matches!(
            open_trusted(&policy(), &dir.path().join("masked.so")),
            Ok(Opened::Masked)
        ));
        fs::write(dir.path().join("empty.so"), b"").unwrap();
        assert!(matches!(
            open_trusted(&policy(), &dir.path().join("empty.so")),
            Ok(Opened::Masked)
        ));
        let linked_dir = dir.path().join("linked-dir");
        symlink(dir.path(), &linked_dir).unwrap();
        assert!(matches!(
            open_trusted(&policy(), &linked_dir.join("real.so")),
            Err(Refusal::Symlink { .. })
        ));
    }

    #[test]
    fn masks_pass_the_same_checks_as_plugins() {
        let dir = scratch();
        let empty = dir.path().join("empty.so");
        fs::write(&empty, b"").unwrap();
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            open_trusted(&policy(), &empty),
            Err(Refusal::Writable { .. })
        ));
        if Uid::effective().is_root() {
            fs::set_permissions(&empty, fs::Permissions::from_mode(0o644)).unwrap();
            nix::unistd::chown(&empty, Some(Uid::from_raw(65534)), None).unwrap();
            assert!(matches!(
                open_trusted(&policy(), &empty),
                Err(Refusal::Owner { uid: 65534, .. })
            ));
            let link = dir.path().join("link.so");
            symlink("/dev/null", &link).unwrap();
            nix::unistd::fchownat(
                None,
                &link,
                Some(Uid::from_raw(65534)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
            assert!(matches!(
                open_trusted(&policy(), &link),
                Err(Refusal::Owner { uid: 65534, .. })
            ));
        }
    }

    #[test]
    fn a_shared_temporary_directory_is_not_to_be_chmodded() {
        let refusal = Refusal::Writable {
            path: PathBuf::from("/tmp"),
            who: "everyone",
            mode: 0o1777,
        };
        assert!(!refusal.fix().contains("chmod"), "{}", refusal.fix());
        assert!(refusal.fix().contains("move"), "{}", refusal.fix());
        let refusal = Refusal::Writable {
            path: PathBuf::from("/opt/p"),
            who: "everyone",
            mode: 0o777,
        };
        assert_eq!(refusal.fix(), "chmod go-w /opt/p");
    }

    #[test]
    fn setuid_and_non_regular_files_are_refused() {
        let dir = scratch();
        let file = dir.path().join("s.so");
        write(&file, 0o4755);
        assert!(matches!(
            open_trusted(&policy(), &file),
            Err(Refusal::SetId { .. })
        ));
        fs::create_dir(dir.path().join("d.so")).unwrap();
        assert!(matches!(
            open_trusted(&policy(), &dir.path().join("d.so")),
            Err(Refusal::NotRegular { .. })
        ));
    }

    #[test]
    fn a_file_owned_by_someone_else_is_refused() {
        if !Uid::effective().is_root() {
            eprintln!("skipped: needs root to give a file away");
            return;
        }
        let dir = scratch();
        let file = dir.path().join("o.so");
        write(&file, 0o644);
        nix::unistd::chown(&file, Some(Uid::from_raw(65534)), None).unwrap();
        let refusal = open_trusted(&policy(), &file).unwrap_err();
        assert!(
            matches!(refusal, Refusal::Owner { uid: 65534, .. }),
            "{refusal}"
        );
        assert_eq!(refusal.fix(), format!("chown root:root {}", file.display()));
    }
}
