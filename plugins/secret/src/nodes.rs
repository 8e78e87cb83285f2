//! The `rejoin-nodes` step: after the leader has new secrets, every other node is set up again
//! through the configured transport (by default `ssh root@HOST carbonio-mesh secret rejoin`),
//! a bounded number at a time, each node's result journaled so `--resume` retries only the
//! nodes that did not make it.
//!
//! Which nodes is decided in `preflight`, before anything changes, and kept in the journal: once
//! the leader has a new gossip key the other nodes can no longer gossip with it, and its member
//! list soon shows them all as failed.

use carbonio_mesh_plugin_api::fanout::{self, NodePlan, Target};
use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, ExecMany, JournalRead, LocalAddresses, WorkflowSteps,
};
use carbonio_mesh_plugin_api::{PluginError, Table};

use crate::steps::StepContext;
use carbonio_mesh_plugin_api::step::{FactKey, JournalRecord, NodeResult, StepOutcome as Outcome};

/// The fact preflight records the plan under.
pub const NODES: FactKey<NodePlan> = FactKey::new("nodes");

/// Decides the nodes for `--nodes` (in preflight, before anything changes).
pub fn plan(ctx: &StepContext<'_>, nodes: &str) -> Result<NodePlan, PluginError> {
    let directory = NodeDirectory::load(ctx.host)?;
    let local = ctx.host.call(&LocalAddresses {})?.addresses;
    let mut plan = if nodes == "all" {
        NodePlan::all(&directory, &local, ctx.include_failed)
    } else {
        NodePlan::listed(&directory, &local, nodes)?
    };
    plan.notes = directory.unmapped;
    Ok(plan)
}

/// The plan preflight recorded, or (preflight replaced by a site command) one made now.
fn recorded_plan(ctx: &StepContext<'_>, nodes: &str) -> Result<NodePlan, PluginError> {
    match ctx.facts.get(&NODES)? {
        Some(plan) => Ok(plan),
        None => plan(ctx, nodes),
    }
}

/// The transport command and whether it takes the password and archive on standard input.
/// Refused when it connects to `{node}`: that is the Consul node name (`server-srv2-example-com`),
/// which resolves nowhere; a transport written before node names were understood does that.
pub fn transport(ctx: &StepContext<'_>) -> Result<(Vec<String>, bool), PluginError> {
    let step = ctx
        .host
        .call(&WorkflowSteps {
            workflow: "transport".to_owned(),
        })?
        .steps
        .pop();
    let Some((argv, password_stdin, defined_in)) =
        step.and_then(|s| s.exec.map(|argv| (argv, s.password_stdin, s.defined_in)))
    else {
        return Err(PluginError::config(
            "the transport step must be a command: [steps.transport] exec = [...]",
        ));
    };
    fanout::check_transport(&argv, &defined_in)?;
    Ok((argv, password_stdin))
}

/// The transport is a command step (the engine never runs it as a step of a workflow).
pub fn not_a_workflow_step(_ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    Err(PluginError::config(
        "the transport is how rejoin-nodes reaches a node, not a step of a workflow",
    )
    .hint("remove it from [workflows]; configure it with [steps.transport] exec = [...]"))
}

/// Nodes an earlier attempt of this run already set up.
fn already_done(ctx: &StepContext<'_>) -> Vec<String> {
    ctx.host
        .call(&JournalRead {
            run: Some(ctx.run.to_owned()),
        })
        .map(|j| j.records)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| match serde_json::from_value(r) {
            Ok(JournalRecord::Node {
                node,
                result: NodeResult::Ok,
                ..
            }) => Some(node),
            _ => None,
        })
        .collect()
}

/// What a node's transport run means: set up, or why not.
fn node_result(result: &carbonio_mesh_plugin_api::services::ExecResult) -> (bool, String) {
    match (&result.output, &result.error) {
        (Some(o), _) if o.dry_run => (true, "dry run".to_owned()),
        (Some(o), _) if o.status == Some(0) => (true, "set up with the new archive".to_owned()),
        (Some(o), _) => (
            false,
            format!(
                "exit {}: {}",
                o.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "killed".into()),
                fanout::failure_reason(&o.stderr)
            ),
        ),
        (None, Some(e)) => (false, e.message.clone()),
        (None, None) => (false, "no answer".to_owned()),
    }
}

pub fn rejoin_nodes(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let Some(nodes) = ctx.nodes else {
        return Ok(Outcome::new(
            "skipped (no --nodes): set up every other node again with the new archive",
        ));
    };
    let plan = recorded_plan(ctx, nodes)?;
    let done = already_done(ctx);
    let pending: Vec<&Target> = plan
        .targets
        .iter()
        .filter(|t| !done.contains(&t.node))
        .collect();
    let (argv, password_stdin) = transport(ctx)?;
    let input = if password_stdin && !ctx.dry_run {
        let password = ctx
            .new_password
            .ok_or_else(|| PluginError::operation("no new password for the nodes"))?;
        let archive = ctx.host.read_file(mesh::ARCHIVE_PATH)?;
        Some(format!("{}\n{archive}", password.expose()))
    } else {
        None
    };
    // A node whose names cannot go into the transport (they come from Consul and LDAP) is not
    // tried: it fails with the reason, like one the transport could not reach.
    let commands: Vec<Result<Vec<ExecArg>, String>> = pending
        .iter()
        .map(|target| fanout::transport_command(&argv, target, ctx.run))
        .collect();
    let reached: Vec<(&&Target, &Vec<ExecArg>)> = pending
        .iter()
        .zip(&commands)
        .filter_map(|(target, command)| command.as_ref().ok().map(|argv| (target, argv)))
        .collect();
    let execs: Vec<Exec> = reached
        .iter()
        .map(|(_, argv)| Exec {
            argv: argv.to_vec(),
            stdin: input.clone(),
            mutating: true,
            secrets: ctx
                .new_password
                .map(|p| vec![p.expose().to_owned()])
                .unwrap_or_default(),
            ..Exec::default()
        })
        .collect();
    let answer = ctx.host.call(&ExecMany {
        execs,
        labels: reached.iter().map(|(t, _)| t.reach().to_owned()).collect(),
        parallel: ctx.parallel,
    })?;
    let mut answers = answer.results.into_iter();
    let results: Vec<(bool, String)> = commands
        .iter()
        .map(|command| match command {
            Ok(_) => node_result(&answers.next().unwrap_or_default()),
            Err(why) => (false, why.clone()),
        })
        .collect();
    let mut rows: Vec<(&Target, &str, String)> = plan
        .targets
        .iter()
        .filter(|t| done.contains(&t.node))
        .map(|t| (t, "ok", "earlier attempt".to_owned()))
        .collect();
    let mut failed = Vec::new();
    for (target, (ok, detail)) in pending.iter().zip(results) {
        if !ctx.dry_run {
            crate::journal(
                ctx.host,
                ctx.run,
                &JournalRecord::Node {
                    step: "rejoin-nodes".to_owned(),
                    node: target.node.clone(),
                    host: target.host.clone(),
                    address: target.address.clone(),
                    result: if ok {
                        NodeResult::Ok
                    } else {
                        NodeResult::Failed
                    },
                    detail: detail.clone(),
                },
            )?;
        }
        ctx.host.audit(
            "secret rejoin",
            &target.node,
            if ok { "ok" } else { "failed" },
        );
        if !ok {
            failed.push(format!("{} ({})", target.node, target.reach()));
        }
        rows.push((target, if ok { "ok" } else { "FAILED" }, detail));
    }
    for skipped in &plan.skipped {
        rows.push((&skipped.target, "skipped", skipped.reason.clone()));
    }
    let report = render_nodes(&rows, &plan.notes);
    if !failed.is_empty() {
        let mut error = PluginError::operation(format!(
            "{} of {} node(s) not set up again: {}",
            failed.len(),
            plan.targets.len(),
            failed.join(", ")
        ))
        .hint("fix their reachability, then --resume: only these nodes are tried again");
        error.message.push_str(&format!("\n{report}"));
        return Err(error);
    }
    let mut detail = format!("{} node(s) set up again", plan.targets.len());
    if !plan.skipped.is_empty() {
        detail.push_str(&format!(", {} skipped", plan.skipped.len()));
    }
    let mut outcome = Outcome::new(detail);
    outcome.report = report;
    Ok(outcome)
}

/// The per-node table, then the notes on hostnames.
fn render_nodes(rows: &[(&Target, &str, String)], notes: &[String]) -> String {
    let mut table = Table::new(["Node", "Host", "Address", "Result", "Detail"]);
    for (target, result, detail) in rows {
        table.push([
            target.node.as_str(),
            target.host.as_deref().unwrap_or("-"),
            target.address.as_str(),
            result,
            detail.as_str(),
        ]);
    }
    let mut report = table.render();
    for note in notes {
        report.push_str(&format!("Note: {note}\n"));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_with(status: i32, stderr: &str) -> (bool, String) {
        node_result(&carbonio_mesh_plugin_api::services::ExecResult::from(Ok(
            carbonio_mesh_plugin_api::services::ExecOutput {
                status: Some(status),
                stderr: stderr.to_owned(),
                ..Default::default()
            },
        )))
    }

    #[test]
    fn a_failed_node_is_explained_by_the_reason_not_by_the_advice_after_it() {
        // What the node's carbonio-mesh prints when one of its own steps fails (seen through a
        // real sshd): the reason, then indented advice for whoever is at the node.
        let (ok, detail) = failed_with(
            5,
            "secret rejoin: step failed: 'service-discover' is not installed (not found in PATH)\n  \
             Continue with: carbonio-mesh secret rejoin --resume --run 17-2\n  \
             Or go back:    carbonio-mesh secret restore 17-2\n",
        );
        assert!(!ok);
        assert_eq!(
            detail,
            "exit 5: secret rejoin: step failed: 'service-discover' is not installed (not found in PATH)"
        );
        let (_, detail) = failed_with(
            4,
            "carbonio-mesh: error: plugin 'secret' refused: /x is writable by everyone (mode 0777)\n  \
             fix: chmod go-w /x\n",
        );
        assert_eq!(
            detail,
            "exit 4: carbonio-mesh: error: plugin 'secret' refused: /x is writable by everyone (mode 0777)"
        );
        // ssh's own failures: its last line.
        let (_, detail) = failed_with(
            255,
            "No ED25519 host key is known for mail.example.com and you have requested strict \
             checking.\nHost key verification failed.\n",
        );
        assert_eq!(detail, "exit 255: Host key verification failed.");
        // Nothing unindented: the last line still.
        let (_, detail) = failed_with(1, "  only indented\n\n");
        assert_eq!(detail, "exit 1: only indented");
    }
}
