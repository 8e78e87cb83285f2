//! `net.*`: name resolution and this host's addresses (read-only).

use serde::{Deserialize, Serialize};

use super::Service;

/// `net.resolve`: the addresses of a host name (the system resolver; under `--root`, only the
/// root's `etc/hosts`, so tests never depend on DNS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    /// The host name.
    pub name: String,
}

/// Addresses, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// IP addresses as text, without duplicates, in resolver order.
    pub addresses: Vec<String>,
}

impl Service for Resolve {
    const NAME: &'static str = "net.resolve";
    type Answer = Addresses;
}

/// `net.local-addresses`: every IP address on this host's network interfaces (not `hostname -i`,
/// which often answers 127.0.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddresses {}

impl Service for LocalAddresses {
    const NAME: &'static str = "net.local-addresses";
    type Answer = Addresses;
}

/// `net.source-address` (1.5): the local address this host's routing table uses to reach `to`
/// (what `ip route get TO` names as `src`): the address a node is reachable at from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAddress {
    /// The address to reach.
    pub to: String,
}

impl Service for SourceAddress {
    const NAME: &'static str = "net.source-address";
    type Answer = Addresses;
}
