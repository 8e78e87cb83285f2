//! Runs: their names (`2026-12-01T10-15-02Z-3f2a`), and `secret runs`, `secret show RUN` and
//! `secret prune` over their journals.
//!
//! Parse (journal records into a [`RunSummary`]), act (read journals, remove runs through the
//! host) and render (tables, JSON) are separate functions. Runs named the old way
//! (`1796135620-5193`) are read the same way; every run is ordered by its first record's `at`.

use carbonio_mesh_plugin_api::services::{JournalRead, RemoveRun, RunRemoved};
use carbonio_mesh_plugin_api::step::JournalRecord;
use carbonio_mesh_plugin_api::workflow::{
    rfc3339, typed_records, RunBackup, RunState, StepProgress,
};
use carbonio_mesh_plugin_api::{Host, OutputFormat, PluginError, Request, Response, Table};
use serde::Serialize;

/// How many runs `secret prune` keeps without `--keep`.
pub(crate) const DEFAULT_KEEP: &str = "10";

/// A step's status in `secret show` (`ok`, `failed`, `started`).
pub(crate) type Status = StepProgress;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StepLine {
    pub step: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(crate) enum State {
    Finished,
    Failed {
        step: String,
    },
    /// Neither finished nor failed: running now, or killed (the journal cannot tell which).
    Unfinished {
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
}

/// One run as its journal tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RunSummary {
    pub run: String,
    pub workflow: Option<String>,
    /// Unix time of the first record.
    #[serde(skip)]
    pub started_at: Option<u64>,
    pub started: Option<String>,
    #[serde(flatten)]
    pub state: State,
    pub resumed: u32,
    pub restored: bool,
    #[serde(skip)]
    pub steps: Vec<StepLine>,
    #[serde(skip)]
    pub removed: Vec<RunBackup>,
}

impl RunSummary {
    /// Done with: finished, or gone back from with `secret restore`.
    pub(crate) fn settled(&self) -> bool {
        self.state == State::Finished || self.restored
    }

    /// `finished`, `failed at STEP`, `in progress or interrupted at STEP`, then how often it
    /// was resumed and whether it was restored.
    pub(crate) fn state_text(&self) -> String {
        let mut text = match &self.state {
            State::Finished => "finished".to_owned(),
            State::Failed { step } => format!("failed at {step}"),
            State::Unfinished { step: Some(step) } => {
                format!("in progress or interrupted at {step}")
            }
            State::Unfinished { step: None } => "in progress or interrupted".to_owned(),
        };
        match self.resumed {
            0 => {}
            1 => text.push_str(", resumed 1 time"),
            n => text.push_str(&format!(", resumed {n} times")),
        }
        if self.restored {
            text.push_str(", restored");
        }
        text
    }
}

/// A run's summary from its records, as the workflow engine reads them (parse only: no host
/// call).
pub(crate) fn summarize(run: &str, records: &[JournalRecord]) -> RunSummary {
    let state = RunState::read(records);
    RunSummary {
        run: run.to_owned(),
        started: state.started_at.map(rfc3339),
        started_at: state.started_at,
        state: match (state.finished, state.failed, state.last_step) {
            (true, _, _) => State::Finished,
            (false, true, Some(step)) => State::Failed { step },
            (false, _, step) => State::Unfinished { step },
        },
        workflow: state.workflow,
        resumed: state.resumed,
        restored: state.restored,
        steps: state
            .steps
            .into_iter()
            .map(|s| StepLine {
                step: s.name,
                status: s.progress,
                detail: s.error.unwrap_or_default(),
            })
            .collect(),
        removed: state.backups,
    }
}

/// Oldest first, by the first record's time (the name breaks ties, and orders a run without
/// times first).
fn sort(runs: &mut [RunSummary]) {
    runs.sort_by(|a, b| (a.started_at, &a.run).cmp(&(b.started_at, &b.run)));
}

/// What `secret prune` removes: all but the newest `keep` runs, and of those only the settled
/// ones unless `include_unfinished` (an unfinished run may still be resumed or restored).
pub(crate) fn prunable(
    runs: &[RunSummary],
    keep: usize,
    include_unfinished: bool,
) -> Vec<&RunSummary> {
    let older = runs.len().saturating_sub(keep);
    runs[..older]
        .iter()
        .filter(|r| include_unfinished || r.settled())
        .collect()
}

/// Every run's summary, oldest first.
fn all_runs(host: &Host<'_>) -> Result<Vec<RunSummary>, PluginError> {
    let names = host.call(&JournalRead { run: None })?.runs;
    let mut runs = names
        .iter()
        .map(|run| Ok(summarize(run, &typed_records(host, run)?)))
        .collect::<Result<Vec<_>, PluginError>>()?;
    sort(&mut runs);
    Ok(runs)
}

/// `secret runs`.
pub(crate) fn list(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let runs = all_runs(host)?;
    render_list(request.format, &runs)
}

/// `secret show RUN`.
pub(crate) fn show(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let run = request
        .value("run")
        .ok_or_else(|| PluginError::usage("name the run to show"))?;
    let summary = summarize(run, &typed_records(host, run)?);
    render_show(request.format, &summary)
}

/// `secret prune [--keep N] [--include-unfinished]`.
pub(crate) fn prune(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    // The host fills in the default (checked by `--keep`'s value kind); a request without it
    // keeps the same number.
    let keep: usize = match request.parsed("keep")? {
        Some(keep) => keep,
        None => DEFAULT_KEEP
            .parse()
            .map_err(|e| PluginError::internal(format!("DEFAULT_KEEP {DEFAULT_KEEP:?}: {e}")))?,
    };
    let include_unfinished = request.flag("include-unfinished");
    let runs = all_runs(host)?;
    let chosen = prunable(&runs, keep, include_unfinished);
    if chosen.is_empty() {
        return Ok(Response::text("").with_stderr(format!(
            "Nothing to prune: {} run(s), keeping the newest {keep} and every unfinished one.\n",
            runs.len()
        )));
    }
    let changes = chosen
        .iter()
        .map(|r| {
            format!(
                "remove run {} ({}): its journal and the backups of {} file(s), for good",
                r.run,
                r.state_text(),
                r.removed.len()
            )
        })
        .collect();
    let question = format!(
        "Remove {} run(s) and their backups (the old secrets in them are gone for good)?",
        chosen.len()
    );
    if !host.confirm(changes, &question)? {
        return Ok(Response::declined_as(request.format));
    }
    let mut removed = Vec::new();
    for run in chosen {
        let answer = host.call(&RemoveRun {
            run: run.run.clone(),
        })?;
        removed.push((run.run.clone(), answer));
    }
    render_pruned(request.format, &removed)
}

fn render_list(format: OutputFormat, runs: &[RunSummary]) -> Result<Response, PluginError> {
    if format == OutputFormat::Json {
        return Response::json(&runs);
    }
    if runs.is_empty() {
        return Ok(Response::text("")
            .with_stderr("No runs: none in /var/lib/carbonio-mesh/runs.\n".to_owned()));
    }
    let mut table = Table::new(["Run", "Workflow", "Started", "State"]);
    for run in runs {
        table.push([
            run.run.clone(),
            run.workflow.clone().unwrap_or_else(|| "-".into()),
            run.started.clone().unwrap_or_else(|| "-".into()),
            run.state_text(),
        ]);
    }
    Ok(Response::text(table.render()))
}

/// `secret show --format json`: the summary with its steps and removed files.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    steps: &'a [StepLine],
    removed: &'a [RunBackup],
}

fn render_show(format: OutputFormat, run: &RunSummary) -> Result<Response, PluginError> {
    if format == OutputFormat::Json {
        return Response::json(&Shown {
            summary: run,
            steps: &run.steps,
            removed: &run.removed,
        });
    }
    let mut out = format!(
        "Run:      {}\nWorkflow: {}\nStarted:  {}\nState:    {}\nRestored: {}\n",
        run.run,
        run.workflow.as_deref().unwrap_or("-"),
        run.started.as_deref().unwrap_or("-"),
        run.state_text(),
        if run.restored { "yes" } else { "no" },
    );
    if !run.steps.is_empty() {
        let mut table = Table::new(["Status", "Step", "Detail"]);
        for line in &run.steps {
            let status = match line.status {
                Status::Ok => "ok",
                Status::Failed => "FAIL",
                Status::Started => "started",
            };
            // A failure's detail may run to many lines (rejoin-nodes' table of nodes): its
            // first line in the table, the whole of it below, so the table stays a table.
            let first = line.detail.lines().next().unwrap_or_default();
            table.push([status, line.step.as_str(), first]);
        }
        out.push('\n');
        out.push_str(&table.render());
        for line in run.steps.iter().filter(|l| l.detail.contains('\n')) {
            out.push_str(&format!("\n{}:\n", line.step));
            for detail in line.detail.trim_end().lines() {
                out.push_str(&format!("  {detail}\n"));
            }
        }
    }
    if !run.removed.is_empty() {
        out.push_str(
            "\nFiles removed or replaced, and their backups (old secrets: `secret prune` deletes them):\n",
        );
        let mut table = Table::new(["File", "Backup"]);
        for file in &run.removed {
            table.push([file.path.as_str(), file.backup.as_str()]);
        }
        out.push_str(&table.render());
    }
    Ok(Response::text(out))
}

#[derive(Serialize)]
struct Pruned<'a> {
    run: &'a str,
    #[serde(flatten)]
    removed: &'a RunRemoved,
}

fn render_pruned(
    format: OutputFormat,
    removed: &[(String, RunRemoved)],
) -> Result<Response, PluginError> {
    if format == OutputFormat::Json {
        let list: Vec<Pruned<'_>> = removed
            .iter()
            .map(|(run, removed)| Pruned { run, removed })
            .collect();
        return Response::json(&list);
    }
    let mut out = String::new();
    for (run, answer) in removed {
        let verb = if answer.dry_run {
            "Would remove"
        } else {
            "Removed"
        };
        let backups = if answer.backups.is_empty() {
            "no backups".to_owned()
        } else {
            format!("backups {}", answer.backups.join(", "))
        };
        out.push_str(&format!(
            "{verb} run {run}: journal {}, {backups}\n",
            answer.journal
        ));
    }
    Ok(Response::text(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The summary of records as written (one of another version reads as `Other`).
    fn summarize(run: &str, records: &[Value]) -> RunSummary {
        let typed: Vec<JournalRecord> = records
            .iter()
            .map(|r| serde_json::from_value(r.clone()).unwrap_or(JournalRecord::Other))
            .collect();
        super::summarize(run, &typed)
    }

    fn failed_then_resumed() -> Vec<Value> {
        vec![
            json!({"event": "run", "workflow": "secret-regenerate", "at": 100}),
            json!({"step": "preflight", "event": "start", "at": 100}),
            json!({"step": "preflight", "event": "done", "at": 101, "facts": {}}),
            json!({"step": "backup-and-remove", "event": "start", "at": 101}),
            json!({"step": "backup-and-remove", "event": "removed", "path": "/etc/a", "backup": "/var/backups/carbonio-mesh/1-2/etc/a"}),
            json!({"step": "backup-and-remove", "event": "done", "at": 102, "facts": {}}),
            json!({"step": "run-setup", "event": "start", "at": 102}),
            json!({"step": "run-setup", "event": "failed", "at": 103, "error": "disk full"}),
        ]
    }

    #[test]
    fn a_failed_run_names_its_step_and_its_backups() {
        let run = summarize("1796135620-5193", &failed_then_resumed());
        assert_eq!(
            run.state,
            State::Failed {
                step: "run-setup".into()
            }
        );
        assert_eq!(run.state_text(), "failed at run-setup");
        assert_eq!(run.started_at, Some(100));
        assert_eq!(run.workflow.as_deref(), Some("secret-regenerate"));
        assert_eq!(run.steps[2].detail, "disk full");
        assert_eq!(
            run.removed[0].backup,
            "/var/backups/carbonio-mesh/1-2/etc/a"
        );
        assert!(!run.settled());
    }

    #[test]
    fn resumes_are_counted_with_or_without_a_resumed_record() {
        let mut records = failed_then_resumed();
        // An old journal: the resumed run just starts the failed step again.
        records.push(json!({"step": "run-setup", "event": "start", "at": 200}));
        let run = summarize("r", &records);
        assert_eq!(run.resumed, 1);
        assert_eq!(
            run.state_text(),
            "in progress or interrupted at run-setup, resumed 1 time"
        );
        // Killed there; resumed again, this time with its record, and finished.
        records.push(json!({"event": "resumed", "at": 300}));
        records.push(json!({"step": "run-setup", "event": "start", "at": 300}));
        records.push(json!({"step": "run-setup", "event": "done", "at": 301, "facts": {}}));
        records.push(json!({"event": "finished", "at": 301}));
        records.push(json!({"event": "restored", "at": 400, "files": 1}));
        let run = summarize("r", &records);
        assert_eq!(run.resumed, 2);
        assert_eq!(run.steps[2].status, Status::Ok);
        assert_eq!(run.state_text(), "finished, resumed 2 times, restored");
        assert!(run.settled());
    }

    #[test]
    fn prune_keeps_the_newest_and_the_unfinished() {
        let finished = |run: &str, at: u64| {
            summarize(
                run,
                &[
                    json!({"event": "run", "workflow": "w", "at": at}),
                    json!({"event": "finished", "at": at}),
                ],
            )
        };
        let unfinished = summarize("u", &[json!({"event": "run", "workflow": "w", "at": 2})]);
        // An old name and a new one, ordered by time and not by name.
        let mut runs = vec![
            finished("2026-12-01T10-15-02Z-3f2a", 3),
            unfinished,
            finished("1796135620-5193", 1),
            finished("2026-12-01T10-15-03Z-0000", 4),
        ];
        sort(&mut runs);
        let names = |list: Vec<&RunSummary>| list.iter().map(|r| r.run.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(prunable(&runs, 1, false)),
            ["1796135620-5193", "2026-12-01T10-15-02Z-3f2a"]
        );
        assert_eq!(
            names(prunable(&runs, 1, true)),
            ["1796135620-5193", "u", "2026-12-01T10-15-02Z-3f2a"]
        );
        assert!(prunable(&runs, 10, true).is_empty());
        assert_eq!(names(prunable(&runs, 0, false)).len(), 3);
    }
}
