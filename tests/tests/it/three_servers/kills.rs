//! `kill -9` at every step boundary of the three-server regeneration, and inside service-discover
//! setup (the leader's, another server's), each followed by `--resume`: the run ends as an
//! uninterrupted one. The kills at the boundaries are chained in one Mesh (killed after step k,
//! resumed, killed after step k+1, ...): each resume starts where a single kill would, and the
//! Mesh is set up once for eight kills.

use std::collections::BTreeMap;
use std::fs;

use carbonio_mesh_tests::simulated_mesh::SimulatedMesh;
use consul_double::Version;

use super::{archive_member, assert_regenerated, regenerate, the_run, OLD_PASSWORD, SERVERS};

/// The journal of the run this host keeps (there is one).
fn journal(mesh: &SimulatedMesh) -> Vec<serde_json::Value> {
    let run = mesh
        .sandbox
        .path("/var/lib/carbonio-mesh/runs")
        .join(the_run(mesh));
    let text = fs::read_to_string(run.join("journal.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many times the journal says each step was done.
fn done_counts(mesh: &SimulatedMesh) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in journal(mesh) {
        if record["event"] == "done" {
            *counts
                .entry(record["step"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    counts
}

/// The run started with `extra`, killed (`kill -9`, a site step `crash` placed after the step)
/// after each of `steps` in turn, resumed each time, then resumed to its end: every step of the
/// plan done exactly once, and the Mesh regenerated.
fn killed_after_each(mesh: &SimulatedMesh, steps: &[&str], extra: &[&str]) -> String {
    for (i, step) in steps.iter().enumerate() {
        mesh.config(
            "20-crash.toml",
            &format!(
                "[steps.crash]\nexec = [\"sh\", \"-c\", \"kill -9 $PPID\"]\n\
                 workflow = \"secret-regenerate\"\nafter = \"{step}\"\n"
            ),
        );
        let args = if i == 0 { extra } else { &["--resume"][..] };
        let (code, out, err) = regenerate(mesh, args);
        assert_eq!(code, -1, "killed after {step}: {out}{err}");
        let done = done_counts(mesh);
        assert_eq!(done.get(*step), Some(&1), "{step} done once: {done:?}");
    }
    fs::remove_file(
        mesh.sandbox
            .path("/etc/carbonio-mesh/config.d/20-crash.toml"),
    )
    .unwrap();
    let (code, out, err) = regenerate(mesh, &["--resume"]);
    assert_eq!(code, 0, "resumed after {}: {out}{err}", steps.join(", "));
    let done = done_counts(mesh);
    assert_eq!(done.len(), 16, "the sixteen steps of the plan: {done:?}");
    assert!(done.values().all(|n| *n == 1), "each done once: {done:?}");
    assert_regenerated(mesh);
    out
}

/// Until service-discover stops: the checks, the snapshot, raft shrunk to the leader, the reset
/// index read and written.
#[test]
fn killed_after_each_step_before_the_stop_a_resumed_run_ends_the_same() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    killed_after_each(
        &mesh,
        &[
            "preflight",
            "find-leader",
            "check-on-leader",
            "check-setup",
            "save-snapshot",
            "shrink-raft",
            "read-reset-index",
            "write-reset-file",
        ],
        &[],
    );
}

/// From the stop to the end, the old token revoked: the leader reset, the key rotated, the
/// other nodes set up again, the old token deleted.
#[test]
fn killed_after_each_step_from_the_stop_a_resumed_run_ends_the_same() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let old: serde_json::Value = serde_json::from_str(&archive_member(
        &mesh,
        &mesh.leader,
        OLD_PASSWORD,
        "consul-acl-secret.json",
    ))
    .unwrap();
    let old_accessor = old["AccessorID"].as_str().unwrap().to_owned();
    assert!(mesh
        .mesh
        .state()
        .cluster
        .tokens
        .iter()
        .any(|t| t.accessor == old_accessor));
    killed_after_each(
        &mesh,
        &[
            "stop-service",
            "backup-and-remove",
            "run-setup",
            "verify",
            "check-ldap-copy",
            "rotate-gossip-key",
            "rejoin-nodes",
            "revoke-old-token",
        ],
        &["--revoke-old-token"],
    );
    assert!(
        !mesh
            .mesh
            .state()
            .cluster
            .tokens
            .iter()
            .any(|t| t.accessor == old_accessor),
        "the old bootstrap token is deleted"
    );
}

/// Killed after the key rotation, then an agent's Consul stops (its node crashed and came back
/// without it): the resumed run sets it up like the others.
#[test]
fn resumed_with_an_agent_down_the_run_ends_the_same() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    mesh.config(
        "20-crash.toml",
        "[steps.crash]\nexec = [\"sh\", \"-c\", \"kill -9 $PPID\"]\n\
         workflow = \"secret-regenerate\"\nafter = \"rotate-gossip-key\"\n",
    );
    let (code, out, err) = regenerate(&mesh, &[]);
    assert_eq!(code, -1, "killed after rotate-gossip-key: {out}{err}");
    fs::remove_file(
        mesh.sandbox
            .path("/etc/carbonio-mesh/config.d/20-crash.toml"),
    )
    .unwrap();
    mesh.mesh.stop_agent(super::AGENTS[0]);
    let (code, out, err) = regenerate(&mesh, &["--resume"]);
    assert_eq!(code, 0, "resumed with an agent down: {out}{err}");
    assert_regenerated(&mesh);
}

/// Orders the service-discover stand-in on node `name` to die inside its next setup at `point`
/// (`after-files`: main.json and the certificates written; `after-bootstrap`: ACLs bootstrapped,
/// the archive not made), with the carbonio-mesh that runs it.
fn kill_inside_setup(mesh: &SimulatedMesh, name: &str, point: &str) {
    let dir = mesh.root(name).join("run/service-discover-standin");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("kill"), point).unwrap();
}

/// The management tokens Consul holds (each bootstrap makes one).
fn management_tokens(mesh: &SimulatedMesh) -> Vec<String> {
    mesh.mesh
        .state()
        .cluster
        .tokens
        .iter()
        .filter(|t| {
            t.policies
                .iter()
                .any(|(_, name)| name == "global-management")
        })
        .map(|t| t.accessor.clone())
        .collect()
}

/// `kill -9` inside setup: the leader's, twice (the run dies with it: once with main.json and
/// new certificates left behind, once after its ACL bootstrap, whose token no archive holds),
/// then another server's inside rejoin-nodes (that node's `secret rejoin` dies with it, so the
/// leader's run fails there); each time `--resume` goes on, and the run ends as an
/// uninterrupted one: the leader's Consul on the new archive's CA (the killed setup had started
/// it on its own), the killed setup's management token named.
#[test]
fn killed_inside_setup_on_the_leader_or_another_server_a_resumed_run_ends_the_same() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let before = management_tokens(&mesh);
    assert_eq!(before.len(), 1, "{before:?}");
    let main_json = "etc/zextras/service-discover/main.json";
    kill_inside_setup(&mesh, &mesh.leader, "after-files");
    let (code, out, err) = regenerate(&mesh, &[]);
    assert_eq!(code, -1, "killed inside the leader's setup: {out}{err}");
    assert!(
        mesh.root(&mesh.leader).join(main_json).exists(),
        "setup died after writing main.json"
    );
    assert!(!mesh.mesh.state().agent(&mesh.leader).unwrap().running);

    kill_inside_setup(&mesh, &mesh.leader, "after-bootstrap");
    let (code, out, err) = regenerate(&mesh, &["--resume"]);
    assert_eq!(code, -1, "killed after the leader's bootstrap: {out}{err}");
    let (stray, stray_index) = {
        let state = mesh.mesh.state();
        let made: Vec<_> = state
            .cluster
            .tokens
            .iter()
            .filter(|t| t.policies.iter().any(|(_, n)| n == "global-management"))
            .filter(|t| !before.contains(&t.accessor))
            .collect();
        assert_eq!(made.len(), 1, "the half-done setup's token: {made:?}");
        (made[0].accessor.clone(), made[0].create_index)
    };

    kill_inside_setup(&mesh, SERVERS[1], "after-files");
    let (code, out, err) = regenerate(&mesh, &["--resume"]);
    assert_ne!(code, 0, "{out}{err}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("{out}{err}"));
    assert!(failed.contains("rejoin-nodes"), "{failed}\n{out}{err}");
    // The leader's setup ran again, its Consul stopped first, and the killed setup's token named.
    let setup = out.lines().find(|l| l.contains("run-setup")).unwrap();
    assert!(
        setup.contains("(service-discover stopped first)")
            && setup.contains(&format!(
                "ACLs were bootstrapped at index {stray_index} by a setup of this run"
            )),
        "{setup}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(SERVERS[1]) && l.to_lowercase().contains("fail")),
        "{out}{err}"
    );
    assert!(
        mesh.root(SERVERS[1]).join(main_json).exists(),
        "{} setup died after writing main.json",
        SERVERS[1]
    );

    let (code, out, err) = regenerate(&mesh, &["--resume"]);
    assert_eq!(code, 0, "resumed after the kills inside setup: {out}{err}");
    assert_regenerated(&mesh);
    // The old bootstrap token (not revoked: no --revoke-old-token), the new archive's, and the
    // killed setup's, named for the admin to delete (no archive holds it).
    let new: serde_json::Value = serde_json::from_str(&archive_member(
        &mesh,
        &mesh.leader,
        super::NEW_PASSWORD,
        "consul-acl-secret.json",
    ))
    .unwrap();
    let mut expected = vec![
        before[0].clone(),
        new["AccessorID"].as_str().unwrap().to_owned(),
        stray,
    ];
    expected.sort();
    let mut tokens = management_tokens(&mesh);
    tokens.sort();
    assert_eq!(tokens, expected);
}
