//! `journal.*` and `runs.remove`: a run's journal, and the removal of a run for good.

use serde::{Deserialize, Serialize};

use super::{Empty, Service};

/// `journal.append` (1.3): one record (a JSON object) appended to a run's journal,
/// `/var/lib/carbonio-mesh/runs/RUN/journal.jsonl` (directory 0700, file 0600), fsynced before
/// the answer. Never under `--dry-run`. Records must hold no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalAppend {
    /// The run's name.
    pub run: String,
    /// The record (a JSON object, no secret in it).
    pub record: serde_json::Value,
}

impl Service for JournalAppend {
    const NAME: &'static str = "journal.append";
    type Answer = Empty;
}

/// `journal.read` (1.3): a run's records in order (`NotFound` for an unknown run). With no
/// `run`: the names of all runs, oldest first, in `runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRead {
    /// The run; none: list the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Service for JournalRead {
    const NAME: &'static str = "journal.read";
    type Answer = Journal;
}

/// [`JournalRead`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// The run's records, in order.
    #[serde(default)]
    pub records: Vec<serde_json::Value>,
    /// The runs' names, oldest first (when no run was named).
    #[serde(default)]
    pub runs: Vec<String>,
}

/// `runs.remove` (1.5): deletes a run for good, with no backup (a backup of the backups would
/// keep the old secrets `secret prune` is there to delete): the run's journal directory under
/// /var/lib/carbonio-mesh/runs and every backup directory the run recorded as its own (since
/// 1.7: the directory directly under the configured `[backup] dir` holding the backup of one of
/// its `removed` records; other strings of the journal, such as node names, count for nothing).
/// Nothing outside those is touched. Under `--dry-run` the removal is recorded, not made;
/// otherwise the host audits it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRun {
    /// The run's name.
    pub run: String,
}

impl Service for RemoveRun {
    const NAME: &'static str = "runs.remove";
    type Answer = RunRemoved;
}

/// [`RemoveRun`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRemoved {
    /// The journal directory (a system path).
    pub journal: String,
    /// The backup directories removed (system paths), oldest first.
    #[serde(default)]
    pub backups: Vec<String>,
    /// Only recorded (`--dry-run`).
    #[serde(default)]
    pub dry_run: bool,
}
