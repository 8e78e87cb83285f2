//! The `workflow.steps` and `journal.*` services: a workflow's steps as configured, and the
//! per-run journal that makes a run resumable.
//!
//! The journal is one JSON object per line in `/var/lib/carbonio-mesh/runs/RUN/journal.jsonl`,
//! appended and fsynced before the answer, so a record the plugin saw acknowledged survives a
//! kill -9 or a power loss. A torn last line (the crash came mid-write) is ignored on reading.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use carbonio_mesh_plugin_api::services::{
    Empty, Journal, JournalAppend, JournalRead, ResolvedStep, ResolvedWorkflow, ServiceErrorKind,
    ServiceFailure, WorkflowSteps,
};

use super::{failure, io_failure, HostContext};
use crate::config::StepProvider;
use crate::discovery;

/// Where run journals live (a system path).
pub const RUNS_DIR: &str = "/var/lib/carbonio-mesh/runs";

pub(super) fn steps(
    context: &HostContext,
    request: WorkflowSteps,
) -> Result<ResolvedWorkflow, ServiceFailure> {
    // A step's own name resolves to that one step (the transport is used that way).
    let single = [request.workflow.clone()];
    let names: &[String] = match context.config.workflows.get(&request.workflow) {
        Some(names) => names,
        None if context.config.steps.contains_key(&request.workflow) => &single,
        None => {
            return Err(failure(
                ServiceErrorKind::NotFound,
                format!("no workflow or step '{}' is configured", request.workflow),
            ))
        }
    };
    let steps = names
        .iter()
        .map(|name| {
            let step = &context.config.steps[name];
            let defined_in = step
                .defined_in
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in".to_owned());
            match &step.provider {
                StepProvider::Plugin(plugin) => ResolvedStep {
                    name: name.clone(),
                    plugin: Some(plugin.clone()),
                    plugin_file: discovery::candidates(&context.search_dirs, plugin)
                        .first()
                        .map(|c| c.path.display().to_string()),
                    defined_in,
                    ..ResolvedStep::default()
                },
                StepProvider::Exec {
                    argv,
                    password_stdin,
                } => ResolvedStep {
                    name: name.clone(),
                    exec: Some(argv.clone()),
                    password_stdin: *password_stdin,
                    defined_in,
                    ..ResolvedStep::default()
                },
            }
        })
        .collect();
    Ok(ResolvedWorkflow {
        steps,
        service_user: context.config.service_user.clone(),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_cannot_leave_the_runs_directory() {
        assert!(valid_run("1763864000-4242").is_ok());
        for bad in ["", "../x", "a/b", ".", "x y"] {
            assert!(valid_run(bad).is_err(), "{bad}");
        }
    }
}
