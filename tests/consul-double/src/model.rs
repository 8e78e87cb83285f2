//! The cluster the double answers for: nodes (servers and clients, each agent with its Consul
//! version and a serf status), services registered on them, the raft leader, and ACL tokens.
//! Tests build one (see `clusters.rs`) and change it; the endpoints render it as the answering
//! agent's version would, each member as its own version tags it.

use std::collections::BTreeMap;

use crate::version::Version;

/// Serf member status (`serf.MemberStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Alive = 1,
    Leaving = 2,
    Left = 3,
    Failed = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub id: String,
    pub address: String,
    pub role: Role,
    pub status: Status,
    pub create_index: u64,
    pub modify_index: u64,
    /// Node metadata besides `consul-network-segment` (which every node has).
    pub meta: BTreeMap<String, String>,
    /// The node's network coordinate, for `?near=` sorting (none: sorted last, as Consul does).
    pub coordinate: Option<Coordinate>,
    /// The Consul its agent runs, and that build's git revision: the `build` tag is
    /// `VERSION:REVISION`.
    pub version: Version,
    pub revision: String,
    /// The ports its agent was started with.
    pub ports: Ports,
}

impl Node {
    /// An alive node of Consul 1.9.3 (the official binary) on Carbonio's ports.
    pub fn new(name: &str, id: &str, address: &str, role: Role) -> Node {
        Node {
            name: name.into(),
            id: id.into(),
            address: address.into(),
            role,
            status: Status::Alive,
            create_index: 0,
            modify_index: 0,
            meta: BTreeMap::new(),
            coordinate: None,
            version: Version::V1_9_3,
            revision: Version::V1_9_3.carbonio_revision().into(),
            ports: Ports::CARBONIO,
        }
    }

    /// The `build` serf tag.
    pub fn build(&self) -> String {
        format!("{}:{}", self.version, self.revision)
    }
}

/// An agent's ports (`ports` in its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Server RPC (raft), `port=` in a server's tags.
    pub server: u16,
    pub serf_lan: u16,
    pub serf_wan: u16,
    /// gRPC, plain and TLS (`ports.grpc`, `ports.grpc_tls`; none: disabled).
    pub grpc: Option<u16>,
    pub grpc_tls: Option<u16>,
}

impl Ports {
    /// What service-discover configures (Consul's defaults; gRPC 8502, gRPC TLS 8503 since
    /// service-discover b845b30, 2024).
    pub const CARBONIO: Ports = Ports {
        server: 8300,
        serf_lan: 8301,
        serf_wan: 8302,
        grpc: Some(8502),
        grpc_tls: Some(8503),
    };
}

/// A Vivaldi network coordinate (`serf/coordinate.Coordinate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    pub vec: Vec<f64>,
    pub height: f64,
    pub adjustment: f64,
}

impl Eq for Coordinate {}

impl Coordinate {
    /// `Coordinate.DistanceTo` in seconds: the Euclidean distance plus both heights, adjusted
    /// when the adjusted value stays positive.
    pub fn distance_to(&self, other: &Coordinate) -> f64 {
        let raw = self
            .vec
            .iter()
            .zip(&other.vec)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
            + self.height
            + other.height;
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }
}

/// The sidecar part of a Connect proxy registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyOf {
    pub destination_service: String,
    pub local_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub node: String,
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub meta: Option<BTreeMap<String, String>>,
    /// Set for a `connect-proxy` sidecar.
    pub proxy_of: Option<ProxyOf>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub accessor: String,
    pub secret: String,
    pub description: String,
    /// `(policy id, policy name)`; `global-management` grants everything.
    pub policies: Vec<(String, String)>,
    pub create_time: String,
    pub hash: String,
    pub create_index: u64,
}

impl Token {
    pub fn is_management(&self) -> bool {
        self.policies
            .iter()
            .any(|(_, name)| name == "global-management")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub datacenter: String,
    /// In Go map order as the fixture shows it; the CLI sorts.
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    /// Name of the raft leader, if there is one.
    pub leader: Option<String>,
    pub acl_enabled: bool,
    pub tokens: Vec<Token>,
    /// The raft index ACL bootstrapping happened at (`reset index: N`).
    pub bootstrap_index: u64,
    /// The node whose agent answers (a client agent answers `null` to `?wan=1`).
    pub local_node: String,
    pub catalog_index: u64,
    /// The leader's Consul `data_dir`, where `acl-bootstrap-reset` is read from (none: no file).
    pub data_dir: Option<std::path::PathBuf>,
    /// ACLs enabled but still in legacy mode (just after start): bootstrap answers 500.
    pub acl_legacy_mode: bool,
    /// How many bootstraps happened (the first one creates the fixtures' token).
    pub bootstraps: u32,
    /// Set: `PUT /v1/agent/reload` fails with this text (a broken configuration file), status 500.
    pub reload_error: Option<String>,
    /// Set: the agent answers this many more requests, then every connection breaks (Consul
    /// going down mid-way).
    pub answers_left: Option<usize>,
    /// Member tags that differ from the double's defaults, by node (`build`, `vsn`): a node
    /// running another Consul version.
    pub member_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Health checks that are critical besides the `serfHealth` of failed members.
    pub critical_checks: Vec<HealthCheck>,
    /// The gossip keys installed, each with the nodes that lack it (`/v1/operator/keyring`);
    /// empty: the fixture's one key, on every node.
    pub keyring: Vec<(String, Vec<String>)>,
    /// What the servers were started with: service-discover passes `-bootstrap-expect`
    /// servers/2+1 (cmd/service-discoverd startConsul), and Consul turns an expect of 1 into
    /// `-bootstrap` (agent/config/builder.go): the `expect=N` or `bootstrap=1` tag.
    pub bootstrap_expect: usize,
    /// The raft servers in raft's order (`/v1/operator/raft/configuration`,
    /// `/v1/status/peers`); empty: the servers by name.
    pub raft_order: Vec<String>,
    /// The raft configuration's index.
    pub raft_index: u64,
    /// Servers behind the leader, by node: autopilot's `LastContact` (a Go duration such as
    /// `350ms`) and how many log entries they trail by (`/v1/operator/autopilot/health`); the
    /// others are in contact ("0s" for the leader, "10ms") and current.
    pub raft_lag: BTreeMap<String, (String, u64)>,
    /// The token the first `acl bootstrap` makes; later ones differ in IDs and indices.
    pub first_token: Token,
}

/// `-bootstrap-expect` as service-discover computes it for `servers` Mesh servers.
pub fn bootstrap_expect(servers: usize) -> usize {
    servers / 2 + 1
}

/// A health check in the critical state (`structs.HealthCheck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub node: String,
    pub check_id: String,
    pub name: String,
    pub service_id: String,
    pub service_name: String,
    pub output: String,
    /// `http`, `tcp`, ... (empty: Consul's own serfHealth).
    pub check_type: String,
    pub create_index: u64,
}

/// The gossip key of the fixture cluster (a made-up 32-byte key; no real cluster's).
pub const FIXTURE_GOSSIP_KEY: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Gives node `name` `status` (a node that failed, left, came back).
    pub fn set_status(&mut self, name: &str, status: Status) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.name == name) {
            node.status = status;
        }
    }

    /// The agent that answers: its node.
    pub fn local(&self) -> Option<&Node> {
        self.node(&self.local_node)
    }

    /// The Consul of the agent that answers: it decides texts, statuses and shapes.
    pub fn local_version(&self) -> Version {
        self.local().map_or(Version::V1_9_3, |n| n.version)
    }

    /// Whether the answering agent is a server (a client answers `null` to `?wan=1`).
    pub fn local_is_server(&self) -> bool {
        self.local().is_some_and(|n| n.role == Role::Server)
    }

    /// Every node runs `version` (Carbonio's build of it).
    pub fn with_version(mut self, version: Version) -> Self {
        for node in &mut self.nodes {
            node.version = version;
            node.revision = version.carbonio_revision().into();
        }
        self
    }

    /// The raft servers in raft's order.
    pub fn raft_peers(&self) -> Vec<&Node> {
        let mut servers: Vec<&Node> = self.servers().collect();
        if self.raft_order.is_empty() {
            servers.sort_by(|a, b| a.name.cmp(&b.name));
        } else {
            servers.sort_by_key(|n| self.raft_order.iter().position(|name| *name == n.name));
        }
        servers
    }

    /// A node as Consul 1.9.3's catalog finds one (`nodeServicesTxn`): by name, else by a
    /// unique node-ID prefix of at least two characters (cut to an even length, as
    /// `resizeNodeLookupKey` does); a prefix two nodes share finds none.
    pub fn lookup_node(&self, name_or_id: &str) -> Option<&Node> {
        if let Some(node) = self.node(name_or_id) {
            return Some(node);
        }
        if name_or_id.len() < 2 {
            return None;
        }
        let prefix = name_or_id.get(..name_or_id.len() - name_or_id.len() % 2)?;
        let mut found = self.nodes.iter().filter(|n| {
            n.id.to_ascii_lowercase()
                .starts_with(&prefix.to_ascii_lowercase())
        });
        match (found.next(), found.next()) {
            (Some(node), None) => Some(node),
            _ => None,
        }
    }

    pub fn servers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Server)
    }

    pub fn token(&self, secret: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.secret == secret)
    }

    /// `PUT /v1/acl/bootstrap`, as `BootstrapTokens` in Consul 1.9.3 decides it: the first time, or
    /// when `<data_dir>/acl-bootstrap-reset` holds the current reset index (then the file is
    /// removed), a new management token; otherwise the reason. The old token stays valid, as in
    /// Consul (it is not deleted by a reset).
    pub fn acl_bootstrap(&mut self) -> Result<Token, BootstrapRefusal> {
        if self.bootstraps > 0 {
            let reset_file = self
                .data_dir
                .as_ref()
                .map(|dir| dir.join("acl-bootstrap-reset"));
            let raw = reset_file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .unwrap_or_default();
            let first_line = raw.split('\n').next().unwrap_or_default();
            if first_line.is_empty() {
                return Err(BootstrapRefusal::NoLongerAllowed {
                    reset_index: self.bootstrap_index,
                });
            }
            let specified: u64 = first_line
                .parse()
                .map_err(|_| BootstrapRefusal::Unparsable {
                    text: first_line.to_owned(),
                })?;
            if specified != self.bootstrap_index {
                return Err(BootstrapRefusal::WrongIndex {
                    specified,
                    reset_index: self.bootstrap_index,
                });
            }
            if let Some(file) = reset_file {
                let _ = std::fs::remove_file(file);
            }
        }
        let token = if self.bootstraps == 0 {
            self.first_token.clone()
        } else {
            let n = self.bootstraps as u64;
            self.catalog_index += 10;
            Token {
                accessor: format!("{n:08x}-aaaa-4bbb-8ccc-{:012x}", self.catalog_index),
                secret: format!("{n:08x}-5eca-4e7d-9000-{:012x}", self.catalog_index),
                create_index: self.catalog_index,
                create_time: "2026-11-23T01:00:00.000000000Z".into(),
                ..self.first_token.clone()
            }
        };
        self.bootstrap_index = token.create_index;
        self.bootstraps += 1;
        self.tokens.push(token.clone());
        Ok(token)
    }
}

/// Why `PUT /v1/acl/bootstrap` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapRefusal {
    /// 403 `ACL bootstrap no longer allowed (reset index: N)`.
    NoLongerAllowed { reset_index: u64 },
    /// 500 `Invalid bootstrap reset index (specified X, reset index: Y)`; the file stays.
    WrongIndex { specified: u64, reset_index: u64 },
    /// 500: the reset file does not hold a number.
    Unparsable { text: String },
}

/// The `consul` service every server registers (agent/consul/leader_registrator_v1.go): its
/// port and meta come from the server's tags when rendered.
pub fn consul_service(node: &str, index: u64) -> Service {
    Service {
        node: node.into(),
        id: "consul".into(),
        name: "consul".into(),
        tags: Vec::new(),
        address: String::new(),
        port: 0,
        meta: None,
        proxy_of: None,
        create_index: index,
        modify_index: index,
    }
}
