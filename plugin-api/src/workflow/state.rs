//! A run's journal: its name, appending records, reading them back, and what a resumed run
//! starts from ([`RunState`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::services::{JournalAppend, JournalRead};
use crate::step::{Facts, JournalRecord, NodeResult};
use crate::{ArgValue, Host, PluginError};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends one record to the run's journal (fsynced by the host before it answers).
pub fn journal(host: &Host<'_>, run: &str, record: &JournalRecord) -> Result<(), PluginError> {
    let record = serde_json::to_value(record)
        .map_err(|e| PluginError::internal(format!("cannot encode a journal record: {e}")))?;
    host.call(&JournalAppend {
        run: run.to_owned(),
        record,
    })?;
    Ok(())
}

/// A run's records as written (`secret runs` and `show` read them in their own terms).
pub fn records(host: &Host<'_>, run: &str) -> Result<Vec<Value>, PluginError> {
    Ok(host
        .call(&JournalRead {
            run: Some(run.to_owned()),
        })
        .map_err(|e| {
            PluginError::usage(format!("no run '{run}': {}", e.message))
                .hint("`carbonio-mesh secret runs` lists the runs")
        })?
        .records)
}

/// A run's records, typed; records of a later version are [`JournalRecord::Other`].
pub fn typed_records(host: &Host<'_>, run: &str) -> Result<Vec<JournalRecord>, PluginError> {
    Ok(records(host, run)?
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap_or(JournalRecord::Other))
        .collect())
}

/// Every run's name and start (its first record's time, as [`RunState::started_at`] reads it),
/// oldest first (the name breaks ties and orders a run without times first).
pub fn runs_by_start(host: &Host<'_>) -> Result<Vec<(Option<u64>, String)>, PluginError> {
    let names = host.call(&JournalRead { run: None })?.runs;
    let mut runs = Vec::with_capacity(names.len());
    for name in names {
        let first = typed_records(host, &name)?
            .iter()
            .find_map(JournalRecord::at);
        runs.push((first, name));
    }
    runs.sort();
    Ok(runs)
}

/// The newest run by its start (names of either form), for `--resume` without a name.
pub fn latest_run(host: &Host<'_>) -> Result<Option<String>, PluginError> {
    Ok(runs_by_start(host)?.pop().map(|(_, name)| name))
}

/// A new run's name: its UTC start to the second (so names sort by time and read as one), then
/// four random hex digits (two runs started in the same second do not collide).
pub fn new_run_id(now: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's randomness per process: enough to tell apart two runs
    // of one second, which is all this is for (nothing here is a secret).
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    run_id(now, (hasher.finish() & 0xffff) as u16)
}

fn run_id(secs: u64, random: u16) -> String {
    let t = Utc::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z-{random:04x}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// A time as RFC 3339 in UTC (`2026-12-01T10:15:02Z`).
pub fn rfc3339(secs: u64) -> String {
    let t = Utc::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Utc {
    /// The proleptic Gregorian calendar date of a Unix time (Howard Hinnant's `civil_from_days`).
    fn from_unix(secs: u64) -> Utc {
        let days = (secs / 86_400) as i64;
        let rest = (secs % 86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
        }
    }
}

/// Where a step of a run got to: its latest event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepProgress {
    /// Done.
    Ok,
    /// Failed (the error is the step's `error`).
    Failed,
    /// Started and never ended: killed, or running now.
    Started,
}

/// One step of a run, at its latest event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledStep {
    /// The step.
    pub name: String,
    /// Its latest event.
    pub progress: StepProgress,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// A backup a run made: of a file it removed or replaced (`path`), or of something that is no
/// file (`what`: a raft snapshot). Serialised as `secret show --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunBackup {
    /// The file, or `(what)` for something else.
    pub path: String,
    /// Where its copy is.
    pub backup: String,
}

/// What a run's journal says so far: what a resumed run starts from, what `secret runs` shows
/// and what doctor's `unfinished-run` reports. The one reader of a journal's records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    /// The workflow its first record names.
    pub workflow: Option<String>,
    /// The command that runs it, as its run record names it (none in older journals).
    pub command: Option<String>,
    /// The command that goes back from it, as its run record names it (none in older
    /// journals, and for a workflow without one).
    pub restore: Option<String>,
    /// It ended with every step done.
    pub finished: bool,
    /// The steps done, by name.
    pub done: BTreeSet<String>,
    /// What the run decided before its first step and every done step recorded.
    pub facts: Facts,
    /// The command's arguments as the run started with them (none in journals before 1.7).
    pub args: BTreeMap<String, ArgValue>,
    /// Each node's latest result, by step and node.
    pub nodes: BTreeMap<(String, String), NodeResult>,
    /// When it started: its first record's time.
    pub started_at: Option<u64>,
    /// The step it stopped in: started and never ended (killed, or running now), or failed
    /// (`failed`); none between two steps.
    pub last_step: Option<String>,
    /// The last step event was a failure of `last_step`.
    pub failed: bool,
    /// Every step, at its latest event, in the order they first started (a resumed step keeps
    /// its place).
    pub steps: Vec<JournaledStep>,
    /// How often it was resumed.
    pub resumed: u32,
    /// The backups it made, in order.
    pub backups: Vec<RunBackup>,
    /// `secret restore` put its files back.
    pub restored: bool,
}

impl RunState {
    /// Reads the records in order (parse only: no host call).
    pub fn read(records: &[JournalRecord]) -> RunState {
        let mut state = RunState::default();
        // A `start` after an unended or failed step is a resume, even in journals from before
        // `resumed` records, unless a `resumed` record said so already.
        let mut announced = false;
        for record in records {
            if state.started_at.is_none() {
                state.started_at = record.at();
            }
            match record {
                JournalRecord::Run {
                    workflow,
                    args,
                    facts,
                    command,
                    restore,
                    ..
                } => {
                    state.workflow = Some(workflow.clone());
                    state.command.clone_from(command);
                    state.restore.clone_from(restore);
                    state.args = args.clone();
                    state.facts.extend(facts.clone());
                }
                JournalRecord::Resumed { .. } => {
                    state.resumed += 1;
                    announced = true;
                }
                JournalRecord::Start { step, .. } => {
                    if state.last_step.is_some() && !announced {
                        state.resumed += 1;
                    }
                    announced = false;
                    state.last_step = Some(step.clone());
                    state.failed = false;
                    state.set_step(step, StepProgress::Started, None);
                }
                JournalRecord::Done { step, facts, .. } => {
                    state.done.insert(step.clone());
                    state.facts.extend(facts.clone());
                    state.last_step = None;
                    state.failed = false;
                    state.set_step(step, StepProgress::Ok, None);
                }
                JournalRecord::Failed {
                    step, error, facts, ..
                } => {
                    state.last_step = Some(step.clone());
                    state.failed = true;
                    state.facts.extend(facts.clone());
                    state.set_step(step, StepProgress::Failed, Some(error.clone()));
                }
                JournalRecord::Removed { path, backup, .. }
                | JournalRecord::Saved { path, backup, .. } => state.backups.push(RunBackup {
                    path: path.clone(),
                    backup: backup.clone(),
                }),
                JournalRecord::Kept { backup, what, .. } => state.backups.push(RunBackup {
                    path: format!("({what})"),
                    backup: backup.clone(),
                }),
                JournalRecord::Node {
                    step, node, result, ..
                } => {
                    state.nodes.insert((step.clone(), node.clone()), *result);
                }
                JournalRecord::Finished { .. } => state.finished = true,
                JournalRecord::Restored { .. } => state.restored = true,
                JournalRecord::Other => {}
            }
        }
        state
    }

    /// A step's latest event, in the place it first started.
    fn set_step(&mut self, name: &str, progress: StepProgress, error: Option<String>) {
        match self.steps.iter_mut().find(|s| s.name == name) {
            Some(step) => {
                step.progress = progress;
                step.error = error;
            }
            None => self.steps.push(JournaledStep {
                name: name.to_owned(),
                progress,
                error,
            }),
        }
    }

    /// The state of `run`, read through the host.
    pub fn load(host: &Host<'_>, run: &str) -> Result<RunState, PluginError> {
        Ok(RunState::read(&typed_records(host, run)?))
    }

    /// Whether an earlier attempt of the run did `step` on `node`.
    pub fn node_done(&self, step: &str, node: &str) -> bool {
        self.nodes.get(&(step.to_owned(), node.to_owned())) == Some(&NodeResult::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::facts;
    use serde_json::json;

    #[test]
    fn run_ids_read_as_utc_time_and_sort_by_it() {
        assert_eq!(run_id(0, 0x3f2a), "1970-01-01T00-00-00Z-3f2a");
        assert_eq!(run_id(1_796_135_620, 1), "2026-12-01T14-33-40Z-0001");
        assert_eq!(run_id(951_782_400, 0xffff), "2000-02-29T00-00-00Z-ffff");
        assert_eq!(rfc3339(1_796_135_620), "2026-12-01T14:33:40Z");
        let ids: Vec<String> = [9, 59, 3599, 86_399, 1_000_000_000, 4_102_444_800]
            .iter()
            .map(|&t| run_id(t, 0xffff))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let id = new_run_id(1_796_135_620);
        assert!(
            id.starts_with("2026-12-01T14-33-40Z-") && id.len() == 25,
            "{id}"
        );
    }

    #[test]
    fn the_step_a_run_stopped_in_is_the_unended_or_failed_one_and_none_between_steps() {
        let read = |lines: &[Value]| {
            let records: Vec<JournalRecord> = lines
                .iter()
                .map(|l| serde_json::from_value(l.clone()).unwrap())
                .collect();
            RunState::read(&records)
        };
        let mut lines = vec![
            json!({"event": "run", "workflow": "w", "at": 5}),
            json!({"step": "a", "event": "start", "at": 6}),
        ];
        assert_eq!(read(&lines).last_step.as_deref(), Some("a"));
        lines.push(json!({"step": "a", "event": "done", "at": 7}));
        let between = read(&lines);
        assert_eq!((between.last_step, between.failed), (None, false));
        lines.push(json!({"step": "b", "event": "start", "at": 8}));
        lines.push(json!({"step": "b", "event": "failed", "at": 9, "error": "no"}));
        let failed = read(&lines);
        assert_eq!(
            (failed.last_step.as_deref(), failed.failed),
            (Some("b"), true)
        );
        assert_eq!(failed.steps[1].error.as_deref(), Some("no"));
        assert_eq!(failed.started_at, Some(5));
        // Started again after the failure, without a `resumed` record (older journals).
        lines.push(json!({"step": "b", "event": "start", "at": 10}));
        let resumed = read(&lines);
        assert_eq!(resumed.resumed, 1);
        assert_eq!(resumed.steps[1].progress, StepProgress::Started);
        assert_eq!(resumed.steps.len(), 2);
    }

    #[test]
    fn a_resumed_run_starts_from_its_arguments_facts_and_node_results() {
        let lines = [
            json!({"event": "run", "workflow": "w", "at": 1, "args": {"nodes": "all", "generate": true}, "facts": {"servers": 3}}),
            json!({"step": "a", "event": "start", "at": 1}),
            json!({"step": "a", "event": "done", "at": 2, "facts": {"leader_ip": "10.0.0.1"}}),
            json!({"step": "n", "event": "node", "node": "x", "host": null, "address": "10.0.0.2", "result": "failed", "detail": "down"}),
            json!({"step": "n", "event": "node", "node": "x", "host": null, "address": "10.0.0.2", "result": "ok", "detail": "set up"}),
            json!({"step": "n", "event": "node", "node": "y", "host": null, "address": "10.0.0.3", "result": "failed", "detail": "down"}),
        ];
        let records: Vec<JournalRecord> = lines
            .iter()
            .map(|l| serde_json::from_value(l.clone()).unwrap())
            .collect();
        let state = RunState::read(&records);
        assert_eq!(state.workflow.as_deref(), Some("w"));
        assert!(state.done.contains("a") && !state.finished);
        assert_eq!(state.facts.get(&facts::SERVERS).unwrap(), Some(3));
        assert_eq!(state.facts.require(&facts::LEADER_IP).unwrap(), "10.0.0.1");
        assert_eq!(state.args.get("nodes"), Some(&ArgValue::One("all".into())));
        assert!(state.node_done("n", "x") && !state.node_done("n", "y"));
        // A journal of before 1.7: no arguments kept.
        let old: JournalRecord =
            serde_json::from_value(json!({"event": "run", "workflow": "w", "at": 1})).unwrap();
        assert!(RunState::read(&[old]).args.is_empty());
    }
}
