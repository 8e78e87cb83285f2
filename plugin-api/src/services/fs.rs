//! `fs.*`: files under `--root`, backed up before they are replaced or removed.

use serde::{Deserialize, Serialize};

use super::{Empty, Service};

/// `fs.read`: a file's content as UTF-8 text. Paths are system paths (`/etc/...`); the host puts
/// them under `--root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFile {
    pub path: String,
    /// Refuse files larger than this (default 16 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
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
    pub path: String,
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
    pub path: String,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
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
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub existed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
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
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Other,
}

/// `fs.stat`'s answer; the default is the answer for a path that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<FileType>,
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
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
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntries {
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
    pub backup: String,
    pub path: String,
}

impl Service for RestorePath {
    const NAME: &'static str = "fs.restore";
    type Answer = Empty;
}
