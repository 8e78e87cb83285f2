//! The `fs.*` services: file work under `--root`, with a backup before anything is replaced or
//! removed (`backups`), and recording instead of doing under `--dry-run`.
//!
//! Every path is resolved inside the root (`crate::paths`: an absolute link in the tree means the
//! tree's own path), and what is replaced, removed or examined is reached through the directory
//! that holds it, opened once: the last component is never followed when it is a link, and a
//! path swapped meanwhile cannot redirect the change.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use carbonio_mesh_plugin_api::services::{
    BackupPath, Changed, DirEntries, Empty, FileContent, FileType, ListDir, ReadFile, RemovePath,
    Removed, RestorePath, ServiceErrorKind, ServiceFailure, Stat, StatPath, WriteFile,
};
use nix::fcntl::{renameat, OFlag};
use nix::sys::stat::{fchmod, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::{failure, io_failure, HostContext};
use crate::config::paths::{is_type, Entry};

const DEFAULT_READ_LIMIT: u64 = 16 * 1024 * 1024;

/// Whether an I/O error says the path is not there (a missing directory on the way too).
fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::ENOENT) | Some(nix::libc::ENOTDIR)
    )
}

pub(super) fn read(
    context: &HostContext,
    request: ReadFile,
) -> Result<FileContent, ServiceFailure> {
    context.resolve(&request.path)?;
    let limit = request.max_bytes.unwrap_or(DEFAULT_READ_LIMIT);
    let file = context
        .paths
        .open(
            &request.path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| io_failure("read", &request.path, e))?;
    let mut bytes = Vec::new();
    File::from(file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_failure("read", &request.path, e))?;
    if bytes.len() as u64 > limit {
        return Err(failure(
            ServiceErrorKind::Failed,
            format!("{} is larger than {limit} bytes", request.path),
        ));
    }
    let content = String::from_utf8(bytes).map_err(|_| {
        failure(
            ServiceErrorKind::Failed,
            format!("{} is not UTF-8 text", request.path),
        )
    })?;
    Ok(FileContent { content })
}

/// The entry of `system_path` (the directory holding it, opened inside the root).
fn entry_of(
    context: &HostContext,
    action: &str,
    system_path: &str,
) -> Result<Entry, ServiceFailure> {
    context.resolve(system_path)?;
    context
        .paths
        .entry(system_path)
        .map_err(|e| io_failure(action, system_path, e))
}

/// The entry of `system_path` and what is there, or `None` when nothing is (the path or a
/// directory on the way missing): what removing or backing up a path starts from.
fn existing_entry(
    context: &HostContext,
    action: &str,
    system_path: &str,
) -> Result<Option<(Entry, FileStat)>, ServiceFailure> {
    context.resolve(system_path)?;
    let entry = match context.paths.entry(system_path) {
        Ok(entry) => entry,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(io_failure(action, system_path, e)),
    };
    let stat = entry
        .stat()
        .map_err(|e| io_failure(action, system_path, e))?;
    Ok(stat.map(|stat| (entry, stat)))
}

/// The answer of a removal or backup that found nothing at the path.
fn nothing_there(dry_run: bool) -> Removed {
    Removed {
        existed: false,
        backup: None,
        dry_run,
    }
}

/// The uid and gid of user `name`, for a file given to them.
pub(super) fn user_ids(name: &str) -> Result<(u32, u32), ServiceFailure> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
        .ok_or_else(|| {
            failure(
                ServiceErrorKind::NotFound,
                format!("there is no user '{name}' on this system"),
            )
        })
}

pub(super) fn write(context: &HostContext, request: WriteFile) -> Result<Changed, ServiceFailure> {
    context.resolve(&request.path)?;
    if context.dry_run {
        let backup = context
            .exists(&request.path)
            .then(|| context.backups.target(&request.path));
        let note = backup
            .as_ref()
            .map(|b| format!(", after backing up to {b}"))
            .unwrap_or_default();
        context.record(format!(
            "write {} (mode {:04o}){note}",
            request.path, request.mode
        ));
        return Ok(Changed {
            backup,
            dry_run: true,
        });
    }
    let owner = request.owner.as_deref().map(user_ids).transpose()?;
    let backup = replace_file(
        context,
        &request.path,
        request.content.as_bytes(),
        request.mode,
        owner,
    )?;
    tracing::info!(plugin = %context.plugin, "wrote {}", request.path);
    Ok(Changed {
        backup,
        dry_run: false,
    })
}

/// Replaces (or creates) the file at `system_path` with `content` (see [`replace_in`]).
pub(super) fn replace_file(
    context: &HostContext,
    system_path: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Option<String>, ServiceFailure> {
    let entry = entry_of(context, "write", system_path)?;
    replace_in(context, &entry, system_path, content, mode, owner)
}

/// Replaces (or creates) `entry` (`system_path`) with `content`: what is there is backed up
/// first (a link as a link), the new file is written to a temporary file beside it with its
/// final mode and owner, fsynced, renamed over it (a link is replaced, never followed), and the
/// directory fsynced. Returns the backup's path.
pub(super) fn replace_in(
    context: &HostContext,
    entry: &Entry,
    system_path: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Option<String>, ServiceFailure> {
    let exists = entry
        .stat()
        .map_err(|e| io_failure("examine", system_path, e))?
        .is_some();
    let backup = if exists {
        Some(context.backups.save(entry, system_path)?)
    } else {
        None
    };
    let temporary: OsString = format!(
        ".{}.carbonio-mesh-{}",
        entry.name.to_string_lossy(),
        std::process::id()
    )
    .into();
    let dir = entry.dir.as_raw_fd();
    let result = (|| -> std::io::Result<()> {
        let beside = Entry {
            dir: entry.dir.try_clone()?,
            name: temporary.clone(),
        };
        let mut file = File::from(beside.open(
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(mode & 0o7777),
        )?);
        file.write_all(content)?;
        // The mode given to open() is filtered by the umask; set it exactly.
        fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.sync_all()?;
        renameat(
            Some(dir),
            temporary.as_os_str(),
            Some(dir),
            entry.name.as_os_str(),
        )?;
        File::from(entry.dir.try_clone()?).sync_all()
    })();
    if let Err(error) = result {
        let _ = unlinkat(Some(dir), temporary.as_os_str(), UnlinkatFlags::NoRemoveDir);
        return Err(io_failure("write", system_path, error));
    }
    Ok(backup)
}

/// `fs.restore`: the backup's bytes, mode and owner back at `path` (what is there now is
/// backed up first, like any replacement). The backup is taken only from inside the trusted
/// backup directory, through no link.
pub(super) fn restore(
    context: &HostContext,
    request: RestorePath,
) -> Result<Empty, ServiceFailure> {
    context.resolve(&request.backup)?;
    context.resolve(&request.path)?;
    if context.dry_run {
        context.record(format!("restore {} from {}", request.path, request.backup));
        return Ok(Empty {});
    }
    let (mut file, stat) = context.backups.open_backup(&request.backup)?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|e| io_failure("read the backup", &request.backup, e))?;
    replace_file(
        context,
        &request.path,
        &content,
        stat.st_mode & 0o7777,
        Some((stat.st_uid, stat.st_gid)),
    )?;
    tracing::info!(plugin = %context.plugin, "restored {} from {}", request.path, request.backup);
    Ok(Empty {})
}

pub(super) fn remove(
    context: &HostContext,
    request: RemovePath,
) -> Result<Removed, ServiceFailure> {
    let Some((entry, stat)) = existing_entry(context, "remove", &request.path)? else {
        return Ok(nothing_there(context.dry_run));
    };
    if context.dry_run {
        let backup = context.backups.target(&request.path);
        context.record(format!(
            "remove {}, after backing up to {backup}",
            request.path
        ));
        return Ok(Removed {
            existed: true,
            backup: Some(backup),
            dry_run: true,
        });
    }
    let backup = context.backups.save(&entry, &request.path)?;
    let is_dir = is_type(&stat, SFlag::S_IFDIR);
    let removed = if is_dir {
        // Through the held directory; std's removal follows no link inside the tree.
        std::fs::remove_dir_all(entry.proc_path())
    } else {
        unlinkat(
            Some(entry.dir.as_raw_fd()),
            entry.name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        )
        .map_err(std::io::Error::from)
    };
    removed.map_err(|e| io_failure("remove", &request.path, e))?;
    tracing::info!(plugin = %context.plugin, "removed {} (backup: {backup})", request.path);
    Ok(Removed {
        existed: true,
        backup: Some(backup),
        dry_run: false,
    })
}

/// `fs.backup`: a copy into the run's backup directory; the file stays as it is.
pub(super) fn backup(
    context: &HostContext,
    request: BackupPath,
) -> Result<Removed, ServiceFailure> {
    let Some((entry, _)) = existing_entry(context, "back up", &request.path)? else {
        return Ok(nothing_there(context.dry_run));
    };
    if context.dry_run {
        let backup = context.backups.target(&request.path);
        context.record(format!("back up {} to {backup}", request.path));
        return Ok(Removed {
            existed: true,
            backup: Some(backup),
            dry_run: true,
        });
    }
    let backup = context.backups.save(&entry, &request.path)?;
    tracing::info!(plugin = %context.plugin, "backed up {} to {backup}", request.path);
    Ok(Removed {
        existed: true,
        backup: Some(backup),
        dry_run: false,
    })
}

pub(super) fn stat(context: &HostContext, request: StatPath) -> Result<Stat, ServiceFailure> {
    context.resolve(&request.path)?;
    let found = match context.paths.entry(&request.path) {
        Ok(entry) => entry.stat(),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| io_failure("examine", &request.path, e))?;
    let Some(meta) = found else {
        return Ok(Stat::default());
    };
    let file_type = match SFlag::from_bits_truncate(meta.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFLNK => FileType::Symlink,
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFREG => FileType::File,
        _ => FileType::Other,
    };
    Ok(Stat {
        exists: true,
        file_type: Some(file_type),
        mode: meta.st_mode & 0o7777,
        uid: meta.st_uid,
        gid: meta.st_gid,
        size: meta.st_size as u64,
    })
}

pub(super) fn list(context: &HostContext, request: ListDir) -> Result<DirEntries, ServiceFailure> {
    context.resolve(&request.path)?;
    let listing = |e| io_failure("list", &request.path, e);
    let dir = context
        .paths
        .open(
            &request.path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .map_err(listing)?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_err(listing)? {
        let entry = entry.map_err(listing)?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(DirEntries { names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    fn context(root: &Path, dry_run: bool) -> HostContext {
        HostContext::new(
            "test",
            SystemPaths::new(Some(root.to_owned())),
            Config::default(),
            dry_run,
            test_consul(),
        )
    }

    fn write_request(path: &str, content: &str) -> WriteFile {
        WriteFile {
            path: path.into(),
            content: content.into(),
            mode: 0o600,
            owner: None,
        }
    }

    #[test]
    fn write_is_confined_to_the_root_and_sets_the_mode() {
        let root = crate::plugins::trust::tests::scratch();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        let context = context(root.path(), false);
        let changed = write(&context, write_request("/etc/a.json", "{}")).unwrap();
        assert_eq!(changed.backup, None);
        let real = root.path().join("etc/a.json");
        assert_eq!(fs::read_to_string(&real).unwrap(), "{}");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o600);
        let error = write(&context, write_request("/etc/../../escape", "x")).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Invalid);
    }

    #[test]
    fn replacing_or_removing_backs_up_first() {
        let root = crate::plugins::trust::tests::scratch();
        let dir = root.path().join("var/lib/service-discover");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ca.pem"), "old cert").unwrap();
        fs::set_permissions(dir.join("ca.pem"), fs::Permissions::from_mode(0o640)).unwrap();
        let context = context(root.path(), false);

        let changed = write(
            &context,
            write_request("/var/lib/service-discover/ca.pem", "new cert"),
        )
        .unwrap();
        let backup = context.paths.system(changed.backup.as_deref().unwrap());
        assert_eq!(fs::read_to_string(&backup).unwrap(), "old cert");
        assert_eq!(fs::metadata(&backup).unwrap().mode() & 0o777, 0o640);

        let removed = remove(
            &context,
            RemovePath {
                path: "/var/lib/service-discover".into(),
            },
        )
        .unwrap();
        assert!(removed.existed && !dir.exists());
        let saved = context.paths.system(removed.backup.as_deref().unwrap());
        assert_eq!(
            fs::read_to_string(saved.join("ca.pem")).unwrap(),
            "new cert"
        );
        assert!(saved.starts_with(root.path().join("var/backups/carbonio-mesh")));

        let again = remove(
            &context,
            RemovePath {
                path: "/var/lib/service-discover".into(),
            },
        )
        .unwrap();
        assert!(!again.existed);
    }

    #[test]
    fn dry_run_changes_nothing_and_records_the_plan() {
        let root = crate::plugins::trust::tests::scratch();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/main.json"), "keep").unwrap();
        let context = context(root.path(), true);
        assert!(
            write(&context, write_request("/etc/main.json", "new"))
                .unwrap()
                .dry_run
        );
        assert!(
            remove(
                &context,
                RemovePath {
                    path: "/etc/main.json".into()
                }
            )
            .unwrap()
            .dry_run
        );
        assert_eq!(
            fs::read_to_string(root.path().join("etc/main.json")).unwrap(),
            "keep"
        );
        assert!(
            !root.path().join("var").exists(),
            "no backup directory is made in a dry run"
        );
        let plan = context.take_plan();
        assert_eq!(plan.len(), 2);
        assert!(plan[0].starts_with(
            "write /etc/main.json (mode 0600), after backing up to /var/backups/carbonio-mesh/"
        ));
        assert!(plan[1].starts_with("remove /etc/main.json, after backing up to "));
    }

    #[test]
    fn read_stat_and_list() {
        let root = crate::plugins::trust::tests::scratch();
        fs::create_dir_all(root.path().join("d")).unwrap();
        fs::write(root.path().join("d/b"), "bee").unwrap();
        fs::write(root.path().join("d/a"), "a").unwrap();
        let context = context(root.path(), false);
        assert_eq!(
            read(
                &context,
                ReadFile {
                    path: "/d/b".into(),
                    max_bytes: None
                }
            )
            .unwrap()
            .content,
            "bee"
        );
        let too_big = read(
            &context,
            ReadFile {
                path: "/d/b".into(),
                max_bytes: Some(2),
            },
        )
        .unwrap_err();
        assert!(too_big.message.contains("larger than 2 bytes"));
        assert_eq!(
            read(
                &context,
                ReadFile {
                    path: "/d/zz".into(),
                    max_bytes: None
                }
            )
            .unwrap_err()
            .kind,
            ServiceErrorKind::NotFound
        );
        assert_eq!(
            list(&context, ListDir { path: "/d".into() }).unwrap().names,
            ["a", "b"]
        );
        let stat_b = stat(
            &context,
            StatPath {
                path: "/d/b".into(),
            },
        )
        .unwrap();
        assert_eq!(
            (stat_b.exists, stat_b.file_type, stat_b.size),
            (true, Some(FileType::File), 3)
        );
        assert!(
            !stat(
                &context,
                StatPath {
                    path: "/d/none".into()
                }
            )
            .unwrap()
            .exists
        );
    }
}
