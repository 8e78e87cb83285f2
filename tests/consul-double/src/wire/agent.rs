//! `/v1/agent/*`: serf members, `self`, the local agent's services.

use std::collections::BTreeMap;

use serde::Serialize;

use super::catalog::{proxy, Weights, WEIGHTS};
use crate::model::{Cluster, Node, Role, Service};
use crate::version::Version;

/// `serf.Member` (unchanged from serf v0.9.5 to v0.10.1).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    pub tags: BTreeMap<&'static str, String>,
    pub status: u8,
    pub protocol_min: u8,
    pub protocol_max: u8,
    pub protocol_cur: u8,
    pub delegate_min: u8,
    pub delegate_max: u8,
    pub delegate_cur: u8,
}

/// The serf tags a node's agent sets (agent/consul/server_serf.go, client_serf.go of its
/// version).
fn tags(cluster: &Cluster, node: &Node, wan: bool) -> BTreeMap<&'static str, String> {
    let v = node.version;
    let mut tags: BTreeMap<&str, String> = BTreeMap::new();
    tags.insert("build", node.build());
    tags.insert("dc", cluster.datacenter.clone());
    tags.insert("id", node.id.clone());
    tags.insert("segment", String::new());
    tags.insert("vsn", "2".to_owned());
    tags.insert("vsn_max", "3".to_owned());
    tags.insert("vsn_min", "2".to_owned());
    match node.role {
        Role::Server => {
            tags.insert(
                "acls",
                if cluster.acl_enabled { "1" } else { "0" }.to_owned(),
            );
            if cluster.bootstrap_expect == 1 {
                tags.insert("bootstrap", "1".to_owned());
            } else {
                tags.insert("expect", cluster.bootstrap_expect.to_string());
            }
            tags.insert("ft_fs", "1".to_owned());
            tags.insert("ft_si", "1".to_owned());
            if v.has_1_13_fields() {
                if let Some(port) = node.ports.grpc {
                    tags.insert("grpc_port", port.to_string());
                }
                if let Some(port) = node.ports.grpc_tls {
                    tags.insert("grpc_tls_port", port.to_string());
                }
            }
            tags.insert("port", node.ports.server.to_string());
            tags.insert("raft_vsn", "3".to_owned());
            tags.insert("role", "consul".to_owned());
            tags.insert("use_tls", "1".to_owned());
            if !wan {
                tags.insert("wan_join_port", node.ports.serf_wan.to_string());
            }
        }
        Role::Client => {
            if v.clients_tag_acls() {
                tags.insert(
                    "acls",
                    if cluster.acl_enabled { "1" } else { "0" }.to_owned(),
                );
            }
            tags.insert("role", "node".to_owned());
        }
    }
    // Tags a test sets differently (a node with another protocol, say).
    if let Some(overrides) = cluster.member_tags.get(&node.name) {
        for (key, value) in tags.iter_mut() {
            if let Some(other) = overrides.get(*key) {
                value.clone_from(other);
            }
        }
    }
    tags
}

/// `serf.Member` of a node, LAN (`wan = false`) or WAN (servers only: `<node>.<dc>` on the WAN
/// port).
pub fn member(cluster: &Cluster, node: &Node, wan: bool) -> Member {
    Member {
        name: if wan {
            format!("{}.{}", node.name, cluster.datacenter)
        } else {
            node.name.clone()
        },
        addr: node.address.clone(),
        port: if wan {
            node.ports.serf_wan
        } else {
            node.ports.serf_lan
        },
        tags: tags(cluster, node, wan),
        status: node.status as u8,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// `GET /v1/agent/self`: `Config` (the fields agent/agent_endpoint.go builds) and `Member`; the
/// double leaves out `DebugConfig`, `Coord`, `Stats`, `Meta` and `xDS`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSelf {
    pub config: AgentConfig,
    pub member: Member,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentConfig {
    pub datacenter: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_datacenter: Option<String>,
    pub node_name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub revision: String,
    pub server: bool,
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_date: Option<&'static str>,
}

pub fn agent_self(cluster: &Cluster, node: &Node) -> AgentSelf {
    let v = node.version;
    AgentSelf {
        config: AgentConfig {
            datacenter: cluster.datacenter.clone(),
            primary_datacenter: v.has_1_10_fields().then(|| cluster.datacenter.clone()),
            node_name: node.name.clone(),
            node_id: node.id.clone(),
            revision: node.revision.clone(),
            server: node.role == Role::Server,
            version: v.as_str(),
            build_date: v.has_1_13_fields().then_some(Version::BUILD_DATE),
        },
        member: member(cluster, node, false),
    }
}

/// `api.AgentService` of `/v1/agent/services` (agent_endpoint.go buildAgentService; the same
/// keys in every version the double knows for these services).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub address: String,
    pub weights: Weights,
    pub enable_tag_override: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<super::catalog::Proxy>,
    pub datacenter: String,
}

pub fn agent_service(cluster: &Cluster, service: &Service) -> AgentService {
    AgentService {
        kind: service.proxy_of.as_ref().map(|_| "connect-proxy"),
        id: service.id.clone(),
        service: service.name.clone(),
        tags: service.tags.clone(),
        meta: service.meta.clone().unwrap_or_default(),
        port: service.port,
        address: service.address.clone(),
        weights: WEIGHTS,
        enable_tag_override: false,
        // The api struct's Mode is omitempty: never shown here.
        proxy: service
            .proxy_of
            .as_ref()
            .map(|_| proxy(service, Version::V1_9_3)),
        datacenter: cluster.datacenter.clone(),
    }
}
