//! The `journal.*` and `runs.remove` services: the per-run journal that makes a run resumable,
//! and its removal.
//!
//! The journal is one JSON object per line in `/var/lib/carbonio-mesh/runs/RUN/journal.jsonl`,
//! appended and fsynced before the answer, so a record the plugin saw acknowledged survives a
//! kill -9 or a power loss. A torn last line (the crash came mid-write) is ignored on reading.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use carbonio_mesh_plugin_api::services::{
    Audit, Empty, Journal, JournalAppend, JournalRead, RemoveRun, RunRemoved, ServiceErrorKind,
    ServiceFailure,
};

use super::{failure, io_failure, HostContext};

/// Where run journals live (a system path).
pub const RUNS_DIR: &str = "/var/lib/carbonio-mesh/runs";

/// A run name is a file name we made: refuse anything that could leave the runs directory.
fn valid_run(run: &str) -> Result<(), ServiceFailure> {
    let ok = !run.is_empty()
        && run.len() <= 64
        && run
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(failure(
            ServiceErrorKind::Invalid,
            format!("'{run}' is not a run name (letters, digits, '-' and '_')"),
        ))
    }
}

fn io(action: &str, what: &std::path::Path, e: std::io::Error) -> ServiceFailure {
    io_failure(action, &what.display().to_string(), e)
}

pub(super) fn append(
    context: &HostContext,
    request: JournalAppend,
) -> Result<Empty, ServiceFailure> {
    valid_run(&request.run)?;
    if !request.record.is_object() {
        return Err(failure(
            ServiceErrorKind::Invalid,
            "a journal record is a JSON object",
        ));
    }
    if context.dry_run {
        return Ok(Empty {});
    }
    let runs = context.paths.system(RUNS_DIR);
    let dir = runs.join(&request.run);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| io("create", &dir, e))?;
    let file = dir.join("journal.jsonl");
    // Redacted string by string before encoding: after it, a secret with `"` or `\` in it would
    // no longer match its escaped form in the line.
    let mut record = request.record;
    context.redact_json(&mut record);
    let mut line = record.to_string();
    line.push('\n');
    let mut journal = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&file)
        .map_err(|e| io("open", &file, e))?;
    journal
        .write_all(line.as_bytes())
        .and_then(|()| journal.sync_all())
        .map_err(|e| io("write", &file, e))?;
    Ok(Empty {})
}

pub(super) fn read(context: &HostContext, request: JournalRead) -> Result<Journal, ServiceFailure> {
    let runs = context.paths.system(RUNS_DIR);
    let Some(run) = request.run else {
        let mut names: Vec<(std::time::SystemTime, String)> = match fs::read_dir(&runs) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("journal.jsonl").is_file())
                .map(|e| {
                    let at = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (at, e.file_name().to_string_lossy().into_owned())
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("list", &runs, e)),
        };
        names.sort();
        return Ok(Journal {
            records: Vec::new(),
            runs: names.into_iter().map(|(_, n)| n).collect(),
        });
    };
    valid_run(&run)?;
    let file = runs.join(&run).join("journal.jsonl");
    let text = fs::read_to_string(&file).map_err(|e| io("read", &file, e))?;
    let records = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .collect();
    Ok(Journal {
        records,
        runs: Vec::new(),
    })
}

/// The backup directories a run's records name: for every string in them that lies under
/// `backup_dir`, the directory directly under `backup_dir` holding it (one per process that
/// backed something up for the run), in the order first named.
fn named_backup_dirs(records: &[serde_json::Value], backup_dir: &str) -> Vec<String> {
    fn strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let base = backup_dir.trim_end_matches('/');
    let mut found = Vec::new();
    records.iter().for_each(|r| strings(r, &mut found));
    let mut dirs: Vec<String> = Vec::new();
    for path in found {
        let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let top = rest.split('/').next().unwrap_or("");
        // A name we made (`<time>-<pid>`): never `..`, `.` or empty, so never outside `base`.
        if top.is_empty() || top == "." || top == ".." {
            continue;
        }
        let dir = format!("{base}/{top}");
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// `runs.remove`: the run's backup directories, then its journal directory, removed for good.
/// The journal goes last: it is what names the backups, so a removal that failed half-way can
/// be run again.
pub(super) fn remove_run(
    context: &HostContext,
    request: RemoveRun,
) -> Result<RunRemoved, ServiceFailure> {
    valid_run(&request.run)?;
    let journal_dir = format!("{RUNS_DIR}/{}", request.run);
    let journal_file = context.paths.system(&journal_dir).join("journal.jsonl");
    let text = fs::read_to_string(&journal_file).map_err(|e| io("read", &journal_file, e))?;
    let records: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    // Only real directories: a symlink planted there is not followed out of the backup dir.
    let backups: Vec<String> = named_backup_dirs(&records, &context.config.backup_dir)
        .into_iter()
        .filter(|dir| {
            fs::symlink_metadata(context.paths.system(dir)).is_ok_and(|m| m.file_type().is_dir())
        })
        .collect();
    if context.dry_run {
        let also = if backups.is_empty() {
            String::new()
        } else {
            format!(" and its backups {}", backups.join(", "))
        };
        context.record(format!(
            "remove run {} for good: its journal {journal_dir}{also}",
            request.run
        ));
        return Ok(RunRemoved {
            journal: journal_dir,
            backups,
            dry_run: true,
        });
    }
    for dir in backups.iter().chain([&journal_dir]) {
        let real = context.paths.system(dir);
        fs::remove_dir_all(&real).map_err(|e| io("remove", &real, e))?;
        tracing::info!(plugin = %context.plugin, "removed {dir} for good");
    }
    let _ = super::audit::audit(
        context,
        Audit {
            action: "remove run".to_owned(),
            target: request.run.clone(),
            result: format!("journal and {} backup dir(s) removed", backups.len()),
        },
    );
    Ok(RunRemoved {
        journal: journal_dir,
        backups,
        dry_run: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_cannot_leave_the_runs_directory() {
        assert!(valid_run("1763864000-4242").is_ok());
        assert!(valid_run("2026-12-01T10-15-02Z-3f2a").is_ok());
        for bad in ["", "../x", "a/b", ".", "x y"] {
            assert!(valid_run(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_backup_directories_the_journal_names_are_removed() {
        let records = vec![
            serde_json::json!({"event": "removed", "path": "/etc/x", "backup": "/var/backups/carbonio-mesh/1-2/etc/x"}),
            serde_json::json!({"event": "removed", "path": "/etc/y", "backup": "/var/backups/carbonio-mesh/1-2/etc/y"}),
            serde_json::json!({"facts": {"a": ["/var/backups/carbonio-mesh/3-4/z"]}}),
            serde_json::json!({"escape": "/var/backups/carbonio-mesh/../../etc"}),
            serde_json::json!({"other": "/var/backups/carbonio-meshx/5-6", "dot": "/var/backups/carbonio-mesh/./a"}),
            serde_json::json!({"base": "/var/backups/carbonio-mesh/"}),
        ];
        assert_eq!(
            named_backup_dirs(&records, "/var/backups/carbonio-mesh/"),
            [
                "/var/backups/carbonio-mesh/1-2",
                "/var/backups/carbonio-mesh/3-4"
            ]
        );
    }
}
