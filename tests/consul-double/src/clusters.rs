//! The clusters tests start from: the fixture cluster of `tests/fixtures/consul` (any version),
//! its degraded and unbootstrapped states, the cluster recorded from a real Consul 1.10.12, and
//! generated ones for benchmarks.

use std::collections::BTreeMap;

use crate::model::{
    bootstrap_expect, consul_service, Cluster, HealthCheck, Node, Ports, ProxyOf, Role, Service,
    Status, Token,
};
use crate::version::Version;

/// The fixture cluster's bootstrap token (made up; `tests/fixtures/consul/README.md`).
fn fixture_token() -> Token {
    Token {
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
    }
}

fn node_at(
    (name, id, address): (&str, &str, &str),
    role: Role,
    (create_index, modify_index): (u64, u64),
) -> Node {
    Node {
        create_index,
        modify_index,
        ..Node::new(name, id, address, role)
    }
}

fn service(
    node: &str,
    id: &str,
    tags: [&str; 2],
    (address, port): (&str, u16),
    index: u64,
) -> Service {
    Service {
        node: node.into(),
        id: id.into(),
        name: id.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        address: address.into(),
        port,
        meta: None,
        proxy_of: None,
        create_index: index,
        modify_index: index,
    }
}

/// `ID`'s connect sidecar, as `Connect.SidecarService: {}` registers it (port 21000).
fn sidecar_of(node: &str, of: &str, tags: [&str; 2], local_port: u16, index: u64) -> Service {
    Service {
        proxy_of: Some(ProxyOf {
            destination_service: of.into(),
            local_port,
        }),
        ..service(
            node,
            &format!("{of}-sidecar-proxy"),
            tags,
            ("", 21000),
            index,
        )
    }
}

impl Cluster {
    /// The five-node cluster of `tests/fixtures/consul/README.md`, in the fixtures' order, every
    /// agent Consul 1.9.3.
    pub fn fixture() -> Self {
        let server = Role::Server;
        let client = Role::Client;
        let nodes = vec![
            node_at(
                (
                    "server-srv2-example-com",
                    "ec748baa-ffbf-ee99-35ef-37ced87c808e",
                    "192.168.56.102",
                ),
                server,
                (12, 15),
            ),
            node_at(
                (
                    "agent-mail-example-com",
                    "f1c36ec8-cfd8-a65b-ef16-945585b61781",
                    "192.168.56.110",
                ),
                client,
                (36, 38),
            ),
            node_at(
                (
                    "server-srv1-example-com",
                    "8f76e2ee-c32c-f84c-8e45-86e739064f27",
                    "192.168.56.101",
                ),
                server,
                (9, 11),
            ),
            node_at(
                (
                    "agent-proxy-example-com",
                    "8bf45562-d74f-8033-bc36-279dd81a48e7",
                    "192.168.56.111",
                ),
                client,
                (41, 43),
            ),
            node_at(
                (
                    "server-srv3-example-com",
                    "47a8528e-58d0-e18e-3bf6-ba3742b62e48",
                    "192.168.56.103",
                ),
                server,
                (13, 17),
            ),
        ];
        let mail = "agent-mail-example-com";
        let services = vec![
            consul_service("server-srv1-example-com", 10),
            consul_service("server-srv2-example-com", 14),
            consul_service("server-srv3-example-com", 18),
            service(
                mail,
                "carbonio-mailbox",
                ["primary", "mailbox"],
                ("", 8080),
                412,
            ),
            sidecar_of(mail, "carbonio-mailbox", ["primary", "mailbox"], 8080, 413),
            service(
                "agent-proxy-example-com",
                "carbonio-proxy",
                ["https", "http"],
                ("192.168.56.111", 443),
                450,
            ),
        ];
        Cluster {
            datacenter: "dc1".into(),
            nodes,
            services,
            leader: Some("server-srv1-example-com".into()),
            acl_enabled: true,
            tokens: vec![fixture_token()],
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
            bootstrap_expect: bootstrap_expect(3),
            raft_lag: BTreeMap::new(),
            raft_order: Vec::new(),
            raft_index: 450,
            first_token: fixture_token(),
        }
    }

    /// The fixture cluster with every agent on `version` (Carbonio's build of it).
    pub fn fixture_at(version: Version) -> Self {
        Cluster::fixture().with_version(version)
    }

    /// A generated cluster: `servers` servers, `clients` clients of which `failed` are failed.
    /// Names `server-srvN-mesh-test`, `agent-nodeN-mesh-test` (hosts `srvN.mesh.test`,
    /// `nodeN.mesh.test`); addresses in 10.x (never contacted: data only).
    pub fn generated(servers: usize, clients: usize, failed: usize) -> Self {
        let mut nodes = Vec::with_capacity(servers + clients);
        for i in 0..servers + clients {
            let server = i < servers;
            let n = if server { i + 1 } else { i - servers + 1 };
            let name = if server {
                format!("server-srv{n}-mesh-test")
            } else {
                format!("agent-node{n}-mesh-test")
            };
            let id = format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
            let address = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            let role = if server { Role::Server } else { Role::Client };
            let mut node = node_at((&name, &id, &address), role, (10 + i as u64, 10 + i as u64));
            if !server && i - servers < failed {
                node.status = Status::Failed;
            }
            nodes.push(node);
        }
        let services = nodes
            .iter()
            .filter(|n| n.role == Role::Server)
            .map(|n| consul_service(&n.name, n.create_index))
            .collect();
        Cluster {
            leader: nodes.first().map(|n| n.name.clone()),
            local_node: nodes.first().map(|n| n.name.clone()).unwrap_or_default(),
            nodes,
            services,
            catalog_index: 100,
            bootstrap_expect: bootstrap_expect(servers),
            raft_index: 100,
            ..Cluster::fixture()
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
        let mut mta = node_at(
            (
                "agent-mta-example-com",
                "3c9e1a57-0b6d-4f2e-9a41-7d2c58e0b6f3",
                "192.168.56.112",
            ),
            Role::Client,
            (52, 52),
        );
        mta.status = Status::Left;
        cluster.nodes.push(mta);
        cluster.nodes.push(node_at(
            (
                "agent-files-example-com",
                "b9bb7ab4-5d1e-4c6a-8f0e-2a7d3e9c4f18",
                "2001:db8:56::113",
            ),
            Role::Client,
            (57, 57),
        ));
        cluster
    }

    /// The fixture cluster before anyone ran `consul acl bootstrap`.
    pub fn fixture_unbootstrapped() -> Self {
        Cluster {
            tokens: Vec::new(),
            bootstrap_index: 0,
            bootstraps: 0,
            ..Cluster::fixture()
        }
    }

    /// The five agents recorded from a real Consul 1.10.12 on 127.0.0.1
    /// (`tests/fixtures/consul/1.10.12/README.md`): IDs, ports, indices, the token and the key
    /// as they were; the official-style build (revision 590878ba); no gRPC port; answered by
    /// srv1, a follower of srv2.
    pub fn recorded_1_10_12() -> Self {
        let at = |name: &str, id: &str, n: u16, role, indices| {
            let mut node = node_at((name, id, "127.0.0.1"), role, indices);
            node.version = Version::V1_10_12;
            node.revision = "590878ba".into();
            node.ports = Ports {
                server: 18300 + 10 * n,
                serf_lan: 18301 + 10 * n,
                serf_wan: 18302 + 10 * n,
                grpc: None,
                grpc_tls: None,
            };
            node
        };
        let (server, client) = (Role::Server, Role::Client);
        let nodes = vec![
            at(
                "server-srv1-example-com",
                "1f0f09ae-c21c-bc8f-56c5-c51c3ecf4ffb",
                1,
                server,
                (13, 32),
            ),
            at(
                "agent-mail-example-com",
                "8e2adfda-dccc-cef8-523b-9958405b14b5",
                4,
                client,
                (17, 34),
            ),
            at(
                "server-srv2-example-com",
                "b70a0524-293c-3caf-5307-34159a1d602c",
                2,
                server,
                (16, 33),
            ),
            at(
                "server-srv3-example-com",
                "ceeaf6b4-fadf-e9bb-8c30-f5f72fd4292f",
                3,
                server,
                (15, 30),
            ),
            at(
                "agent-proxy-example-com",
                "53bfd375-e45e-838a-85cc-b8fd49bc5554",
                5,
                client,
                (21, 31),
            ),
        ];
        let mail = "agent-mail-example-com";
        let services = vec![
            consul_service("server-srv1-example-com", 13),
            consul_service("server-srv2-example-com", 16),
            consul_service("server-srv3-example-com", 15),
            service(
                mail,
                "carbonio-mailbox",
                ["primary", "mailbox"],
                ("", 8080),
                27,
            ),
            sidecar_of(mail, "carbonio-mailbox", ["primary", "mailbox"], 8080, 28),
            service(
                "agent-proxy-example-com",
                "carbonio-proxy",
                ["https", "http"],
                ("127.0.0.1", 443),
                29,
            ),
        ];
        let token = Token {
            accessor: "563510a9-d329-0772-1350-7a4b2804c15e".into(),
            secret: "9db38395-8190-f21e-6ac9-292481a159f4".into(),
            create_time: "2026-12-07T18:00:10.088393627Z".into(),
            hash: "oyrov6+GFLjo/KZAfqgxF/X4J/3LX0435DOBy9V22I0=".into(),
            create_index: 22,
            ..fixture_token()
        };
        Cluster {
            nodes,
            services,
            leader: Some("server-srv2-example-com".into()),
            tokens: vec![token.clone()],
            bootstrap_index: 22,
            catalog_index: 34,
            critical_checks: vec![HealthCheck {
                node: mail.into(),
                check_id: "service:carbonio-mailbox-sidecar-proxy:1".into(),
                name: "Connect Sidecar Listening".into(),
                service_id: "carbonio-mailbox-sidecar-proxy".into(),
                service_name: "carbonio-mailbox-sidecar-proxy".into(),
                output: String::new(),
                check_type: "tcp".into(),
                create_index: 28,
            }],
            keyring: vec![(RECORDED_GOSSIP_KEY.into(), Vec::new())],
            raft_lag: BTreeMap::new(),
            raft_order: vec![
                "server-srv2-example-com".into(),
                "server-srv1-example-com".into(),
                "server-srv3-example-com".into(),
            ],
            raft_index: 0,
            first_token: token,
            ..Cluster::fixture()
        }
    }
}

/// The gossip key of the recorded 1.10.12 cluster (`consul keygen` for that throwaway run).
pub const RECORDED_GOSSIP_KEY: &str = "yjjPs5DGYHN7fxRwu8yRAOlLjPRHDrAcYAF//bxgTRY=";
