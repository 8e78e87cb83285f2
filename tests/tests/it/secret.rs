//! `carbonio-mesh secret` end to end on a simulated Mesh leader: the Consul double (with the
//! reset-file semantics), the `service-discover`, `systemctl` and `consul` stand-ins, real files
//! under a sandbox root, real kill -9 at step boundaries.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use carbonio_mesh_tests::{
    gpg_decrypt, local_ip, mesh_checksums, planned_steps, run, service_discover_setup, Sandbox,
    StandInBin,
};
use consul_double::{Cluster, Double, Version};

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-2";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// A Mesh leader set up by the service-discover stand-in with OLD_PASSWORD.
struct Leader {
    sandbox: Sandbox,
    double: Double,
    bin: StandInBin,
    old_token: String,
}

impl Leader {
    fn new() -> Self {
        Leader::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut Cluster)) -> Self {
        let sandbox = Sandbox::new();
        sandbox.install_product("secret");
        let mut cluster = Cluster::fixture_unbootstrapped();
        let ip = local_ip();
        cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "server-srv1-example-com")
            .unwrap()
            .address = ip;
        cluster.data_dir = Some(sandbox.path("/var/lib/service-discover/data"));
        change(&mut cluster);
        let double = Double::start(cluster).unwrap();
        let bin = StandInBin::new(&["service-discover", "systemctl", "consul"]);
        let leader = Leader {
            sandbox,
            double,
            bin,
            old_token: String::new(),
        };
        service_discover_setup(
            &leader.bin.path().join("service-discover"),
            &leader.sandbox.root(),
            &leader.double.url(),
            "192.0.2.2",
            OLD_PASSWORD,
            true,
        );
        // Consul runs as service-discover on a real node; this machine has no such user.
        leader.config("10-test.toml", "[mesh]\nservice_user = \"nobody\"\n");
        let old_token = leader.token_in_archive(OLD_PASSWORD);
        Leader {
            old_token,
            ..leader
        }
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.sandbox.cmd();
        cmd.env("PATH", self.bin.search_path())
            .env("SERVICE_DISCOVER_STANDIN_ROOT", self.sandbox.root())
            .env("CONSUL_HTTP_ADDR", self.double.url());
        cmd
    }

    fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self
            .sandbox
            .make_dir("/etc/carbonio-mesh/config.d")
            .join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn password_file(&self, password: &str) -> PathBuf {
        self.sandbox
            .file_beside_root("new-password", &format!("{password}\n"))
    }

    fn token_in_archive(&self, password: &str) -> String {
        let tar = gpg_decrypt(&self.sandbox.path(ARCHIVE), password);
        let mut archive = tar::Archive::new(&tar[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry
                .path()
                .unwrap()
                .to_string_lossy()
                .ends_with("consul-acl-secret.json")
            {
                let value: serde_json::Value = serde_json::from_reader(&mut entry).unwrap();
                return value["SecretID"].as_str().unwrap().to_owned();
            }
        }
        panic!("no consul-acl-secret.json in the archive");
    }

    /// `sha256sum` of every file of the Mesh setup, by path.
    fn checksums(&self) -> BTreeMap<String, String> {
        mesh_checksums(&self.sandbox.root())
    }

    fn regenerate(&self, extra: &[&str]) -> (i32, String, String) {
        let password = self.password_file(NEW_PASSWORD);
        run(self
            .cmd()
            .args([
                "--yes",
                "secret",
                "regenerate",
                "--revoke-old-token",
                "--password-file",
            ])
            .arg(&password)
            .args(extra))
    }

    /// The state every successful run must reach.
    fn assert_regenerated(&self) {
        let new_token = self.token_in_archive(NEW_PASSWORD);
        assert_ne!(new_token, self.old_token);
        let cluster = self.double.cluster();
        assert!(cluster.token(&new_token).is_some(), "the new token works");
        assert!(
            cluster.token(&self.old_token).is_none(),
            "the old token was revoked"
        );
        drop(cluster);
        assert!(self
            .sandbox
            .path("/etc/zextras/service-discover/main.json")
            .is_file());
        assert_eq!(
            fs::read_to_string(self.sandbox.path("/var/lib/service-discover/password")).unwrap(),
            NEW_PASSWORD
        );
        assert!(
            !self
                .sandbox
                .path("/var/lib/service-discover/data/acl-bootstrap-reset")
                .exists(),
            "Consul consumed the reset file"
        );
    }
}

/// The run's table has a FAIL row for `step`.
fn assert_failed_at(out: &str, step: &str) {
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(step)),
        "no FAIL row for {step}:\n{out}"
    );
}

fn run_name(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Run: "))
        .expect("the run's name is printed")
        .to_owned()
}

#[test]
fn the_whole_flow_regenerates_the_secrets_and_revokes_the_old_token() {
    let leader = Leader::new();
    let steps = planned_steps(leader.cmd(), false);
    assert!(steps.len() > 10, "{steps:?}");
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    for step in steps {
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok ") && l.contains(step.as_str())),
            "{step} in\n{out}"
        );
    }
    leader.assert_regenerated();
    let calls = fs::read_to_string(leader.sandbox.path("/run/systemctl-standin/calls")).unwrap();
    assert!(calls.contains("stop service-discover"), "{calls}");
    // The journal: 0700, every step started and done, finished, and no secret in it.
    let run = run_name(&out);
    let dir = leader
        .sandbox
        .path(&format!("/var/lib/carbonio-mesh/runs/{run}"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let journal = fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains(r#""event":"finished""#), "{journal}");
    for secret in [
        NEW_PASSWORD,
        OLD_PASSWORD,
        leader.old_token.as_str(),
        &leader.token_in_archive(NEW_PASSWORD),
    ] {
        assert!(!journal.contains(secret), "the journal holds a secret");
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "output holds a secret"
        );
    }
}

#[test]
fn interrupted_after_any_step_a_resumed_run_reaches_the_same_state() {
    let mut points = 0;
    let planned = planned_steps(Leader::new().cmd(), false);
    for k in 1..=planned.len() {
        let leader = Leader::new();
        let mut steps: Vec<String> = planned[..k].iter().map(|s| format!("\"{s}\"")).collect();
        steps.push("\"crash\"".into());
        steps.extend(planned[k..].iter().map(|s| format!("\"{s}\"")));
        let crash = leader.config(
            "20-crash.toml",
            &format!(
                "[workflows]\nsecret-regenerate = [{}]\n[steps.crash]\nexec = [\"sh\", \"-c\", \"kill -9 $PPID\"]\n",
                steps.join(", ")
            ),
        );
        let (code, out, err) = leader.regenerate(&[]);
        assert_eq!(code, -1, "killed after {}: {out}{err}", planned[k - 1]);
        fs::remove_file(crash).unwrap();
        let (code, out, err) = leader.regenerate(&["--resume"]);
        assert_eq!(code, 0, "resume after {}: {out}{err}", planned[k - 1]);
        for step in &planned[..k] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with("done") && l.contains(step)),
                "{step} done earlier:\n{out}"
            );
        }
        leader.assert_regenerated();
        points += 1;
    }
    assert_eq!(points, planned.len());
}

#[test]
fn killed_while_a_step_runs_the_step_dies_too_and_a_resumed_run_finishes() {
    let leader = Leader::new();
    // run-setup, replaced by a site command that takes the password, kills carbonio-mesh as
    // `kill -9` would, then carries on with the real setup two seconds later: an orphan without
    // containment, writing main.json behind the journal's back.
    let crash = leader.config(
        "20-crash.toml",
        "[steps.run-setup]\n\
         exec = [\"sh\", \"-c\", \"read -r password; kill -9 $PPID; sleep 2; \
         exec service-discover setup {ip} --first-instance --password=$password\"]\n\
         password_stdin = true\n",
    );
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, -1, "killed inside run-setup: {out}{err}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(
        !leader
            .sandbox
            .path("/etc/zextras/service-discover/main.json")
            .exists(),
        "the step outlived carbonio-mesh and set the node up"
    );
    fs::remove_file(crash).unwrap();
    let (code, out, err) = leader.regenerate(&["--resume"]);
    assert_eq!(code, 0, "resume after a kill inside run-setup: {out}{err}");
    leader.assert_regenerated();
}

#[test]
fn a_failed_step_stops_the_run_and_restore_brings_back_every_file() {
    let leader = Leader::new();
    let before = leader.checksums();
    leader.config("30-fail.toml", "[steps.run-setup]\nexec = [\"sh\", \"-c\", \"echo 'No space left on device' >&2; exit 1\"]\n");
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "run-setup");
    assert!(
        err.contains("No space left on device")
            && err.contains("--resume")
            && err.contains("secret restore"),
        "{err}"
    );
    assert!(!leader
        .sandbox
        .path("/etc/zextras/service-discover/main.json")
        .exists());
    // The reset file was written as Consul's user (here nobody), 0600, with the reset index.
    let reset = leader
        .sandbox
        .path("/var/lib/service-discover/data/acl-bootstrap-reset");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(&reset).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        meta.uid(),
        nix::unistd::User::from_name("nobody")
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    );
    assert_eq!(fs::read_to_string(&reset).unwrap(), "908");
    let name = run_name(&out);
    let (code, out, err) = run(leader.cmd().args(["--yes", "secret", "restore", &name]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        leader.checksums(),
        before,
        "every file is back, byte for byte"
    );
    let state = fs::read_to_string(
        leader
            .sandbox
            .path("/run/systemctl-standin/service-discover"),
    )
    .unwrap();
    assert_eq!(state.trim(), "active");
    assert!(!leader
        .sandbox
        .path("/var/lib/service-discover/data/acl-bootstrap-reset")
        .exists());
}

/// A `service-discover` whose `setup` echoes its arguments (the new password among them) on
/// both outputs and fails, as a real program's usage error might.
fn echoing_setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let program = dir.path().join("service-discover");
    fs::write(
        &program,
        // printf, not echo: dash's echo would turn the password's backslashes into escapes.
        "#!/bin/sh\nprintf 'service-discover: bad arguments: %s\\n' \"$*\"\nprintf 'service-discover: bad arguments: %s\\n' \"$*\" >&2\nprintf '%s\\n' \"$@\" >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn secrets_with_quotes_backslashes_and_non_ascii_never_reach_output_or_journal() {
    let echoing = echoing_setup();
    for password in [
        r#"new-"quoted"-password"#,
        r"new\back\slashed\\password",
        "new password with spaces 100%s %n",
        "nouveau-mot-de-passe-éàü-密码",
    ] {
        let leader = Leader::new();
        let file = leader.password_file(password);
        let (code, out, err) = run(leader
            .cmd()
            .env(
                "PATH",
                format!("{}:{}", echoing.path().display(), leader.bin.search_path()),
            )
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(&file));
        assert_eq!(code, 5, "{out}{err}");
        assert_failed_at(&out, "run-setup");
        assert!(
            err.contains("bad arguments"),
            "the failure is still explained: {err}"
        );
        let run = run_name(&out);
        let journal = fs::read_to_string(
            leader
                .sandbox
                .path(&format!("/var/lib/carbonio-mesh/runs/{run}/journal.jsonl")),
        )
        .unwrap();
        let encoded = serde_json::to_string(password).unwrap();
        for (what, text) in [("stdout", &out), ("stderr", &err), ("journal", &journal)] {
            assert!(!text.contains(password), "{password:?} in {what}: {text}");
            assert!(
                !text.contains(&encoded[1..encoded.len() - 1]),
                "{password:?} JSON-encoded in {what}: {text}"
            );
            assert!(text.contains("<redacted>"), "{what}: {text}");
        }
    }
    // A line break cannot be part of a password: refused before anything runs.
    let leader = Leader::new();
    let file = leader.password_file("first-line\nsecond-line");
    let before = leader.checksums();
    let (code, _, err) = run(leader
        .cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&file));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("more than one line"), "{err}");
    assert!(!err.contains("second-line"), "{err}");
    assert_eq!(leader.checksums(), before);
}

#[test]
fn consul_down_fails_preflight_and_changes_nothing() {
    let leader = Leader::new();
    let before = leader.checksums();
    leader.double.cluster().answers_left = Some(1);
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "preflight");
    assert_eq!(leader.checksums(), before);
}

#[test]
fn a_backup_that_cannot_be_written_removes_nothing_and_resume_finishes() {
    let leader = Leader::new();
    let before = leader.checksums();
    // The backup directory cannot be created (a file is in the way): as if the disk were full.
    leader.sandbox.make_dir("/var/backups");
    fs::write(
        leader.sandbox.path("/var/backups/carbonio-mesh"),
        "in the way",
    )
    .unwrap();
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "backup-and-remove");
    let after: BTreeMap<_, _> = leader.checksums();
    assert_eq!(after.len(), before.len(), "no file was removed");
    fs::remove_file(leader.sandbox.path("/var/backups/carbonio-mesh")).unwrap();
    let (code, out, err) = leader.regenerate(&["--resume"]);
    assert_eq!(code, 0, "{out}{err}");
    leader.assert_regenerated();
}

#[test]
fn elsewhere_than_on_the_leader_it_refuses_naming_the_leader() {
    let leader = Leader::with(|cluster| {
        cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "server-srv1-example-com")
            .unwrap()
            .address = "192.168.56.101".into();
    });
    let before = leader.checksums();
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        out.contains(
            "this host is not the Mesh leader: the leader is server-srv1-example-com (192.168.56.101)"
        ),
        "{out}"
    );
    assert_eq!(leader.checksums(), before);
}

#[test]
fn a_site_step_replaces_one_step_and_the_rest_run_as_before() {
    let leader = Leader::new();
    let marker = leader.sandbox.path("/site-stop.log");
    let override_file = leader.config(
        "40-site.toml",
        &format!("[steps.stop-service]\nexec = [\"sh\", \"-c\", \"echo stopped by the site for {{ip}} >> {}\"]\n", marker.display()),
    );
    let (code, out, _) = run(leader.cmd().args(["secret", "plan"]));
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.contains("stop-service")).unwrap();
    assert!(
        line.contains("command") && line.contains(&override_file.display().to_string()),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("verify")
            && l.contains("plugin secret")
            && l.contains("secret.so")),
        "{out}"
    );
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        fs::read_to_string(&marker).unwrap().trim(),
        format!("stopped by the site for {}", local_ip())
    );
    let calls =
        fs::read_to_string(leader.sandbox.path("/run/systemctl-standin/calls")).unwrap_or_default();
    assert!(!calls.contains("stop"), "{calls}");
    leader.assert_regenerated();
}

#[test]
fn dry_run_changes_nothing_and_keeps_no_journal() {
    let leader = Leader::new();
    let before = leader.checksums();
    let seen = leader.double.requests().len(); // the stand-in's setup bootstrapped ACLs
    let (code, out, err) = leader.regenerate(&["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Dry run: nothing was changed"), "{err}");
    assert!(
        err.contains("run: service-discover setup") && err.contains("<redacted>"),
        "{err}"
    );
    assert!(!err.contains(NEW_PASSWORD));
    assert_eq!(leader.checksums(), before);
    assert!(!leader.sandbox.path("/var/lib/carbonio-mesh/runs").exists());
    let sent = &leader.double.requests()[seen..];
    assert!(sent.iter().all(|r| !r.starts_with("PUT ")), "{sent:?}");
}

#[test]
fn nodes_are_set_up_again_through_the_transport_and_an_unreachable_one_is_retried() {
    let leader = Leader::new();
    // Named on the command line by their hostnames; the transport gets each one's Consul node
    // name as {node} (this sandbox keeps a root per node name).
    let hosts = ["srv2.example.com", "mail.example.com", "proxy.example.com"];
    let nodes = [
        "server-srv2-example-com",
        "agent-mail-example-com",
        "agent-proxy-example-com",
    ];
    let base = leader.sandbox.root().parent().unwrap().join("nodes");
    let old_archive = fs::read(leader.sandbox.path(ARCHIVE)).unwrap();
    for node in nodes {
        let root = base.join(node).join("root");
        let etc = root.join("etc/zextras/service-discover");
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("cluster-credentials.tar.gpg"), &old_archive).unwrap();
        service_discover_setup(
            &leader.bin.path().join("service-discover"),
            &root,
            &leader.double.url(),
            &local_ip(),
            OLD_PASSWORD,
            false,
        );
        fs::create_dir_all(root.join("etc/carbonio-mesh/config.d")).unwrap();
        fs::write(
            root.join("etc/carbonio-mesh/config.d/10-test.toml"),
            "[mesh]\nservice_user = \"nobody\"\n",
        )
        .unwrap();
    }
    // proxy cannot be reached yet, as ssh would say.
    fs::write(base.join("agent-proxy-example-com/unreachable"), "").unwrap();
    // The transport, replaced by configuration: each node's own root instead of ssh.
    let transport = format!(
        "[ -e {base}/{{node}}/unreachable ] && {{ echo 'ssh: connect to host {{node}} port 22: Connection refused' >&2; exit 255; }}; \
         exec env SERVICE_DISCOVER_STANDIN_ROOT={base}/{{node}}/root {bin} --root {base}/{{node}}/root --plugin-dir {plugins} --yes secret rejoin --input-stdin",
        base = base.display(),
        bin = carbonio_mesh_tests::binary().display(),
        plugins = leader.sandbox.plugin_dir().display(),
    );
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [\"sh\", \"-c\", {transport:?}]\npassword_stdin = true\n"
        ),
    );
    let list = hosts.join(",");
    let (code, out, err) = leader.regenerate(&["--nodes", &list]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "rejoin-nodes");
    assert!(
        err.contains("1 of 3 node(s) not set up again: agent-proxy-example-com (192.168.56.111)"),
        "{err}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("agent-proxy-example-com")
            && l.contains("FAILED")
            && l.contains("Connection refused")),
        "the per-node table names the failure:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("agent-mail-example-com") && l.contains("ok")),
        "{out}"
    );
    for node in ["server-srv2-example-com", "agent-mail-example-com"] {
        let archive = base
            .join(node)
            .join("root")
            .join(ARCHIVE.trim_start_matches('/'));
        assert!(
            !gpg_decrypt(&archive, NEW_PASSWORD).is_empty(),
            "{node} has the new archive"
        );
    }
    fs::remove_file(base.join("agent-proxy-example-com/unreachable")).unwrap();
    let (code, out, err) = leader.regenerate(&["--nodes", &list, "--resume"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("server-srv2-example-com") && l.contains("earlier attempt")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("agent-proxy-example-com")
            && l.contains("set up with the new archive")),
        "{out}"
    );
    let archive = base
        .join("agent-proxy-example-com/root")
        .join(ARCHIVE.trim_start_matches('/'));
    assert!(!gpg_decrypt(&archive, NEW_PASSWORD).is_empty());
    leader.assert_regenerated();
}

#[test]
fn nodes_all_is_the_alive_members_but_this_host_failed_ones_skipped_left_ones_never() {
    // Weeks later: the proxy failed, the MTA left, a file server joined over IPv6.
    let leader = Leader::with(|cluster| {
        let leader_address = cluster
            .nodes
            .iter()
            .find(|n| n.name == "server-srv1-example-com")
            .unwrap()
            .address
            .clone();
        *cluster = Cluster {
            data_dir: cluster.data_dir.take(),
            tokens: Vec::new(),
            bootstrap_index: 0,
            bootstraps: 0,
            ..Cluster::fixture_degraded()
        };
        cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "server-srv1-example-com")
            .unwrap()
            .address = leader_address;
    });
    // Every node's transport only records that it was called (dry-run plans are tested
    // elsewhere): this run is real.
    let calls = leader.sandbox.path("/transport.calls");
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [\"sh\", \"-c\", \"echo {{node}} {{host}} >> {}\"]\n",
            calls.display()
        ),
    );
    let (code, out, err) = leader.regenerate(&["--nodes", "all"]);
    assert_eq!(code, 0, "{out}{err}");
    let called = fs::read_to_string(&calls).unwrap();
    let mut called: Vec<&str> = called.lines().collect();
    called.sort();
    assert_eq!(
        called,
        [
            "agent-files-example-com 2001:db8:56::113",
            "agent-mail-example-com 192.168.56.110",
            "server-srv2-example-com 192.168.56.102",
            "server-srv3-example-com 192.168.56.103",
        ],
        "alive members but this host, reached by address (no Carbonio server list here)"
    );
    let proxy = out
        .lines()
        .find(|l| l.starts_with("agent-proxy-example-com"))
        .expect("the failed member is listed");
    assert!(
        proxy.contains("skipped") && proxy.contains("--include-failed"),
        "{proxy}"
    );
    assert!(
        !out.contains("agent-mta-example-com"),
        "a member that left never shows: {out}"
    );
    assert!(out.contains("4 node(s) set up again, 1 skipped"), "{out}");

    // --include-failed tries the failed one too.
    fs::remove_file(&calls).unwrap();
    let (code, out, err) = leader.regenerate(&["--nodes", "all", "--include-failed"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(fs::read_to_string(&calls)
        .unwrap()
        .contains("agent-proxy-example-com 192.168.56.111"));

    // A name that is no member stops the run in preflight, before anything changes.
    let before = leader.checksums();
    let (code, out, err) = leader.regenerate(&["--nodes", "mail.example.com,srv9.example.com"]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "preflight");
    assert!(
        err.contains("no member is named 'srv9.example.com'"),
        "{err}"
    );
    assert_eq!(leader.checksums(), before);
}

#[test]
fn a_transport_that_connects_to_the_node_name_is_refused_before_anything_changes() {
    // The transport of carbonio-mesh before node names were understood: `root@{node}` would now
    // ssh to server-srv2-example-com, which resolves nowhere.
    let leader = Leader::new();
    let file = leader.config(
        "50-transport.toml",
        "[steps.transport]\nexec = [\"ssh\", \"root@{node}\", \"carbonio-mesh\", \"secret\", \"rejoin\", \"--input-stdin\"]\npassword_stdin = true\n",
    );
    let before = leader.checksums();
    let (code, out, err) = leader.regenerate(&["--nodes", "all"]);
    assert_ne!(code, 0, "{out}{err}");
    assert_failed_at(&out, "preflight");
    assert!(
        err.contains(&format!(
            "the transport ({}) connects to 'root@{{node}}'",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("write {host} instead"), "{err}");
    assert_eq!(leader.checksums(), before);
}

#[test]
fn a_generated_password_is_printed_once_and_opens_the_new_archive() {
    let leader = Leader::new();
    let (code, out, err) = run(leader
        .cmd()
        .args(["--yes", "secret", "regenerate", "--generate"]));
    assert_eq!(code, 0, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("New password (shown once"))
        .expect("the generated password is printed");
    let password = line.rsplit(' ').next().unwrap();
    assert_eq!(password.len(), 32);
    assert_eq!(out.matches(password).count(), 1, "printed once");
    assert_ne!(leader.token_in_archive(password), leader.old_token);
}

#[test]
fn acls_never_bootstrapped_are_bootstrapped_then_reset_and_the_interim_token_revoked() {
    let leader = Leader::new();
    // As if Consul's ACL state had been wiped: the next PUT /v1/acl/bootstrap answers 200.
    leader.double.cluster().bootstraps = 0;
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ACLs were not bootstrapped yet; bootstrapped at index"),
        "{out}"
    );
    let new_token = leader.token_in_archive(NEW_PASSWORD);
    let cluster = leader.double.cluster();
    assert_eq!(
        cluster.tokens.len(),
        1,
        "only the new token is left: {:?}",
        cluster
            .tokens
            .iter()
            .map(|t| &t.accessor)
            .collect::<Vec<_>>()
    );
    assert_eq!(cluster.tokens[0].secret, new_token);
}

/// Every step against Consul 1.21.4 (what a new Carbonio install runs): no ACL legacy mode, the
/// long denials, and a token that is already gone answered 404 (1.15+), which is not a failure.
#[test]
fn on_consul_1_21_4_the_whole_flow_passes_and_a_token_already_gone_is_no_failure() {
    let on_1_21_4 =
        |cluster: &mut Cluster| *cluster = cluster.clone().with_version(Version::V1_21_4);
    let leader = Leader::with(on_1_21_4);
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    leader.assert_regenerated();

    let leader = Leader::with(on_1_21_4);
    // The archive's AccessorID no longer names a token Consul has (its secret still works, as
    // for a token recreated with the same secret): deleting it is Consul 1.21.4's 404.
    let old_accessor = leader.double.cluster().tokens[0].accessor.clone();
    leader.double.cluster().tokens[0].accessor = "0badc0de-0000-4000-8000-000000000001".into();
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "the old token(s) {old_accessor} were already gone"
        )),
        "{out}"
    );
    assert!(leader
        .double
        .requests()
        .contains(&format!("DELETE /v1/acl/token/{old_accessor}")));
}
