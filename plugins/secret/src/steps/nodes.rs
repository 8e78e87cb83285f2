//! The `rejoin-nodes` step: after the leader has new secrets, every other node is set up again
//! through the configured transport (by default `ssh root@HOST carbonio-mesh secret rejoin`),
//! the engine driving the nodes and journaling each one's result, so `--resume` retries only
//! the nodes that did not make it.
//!
//! Which nodes is decided before anything changes and kept in the journal: once the leader has
//! a new CA the other nodes can no longer reach it over RPC, and its view of them soon changes.

use carbonio_mesh_plugin_api::fanout::{NodePlan, Target};
use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::{Exec, LocalAddresses};
use carbonio_mesh_plugin_api::step::{
    FactKey, Facts, NodeLine, NodeStatus, StepError, StepOutcome as Outcome,
};
use carbonio_mesh_plugin_api::workflow::{drive, Driven, ExecFor, NodeGroup, Pace};
use carbonio_mesh_plugin_api::{Args, Host, PluginError, StepCall};

use super::raft;
use super::reach::checked_transport;
use super::topology::{self, TOPOLOGY};

/// The fact the nodes to set up again are recorded under.
pub const NODES: FactKey<NodePlan> = FactKey::new("nodes");

/// Decides the nodes for `--nodes` (before anything changes).
pub fn plan(host: &Host<'_>, call: &StepCall, nodes: &str) -> Result<NodePlan, PluginError> {
    let directory = NodeDirectory::load(host)?;
    let local = host.call(&LocalAddresses {})?.addresses;
    plan_from(&directory, &local, call, nodes)
}

fn plan_from(
    directory: &NodeDirectory,
    local: &[String],
    call: &StepCall,
    nodes: &str,
) -> Result<NodePlan, PluginError> {
    let mut plan = if nodes == "all" {
        NodePlan::all(directory, local, call.flag("include-failed"))
    } else {
        NodePlan::listed(directory, local, nodes)?
    };
    plan.notes = directory.unmapped.clone();
    Ok(plan)
}

/// The plan recorded before anything changed, or (preflight replaced by a site command) one
/// made now.
fn recorded_plan(host: &Host<'_>, call: &StepCall, nodes: &str) -> Result<NodePlan, PluginError> {
    match call.facts.get(&NODES)? {
        Some(plan) => Ok(plan),
        None => plan(host, call, nodes),
    }
}

/// The transport is a command step (the engine never runs it as a step of a workflow).
pub fn not_a_workflow_step(_host: &Host<'_>, _call: &StepCall) -> Result<Outcome, StepError> {
    Err(PluginError::config(
        "the transport is how rejoin-nodes reaches a node, not a step of a workflow",
    )
    .hint("remove it from [workflows]; configure it with [steps.transport] exec = [...]")
    .into())
}

pub fn rejoin_nodes(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let Some(nodes) = call.value("nodes") else {
        return Ok(Outcome::new(
            "skipped (no --nodes): set up every other node again with the new archive",
        ));
    };
    let plan = recorded_plan(host, call, nodes)?;
    let transport = checked_transport(host)?;
    let input = if transport.password_stdin && !call.dry_run {
        let password = call
            .new_password
            .as_ref()
            .ok_or_else(|| PluginError::operation("no new password for the nodes"))?;
        let archive = host.read_file(mesh::ARCHIVE_PATH)?;
        Some(format!("{}\n{archive}", password.expose()))
    } else {
        None
    };
    let exec_for = |target: &Target| -> Result<Exec, String> {
        Ok(Exec {
            argv: transport.command_for(target, &call.run)?,
            stdin: input.clone(),
            mutating: true,
            secrets: call
                .new_password
                .as_ref()
                .map(|p| vec![p.expose().to_owned()])
                .unwrap_or_default(),
            ..Exec::default()
        })
    };
    let parallel = call.parsed("parallel")?.unwrap_or(32);
    let groups = groups(&plan, parallel);
    let driven = drive_groups(host, call, &groups, &exec_for)?;
    let mut lines = driven.lines;
    lines.extend(plan.skipped.iter().map(|skipped| NodeLine {
        target: skipped.target.clone(),
        status: NodeStatus::Skipped,
        detail: skipped.reason.clone(),
    }));
    let notes: String = plan.notes.iter().map(|n| format!("Note: {n}\n")).collect();
    if !driven.failed.is_empty() {
        let error = not_set_up(&plan, &driven.failed, &lines);
        return Err(StepError::with_nodes(error, lines).report(notes));
    }
    Ok(Outcome {
        detail: summary(&plan, &groups, parallel, call.dry_run),
        report: notes,
        nodes: lines,
        ..Outcome::default()
    })
}

/// The servers one at a time, each a voter again before the next (several servers), every
/// server back with a failure tolerance before any agent, then the agents.
fn drive_groups(
    host: &Host<'_>,
    call: &StepCall,
    groups: &[NodeGroup; 2],
    exec_for: &ExecFor<'_>,
) -> Result<Driven, StepError> {
    const DONE: &str = "set up with the new archive";
    let raft = raft::topology(call)?
        .filter(|t| t.procedure == topology::Procedure::Servers && !call.dry_run);
    let token = match &raft {
        Some(_) => Some(raft::archive_token(host, call.new_password.as_ref())?),
        None => None,
    };
    let mut driven = Driven::default();
    for (at, server) in groups[0].targets.iter().enumerate() {
        let one = [NodeGroup {
            pace: Pace::OneAtATime,
            targets: vec![server.clone()],
        }];
        let result = drive(host, call, &one, exec_for, DONE)?;
        driven.lines.extend(result.lines);
        driven.failed.extend(result.failed);
        if !driven.failed.is_empty() {
            let why = format!("not tried: {} failed first", server.node);
            let later = groups[0].targets[at + 1..].iter().chain(&groups[1].targets);
            driven.lines.extend(later.map(|t| NodeLine {
                target: t.clone(),
                status: NodeStatus::NotTried,
                detail: why.clone(),
            }));
            return Ok(driven);
        }
        if let Some(token) = &token {
            raft::wait_voter(host, token, server)
                .map_err(|e| StepError::with_nodes(e, driven.lines.clone()))?;
        }
    }
    if let (Some(topology), Some(token)) = (&raft, &token) {
        raft::wait_healthy(host, token, topology.servers.len() + 1)
            .map_err(|e| StepError::with_nodes(e, driven.lines.clone()))?;
    }
    let agents = drive(host, call, &groups[1..], exec_for, DONE)?;
    driven.lines.extend(agents.lines);
    driven.failed.extend(agents.failed);
    Ok(driven)
}

/// The nodes in the order they are set up: the Mesh servers one at a time (each must hold the
/// new CA before the next, and before any agent asks one of them for its token), then the
/// agents, `parallel` at a time.
fn groups(plan: &NodePlan, parallel: usize) -> [NodeGroup; 2] {
    let (servers, agents): (Vec<Target>, Vec<Target>) =
        plan.targets.iter().cloned().partition(Target::is_server);
    [
        NodeGroup {
            pace: Pace::OneAtATime,
            targets: servers,
        },
        NodeGroup {
            pace: Pace::Parallel(parallel),
            targets: agents,
        },
    ]
}

/// `4 node(s) set up again: 2 servers one at a time, then 2 agents`.
fn summary(plan: &NodePlan, groups: &[NodeGroup; 2], parallel: usize, dry_run: bool) -> String {
    let agents = format!(
        "{} at most {parallel} at a time",
        counted(groups[1].targets.len(), "agent")
    );
    let order = match groups[0].targets.len() {
        0 => agents,
        n => format!("{} one at a time, then {agents}", counted(n, "server")),
    };
    let mut detail = if dry_run {
        format!("would set up {} node(s) again: {order}", plan.targets.len())
    } else {
        format!("{} node(s) set up again: {order}", plan.targets.len())
    };
    if !plan.skipped.is_empty() {
        detail.push_str(&format!(", {} skipped", plan.skipped.len()));
    }
    detail
}

/// The step's failure: which nodes are not set up, and whether the agents waited for a server.
fn not_set_up(plan: &NodePlan, failed: &[Target], lines: &[NodeLine]) -> PluginError {
    let names: Vec<String> = failed
        .iter()
        .map(|t| format!("{} ({})", t.node, t.reach()))
        .collect();
    let waiting = lines
        .iter()
        .filter(|l| l.status == NodeStatus::NotTried)
        .count();
    let mut message = format!(
        "{} of {} node(s) not set up again: {}",
        names.len(),
        plan.targets.len(),
        names.join(", ")
    );
    if waiting > 0 {
        message.push_str(&format!("; {waiting} not tried"));
    }
    let hint = if failed.iter().any(Target::is_server) {
        "a Mesh server failed, so nothing after it was tried (the agents need every server on the new CA): fix it, then --resume: only the nodes not set up yet are tried"
    } else {
        "fix their reachability, then --resume: only these nodes are tried again"
    };
    PluginError::operation(message).hint(hint)
}

/// `1 server`, `2 agents`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A new run's decisions before anything changes: the procedure the Mesh needs, the nodes
/// `--nodes` names, and a transport that can reach them. Recorded with the run: `--resume`
/// keeps them. A procedure the run cannot do (quorum lost, a Mesh server left out) is refused
/// here, before the confirmation.
pub fn decide(host: &Host<'_>, call: &StepCall) -> Result<Facts, PluginError> {
    let directory = NodeDirectory::load(host)?;
    let local = host.call(&LocalAddresses {})?.addresses;
    let topology = topology::read(host, &directory, &local)?;
    let mut facts = Facts::new();
    let plan = match call.value("nodes") {
        Some(nodes) => {
            checked_transport(host)?;
            let plan = plan_from(&directory, &local, call, nodes)?;
            facts.set(&NODES, &plan);
            Some(plan)
        }
        None => None,
    };
    topology::check(&topology, plan.as_ref())?;
    facts.set(&TOPOLOGY, &topology);
    Ok(facts)
}

/// Where a regeneration applies, for its confirmation: `on this node and 4 other nodes: 2
/// servers, 2 agents, over ssh`.
pub fn scope(host: &Host<'_>, call: &StepCall) -> String {
    let procedure = match call.facts.get(&TOPOLOGY) {
        Ok(Some(topology)) => format!(" ({})", topology.describe()),
        _ => String::new(),
    };
    let Ok(Some(plan)) = call.facts.get(&NODES) else {
        return format!("on this node{procedure}");
    };
    let servers = plan.targets.iter().filter(|t| t.is_server()).count();
    let agents = plan.targets.len() - servers;
    let how = match checked_transport(host) {
        Ok(transport) => match transport
            .argv
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
        {
            Some("ssh") => "over ssh".to_owned(),
            Some(program) => format!("through {program}"),
            None => "through the transport".to_owned(),
        },
        Err(_) => "through the transport".to_owned(),
    };
    format!(
        "on this node and {}: {}, {}, {how}{procedure}",
        counted(plan.targets.len(), "other node"),
        counted(servers, "server"),
        counted(agents, "agent"),
    )
}
