//! Runs on the simulated Mesh: one at a time (a second regeneration or a restore while one runs
//! is refused, naming it), and `secret restore` of a run that failed after raft was shrunk.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carbonio_mesh_tests::simulated_mesh::SimulatedMesh;
use consul_double::Version;

use super::{
    archive_member, assert_regenerated, regenerate, the_run, NEW_PASSWORD, OLD_PASSWORD, SERVERS,
};

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until `path` exists, `run` still running (a run that ended says why). The deadline is
/// generous: on a loaded machine a full suite's three-server runs take minutes to reach their
/// setup. Past it, the run is killed and what it printed so far is the failure's message.
fn wait_for(path: &Path, run: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !path.exists() {
        let ended = run.try_wait().unwrap().is_some();
        let late = Instant::now() >= deadline;
        if ended || late {
            if late {
                let _ = run.kill();
            }
            let mut out = String::new();
            let mut err = String::new();
            run.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            run.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            let why = if ended {
                "the run ended before"
            } else {
                "300 s passed without"
            };
            panic!("{why} {what}: {out}{err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// While a regeneration runs (held by a site step after the leader's setup), a second one and a
/// restore of the running run are refused with exit 12, naming it, and change nothing; the
/// first then finishes.
#[test]
fn one_run_at_a_time_on_the_mesh_a_second_run_or_a_restore_is_refused() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let gate = tempfile::tempdir().unwrap();
    let (reached, go) = (gate.path().join("reached"), gate.path().join("go"));
    mesh.config(
        "20-hold.toml",
        &format!(
            "[steps.hold]\nexec = [\"sh\", \"-c\", \"touch {}; while [ ! -e {} ]; do sleep 0.1; done\"]\n\
             workflow = \"secret-regenerate\"\nafter = \"run-setup\"\n",
            reached.display(),
            go.display()
        ),
    );
    let password = mesh
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let mut first = mesh
        .leader_cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&password)
        .args(["--nodes", "all"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&reached, &mut first, "its hold after run-setup");
    let run = the_run(&mesh);
    let running = format!(
        "run {run} (secret-regenerate, pid {}) is running on this node",
        first.id()
    );
    let before = carbonio_mesh_tests::mesh_checksums(mesh.root(&mesh.leader));
    let (code, out, err) = regenerate(&mesh, &[]);
    assert_eq!(code, 12, "a second run: {out}{err}");
    assert!(err.contains(&running), "a second run: {err}");
    let (code, out, err) = output(mesh.leader_cmd().args(["--yes", "secret", "restore", &run]));
    assert_eq!(code, 12, "a restore: {out}{err}");
    assert!(err.contains(&running), "a restore: {err}");
    assert_eq!(
        carbonio_mesh_tests::mesh_checksums(mesh.root(&mesh.leader)),
        before,
        "the refused commands changed nothing"
    );
    assert_eq!(the_run(&mesh), run, "and kept no run");

    fs::write(&go, "").unwrap();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_regenerated(&mesh);
}

/// `systemctl start service-discover` on node `name`, as an admin runs it there (the stand-in,
/// which starts that node's agent).
fn start_service(mesh: &SimulatedMesh, name: &str) {
    let (code, out, err) = output(
        Command::new(mesh.bin.path().join("systemctl"))
            .args(["start", "service-discover"])
            .env("SERVICE_DISCOVER_STANDIN_ROOT", mesh.root(name))
            .env("CONSUL_DOUBLE_CONTROL", mesh.mesh.control_url()),
    );
    assert_eq!(code, 0, "systemctl start on {name}: {out}{err}");
}

/// The leader's setup fails after raft was shrunk to it; `secret restore` puts its old files
/// back and restarts it, and says what it cannot undo: the other two servers left raft and are
/// stopped, on the old secrets. Started again as it says, they are voters again: the Mesh is
/// as before the run.
#[test]
fn restore_after_a_failed_setup_on_three_servers_names_the_servers_to_start_again() {
    let mesh = SimulatedMesh::new(Version::V1_21_4, &["secret"], OLD_PASSWORD);
    let (ca, ring) = {
        let state = mesh.mesh.state();
        let leader = state.agent(SERVERS[0]).unwrap();
        (leader.ca.clone(), leader.ring.clone())
    };
    let password = mesh
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let (code, out, err) = output(
        mesh.leader_cmd()
            .env("SERVICE_DISCOVER_STANDIN_FAIL", "bootstrap")
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(&password)
            .args(["--nodes", "all"]),
    );
    assert_ne!(code, 0, "{out}{err}");
    let failed = out.lines().find(|l| l.starts_with("FAIL")).unwrap();
    assert!(failed.contains("run-setup"), "{failed}\n{out}{err}");
    {
        let state = mesh.mesh.state();
        for server in &SERVERS[1..] {
            assert!(!state.agent(server).unwrap().running, "{server} stopped");
        }
    }

    let run = the_run(&mesh);
    let (code, out, err) = output(mesh.leader_cmd().args(["--yes", "secret", "restore", &run]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("and restarted service-discover"), "{out}{err}");
    // Nothing was set up again with the new secrets; the two servers that left are named,
    // with what brings them back.
    assert!(!out.contains("set up again keep the new secrets"), "{out}");
    let note = out
        .lines()
        .find(|l| l.contains("left raft"))
        .unwrap_or_else(|| panic!("no word of the servers that left raft: {out}"));
    for server in &SERVERS[1..] {
        assert!(note.contains(server), "{note}");
    }
    assert!(note.contains("systemctl start service-discover"), "{note}");
    {
        let state = mesh.mesh.state();
        let leader = state.agent(SERVERS[0]).unwrap();
        assert!(leader.running, "the leader restarted");
        assert_eq!(leader.ca, ca, "on its old CA");
        assert_eq!(leader.ring, ring, "and its old gossip key");
        assert_eq!(state.leader.as_deref(), Some(SERVERS[0]));
        assert_eq!(leader.raft.as_deref(), Some(&[SERVERS[0].to_owned()][..]));
    }
    assert_eq!(
        archive_member(&mesh, &mesh.leader, OLD_PASSWORD, "gossip-key"),
        ring[0],
        "the old archive is back"
    );

    for server in &SERVERS[1..] {
        start_service(&mesh, server);
    }
    let state = mesh.mesh.state();
    assert_eq!(state.leader.as_deref(), Some(SERVERS[0]));
    let mut voters = state.agent(SERVERS[0]).unwrap().raft.clone().unwrap();
    voters.sort();
    assert_eq!(voters, SERVERS, "three voters again");
    for (name, agent) in &state.agents {
        assert!(agent.running, "{name} runs");
        assert_eq!(agent.ca, ca, "{name} on the old CA");
        assert_eq!(agent.ring, ring, "{name} on the old gossip key");
    }
}
