//! A node's Consul name read for its role, and a node to reach under its three names: what
//! steps, transports and plans pass around (a leaf: it uses nothing of this crate).

use serde::{Deserialize, Serialize};

/// The prefix `service-discover setup` gives a Mesh server's node name.
pub const SERVER_PREFIX: &str = "server-";
/// The prefix `service-discover setup` gives every other node's name.
pub const AGENT_PREFIX: &str = "agent-";

/// What `service-discover setup` made of a node, read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// `server-...`: a Mesh server (runs a Consul server).
    Server,
    /// `agent-...`: any other Carbonio node (runs a Consul client).
    Agent,
}

impl NodeRole {
    /// The role and the dashed hostname in a node name, when it has Carbonio's form.
    pub fn split(node: &str) -> Option<(NodeRole, &str)> {
        if let Some(dashed) = node.strip_prefix(SERVER_PREFIX) {
            return Some((NodeRole::Server, dashed));
        }
        node.strip_prefix(AGENT_PREFIX)
            .map(|dashed| (NodeRole::Agent, dashed))
    }
}

/// A node to reach, under its three names (what `--nodes` plans and a transport is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The Consul node name.
    pub node: String,
    /// The Carbonio hostname mapped to the node, if one is.
    pub host: Option<String>,
    /// The node's gossip address.
    pub address: String,
}

impl Target {
    /// What the transport connects to: the hostname (what host keys are known by), else the
    /// address; never the Consul node name, which resolves nowhere.
    pub fn reach(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.address)
    }

    /// The role its node name says (`server-`: a Mesh server); none for another form.
    pub fn role(&self) -> Option<NodeRole> {
        NodeRole::split(&self.node).map(|(role, _)| role)
    }

    /// A Mesh server: set up one at a time, before any agent.
    pub fn is_server(&self) -> bool {
        self.role() == Some(NodeRole::Server)
    }
}
