//! `/v1/catalog/*` and `/v1/health/state/critical`: nodes, services, checks.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{is_ipv6, Empty};
use crate::model::{Cluster, Node, Role, Service};
use crate::version::Version;

/// `structs.Node` (Partition, PeerName and Locality are `omitempty` and empty in CE).
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

/// The meta a node's agent registers: the test's, `consul-network-segment`, and from 1.16.1
/// `consul-version` (agent/agent.go).
fn node_meta(node: &Node) -> BTreeMap<String, String> {
    let mut meta = node.meta.clone();
    meta.insert("consul-network-segment".to_owned(), String::new());
    if node.version.node_meta_version() {
        meta.insert(
            "consul-version".to_owned(),
            node.version.as_str().to_owned(),
        );
    }
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

pub const WEIGHTS: Weights = Weights {
    passing: 1,
    warning: 1,
};

/// `ConnectProxyConfig` as its MarshalJSON writes it: `Mode` always from 1.10, the
/// destination only for a sidecar, `TransparentProxy` and `AccessLogs` left out when empty.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    pub mesh_gateway: Empty,
    pub expose: Empty,
}

/// A service's proxy configuration as `version` encodes it.
pub fn proxy(service: &Service, version: Version) -> Proxy {
    let of = service.proxy_of.as_ref();
    Proxy {
        destination_service_name: of.map(|p| p.destination_service.clone()),
        destination_service_id: of.map(|p| p.destination_service.clone()),
        local_service_address: of.map(|_| "127.0.0.1".to_owned()),
        local_service_port: of.map(|p| p.local_port),
        mode: version.has_1_10_fields().then_some(""),
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

/// A service's port and meta: the `consul` service of a server takes both from the server
/// (agent/consul/leader_registrator_v1.go: its RPC port, its version, gRPC ports from 1.13).
fn port_and_meta(cluster: &Cluster, service: &Service) -> (u16, Option<BTreeMap<String, String>>) {
    let server = cluster
        .node(&service.node)
        .filter(|n| n.role == Role::Server && service.id == "consul");
    let Some(server) = server else {
        return (service.port, service.meta.clone());
    };
    let mut meta: BTreeMap<String, String> = [
        ("non_voter", "false"),
        ("raft_version", "3"),
        ("read_replica", "false"),
        ("serf_protocol_current", "2"),
        ("serf_protocol_max", "5"),
        ("serf_protocol_min", "1"),
        ("version", server.version.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if server.version.has_1_13_fields() {
        for (key, port) in [
            ("grpc_port", server.ports.grpc),
            ("grpc_tls_port", server.ports.grpc_tls),
        ] {
            if let Some(port) = port {
                meta.insert(key.to_owned(), port.to_string());
            }
        }
    }
    (server.ports.server, Some(meta))
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
    /// Always there from 1.13 (peering).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<&'static str>,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn node_service(cluster: &Cluster, service: &Service) -> NodeService {
    let version = cluster.local_version();
    let (port, meta) = port_and_meta(cluster, service);
    NodeService {
        kind: service.proxy_of.as_ref().map(|_| "connect-proxy"),
        id: service.id.clone(),
        service: service.name.clone(),
        tags: service.tags.clone(),
        address: service.address.clone(),
        tagged_addresses: service_tagged_addresses(service),
        meta,
        port,
        weights: WEIGHTS,
        enable_tag_override: false,
        proxy: proxy(service, version),
        connect: Empty {},
        peer_name: version.has_1_13_fields().then_some(""),
        create_index: service.create_index,
        modify_index: service.modify_index,
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
    /// From 1.10 (unix sockets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_socket_path: Option<&'static str>,
    pub service_enable_tag_override: bool,
    pub service_proxy: Proxy,
    pub service_connect: Empty,
    /// From 1.13 (locality), always `null` here: a pointer without `omitempty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_locality: Option<()>,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn service_node(cluster: &Cluster, node: &Node, service: &Service) -> ServiceNode {
    let version = cluster.local_version();
    let (port, meta) = port_and_meta(cluster, service);
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
        service_meta: meta.unwrap_or_default(),
        service_port: port,
        service_socket_path: version.has_1_10_fields().then_some(""),
        service_enable_tag_override: false,
        service_proxy: proxy(service, version),
        service_connect: Empty {},
        service_locality: version.has_1_13_fields().then_some(()),
        create_index: service.create_index,
        modify_index: service.modify_index,
    }
}

/// `GET /v1/health/state/critical`: `structs.HealthCheck` as the API encodes it (CE: no
/// `Namespace`; `Interval`, `Timeout`, `ExposedPort` from 1.10).
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
    #[serde(flatten)]
    pub timing: Option<CheckTiming>,
    pub definition: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckTiming {
    pub interval: String,
    pub timeout: String,
    pub exposed_port: u16,
}

/// The critical checks: each failed member's `serfHealth` (Consul's own) and the cluster's
/// planted ones, in the state store's order (by node, then check ID: memdb keeps a non-unique
/// index's entries in the order of their IDs), as the answering agent's version encodes them.
pub fn critical_checks(cluster: &Cluster) -> Vec<HealthCheck> {
    let timing = || {
        cluster
            .local_version()
            .has_1_10_fields()
            .then(|| CheckTiming {
                interval: String::new(),
                timeout: String::new(),
                exposed_port: 0,
            })
    };
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
            timing: timing(),
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
        service_tags: cluster
            .services
            .iter()
            .find(|s| s.node == c.node && s.id == c.service_id)
            .map(|s| s.tags.clone())
            .unwrap_or_default(),
        r#type: c.check_type.clone(),
        timing: timing(),
        definition: BTreeMap::new(),
        create_index: c.create_index,
        modify_index: c.create_index,
    });
    let mut checks: Vec<HealthCheck> = planted.chain(serf).collect();
    checks.sort_by(|a, b| (&a.node, &a.check_id).cmp(&(&b.node, &b.check_id)));
    checks
}
