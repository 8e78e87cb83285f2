//! The Ansible transport the package ships as an example (packaging/deb/transport-ansible.toml,
//! copied as it is into the leader's config.d) against the real sshd of tests/src/sshd.rs:
//! ansible-core (pinned, in a virtual environment of its own: `ensure_ansible` in
//! scripts/lib.sh, which the test command runs) with an inventory naming every simulated node,
//! `secret regenerate --nodes all` and `doctor --nodes all` through it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use carbonio_mesh_tests::ssh_mesh::SshMesh;
use carbonio_mesh_tests::{gpg_decrypt, run, STAND_IN_ENV};

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-ansible-3";
const ARCHIVE: &str = "etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// The `bin` directory of the pinned ansible-core: `CARBONIO_MESH_TEST_ANSIBLE`, as the test
/// command sets it, else where `ensure_ansible` puts it.
fn ansible_bin() -> PathBuf {
    let bin = std::env::var_os("CARBONIO_MESH_TEST_ANSIBLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/carbonio-mesh/ansible-core-2.19.15/bin")
        });
    assert!(
        bin.join("ansible").is_file(),
        "no ansible in {}: run scripts/test.sh, or `. scripts/lib.sh; ensure_ansible`",
        bin.display()
    );
    bin
}

struct Mesh {
    mesh: SshMesh,
    ansible: PathBuf,
    inventory: PathBuf,
    /// ANSIBLE_HOME: ansible's own files (temporary directories, ssh control sockets) stay here.
    home: tempfile::TempDir,
}

impl Mesh {
    fn new() -> Mesh {
        let mesh = SshMesh::new(&["secret", "doctor"], OLD_PASSWORD, |_, node| node);
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/deb/transport-ansible.toml"
        );
        mesh.config(
            "50-transport-ansible.toml",
            &fs::read_to_string(example).unwrap(),
        );
        let inventory = mesh.sshd.ansible_inventory();
        Mesh {
            mesh,
            ansible: ansible_bin(),
            inventory,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The leader's carbonio-mesh with ansible on PATH and the test's inventory, as a site's
    /// ansible.cfg would name it.
    fn leader(&self) -> Command {
        let mut cmd = self.mesh.leader_cmd();
        cmd.env(
            "PATH",
            format!("{}:{}", self.ansible.display(), self.mesh.bin.search_path()),
        )
        .env("ANSIBLE_INVENTORY", &self.inventory)
        .env("ANSIBLE_HOME", self.home.path())
        // The venv's cryptography warns about DSA on every start; not ours to show.
        .env("PYTHONWARNINGS", "ignore")
        .env(
            "CARBONIO_MESH_CHILD_ENV",
            format!("{STAND_IN_ENV} ANSIBLE_INVENTORY ANSIBLE_HOME PYTHONWARNINGS"),
        );
        cmd
    }

    /// Node `node`'s archive decrypted with `password` (real gpg; panics when it does not open).
    fn node_archive(&self, node: &str, password: &str) -> Vec<u8> {
        gpg_decrypt(&self.mesh.roots[node].join(ARCHIVE), password)
    }
}

/// What the example leaves in /run: nothing once ansible has exited.
fn leftovers() -> Vec<String> {
    fs::read_dir("/run")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("carbonio-mesh-ansible."))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn secret_and_doctor_reach_every_node_through_ansible() {
    let mesh = Mesh::new();
    let before = leftovers();
    // The plan names the site's transport: ansible, from the example file.
    let (code, plan, err) =
        run(assert_cmd::Command::from_std(mesh.leader()).args(["secret", "plan"]));
    assert_eq!(code, 0, "{err}");
    assert!(plan.contains("ansible"), "{plan}");

    let password = mesh
        .mesh
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let (code, out, err) = run(assert_cmd::Command::from_std(mesh.leader())
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&password)
        .args(["--nodes", "all"]));
    assert_eq!(code, 0, "{out}{err}\nsshd:\n{}", mesh.mesh.sshd.log());
    let leader = gpg_decrypt(
        &mesh.mesh.sandbox.path(&format!("/{ARCHIVE}")),
        NEW_PASSWORD,
    );
    for node in &mesh.mesh.nodes {
        assert!(
            mesh.node_archive(node, NEW_PASSWORD) == leader,
            "{node} did not get the new archive:\n{out}"
        );
    }
    assert!(!out.contains(NEW_PASSWORD) && !err.contains(NEW_PASSWORD));
    assert_eq!(
        leftovers(),
        before,
        "the input directory under /run was left"
    );

    // doctor --nodes all: every node's own checks came back through ansible.
    let (code, out, err) = run(assert_cmd::Command::from_std(mesh.leader())
        .args(["doctor", "--nodes", "all", "--format", "json"]));
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert!([0, 10, 11].contains(&code), "{out}{err}");
    let nodes = report["nodes"].as_array().unwrap();
    for node in &mesh.mesh.nodes {
        let row = nodes
            .iter()
            .find(|n| n["node"] == node.as_str())
            .unwrap_or_else(|| panic!("no row for {node}: {out}"));
        assert_ne!(row["status"], "unreachable", "{row}");
    }

    // A node missing from the inventory is not skipped as ansible would (exit 0): it fails,
    // named. The inventory now knows only the first node; the second is asked for.
    let first = &mesh.mesh.nodes[0];
    let text = fs::read_to_string(&mesh.inventory).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| {
            l.starts_with('[')
                || l.starts_with(&format!("{first} "))
                || l.starts_with(&format!("{} ", mesh.mesh.sshd.address(first)))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&mesh.inventory, kept).unwrap();
    let missing = &mesh.mesh.nodes[1];
    let (code, out, err) = run(assert_cmd::Command::from_std(mesh.leader())
        .args(["doctor", "--nodes", missing, "--format", "json"]));
    assert_eq!(code, 11, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let unreachable: Vec<&str> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "unreachable")
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(unreachable, [missing.as_str()], "{out}");
    assert!(
        out.contains("Could not match supplied host pattern"),
        "the reason is ansible's: {out}"
    );
}
