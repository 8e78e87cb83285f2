//! Steps placed on node groups: a step that drives other nodes (`rejoin-nodes`) gives the engine
//! its nodes in groups, each with its pace — the other Mesh servers one at a time (a server
//! that fails stops the step before the next one is touched), the agents in parallel, bounded —
//! and the command that reaches one node. Each node's result goes to the run's journal the
//! moment it is known, so `--resume` goes back only to the nodes that did not make it.

use crate::fanout::failed_run;
use crate::nodes::Target;
use crate::services::{Exec, ExecMany, ExecResult};
use crate::step::{JournalRecord, NodeLine, NodeResult, NodeStatus, StepCall};
use crate::workflow::{journal, RunState};
use crate::{Host, PluginError};

/// How the nodes of a group are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// One node after the other; the first failure stops the step.
    OneAtATime,
    /// At most this many at a time; every node is tried.
    Parallel(usize),
}

/// Nodes driven alike, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    /// One at a time, or how many at once.
    pub pace: Pace,
    /// The nodes, in order.
    pub targets: Vec<Target>,
}

/// What the nodes of a step gave: a line per node, and the nodes that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Driven {
    /// A line per node, in the order driven.
    pub lines: Vec<NodeLine>,
    /// The nodes that failed (or were not reached).
    pub failed: Vec<Target>,
}

/// What reaches one node: its command, or why it cannot be reached (a name from Consul or LDAP
/// that may not go into the transport's words).
pub type ExecFor<'a> = dyn Fn(&Target) -> Result<Exec, String> + 'a;

/// Runs `exec_for(node)` on every node of `groups`, group after group; a group with a failed
/// node stops the step there (the nodes after it are "not tried"). Nodes an earlier attempt of
/// the run set up are not run again. `done` is the detail of a node that succeeded.
pub fn drive(
    host: &Host<'_>,
    call: &StepCall,
    groups: &[NodeGroup],
    exec_for: &ExecFor<'_>,
    done: &str,
) -> Result<Driven, PluginError> {
    // A dry run keeps no journal; a new run's journal has no node yet.
    let earlier = if call.dry_run {
        RunState::default()
    } else {
        RunState::load(host, &call.run).unwrap_or_default()
    };
    let mut driven = Driven::default();
    for group in groups {
        let mut pending = Vec::new();
        for target in &group.targets {
            if earlier.node_done(&call.step, &target.node) {
                driven
                    .lines
                    .push(line(target, NodeStatus::Earlier, "earlier attempt"));
            } else {
                pending.push(target);
            }
        }
        if let Some(first) = driven.failed.first() {
            let why = format!("not tried: {} failed first", first.node);
            for target in pending {
                driven.lines.push(line(target, NodeStatus::NotTried, &why));
            }
            continue;
        }
        match group.pace {
            Pace::OneAtATime => one_at_a_time(host, call, &pending, exec_for, done, &mut driven)?,
            Pace::Parallel(parallel) => {
                let (ready, refused) = commands(&pending, exec_for);
                for (target, why) in refused {
                    record(host, call, target, &not_reached(why), done, &mut driven)?;
                }
                let (targets, execs): (Vec<&Target>, Vec<Exec>) = ready.into_iter().unzip();
                let results = run_many(host, &targets, execs, parallel)?;
                for (target, result) in targets.iter().zip(&results) {
                    record(host, call, target, result, done, &mut driven)?;
                }
            }
        }
    }
    Ok(driven)
}

/// The nodes given a command, and those refused one with why.
type Commands<'t> = (Vec<(&'t Target, Exec)>, Vec<(&'t Target, String)>);

/// Each node's command, or why it has none.
fn commands<'t>(pending: &[&'t Target], exec_for: &ExecFor<'_>) -> Commands<'t> {
    let mut ready = Vec::new();
    let mut refused = Vec::new();
    for target in pending {
        match exec_for(target) {
            Ok(exec) => ready.push((*target, exec)),
            Err(why) => refused.push((*target, why)),
        }
    }
    (ready, refused)
}

/// A node not run at all: why, as a failure of its command.
fn not_reached(why: String) -> ExecResult {
    ExecResult {
        output: None,
        error: Some(crate::services::ServiceFailure {
            kind: crate::services::ServiceErrorKind::Invalid,
            message: why,
            hint: None,
            exit_code: None,
        }),
    }
}

fn one_at_a_time(
    host: &Host<'_>,
    call: &StepCall,
    pending: &[&Target],
    exec_for: &ExecFor<'_>,
    done: &str,
    driven: &mut Driven,
) -> Result<(), PluginError> {
    for (at, target) in pending.iter().enumerate() {
        let result = match exec_for(target) {
            Ok(exec) => run_many(host, &[target], vec![exec], 1)?.remove(0),
            Err(why) => not_reached(why),
        };
        record(host, call, target, &result, done, driven)?;
        if !driven.failed.is_empty() {
            let why = format!("not tried: {} failed first", target.node);
            for later in &pending[at + 1..] {
                driven.lines.push(line(later, NodeStatus::NotTried, &why));
            }
            break;
        }
    }
    Ok(())
}

fn run_many(
    host: &Host<'_>,
    targets: &[&Target],
    execs: Vec<Exec>,
    parallel: usize,
) -> Result<Vec<ExecResult>, PluginError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    Ok(host
        .call(&ExecMany {
            execs,
            labels: targets.iter().map(|t| t.reach().to_owned()).collect(),
            parallel: parallel.max(1),
        })?
        .results)
}

/// One node's result: journaled at once (not under `--dry-run`), audited, and in the table.
fn record(
    host: &Host<'_>,
    call: &StepCall,
    target: &Target,
    result: &ExecResult,
    done: &str,
    driven: &mut Driven,
) -> Result<(), PluginError> {
    let (status, detail) = outcome(result, done);
    if status != NodeStatus::DryRun {
        journal(
            host,
            &call.run,
            &JournalRecord::Node {
                step: call.step.clone(),
                node: target.node.clone(),
                host: target.host.clone(),
                address: target.address.clone(),
                result: if status.is_done() {
                    NodeResult::Ok
                } else {
                    NodeResult::Failed
                },
                detail: detail.clone(),
            },
        )?;
        host.audit(
            &call.step,
            &target.node,
            if status.is_done() { "ok" } else { "failed" },
        );
    }
    if status == NodeStatus::Failed {
        driven.failed.push(target.clone());
    }
    driven.lines.push(line(target, status, &detail));
    Ok(())
}

fn line(target: &Target, status: NodeStatus, detail: &str) -> NodeLine {
    NodeLine {
        target: target.clone(),
        status,
        detail: detail.to_owned(),
    }
}

/// What a node's command run means: done, or why not.
fn outcome(result: &ExecResult, done: &str) -> (NodeStatus, String) {
    match (&result.output, &result.error) {
        (Some(o), _) if o.dry_run => (NodeStatus::DryRun, "dry run".to_owned()),
        (Some(o), _) if o.status == Some(0) => (NodeStatus::Ok, done.to_owned()),
        (Some(o), _) => (NodeStatus::Failed, failed_run(o)),
        (None, Some(e)) => (NodeStatus::Failed, e.message.clone()),
        (None, None) => (NodeStatus::Failed, "no answer".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ExecOutput;

    fn failed_with(status: i32, stderr: &str) -> (NodeStatus, String) {
        outcome(
            &ExecResult::from(Ok(ExecOutput {
                status: Some(status),
                stderr: stderr.to_owned(),
                ..Default::default()
            })),
            "set up",
        )
    }

    #[test]
    fn a_failed_node_is_explained_by_the_reason_not_by_the_advice_after_it() {
        // What the node's carbonio-mesh prints when one of its own steps fails (seen through a
        // real sshd): the reason, then indented advice for whoever is at the node.
        let (status, detail) = failed_with(
            5,
            "secret rejoin: step failed: 'service-discover' is not installed (not found in PATH)\n  \
             Continue with: carbonio-mesh secret rejoin --resume --run 17-2\n  \
             Or go back:    carbonio-mesh secret restore 17-2\n",
        );
        assert_eq!(status, NodeStatus::Failed);
        assert_eq!(
            detail,
            "exit 5: secret rejoin: step failed: 'service-discover' is not installed (not found in PATH)"
        );
        // ssh's own failures: its last line.
        let (_, detail) = failed_with(
            255,
            "No ED25519 host key is known for mail.example.com and you have requested strict \
             checking.\nHost key verification failed.\n",
        );
        assert_eq!(detail, "exit 255: Host key verification failed.");
        let ok = outcome(
            &ExecResult::from(Ok(ExecOutput {
                status: Some(0),
                ..Default::default()
            })),
            "set up",
        );
        assert_eq!(ok, (NodeStatus::Ok, "set up".to_owned()));
    }
}
