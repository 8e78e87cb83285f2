//! The cluster the double answers for: nodes (servers and clients, with a serf status), services
//! registered on them, the raft leader, and ACL tokens. Tests build one and change it; the
//! endpoints render it the way Consul 1.9.3 would.

use std::collections::BTreeMap;

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
}

/// The gossip key of the fixture cluster (a made-up 32-byte key; no real cluster's).
pub const FIXTURE_GOSSIP_KEY: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";

pub const BUILD: &str = "1.9.3:f55da930";
pub const VERSION: &str = "1.9.3";

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
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

    /// The five-node cluster of `tests/fixtures/consul/README.md`, in the fixtures' order.
    pub fn fixture() -> Self {
        let node = |name: &str, id: &str, address: &str, role, create, modify| Node {
            name: name.into(),
            id: id.into(),
            address: address.into(),
            role,
            status: Status::Alive,
            create_index: create,
            modify_index: modify,
            meta: BTreeMap::new(),
            coordinate: None,
        };
        let mut cluster = Cluster {
            datacenter: "dc1".into(),
            nodes: vec![
                node(
                    "server-srv2-example-com",
                    "ec748baa-ffbf-ee99-35ef-37ced87c808e",
                    "192.168.56.102",
                    Role::Server,
                    0,
                    0,
                ),
                node(
                    "agent-mail-example-com",
                    "f1c36ec8-cfd8-a65b-ef16-945585b61781",
                    "192.168.56.110",
                    Role::Client,
                    36,
                    38,
                ),
                node(
                    "server-srv1-example-com",
                    "8f76e2ee-c32c-f84c-8e45-86e739064f27",
                    "192.168.56.101",
                    Role::Server,
                    0,
                    0,
                ),
                node(
                    "agent-proxy-example-com",
                    "8bf45562-d74f-8033-bc36-279dd81a48e7",
                    "192.168.56.111",
                    Role::Client,
                    0,
                    0,
                ),
                node(
                    "server-srv3-example-com",
                    "47a8528e-58d0-e18e-3bf6-ba3742b62e48",
                    "192.168.56.103",
                    Role::Server,
                    0,
                    0,
                ),
            ],
            services: Vec::new(),
            leader: Some("server-srv1-example-com".into()),
            acl_enabled: true,
            tokens: vec![Token {
                accessor: "15e8da5d-24b1-a6b5-cb5f-ab7a7fdbe57a".into(),
                secret: "260570b8-e9af-05cf-9513-c03866285b98".into(),
                description: "Bootstrap Token (Global Management)".into(),
                policies: vec![(
                    "00000000-0000-0000-0000-000000000001".into(),
                    "global-management".into(),
                )],
                create_time: "2021-03-04T09:15:42.812345678Z".into(),
                hash: "jS0eM9TUWptYhPkrat1yLaS8dIcS3NIJz4ZDDmmBsxA=".into(),
                create_index: 908,
            }],
            bootstrap_index: 908,
            local_node: "server-srv1-example-com".into(),
            catalog_index: 450,
            data_dir: None,
            acl_legacy_mode: false,
            bootstraps: 1,
            reload_error: None,
            answers_left: None,
            member_tags: BTreeMap::new(),
            critical_checks: Vec::new(),
            keyring: Vec::new(),
        };
        cluster.set_indices_from_fixture();
        cluster.services = vec![
            consul_service("server-srv1-example-com", 10),
            consul_service("server-srv2-example-com", 14),
            consul_service("server-srv3-example-com", 18),
            Service {
                node: "agent-mail-example-com".into(),
                id: "carbonio-mailbox".into(),
                name: "carbonio-mailbox".into(),
                tags: vec!["primary".into(), "mailbox".into()],
                address: String::new(),
                port: 8080,
                meta: None,
                proxy_of: None,
                create_index: 412,
                modify_index: 412,
            },
            Service {
                node: "agent-mail-example-com".into(),
                id: "carbonio-mailbox-sidecar-proxy".into(),
                name: "carbonio-mailbox-sidecar-proxy".into(),
                tags: vec!["primary".into(), "mailbox".into()],
                address: String::new(),
                port: 21000,
                meta: None,
                proxy_of: Some(ProxyOf {
                    destination_service: "carbonio-mailbox".into(),
                    local_port: 8080,
                }),
                create_index: 413,
                modify_index: 413,
            },
            Service {
                node: "agent-proxy-example-com".into(),
                id: "carbonio-proxy".into(),
                name: "carbonio-proxy".into(),
                tags: vec!["https".into(), "http".into()],
                address: "192.168.56.111".into(),
                port: 443,
                meta: None,
                proxy_of: None,
                create_index: 450,
                modify_index: 450,
            },
        ];
        cluster
    }

    fn set_indices_from_fixture(&mut self) {
        for (name, create, modify) in [
            ("server-srv1-example-com", 9, 11),
            ("server-srv2-example-com", 12, 15),
            ("server-srv3-example-com", 13, 17),
            ("agent-mail-example-com", 36, 38),
            ("agent-proxy-example-com", 41, 43),
        ] {
            if let Some(node) = self.nodes.iter_mut().find(|n| n.name == name) {
                node.create_index = create;
                node.modify_index = modify;
            }
        }
    }

    /// A generated cluster: `servers` servers, `clients` clients of which `failed` are failed.
    /// Names `server-srvN-mesh-test`, `agent-nodeN-mesh-test` (hosts `srvN.mesh.test`,
    /// `nodeN.mesh.test`); addresses in 10.x (never contacted: data only).
    pub fn generated(servers: usize, clients: usize, failed: usize) -> Self {
        let mut nodes = Vec::with_capacity(servers + clients);
        for i in 0..servers + clients {
            let server = i < servers;
            let n = if server { i + 1 } else { i - servers + 1 };
            nodes.push(Node {
                name: if server {
                    format!("server-srv{n}-mesh-test")
                } else {
                    format!("agent-node{n}-mesh-test")
                },
                id: format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1),
                address: format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                role: if server { Role::Server } else { Role::Client },
                status: if !server && i - servers < failed {
                    Status::Failed
                } else {
                    Status::Alive
                },
                create_index: 10 + i as u64,
                modify_index: 10 + i as u64,
                meta: BTreeMap::new(),
                coordinate: None,
            });
        }
        let services = nodes
            .iter()
            .filter(|n| n.role == Role::Server)
            .map(|n| consul_service(&n.name, n.create_index))
            .collect();
        Cluster {
            datacenter: "dc1".into(),
            leader: nodes.first().map(|n| n.name.clone()),
            local_node: nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
            nodes,
            services,
            acl_enabled: true,
            tokens: Cluster::fixture().tokens,
            bootstrap_index: 908,
            catalog_index: 100,
            data_dir: None,
            acl_legacy_mode: false,
            bootstraps: 1,
            reload_error: None,
            answers_left: None,
            member_tags: BTreeMap::new(),
            critical_checks: Vec::new(),
            keyring: Vec::new(),
        }
    }

    /// The fixture cluster weeks later (`v1_agent_members_degraded.json`): the proxy node failed,
    /// an MTA node left, and a file-server node joined over IPv6.
    pub fn fixture_degraded() -> Self {
        let mut cluster = Cluster::fixture();
        for node in &mut cluster.nodes {
            if node.name == "agent-proxy-example-com" {
                node.status = Status::Failed;
            }
        }
        let client = |name: &str, id: &str, address: &str, status, index| Node {
            name: name.into(),
            id: id.into(),
            address: address.into(),
            role: Role::Client,
            status,
            create_index: index,
            modify_index: index,
            meta: BTreeMap::new(),
            coordinate: None,
        };
        cluster.nodes.push(client(
            "agent-mta-example-com",
            "3c9e1a57-0b6d-4f2e-9a41-7d2c58e0b6f3",
            "192.168.56.112",
            Status::Left,
            52,
        ));
        cluster.nodes.push(client(
            "agent-files-example-com",
            "b9bb7ab4-5d1e-4c6a-8f0e-2a7d3e9c4f18",
            "2001:db8:56::113",
            Status::Alive,
            57,
        ));
        cluster
    }

    /// The fixture cluster before anyone ran `consul acl bootstrap`.
    pub fn fixture_unbootstrapped() -> Self {
        Cluster {
            tokens: Vec::new(),
            bootstrap_index: 0,
            bootstraps: 0,
            reload_error: None,
            answers_left: None,
            member_tags: BTreeMap::new(),
            critical_checks: Vec::new(),
            keyring: Vec::new(),
            ..Cluster::fixture()
        }
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
            Cluster::fixture().tokens.remove(0)
        } else {
            let n = self.bootstraps as u64;
            self.catalog_index += 10;
            Token {
                accessor: format!("{n:08x}-aaaa-4bbb-8ccc-{:012x}", self.catalog_index),
                secret: format!("{n:08x}-5eca-4e7d-9000-{:012x}", self.catalog_index),
                create_index: self.catalog_index,
                create_time: "2026-11-23T01:00:00.000000000Z".into(),
                ..Cluster::fixture().tokens.remove(0)
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

/// The `consul` service every server registers (`agent/consul/leader.go`).
fn consul_service(node: &str, index: u64) -> Service {
    let meta = [
        ("non_voter", "false"),
        ("raft_version", "3"),
        ("read_replica", "false"),
        ("serf_protocol_current", "2"),
        ("serf_protocol_max", "5"),
        ("serf_protocol_min", "1"),
        ("version", VERSION),
    ];
    Service {
        node: node.into(),
        id: "consul".into(),
        name: "consul".into(),
        tags: Vec::new(),
        address: String::new(),
        port: 8300,
        meta: Some(
            meta.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        proxy_of: None,
        create_index: index,
        modify_index: index,
    }
}
