//! One Mesh server and two agents on the simulated Mesh (a Carbonio without redundant Mesh
//! servers): `secret regenerate --nodes all` takes the one-server procedure (no snapshot, raft
//! left alone), rotates the gossip key and sets the agents up again.

use carbonio_mesh_tests::simulated_mesh::SimulatedMesh;
use consul_double::Version;

use super::{archive_member, assert_regenerated_on, regenerate, AGENTS, OLD_PASSWORD, SERVERS};

#[test]
fn one_server_is_regenerated_without_touching_raft_and_the_gossip_key_rotated() {
    let mesh = SimulatedMesh::one_server(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    {
        let state = mesh.mesh.state();
        assert_eq!(state.leader.as_deref(), Some(SERVERS[0]));
        assert_eq!(
            state.agent(SERVERS[0]).unwrap().raft.as_deref(),
            Some(&[SERVERS[0].to_owned()][..])
        );
        assert_eq!(state.agents.len(), 3, "one server, two agents");
    }
    let old_key = archive_member(&mesh, &mesh.leader, OLD_PASSWORD, "gossip-key");

    let mut plan = mesh.leader_cmd();
    let plan = plan.args(["secret", "plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    assert!(text.contains("Procedure: one Mesh server"), "{text}");

    let (code, out, err) = regenerate(&mesh, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for step in ["save-snapshot", "shrink-raft"] {
        let line = out
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("{step}: {out}"));
        assert!(line.contains("skipped (one Mesh server"), "{line}");
    }
    // The two agents set up again, no server.
    let set_up: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("set up with the new archive"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(set_up.len(), AGENTS.len(), "{out}");
    assert!(set_up.iter().all(|n| n.starts_with("agent-")), "{out}");
    assert_regenerated_on(&mesh, &SERVERS[..1]);
    assert_ne!(
        archive_member(&mesh, &mesh.leader, super::NEW_PASSWORD, "gossip-key"),
        old_key,
        "the gossip key changed"
    );
}
