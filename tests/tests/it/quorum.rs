//! `secret recover-quorum`: the explicit recovery of a lost raft quorum on the server to keep
//! (peers.json, a JSON array), refused while the Mesh has a leader or another server is alive,
//! dry-runnable, and never part of a regeneration. Until the simulated cluster models raft
//! (issue 23 part 1), a thread of the test plays Consul's `setupRaft`: once service-discover
//! starts with peers.json in place, it reads the file, deletes it and makes this server the
//! only one, leading.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use carbonio_mesh_tests::{local_ip, mesh_checksums, run, MeshLeader};
use consul_double::{Cluster, Status};

const PASSWORD: &str = "old-Mesh-password-1";
const NODE_ID: &str = "6d1f8ad2-8a4b-4cf1-9b4e-3c2b1a0f9e77";
const OTHERS: [&str; 2] = ["server-srv2-example-com", "server-srv3-example-com"];

/// Three Mesh servers whose quorum is lost: this one (srv1) runs with its raft data and sees no
/// leader; the two others `others` (failed: stopped or gone).
fn lost_quorum(others: Status) -> MeshLeader {
    let leader = MeshLeader::with_cluster(PASSWORD, Cluster::fixture_unbootstrapped(), |_| {});
    let data = leader.sandbox.make_dir("/var/lib/service-discover/data");
    fs::write(data.join("node-id"), NODE_ID).unwrap();
    fs::create_dir_all(data.join("raft")).unwrap();
    fs::write(data.join("raft/peers.info"), "As of Consul 0.7.0, ...\n").unwrap();
    let mut cluster = leader.double.cluster();
    cluster.leader = None;
    for node in cluster.nodes.iter_mut() {
        if OTHERS.contains(&node.name.as_str()) {
            node.status = others;
        }
    }
    drop(cluster);
    leader
}

fn peers_json(leader: &MeshLeader) -> PathBuf {
    leader
        .sandbox
        .path("/var/lib/service-discover/data/raft/peers.json")
}

fn recover(leader: &MeshLeader, extra: &[&str]) -> (i32, String, String) {
    run(leader
        .cmd()
        .args(extra)
        .args(["--yes", "secret", "recover-quorum"]))
}

/// Consul's `setupRaft` on this server, once service-discover starts with peers.json there:
/// the file read (it must be the JSON array raft decodes) and deleted, the configuration this
/// server alone, which leads. Returns the file as Consul read it.
fn play_consul(leader: &MeshLeader) -> Option<String> {
    let peers = peers_json(leader);
    let unit = leader
        .sandbox
        .path("/run/systemctl-standin/service-discover");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let started = fs::read_to_string(&unit).is_ok_and(|s| s.trim() == "active");
        if started && peers.exists() {
            let text = fs::read_to_string(&peers).unwrap();
            let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
            assert_eq!(parsed.len(), 1, "{text}");
            fs::remove_file(&peers).unwrap();
            let mut cluster = leader.double.cluster();
            cluster.nodes.retain(|n| !OTHERS.contains(&n.name.as_str()));
            cluster.leader = Some("server-srv1-example-com".to_owned());
            return Some(text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn with_the_other_servers_alive_it_refuses_and_changes_nothing() {
    let leader = lost_quorum(Status::Alive);
    let before = mesh_checksums(&leader.sandbox.root());
    let (code, out, err) = recover(&leader, &[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("server-srv2-example-com") && err.contains("may not be lost"),
        "{err}"
    );
    assert!(err.contains("carbonio-mesh leader"), "{err}");
    assert!(!peers_json(&leader).exists());
    assert_eq!(mesh_checksums(&leader.sandbox.root()), before);
}

#[test]
fn with_a_leader_there_is_nothing_to_recover() {
    let leader = lost_quorum(Status::Failed);
    leader.double.cluster().leader = Some("server-srv1-example-com".to_owned());
    let (code, out, err) = recover(&leader, &[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("quorum is not lost"), "{err}");
    assert!(err.contains("secret regenerate"), "{err}");
}

#[test]
fn without_peers_info_consul_would_delete_peers_json_unread_so_it_refuses() {
    let leader = lost_quorum(Status::Failed);
    fs::remove_file(
        leader
            .sandbox
            .path("/var/lib/service-discover/data/raft/peers.info"),
    )
    .unwrap();
    let (code, out, err) = recover(&leader, &[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains("peers.info is missing"), "{err}");
    assert!(!peers_json(&leader).exists());
}

#[test]
fn a_dry_run_shows_the_json_array_it_would_write_and_changes_nothing() {
    let leader = lost_quorum(Status::Failed);
    let before = mesh_checksums(&leader.sandbox.root());
    let (code, out, err) = recover(&leader, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    let address = format!("{}:8300", local_ip());
    let write = out
        .lines()
        .find(|l| l.contains("write-peers-json"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        write.contains(&format!(
            "[ {{ \"address\": \"{address}\", \"id\": \"{NODE_ID}\", \"non_voter\": false }} ]"
        )),
        "{out}"
    );
    assert!(out.contains("would stop service-discover"), "{out}");
    assert!(out.contains("would start service-discover"), "{out}");
    assert!(
        err.contains(
            "  - write /var/lib/service-discover/data/raft/peers.json (mode 0600, owner nobody)"
        ),
        "{err}"
    );
    assert!(!peers_json(&leader).exists());
    assert_eq!(mesh_checksums(&leader.sandbox.root()), before);
    assert!(
        !leader.sandbox.path("/var/lib/carbonio-mesh/runs").exists() || {
            fs::read_dir(leader.sandbox.path("/var/lib/carbonio-mesh/runs"))
                .unwrap()
                .next()
                .is_none()
        }
    );
}

#[test]
fn it_writes_peers_json_for_this_server_alone_and_waits_until_it_leads() {
    let leader = lost_quorum(Status::Failed);
    let ((code, out, err), read) = std::thread::scope(|scope| {
        let consul = scope.spawn(|| play_consul(&leader));
        (recover(&leader, &[]), consul.join().unwrap())
    });
    assert_eq!(code, 0, "{out}{err}");
    let read = read.expect("Consul read peers.json");
    let address = format!("{}:8300", local_ip());
    let peers: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(
        peers,
        serde_json::json!([{"id": NODE_ID, "address": address, "non_voter": false}])
    );
    for step in [
        "quorum-preflight",
        "stop-service",
        "write-peers-json",
        "start-service",
        "wait-leader",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with("ok") && l.contains(step)),
            "{step}:\n{out}"
        );
    }
    assert!(out.contains(&format!("{address} leads alone")), "{out}");
    assert!(
        out.contains("secret regenerate --nodes all --include-failed"),
        "{out}"
    );
    let calls = fs::read_to_string(leader.sandbox.path("/run/systemctl-standin/calls")).unwrap();
    assert_eq!(
        calls, "stop service-discover\nstart service-discover\n",
        "stopped before peers.json, started after"
    );
    // Never part of a regeneration on its own.
    let regenerate = carbonio_mesh_tests::planned_steps(leader.cmd(), false);
    assert!(
        !regenerate.iter().any(|s| s == "write-peers-json"),
        "{regenerate:?}"
    );
}
