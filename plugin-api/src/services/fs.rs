//! `fs.*`: files under `--root`, backed up before they are replaced or removed.

use serde::{Deserialize, Serialize};

use super::{Empty, Service};

/// `fs.read`: a file's content as UTF-8 text. Paths are system paths (`/etc/...`); the host puts
/// them under `--root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFile {
    /// The system path.
    pub path: String,
    /// Refuse files larger than this (default 16 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// [`ReadFile`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    /// The file's content.
    pub content: String,
}

impl Service for ReadFile {
    const NAME: &'static str = "fs.read";
    type Answer = FileContent;
}

/// `fs.write`: replaces a file atomically (temporary file, fsync, rename). An existing file is
/// backed up first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFile {
    /// The system path.
    pub path: String,
    /// The new content.
    pub content: String,
    /// Permission bits, for example `0o600`.
    pub mode: u32,
    /// Owner user name (default: unchanged / the current user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `fs.write-state` (1.7): writes a file inside service-discover's state directory
/// ([`crate::mesh::STATE_DIR`]), owned by the service user (`[mesh] service_user`), the one way
/// to put a file where that user may then change it. The state directory is opened from its
/// parent, which must pass the trust rules (root's, writable by nobody else), and each directory
/// below it without following a link: a path elsewhere (the data directory main.json names is
/// the service user's to change) or through a link is refused with the fix, so root never writes
/// a file that user owns into `/etc/cron.hourly`. An existing file is backed up first; under
/// `--dry-run` the write is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStateFile {
    /// The system path, inside the state directory.
    pub path: String,
    /// The new content.
    pub content: String,
    /// Permission bits, for example `0o600`.
    pub mode: u32,
}

impl Service for WriteStateFile {
    const NAME: &'static str = "fs.write-state";
    type Answer = Changed;
}

/// What a change did: where the previous version was saved, and whether it was only planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// Where the previous version was saved (a system path), if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Only recorded (`--dry-run`).
    #[serde(default)]
    pub dry_run: bool,
}

impl Service for WriteFile {
    const NAME: &'static str = "fs.write";
    type Answer = Changed;
}

/// `fs.remove`: copies a file or directory into the run's backup directory, then removes it.
/// A path that does not exist is not an error (`existed: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovePath {
    /// The system path.
    pub path: String,
}

/// [`RemovePath`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Whether there was something to remove.
    pub existed: bool,
    /// Where it was saved (a system path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Only recorded (`--dry-run`).
    #[serde(default)]
    pub dry_run: bool,
}

impl Service for RemovePath {
    const NAME: &'static str = "fs.remove";
    type Answer = Removed;
}

/// `fs.stat`: whether a path exists and what it is, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPath {
    /// The system path.
    pub path: String,
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (a device, a socket, ...).
    Other,
}

/// `fs.stat`'s answer; the default is the answer for a path that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Whether the path exists.
    pub exists: bool,
    /// What it is, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<FileType>,
    /// Its mode bits.
    #[serde(default)]
    pub mode: u32,
    /// Its owner's uid.
    #[serde(default)]
    pub uid: u32,
    /// Its group's gid.
    #[serde(default)]
    pub gid: u32,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
}

impl Service for StatPath {
    const NAME: &'static str = "fs.stat";
    type Answer = Stat;
}

/// `fs.list`: the names in a directory, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDir {
    /// The system path of the directory.
    pub path: String,
}

/// [`ListDir`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntries {
    /// The names, sorted.
    pub names: Vec<String>,
}

impl Service for ListDir {
    const NAME: &'static str = "fs.list";
    type Answer = DirEntries;
}

/// `fs.restore` (1.3): copies a backup (a system path, as `fs.remove` answered it) back to
/// `path` with the backup's mode and owner; what is at `path` now is backed up first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePath {
    /// The backup to copy back (a system path).
    pub backup: String,
    /// Where it goes (a system path).
    pub path: String,
}

impl Service for RestorePath {
    const NAME: &'static str = "fs.restore";
    type Answer = Empty;
}
