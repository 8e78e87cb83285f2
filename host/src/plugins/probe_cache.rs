//! What probing a plugin file found, kept between runs, so that `--help`, `plugins list|check`
//! and `generate` pay for a plugin's child process once per file instead of every time.
//!
//! A result is kept per plugin file identity (device, inode, size, modification and change
//! times, read from the descriptor the trust checks opened) and used only while the file is
//! that same file: replacing it (a new inode), rewriting it, or changing its mode or owner
//! (its change time) makes it probed again. The whole cache also belongs to one host binary
//! and one user: another build of carbonio-mesh, whose loader may judge a plugin differently,
//! starts afresh. The trust checks themselves are never kept: they run on every listing.
//!
//! The cache is configuration-like (what it says is shown as a plugin's manifest), so it is read
//! and written only where the trust rules allow: `/var/cache/carbonio-mesh/probes.json` under
//! `--root`, in a directory made 0700 when missing (its parent must exist), every directory
//! from `/` owned by root (or the invoking user) and writable by no one else. A cache that is
//! untrusted, unreadable, too big or not understood is ignored (and, in a trusted directory,
//! replaced); a directory that is untrusted is never written to.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fstat, mkdirat, FileStat, Mode};
use serde::{Deserialize, Serialize};

use crate::config::paths::{SystemPaths, PROBE_CACHE};
use crate::plugins::probe::Probed;
use crate::plugins::trust::{self, Opened, TrustPolicy};

/// A cache larger than this is not read (ten plugins' manifests take about 60 kB).
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Which file a result belongs to: what changes whenever the file is replaced or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    pub fn of(stat: &FileStat) -> Self {
        FileIdentity {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: stat.st_size,
            mtime: (stat.st_mtime, stat.st_mtime_nsec),
            ctime: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }

    /// The identity of the file open as `fd`.
    pub fn of_fd(fd: &impl AsRawFd) -> Option<Self> {
        fstat(fd.as_raw_fd()).ok().map(|stat| Self::of(&stat))
    }
}

/// Whose results these are: the host binary that judged the plugins, and the user it ran as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    host: FileIdentity,
    uid: u32,
}

impl Owner {
    fn current() -> Option<Self> {
        let exe = std::fs::File::open("/proc/self/exe").ok()?;
        Some(Owner {
            host: FileIdentity::of_fd(&exe)?,
            uid: nix::unistd::Uid::effective().as_raw(),
        })
    }
}

/// One plugin file's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Kept {
    name: String,
    file: FileIdentity,
    probed: Probed,
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    owner: Option<Owner>,
    /// By plugin file path.
    plugins: BTreeMap<PathBuf, Kept>,
}

/// The probe results of earlier runs, and the ones this run adds.
pub struct ProbeCache {
    /// The real path of `probes.json` (under `--root`).
    path: PathBuf,
    policy: TrustPolicy,
    owner: Option<Owner>,
    kept: BTreeMap<PathBuf, Kept>,
    changed: bool,
}

impl ProbeCache {
    /// The cache under `paths`' root, read if it is there, trusted and this host's; else empty.
    pub fn open(paths: &SystemPaths, policy: &TrustPolicy) -> Self {
        let path = paths.system(PROBE_CACHE);
        let owner = Owner::current();
        let kept = match read(&path, policy) {
            Ok(stored) if stored.owner.is_some() && stored.owner == owner => stored.plugins,
            Ok(_) => BTreeMap::new(),
            Err(why) => {
                tracing::debug!("probe cache {} not used: {why}", path.display());
                BTreeMap::new()
            }
        };
        ProbeCache {
            path,
            policy: *policy,
            owner,
            kept,
            changed: false,
        }
    }

    /// What probing `path` (plugin `name`) found, if that was this same file.
    pub fn get(&self, name: &str, path: &Path, file: FileIdentity) -> Option<Probed> {
        self.kept
            .get(path)
            .filter(|kept| kept.name == name && kept.file == file)
            .map(|kept| kept.probed.clone())
    }

    /// Keeps what probing `path` found, for the file as it was before the probe.
    pub fn put(&mut self, name: &str, path: &Path, file: FileIdentity, probed: Probed) {
        let kept = Kept {
            name: name.to_owned(),
            file,
            probed,
        };
        if self.kept.get(path) != Some(&kept) {
            self.kept.insert(path.to_owned(), kept);
            self.changed = true;
        }
    }

    /// Writes the cache when this run changed it; a failure only costs the next run its probes.
    pub fn save(mut self) {
        // Results for files that are gone would only grow the file.
        let before = self.kept.len();
        self.kept.retain(|path, _| path.exists());
        if !self.changed && self.kept.len() == before {
            return;
        }
        let Some(owner) = self.owner else { return };
        let stored = Stored {
            owner: Some(owner),
            plugins: std::mem::take(&mut self.kept),
        };
        if let Err(why) = write(&self.path, &self.policy, &stored) {
            tracing::debug!("probe cache {} not written: {why}", self.path.display());
        }
    }
}

/// The cache file, if it is trusted and understood.
fn read(path: &Path, policy: &TrustPolicy) -> Result<Stored, String> {
    let file = match trust::open_trusted(policy, path) {
        Ok(Opened::Trusted(file)) => file.into_file(),
        Ok(Opened::Masked) => return Ok(Stored::default()),
        Err(refusal) => return Err(refusal.to_string()),
    };
    let mut text = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    serde_json::from_slice(&text).map_err(|e| e.to_string())
}

/// Writes `stored` as the cache file: a new file beside it (0600), renamed over it, all through
/// the checked directory's descriptor. The directory is made (0700) when missing.
fn write(path: &Path, policy: &TrustPolicy, stored: &Stored) -> Result<(), String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err("no directory".to_owned());
    };
    let dir_fd = trusted_dir(dir, policy)?;
    let temp = format!(".probes.{}.tmp", std::process::id());
    let fd = openat(
        Some(dir_fd.as_raw_fd()),
        temp.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| format!("cannot create {temp}: {e}"))?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let written = serde_json::to_vec(stored)
        .map_err(|e| e.to_string())
        .and_then(|json| file.write_all(&json).map_err(|e| e.to_string()))
        .and_then(|()| {
            renameat(
                Some(dir_fd.as_raw_fd()),
                temp.as_str(),
                Some(dir_fd.as_raw_fd()),
                name,
            )
            .map_err(|e| e.to_string())
        });
    if written.is_err() {
        let _ = nix::unistd::unlinkat(
            Some(dir_fd.as_raw_fd()),
            temp.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }
    written
}

/// The cache directory, checked from `/`, made 0700 in its (checked) parent when missing.
fn trusted_dir(dir: &Path, policy: &TrustPolicy) -> Result<OwnedFd, String> {
    match trust::open_trusted_dir(policy, dir) {
        Ok(fd) => return Ok(fd),
        Err(trust::Refusal::Unreadable {
            errno: Errno::ENOENT,
            ..
        }) => {}
        Err(refusal) => return Err(refusal.to_string()),
    }
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err("no parent directory".to_owned());
    };
    let parent_fd = trust::open_trusted_dir(policy, parent).map_err(|r| r.to_string())?;
    match mkdirat(
        Some(parent_fd.as_raw_fd()),
        name,
        Mode::from_bits_truncate(0o700),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    trust::open_trusted_dir(policy, dir).map_err(|r| r.to_string())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A scratch `--root` with `/var/cache` (whose `carbonio-mesh` the cache makes), and a file
    /// standing for a plugin.
    fn root() -> (tempfile::TempDir, SystemPaths, PathBuf) {
        let root = crate::plugins::trust::tests::scratch();
        for dir in ["var", "var/cache"] {
            fs::create_dir(root.path().join(dir)).unwrap();
            fs::set_permissions(root.path().join(dir), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let plugin = root.path().join("x.so");
        fs::write(&plugin, "a plugin").unwrap();
        let paths = SystemPaths::new(Some(root.path().to_owned()));
        (root, paths, plugin)
    }

    fn identity(path: &Path) -> FileIdentity {
        FileIdentity::of_fd(&fs::File::open(path).unwrap()).unwrap()
    }

    fn refused(why: &str) -> Probed {
        Probed::Refused {
            status: why.to_owned(),
            fix: "f".to_owned(),
        }
    }

    fn policy() -> TrustPolicy {
        TrustPolicy::for_current_user()
    }

    #[test]
    fn a_result_is_used_for_the_same_file_and_name_only() {
        let (_root, paths, plugin) = root();
        let mut cache = ProbeCache::open(&paths, &policy());
        cache.put("x", &plugin, identity(&plugin), refused("crashed"));
        cache.save();
        let dir = paths.system("/var/cache/carbonio-mesh");
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let cache = ProbeCache::open(&paths, &policy());
        assert_eq!(
            cache.get("x", &plugin, identity(&plugin)),
            Some(refused("crashed"))
        );
        assert_eq!(cache.get("y", &plugin, identity(&plugin)), None);
        // Rewritten in place (size and times change) or replaced (another inode): probed again.
        fs::write(&plugin, "another plugin").unwrap();
        assert_eq!(cache.get("x", &plugin, identity(&plugin)), None);
        let mode_changed = identity(&plugin);
        fs::set_permissions(&plugin, fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(identity(&plugin), mode_changed, "a chmod changes the ctime");
    }

    #[test]
    fn another_host_binary_or_user_starts_afresh() {
        let (_root, paths, plugin) = root();
        let mut stored = Stored {
            owner: Owner::current(),
            plugins: BTreeMap::new(),
        };
        stored.plugins.insert(
            plugin.clone(),
            Kept {
                name: "x".to_owned(),
                file: identity(&plugin),
                probed: refused("kept"),
            },
        );
        let path = paths.system(PROBE_CACHE);
        stored.owner.as_mut().unwrap().uid += 1;
        write(&path, &policy(), &stored).unwrap();
        let cache = ProbeCache::open(&paths, &policy());
        assert_eq!(cache.get("x", &plugin, identity(&plugin)), None);
        stored.owner = Owner::current();
        stored.owner.as_mut().unwrap().host.ino += 1;
        write(&path, &policy(), &stored).unwrap();
        let cache = ProbeCache::open(&paths, &policy());
        assert_eq!(cache.get("x", &plugin, identity(&plugin)), None);
        stored.owner = Owner::current();
        write(&path, &policy(), &stored).unwrap();
        let cache = ProbeCache::open(&paths, &policy());
        assert_eq!(
            cache.get("x", &plugin, identity(&plugin)),
            Some(refused("kept"))
        );
    }

    #[test]
    fn a_corrupt_or_untrusted_cache_is_ignored_and_replaced() {
        let (_root, paths, plugin) = root();
        let mut cache = ProbeCache::open(&paths, &policy());
        cache.put("x", &plugin, identity(&plugin), refused("kept"));
        cache.save();
        let path = paths.system(PROBE_CACHE);
        for spoil in ["corrupt", "group-writable"] {
            match spoil {
                "corrupt" => fs::write(&path, b"{\"owner\": 3").unwrap(),
                _ => fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap(),
            }
            let mut cache = ProbeCache::open(&paths, &policy());
            assert_eq!(cache.get("x", &plugin, identity(&plugin)), None, "{spoil}");
            cache.put("x", &plugin, identity(&plugin), refused("again"));
            cache.save();
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let cache = ProbeCache::open(&paths, &policy());
            assert_eq!(
                cache.get("x", &plugin, identity(&plugin)),
                Some(refused("again")),
                "{spoil}"
            );
        }
    }

    #[test]
    fn an_untrusted_directory_is_never_written() {
        let (_root, paths, plugin) = root();
        let dir = paths.system("/var/cache/carbonio-mesh");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let mut cache = ProbeCache::open(&paths, &policy());
        cache.put("x", &plugin, identity(&plugin), refused("kept"));
        cache.save();
        assert!(!paths.system(PROBE_CACHE).exists());
        // Nor is a missing parent made: the cache lives where the system has /var/cache.
        let (root, paths, plugin) = super::tests::root();
        fs::remove_dir(root.path().join("var/cache")).unwrap();
        let mut cache = ProbeCache::open(&paths, &policy());
        cache.put("x", &plugin, identity(&plugin), refused("kept"));
        cache.save();
        assert!(!root.path().join("var/cache").exists());
    }

    #[test]
    fn results_for_files_that_are_gone_are_dropped() {
        let (_root, paths, plugin) = root();
        let mut cache = ProbeCache::open(&paths, &policy());
        cache.put("x", &plugin, identity(&plugin), refused("kept"));
        cache.put(
            "gone",
            Path::new("/nonexistent/gone.so"),
            identity(&plugin),
            Probed::Masked,
        );
        cache.save();
        let cache = ProbeCache::open(&paths, &policy());
        assert_eq!(cache.kept.len(), 1);
    }
}
