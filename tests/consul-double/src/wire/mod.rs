//! Consul's JSON shapes, field for field in Go struct order (serde keeps declaration order; Go
//! maps become `BTreeMap`s, sorted like encoding/json sorts map keys), and Go's encoding rules.
//! A shape is the answering agent's version's (its structs encode the answer); what a node says
//! about itself (tags, meta) is that node's version's.

mod acl;
mod agent;
mod catalog;
mod operator;

pub use acl::{acl_bootstrap, acl_token, AclBootstrap, AclToken};
pub use agent::{agent_self, agent_service, member, AgentSelf, AgentService, Member};
pub use catalog::{
    catalog_node, critical_checks, node_service, service_node, CatalogNode, HealthCheck,
    NodeService, NodeServiceList, NodeServices, ServiceNode,
};
pub use operator::{
    autopilot_health, keyring, raft_configuration, AutopilotHealth, AutopilotServer, KeyringPool,
    RaftConfiguration, RaftServer,
};

use serde::Serialize;

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

/// `{}`: a Go struct whose fields are all empty and `omitempty`.
#[derive(Serialize, Default)]
pub struct Empty {}

/// Whether Consul tags `address` `_ipv4` or `_ipv6` (`agent.go` looks at its family).
fn is_ipv6(address: &str) -> bool {
    address.parse::<std::net::Ipv6Addr>().is_ok()
}
