//! The simulated Mesh against what a real Consul 1.10.12 cluster answered in the same situations
//! (`tests/fixtures/consul/1.10.12-mesh`, recorded by its `record.sh`; README.md there): the same
//! statuses and texts, the same shapes, the same verdicts (who leads, who is a voter, how healthy).
//! IDs, addresses, times and indexes are the recording cluster's own and are not compared.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Fixtures, TOKEN};
use consul_double::mesh::files;
use consul_double::{Cluster, Mesh, Role, Version};
use serde_json::Value;

const RECORDED: Fixtures = Fixtures("1.10.12-mesh");
const SERVERS: [&str; 3] = [
    "server-srv1-example-com",
    "server-srv2-example-com",
    "server-srv3-example-com",
];
const KEY1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const KEY2: &str = "H8R3ufvuJkqJ3PqCFaN8mC1Rq0Wm0HGrHAQm8W2Yn0A=";
const KEY9: &str = "ZmFrZS1rZXktbm90LWluc3RhbGxlZC1hbnl3aGVyZSE=";

/// One recorded answer: `HTTP STATUS` then the body.
struct Recorded {
    status: u16,
    /// The status line and headers (of the model's answers).
    head: String,
    body: String,
}

fn recorded(name: &str) -> Recorded {
    let text = RECORDED.text(name);
    let (first, body) = text.split_once('\n').unwrap();
    Recorded {
        status: first.trim_start_matches("HTTP ").parse().unwrap(),
        head: String::new(),
        body: body
            .replace("KEY1", KEY1)
            .replace("KEY2", KEY2)
            .replace("KEY9", KEY9),
    }
}

/// The roles the recording had: its leader L, the follower F that got a new CA, the one G that
/// was stopped, then left.
fn roles() -> (&'static str, &'static str, &'static str) {
    let text = RECORDED.text("roles.txt");
    let leader = text.trim().strip_prefix("leader ").unwrap();
    let at = SERVERS.iter().position(|s| *s == leader).unwrap();
    (SERVERS[at], SERVERS[(at + 1) % 3], SERVERS[(at + 2) % 3])
}

/// The recording's cluster: three servers and the mail agent on Consul 1.10.12, each set up
/// with KEY1 and one CA; the leader made `leader`.
fn mesh(dir: &tempfile::TempDir, leader: &str) -> Mesh {
    let mut cluster = Cluster::fixture_at(Version::V1_10_12);
    cluster
        .nodes
        .retain(|n| n.name != "agent-proxy-example-com");
    cluster
        .services
        .retain(|s| s.node != "agent-proxy-example-com");
    let mut roots = BTreeMap::new();
    for node in &cluster.nodes {
        let root = dir.path().join(&node.name);
        files::write_setup(&root, node.role == Role::Server, KEY1, "CA one").unwrap();
        roots.insert(node.name.clone(), root);
    }
    let mesh = Mesh::start(cluster, &roots).unwrap();
    // The election's winner is chance on a real cluster: the recording's becomes the leader.
    let mut state = mesh.state();
    state.leader = Some(leader.to_owned());
    state.settle();
    assert_eq!(state.leader.as_deref(), Some(leader));
    drop(state);
    mesh
}

fn ask(mesh: &Mesh, node: &str, method: &str, target: &str, body: &str) -> Recorded {
    let token = if target == "/v1/acl/bootstrap" {
        String::new()
    } else {
        format!("X-Consul-Token: {TOKEN}\r\n")
    };
    let url = mesh.url(node);
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.0\r\n{token}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Recorded {
        status: common::status_code(head.lines().next().unwrap()),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Same status, same text.
fn assert_same(model: &Recorded, file: &str) {
    let real = recorded(file);
    assert_eq!(
        (model.status, model.body.as_str()),
        (real.status, real.body.as_str()),
        "{file}"
    );
}

/// The keys of every object, recursively (arrays: their first element's): the shape.
fn shape(value: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    fn walk(value: &Value, path: &str, keys: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let here = format!("{path}.{k}");
                    keys.insert(here.clone());
                    // Map-valued fields (keys by gossip key) are not fields.
                    if !matches!(k.as_str(), "Keys" | "PrimaryKeys") {
                        walk(v, &here, keys);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    walk(first, &format!("{path}[]"), keys);
                }
            }
            _ => {}
        }
    }
    walk(value, "", &mut keys);
    keys
}

fn json(answer: &Recorded) -> Value {
    serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("{e}: {}", answer.body))
}

/// Each server's name with (SerfStatus, Healthy, Voter), and the verdicts.
fn health_verdict(health: &Value) -> (bool, u64, BTreeMap<String, (String, bool, bool)>) {
    let servers = health["Servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["Name"].as_str().unwrap().to_owned(),
                (
                    s["SerfStatus"].as_str().unwrap().to_owned(),
                    s["Healthy"].as_bool().unwrap(),
                    s["Voter"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    (
        health["Healthy"].as_bool().unwrap(),
        health["FailureTolerance"].as_u64().unwrap(),
        servers,
    )
}

fn statuses(members: &Value) -> BTreeMap<String, u64> {
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Name"].as_str().unwrap().to_owned(),
                m["Status"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn voters(configuration: &Value) -> BTreeSet<String> {
    configuration["Servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Node"].as_str().unwrap().to_owned())
        .collect()
}

/// A healthy cluster, one server stopped, a server with a new CA: autopilot's and raft's
/// answers as the real cluster gave them.
#[test]
fn autopilot_health_and_the_raft_configuration_as_recorded() {
    let (l, f, g) = roles();
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh(&dir, l);
    let healthy = ask(&mesh, l, "GET", "/v1/operator/autopilot/health", "");
    let real = recorded("autopilot_health_healthy.txt");
    assert_eq!(healthy.status, real.status);
    assert_eq!(shape(&json(&healthy)), shape(&json(&real)));
    assert_eq!(
        health_verdict(&json(&healthy)),
        health_verdict(&json(&real))
    );

    mesh.stop_agent(g);
    let model = ask(&mesh, l, "GET", "/v1/operator/raft/configuration", "");
    let real = recorded("raft_configuration_one_stopped.txt");
    assert_eq!(
        voters(&json(&model)),
        voters(&json(&real)),
        "autopilot pruned it"
    );
    assert_eq!(shape(&json(&model)), shape(&json(&real)));
    let model = ask(&mesh, l, "GET", "/v1/agent/members", "");
    let real = recorded("members_one_stopped.txt");
    assert_eq!(
        statuses(&json(&model)),
        statuses(&json(&real)),
        "reaped: left"
    );
    let model = ask(&mesh, l, "GET", "/v1/operator/autopilot/health", "");
    let real = recorded("autopilot_health_one_stopped.txt");
    assert_eq!(model.status, real.status, "{}", model.body);
    assert_eq!(health_verdict(&json(&model)), health_verdict(&json(&real)));
    mesh.start_agent(g).unwrap();

    mesh.stop_agent(f);
    files::write_setup(&dir.path().join(f), true, KEY1, "CA two").unwrap();
    let reset = files::data_dir(&dir.path().join(f)).join("acl-bootstrap-reset");
    fs::write(
        &reset,
        format!("{}\n", mesh.state().cluster.bootstrap_index),
    )
    .unwrap();
    mesh.start_agent(f).unwrap();
    assert_same(
        &ask(&mesh, f, "GET", "/v1/status/leader", ""),
        "status_leader_new_ca.txt",
    );
    assert_same(
        &ask(&mesh, f, "GET", "/v1/operator/raft/configuration", ""),
        "raft_configuration_new_ca.txt",
    );
    assert_same(
        &ask(&mesh, f, "PUT", "/v1/acl/bootstrap", ""),
        "acl_bootstrap_new_ca.txt",
    );
    assert_same(
        &ask(&mesh, f, "GET", "/v1/agent/members", ""),
        "members_new_ca.txt",
    );
    // The leader kept its leadership in the recording kept here (in one of three runs the
    // cut-off server's elections deposed it for a while: 1.10 has no pre-vote; README.md).
    for (file, path) in [
        ("status_leader_others.txt", "/v1/status/leader"),
        (
            "raft_configuration_others.txt",
            "/v1/operator/raft/configuration",
        ),
        (
            "raft_configuration_others_42s.txt",
            "/v1/operator/raft/configuration",
        ),
    ] {
        let model = ask(&mesh, l, "GET", path, "");
        let real = recorded(file);
        assert_eq!(model.status, real.status, "{file}");
        if path.ends_with("configuration") {
            assert_eq!(
                voters(&json(&model)),
                voters(&json(&real)),
                "{file}: F a voter"
            );
        }
    }
    for file in [
        "autopilot_health_new_ca.txt",
        "autopilot_health_new_ca_42s.txt",
    ] {
        let model = ask(&mesh, l, "GET", "/v1/operator/autopilot/health", "");
        let real = recorded(file);
        assert_eq!(model.status, real.status, "{file}");
        let verdict = health_verdict(&json(&real));
        assert_eq!(health_verdict(&json(&model)), verdict, "{file}");
    }
    // The reset file on a server that does not lead is not read: still no longer allowed.
    let model = ask(&mesh, l, "PUT", "/v1/acl/bootstrap", "");
    let real = recorded("acl_bootstrap_reset_file_on_follower.txt");
    assert_eq!(model.status, real.status);
    let cut = |text: &str| text.split(" (reset index").next().unwrap().to_owned();
    assert_eq!(cut(&model.body), cut(&real.body));
}

/// A graceful leave, then the keyring rotated over the alive members with the real refusals,
/// then an agent restarted with another `encrypt`, then the server that left started again.
#[test]
fn leave_and_the_keyring_as_recorded() {
    let (l, _, g) = roles();
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh(&dir, l);
    assert_same(
        &ask(&mesh, g, "PUT", "/v1/agent/leave", ""),
        "agent_leave.txt",
    );
    let model = ask(&mesh, l, "GET", "/v1/operator/raft/configuration", "");
    let real = json(&recorded("raft_configuration_after_leave.txt"));
    assert_eq!(voters(&json(&model)), voters(&real));
    let peers = json(&ask(&mesh, l, "GET", "/v1/status/peers", ""));
    let real_peers = json(&recorded("status_peers_after_leave.txt"));
    assert_eq!(
        peers.as_array().unwrap().len(),
        real_peers.as_array().unwrap().len()
    );
    let members = json(&ask(&mesh, l, "GET", "/v1/agent/members", ""));
    let real_members = json(&recorded("members_after_leave.txt"));
    assert_eq!(statuses(&members), statuses(&real_members));

    let body = |key: &str| format!("{{\"Key\": \"{key}\"}}");
    let steps = [
        ("POST", KEY2, "keyring_install.txt"),
        ("GET", "", "keyring_after_install.txt"),
        ("PUT", KEY9, "keyring_use_unknown.txt"),
        ("PUT", KEY2, "keyring_use.txt"),
        ("DELETE", KEY2, "keyring_remove_primary.txt"),
        ("DELETE", KEY1, "keyring_remove.txt"),
        ("GET", "", "keyring_after_rotation.txt"),
    ];
    for (method, key, file) in steps {
        let sent = if key.is_empty() {
            String::new()
        } else {
            body(key)
        };
        let model = ask(&mesh, l, method, "/v1/operator/keyring", &sent);
        let real = recorded(file);
        assert_eq!(model.status, real.status, "{file}: {}", model.body);
        if method == "GET" {
            assert_eq!(json(&model), json(&real), "{file}");
        } else {
            // The members answer in their own order: the same lines, in any order.
            let lines = |text: &str| text.lines().map(str::to_owned).collect::<BTreeSet<_>>();
            assert_eq!(lines(&model.body), lines(&real.body), "{file}");
        }
    }

    let mail = "agent-mail-example-com";
    mesh.stop_agent(mail);
    files::write_setup(&dir.path().join(mail), false, KEY9, "CA one").unwrap();
    mesh.start_agent(mail).unwrap();
    let log = mesh.state().agent(mail).unwrap().log.join("\n");
    assert_eq!(log, RECORDED.text("keyring_warning.log").trim_end());
    let model = ask(&mesh, l, "GET", "/v1/operator/keyring", "");
    assert_eq!(json(&model), json(&recorded("keyring_after_restart.txt")));

    // The server that left started again, its raft data kept and its keyring the cluster's
    // (as after `secret restore` of a run that shrank raft): a voter again, healthy.
    files::write_keyring(&dir.path().join(g), true, &[KEY2.to_owned()]).unwrap();
    mesh.start_agent(g).unwrap();
    let model = ask(&mesh, l, "GET", "/v1/operator/raft/configuration", "");
    let real = json(&recorded("raft_configuration_left_restarted.txt"));
    assert_eq!(voters(&json(&model)), voters(&real));
    assert_eq!(voters(&real).len(), 3, "{real}");
    let model = ask(&mesh, l, "GET", "/v1/operator/autopilot/health", "");
    let real = recorded("autopilot_health_left_restarted.txt");
    assert_eq!(model.status, real.status);
    assert_eq!(health_verdict(&json(&model)), health_verdict(&json(&real)));
}

/// What a snapshot answer carries (its bytes are the double's, not raft's archive).
#[test]
fn a_snapshot_answer_as_recorded() {
    let (l, _, _) = roles();
    let dir = tempfile::tempdir().unwrap();
    let mesh = mesh(&dir, l);
    let text = RECORDED.text("snapshot_headers.txt");
    assert!(text.starts_with("HTTP/1.1 200\n"), "{text}");
    let model = ask(&mesh, l, "GET", "/v1/snapshot", "");
    assert_eq!(model.status, 200);
    for header in [
        "X-Consul-Index",
        "X-Consul-Knownleader",
        "X-Consul-Lastcontact",
    ] {
        assert!(text.contains(header), "{text}");
        assert!(
            model.head.contains(&format!("{header}: ")),
            "{header}: {}",
            model.head
        );
    }
}
