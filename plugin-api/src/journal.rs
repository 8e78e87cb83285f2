//! A run's journal records (`/var/lib/carbonio-mesh/runs/RUN/journal.jsonl`): one JSON object a
//! line, tagged by `event`, written by the workflow engine before each next step and read back
//! by `workflow::RunState`. Re-exported from [`crate::step`], where they were until 1.7.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fact::Facts;
use crate::messages::ArgValue;

/// One line of a run's journal (`/var/lib/carbonio-mesh/runs/RUN/journal.jsonl`), tagged by
/// `event`. Journals written before 1.6 have the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum JournalRecord {
    /// A run started: its workflow, and (1.7) the command's arguments and what was decided
    /// before the first step (the nodes), which `--resume` keeps.
    Run {
        /// The workflow it runs.
        workflow: String,
        /// When, in seconds since the epoch (as every `at` here).
        at: u64,
        /// The command's arguments (no secret is an argument).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        args: BTreeMap<String, ArgValue>,
        /// What the workflow decided before its first step.
        #[serde(default, skip_serializing_if = "Facts::is_empty")]
        facts: Facts,
        /// The command that runs the workflow, as typed after `carbonio-mesh` (`secret
        /// regenerate`), so that a reader of the journal (doctor) names it without knowing the
        /// plugin; absent from journals before this field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The command that goes back from the run (`secret restore`), when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore: Option<String>,
    },
    /// A run was resumed (`--resume`).
    Resumed {
        /// When.
        at: u64,
    },
    /// A step started.
    Start {
        /// The step.
        step: String,
        /// When.
        at: u64,
    },
    /// A step ended well.
    Done {
        /// The step.
        step: String,
        /// When.
        at: u64,
        /// The facts it recorded.
        #[serde(default)]
        facts: Facts,
    },
    /// A step failed: the run stopped there.
    Failed {
        /// The step.
        step: String,
        /// When.
        at: u64,
        /// Why, as the step said it.
        error: String,
        /// What the step learnt before it failed (1.7).
        #[serde(default, skip_serializing_if = "Facts::is_empty")]
        facts: Facts,
    },
    /// A file the step removed or replaced, and its backup (recorded at once, for `restore`).
    Removed {
        /// The step.
        step: String,
        /// The file (a system path).
        path: String,
        /// Its backup (a system path).
        backup: String,
    },
    /// A file the step backed up and left in place, for something else to replace (1.7):
    /// `restore` puts it back like a removed one.
    Saved {
        /// The step.
        step: String,
        /// The file (a system path).
        path: String,
        /// Its backup (a system path).
        backup: String,
    },
    /// A file the step made in the run's backup directory (1.7): a Consul snapshot. Pruned with
    /// the run; never put anywhere by `restore`.
    Kept {
        /// The step.
        step: String,
        /// The file (a system path in the run's backup directory).
        backup: String,
        /// What it is, for `secret show`.
        what: String,
    },
    /// One node's result of a step driving other nodes.
    Node {
        /// The step.
        step: String,
        /// The Consul node name.
        node: String,
        /// Its Carbonio hostname, when one maps to it.
        #[serde(default)]
        host: Option<String>,
        /// Its gossip address.
        address: String,
        /// How it fared.
        result: NodeResult,
        /// What happened there, one line.
        detail: String,
    },
    /// The run ended: every step is done.
    Finished {
        /// When.
        at: u64,
    },
    /// `secret restore` put the run's files back.
    Restored {
        /// When.
        at: u64,
        /// How many files.
        files: usize,
    },
    /// A record of a later version: kept, not understood.
    #[serde(other)]
    Other,
}

impl JournalRecord {
    /// When it was written, for the records that say.
    pub fn at(&self) -> Option<u64> {
        match self {
            JournalRecord::Run { at, .. }
            | JournalRecord::Resumed { at }
            | JournalRecord::Start { at, .. }
            | JournalRecord::Done { at, .. }
            | JournalRecord::Failed { at, .. }
            | JournalRecord::Finished { at }
            | JournalRecord::Restored { at, .. } => Some(*at),
            JournalRecord::Removed { .. }
            | JournalRecord::Saved { .. }
            | JournalRecord::Kept { .. }
            | JournalRecord::Node { .. }
            | JournalRecord::Other => None,
        }
    }
}

/// How one node fared in a step driving other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeResult {
    /// It did what the step asked.
    Ok,
    /// It could not (the detail says why).
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::facts;
    use serde_json::json;

    #[test]
    fn journals_written_before_1_6_read_as_typed_records() {
        let lines = [
            json!({"event": "run", "workflow": "secret-regenerate", "at": 100}),
            json!({"step": "preflight", "event": "start", "at": 100}),
            json!({"step": "preflight", "event": "done", "at": 101, "facts": {"servers": 3}}),
            json!({"step": "backup-and-remove", "event": "removed", "path": "/etc/a", "backup": "/b/etc/a"}),
            json!({"step": "rejoin-nodes", "event": "node", "node": "agent-a", "host": null, "address": "10.0.0.2", "result": "ok", "detail": "set up"}),
            json!({"step": "run-setup", "event": "failed", "at": 103, "error": "disk full"}),
            json!({"event": "finished", "at": 104}),
            json!({"event": "restored", "at": 105, "files": 2}),
            json!({"event": "from-the-future", "x": 1}),
        ];
        let records: Vec<JournalRecord> = lines
            .iter()
            .map(|l| serde_json::from_value(l.clone()).unwrap())
            .collect();
        let JournalRecord::Done { facts, .. } = &records[2] else {
            panic!("{:?}", records[2])
        };
        assert_eq!(facts.get(&facts::SERVERS).unwrap(), Some(3));
        assert!(matches!(
            &records[4],
            JournalRecord::Node {
                result: NodeResult::Ok,
                ..
            }
        ));
        assert_eq!(records[8], JournalRecord::Other);
        // Written back, a record keeps the shape older readers know.
        for (line, record) in lines.iter().zip(&records).take(8) {
            let mut again = serde_json::to_value(record).unwrap();
            if let (Some(a), Some(b)) = (again.as_object_mut(), line.as_object()) {
                a.retain(|k, _| b.contains_key(k));
            }
            assert_eq!(&again, line);
        }
    }
}
