//! `secret regenerate --nodes all` on three Mesh servers and two agents against the simulated
//! Mesh (tests/src/simulated_mesh.rs): one Consul agent per node that elects a leader only with a
//! majority sharing a CA, keeps `local.keyring` over `encrypt`, and serves the ACL bootstrap on
//! the leader with the reset file in its own data_dir; the nodes reached over a real sshd.
//! `kills`: `kill -9` at every step boundary and inside setup, then `--resume`; `runs`: one run
//! at a time, and `secret restore`; `one_server`: the same Mesh with a single server.

mod kills;
mod one_server;
mod runs;

use std::fs;
use std::process::Command;

use carbonio_mesh_tests::simulated_mesh::{SimulatedMesh, ARCHIVE};
use consul_double::Version;

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-three-9";
const SERVERS: [&str; 3] = [
    "server-srv1-example-com",
    "server-srv2-example-com",
    "server-srv3-example-com",
];
const AGENTS: [&str; 2] = ["agent-mail-example-com", "agent-proxy-example-com"];

fn regenerate(mesh: &SimulatedMesh, extra: &[&str]) -> (i32, String, String) {
    let password = mesh
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let out = mesh
        .leader_cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(password)
        .args(["--nodes", "all"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run this host keeps (there is one).
fn the_run(mesh: &SimulatedMesh) -> String {
    let runs = mesh.sandbox.path("/var/lib/carbonio-mesh/runs");
    let kept: Vec<String> = fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    kept[0].clone()
}

/// Node `name`'s archive member `member`, opened with `password` (real gpg and tar).
fn archive_member(mesh: &SimulatedMesh, name: &str, password: &str, member: &str) -> String {
    let archive = mesh.root(name).join(ARCHIVE.trim_start_matches('/'));
    let home = tempfile::tempdir().unwrap();
    let script = format!(
        "gpg --batch --quiet --pinentry-mode loopback --passphrase-fd 3 -d {} 3<<<\"$PASSWORD\" | tar -xOf - {member}",
        archive.display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("GNUPGHOME", home.path())
        .env("PASSWORD", password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The state a successful regeneration leaves: one leader, three voters sharing the new CA, a
/// failure tolerance of 1, the new archive's gossip key the only one on every member.
fn assert_regenerated(mesh: &SimulatedMesh) {
    assert_regenerated_on(mesh, &SERVERS);
}

/// [`assert_regenerated`] on a Mesh whose servers are `servers` (the first leads).
fn assert_regenerated_on(mesh: &SimulatedMesh, servers: &[&str]) {
    let key = archive_member(mesh, &mesh.leader, NEW_PASSWORD, "gossip-key");
    let ca = archive_member(
        mesh,
        &mesh.leader,
        NEW_PASSWORD,
        "var/lib/service-discover/consul-agent-ca.pem",
    );
    let state = mesh.mesh.state();
    assert_eq!(state.leader.as_deref(), Some(servers[0]));
    let leader = state.agent(servers[0]).unwrap();
    // What the leader's Consul started with, not only what its files say now.
    assert_eq!(
        leader.ca.trim(),
        ca,
        "the leader runs on the new archive's CA"
    );
    let mut voters = leader.raft.clone().unwrap_or_default();
    voters.sort();
    assert_eq!(voters, servers, "every server a voter");
    for name in servers.iter().chain(&AGENTS) {
        let agent = state.agent(name).unwrap();
        assert!(agent.running, "{name} runs");
        assert_eq!(agent.ca, leader.ca, "{name} trusts the new CA");
        assert_eq!(
            agent.ring,
            std::slice::from_ref(&key),
            "{name} gossips with the new key alone"
        );
    }
    drop(state);
    for name in servers.iter().chain(&AGENTS) {
        assert_eq!(
            archive_member(mesh, name, NEW_PASSWORD, "gossip-key"),
            key,
            "{name} holds the new archive"
        );
    }
}

#[test]
fn the_simulated_mesh_is_set_up_as_carbonio_sets_it_up() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let state = mesh.mesh.state();
    // Each node made its token as service-discover does (the bootstrap token and five more).
    assert_eq!(state.cluster.tokens.len(), 6);
    assert_eq!(state.leader.as_deref(), Some(SERVERS[0]));
    let mut voters = state.agent(SERVERS[0]).unwrap().raft.clone().unwrap();
    voters.sort();
    assert_eq!(voters, SERVERS);
    for name in AGENTS {
        assert!(state.agent(name).unwrap().running && !state.agent(name).unwrap().server);
    }
}

#[test]
fn three_servers_are_regenerated_servers_first_with_the_gossip_key_rotated() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let old_key = archive_member(&mesh, &mesh.leader, OLD_PASSWORD, "gossip-key");
    let (code, out, err) = regenerate(&mesh, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_regenerated(&mesh);
    // The servers were set up again before any agent.
    let order: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("set up with the new archive"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order[..2], SERVERS[1..], "{out}");
    assert_eq!(order.len(), 4, "{out}");
    assert_ne!(
        archive_member(&mesh, &mesh.leader, NEW_PASSWORD, "gossip-key"),
        old_key
    );
}

/// Issue 23's regression: today's procedure of a8ce0a2 on three servers, i.e. this procedure
/// with shrink-raft replaced by nothing (a site step), resets the leader while the other two
/// keep the old CA: they elect a leader without it, and its setup's `acl bootstrap` fails
/// (Consul 1.21.4: `No cluster leader` at once; 1.10.12: legacy mode until setup gives up).
#[test]
fn the_leader_reset_without_shrinking_raft_fails_on_three_servers() {
    for (version, refusal) in [
        (Version::V1_21_4, "No cluster leader"),
        (
            Version::V1_10_12,
            "timeout reached while waiting for consul to be ready",
        ),
    ] {
        let mesh = SimulatedMesh::new(version, &["secret"], OLD_PASSWORD);
        mesh.config(
            "60-old-procedure.toml",
            "[steps.shrink-raft]\nexec = [\"true\"]\n",
        );
        let mut cmd = mesh.leader_cmd();
        // service-discover's 30 s of retries, shortened.
        cmd.env("SERVICE_DISCOVER_STANDIN_BOOTSTRAP_WAIT", "2");
        let password = mesh
            .sandbox
            .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
        let out = cmd
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(password)
            .args(["--nodes", "all"])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!out.status.success(), "{version}: {stdout}{stderr}");
        let failed = stdout
            .lines()
            .find(|l| l.starts_with("FAIL"))
            .unwrap_or_else(|| panic!("{version}: {stdout}{stderr}"));
        assert!(
            failed.contains("run-setup") && failed.contains(refusal),
            "{version}: {failed}\n{stdout}{stderr}"
        );
        let state = mesh.mesh.state();
        let leader = state.leader.clone().expect("the other two keep a leader");
        assert_ne!(
            leader, SERVERS[0],
            "{version}: the reset server cannot lead"
        );
        assert_ne!(
            state.agent(SERVERS[0]).unwrap().ca,
            state.agent(&leader).unwrap().ca,
            "{version}: cut off by its new CA"
        );
    }
}

/// Two servers of three down: no quorum. The run changes nothing and names the peers.json
/// recovery (`secret recover-quorum`), which it never attempts on its own.
#[test]
fn quorum_lost_is_a_plan_only() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    mesh.mesh.stop_agent(SERVERS[1]);
    mesh.mesh.stop_agent(SERVERS[2]);
    assert_eq!(mesh.mesh.state().leader, None);
    let before = carbonio_mesh_tests::mesh_checksums(mesh.root(SERVERS[0]));
    let (code, out, err) = regenerate(&mesh, &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("peers.json") || out.contains("peers.json"),
        "{out}{err}"
    );
    assert_eq!(
        carbonio_mesh_tests::mesh_checksums(mesh.root(SERVERS[0])),
        before
    );
    let mut plan = mesh.leader_cmd();
    let plan = plan.args(["secret", "plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("peers.json"), "{text}");
}
