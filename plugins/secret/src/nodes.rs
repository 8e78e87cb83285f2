//! The `rejoin-nodes` step: after the leader has new secrets, every other node is set up again
//! through the configured transport (by default `ssh root@HOST carbonio-mesh secret rejoin`),
//! a bounded number at a time, each node's result journaled so `--resume` retries only the
//! nodes that did not make it.
//!
//! Which nodes is decided in `preflight`, before anything changes, and kept in the journal: once
//! the leader has a new gossip key the other nodes can no longer gossip with it, and its member
//! list soon shows them all as failed.

use carbonio_mesh_plugin_api::consul::{ALIVE, FAILED};
use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::nodes::{Lookup, MeshNode, NodeDirectory};
use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, ExecMany, JournalRead, LocalAddresses, WorkflowSteps,
};
use carbonio_mesh_plugin_api::{PluginError, Table};
use serde::{Deserialize, Serialize};

use crate::steps::StepContext;
use carbonio_mesh_plugin_api::step::{FactKey, JournalRecord, NodeResult, StepOutcome as Outcome};

/// The fact preflight records the plan under.
pub const NODES: FactKey<NodePlan> = FactKey::new("nodes");

/// A node to set up again, under its three names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub node: String,
    pub host: Option<String>,
    pub address: String,
}

impl Target {
    /// What the transport connects to: the hostname (what host keys are known by), else the
    /// address; never the Consul node name, which resolves nowhere.
    fn reach(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.address)
    }
}

impl From<&MeshNode> for Target {
    fn from(node: &MeshNode) -> Self {
        Target {
            node: node.node.clone(),
            host: node.host.clone(),
            address: node.address.clone(),
        }
    }
}

/// A member `--nodes all` leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub target: Target,
    pub reason: String,
}

/// The nodes a run sets up again, decided before anything changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    pub targets: Vec<Target>,
    pub skipped: Vec<Skipped>,
    /// Why some hostnames are unknown (those nodes are reached by address).
    pub notes: Vec<String>,
}

/// Whether `node` is this host: the agent's own node when Consul said which, else a member
/// whose address is one of this host's.
fn is_this_host(directory: &NodeDirectory, local: &[String], node: &MeshNode) -> bool {
    match &directory.local_node {
        Some(own) => *own == node.node,
        None => local.contains(&node.address),
    }
}

/// `--nodes all`: alive members other than this host; failed ones only with
/// `--include-failed`; members that left never.
fn all_members(directory: &NodeDirectory, local: &[String], include_failed: bool) -> NodePlan {
    let mut plan = NodePlan::default();
    for node in &directory.nodes {
        if is_this_host(directory, local, node) {
            continue;
        }
        match node.status {
            ALIVE => plan.targets.push(node.into()),
            FAILED if include_failed => plan.targets.push(node.into()),
            FAILED => plan.skipped.push(Skipped {
                target: node.into(),
                reason: "failed member (--include-failed to try it)".to_owned(),
            }),
            _ => {}
        }
    }
    plan
}

/// `--nodes A,B,...`: each a node name, hostname or address of a member.
fn listed(
    directory: &NodeDirectory,
    local: &[String],
    list: &str,
) -> Result<NodePlan, PluginError> {
    let mut plan = NodePlan::default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let node = match directory.find(name) {
            Lookup::Found(node) => node,
            Lookup::Ambiguous(nodes) => {
                let names: Vec<String> = nodes.iter().map(|n| n.label()).collect();
                return Err(PluginError::usage(format!(
                    "--nodes: '{name}' fits several members: {}",
                    names.join(", ")
                ))
                .hint("name the one meant by its Consul node name"));
            }
            Lookup::NotFound => {
                return Err(PluginError::usage(format!(
                    "--nodes: no member is named '{name}' (by node name, hostname or address)"
                ))
                .hint("`carbonio-mesh members` lists them; a node that left the cluster cannot be set up from here"));
            }
        };
        if is_this_host(directory, local, node) {
            return Err(PluginError::usage(format!(
                "--nodes: {} is this host, which the run itself sets up",
                node.label()
            )));
        }
        let target = Target::from(node);
        if !plan.targets.contains(&target) {
            plan.targets.push(target);
        }
    }
    Ok(plan)
}

/// Decides the nodes for `--nodes` (in preflight, before anything changes).
pub fn plan(ctx: &StepContext<'_>, nodes: &str) -> Result<NodePlan, PluginError> {
    let directory = NodeDirectory::load(ctx.host)?;
    let local = ctx.host.call(&LocalAddresses {})?.addresses;
    let mut plan = if nodes == "all" {
        all_members(&directory, &local, ctx.include_failed)
    } else {
        listed(&directory, &local, nodes)?
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
    if let Some(word) = argv.iter().find(|w| w.contains("@{node}")) {
        return Err(PluginError::config(format!(
            "the transport ({defined_in}) connects to '{word}': {{node}} is the Consul node name (server-/agent- + dashed FQDN), which resolves nowhere"
        ))
        .hint("write {host} instead: the node's Carbonio hostname, else its address"));
    }
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

/// The transport's words with `{node}`, `{host}`, `{address}` and `{run}` filled in.
fn transport_argv(argv: &[String], target: &Target, run: &str) -> Vec<ExecArg> {
    argv.iter()
        .map(|w| {
            ExecArg::from(
                w.replace("{node}", &target.node)
                    .replace("{host}", target.reach())
                    .replace("{address}", &target.address)
                    .replace("{run}", run),
            )
        })
        .collect()
}

/// The line of a failed transport's standard error that says why: the last one that is not
/// indented. ssh's own failures end with their reason; a node's carbonio-mesh prints its reason
/// (`carbonio-mesh: error: ...`, `secret rejoin: step failed: ...`) and then indented advice for
/// whoever is at that node (`fix:`, how to resume or restore there), which would say nothing
/// about what went wrong. Without such a line, the last line.
fn reason(stderr: &str) -> &str {
    let lines = || stderr.lines().rev().filter(|l| !l.trim().is_empty());
    lines()
        .find(|l| !l.starts_with(char::is_whitespace))
        .or_else(|| lines().next())
        .unwrap_or("")
        .trim()
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
                reason(&o.stderr)
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
    let execs: Vec<Exec> = pending
        .iter()
        .map(|target| Exec {
            argv: transport_argv(&argv, target, ctx.run),
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
        labels: pending.iter().map(|t| t.reach().to_owned()).collect(),
        parallel: ctx.parallel,
    })?;
    let mut rows: Vec<(&Target, &str, String)> = plan
        .targets
        .iter()
        .filter(|t| done.contains(&t.node))
        .map(|t| (t, "ok", "earlier attempt".to_owned()))
        .collect();
    let mut failed = Vec::new();
    for (target, result) in pending.iter().zip(&answer.results) {
        let (ok, detail) = node_result(result);
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
    use carbonio_mesh_plugin_api::consul::LEFT;
    use carbonio_mesh_plugin_api::nodes::Member;

    fn directory() -> NodeDirectory {
        let member = |name: &str, addr: &str, status| Member {
            name: name.into(),
            addr: addr.into(),
            status,
        };
        NodeDirectory::build(
            &[
                member("server-srv1-example-com", "192.168.56.101", ALIVE),
                member("server-srv2-example-com", "192.168.56.102", ALIVE),
                member("agent-mail-example-com", "192.168.56.110", ALIVE),
                member("agent-proxy-example-com", "192.168.56.111", FAILED),
                member("agent-old-example-com", "192.168.56.120", LEFT),
            ],
            &["srv1.example.com".into(), "srv2.example.com".into()],
        )
    }

    fn local() -> Vec<String> {
        vec!["127.0.0.1".into(), "192.168.56.101".into()]
    }

    #[test]
    fn all_is_alive_members_but_this_host_failed_ones_skipped_left_ones_never() {
        let plan = all_members(&directory(), &local(), false);
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(names, ["server-srv2-example-com", "agent-mail-example-com"]);
        assert_eq!(plan.targets[0].reach(), "srv2.example.com");
        assert_eq!(
            plan.targets[1].reach(),
            "192.168.56.110",
            "no hostname maps: address"
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].target.node, "agent-proxy-example-com");
        assert!(plan.skipped[0].reason.contains("--include-failed"));
        let plan = all_members(&directory(), &local(), true);
        assert_eq!(plan.targets.len(), 3);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn this_host_is_the_agents_own_node_when_consul_says_which() {
        // Every member's address is local here (a network namespace holding the whole
        // simulated cluster): only the agent's own node is this host.
        let mut directory = directory();
        directory.local_node = Some("server-srv1-example-com".into());
        let everything: Vec<String> = directory.nodes.iter().map(|n| n.address.clone()).collect();
        let plan = all_members(&directory, &everything, false);
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(names, ["server-srv2-example-com", "agent-mail-example-com"]);
    }

    #[test]
    fn a_list_takes_any_of_the_three_names_and_refuses_unknown_ones_and_this_host() {
        let plan = listed(
            &directory(),
            &local(),
            "srv2.example.com, agent-mail-example-com,192.168.56.111,server-srv2-example-com",
        )
        .unwrap();
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(
            names,
            [
                "server-srv2-example-com",
                "agent-mail-example-com",
                "agent-proxy-example-com"
            ],
            "named twice, set up once"
        );
        let error = listed(&directory(), &local(), "srv9.example.com").unwrap_err();
        assert!(error
            .message
            .contains("no member is named 'srv9.example.com'"));
        let error = listed(&directory(), &local(), "srv1.example.com").unwrap_err();
        assert!(error.message.contains("is this host"), "{}", error.message);
    }

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

    #[test]
    fn the_transport_gets_the_hostname_or_address_never_the_node_name_as_host() {
        let target = Target {
            node: "agent-mail-example-com".into(),
            host: None,
            address: "192.168.56.110".into(),
        };
        let argv = transport_argv(
            &[
                "ssh".into(),
                "root@{host}".into(),
                "{node}/{address}/{run}".into(),
            ],
            &target,
            "r1",
        );
        assert_eq!(
            argv,
            [
                ExecArg::from("ssh"),
                ExecArg::from("root@192.168.56.110"),
                ExecArg::from("agent-mail-example-com/192.168.56.110/r1")
            ]
        );
    }
}
