//! Which regeneration procedure the Mesh needs, read before anything changes
//! (docs/secret-regeneration.md, "The procedure the Mesh needs"):
//!
//! - **one server**: reset it, rotate the gossip key, set the other nodes up again;
//! - **several servers** (Carbonio runs three): raft shrunk to the leader first (each other
//!   server leaves gracefully and stops, one at a time), the leader reset as one server (it keeps
//!   its raft data), the gossip key rotated, the other servers set up again one at a time with
//!   their raft and serf data removed, then the agents;
//! - **quorum already lost** (raft peers, no leader): no regeneration can run; the `peers.json`
//!   recovery is shown, never attempted on its own.

use carbonio_mesh_plugin_api::consul::LEFT;
use carbonio_mesh_plugin_api::fanout::{is_this_host, NodePlan, Target};
use carbonio_mesh_plugin_api::nodes::{NodeDirectory, NodeRole};
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::step::FactKey;
use carbonio_mesh_plugin_api::{Host, PluginError};
use serde::{Deserialize, Serialize};

/// The fact the procedure is recorded under (decided before the run starts).
pub const TOPOLOGY: FactKey<Topology> = FactKey::new("topology");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    OneServer,
    Servers,
    QuorumLost,
}

/// What the Mesh looked like before the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub procedure: Procedure,
    /// The raft peers (`IP:PORT`) this server knows.
    pub peers: Vec<String>,
    /// The other Mesh servers, in the order they are set up again (they leave in reverse).
    pub servers: Vec<Target>,
}

impl Topology {
    /// What the procedure is, in a few words.
    pub fn describe(&self) -> String {
        match self.procedure {
            Procedure::OneServer => "one Mesh server".to_owned(),
            Procedure::Servers => format!(
                "{} Mesh servers: raft shrunk to this one, the others set up again one at a time",
                self.servers.len() + 1
            ),
            Procedure::QuorumLost => format!(
                "{} raft peers and no leader: quorum is lost",
                self.peers.len()
            ),
        }
    }
}

/// Reads the topology from the local agent (`status/leader`, `status/peers`: no token needed)
/// and the node directory.
pub fn read(
    host: &Host<'_>,
    directory: &NodeDirectory,
    local: &[String],
) -> Result<Topology, PluginError> {
    let leader: String =
        host.consul_get(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())?;
    let peers: Vec<String> = host
        .consul_get(&ConsulRequest::get(&["v1", "status", "peers"]).anonymous())
        .unwrap_or_default();
    let servers: Vec<Target> = directory
        .nodes
        .iter()
        .filter(|n| n.role == Some(NodeRole::Server) && n.status != LEFT)
        .filter(|n| !is_this_host(directory, local, n))
        .map(Target::from)
        .collect();
    let count = peers.len().max(servers.len() + 1);
    let procedure = match (count, leader.is_empty()) {
        (1, _) => Procedure::OneServer,
        (_, true) => Procedure::QuorumLost,
        _ => Procedure::Servers,
    };
    Ok(Topology {
        procedure,
        peers,
        servers,
    })
}

/// Refuses a run the procedure cannot do: quorum lost, or (several servers) a node list that
/// leaves a Mesh server out.
pub fn check(topology: &Topology, plan: Option<&NodePlan>) -> Result<(), PluginError> {
    match topology.procedure {
        Procedure::OneServer => Ok(()),
        Procedure::QuorumLost => Err(PluginError::operation(format!(
            "the Mesh has lost its quorum ({}): a regeneration needs a leader",
            topology.describe()
        ))
        .hint(format!(
            "recover the quorum first, on the server to keep: {}; `carbonio-mesh secret plan` shows every step",
            quorum_recovery()
        ))),
        Procedure::Servers => {
            let missing: Vec<&Target> = topology
                .servers
                .iter()
                .filter(|s| !plan.is_some_and(|p| p.targets.iter().any(|t| t.node == s.node)))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let named: Vec<String> = missing.iter().map(|t| format!("{} ({})", t.node, t.reach())).collect();
            // A failed server (stopped, or out of raft after `secret recover-quorum`) is left
            // out of `--nodes all` unless asked for.
            let failed = plan.is_some_and(|p| {
                missing
                    .iter()
                    .any(|m| p.skipped.iter().any(|s| s.target.node == m.node))
            });
            let hint = if failed {
                "add --include-failed (the servers left out are failed: stopped, or out of raft after `secret recover-quorum`; they must be reachable through the transport): a server left on the old CA cannot rejoin raft"
            } else {
                "give --nodes all (or a list naming every Mesh server): a server left on the old CA cannot rejoin raft"
            };
            Err(PluginError::usage(format!(
                "{}: this run must set up the other Mesh servers again too, and --nodes leaves out {}",
                topology.describe(),
                named.join(", ")
            ))
            .hint(hint))
        }
    }
}

/// The recovery of a lost quorum (hashicorp/raft `ReadConfigJSON`: a JSON array).
pub fn quorum_recovery() -> &'static str {
    "stop service-discover on every server; on the one to keep write /var/lib/service-discover/data/raft/peers.json as a JSON array [{\"id\": \"<its data/node-id>\", \"address\": \"<its IP>:8300\", \"non_voter\": false}] owned by service-discover (an object, as some documentation shows, is refused by raft); start it alone; then run the regeneration there"
}

/// The procedure and its actions, numbered, as `secret plan` and a dry run print them.
pub fn procedure_text(topology: &Topology, agents: usize, parallel: usize) -> String {
    let mut text = format!("Procedure: {}\n", topology.describe());
    for (number, action) in actions(topology, agents, parallel).iter().enumerate() {
        text.push_str(&format!("  {}. {action}\n", number + 1));
    }
    text
}

/// Every action of the procedure, per node and in order (for `secret plan` and the dry run).
pub fn actions(topology: &Topology, agents: usize, parallel: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut say = |who: &str, what: String| lines.push(format!("{who}: {what}"));
    let here = "this node";
    match topology.procedure {
        Procedure::QuorumLost => {
            say("every server", quorum_recovery().to_owned());
            return lines;
        }
        Procedure::OneServer => {}
        Procedure::Servers => {
            say(
                here,
                "save a snapshot of the cluster state into the run's backup".to_owned(),
            );
            for server in topology.servers.iter().rev() {
                say(
                    &server.node,
                    "leave raft gracefully and stop service-discover; the raft configuration checked".to_owned(),
                );
            }
        }
    }
    say(
        here,
        "the ACL reset index into the reset file; stop service-discover; back up and remove main.json, config.json and the certificates (raft data kept); service-discover setup --first-instance".to_owned(),
    );
    say(
        "every alive member",
        "the new gossip key installed, used, the old one removed".to_owned(),
    );
    for server in &topology.servers {
        say(
            &server.node,
            "back up and remove main.json, config.json, the certificates, data/raft and data/serf (node-id kept); service-discover setup; a voter again".to_owned(),
        );
    }
    if topology.procedure == Procedure::Servers {
        say(
            "the Mesh servers",
            format!(
                "{} voters and a failure tolerance of at least 1 before any agent",
                topology.servers.len() + 1
            ),
        );
    }
    if agents > 0 {
        say(
            &format!("{agents} agent(s), at most {parallel} at a time"),
            "back up and remove main.json, config.json, the certificates and data/serf; service-discover setup".to_owned(),
        );
    }
    lines
}
