//! The `rejoin-nodes` step: after the leader has new secrets, every other node is set up again
//! through the configured transport (by default `ssh root@HOST carbonio-mesh secret rejoin`),
//! the engine driving the nodes and journaling each one's result, so `--resume` retries only
//! the nodes that did not make it.
//!
//! Which nodes is decided before anything changes and kept in the journal: once the leader has
//! a new CA the other nodes can no longer reach it over RPC, and its view of them soon changes.

use carbonio_mesh_plugin_api::fanout::{NodePlan, Transport};
use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::{Exec, LocalAddresses};
use carbonio_mesh_plugin_api::step::{FactKey, StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::workflow::{drive, NodeGroup, Pace};
use carbonio_mesh_plugin_api::{Args, Host, PluginError, StepCall};

/// The fact the nodes to set up again are recorded under.
pub const NODES: FactKey<NodePlan> = FactKey::new("nodes");

/// The command step that reaches a node.
const TRANSPORT: &str = "transport";

/// Decides the nodes for `--nodes` (before anything changes).
pub fn plan(host: &Host<'_>, call: &StepCall, nodes: &str) -> Result<NodePlan, PluginError> {
    let directory = NodeDirectory::load(host)?;
    let local = host.call(&LocalAddresses {})?.addresses;
    let mut plan = if nodes == "all" {
        NodePlan::all(&directory, &local, call.flag("include-failed"))
    } else {
        NodePlan::listed(&directory, &local, nodes)?
    };
    plan.notes = directory.unmapped;
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

/// The transport, refused when it is not a command or connects to the node name.
pub fn checked_transport(host: &Host<'_>) -> Result<Transport, PluginError> {
    Transport::configured(host, TRANSPORT)
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
    let exec_for = |target: &_| Exec {
        argv: transport.argv_for(target, &call.run),
        stdin: input.clone(),
        mutating: true,
        secrets: call
            .new_password
            .as_ref()
            .map(|p| vec![p.expose().to_owned()])
            .unwrap_or_default(),
        ..Exec::default()
    };
    let groups = [NodeGroup {
        pace: Pace::Parallel(call.parsed("parallel")?.unwrap_or(32)),
        targets: plan.targets.clone(),
    }];
    let driven = drive(
        host,
        call,
        &groups,
        &exec_for,
        "set up with the new archive",
    )?;
    let mut lines = driven.lines;
    for skipped in &plan.skipped {
        lines.push(carbonio_mesh_plugin_api::step::NodeLine {
            target: skipped.target.clone(),
            status: carbonio_mesh_plugin_api::step::NodeStatus::Skipped,
            detail: skipped.reason.clone(),
        });
    }
    let notes: String = plan.notes.iter().map(|n| format!("Note: {n}\n")).collect();
    if !driven.failed.is_empty() {
        let failed: Vec<String> = driven
            .failed
            .iter()
            .map(|t| format!("{} ({})", t.node, t.reach()))
            .collect();
        let error = PluginError::operation(format!(
            "{} of {} node(s) not set up again: {}",
            failed.len(),
            plan.targets.len(),
            failed.join(", ")
        ))
        .hint("fix their reachability, then --resume: only these nodes are tried again");
        return Err(StepError::with_nodes(error, lines).report(notes));
    }
    let mut detail = format!("{} node(s) set up again", plan.targets.len());
    if !plan.skipped.is_empty() {
        detail.push_str(&format!(", {} skipped", plan.skipped.len()));
    }
    Ok(Outcome {
        detail,
        report: notes,
        nodes: lines,
        ..Outcome::default()
    })
}

/// Where the regeneration applies, for its confirmation (filled in later commits).
pub fn scope(_host: &Host<'_>, _call: &StepCall) -> String {
    "on this node".to_owned()
}
