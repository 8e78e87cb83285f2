//! The rules of the mesh model: which agents run, who leads raft, who gossips with whom. Each
//! rule is written with its source in docs/carbonio-mesh.md ("The simulated Mesh").

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::{Cluster, Role, Status};

use super::files;

/// One node's agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub root: PathBuf,
    pub running: bool,
    /// Left gracefully (`consul leave`, a client's stop): the others show it `left`.
    pub left: bool,
    /// What main.json said at its last start.
    pub server: bool,
    pub ca: String,
    /// Its gossip keyring, primary key first (what `local.keyring` holds).
    pub ring: Vec<String>,
    /// A server's raft configuration (voters' names); `None`: no raft data.
    pub raft: Option<Vec<String>>,
    /// Whether it saw a leader since it started (Consul 1.9 and 1.10 leave legacy ACL mode then).
    pub saw_leader: bool,
    /// Its log lines (warnings the double imitates).
    pub log: Vec<String>,
}

/// The whole model: the catalog and ACL state raft replicates (a [`Cluster`]), each node's
/// agent, the leader.
#[derive(Debug)]
pub struct MeshState {
    pub cluster: Cluster,
    pub agents: BTreeMap<String, Agent>,
    pub leader: Option<String>,
    /// ACL policy names created (service-discover's per-node policies).
    pub policies: Vec<String>,
}

impl MeshState {
    pub fn agent(&self, node: &str) -> Option<&Agent> {
        self.agents.get(node)
    }

    fn is_up(&self, node: &str) -> bool {
        self.agents.get(node).is_some_and(|a| a.running)
    }

    /// Starts `node`'s agent from its files (what `systemctl start service-discover` does).
    pub fn start(&mut self, node: &str) -> Result<(), String> {
        let id = self
            .cluster
            .node(node)
            .map(|n| n.id.clone())
            .ok_or_else(|| format!("no node {node} in the model"))?;
        let agent = self
            .agents
            .get(node)
            .ok_or_else(|| format!("no agent {node}"))?;
        if agent.running {
            return Ok(());
        }
        let root = agent.root.clone();
        let config = files::read_config(&root)?;
        let (ring, log) = files::load_keyring(&root, &config)?;
        files::ensure_node_id(&root, &id)?;
        let mut raft = None;
        if config.server {
            raft = files::read_raft(&root);
            if let Some(entries) = files::take_peers_json(&root)? {
                let voters: Vec<String> = entries
                    .iter()
                    .filter(|e| !e.non_voter)
                    .filter_map(|e| self.cluster.nodes.iter().find(|n| n.id == e.id))
                    .map(|n| n.name.clone())
                    .collect();
                files::write_raft(&root, &voters)?;
                raft = Some(voters);
            }
        }
        let agent = self.agents.get_mut(node).expect("looked up above");
        agent.running = true;
        agent.left = false;
        agent.server = config.server;
        agent.ca = config.ca;
        agent.ring = ring;
        agent.raft = raft;
        agent.saw_leader = false;
        agent.log.extend(log);
        self.settle();
        Ok(())
    }

    /// Stops `node`'s agent (`systemctl stop`): a server does not leave (`leave_on_terminate`
    /// is false for servers), a client does (true for clients).
    pub fn stop(&mut self, node: &str) {
        if let Some(agent) = self.agents.get_mut(node) {
            if agent.running {
                agent.running = false;
                agent.left = !agent.server;
            }
        }
        self.settle();
    }

    /// `consul leave` on `node`: a server is removed from the raft configuration by the leader
    /// it reaches (none reached: it only leaves gossip); then the agent stops.
    pub fn leave(&mut self, node: &str) {
        if self.sees_leader(node) {
            let leader = self.leader.clone().expect("sees_leader");
            let mut voters = self.agents[&leader].raft.clone().unwrap_or_default();
            voters.retain(|v| v != node);
            self.replicate(&leader, voters);
        }
        if let Some(agent) = self.agents.get_mut(node) {
            agent.running = false;
            agent.left = true;
        }
        self.settle();
    }

    /// Whether `a` and `b` gossip: each holds the key the other encrypts with (its primary);
    /// memberlist tries every installed key on what it receives.
    pub fn gossip(&self, a: &str, b: &str) -> bool {
        let (Some(x), Some(y)) = (self.agents.get(a), self.agents.get(b)) else {
            return false;
        };
        if a == b {
            return true;
        }
        let holds = |ring: &[String], other: &[String]| match other.first() {
            Some(primary) => ring.contains(primary),
            None => ring.is_empty(),
        };
        x.running && y.running && holds(&x.ring, &y.ring) && holds(&y.ring, &x.ring)
    }

    /// Whether `node` reaches the leader over TLS RPC: the same CA, and (a client) gossip with it.
    pub fn sees_leader(&self, node: &str) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        let (Some(me), Some(it)) = (self.agents.get(node), self.agents.get(leader)) else {
            return false;
        };
        me.running && me.ca == it.ca && (me.server || self.gossip(node, leader))
    }

    /// `node`'s view of the members: itself alive; one that left `left`; one that stopped or
    /// that it cannot gossip with `failed`.
    pub fn status_seen_by(&self, viewer: &str, node: &str) -> Status {
        let Some(agent) = self.agents.get(node) else {
            return Status::Failed;
        };
        if agent.left && !agent.running {
            Status::Left
        } else if self.gossip(viewer, node) {
            Status::Alive
        } else {
            Status::Failed
        }
    }

    /// The members alive in `viewer`'s view, in the model's order.
    pub fn alive_seen_by(&self, viewer: &str) -> Vec<String> {
        self.cluster
            .nodes
            .iter()
            .filter(|n| self.status_seen_by(viewer, &n.name) == Status::Alive)
            .map(|n| n.name.clone())
            .collect()
    }

    /// After any change: elect (or keep) a leader, let it add the servers it reaches, mark who
    /// saw it. A server leads when it is in its own configuration and a majority of that
    /// configuration's voters run and share its CA (raft over TLS RPC with verify_incoming);
    /// the previous leader is preferred. With no configuration anywhere, running servers that
    /// share a CA bootstrap one once `bootstrap_expect` of them run.
    pub fn settle(&mut self) {
        self.leader = self.elect();
        if self.leader.is_none() {
            self.bootstrap();
            self.leader = self.elect();
        }
        if let Some(leader) = self.leader.clone() {
            let mut voters = self.agents[&leader].raft.clone().unwrap_or_default();
            // Autopilot's dead-server cleanup (cleanup_dead_servers, on by default): voters that
            // failed in the leader's gossip view are removed, and reaped (`left`), while at most
            // (voters - 1) / 2 of them are (raft-autopilot `pruneDeadServers`; recorded on
            // 1.10.12: one of three servers stopped is out of the configuration a second after
            // it shows failed).
            let failed: Vec<String> = voters
                .iter()
                .filter(|v| self.status_seen_by(&leader, v) != Status::Alive)
                .cloned()
                .collect();
            if !failed.is_empty() && failed.len() <= (voters.len() - 1) / 2 {
                voters.retain(|v| !failed.contains(v));
                for name in &failed {
                    let agent = self.agents.get_mut(name).expect("a voter has an agent");
                    agent.left |= !agent.running;
                }
            }
            // The leader's reconcile adds every alive server of its gossip pool (autopilot:
            // voter), whatever its CA: a raft configuration change needs only the majority.
            for (name, agent) in &self.agents {
                if agent.running
                    && agent.server
                    && self.gossip(name, &leader)
                    && !voters.contains(name)
                {
                    voters.push(name.clone());
                }
            }
            self.replicate(&leader, voters);
        }
        let seeing: Vec<String> = self
            .agents
            .keys()
            .filter(|n| self.sees_leader(n))
            .cloned()
            .collect();
        for name in seeing {
            self.agents.get_mut(&name).expect("listed").saw_leader = true;
        }
    }

    fn elect(&self) -> Option<String> {
        let mut candidates: Vec<&String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.running && a.server)
            .map(|(name, _)| name)
            .collect();
        candidates.sort_by_key(|name| Some(*name) != self.leader.as_ref());
        candidates
            .into_iter()
            .find(|name| self.can_lead(name))
            .cloned()
    }

    fn can_lead(&self, name: &str) -> bool {
        let me = &self.agents[name];
        let Some(voters) = &me.raft else {
            return false;
        };
        let up = voters
            .iter()
            .filter(|v| {
                self.agents
                    .get(*v)
                    .is_some_and(|a| a.running && a.server && a.ca == me.ca)
            })
            .count();
        voters.iter().any(|v| v == name) && up * 2 > voters.len()
    }

    fn bootstrap(&mut self) {
        if self
            .agents
            .values()
            .any(|a| a.running && a.server && a.raft.is_some())
        {
            return;
        }
        let fresh: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.running && a.server)
            .map(|(name, _)| name.clone())
            .collect();
        let Some(first) = fresh.first() else {
            return;
        };
        let ca = self.agents[first].ca.clone();
        let group: Vec<String> = fresh
            .iter()
            .filter(|n| self.agents[*n].ca == ca)
            .cloned()
            .collect();
        if group.len() >= self.cluster.bootstrap_expect.max(1) {
            for name in &group {
                self.set_raft(name, group.clone());
            }
        }
    }

    /// The leader's configuration reaches every running server that shares its CA and is in it.
    fn replicate(&mut self, leader: &str, voters: Vec<String>) {
        let ca = self.agents[leader].ca.clone();
        let reached: Vec<String> = self
            .agents
            .iter()
            .filter(|(name, a)| {
                a.running && a.server && a.ca == ca && (voters.contains(name) || *name == leader)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in reached {
            self.set_raft(&name, voters.clone());
        }
    }

    fn set_raft(&mut self, name: &str, voters: Vec<String>) {
        let agent = self.agents.get_mut(name).expect("known agent");
        if agent.raft.as_ref() != Some(&voters) {
            // A write failure shows as a missing file in the tests that read it.
            let _ = files::write_raft(&agent.root, &voters);
            agent.raft = Some(voters);
            self.cluster.raft_index += 1;
        }
    }

    /// The voters as the leader holds them (the leader first if `node` sees none: its own).
    pub fn configuration_seen_by(&self, node: &str) -> Vec<String> {
        let holder = if self.sees_leader(node) {
            self.leader.as_deref().unwrap_or(node)
        } else {
            node
        };
        self.agents
            .get(holder)
            .and_then(|a| a.raft.clone())
            .unwrap_or_default()
    }

    /// Sets what the [`Cluster`] shows to `viewer`'s agent: itself the local node, the member
    /// statuses it sees, its leader, the leader's data_dir (the ACL bootstrap reset file is
    /// read there), legacy ACL mode until it saw a leader, its gossip pool's keys.
    pub fn view_from(&mut self, viewer: &str) {
        let statuses: Vec<Status> = self
            .cluster
            .nodes
            .iter()
            .map(|n| self.status_seen_by(viewer, &n.name))
            .collect();
        for (node, status) in self.cluster.nodes.iter_mut().zip(statuses) {
            node.status = status;
        }
        let sees = self.sees_leader(viewer);
        self.cluster.local_node = viewer.to_owned();
        self.cluster.leader = if sees { self.leader.clone() } else { None };
        self.cluster.data_dir = self
            .leader
            .as_ref()
            .filter(|_| sees)
            .map(|l| files::data_dir(&self.agents[l].root));
        self.cluster.acl_legacy_mode = !self.agents.get(viewer).is_some_and(|a| a.saw_leader);
        self.cluster.raft_order = self.configuration_seen_by(viewer);
    }

    /// Names of the servers (by the model's roles).
    pub fn servers(&self) -> Vec<String> {
        self.cluster
            .nodes
            .iter()
            .filter(|n| n.role == Role::Server)
            .map(|n| n.name.clone())
            .collect()
    }

    /// Whether `node` is up (for the listener).
    pub fn running(&self, node: &str) -> bool {
        self.is_up(node)
    }
}
