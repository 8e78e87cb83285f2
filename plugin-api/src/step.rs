//! Workflow steps (added in 1.6): what a plugin declares about each step it provides, what a
//! step is given and what it answers, the facts steps pass on, and the run journal's records.
//!
//! A workflow (`secret-regenerate`, `secret-rejoin`) is a list of named steps. The plugin that
//! runs a workflow declares it ([`WorkflowSpec`]) and the steps it provides ([`StepSpec`]), each
//! with its default place. The host builds the workflow from those manifests and the site's
//! configuration (`[steps.NAME] plugin = "..."`, `exec = [...]`, `before`/`after`), checks it
//! before anything runs, and hands a step of another plugin a [`StepCall`]; the step answers a
//! [`StepOutcome`]. Every start, end and fact goes to the run's journal as a [`JournalRecord`]
//! before the next step starts, which is what makes a run resumable.
//!
//! # A step in another plugin, complete
//!
//! ```
//! use carbonio_mesh_plugin_api::step::{facts, StepCall, StepOutcome, StepSpec};
//! use carbonio_mesh_plugin_api::{export_plugin, Host, Manifest, Plugin, PluginError, Request, Response};
//!
//! pub struct Site;
//!
//! impl Plugin for Site {
//!     fn manifest() -> Manifest {
//!         Manifest::new("site-x", "1.0.0", "Our own steps").with_step(
//!             StepSpec::new("announce", "tell the admins a regeneration starts")
//!                 .in_workflow_before("secret-regenerate", "stop-service")
//!                 .needs_fact(&facts::LEADER_IP),
//!         )
//!     }
//!
//!     fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
//!         Err(PluginError::usage("site-x only provides steps"))
//!     }
//!
//!     fn run_step(host: &Host<'_>, call: &StepCall) -> Result<StepOutcome, PluginError> {
//!         let leader = call.facts.require(&facts::LEADER_IP)?;
//!         host.info(&format!("run {} on leader {leader}", call.run));
//!         Ok(StepOutcome::new(format!("announced run {}", call.run)))
//!     }
//! }
//!
//! export_plugin!(Site);
//! # fn main() {}
//! ```

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{ArgValue, Args, PluginError};
use crate::secret::SecretText;
use crate::target::Target;

/// A workflow a plugin runs (its command drives it), declared in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    /// The workflow's name (`secret-regenerate`).
    pub name: String,
    /// What it does, one line.
    pub about: String,
    /// The command line that shows the workflow resolved (`carbonio-mesh secret plan`), named
    /// in the host's messages about it (added in 1.7; see [`Manifest::plan`](crate::Manifest::plan)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// A workflow step a plugin provides (`name` and `about` since 1.1, the rest since 1.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// The step's name (lower-case words joined by dashes).
    pub name: String,
    /// What it does, one line.
    pub about: String,
    /// What must be there before the step runs.
    #[serde(default, skip_serializing_if = "StepNeeds::is_empty")]
    pub needs: StepNeeds,
    /// The facts the step records for later steps, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides: Vec<String>,
    /// The step changes the system (under `--dry-run` it only says what it would do).
    #[serde(default)]
    pub changes_system: bool,
    /// The workflows the step belongs to by default, and where in each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<StepPlace>,
    /// A step carried out by a command unless the site configures another (the transport a
    /// step uses to reach other nodes): its default argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<StepCommand>,
}

/// What a step needs before it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNeeds {
    /// The run's new password (the run asks for it once, before the first step that needs it).
    #[serde(default)]
    pub password: bool,
    /// Facts an earlier step must have recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
}

impl StepNeeds {
    fn is_empty(&self) -> bool {
        !self.password && self.facts.is_empty()
    }
}

/// Where a step goes in a workflow: after the step named by `after`, before the one named by
/// `before`, or (neither) at the end of the steps declared so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlace {
    /// The workflow.
    pub workflow: String,
    /// Goes right before this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Goes right after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The default command of a command step: argv with placeholders the step fills in, and
/// whether the run's new password goes to its standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCommand {
    /// The program and its arguments, with placeholders.
    pub argv: Vec<String>,
    /// The run's new password goes to its standard input.
    #[serde(default)]
    pub password_stdin: bool,
}

impl StepSpec {
    /// A step named `name` needing nothing, recording nothing, changing nothing.
    pub fn new(name: &str, about: &str) -> Self {
        StepSpec {
            name: name.to_owned(),
            about: about.to_owned(),
            ..StepSpec::default()
        }
    }

    /// Part of `workflow`, after the steps declared before it.
    pub fn in_workflow(mut self, workflow: &str) -> Self {
        self.workflows.push(StepPlace {
            workflow: workflow.to_owned(),
            ..StepPlace::default()
        });
        self
    }

    /// Part of `workflow`, just before `step`.
    pub fn in_workflow_before(mut self, workflow: &str, step: &str) -> Self {
        self.workflows.push(StepPlace {
            workflow: workflow.to_owned(),
            before: Some(step.to_owned()),
            after: None,
        });
        self
    }

    /// Part of `workflow`, just after `step`.
    pub fn in_workflow_after(mut self, workflow: &str, step: &str) -> Self {
        self.workflows.push(StepPlace {
            workflow: workflow.to_owned(),
            before: None,
            after: Some(step.to_owned()),
        });
        self
    }

    /// It needs the run's new password.
    pub fn needs_password(mut self) -> Self {
        self.needs.password = true;
        self
    }

    /// It needs `fact`, recorded by an earlier step.
    pub fn needs_fact<T>(mut self, fact: &FactKey<T>) -> Self {
        self.needs.facts.push(fact.name().to_owned());
        self
    }

    /// It records `fact` for the steps after it.
    pub fn provides<T>(mut self, fact: &FactKey<T>) -> Self {
        self.provides.push(fact.name().to_owned());
        self
    }

    /// It changes the system (a dry run shows it as a change).
    pub fn changes_system(mut self) -> Self {
        self.changes_system = true;
        self
    }

    /// A command step: carried out by `argv` unless the site configures another command.
    pub fn command<S: AsRef<str>>(
        mut self,
        argv: impl IntoIterator<Item = S>,
        password_stdin: bool,
    ) -> Self {
        self.command = Some(StepCommand {
            argv: argv.into_iter().map(|s| s.as_ref().to_owned()).collect(),
            password_stdin,
        });
        self
    }
}

/// The name and type of a fact: `facts.require(&LEADER_IP)` is a `String`, checked once here
/// instead of `facts["leader_ip"].as_str()` at every use.
pub struct FactKey<T> {
    name: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl<T> FactKey<T> {
    /// The key of the fact `name`.
    pub const fn new(name: &'static str) -> Self {
        FactKey {
            name,
            kind: PhantomData,
        }
    }

    /// The fact's name in the journal.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// The facts of the Mesh workflows that steps of other plugins may read.
pub mod facts {
    use super::FactKey;

    /// The Mesh leader's address (find-leader).
    pub const LEADER_IP: FactKey<String> = FactKey::new("leader_ip");
    /// The address this host's service-discover is set up on (check-on-leader, node-preflight).
    pub const SETUP_IP: FactKey<String> = FactKey::new("setup_ip");
    /// Consul's ACL bootstrap reset index (read-reset-index).
    pub const RESET_INDEX: FactKey<u64> = FactKey::new("reset_index");
    /// The reset file written into Consul's data directory (write-reset-file).
    pub const RESET_FILE: FactKey<String> = FactKey::new("reset_file");
    /// How many Mesh servers and agents Consul listed before anything changed (preflight).
    pub const SERVERS: FactKey<u64> = FactKey::new("servers");
    /// How many agents Consul listed before anything changed (preflight).
    pub const AGENTS: FactKey<u64> = FactKey::new("agents");
    /// The AccessorID of the bootstrap token before the run (preflight), of a token the run's
    /// own bootstrap made (read-reset-index), and of the new one (verify).
    pub const OLD_ACCESSOR: FactKey<String> = FactKey::new("old_accessor");
    /// The AccessorID of a token the run's own bootstrap made (read-reset-index).
    pub const INTERIM_ACCESSOR: FactKey<String> = FactKey::new("interim_accessor");
    /// The AccessorID of the new bootstrap token (verify).
    pub const NEW_ACCESSOR: FactKey<String> = FactKey::new("new_accessor");
    /// The file a node's new archive comes from (`secret rejoin --archive FILE`).
    pub const ARCHIVE_FILE: FactKey<String> = FactKey::new("archive_file");
}

/// What a command's `{WORD}` stands for: `{run}` the run's name; `{ip}` and `{leader}` (their
/// names since 1.3) the facts `setup_ip` and `leader_ip`; in a transport (a command reaching
/// another node) `{node}`, `{host}` and `{address}` that node's Consul node name, hostname (else
/// address) and gossip address (1.7); any other `{NAME}` the fact `NAME`. A command step needs
/// every fact its words name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder<'a> {
    /// `{run}`: the run's name.
    Run,
    /// `{node}`: the Consul node name of the node a transport reaches.
    Node,
    /// `{host}`: that node's Carbonio hostname, else its address.
    Host,
    /// `{address}`: that node's gossip address.
    Address,
    /// A fact, by name.
    Fact(&'a str),
}

/// Every `{WORD}` in `arg`, in order, as what it stands for.
pub fn placeholders(arg: &str) -> impl Iterator<Item = (&str, Placeholder<'_>)> {
    arg.match_indices('{').filter_map(move |(at, _)| {
        let rest = &arg[at + 1..];
        let end = rest.find('}')?;
        let word = &rest[..end];
        let valid = !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return None;
        }
        let meaning = match word {
            "run" => Placeholder::Run,
            "node" => Placeholder::Node,
            "host" => Placeholder::Host,
            "address" => Placeholder::Address,
            "ip" => Placeholder::Fact(facts::SETUP_IP.name()),
            "leader" => Placeholder::Fact(facts::LEADER_IP.name()),
            fact => Placeholder::Fact(fact),
        };
        Some((&arg[at..at + end + 2], meaning))
    })
}

/// What a command's placeholders are filled from: the run, its facts, and for a transport the
/// node it reaches.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    /// The run's name, for `{run}`.
    pub run: &'a str,
    /// The run's facts, for `{ip}`, `{leader}` and `{FACT}` (none: a transport only).
    pub facts: Option<&'a Facts>,
    /// The node a transport reaches, for `{node}`, `{host}` and `{address}`.
    pub target: Option<&'a Target>,
}

impl Fill<'_> {
    /// `word` with every placeholder this fill knows replaced; the others stay as written (a
    /// shell's `${var}` stays the shell's).
    pub fn word(&self, word: &str) -> String {
        let mut filled = word.to_owned();
        for (text, meaning) in placeholders(word) {
            let value = match (meaning, self.target) {
                (Placeholder::Run, _) => Some(self.run.to_owned()),
                (Placeholder::Node, Some(target)) => Some(target.node.clone()),
                (Placeholder::Host, Some(target)) => Some(target.reach().to_owned()),
                (Placeholder::Address, Some(target)) => Some(target.address.clone()),
                (Placeholder::Fact(fact), _) => self.facts.and_then(|f| f.text(fact)),
                _ => None,
            };
            if let Some(value) = value {
                filled = filled.replace(text, &value);
            }
        }
        filled
    }

    /// Every word of `argv` filled in.
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        argv.iter().map(|w| self.word(w)).collect()
    }
}

/// A fact is there but not of its key's type.
#[derive(Debug, thiserror::Error)]
#[error("fact '{name}' is not what it should be: {source}")]
pub struct FactError {
    /// The fact's name.
    pub name: &'static str,
    /// Why its value does not decode.
    pub source: serde_json::Error,
}

impl From<FactError> for PluginError {
    fn from(error: FactError) -> Self {
        PluginError::operation(error.to_string())
            .hint("the run's journal was changed or written by another version: start a new run")
    }
}

/// What the steps of a run learnt, by name; kept in the journal, so never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Facts(BTreeMap<String, Value>);

impl Facts {
    /// No facts.
    pub fn new() -> Self {
        Facts::default()
    }

    /// The fact, if a step recorded it.
    pub fn get<T: DeserializeOwned>(&self, key: &FactKey<T>) -> Result<Option<T>, FactError> {
        self.0
            .get(key.name)
            .map(|value| {
                T::deserialize(value).map_err(|source| FactError {
                    name: key.name,
                    source,
                })
            })
            .transpose()
    }

    /// The fact an earlier step must have recorded; its absence says how to go on.
    pub fn require<T: DeserializeOwned>(&self, key: &FactKey<T>) -> Result<T, PluginError> {
        self.get(key)?.ok_or_else(|| {
            PluginError::operation(format!(
                "the journal has no '{}' from an earlier step",
                key.name
            ))
            .hint("run the workflow from its start (`carbonio-mesh secret plan` shows which step provides it)")
        })
    }

    /// Records `value` under `key`.
    pub fn set<T: Serialize>(&mut self, key: &FactKey<T>, value: &T) {
        // A fact type that cannot be JSON is a programming error caught by the first test.
        let value = serde_json::to_value(value).expect("a fact is JSON");
        self.0.insert(key.name.to_owned(), value);
    }

    /// Records a fact of a site command, by the name it was declared with (`provides`).
    pub fn set_raw(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }

    /// Whether a fact `name` was recorded.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Adds `other`'s facts (theirs win).
    pub fn extend(&mut self, other: Facts) {
        self.0.extend(other.0);
    }

    /// A fact as text, for a command's `{NAME}`: a string as it is, a number or boolean
    /// written out; `None` for anything else.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(text) => Some(text.clone()),
            value @ (Value::Number(_) | Value::Bool(_)) => Some(value.to_string()),
            _ => None,
        }
    }

    /// The names of the facts recorded.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether no fact was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a step of another plugin is given (the host sends it as [`crate::Request::step`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCall {
    /// The workflow the step runs in.
    pub workflow: String,
    /// The step asked for.
    pub step: String,
    /// The run's name (`carbonio-mesh secret show RUN` follows it).
    pub run: String,
    /// Under `--dry-run` the host records changes instead of making them; say what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// The facts the earlier steps recorded.
    #[serde(default)]
    pub facts: Facts,
    /// The run's new password, when the step declared `needs.password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<SecretText>,
    /// The arguments of the command running the workflow (`--nodes`, `--parallel`, ...).
    #[serde(default)]
    pub args: BTreeMap<String, ArgValue>,
    /// Who started the run: the login name behind `sudo` when there is one (filled in by the host).
    #[serde(default)]
    pub started_by: String,
    /// The user Consul runs as (`[mesh] service_user`, 1.7).
    #[serde(default)]
    pub service_user: String,
    /// What the run read on standard input after the password (1.7): the archive of `secret
    /// rejoin --input-stdin`. Only the running plugin's own steps are given it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<SecretText>,
}

impl Args for StepCall {
    fn args(&self) -> &BTreeMap<String, ArgValue> {
        &self.args
    }
}

/// A finished step: a line for the step table, the facts it recorded, each node's result when
/// it drove other nodes (1.7), and an optional report printed below the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// One line for the step table.
    pub detail: String,
    /// The facts recorded.
    #[serde(default)]
    pub facts: Facts,
    /// A report printed below the table (a per-node result).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub report: String,
    /// The nodes the step drove, each with its result: a table below the run's, and part of
    /// `--format json`'s document.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeLine>,
}

/// One node's result in a step that drives other nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLine {
    /// The node, under its three names.
    #[serde(flatten)]
    pub target: Target,
    /// What became of it.
    pub status: NodeStatus,
    /// Why, or what it answered.
    pub detail: String,
}

/// What became of one node in a step that drives other nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Done now.
    Ok,
    /// Done by an earlier attempt of the run (`--resume` does not go there again).
    Earlier,
    /// Tried and failed (or not reached): `--resume` tries it again.
    Failed,
    /// Not tried: a node before it in its group failed, or an earlier group did.
    NotTried,
    /// Left out by the plan (a failed member without `--include-failed`).
    Skipped,
    /// Under `--dry-run`: what would be run there was recorded.
    DryRun,
}

impl NodeStatus {
    /// As the node table shows it.
    pub fn word(self) -> &'static str {
        match self {
            NodeStatus::Ok => "ok",
            NodeStatus::Earlier => "ok",
            NodeStatus::Failed => "FAILED",
            NodeStatus::NotTried => "not tried",
            NodeStatus::Skipped => "skipped",
            NodeStatus::DryRun => "would run",
        }
    }

    /// The node is set up (now or by an earlier attempt).
    pub fn is_done(self) -> bool {
        matches!(self, NodeStatus::Ok | NodeStatus::Earlier)
    }
}

/// A failed step: why (with its fix and exit code), and what it did before it failed — the
/// nodes it drove with each one's result, a report — shown below the run's table like a
/// finished step's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// Boxed: a step's result is mostly `Ok`, and stays small.
    pub error: Box<PluginError>,
    /// The nodes it drove before it failed, each with its result.
    pub nodes: Vec<NodeLine>,
    /// Free text shown below the step's nodes.
    pub report: String,
    /// What the step learnt before it failed, kept in the journal for the steps of a resumed
    /// run (a token a half-done setup made, to revoke with the old one).
    pub facts: Facts,
}

impl StepError {
    /// `error`, with the nodes the step drove before it.
    pub fn with_nodes(error: PluginError, nodes: Vec<NodeLine>) -> Self {
        StepError {
            error: Box::new(error),
            nodes,
            report: String::new(),
            facts: Facts::new(),
        }
    }

    /// Records a fact learnt before the failure.
    pub fn fact<T: Serialize>(mut self, key: &FactKey<T>, value: &T) -> Self {
        self.facts.set(key, value);
        self
    }

    /// Adds free text shown below the step's nodes.
    pub fn report(mut self, report: impl Into<String>) -> Self {
        self.report = report.into();
        self
    }
}

impl From<PluginError> for StepError {
    fn from(error: PluginError) -> Self {
        StepError::with_nodes(error, Vec::new())
    }
}

impl From<FactError> for StepError {
    fn from(error: FactError) -> Self {
        StepError::from(PluginError::from(error))
    }
}

impl StepOutcome {
    /// An outcome with `detail` and no fact.
    pub fn new(detail: impl Into<String>) -> Self {
        StepOutcome {
            detail: detail.into(),
            ..StepOutcome::default()
        }
    }

    /// Records a fact for the steps after this one.
    pub fn fact<T: Serialize>(mut self, key: &FactKey<T>, value: &T) -> Self {
        self.facts.set(key, value);
        self
    }
}

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
    use serde_json::json;

    #[test]
    fn facts_are_read_by_their_typed_key() {
        let mut facts = Facts::new();
        facts.set(&facts::RESET_INDEX, &908);
        facts.set(&facts::LEADER_IP, &"10.0.0.1".to_owned());
        assert_eq!(facts.get(&facts::RESET_INDEX).unwrap(), Some(908));
        assert_eq!(facts.require(&facts::LEADER_IP).unwrap(), "10.0.0.1");
        let missing = facts.require(&facts::SETUP_IP).unwrap_err();
        assert!(
            missing.message.contains("'setup_ip'"),
            "{}",
            missing.message
        );
        // A fact of the wrong type is named, not read as a default.
        facts.set_raw("reset_index", json!("nine hundred"));
        let wrong = facts.get(&facts::RESET_INDEX).unwrap_err();
        assert_eq!(wrong.name, "reset_index");
    }

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

    #[test]
    fn placeholders_name_the_run_or_a_fact() {
        let found: Vec<_> = placeholders("--ip={ip}:{reset_index}/{run}{Bad}{}{leader").collect();
        assert_eq!(
            found,
            [
                ("{ip}", Placeholder::Fact("setup_ip")),
                ("{reset_index}", Placeholder::Fact("reset_index")),
                ("{run}", Placeholder::Run),
            ]
        );
        let mut known = Facts::new();
        known.set(&facts::RESET_INDEX, &908);
        assert_eq!(known.text("reset_index").as_deref(), Some("908"));
        // One filler for site commands and transports: what it does not know stays as written.
        let fill = Fill {
            run: "r1",
            facts: Some(&known),
            target: None,
        };
        assert_eq!(
            fill.word("{reset_index}/{run}/{host}/${HOME}"),
            "908/r1/{host}/${HOME}"
        );
    }

    #[test]
    fn a_transport_gets_the_hostname_or_address_never_the_node_name_as_host() {
        let target = Target {
            node: "agent-mail-example-com".into(),
            host: None,
            address: "192.168.56.110".into(),
        };
        let fill = Fill {
            run: "r1",
            facts: None,
            target: Some(&target),
        };
        assert_eq!(
            fill.argv(&[
                "ssh".into(),
                "root@{host}".into(),
                "{node}/{address}/{run}".into()
            ]),
            [
                "ssh",
                "root@192.168.56.110",
                "agent-mail-example-com/192.168.56.110/r1"
            ]
        );
    }

    #[test]
    fn a_1_1_step_declaration_still_parses() {
        let spec: StepSpec =
            serde_json::from_value(json!({"name": "verify", "about": "checks"})).unwrap();
        assert_eq!(spec, StepSpec::new("verify", "checks"));
    }
}
