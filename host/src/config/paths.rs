//! Every system path the host touches, in one place, under an optional `--root` prefix.
//!
//! Tests and rescue work pass `--root DIR`: `/etc/carbonio-mesh/config.toml` then means
//! `DIR/etc/carbonio-mesh/config.toml`, and plugins' file requests are confined below `DIR`.
//!
//! Confined means resolved inside `DIR` as if it were `/` (what a chroot does): an absolute
//! link in the tree (`etc/zextras -> /srv/x`) means `DIR/srv/x`, and `..` stops at `DIR`. Every
//! file the host reads, writes, removes, backs up or examines for a plugin is opened by
//! [`SystemPaths::open`] or [`SystemPaths::entry`], the one place that resolves a path:
//! `openat2(RESOLVE_IN_ROOT)` where the kernel has it (Linux 5.6), else the same walk component
//! by component, never following a link out. Without `--root` the root is `/` and resolution is
//! the ordinary one.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};

pub const VENDOR_PLUGIN_DIR: &str = "/usr/lib/carbonio-mesh/plugins";
pub const SITE_PLUGIN_DIR: &str = "/usr/local/lib/carbonio-mesh/plugins";
pub const VENDOR_CONFIG: &str = "/usr/lib/carbonio-mesh/config.toml";
pub const SITE_CONFIG: &str = "/etc/carbonio-mesh/config.toml";
pub const SITE_CONFIG_DIR: &str = "/etc/carbonio-mesh/config.d";
pub const DEFAULT_BACKUP_DIR: &str = "/var/backups/carbonio-mesh";
/// What probing each plugin found (`plugins::probe_cache`); root-only, rebuilt when missing.
pub const PROBE_CACHE: &str = "/var/cache/carbonio-mesh/probes.json";

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

    /// The root directory itself, opened.
    fn root_fd(&self) -> io::Result<OwnedFd> {
        open_fd(None, &self.root, DIR)
    }

    /// `system_path` relative to the root, checked (absolute, no `..`).
    fn relative(&self, system_path: &str) -> io::Result<PathBuf> {
        let real = self
            .resolve(system_path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(real
            .strip_prefix(&self.root)
            .map(Path::to_owned)
            .unwrap_or_default())
    }

    /// Opens `system_path` inside the root (see the module documentation) with `flags` (and
    /// `mode` when they create it). A last component that is a link is followed, inside the
    /// root, unless `flags` hold `O_NOFOLLOW`.
    pub fn open(&self, system_path: &str, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
        let relative = self.relative(system_path)?;
        in_root(&self.root_fd()?, &relative, flags | OFlag::O_CLOEXEC, mode)
    }

    /// The directory holding `system_path`'s last component, opened inside the root, and that
    /// component: what is there is looked at, replaced or removed through it, never through a
    /// path that could be swapped meanwhile. `/` itself has no entry.
    pub fn entry(&self, system_path: &str) -> io::Result<Entry> {
        let relative = self.relative(system_path)?;
        let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the root itself is not a file",
            ));
        };
        Ok(Entry {
            dir: in_root(&self.root_fd()?, parent, DIR, Mode::empty())?,
            name: name.to_owned(),
        })
    }

    /// The directory `system_path`, made inside the root with `mode` where missing (what is
    /// there already is kept), opened.
    pub fn create_dirs(&self, system_path: &str, mode: Mode) -> io::Result<OwnedFd> {
        let relative = self.relative(system_path)?;
        let root = self.root_fd()?;
        let mut made = PathBuf::new();
        for part in relative.components() {
            made.push(part);
            let parent = in_root(
                &root,
                made.parent().unwrap_or(Path::new("")),
                DIR,
                Mode::empty(),
            )?;
            match nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                made.file_name().unwrap_or_default(),
                mode,
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        in_root(&root, &relative, DIR, Mode::empty())
    }
}

/// A directory, for reading its names and working in it.
const DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_CLOEXEC);

/// A system path's last component and the directory holding it (see [`SystemPaths::entry`]).
#[derive(Debug)]
pub struct Entry {
    pub dir: OwnedFd,
    pub name: OsString,
}

impl Entry {
    /// What the entry is, without following it if it is a link; `None` when there is none.
    pub fn stat(&self) -> io::Result<Option<FileStat>> {
        match fstatat(
            Some(self.dir.as_raw_fd()),
            self.name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }

    /// Opens the entry itself with `flags` (`O_NOFOLLOW` is added: a link is never followed)
    /// and `mode` when they create it.
    pub fn open(&self, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
        open_at(&self.dir, &self.name, flags | OFlag::O_NOFOLLOW, mode)
    }

    /// `/proc/self/fd/N/NAME`: a path that reaches the entry through its held directory, for
    /// std functions that take paths (`remove_dir_all` does not follow links inside).
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd())).join(&self.name)
    }
}

/// `name` in `dir`, opened with `flags` (`O_CLOEXEC` added) and `mode` when they create it: the
/// one `openat` of the host's file work.
pub fn open_at(dir: &OwnedFd, name: &OsStr, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let fd = openat(Some(dir.as_raw_fd()), name, flags | OFlag::O_CLOEXEC, mode)?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_fd(dir: Option<&OwnedFd>, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let fd = openat(dir.map(AsRawFd::as_raw_fd), path, flags, Mode::empty())?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `stat` is of file type `kind` (`SFlag::S_IFDIR`, `S_IFLNK`, `S_IFREG`...).
pub fn is_type(stat: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == kind
}

/// `relative` opened under `root` as if `root` were `/`: the kernel's `RESOLVE_IN_ROOT`, or
/// [`walk`] where the kernel has no `openat2`.
fn in_root(root: &OwnedFd, relative: &Path, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let path: &Path = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    let creates = flags.contains(OFlag::O_CREAT);
    let how = OpenHow::new()
        .flags(flags)
        .mode(if creates { mode } else { Mode::empty() })
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(root.as_raw_fd(), path, how) {
        // SAFETY: `openat2` just returned this descriptor and nothing else owns it.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(Errno::ENOSYS) => walk(root, path, flags, mode),
        Err(errno) => Err(errno.into()),
    }
}

/// Links followed on the way before the walk gives up, as the kernel does (`ELOOP`).
const MAX_LINKS: usize = 40;

/// `RESOLVE_IN_ROOT` by hand: each component opened from the one before with `O_NOFOLLOW`; a
/// link read and its target walked instead (an absolute one from `root`), `..` never above
/// `root`.
fn walk(root: &OwnedFd, relative: &Path, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let parts = |path: &Path| -> VecDeque<OsString> {
        path.as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|part| !part.is_empty() && *part != b".")
            .map(|part| OsStr::from_bytes(part).to_owned())
            .collect()
    };
    let mut dirs = vec![root.try_clone()?];
    let mut rest = parts(relative);
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        if name == ".." {
            if dirs.len() > 1 {
                dirs.pop();
            }
            continue;
        }
        let here = dirs.last().expect("the root is never popped");
        let last = rest.is_empty();
        let (try_flags, try_mode) = if last {
            (flags | OFlag::O_NOFOLLOW, mode)
        } else {
            (DIR | OFlag::O_NOFOLLOW, Mode::empty())
        };
        match openat(
            Some(here.as_raw_fd()),
            name.as_os_str(),
            try_flags,
            try_mode,
        ) {
            // SAFETY: `openat` just returned this descriptor and nothing else owns it.
            Ok(fd) if last => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            // SAFETY: as above.
            Ok(fd) => dirs.push(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(errno @ (Errno::ELOOP | Errno::ENOTDIR)) => {
                if last && flags.contains(OFlag::O_NOFOLLOW) {
                    return Err(errno.into());
                }
                let Ok(target) = readlinkat(Some(here.as_raw_fd()), name.as_os_str()) else {
                    return Err(errno.into());
                };
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = Path::new(&target);
                if target.is_absolute() {
                    dirs.truncate(1);
                }
                let mut spliced = parts(target);
                spliced.extend(rest);
                rest = spliced;
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    // The path named a directory already walked (the root, or a link to a directory).
    let here = dirs.last().expect("the root is never popped");
    open_at(here, OsStr::new("."), flags, mode)
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

    /// A tree with links of every kind: `abs -> /inside` (absolute: the tree's own /inside),
    /// `rel -> ../inside`, `up -> ../../..`, `loop -> loop`, and the tree's parent holding
    /// `outside/file`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("inside")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("inside/file"), "in").unwrap();
        std::fs::write(dir.path().join("outside/file"), "out").unwrap();
        let outside = dir.path().join("outside");
        std::os::unix::fs::symlink("/inside", root.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("../inside", root.join("etc/rel")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("etc/up")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("etc/out")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("etc/loop")).unwrap();
        (dir, root)
    }

    fn read(fd: OwnedFd) -> String {
        std::io::read_to_string(std::fs::File::from(fd)).unwrap()
    }

    /// Issue 24, item 5: `--root DIR` followed absolute links inside the tree out of it. Both
    /// ways of resolving (the kernel's and the walk) keep every path inside.
    #[test]
    fn links_inside_the_root_never_lead_out_of_it() {
        let (_dir, root) = tree();
        let root_fd = open_fd(None, &root, DIR).unwrap();
        type Resolver = fn(&OwnedFd, &Path, OFlag, Mode) -> io::Result<OwnedFd>;
        let resolvers: [Resolver; 2] = [in_root, walk];
        for resolve in resolvers {
            let open =
                |path: &str| resolve(&root_fd, Path::new(path), OFlag::O_RDONLY, Mode::empty());
            for path in [
                "inside/file",
                "etc/abs/file",
                "etc/rel/file",
                "etc/up/inside/file",
            ] {
                assert_eq!(read(open(path).unwrap()), "in", "{path}");
            }
            // The absolute link to the real outside directory means the tree's own path, which
            // does not exist.
            assert_eq!(
                open("etc/out/file").unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                open("etc/loop").unwrap_err().raw_os_error(),
                Some(nix::libc::ELOOP)
            );
            assert!(resolve(
                &root_fd,
                Path::new("etc/abs"),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_PATH,
                Mode::empty()
            )
            .is_ok());
        }
        let paths = SystemPaths::new(Some(root.clone()));
        assert_eq!(
            read(
                paths
                    .open("/etc/abs/file", OFlag::O_RDONLY, Mode::empty())
                    .unwrap()
            ),
            "in"
        );
        let entry = paths.entry("/etc/abs/file").unwrap();
        assert!(entry.stat().unwrap().is_some());
        assert!(paths.entry("/etc/out/file").is_err());
        let made = paths
            .create_dirs("/etc/abs/new/deeper", Mode::from_bits_truncate(0o755))
            .unwrap();
        drop(made);
        assert!(root.join("inside/new/deeper").is_dir());
    }

    #[test]
    fn escaping_the_root_is_refused() {
        let paths = SystemPaths::new(Some(PathBuf::from("/tmp/r")));
        assert!(paths.resolve("/etc/../../x").is_err());
        assert!(paths.resolve("etc/x").is_err());
    }
}
