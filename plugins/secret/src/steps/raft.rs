//! The raft side of the several-server procedure (docs/secret-regeneration.md, "The procedure
//! the Mesh needs"): a snapshot saved before anything changes, raft shrunk to this server (each
//! other server leaves gracefully, one at a time: a stop alone would keep it a voter, and two
//! stopped voters of three take the quorum), and after the new setup the servers back as voters
//! with a failure tolerance before any agent is touched.

use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::fanout::Target;
use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{ConsulRequest, OpenCredentials};
use carbonio_mesh_plugin_api::step::{
    FactKey, JournalRecord, NodeLine, NodeStatus, StepError, StepOutcome as Outcome,
};
use carbonio_mesh_plugin_api::workflow::journal;
use carbonio_mesh_plugin_api::{Host, PluginError, SecretText, StepCall};
use serde::Deserialize;

use super::reach::{checked_transport, drive_one};
use super::topology::{Procedure, Topology, TOPOLOGY};
use crate::node_request::NodeRequest;

/// Where the snapshot was saved (a path in the run's backup directory).
pub const SNAPSHOT: FactKey<String> = FactKey::new("snapshot");

/// How long a server has to leave, or to come back as a voter, and the servers to be healthy.
const RAFT_WAIT: Duration = Duration::from_secs(60);

/// The topology the run decided before it started (a run of an earlier version: one server).
pub fn topology(call: &StepCall) -> Result<Option<Topology>, PluginError> {
    Ok(call.facts.get(&TOPOLOGY)?)
}

fn several(call: &StepCall) -> Result<Option<Topology>, PluginError> {
    Ok(topology(call)?.filter(|t| t.procedure == Procedure::Servers))
}

/// The bootstrap token of the archive in place now (the old one before run-setup, the new one
/// after).
pub fn archive_token(
    host: &Host<'_>,
    password: Option<&SecretText>,
) -> Result<SecretText, PluginError> {
    let credentials = host.call(&OpenCredentials {
        known_password: password.cloned(),
        ..OpenCredentials::default()
    })?;
    let member = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .ok_or_else(|| PluginError::operation("the archive has no consul-acl-secret.json"))?;
    Ok(BootstrapToken::parse(member.content.expose())
        .map_err(PluginError::operation)?
        .secret_id)
}

pub fn save_snapshot(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    if several(call)?.is_none() {
        return Ok(Outcome::new(
            "skipped (one Mesh server: its raft data stays in place through the run)",
        ));
    }
    let token = archive_token(host, None)?;
    let name = format!("consul-snapshot-{}.snap", call.run);
    let saved = host.consul(
        &ConsulRequest::get(&["v1", "snapshot"])
            .with_token(token)
            .saved_in_backup(&name),
    )?;
    let path = saved.text;
    if !call.dry_run {
        // `secret show` names it, `secret prune` deletes it with the run's other backups.
        let record = JournalRecord::Kept {
            step: call.step.clone(),
            backup: path.clone(),
            what: "the cluster's snapshot before the run".to_owned(),
        };
        journal(host, &call.run, &record)?;
    }
    Ok(Outcome::new(if call.dry_run {
        format!("would save a snapshot of the cluster state as {path}")
    } else {
        format!("the cluster state saved as {path} (consul snapshot restore FILE puts it back)")
    })
    .fact(&SNAPSHOT, &path))
}

/// One server of the raft configuration (`/v1/operator/raft/configuration`).
#[derive(Debug, Deserialize)]
struct RaftServer {
    #[serde(rename = "Node")]
    node: String,
    #[serde(rename = "Voter", default)]
    voter: bool,
}

#[derive(Debug, Deserialize)]
struct RaftConfiguration {
    #[serde(rename = "Servers")]
    servers: Vec<RaftServer>,
}

fn raft_servers(host: &Host<'_>, token: &SecretText) -> Result<Vec<RaftServer>, PluginError> {
    let configuration: RaftConfiguration = host.consul_get(
        &ConsulRequest::get(&["v1", "operator", "raft", "configuration"]).with_token(token.clone()),
    )?;
    Ok(configuration.servers)
}

/// Waits until `done` holds for the raft configuration (read with `token`), or says `what`
/// did not happen.
fn wait_for_raft(
    host: &Host<'_>,
    token: &SecretText,
    what: &str,
    done: impl Fn(&[RaftServer]) -> bool,
) -> Result<(), PluginError> {
    let deadline = Instant::now() + RAFT_WAIT;
    loop {
        let servers = raft_servers(host, token);
        if servers.as_ref().is_ok_and(|s| done(s)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let seen = match servers {
                Ok(s) => s
                    .iter()
                    .map(|s| format!("{}{}", s.node, if s.voter { "" } else { " (not a voter)" }))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => e.message,
            };
            return Err(PluginError::operation(format!(
                "{what} within {} s; the raft configuration: {seen}",
                RAFT_WAIT.as_secs()
            )));
        }
        host.progress(&format!("waiting: {what}"));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Each other server, in reverse order, leaves raft gracefully and stops; the configuration
/// checked after each.
pub fn shrink_raft(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let Some(topology) = several(call)? else {
        return Ok(Outcome::new("skipped (one Mesh server)"));
    };
    let transport = checked_transport(host)?;
    let token = archive_token(host, None)?;
    // A server already out of the configuration (it left in an earlier attempt, or the quorum
    // was recovered without it: `secret recover-quorum`) has nothing to leave.
    let configured = raft_servers(host, &token).ok();
    let mut lines: Vec<NodeLine> = Vec::new();
    let mut left = 0;
    for server in topology.servers.iter().rev() {
        if configured
            .as_ref()
            .is_some_and(|c| !c.iter().any(|s| s.node == server.node))
        {
            lines.push(NodeLine {
                target: server.clone(),
                status: NodeStatus::Ok,
                detail: "not in the raft configuration: nothing to leave".to_owned(),
            });
            continue;
        }
        left += 1;
        let driven = drive_one(
            host,
            call,
            &transport,
            server,
            &NodeRequest::Leave,
            "left raft and stopped",
        )?;
        let failed = !driven.failed.is_empty();
        lines.extend(driven.lines);
        if failed {
            let error = PluginError::operation(format!(
                "{} did not leave raft: nothing after it was done",
                server.node
            ))
            .hint("fix what its line says, then --resume (the servers that left stay out)");
            return Err(StepError::with_nodes(error, lines));
        }
        if !call.dry_run {
            let gone = |servers: &[RaftServer]| !servers.iter().any(|s| s.node == server.node);
            wait_for_raft(
                host,
                &token,
                &format!("{} left the raft configuration", server.node),
                gone,
            )
            .map_err(|e| StepError::with_nodes(e, lines.clone()))?;
        }
    }
    Ok(Outcome {
        detail: if call.dry_run {
            format!("would shrink raft to this server: {left} server(s) would leave, one at a time")
        } else {
            format!("raft shrunk to this server: {left} server(s) left gracefully and stopped")
        },
        nodes: lines,
        ..Outcome::default()
    })
}

/// After a server's setup: it is a voter again (the leader's configuration, read with the new
/// token).
pub fn wait_voter(host: &Host<'_>, token: &SecretText, server: &Target) -> Result<(), PluginError> {
    wait_for_raft(
        host,
        token,
        &format!("{} is a voter again", server.node),
        |servers| servers.iter().any(|s| s.node == server.node && s.voter),
    )
}

#[derive(Debug, Deserialize)]
struct Health {
    #[serde(rename = "Healthy", default)]
    healthy: bool,
    #[serde(rename = "FailureTolerance", default)]
    failure_tolerance: u32,
    #[serde(rename = "Servers", default)]
    servers: Vec<HealthServer>,
}

#[derive(Debug, Deserialize)]
struct HealthServer {
    #[serde(rename = "Voter", default)]
    voter: bool,
}

/// Every server back: `servers` voters and a failure tolerance of at least 1 (autopilot's
/// health, `/v1/operator/autopilot/health`, 429 while unhealthy).
pub fn wait_healthy(
    host: &Host<'_>,
    token: &SecretText,
    servers: usize,
) -> Result<String, PluginError> {
    let deadline = Instant::now() + RAFT_WAIT;
    let request = ConsulRequest::get(&["v1", "operator", "autopilot", "health"])
        .with_token(token.clone())
        .accept(429);
    loop {
        let health: Health = host.consul_get(&request)?;
        let voters = health.servers.iter().filter(|s| s.voter).count();
        if health.healthy && voters >= servers && health.failure_tolerance >= 1 {
            return Ok(format!(
                "{voters} voters, failure tolerance {}",
                health.failure_tolerance
            ));
        }
        if Instant::now() >= deadline {
            return Err(PluginError::operation(format!(
                "the Mesh servers are not back within {} s: {voters} voter(s) of {servers}, failure tolerance {}, {}",
                RAFT_WAIT.as_secs(),
                health.failure_tolerance,
                if health.healthy { "healthy" } else { "unhealthy" }
            ))
            .hint("no agent was touched: look at the servers (carbonio-mesh doctor), then --resume"));
        }
        host.progress(&format!(
            "waiting: {voters} voter(s) of {servers}, failure tolerance {}",
            health.failure_tolerance
        ));
        std::thread::sleep(Duration::from_millis(500));
    }
}
