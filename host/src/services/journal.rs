//! The `journal.*` and `runs.remove` services: the per-run journal that makes a run resumable,
//! and its removal.
//!
//! The journal is one JSON object per line in `/var/lib/carbonio-mesh/runs/RUN/journal.jsonl`,
//! appended and fsynced before the answer, so a record the plugin saw acknowledged survives a
//! kill -9 or a power loss. A torn last line (the crash came mid-write) is ignored on reading.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use carbonio_mesh_plugin_api::services::{
    Audit, Empty, Journal, JournalAppend, JournalRead, RemoveRun, RunRemoved, ServiceErrorKind,
    ServiceFailure,
};
use carbonio_mesh_plugin_api::step::JournalRecord;

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

/// The text of a run's journal (under `--root`, resolved inside it, the file itself no link).
fn journal_text(context: &HostContext, run: &str) -> Result<String, ServiceFailure> {
    let file = format!("{RUNS_DIR}/{run}/journal.jsonl");
    let mut text = String::new();
    context
        .paths
        .open(
            &file,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map(File::from)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| io_failure("read", &file, e))?;
    Ok(text)
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
    let dir = format!("{RUNS_DIR}/{}", request.run);
    let dir_fd = context
        .paths
        .create_dirs(&dir, Mode::from_bits_truncate(0o700))
        .map_err(|e| io_failure("create", &dir, e))?;
    let file = format!("{dir}/journal.jsonl");
    // Redacted string by string before encoding: after it, a secret with `"` or `\` in it would
    // no longer match its escaped form in the line.
    let mut record = request.record;
    context.redact_json(&mut record);
    let mut line = record.to_string();
    line.push('\n');
    let entry = crate::config::paths::Entry {
        dir: dir_fd,
        name: "journal.jsonl".into(),
    };
    let mut journal = entry
        .open(
            OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
            Mode::from_bits_truncate(0o600),
        )
        .map(File::from)
        .map_err(|e| io_failure("open", &file, e))?;
    journal
        .write_all(line.as_bytes())
        .and_then(|()| journal.sync_all())
        .map_err(|e| io_failure("write", &file, e))?;
    Ok(Empty {})
}

pub(super) fn read(context: &HostContext, request: JournalRead) -> Result<Journal, ServiceFailure> {
    let Some(run) = request.run else {
        let journal_time = |name: &str| {
            let file = context
                .paths
                .open(
                    &format!("{RUNS_DIR}/{name}/journal.jsonl"),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
                    Mode::empty(),
                )
                .ok()?;
            let meta = File::from(file).metadata().ok()?;
            meta.is_file()
                .then(|| meta.modified().unwrap_or(std::time::UNIX_EPOCH))
        };
        let runs = match context.paths.open(
            RUNS_DIR,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        ) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Journal::default());
            }
            Err(e) => return Err(io_failure("list", RUNS_DIR, e)),
        };
        let listing = std::fs::read_dir(format!("/proc/self/fd/{}", runs.as_raw_fd()))
            .map_err(|e| io_failure("list", RUNS_DIR, e))?;
        let mut names: Vec<(std::time::SystemTime, String)> = listing
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| valid_run(name).is_ok())
            .filter_map(|name| journal_time(&name).map(|at| (at, name)))
            .collect();
        names.sort();
        return Ok(Journal {
            records: Vec::new(),
            runs: names.into_iter().map(|(_, n)| n).collect(),
        });
    };
    valid_run(&run)?;
    let text = journal_text(context, &run)?;
    let records = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .collect();
    Ok(Journal {
        records,
        runs: Vec::new(),
    })
}

/// The backup directories a run recorded as its own: for each `removed` record (a file the run
/// removed and the backup it made of it, written when the host answered), the directory directly
/// under `backup_dir` holding that backup (one per process that backed something up for the
/// run), in the order first named. Any other string of the journal is not looked at: node names
/// and step details come from Consul and LDAP, and a member named like another run's backups
/// must not make them go.
fn named_backup_dirs(records: &[serde_json::Value], backup_dir: &str) -> Vec<String> {
    let base = backup_dir.trim_end_matches('/');
    let mut dirs: Vec<String> = Vec::new();
    let backups = records.iter().filter_map(|record| {
        match serde_json::from_value::<JournalRecord>(record.clone()) {
            Ok(JournalRecord::Removed { backup, .. }) => Some(backup),
            _ => None,
        }
    });
    for path in backups {
        let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let top = rest.split('/').next().unwrap_or("");
        // A name the host made (`<time>-<pid>`): never `..`, `.` or empty, so never outside.
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
    let text = journal_text(context, &request.run)?;
    let records: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    // Only real directories of the trusted backup directory: a link planted there is not
    // followed out of it.
    let backups: Vec<String> = named_backup_dirs(&records, &context.config.backup_dir)
        .into_iter()
        .filter(|dir| context.backups.holds_dir(dir))
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
    for dir in &backups {
        context.backups.remove_dir(dir)?;
        tracing::info!(plugin = %context.plugin, "removed {dir} for good");
    }
    let journal = context
        .paths
        .entry(&journal_dir)
        .map_err(|e| io_failure("remove", &journal_dir, e))?;
    std::fs::remove_dir_all(journal.proc_path())
        .map_err(|e| io_failure("remove", &journal_dir, e))?;
    tracing::info!(plugin = %context.plugin, "removed {journal_dir} for good");
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

    /// Issue 24, item 8: a hostile member name in a journal made `secret prune` remove the
    /// backups of another, unfinished run.
    #[test]
    fn only_backup_directories_the_run_recorded_as_its_own_are_removed() {
        let records = vec![
            serde_json::json!({"event": "removed", "step": "s", "path": "/etc/x", "backup": "/var/backups/carbonio-mesh/1-2/etc/x"}),
            serde_json::json!({"event": "removed", "step": "s", "path": "/etc/y", "backup": "/var/backups/carbonio-mesh/1-2/etc/y"}),
            serde_json::json!({"event": "done", "step": "s", "at": 1, "facts": {"a": ["/var/backups/carbonio-mesh/3-4/z"]}}),
            serde_json::json!({"event": "node", "step": "rejoin-nodes", "node": "/var/backups/carbonio-mesh/5-6/x",
                "address": "192.168.56.110", "result": "failed", "detail": "/var/backups/carbonio-mesh/7-8"}),
            serde_json::json!({"event": "removed", "step": "s", "path": "/etc/z", "backup": "/var/backups/carbonio-mesh/../../etc"}),
            serde_json::json!({"event": "removed", "step": "s", "path": "/etc/w", "backup": "/var/backups/carbonio-meshx/5-6"}),
        ];
        assert_eq!(
            named_backup_dirs(&records, "/var/backups/carbonio-mesh/"),
            ["/var/backups/carbonio-mesh/1-2"]
        );
    }
}
