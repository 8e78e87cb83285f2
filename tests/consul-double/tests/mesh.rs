//! The simulated Mesh refuses what a real Consul cluster refuses: a leader only with a majority
//! of voters that share a CA, graceful leave vs stop, the keyring file over `encrypt`, keyring
//! changes over the alive members only, ACL bootstrap on the leader with its reset file, the
//! no-leader answers per version. Each rule: docs/carbonio-mesh.md, "The simulated Mesh".

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::{status_code, Reply, TOKEN};
use consul_double::mesh::files;
use consul_double::{Cluster, Mesh, Version};
use serde_json::Value;

const S1: &str = "server-srv1-example-com";
const S2: &str = "server-srv2-example-com";
const S3: &str = "server-srv3-example-com";
const MAIL: &str = "agent-mail-example-com";
const KEY1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const KEY2: &str = "H8R3ufvuJkqJ3PqCFaN8mC1Rq0Wm0HGrHAQm8W2Yn0A=";

/// The fixture's five nodes, each under its own root, set up with KEY1 and the CA "CA one".
fn mesh(version: Version) -> (tempfile::TempDir, Mesh) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::fixture_at(version);
    let mut roots = BTreeMap::new();
    for node in &cluster.nodes {
        let root = dir.path().join(&node.name);
        let server = node.role == consul_double::Role::Server;
        files::write_setup(&root, server, KEY1, "CA one").unwrap();
        roots.insert(node.name.clone(), root);
    }
    let mesh = Mesh::start(cluster, &roots).unwrap();
    (dir, mesh)
}

fn root(dir: &tempfile::TempDir, node: &str) -> PathBuf {
    dir.path().join(node)
}

fn call(mesh: &Mesh, node: &str, method: &str, target: &str, body: &str) -> std::io::Result<Reply> {
    let url = mesh.url(node);
    let mut stream = TcpStream::connect(url.trim_start_matches("http://"))?;
    write!(
        stream,
        "{method} {target} HTTP/1.0\r\nHost: consul\r\nX-Consul-Token: {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    if !first.starts_with("HTTP/") {
        return Err(std::io::Error::other(format!(
            "connection broken: {first:?}"
        )));
    }
    let status = status_code(first);
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

fn get(mesh: &Mesh, node: &str, target: &str) -> Reply {
    call(mesh, node, "GET", target, "").unwrap()
}

fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.text()))
}

fn leader_seen_by(mesh: &Mesh, node: &str) -> String {
    json(&get(mesh, node, "/v1/status/leader"))
        .as_str()
        .unwrap()
        .to_owned()
}

fn voters(mesh: &Mesh, node: &str) -> Vec<String> {
    let config = json(&get(mesh, node, "/v1/operator/raft/configuration"));
    config["Servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Node"].as_str().unwrap().to_owned())
        .collect()
}

/// A new CA for `node` (what `service-discover setup --first-instance` makes).
fn new_ca(dir: &tempfile::TempDir, node: &str, ca: &str) {
    fs::write(files::under(&root(dir, node), files::CA_FILE), ca).unwrap();
}

fn write_reset_file(dir: &tempfile::TempDir, node: &str, index: u64) {
    fs::write(
        files::data_dir(&root(dir, node)).join("acl-bootstrap-reset"),
        format!("{index}\n"),
    )
    .unwrap();
}

#[test]
fn three_servers_elect_a_leader_every_agent_answers_for_itself() {
    let (_dir, mesh) = mesh(Version::V1_21_4);
    for node in [S1, S2, S3, MAIL] {
        assert_eq!(leader_seen_by(&mesh, node), "192.168.56.101:8300", "{node}");
    }
    assert_eq!(voters(&mesh, S2), [S1, S2, S3]);
    let me = json(&get(&mesh, S3, "/v1/agent/self"));
    assert_eq!(me["Config"]["NodeName"], S3);
    let health = get(&mesh, S2, "/v1/operator/autopilot/health");
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(json(&health)["FailureTolerance"], 1);
    assert_ne!(mesh.url(S1), mesh.url(S2), "one listener per agent");
}

#[test]
fn a_stopped_agent_refuses_connections_and_starts_again_from_its_files() {
    let (dir, mesh) = mesh(Version::V1_21_4);
    mesh.stop_agent(MAIL);
    assert!(call(&mesh, MAIL, "GET", "/v1/agent/self", "").is_err());
    let members = json(&get(&mesh, S1, "/v1/agent/members"));
    let mail = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == MAIL)
        .unwrap();
    assert_eq!(
        mail["Status"], 3,
        "a client leaves on stop (leave_on_terminate)"
    );
    fs::remove_file(root(&dir, MAIL).join(files::MAIN_JSON)).unwrap();
    assert!(mesh.start_agent(MAIL).unwrap_err().contains("main.json"));
}

/// Recorded on 1.10.12: a server stopped (no leave) shows failed, then autopilot's dead-server
/// cleanup takes it out of the configuration (one of three: the quorum stays) and reaps it
/// (`left`): two healthy voters, a failure tolerance of 0; started again, it is a voter again.
/// A graceful leave takes a server out at once and stops it.
#[test]
fn a_stopped_server_is_pruned_by_autopilot_and_a_server_that_leaves_is_out_at_once() {
    let (_dir, mesh) = mesh(Version::V1_21_4);
    mesh.stop_agent(S3);
    assert_eq!(voters(&mesh, S1), [S1, S2]);
    let health = get(&mesh, S1, "/v1/operator/autopilot/health");
    assert_eq!(health.status, 200, "{}", health.text());
    let health = json(&health);
    assert_eq!(health["FailureTolerance"], 0);
    assert_eq!(health["Servers"].as_array().unwrap().len(), 2);
    let members = json(&get(&mesh, S1, "/v1/agent/members"));
    let s3 = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == S3)
        .unwrap();
    assert_eq!(s3["Status"], 3, "reaped: left");
    mesh.start_agent(S3).unwrap();
    assert_eq!(voters(&mesh, S1), [S1, S2, S3]);
    assert_eq!(get(&mesh, S1, "/v1/operator/autopilot/health").status, 200);
    let left = call(&mesh, S3, "PUT", "/v1/agent/leave", "").unwrap();
    assert_eq!(left.status, 200);
    assert_eq!(voters(&mesh, S1), [S1, S2]);
    let gone = call(&mesh, S3, "GET", "/v1/agent/self", "");
    assert!(gone.is_err(), "the agent stopped");
    let left = call(&mesh, S2, "PUT", "/v1/agent/leave", "").unwrap();
    assert_eq!(left.status, 200);
    assert_eq!(voters(&mesh, S1), [S1], "the leader alone keeps its quorum");
    mesh.stop_agent(S1);
    mesh.start_agent(S1).unwrap();
    assert_eq!(leader_seen_by(&mesh, S1), "192.168.56.101:8300");
}

/// Two of three servers stopped: too many for autopilot to remove, no quorum, no leader.
#[test]
fn two_servers_stopped_leave_no_leader() {
    let (_dir, mesh) = mesh(Version::V1_21_4);
    mesh.stop_agent(S2);
    mesh.stop_agent(S3);
    // S2 was pruned (one of three); S3 then is one of two: the quorum is gone.
    assert_eq!(leader_seen_by(&mesh, S1), "");
    let refused = get(&mesh, S1, "/v1/operator/autopilot/health");
    assert_eq!(
        (refused.status, refused.text()),
        (500, "No cluster leader".into())
    );
}

#[test]
fn a_server_with_a_new_ca_is_cut_off_and_the_other_two_keep_a_leader() {
    let (dir, mesh) = mesh(Version::V1_10_12);
    mesh.stop_agent(S1);
    new_ca(&dir, S1, "CA two");
    mesh.start_agent(S1).unwrap();
    assert_eq!(
        leader_seen_by(&mesh, S1),
        "",
        "recorded: a server with a new CA sees no leader"
    );
    let refused = get(&mesh, S1, "/v1/operator/raft/configuration");
    assert_eq!(
        (refused.status, refused.text()),
        (500, "No cluster leader".into())
    );
    let other = leader_seen_by(&mesh, S2);
    assert_eq!(other, "192.168.56.102:8300", "S2 and S3 elect one of them");
    // Pruned while it was down, added back once it gossips again: a voter that cannot take part.
    assert_eq!(voters(&mesh, S2), [S2, S3, S1], "S1 is listed as a voter");
    let health = get(&mesh, S2, "/v1/operator/autopilot/health");
    assert_eq!(
        (health.status, json(&health)["FailureTolerance"].clone()),
        (200, 1.into()),
        "recorded: autopilot keeps the cut-off server's last stats"
    );
    let members = json(&get(&mesh, S2, "/v1/agent/members"));
    assert!(
        members.as_array().unwrap().iter().all(|m| m["Status"] == 1),
        "gossip is not TLS: every member alive"
    );
    let refused = get(&mesh, S1, "/v1/agent/members");
    assert_eq!(
        (refused.status, refused.text()),
        (403, "ACL not found".into()),
        "recorded: the cut-off server cannot resolve a token"
    );
}

/// Today's procedure on three servers (the leader reset while S2 and S3 keep the old CA):
/// its setup's `acl bootstrap` never succeeds. 1.10 answers legacy mode for as long as SD
/// retries; 1.21 `No cluster leader` at once; and the reset file is on a node that no longer
/// leads.
#[test]
fn a_leader_reset_on_three_servers_never_bootstraps() {
    for (version, refusal) in [
        (
            Version::V1_10_12,
            "The ACL system is currently in legacy mode.",
        ),
        (Version::V1_21_4, "No cluster leader"),
    ] {
        let (dir, mesh) = mesh(version);
        let index = mesh.state().cluster.bootstrap_index;
        write_reset_file(&dir, S1, index);
        mesh.stop_agent(S1);
        new_ca(&dir, S1, "CA two");
        mesh.start_agent(S1).unwrap();
        let answer = call(&mesh, S1, "PUT", "/v1/acl/bootstrap", "").unwrap();
        assert_eq!(
            (answer.status, answer.text()),
            (500, refusal.into()),
            "{version}"
        );
        // Asked elsewhere, the new leader (S2) finds no reset file in its data_dir.
        let answer = call(&mesh, S2, "PUT", "/v1/acl/bootstrap", "").unwrap();
        assert_eq!(answer.status, 403, "{version}: {}", answer.text());
        assert!(
            answer.text().contains("no longer allowed"),
            "{}",
            answer.text()
        );
    }
}

/// The procedure that works: S3 and S2 leave, the leader alone resets with a new CA, bootstraps
/// from its reset file, rotates the gossip key over the alive members, the others join again
/// with fresh raft and serf data.
#[test]
fn shrinking_raft_first_lets_the_leader_reset_and_the_others_rejoin() {
    let (dir, mesh) = mesh(Version::V1_10_12);
    for node in [S3, S2] {
        assert_eq!(
            call(&mesh, node, "PUT", "/v1/agent/leave", "")
                .unwrap()
                .status,
            200
        );
    }
    let index = mesh.state().cluster.bootstrap_index;
    write_reset_file(&dir, S1, index);
    mesh.stop_agent(S1);
    new_ca(&dir, S1, "CA two");
    mesh.start_agent(S1).unwrap();
    let token = call(&mesh, S1, "PUT", "/v1/acl/bootstrap", "").unwrap();
    assert_eq!(token.status, 200, "{}", token.text());
    assert!(!files::data_dir(&root(&dir, S1))
        .join("acl-bootstrap-reset")
        .exists());
    for (method, key) in [("POST", KEY2), ("PUT", KEY2), ("DELETE", KEY1)] {
        let body = format!("{{\"Key\": \"{key}\"}}");
        let answer = call(&mesh, S1, method, "/v1/operator/keyring", &body).unwrap();
        assert_eq!(answer.status, 200, "{method}: {}", answer.text());
    }
    let ring: Vec<String> = serde_json::from_str(
        &fs::read_to_string(files::data_dir(&root(&dir, MAIL)).join("serf/local.keyring")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ring,
        [KEY2],
        "an alive agent's ring changed and was persisted"
    );
    for node in [S2, S3] {
        let data = files::data_dir(&root(&dir, node));
        fs::remove_dir_all(data.join("raft")).unwrap();
        fs::remove_dir_all(data.join("serf")).unwrap();
        files::write_setup(&root(&dir, node), true, KEY2, "CA two").unwrap();
        mesh.start_agent(node).unwrap();
    }
    assert_eq!(voters(&mesh, S1), [S1, S2, S3]);
    let health = get(&mesh, S1, "/v1/operator/autopilot/health");
    assert_eq!(
        (health.status, json(&health)["FailureTolerance"].clone()),
        (200, 1.into())
    );
    let pools = json(&get(&mesh, S1, "/v1/operator/keyring"));
    assert_eq!(pools[1]["Keys"], serde_json::json!({KEY2: 5}), "{pools}");
    let snapshot = get(&mesh, S1, "/v1/snapshot");
    assert_eq!(snapshot.status, 200);
    assert!(snapshot.header("X-Consul-Index").is_some());
}

#[test]
fn a_keyring_file_wins_over_encrypt_with_consuls_warning() {
    let (dir, mesh) = mesh(Version::V1_10_12);
    mesh.stop_agent(S2);
    files::write_setup(&root(&dir, S2), true, KEY2, "CA one").unwrap();
    mesh.start_agent(S2).unwrap();
    let state = mesh.state();
    let agent = state.agent(S2).unwrap();
    assert_eq!(agent.ring, [KEY1]);
    assert_eq!(
        agent.log,
        [
            "[WARN]  agent:  keyring doesn't include key provided with -encrypt, using keyring: keyring=LAN",
            "[WARN]  agent:  keyring doesn't include key provided with -encrypt, using keyring: keyring=WAN",
        ]
    );
}

#[test]
fn a_member_whose_primary_key_differs_cannot_gossip_and_a_key_change_misses_it() {
    let (dir, mesh) = mesh(Version::V1_21_4);
    mesh.stop_agent(MAIL);
    fs::remove_dir_all(files::data_dir(&root(&dir, MAIL)).join("serf")).unwrap();
    files::write_setup(&root(&dir, MAIL), false, KEY2, "CA one").unwrap();
    mesh.start_agent(MAIL).unwrap();
    let members = json(&get(&mesh, S1, "/v1/agent/members"));
    let mail = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == MAIL)
        .unwrap();
    assert_eq!(mail["Status"], 4, "failed: no shared key");
    let used = call(
        &mesh,
        S1,
        "PUT",
        "/v1/operator/keyring",
        &format!("{{\"Key\": \"{KEY2}\"}}"),
    )
    .unwrap();
    assert_eq!(used.status, 500);
    let text = used.text();
    assert!(
        text.starts_with("9 errors occurred:\n\t* WAN error: 3/3 nodes reported failure\n")
            && text
                .contains("\t* server-srv1-example-com.dc1: Requested key is not in the keyring\n"),
        "{text}"
    );
    assert!(
        text.contains("\t* dc1 (LAN) error: 4/4 nodes reported failure\n"),
        "{text}"
    );
    assert!(
        !text.contains(MAIL),
        "the member it cannot gossip with is not asked: {text}"
    );
}

#[test]
fn bootstrap_without_a_leader_answers_per_version_and_state() {
    let (_dir, mesh) = mesh(Version::V1_10_12);
    // A server that saw a leader and lost its quorum: No cluster leader (recorded 3b).
    mesh.stop_agent(S2);
    mesh.stop_agent(S3);
    let answer = call(&mesh, S1, "PUT", "/v1/acl/bootstrap", "").unwrap();
    assert_eq!(answer.text(), "No cluster leader");
    assert_eq!(get(&mesh, S1, "/v1/snapshot").text(), "No cluster leader");
    // Restarted alone: legacy mode again (recorded 3b, after the restart).
    mesh.stop_agent(S1);
    mesh.start_agent(S1).unwrap();
    let answer = call(&mesh, S1, "PUT", "/v1/acl/bootstrap", "").unwrap();
    assert_eq!(answer.text(), "The ACL system is currently in legacy mode.");
    assert_eq!(leader_seen_by(&mesh, S1), "");
}

#[test]
fn peers_json_recovers_a_lost_quorum_and_an_object_is_refused() {
    let (dir, mesh) = mesh(Version::V1_21_4);
    for node in [S1, S2, S3] {
        mesh.stop_agent(node);
    }
    let raft = files::data_dir(&root(&dir, S1)).join("raft");
    fs::write(
        raft.join("peers.json"),
        r#"{"id": "x", "address": "192.168.56.101:8300"}"#,
    )
    .unwrap();
    assert!(mesh.start_agent(S1).unwrap_err().contains("peers.json"));
    let id = fs::read_to_string(files::data_dir(&root(&dir, S1)).join("node-id")).unwrap();
    let entry =
        format!(r#"[{{"id": "{id}", "address": "192.168.56.101:8300", "non_voter": false}}]"#);
    fs::write(raft.join("peers.json"), entry).unwrap();
    mesh.start_agent(S1).unwrap();
    assert_eq!(voters(&mesh, S1), [S1]);
    assert!(!raft.join("peers.json").exists());
}

#[test]
fn the_control_listener_finds_a_node_by_its_root() {
    let (dir, mesh) = mesh(Version::V1_21_4);
    let control = mesh.control_url();
    let ask = |verb: &str, node_root: &Path| {
        let mut stream = TcpStream::connect(control.trim_start_matches("http://")).unwrap();
        write!(
            stream,
            "POST /{verb}?root={} HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            node_root.display()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    };
    assert!(ask("stop", &root(&dir, S3)).ends_with(S3));
    assert!(ask("is-active", &root(&dir, S3)).ends_with("inactive"));
    assert!(ask("start", &root(&dir, S3)).ends_with(S3));
    assert!(ask("start", Path::new("/nowhere")).contains(" 404 "));
}
