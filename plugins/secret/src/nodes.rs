//! The `rejoin-nodes` step: after the leader has new secrets, every other node is set up again
//! through the configured transport (by default `ssh root@NODE carbonio-mesh secret rejoin`),
//! a bounded number at a time, each node's result journaled so `--resume` retries only the
//! nodes that did not make it.

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::{ConsulRequest, Exec, ExecArg, ExecMany, WorkflowSteps};
use carbonio_mesh_plugin_api::{PluginError, Table};
use serde_json::{json, Value};

use crate::steps::{Outcome, StepContext};

/// The nodes `--nodes` names: `all` is every member but this one (the leader, by its address).
fn targets(ctx: &StepContext<'_>, nodes: &str) -> Result<Vec<String>, PluginError> {
    if nodes != "all" {
        return Ok(nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect());
    }
    #[derive(serde::Deserialize)]
    struct Member {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Addr")]
        addr: String,
    }
    let own = ctx
        .facts
        .get("setup_ip")
        .and_then(Value::as_str)
        .unwrap_or("");
    let members: Vec<Member> = ctx
        .host
        .consul_get(&ConsulRequest::get(&["v1", "agent", "members"]))?;
    Ok(members
        .into_iter()
        .filter(|m| m.addr != own)
        .map(|m| m.name)
        .collect())
}

/// Nodes an earlier attempt of this run already set up.
fn already_done(ctx: &StepContext<'_>) -> Vec<String> {
    ctx.host
        .call(&carbonio_mesh_plugin_api::services::JournalRead {
            run: Some(ctx.run.to_owned()),
        })
        .map(|j| j.records)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["event"] == "node" && r["result"] == "ok")
        .filter_map(|r| r["node"].as_str().map(str::to_owned))
        .collect()
}

pub fn rejoin_nodes(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let Some(nodes) = ctx.nodes else {
        return Ok(Outcome::new(
            "skipped (no --nodes): set up every other node again with the new archive",
        ));
    };
    let all = targets(ctx, nodes)?;
    let done = already_done(ctx);
    let pending: Vec<&String> = all.iter().filter(|n| !done.contains(n)).collect();
    let transport = ctx
        .host
        .call(&WorkflowSteps {
            workflow: "transport".to_owned(),
        })?
        .steps
        .pop()
        .and_then(|s| s.exec.map(|argv| (argv, s.password_stdin)))
        .ok_or_else(|| {
            PluginError::config(
                "the transport step must be a command: [steps.transport] exec = [...]",
            )
        })?;
    let (argv, password_stdin) = transport;
    let input = if password_stdin && !ctx.dry_run {
        let password = ctx
            .new_password
            .ok_or_else(|| PluginError::operation("no new password for the nodes"))?;
        let archive = ctx.host.read_file(mesh::ARCHIVE_PATH)?;
        Some(format!("{}\n{archive}", password.expose()))
    } else {
        None
    };
    let execs: Vec<Exec> = pending
        .iter()
        .map(|node| Exec {
            argv: argv
                .iter()
                .map(|w| ExecArg::from(w.replace("{node}", node).replace("{run}", ctx.run)))
                .collect(),
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
        labels: pending.iter().map(|n| (*n).clone()).collect(),
        parallel: ctx.parallel,
    })?;
    let mut table = Table::new(["Node", "Result", "Detail"]);
    let mut failed = Vec::new();
    let mut rows: Vec<(String, &str, String)> = done
        .iter()
        .filter(|n| all.contains(n))
        .map(|n| (n.clone(), "ok", "earlier attempt".to_owned()))
        .collect();
    for (node, result) in pending.iter().zip(answer.results) {
        let (ok, detail) = match (&result.output, &result.error) {
            (Some(o), _) if o.dry_run => (true, "dry run".to_owned()),
            (Some(o), _) if o.status == Some(0) => (true, "set up with the new archive".to_owned()),
            (Some(o), _) => (
                false,
                format!(
                    "exit {}: {}",
                    o.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "killed".into()),
                    o.stderr
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .trim()
                ),
            ),
            (None, Some(e)) => (false, e.message.clone()),
            (None, None) => (false, "no answer".to_owned()),
        };
        if !ctx.dry_run {
            crate::journal(
                ctx.host,
                ctx.run,
                json!({"step": "rejoin-nodes", "event": "node", "node": node, "result": if ok { "ok" } else { "failed" }, "detail": detail}),
            )?;
        }
        ctx.host
            .audit("secret rejoin", node, if ok { "ok" } else { "failed" });
        if !ok {
            failed.push((*node).clone());
        }
        rows.push(((*node).clone(), if ok { "ok" } else { "FAILED" }, detail));
    }
    for (node, result, detail) in &rows {
        table.push([node.as_str(), *result, detail.as_str()]);
    }
    let report = table.render();
    if !failed.is_empty() {
        let mut error = PluginError::operation(format!(
            "{} of {} node(s) not set up again: {}",
            failed.len(),
            all.len(),
            failed.join(", ")
        ))
        .hint("fix their reachability, then --resume: only these nodes are tried again");
        error.message.push_str(&format!("\n{report}"));
        return Err(error);
    }
    let mut outcome = Outcome::new(format!("{} node(s) set up again", all.len()));
    outcome.report = report;
    Ok(outcome)
}
