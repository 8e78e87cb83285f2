//! Consul 1.9.3's JSON shapes, field for field in Go struct order (serde keeps declaration order;
//! Go maps become `BTreeMap`s, sorted like encoding/json sorts map keys), and Go's encoding rules.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Cluster, Node, Role, Service, Token, BUILD};

/// Encodes like Consul: compact unless `?pretty` (then 4-space indent and a final newline), with
/// `<`, `>` and `&` escaped as Go's encoder does. Those bytes only ever occur inside strings in
/// JSON text, so replacing them on the encoded output is exact.
pub fn encode<T: Serialize>(value: &T, pretty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if pretty {
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        value
            .serialize(&mut serializer)
            .expect("model values always encode");
        out.push(b'\n');
    } else {
        serde_json::to_writer(&mut out, value).expect("model values always encode");
    }
    let mut escaped = Vec::with_capacity(out.len());
    for byte in out {
        match byte {
            b'<' => escaped.extend_from_slice(b"\\u003c"),
            b'>' => escaped.extend_from_slice(b"\\u003e"),
            b'&' => escaped.extend_from_slice(b"\\u0026"),
            other => escaped.push(other),
        }
    }
    escaped
}

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

/// `serf.Member` of a node, LAN (`wan = false`) or WAN (servers only: `<node>.<dc>`, port 8302).
/// `GET /v1/agent/self`: `Config` (the fields `agent/agent_endpoint.go` builds) and `Member`.
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
    #[serde(rename = "PrimaryDatacenter")]
    pub primary_datacenter: String,
    pub node_name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub revision: &'static str,
    pub server: bool,
    pub version: &'static str,
}

pub fn agent_self(cluster: &Cluster, node: &Node) -> AgentSelf {
    AgentSelf {
        config: AgentConfig {
            datacenter: cluster.datacenter.clone(),
            primary_datacenter: cluster.datacenter.clone(),
            node_name: node.name.clone(),
            node_id: node.id.clone(),
            revision: "f55da930",
            server: node.role == crate::model::Role::Server,
            version: crate::model::VERSION,
        },
        member: member(cluster, node, false),
    }
}

pub fn member(cluster: &Cluster, node: &Node, wan: bool) -> Member {
    let mut tags: BTreeMap<&str, String> = BTreeMap::new();
    tags.insert("acls", "1".to_owned());
    tags.insert("build", BUILD.to_owned());
    tags.insert("dc", cluster.datacenter.clone());
    tags.insert("id", node.id.clone());
    tags.insert("segment", String::new());
    tags.insert("vsn", "2".to_owned());
    tags.insert("vsn_max", "3".to_owned());
    tags.insert("vsn_min", "2".to_owned());
    match node.role {
        Role::Server => {
            tags.insert("expect", "3".to_owned());
            tags.insert("ft_fs", "1".to_owned());
            tags.insert("ft_si", "1".to_owned());
            tags.insert("port", "8300".to_owned());
            tags.insert("raft_vsn", "3".to_owned());
            tags.insert("role", "consul".to_owned());
            tags.insert("use_tls", "1".to_owned());
            if !wan {
                tags.insert("wan_join_port", "8302".to_owned());
            }
        }
        Role::Client => {
            tags.insert("role", "node".to_owned());
        }
    }
    // A node running another version says so in its tags.
    if let Some(overrides) = cluster.member_tags.get(&node.name) {
        for (key, value) in tags.iter_mut() {
            if let Some(other) = overrides.get(*key) {
                value.clone_from(other);
            }
        }
    }
    Member {
        name: if wan {
            format!("{}.{}", node.name, cluster.datacenter)
        } else {
            node.name.clone()
        },
        addr: node.address.clone(),
        port: if wan { 8302 } else { 8301 },
        tags,
        status: node.status as u8,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogNode {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<&'static str, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Whether Consul tags `address` `_ipv4` or `_ipv6` (`agent.go` looks at its family).
fn is_ipv6(address: &str) -> bool {
    address.parse::<std::net::Ipv6Addr>().is_ok()
}

fn tagged_addresses(node: &Node) -> BTreeMap<&'static str, String> {
    let keys = if is_ipv6(&node.address) {
        ["lan", "lan_ipv6", "wan", "wan_ipv6"]
    } else {
        ["lan", "lan_ipv4", "wan", "wan_ipv4"]
    };
    keys.into_iter()
        .map(|k| (k, node.address.clone()))
        .collect()
}

fn node_meta(node: &Node) -> BTreeMap<String, String> {
    let mut meta = node.meta.clone();
    meta.insert("consul-network-segment".to_owned(), String::new());
    meta
}

pub fn catalog_node(cluster: &Cluster, node: &Node) -> CatalogNode {
    CatalogNode {
        id: node.id.clone(),
        node: node.name.clone(),
        address: node.address.clone(),
        datacenter: cluster.datacenter.clone(),
        tagged_addresses: tagged_addresses(node),
        meta: node_meta(node),
        create_index: node.create_index,
        modify_index: node.modify_index,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

const WEIGHTS: Weights = Weights {
    passing: 1,
    warning: 1,
};

#[derive(Serialize, Default)]
pub struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Proxy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_service_name: Option<String>,
    #[serde(
        rename = "DestinationServiceID",
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_service_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_service_port: Option<u16>,
    pub mesh_gateway: Empty,
    pub expose: Empty,
}

fn proxy(service: &Service) -> Proxy {
    let of = service.proxy_of.as_ref();
    Proxy {
        destination_service_name: of.map(|p| p.destination_service.clone()),
        destination_service_id: of.map(|p| p.destination_service.clone()),
        local_service_address: of.map(|_| "127.0.0.1".to_owned()),
        local_service_port: of.map(|p| p.local_port),
        mesh_gateway: Empty {},
        expose: Empty {},
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

fn service_tagged_addresses(service: &Service) -> Option<BTreeMap<&'static str, ServiceAddress>> {
    (!service.address.is_empty()).then(|| {
        let keys = if is_ipv6(&service.address) {
            ["lan_ipv6", "wan_ipv6"]
        } else {
            ["lan_ipv4", "wan_ipv4"]
        };
        keys.into_iter()
            .map(|k| {
                (
                    k,
                    ServiceAddress {
                        address: service.address.clone(),
                        port: service.port,
                    },
                )
            })
            .collect()
    })
}

/// `structs.NodeService`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeService {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagged_addresses: Option<BTreeMap<&'static str, ServiceAddress>>,
    pub meta: Option<BTreeMap<String, String>>,
    pub port: u16,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub proxy: Proxy,
    pub connect: Empty,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn node_service(service: &Service) -> NodeService {
    NodeService {
        kind: service.proxy_of.as_ref().map(|_| "connect-proxy"),
        id: service.id.clone(),
        service: service.name.clone(),
        tags: service.tags.clone(),
        address: service.address.clone(),
        tagged_addresses: service_tagged_addresses(service),
        meta: service.meta.clone(),
        port: service.port,
        weights: WEIGHTS,
        enable_tag_override: false,
        proxy: proxy(service),
        connect: Empty {},
        create_index: service.create_index,
        modify_index: service.modify_index,
    }
}

/// `api.AgentService` of `/v1/agent/services` (no fixture: the shape of Consul 1.9.3's
/// `api/agent.go`, the `omitempty` fields left out).
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
        datacenter: cluster.datacenter.clone(),
    }
}

/// `structs.NodeServices` of `/v1/catalog/node/:node`: services keyed by ID.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServices {
    pub node: CatalogNode,
    pub services: BTreeMap<String, NodeService>,
}

/// `structs.NodeServiceList` of `/v1/catalog/node-services/:node` (`null`s for an unknown node).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServiceList {
    pub node: Option<CatalogNode>,
    pub services: Option<Vec<NodeService>>,
}

/// `structs.ServiceNode` of `/v1/catalog/service/:name`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceNode {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<&'static str, String>,
    pub node_meta: BTreeMap<String, String>,
    pub service_kind: &'static str,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub service_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tagged_addresses: Option<BTreeMap<&'static str, ServiceAddress>>,
    pub service_weights: Weights,
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_enable_tag_override: bool,
    pub service_proxy: Proxy,
    pub service_connect: Empty,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn service_node(cluster: &Cluster, node: &Node, service: &Service) -> ServiceNode {
    ServiceNode {
        id: node.id.clone(),
        node: node.name.clone(),
        address: node.address.clone(),
        datacenter: cluster.datacenter.clone(),
        tagged_addresses: tagged_addresses(node),
        node_meta: node_meta(node),
        service_kind: if service.proxy_of.is_some() {
            "connect-proxy"
        } else {
            ""
        },
        service_id: service.id.clone(),
        service_name: service.name.clone(),
        service_tags: service.tags.clone(),
        service_address: service.address.clone(),
        service_tagged_addresses: service_tagged_addresses(service),
        service_weights: WEIGHTS,
        service_meta: service.meta.clone().unwrap_or_default(),
        service_port: service.port,
        service_enable_tag_override: false,
        service_proxy: proxy(service),
        service_connect: Empty {},
        create_index: service.create_index,
        modify_index: service.modify_index,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyLink {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
}

/// `structs.ACLToken` as `/v1/acl/token/self` answers it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    pub description: String,
    pub policies: Vec<PolicyLink>,
    pub local: bool,
    pub create_time: String,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn acl_token(token: &Token) -> AclToken {
    AclToken {
        accessor_id: token.accessor.clone(),
        secret_id: token.secret.clone(),
        description: token.description.clone(),
        policies: token
            .policies
            .iter()
            .map(|(id, name)| PolicyLink {
                id: id.clone(),
                name: name.clone(),
            })
            .collect(),
        local: false,
        create_time: token.create_time.clone(),
        hash: token.hash.clone(),
        create_index: token.create_index,
        modify_index: token.create_index,
    }
}

/// `aclBootstrapResponse` of `PUT /v1/acl/bootstrap`: the deprecated `ID` (= SecretID), then the
/// token's fields.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclBootstrap {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub token: AclToken,
}

pub fn acl_bootstrap(token: &Token) -> AclBootstrap {
    AclBootstrap {
        id: token.secret.clone(),
        token: acl_token(token),
    }
}

/// `GET /v1/health/state/critical`: `structs.HealthCheck` as the API encodes it (OSS: no
/// `Namespace`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub status: &'static str,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub r#type: String,
    pub definition: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The critical checks: each failed member's `serfHealth` (Consul's own), then the cluster's
/// planted ones.
pub fn critical_checks(cluster: &Cluster) -> Vec<HealthCheck> {
    let serf = cluster
        .nodes
        .iter()
        .filter(|n| n.status == crate::model::Status::Failed)
        .map(|n| HealthCheck {
            node: n.name.clone(),
            check_id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            status: "critical",
            notes: String::new(),
            output: "Agent not live or unreachable".into(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            r#type: String::new(),
            definition: BTreeMap::new(),
            create_index: n.create_index,
            modify_index: n.modify_index + 1,
        });
    let planted = cluster.critical_checks.iter().map(|c| HealthCheck {
        node: c.node.clone(),
        check_id: c.check_id.clone(),
        name: c.name.clone(),
        status: "critical",
        notes: String::new(),
        output: c.output.clone(),
        service_id: c.service_id.clone(),
        service_name: c.service_name.clone(),
        service_tags: Vec::new(),
        r#type: if c.service_id.is_empty() {
            String::new()
        } else {
            "http".into()
        },
        definition: BTreeMap::new(),
        create_index: cluster.catalog_index,
        modify_index: cluster.catalog_index,
    });
    serf.chain(planted).collect()
}

/// One pool of `GET /v1/operator/keyring` (`api.KeyringResponse` in 1.9.3).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyringPool {
    #[serde(rename = "WAN")]
    pub wan: bool,
    pub datacenter: String,
    pub segment: String,
    pub messages: BTreeMap<String, String>,
    pub keys: BTreeMap<String, usize>,
    pub num_nodes: usize,
}

/// The WAN pool (servers) then the LAN pool, as a server agent answers: each key with the
/// number of live members of the pool that hold it, `NumNodes` the live members.
pub fn keyring(cluster: &Cluster) -> Vec<KeyringPool> {
    let default = [(crate::model::FIXTURE_GOSSIP_KEY.to_owned(), Vec::new())];
    let keys: &[(String, Vec<String>)] = if cluster.keyring.is_empty() {
        &default
    } else {
        &cluster.keyring
    };
    let pool = |wan: bool| {
        let live: Vec<&Node> = cluster
            .nodes
            .iter()
            .filter(|n| n.status == crate::model::Status::Alive)
            .filter(|n| !wan || n.role == Role::Server)
            .collect();
        KeyringPool {
            wan,
            datacenter: cluster.datacenter.clone(),
            segment: String::new(),
            messages: BTreeMap::new(),
            keys: keys
                .iter()
                .map(|(key, lacking)| {
                    let holders = live.iter().filter(|n| !lacking.contains(&n.name)).count();
                    (key.clone(), holders)
                })
                .filter(|(_, holders)| *holders > 0)
                .collect(),
            num_nodes: live.len(),
        }
    };
    vec![pool(true), pool(false)]
}

/// `GET /v1/operator/raft/configuration`: the raft servers (the double's peers) and the leader.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    pub index: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub leader: bool,
    pub protocol_version: &'static str,
    pub voter: bool,
}

pub fn raft_configuration(cluster: &Cluster) -> RaftConfiguration {
    let mut servers: Vec<&Node> = cluster.servers().collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    RaftConfiguration {
        servers: servers
            .iter()
            .map(|n| RaftServer {
                id: n.id.clone(),
                node: n.name.clone(),
                address: format!("{}:8300", n.address),
                leader: cluster.leader.as_deref() == Some(n.name.as_str()),
                protocol_version: "3",
                voter: true,
            })
            .collect(),
        index: cluster.catalog_index,
    }
}
