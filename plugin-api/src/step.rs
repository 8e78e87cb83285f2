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

use serde::{Deserialize, Serialize};

use crate::messages::{ArgValue, Args, PluginError};
use crate::secret::SecretText;
use crate::target::Target;

pub use crate::fact::{facts, FactError, FactKey, Facts};
pub use crate::journal::{JournalRecord, NodeResult};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
