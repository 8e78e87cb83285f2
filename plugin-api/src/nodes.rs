//! One node, three names: the Consul node name, the Carbonio hostname and the gossip address.
//!
//! `service-discover setup` names each Consul node `server-` (a Mesh server) or `agent-` (every
//! other Carbonio node) followed by the host's FQDN with every `.` replaced by `-`:
//! `mail.example.com` is the node `agent-mail-example-com`. Admins think in hostnames (LDAP's
//! server entries, what ssh host keys are known by), Consul speaks node names, and the member
//! list gives addresses. [`NodeDirectory`] maps between the three, built from the members and
//! the Carbonio server list; the dashed form decides, and where it cannot (two hostnames with the
//! same dashed form, a node no hostname maps to) the directory says so instead of guessing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use crate::target::{NodeRole, Target, AGENT_PREFIX, SERVER_PREFIX};

use crate::consul;
use crate::services::{CarbonioServers, ConsulRequest};
use crate::{Host, PluginError};

/// A hostname's dashed form (`mail.example.com` → `mail-example-com`), lowercased: DNS names
/// compare without case.
pub fn dashed(hostname: &str) -> String {
    hostname
        .trim_end_matches('.')
        .to_ascii_lowercase()
        .replace('.', "-")
}

/// The node names `service-discover setup` could have given `hostname`: server first.
pub fn node_names_for(hostname: &str) -> [String; 2] {
    let dashed = dashed(hostname);
    [
        format!("{SERVER_PREFIX}{dashed}"),
        format!("{AGENT_PREFIX}{dashed}"),
    ]
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

/// The fields of a `/v1/agent/members` entry the directory needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's node name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The member's gossip address.
    #[serde(rename = "Addr")]
    pub addr: String,
    /// Serf's status code ([`consul::member_status`] names it).
    #[serde(rename = "Status")]
    pub status: u8,
}

/// One node under its three names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshNode {
    /// The Consul node name.
    pub node: String,
    /// From the name's prefix; none for a name not in Carbonio's form.
    pub role: Option<NodeRole>,
    /// The Carbonio hostname that maps to this node; none when no hostname (or more than one)
    /// does.
    pub host: Option<String>,
    /// The gossip address.
    pub address: String,
    /// Serf's status code ([`consul::member_status`] names it).
    pub status: u8,
}

impl MeshNode {
    /// Where to reach the node over the network: its hostname (what ssh host keys are known
    /// by), else its address.
    pub fn reach(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.address)
    }

    /// `agent-mail-example-com (mail.example.com)`, or the node name alone.
    pub fn label(&self) -> String {
        match &self.host {
            Some(host) => format!("{} ({host})", self.node),
            None => self.node.clone(),
        }
    }

    /// The status's name (`alive`, `failed`, ...).
    pub fn status_name(&self) -> &'static str {
        consul::member_status(self.status)
    }
}

/// What a name given on the command line resolved to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The one node the name means.
    Found(&'a MeshNode),
    /// The name fits several nodes (an address two members share, a hostname with both a
    /// `server-` and an `agent-` node): say which, do not pick.
    Ambiguous(Vec<&'a MeshNode>),
    /// No node has that name, hostname or address.
    NotFound,
}

/// The nodes of the cluster under their three names, and what could not be mapped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDirectory {
    /// Every member, in Consul's order.
    pub nodes: Vec<MeshNode>,
    /// Why a node has no hostname: "no Carbonio server maps to node X", "hostnames A and B
    /// both map to node X". Empty when every node mapped.
    pub unmapped: Vec<String>,
    /// The node of the agent answering (`/v1/agent/self`), when [`NodeDirectory::load`] could
    /// ask: "this host" as Consul knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_node: Option<String>,
}

/// The node name of the agent answering (`/v1/agent/self`): "this host" as Consul knows it;
/// `None` when the agent does not answer.
pub fn agent_node(host: &Host<'_>) -> Option<String> {
    consul::AgentSelf::read(host)
        .ok()
        .map(|me| me.config.node_name)
}

/// The members the directory is built from: `/v1/agent/members` of every segment, with the
/// token in use; an anonymous read under default-deny is an error saying which token to give.
pub fn members(host: &Host<'_>) -> Result<Vec<Member>, PluginError> {
    host.consul_get_filtered(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("segment", "_all"),
        "the member list",
        // What Consul's agent members endpoint requires (agent/agent_endpoint.go AgentMembers).
        "node:read",
    )
}

/// A node's short hostname: its hostname's first label (`proxy` of `proxy.example.com`); with no
/// hostname known, the first word of its node name after the prefix (`proxy` of
/// `agent-proxy-example-com`), which two nodes may share (then the name is ambiguous).
fn short_host_of(node: &MeshNode) -> Option<&str> {
    match &node.host {
        Some(host) => host.split('.').next(),
        None => NodeRole::split(&node.node).and_then(|(_, dashed)| dashed.split('-').next()),
    }
}

/// `node`'s hostname in the domain of `typed`, when its dashed form ends with that domain's
/// (`server-srv1-example-com` and `srv4.example.com`: `srv1.example.com`).
fn hostname_in_domain(node: &MeshNode, typed: &str) -> Option<String> {
    let (_, domain) = typed.trim_end_matches('.').split_once('.')?;
    let (_, node_dashed) = NodeRole::split(&node.node)?;
    let first = node_dashed.strip_suffix(&format!("-{}", dashed(domain)))?;
    (!first.is_empty()).then(|| format!("{first}.{}", domain.to_ascii_lowercase()))
}

/// How a name was typed, so that suggestions answer in the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameForm {
    /// `agent-mail-example-com`.
    Node,
    /// `mail.example.com`.
    Host,
    /// `mail`.
    Short,
    /// `192.168.56.110`.
    Address,
}

impl NameForm {
    /// The form of `typed`.
    pub fn of(typed: &str) -> NameForm {
        if typed.parse::<std::net::IpAddr>().is_ok() {
            NameForm::Address
        } else if NodeRole::split(typed).is_some() {
            NameForm::Node
        } else if typed.trim_end_matches('.').contains('.') {
            NameForm::Host
        } else {
            NameForm::Short
        }
    }

    /// `node`'s name in the form of `typed` (its node name when it has no name of that form).
    /// With no hostname known, a node whose dashed form ends with `typed`'s domain is named in
    /// that domain (`server-srv1-example-com` is `srv1.example.com` next to `srv4.example.com`):
    /// the name [`NodeDirectory::find`] resolves by its dashed form.
    pub fn name_of(self, node: &MeshNode, typed: &str) -> String {
        match self {
            NameForm::Node => node.node.clone(),
            NameForm::Address => node.address.clone(),
            NameForm::Host => node
                .host
                .clone()
                .or_else(|| hostname_in_domain(node, typed))
                .unwrap_or_else(|| node.node.clone()),
            NameForm::Short => match &node.host {
                Some(_) => short_host_of(node).unwrap_or(&node.node).to_owned(),
                None => node.node.clone(),
            },
        }
    }
}

/// Carbonio's hostnames by their dashed form: the hostname a node name maps to, one node at a
/// time (what [`NodeDirectory::build`] does for a whole list, for a plugin that meets the
/// members one by one).
#[derive(Debug, Default)]
pub struct Hostnames<'h> {
    /// Each hostname's dashed form computed once: 5,000 members against a long server list
    /// would otherwise compute it (and allocate it) for every pair.
    by_dashed: HashMap<String, Vec<&'h String>>,
}

impl<'h> Hostnames<'h> {
    /// The map of `hostnames` (Carbonio's server list; empty when it is not known).
    pub fn new(hostnames: &'h [String]) -> Self {
        let mut by_dashed: HashMap<String, Vec<&String>> = HashMap::new();
        for hostname in hostnames {
            by_dashed
                .entry(dashed(hostname))
                .or_default()
                .push(hostname);
        }
        Hostnames { by_dashed }
    }

    /// The one hostname that maps to node `name`; `Ok(None)` when no server list is known, and
    /// why there is none when one is (no hostname maps to it, or several do).
    pub fn of_node(&self, name: &str) -> Result<Option<&'h String>, String> {
        let candidates: &[&String] = match NodeRole::split(name) {
            Some((_, node_dashed)) => {
                // Lowercased only when it needs to be: node names usually are.
                let key = if node_dashed.bytes().any(|b| b.is_ascii_uppercase()) {
                    std::borrow::Cow::Owned(node_dashed.to_ascii_lowercase())
                } else {
                    std::borrow::Cow::Borrowed(node_dashed)
                };
                self.by_dashed.get(key.as_ref()).map_or(&[], Vec::as_slice)
            }
            None => &[],
        };
        match candidates {
            [one] => Ok(Some(*one)),
            [] if self.by_dashed.is_empty() => Ok(None),
            [] => Err(format!("no Carbonio server maps to node {name}")),
            many => {
                let names: Vec<&str> = many.iter().map(|h| h.as_str()).collect();
                Err(format!(
                    "hostnames {} all map to node {name}: its hostname is not known",
                    names.join(" and ")
                ))
            }
        }
    }
}

/// Carbonio's server hostnames (`carbonio.servers`), or why they are unknown (then nodes are
/// reached by address).
pub fn carbonio_hostnames(host: &Host<'_>) -> Result<Vec<String>, String> {
    host.call(&CarbonioServers::default())
        .map(|list| list.hostnames())
        .map_err(|e| {
            format!(
                "hostnames unknown ({}): nodes are reached by address",
                e.message
            )
        })
}

impl NodeDirectory {
    /// Maps `members` to `hostnames` (Carbonio's server list) by the dashed form.
    pub fn build(members: &[Member], hostnames: &[String]) -> Self {
        let map = Hostnames::new(hostnames);
        let mut unmapped = Vec::new();
        let nodes = members
            .iter()
            .map(|member| MeshNode {
                node: member.name.clone(),
                role: NodeRole::split(&member.name).map(|(role, _)| role),
                host: map
                    .of_node(&member.name)
                    .unwrap_or_else(|note| {
                        unmapped.push(note);
                        None
                    })
                    .cloned(),
                address: member.addr.clone(),
                status: member.status,
            })
            .collect();
        NodeDirectory {
            nodes,
            unmapped,
            local_node: None,
        }
    }

    /// The node `name` means: a node name, a hostname (mapped, or by its dashed form when the
    /// server list is not known), an address, or a short hostname (`proxy` for
    /// `proxy.example.com`, when one node has it). Node names win, then hostnames, then
    /// addresses, then short hostnames.
    pub fn find(&self, name: &str) -> Lookup<'_> {
        let trimmed = name.trim_end_matches('.');
        if let Some(node) = self.nodes.iter().find(|n| n.node == trimmed) {
            return Lookup::Found(node);
        }
        let by_host: Vec<&MeshNode> = self
            .nodes
            .iter()
            .filter(|n| {
                n.host
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(trimmed))
            })
            .collect();
        let by_dashed: Vec<&MeshNode> = if by_host.is_empty() && trimmed.contains('.') {
            let candidates = node_names_for(trimmed);
            self.nodes
                .iter()
                .filter(|n| candidates.contains(&n.node.to_ascii_lowercase()))
                .collect()
        } else {
            Vec::new()
        };
        let by_address: Vec<&MeshNode> = if by_host.is_empty() && by_dashed.is_empty() {
            self.nodes.iter().filter(|n| n.address == trimmed).collect()
        } else {
            Vec::new()
        };
        let short = !trimmed.contains('.') && by_host.is_empty() && by_dashed.is_empty();
        let by_short: Vec<&MeshNode> = if short && by_address.is_empty() {
            self.nodes
                .iter()
                .filter(|n| short_host_of(n).is_some_and(|s| s.eq_ignore_ascii_case(trimmed)))
                .collect()
        } else {
            Vec::new()
        };
        for found in [by_host, by_dashed, by_address, by_short] {
            match found.len() {
                0 => continue,
                1 => return Lookup::Found(found[0]),
                _ => return Lookup::Ambiguous(found),
            }
        }
        Lookup::NotFound
    }

    /// The cluster as the local agent sees it (`/v1/agent/members`, every segment, with the
    /// token in use) mapped to Carbonio's server list (`carbonio.servers`). Without that list
    /// (not a Carbonio node, LDAP unreachable) hostnames are unknown: `unmapped` says why, and
    /// nodes are reached by address.
    pub fn load(host: &Host<'_>) -> Result<Self, PluginError> {
        let members = members(host)?;
        let mut directory = Self::with_servers_of(host, &members);
        directory.local_node = agent_node(host);
        Ok(directory)
    }

    /// The directory of nodes the catalog lists, as `(node name, address)`: the catalog has no
    /// serf status, so they count as alive.
    pub fn of_listed<'n>(
        host: &Host<'_>,
        nodes: impl IntoIterator<Item = (&'n str, &'n str)>,
    ) -> Self {
        let members: Vec<Member> = nodes
            .into_iter()
            .map(|(name, addr)| Member {
                name: name.to_owned(),
                addr: addr.to_owned(),
                status: consul::ALIVE,
            })
            .collect();
        Self::with_servers_of(host, &members)
    }

    /// [`NodeDirectory::build`] with the hostnames from `carbonio.servers`.
    pub fn with_servers_of(host: &Host<'_>, members: &[Member]) -> Self {
        match carbonio_hostnames(host) {
            Ok(hostnames) => Self::build(members, &hostnames),
            Err(note) => {
                let mut directory = Self::build(members, &[]);
                directory.unmapped.push(note);
                directory
            }
        }
    }

    /// Every mapped node's hostname by node name: for adding `host` to a whole list (one
    /// [`NodeDirectory::host_of`] per node of 5,000 is 12.5 million name comparisons).
    pub fn hosts_by_node(&self) -> HashMap<&str, &str> {
        self.nodes
            .iter()
            .filter_map(|n| Some((n.node.as_str(), n.host.as_deref()?)))
            .collect()
    }

    /// The hostname of the Consul node `node`, for output that adds `host` to Consul's (a
    /// walk through the list: see [`NodeDirectory::hosts_by_node`] for many nodes).
    pub fn host_of(&self, node: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|n| n.node == node)
            .and_then(|n| n.host.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, addr: &str, status: u8) -> Member {
        Member {
            name: name.into(),
            addr: addr.into(),
            status,
        }
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn directory() -> NodeDirectory {
        NodeDirectory::build(
            &[
                member("server-srv1-example-com", "192.168.56.101", 1),
                member("agent-mail-example-com", "192.168.56.110", 1),
                member("agent-proxy-example-com", "192.168.56.111", 4),
            ],
            &hosts(&["srv1.example.com", "mail.example.com", "proxy.example.com"]),
        )
    }

    #[test]
    fn a_short_hostname_finds_the_one_node_that_has_it() {
        let directory = directory();
        match directory.find("proxy") {
            Lookup::Found(node) => assert_eq!(node.node, "agent-proxy-example-com"),
            other => panic!("{other:?}"),
        }
        // Without the server list, the node name's first word after its prefix.
        let unmapped = NodeDirectory::build(
            &[
                member("agent-mail-example-com", "10.0.0.1", 1),
                member("agent-mail-example-org", "10.0.0.2", 1),
                member("agent-proxy-example-com", "10.0.0.3", 1),
            ],
            &[],
        );
        assert!(
            matches!(unmapped.find("proxy"), Lookup::Found(n) if n.node == "agent-proxy-example-com")
        );
        assert!(matches!(unmapped.find("mail"), Lookup::Ambiguous(found) if found.len() == 2));
        assert_eq!(unmapped.find("nosuch"), Lookup::NotFound);
        // Suggestions in the form typed, each found again by find.
        let mail = &directory.nodes[1];
        for typed in [
            "mial.example.com",
            "mial",
            "agent-mial-example-com",
            "192.168.56.11",
        ] {
            let named = NameForm::of(typed).name_of(mail, typed);
            assert_eq!(directory.find(&named), Lookup::Found(mail), "{named}");
        }
        assert_eq!(NameForm::of("mial").name_of(mail, "mial"), "mail");
        // No hostname known: named in the typed domain, which find resolves by its dashed form.
        let unmapped_mail = &unmapped.nodes[0];
        assert_eq!(
            NameForm::Host.name_of(unmapped_mail, "srv4.example.com"),
            "mail.example.com"
        );
        assert_eq!(
            NameForm::Host.name_of(unmapped_mail, "srv4.example.net"),
            "agent-mail-example-com"
        );
    }

    #[test]
    fn each_of_the_three_names_finds_the_node() {
        let directory = directory();
        for name in [
            "agent-mail-example-com",
            "mail.example.com",
            "MAIL.example.com.",
            "192.168.56.110",
        ] {
            match directory.find(name) {
                Lookup::Found(node) => {
                    assert_eq!(node.node, "agent-mail-example-com", "{name}");
                    assert_eq!(node.host.as_deref(), Some("mail.example.com"));
                    assert_eq!(node.reach(), "mail.example.com");
                    assert_eq!(node.label(), "agent-mail-example-com (mail.example.com)");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(directory.find("srv2.example.com"), Lookup::NotFound);
        assert_eq!(directory.find("srv2.example.com.dc1"), Lookup::NotFound);
        assert_eq!(
            directory.nodes[0].role,
            Some(NodeRole::Server),
            "server- prefix"
        );
        assert!(directory.unmapped.is_empty(), "{:?}", directory.unmapped);
    }

    #[test]
    fn hosts_by_node_agrees_with_host_of() {
        let mut directory = directory();
        directory.nodes.push(MeshNode {
            node: "consul-unmapped".into(),
            role: None,
            host: None,
            address: "10.0.0.9".into(),
            status: 1,
        });
        let hosts = directory.hosts_by_node();
        assert_eq!(hosts.len(), 3);
        for node in &directory.nodes {
            assert_eq!(
                hosts.get(node.node.as_str()).copied(),
                directory.host_of(&node.node)
            );
        }
    }

    #[test]
    fn without_the_server_list_hostnames_still_find_their_node_by_the_dashed_form() {
        let directory = NodeDirectory::build(
            &[member("agent-mail-example-com", "192.168.56.110", 1)],
            &[],
        );
        match directory.find("mail.example.com") {
            Lookup::Found(node) => {
                assert_eq!(node.node, "agent-mail-example-com");
                assert_eq!(node.host, None, "not known without the server list");
                assert_eq!(
                    node.reach(),
                    "192.168.56.110",
                    "the address, never the node name"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            directory.unmapped.is_empty(),
            "nothing to report without a list"
        );
    }

    #[test]
    fn two_hostnames_with_one_dashed_form_are_named_not_guessed() {
        let directory = NodeDirectory::build(
            &[member("agent-mail-example-com", "192.168.56.110", 1)],
            &hosts(&["mail.example.com", "mail-example.com"]),
        );
        assert_eq!(directory.nodes[0].host, None);
        assert_eq!(
            directory.unmapped,
            ["hostnames mail.example.com and mail-example.com all map to node agent-mail-example-com: its hostname is not known"]
        );
        assert_eq!(directory.nodes[0].reach(), "192.168.56.110");
    }

    #[test]
    fn a_node_no_hostname_maps_to_is_reported_and_reached_by_address() {
        let directory = NodeDirectory::build(
            &[
                member("server-srv1-example-com", "192.168.56.101", 1),
                member("consul-test", "10.0.0.9", 1),
            ],
            &hosts(&["srv1.example.com"]),
        );
        assert_eq!(directory.nodes[1].role, None);
        assert_eq!(directory.nodes[1].reach(), "10.0.0.9");
        assert_eq!(
            directory.unmapped,
            ["no Carbonio server maps to node consul-test"]
        );
    }

    #[test]
    fn a_hostname_with_both_a_server_and_an_agent_node_is_ambiguous() {
        // A server set up again as an agent without force-leave: both names are members.
        let directory = NodeDirectory::build(
            &[
                member("server-srv2-example-com", "192.168.56.102", 4),
                member("agent-srv2-example-com", "192.168.56.102", 1),
            ],
            &[],
        );
        match directory.find("srv2.example.com") {
            Lookup::Ambiguous(nodes) => assert_eq!(nodes.len(), 2),
            other => panic!("{other:?}"),
        }
        match directory.find("192.168.56.102") {
            Lookup::Ambiguous(nodes) => assert_eq!(nodes.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            directory.find("agent-srv2-example-com"),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn dashed_forms() {
        assert_eq!(dashed("Mail.Example.com."), "mail-example-com");
        assert_eq!(
            node_names_for("srv1.example.com"),
            ["server-srv1-example-com", "agent-srv1-example-com"]
        );
        assert_eq!(
            NodeRole::split("agent-mail-example-com"),
            Some((NodeRole::Agent, "mail-example-com"))
        );
        assert_eq!(NodeRole::split("mail.example.com"), None);
    }
}
