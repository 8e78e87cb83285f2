//! `carbonio-mesh secret rejoin --archive FILE` end to end on a simulated node: the admin copied
//! the leader's new archive by hand (Carbonio's documented procedure), and the node is set up
//! again from it. The node was set up by the `service-discover` stand-in against the Consul
//! double; `systemctl` is the stand-in; the archives are real gpg files under a sandbox root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use carbonio_mesh_tests::{
    first_mesh_server, gpg_decrypt, gpg_with_password, local_ip, mesh_checksums, planned_steps,
    run, service_discover_setup, Sandbox, StandInBin,
};
use consul_double::Double;

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-2";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";
const CONFIG_JSON: &str = "/etc/zextras/service-discover/config.json";
/// Where the admin copied the leader's new archive to (scp), on the node.
const COPIED: &str = "/root/cluster-credentials.tar.gpg";

/// A node set up with the old archive, and the leader's new one copied beside it.
struct Node {
    _leader: Sandbox,
    double: Double,
    sandbox: Sandbox,
    bin: StandInBin,
    new_archive: Vec<u8>,
}

impl Node {
    fn new() -> Self {
        let (leader, double) = first_mesh_server(OLD_PASSWORD);
        // The leader at this machine's own address: the route to it exists on any machine.
        double
            .cluster()
            .nodes
            .iter_mut()
            .find(|n| n.name == "server-srv1-example-com")
            .unwrap()
            .address = local_ip();
        let sandbox = Sandbox::new();
        sandbox.install_product("secret");
        let bin = StandInBin::new(&["service-discover", "systemctl", "consul"]);
        sandbox.make_dir("/etc/zextras/service-discover");
        fs::write(
            sandbox.path(ARCHIVE),
            fs::read(leader.path(ARCHIVE)).unwrap(),
        )
        .unwrap();
        service_discover_setup(
            &bin.path().join("service-discover"),
            &sandbox.root(),
            &double.url(),
            &local_ip(),
            OLD_PASSWORD,
            false,
        );
        let config = sandbox.make_dir("/etc/carbonio-mesh/config.d");
        fs::write(
            config.join("10-test.toml"),
            "[mesh]\nservice_user = \"nobody\"\n",
        )
        .unwrap();
        // The leader's new archive: the same members (its token is the one the double knows)
        // under the new password, sealed by real gpg as service-discover seals it.
        let tar = leader.file_beside_root("credentials.tar", "");
        fs::write(&tar, gpg_decrypt(&leader.path(ARCHIVE), OLD_PASSWORD)).unwrap();
        let new_archive = gpg_with_password(
            NEW_PASSWORD,
            &[
                "--armor",
                "--symmetric",
                "--cipher-algo",
                "AES256",
                "--s2k-mode",
                "3",
                "--s2k-digest-algo",
                "SHA256",
                "--compress-algo",
                "none",
                "-o",
                "-",
            ]
            .map(std::ffi::OsStr::new)
            .into_iter()
            .chain([tar.as_os_str()])
            .collect::<Vec<_>>(),
        );
        sandbox.make_dir("/root");
        let node = Node {
            _leader: leader,
            double,
            sandbox,
            bin,
            new_archive,
        };
        node.copy(&node.new_archive.clone());
        node
    }

    /// The file the admin copied to the node holds `bytes`.
    fn copy(&self, bytes: &[u8]) {
        let path = self.sandbox.path(COPIED);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.sandbox.cmd();
        cmd.env("PATH", self.bin.search_path())
            .env("SERVICE_DISCOVER_STANDIN_ROOT", self.sandbox.root())
            .env("CONSUL_HTTP_ADDR", self.double.url());
        cmd
    }

    fn password_file(&self, password: &str) -> PathBuf {
        self.sandbox
            .file_beside_root("new-password", &format!("{password}\n"))
    }

    /// `secret rejoin --archive COPIED --password-file FILE(password) EXTRA...`
    fn rejoin_with(&self, password: &str, extra: &[&str]) -> (i32, String, String) {
        let file = self.password_file(password);
        run(self
            .cmd()
            .args([
                "--yes",
                "secret",
                "rejoin",
                "--archive",
                COPIED,
                "--password-file",
            ])
            .arg(&file)
            .args(extra))
    }

    fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.sandbox.path("/etc/carbonio-mesh/config.d").join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn systemctl_calls(&self) -> String {
        fs::read_to_string(self.sandbox.path("/run/systemctl-standin/calls")).unwrap_or_default()
    }

    fn bind_addr(&self) -> String {
        let text = fs::read_to_string(self.sandbox.path(CONFIG_JSON)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["bind_addr"].as_str().unwrap().to_owned()
    }

    fn journal(&self, stdout: &str) -> String {
        let run = stdout
            .lines()
            .find_map(|l| l.strip_prefix("Run: "))
            .expect("the run's name is printed");
        fs::read_to_string(
            self.sandbox
                .path(&format!("/var/lib/carbonio-mesh/runs/{run}/journal.jsonl")),
        )
        .unwrap()
    }

    /// The node holds the leader's new archive and was set up again from it, on this host.
    fn assert_rejoined(&self) {
        assert_eq!(
            fs::read(self.sandbox.path(ARCHIVE)).unwrap(),
            self.new_archive
        );
        assert!(!gpg_decrypt(&self.sandbox.path(ARCHIVE), NEW_PASSWORD).is_empty());
        assert!(self
            .sandbox
            .path("/etc/zextras/service-discover/main.json")
            .is_file());
        assert_eq!(self.bind_addr(), local_ip());
        assert!(self.systemctl_calls().contains("stop service-discover"));
    }

    /// Nothing changed: the node's Mesh files byte for byte, and service-discover never stopped.
    fn assert_untouched(&self, before: &std::collections::BTreeMap<String, String>) {
        assert_eq!(&mesh_checksums(&self.sandbox.root()), before);
        let calls = self.systemctl_calls();
        assert!(!calls.contains("stop"), "{calls}");
    }
}

fn row<'a>(out: &'a str, status: &str, step: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(status) && l.contains(step))
        .unwrap_or_else(|| panic!("no {status} row for {step}:\n{out}"))
}

/// What must never be shown: the passwords, and any line of the archive's armored body.
fn assert_no_secret(node: &Node, texts: &[(&str, &str)]) {
    let armored = String::from_utf8(node.new_archive.clone()).unwrap();
    let body = armored
        .lines()
        .find(|l| l.len() > 40)
        .expect("an armored body line");
    for (what, text) in texts {
        for secret in [NEW_PASSWORD, OLD_PASSWORD, body] {
            assert!(!text.contains(secret), "a secret in {what}: {text}");
        }
    }
}

#[test]
fn an_archive_copied_by_hand_sets_the_node_up_again() {
    let node = Node::new();
    let steps = planned_steps(node.cmd(), true);
    assert!(steps.len() > 4, "{steps:?}");
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for step in &steps {
        row(&out, "ok ", step);
    }
    let preflight = row(&out, "ok ", "node-preflight");
    assert!(
        preflight.contains(&format!("{COPIED} opens with the new password"))
            && preflight.contains(&format!(
                "this node is {} (from the bind_addr in {CONFIG_JSON})",
                local_ip()
            )),
        "{preflight}"
    );
    node.assert_rejoined();
    let journal = node.journal(&out);
    assert!(journal.contains(r#""event":"finished""#), "{journal}");
    assert!(
        journal.contains(&format!(r#""archive_file":"{COPIED}""#)),
        "the journal names the file, to read it again on --resume: {journal}"
    );
    assert_no_secret(
        &node,
        &[("stdout", &out), ("stderr", &err), ("journal", &journal)],
    );
}

#[test]
fn a_wrong_password_stops_before_anything_changes_with_exit_7() {
    let node = Node::new();
    let before = mesh_checksums(&node.sandbox.root());
    let (code, out, err) = node.rejoin_with("not-the-new-password", &[]);
    assert_eq!(code, 7, "{out}{err}");
    row(&out, "FAIL", "node-preflight");
    assert!(err.contains("wrong password"), "{err}");
    assert!(!err.contains("not-the-new-password"), "{err}");
    node.assert_untouched(&before);
    // Nothing changed: no run is left that offers `restore` (or `--resume`).
    assert!(
        err.contains("Nothing was changed and no run was kept"),
        "{err}"
    );
    assert!(!err.contains("secret restore"), "{err}");
    assert!(
        out.ends_with("Run: none (nothing was changed: not kept)\n"),
        "{out}"
    );
    let (code, runs, _) = run(node
        .sandbox
        .cmd()
        .args(["secret", "runs", "--format", "json"]));
    assert_eq!((code, runs.trim()), (0, "[]"), "no run was kept");
}

#[test]
fn a_damaged_archive_stops_before_anything_changes_with_exit_8() {
    let node = Node::new();
    let before = mesh_checksums(&node.sandbox.root());
    let armored = String::from_utf8(node.new_archive.clone()).unwrap();
    // One base64 character changed in the middle of the body.
    let mut lines: Vec<String> = armored.lines().map(str::to_owned).collect();
    let middle = lines.len() / 2;
    let flipped: String = lines[middle]
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    lines[middle] = flipped;
    let corrupted = lines.join("\n") + "\n";
    let truncated = &armored[..armored.len() / 2];
    for (what, bytes) in [
        ("a changed character", corrupted.as_bytes()),
        ("cut in half", truncated.as_bytes()),
        (
            "not an OpenPGP message",
            b"<html>404 Not Found</html>\n".as_slice(),
        ),
    ] {
        node.copy(bytes);
        let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
        assert_eq!(code, 8, "{what}: {out}{err}");
        row(&out, "FAIL", "node-preflight");
        assert!(err.contains(COPIED), "{what}: {err}");
        node.assert_untouched(&before);
    }
}

#[test]
fn archive_and_input_stdin_together_are_a_usage_error() {
    let node = Node::new();
    let before = mesh_checksums(&node.sandbox.root());
    let (code, out, err) = run(node
        .cmd()
        .args([
            "--yes",
            "secret",
            "rejoin",
            "--input-stdin",
            "--archive",
            COPIED,
        ])
        .write_stdin(format!("{NEW_PASSWORD}\n")));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--archive and --input-stdin both give the new archive"),
        "{err}"
    );
    node.assert_untouched(&before);
}

#[test]
fn a_failed_node_setup_is_resumed_reading_the_file_again() {
    let node = Node::new();
    // Fails in backup-and-remove's place first (the archive not yet installed), then in
    // node-setup's: each resume continues where the run stopped.
    let failing = node.config(
        "20-fail.toml",
        "[steps.backup-and-remove]\nexec = [\"sh\", \"-c\", \"echo 'No space left on device' >&2; exit 1\"]\n",
    );
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 5, "{out}{err}");
    row(&out, "FAIL", "backup-and-remove");
    assert!(
        err.contains("No space left on device") && err.contains("--resume"),
        "{err}"
    );
    let first_journal = node.journal(&out);
    fs::write(
        &failing,
        "[steps.node-setup]\nexec = [\"sh\", \"-c\", \"echo 'setup: cannot reach LDAP' >&2; exit 1\"]\n",
    )
    .unwrap();
    // No --archive: the journal names the file, which is read (and checked) again.
    let file = node.password_file(NEW_PASSWORD);
    let (code, out, err) = run(node
        .cmd()
        .args(["--yes", "secret", "rejoin", "--resume", "--password-file"])
        .arg(&file));
    assert_eq!(code, 5, "{out}{err}");
    row(&out, "done", "node-preflight");
    assert!(
        row(&out, "ok ", "install-archive").contains(&format!("from {COPIED}")),
        "{out}"
    );
    row(&out, "FAIL", "node-setup");
    assert!(err.contains("cannot reach LDAP"), "{err}");
    fs::remove_file(&failing).unwrap();
    let (code, out, err) = run(node
        .cmd()
        .args(["--yes", "secret", "rejoin", "--resume", "--password-file"])
        .arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    let steps = planned_steps(node.cmd(), true);
    let failed = steps.iter().position(|s| s == "node-setup").unwrap();
    for step in &steps[..failed] {
        row(&out, "done", step);
    }
    row(&out, "ok ", "node-setup");
    row(&out, "ok ", "node-verify");
    node.assert_rejoined();
    let journal = node.journal(&out);
    assert!(journal.contains(r#""event":"finished""#), "{journal}");
    assert_no_secret(
        &node,
        &[
            ("stdout", &out),
            ("stderr", &err),
            ("journal", &journal),
            ("first journal", &first_journal),
        ],
    );
}

#[test]
fn without_a_usable_bind_addr_the_node_takes_its_address_on_the_route_to_the_leader() {
    let node = Node::new();
    // config.json names an address this host does not have (the node was renumbered).
    fs::write(
        node.sandbox.path(CONFIG_JSON),
        r#"{"bind_addr": "198.51.100.7"}"#,
    )
    .unwrap();
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let preflight = row(&out, "ok ", "node-preflight");
    assert!(
        preflight.contains(&format!(
            "this node is {ip} (from the route to leader {ip})",
            ip = local_ip()
        )),
        "{preflight}"
    );
    node.assert_rejoined();
}

#[test]
fn with_no_agent_to_name_the_leader_only_a_single_ipv4_address_is_taken() {
    let node = Node::new();
    fs::remove_file(node.sandbox.path(CONFIG_JSON)).unwrap();
    // An agent that cannot answer: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = node.password_file(NEW_PASSWORD);
    let (code, out, err) = run(node
        .cmd()
        .env("CONSUL_HTTP_ADDR", format!("http://127.0.0.1:{port}"))
        .args([
            "--yes",
            "--dry-run",
            "secret",
            "rejoin",
            "--archive",
            COPIED,
            "--password-file",
        ])
        .arg(&file));
    let text = String::from_utf8(
        std::process::Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let ipv4: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter(|cidr| !cidr.starts_with("127."))
        .collect();
    if ipv4.len() == 1 {
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            row(&out, "ok ", "node-preflight").contains(&format!(
                "this node is {} (from the only non-loopback IPv4 address of this host",
                local_ip()
            )),
            "{out}"
        );
    } else {
        assert_eq!(code, 5, "{ipv4:?}: {out}{err}");
        assert!(
            err.contains("cannot tell which address") && err.contains("bind_addr"),
            "{err}"
        );
    }
}

/// Issue 24, item 9: `secret rejoin --archive FILE` accepted another cluster's archive (sealed
/// with the same new password): the node was stopped and set up with the wrong CA and gossip
/// key. FILE is compared with the copy in LDAP (which the leader's setup uploaded) before
/// anything changes; a FILE others may write is warned about.
#[test]
fn another_clusters_archive_is_refused_before_anything_changes() {
    let node = Node::new();
    let slapd = carbonio_mesh_tests::slapd::Slapd::start();
    carbonio_mesh_tests::slapd::install_localconfig(&node.sandbox, &slapd.localconfig());
    // Its zimbra_server_hostname resolves (check-setup asks what service-discover setup asks).
    node.sandbox.write_fixture_hosts();
    slapd.set_credentials(&node.new_archive);
    let (other, _other_double) = first_mesh_server(NEW_PASSWORD);
    node.copy(&fs::read(other.path(ARCHIVE)).unwrap());
    let before = mesh_checksums(&node.sandbox.root());
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 5, "{out}{err}");
    row(&out, "FAIL", "node-preflight");
    assert!(err.contains("LDAP"), "{err}");
    node.assert_untouched(&before);
    // The leader's archive in a file anyone may write: it is LDAP's, so the run goes on, and
    // the admin hears that someone could have changed it.
    node.copy(&node.new_archive.clone());
    fs::set_permissions(node.sandbox.path(COPIED), fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning") && err.contains(COPIED) && err.contains("writable"),
        "{err}"
    );
    assert!(row(&out, "ok ", "node-preflight").contains("LDAP"), "{out}");
    node.assert_rejoined();
    // Setup names the node as service-discover does: its role and localconfig.xml's hostname,
    // dots as dashes (this node has no server package: an agent).
    let main: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(node.sandbox.path("/etc/zextras/service-discover/main.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(main["node_name"], "agent-srv1-example-com", "{main}");
}

/// The node's Consul state as Consul leaves it in its data directory: its identity, its gossip
/// keyring (the old key), and on a server its raft store.
fn consul_state(node: &Node, server: bool) -> PathBuf {
    let data = node.sandbox.make_dir("/var/lib/service-discover/data");
    fs::write(data.join("node-id"), "2f1c7a9e-5b3d-4e8a-9c6f-0d1e2f3a4b5c").unwrap();
    fs::create_dir_all(data.join("serf")).unwrap();
    fs::write(data.join("serf/local.keyring"), "[\"b2xkLWtleQ==\"]").unwrap();
    if server {
        fs::create_dir_all(data.join("raft/snapshots")).unwrap();
        fs::write(data.join("raft/raft.db"), "the old three-voter log").unwrap();
        fs::write(data.join("raft/peers.info"), "As of Consul 0.7.0, ...").unwrap();
        let main = node.sandbox.path("/etc/zextras/service-discover/main.json");
        let mut value: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&main).unwrap()).unwrap();
        value["server"] = serde_json::Value::Bool(true);
        fs::write(&main, value.to_string()).unwrap();
    }
    data
}

/// Where the run backed up `path` (a system path), from its journal's `removed` records.
fn backup_of(node: &Node, stdout: &str, path: &str) -> PathBuf {
    let journal = node.journal(stdout);
    let backup = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["event"] == "removed" && r["path"] == path)
        .unwrap_or_else(|| panic!("{path} was not backed up:\n{journal}"))["backup"]
        .as_str()
        .unwrap()
        .to_owned();
    node.sandbox.path(&backup)
}

/// Issue 23: Consul uses main.json's `encrypt` only when `data/serf/local.keyring` does not
/// exist, so an agent set up again over its old data keeps gossiping with the old key. rejoin
/// removes `data/serf` (backed up) and keeps `data/node-id` (the node stays itself); an agent
/// has no raft store to remove.
#[test]
fn an_agent_loses_its_old_keyring_and_keeps_its_node_id() {
    let node = Node::new();
    let data = consul_state(&node, false);
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 0, "{out}{err}");
    node.assert_rejoined();
    assert!(!data.join("serf").exists(), "the old keyring is gone");
    assert_eq!(
        fs::read_to_string(data.join("node-id")).unwrap(),
        "2f1c7a9e-5b3d-4e8a-9c6f-0d1e2f3a4b5c"
    );
    let saved = backup_of(&node, &out, "/var/lib/service-discover/data/serf");
    assert_eq!(
        fs::read_to_string(saved.join("local.keyring")).unwrap(),
        "[\"b2xkLWtleQ==\"]"
    );
    assert!(
        !node.journal(&out).contains("data/raft"),
        "an agent has no raft store"
    );
}

/// A Mesh server set up again must join the reset leader as a new voter: its raft store (a
/// configuration naming the old voters) is removed with its keyring, its node-id kept.
#[test]
fn a_server_loses_its_raft_store_and_keyring_and_keeps_its_node_id() {
    let node = Node::new();
    let data = consul_state(&node, true);
    let (code, out, err) = node.rejoin_with(NEW_PASSWORD, &[]);
    assert_eq!(code, 0, "{out}{err}");
    node.assert_rejoined();
    assert!(
        !data.join("raft").exists(),
        "the old raft configuration is gone"
    );
    assert!(!data.join("serf").exists(), "the old keyring is gone");
    assert!(data.join("node-id").is_file());
    let saved = backup_of(&node, &out, "/var/lib/service-discover/data/raft");
    assert_eq!(
        fs::read_to_string(saved.join("raft.db")).unwrap(),
        "the old three-voter log"
    );
    backup_of(&node, &out, "/var/lib/service-discover/data/serf");
}
