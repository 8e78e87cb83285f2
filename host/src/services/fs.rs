//! The `fs.*` services: file work under `--root`, with a backup before anything is replaced or
//! removed, and recording instead of doing under `--dry-run`.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

use carbonio_mesh_plugin_api::services::{
    Changed, DirEntries, Empty, FileContent, FileType, ListDir, ReadFile, RemovePath, Removed,
    RestorePath, ServiceErrorKind, ServiceFailure, Stat, StatPath, WriteFile,
};

use super::{failure, io_failure, HostContext};

const DEFAULT_READ_LIMIT: u64 = 16 * 1024 * 1024;

pub(super) fn read(
    context: &HostContext,
    request: ReadFile,
) -> Result<FileContent, ServiceFailure> {
    let real = context.resolve(&request.path)?;
    let limit = request.max_bytes.unwrap_or(DEFAULT_READ_LIMIT);
    let file = fs::File::open(&real).map_err(|e| io_failure("read", &request.path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
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

pub(super) fn write(context: &HostContext, request: WriteFile) -> Result<Changed, ServiceFailure> {
    let real = context.resolve(&request.path)?;
    let exists = fs::symlink_metadata(&real).is_ok();
    if context.dry_run {
        let backup = exists.then(|| context.backups.target(&request.path));
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
    let owner = match &request.owner {
        Some(name) => Some(
            nix::unistd::User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    failure(
                        ServiceErrorKind::NotFound,
                        format!("there is no user '{name}' on this system"),
                    )
                })?,
        ),
        None => None,
    };
    let backup = replace_file(
        context,
        &request.path,
        request.content.as_bytes(),
        request.mode,
        owner.map(|u| (u.uid.as_raw(), u.gid.as_raw())),
    )?;
    tracing::info!(plugin = %context.plugin, "wrote {}", request.path);
    Ok(Changed {
        backup,
        dry_run: false,
    })
}

/// Replaces (or creates) the file at `system_path` with `content`: the old file is backed up
/// first, the new one is written to a temporary file beside it with its final mode and owner,
/// fsynced, renamed over the old one, and the directory fsynced. Returns the backup's path.
pub(super) fn replace_file(
    context: &HostContext,
    system_path: &str,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<Option<String>, ServiceFailure> {
    let real = context.resolve(system_path)?;
    let backup = if fs::symlink_metadata(&real).is_ok() {
        Some(context.backups.save(system_path)?)
    } else {
        None
    };
    let parent = real
        .parent()
        .ok_or_else(|| failure(ServiceErrorKind::Invalid, "cannot write the root itself"))?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{name}.carbonio-mesh-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o7777)
            .open(&temporary)?;
        file.write_all(content)?;
        // The mode given to open() is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.sync_all()?;
        fs::rename(&temporary, &real)?;
        fs::File::open(parent)?.sync_all()
    })();
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(io_failure("write", system_path, error));
    }
    Ok(backup)
}

/// `fs.restore`: the backup's bytes, mode and owner back at `path` (what is there now is
/// backed up first, like any replacement).
pub(super) fn restore(
    context: &HostContext,
    request: RestorePath,
) -> Result<Empty, ServiceFailure> {
    let backup = context.resolve(&request.backup)?;
    if context.dry_run {
        context.record(format!("restore {} from {}", request.path, request.backup));
        return Ok(Empty {});
    }
    let meta = fs::symlink_metadata(&backup)
        .map_err(|e| io_failure("read the backup", &request.backup, e))?;
    if !meta.is_file() {
        return Err(failure(
            ServiceErrorKind::Invalid,
            format!(
                "{} is not a regular file: only files are restored",
                request.backup
            ),
        ));
    }
    let content =
        fs::read(&backup).map_err(|e| io_failure("read the backup", &request.backup, e))?;
    replace_file(
        context,
        &request.path,
        &content,
        meta.mode() & 0o7777,
        Some((meta.uid(), meta.gid())),
    )?;
    tracing::info!(plugin = %context.plugin, "restored {} from {}", request.path, request.backup);
    Ok(Empty {})
}

pub(super) fn remove(
    context: &HostContext,
    request: RemovePath,
) -> Result<Removed, ServiceFailure> {
    let real = context.resolve(&request.path)?;
    let Ok(meta) = fs::symlink_metadata(&real) else {
        return Ok(Removed {
            existed: false,
            backup: None,
            dry_run: context.dry_run,
        });
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
    let backup = context.backups.save(&request.path)?;
    let removed = if meta.is_dir() {
        fs::remove_dir_all(&real)
    } else {
        fs::remove_file(&real)
    };
    removed.map_err(|e| io_failure("remove", &request.path, e))?;
    tracing::info!(plugin = %context.plugin, "removed {} (backup: {backup})", request.path);
    Ok(Removed {
        existed: true,
        backup: Some(backup),
        dry_run: false,
    })
}

pub(super) fn stat(context: &HostContext, request: StatPath) -> Result<Stat, ServiceFailure> {
    let real = context.resolve(&request.path)?;
    match fs::symlink_metadata(&real) {
        Ok(meta) => {
            let kind = meta.file_type();
            let file_type = if kind.is_symlink() {
                FileType::Symlink
            } else if kind.is_dir() {
                FileType::Directory
            } else if kind.is_file() {
                FileType::File
            } else {
                FileType::Other
            };
            Ok(Stat {
                exists: true,
                file_type: Some(file_type),
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                size: meta.len(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stat::default()),
        Err(e) => Err(io_failure("examine", &request.path, e)),
    }
}

pub(super) fn list(context: &HostContext, request: ListDir) -> Result<DirEntries, ServiceFailure> {
    let real = context.resolve(&request.path)?;
    let mut names = Vec::new();
    for entry in fs::read_dir(&real).map_err(|e| io_failure("list", &request.path, e))? {
        let entry = entry.map_err(|e| io_failure("list", &request.path, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(DirEntries { names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;

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
        let root = tempfile::tempdir().unwrap();
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
        let root = tempfile::tempdir().unwrap();
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
        let root = tempfile::tempdir().unwrap();
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
        let root = tempfile::tempdir().unwrap();
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
