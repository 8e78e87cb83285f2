//! `carbonio-mesh secret` end to end on a simulated Mesh leader: the Consul double (with the
//! reset-file semantics), the `service-discover`, `systemctl` and `consul` stand-ins, real files
//! under a sandbox root, real kill -9 at step boundaries.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use carbonio_mesh_tests::{
    gpg_decrypt, local_ip, mesh_checksums, one_mesh_server, planned_steps, run,
    service_discover_setup, Sandbox, StandInBin,
};

/// `run`, for a test whose own variable is named so.
fn run_cmd(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    run(cmd)
}
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
        let mut cluster = one_mesh_server(Cluster::fixture_unbootstrapped());
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
        let text = self.member_of_archive(password, "consul-acl-secret.json");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["SecretID"].as_str().unwrap().to_owned()
    }

    /// The archive's member whose path ends with `name`, opened with `password`.
    fn member_of_archive(&self, password: &str, name: &str) -> String {
        let tar = gpg_decrypt(&self.sandbox.path(ARCHIVE), password);
        let mut archive = tar::Archive::new(&tar[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_string_lossy().ends_with(name) {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                return text;
            }
        }
        panic!("no {name} in the archive");
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
        let new_key = self
            .member_of_archive(NEW_PASSWORD, "gossip-key")
            .trim()
            .to_owned();
        let cluster = self.double.cluster();
        assert!(cluster.token(&new_token).is_some(), "the new token works");
        assert!(
            cluster.token(&self.old_token).is_none(),
            "the old token was revoked"
        );
        // The gossip key really changed: the new archive's key is the only one, on every member
        // (Consul keeps data/serf/local.keyring over main.json's key: rotate-gossip-key).
        let ring: Vec<&str> = cluster.keyring.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            ring,
            [new_key.as_str()],
            "the keyring holds the new key alone"
        );
        assert!(cluster.keyring[0].1.is_empty(), "every member holds it");
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
    // run-setup fails after showing the reset file it found in place.
    leader.config(
        "30-fail.toml",
        "[steps.run-setup]\nexec = [\"sh\", \"-c\", \"f=$SERVICE_DISCOVER_STANDIN_ROOT{reset_file}; \
         stat -c 'reset file: %U %a' $f >&2; echo index: $(cat $f) >&2; echo 'No space left on device' >&2; exit 1\"]\n",
    );
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "run-setup");
    assert!(
        err.contains("No space left on device")
            && err.contains("--resume")
            && err.contains("secret restore"),
        "{err}"
    );
    // The reset file was there for setup, written as Consul's user (here nobody), 0600, with
    // the reset index; and is gone now that the run stopped.
    assert!(
        err.contains("reset file: nobody 600") && err.contains("index: 908"),
        "{err}"
    );
    assert!(
        !leader
            .sandbox
            .path("/var/lib/service-discover/data/acl-bootstrap-reset")
            .exists(),
        "a reset file outlived the run"
    );
    assert!(!leader
        .sandbox
        .path("/etc/zextras/service-discover/main.json")
        .exists());
    // The archive and the password file stayed in place: this node still opens its archive.
    assert_eq!(leader.token_in_archive(OLD_PASSWORD), leader.old_token);
    assert_eq!(
        fs::read_to_string(leader.sandbox.path("/var/lib/service-discover/password")).unwrap(),
        OLD_PASSWORD
    );
    let name = run_name(&out);
    let (code, out, err) = run(leader.cmd().args(["--dry-run", "secret", "restore", &name]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "Would restore 8 file(s) of run {name} and restart service-discover."
        )),
        "{out}"
    );
    assert!(
        err.contains("run: systemctl restart service-discover"),
        "{err}"
    );
    let (code, out, err) = run(leader.cmd().args(["--yes", "secret", "restore", &name]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("and restarted service-discover"), "{out}");
    assert_eq!(
        leader.checksums(),
        before,
        "every file is back, byte for byte"
    );
    let calls = fs::read_to_string(leader.sandbox.path("/run/systemctl-standin/calls")).unwrap();
    assert_eq!(
        calls.lines().last(),
        Some("restart service-discover"),
        "restarted, not started: setup may have left it running with what it wrote\n{calls}"
    );
    let state = fs::read_to_string(
        leader
            .sandbox
            .path("/run/systemctl-standin/service-discover"),
    )
    .unwrap();
    assert_eq!(state.trim(), "active");
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
    // Refused while deciding what the run will do: before its first step, no run kept.
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("Consul"), "{err}");
    assert_eq!(leader.checksums(), before);
    assert!(runs_kept(&leader).is_empty());
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
    let hosts = ["mail.example.com", "proxy.example.com"];
    let nodes = ["agent-mail-example-com", "agent-proxy-example-com"];
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
        // The node goes down after setup's checks: its setup (not a request, which starts
        // with a control character) finds it unreachable.
        "IFS= read -r first; case \"$first\" in \"$(printf '\\001')\"*) ;; *) \
         [ -e {base}/{{node}}/unreachable ] && {{ echo 'ssh: connect to host {{node}} port 22: Connection refused' >&2; exit 255; }};; esac; \
         {{ printf '%s\\n' \"$first\"; cat; }} | env SERVICE_DISCOVER_STANDIN_ROOT={base}/{{node}}/root {bin} --root {base}/{{node}}/root --plugin-dir {plugins} --yes secret rejoin --input-stdin",
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
        err.contains("1 of 2 node(s) not set up again: agent-proxy-example-com (192.168.56.111)"),
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
    let archive = base
        .join("agent-mail-example-com/root")
        .join(ARCHIVE.trim_start_matches('/'));
    assert!(
        !gpg_decrypt(&archive, NEW_PASSWORD).is_empty(),
        "mail has the new archive"
    );
    fs::remove_file(base.join("agent-proxy-example-com/unreachable")).unwrap();
    let (code, out, err) = leader.regenerate(&["--nodes", &list, "--resume"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("agent-mail-example-com") && l.contains("earlier attempt")),
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
        // One Mesh server: the node choice is the point here.
        *cluster = one_mesh_server(Cluster {
            data_dir: cluster.data_dir.take(),
            tokens: Vec::new(),
            bootstrap_index: 0,
            bootstraps: 0,
            ..Cluster::fixture_degraded()
        });
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
    assert!(
        out.contains("2 node(s) set up again: 2 agents at most 32 at a time, 1 skipped"),
        "{out}"
    );

    // --include-failed tries the failed one too.
    fs::remove_file(&calls).unwrap();
    let (code, out, err) = leader.regenerate(&["--nodes", "all", "--include-failed"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(fs::read_to_string(&calls)
        .unwrap()
        .contains("agent-proxy-example-com 192.168.56.111"));

    // A name that is no member is refused before the run starts: no step, no run kept.
    let before = leader.checksums();
    let runs = runs_kept(&leader);
    let (code, out, err) = leader.regenerate(&["--nodes", "mail.example.com,srv9.example.com"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("no member is named 'srv9.example.com'"),
        "{err}"
    );
    assert_eq!(leader.checksums(), before);
    assert_eq!(runs_kept(&leader), runs);
}

/// The runs journaled on the leader.
fn runs_kept(leader: &Leader) -> Vec<String> {
    match fs::read_dir(leader.sandbox.path("/var/lib/carbonio-mesh/runs")) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
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
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.is_empty(), "refused before the first step: {out}");
    assert!(runs_kept(&leader).is_empty());
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

#[test]
fn one_run_at_a_time_a_second_run_or_a_restore_is_refused_naming_the_running_one() {
    let leader = Leader::new();
    let password = leader.password_file(NEW_PASSWORD);
    // The first run's service-discover setup takes a few seconds.
    let mut first = leader.sandbox.process();
    first
        .env("PATH", leader.bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", leader.sandbox.root())
        .env("SERVICE_DISCOVER_STANDIN_DELAY", "4")
        .env("CONSUL_HTTP_ADDR", leader.double.url())
        .args([
            "--yes",
            "secret",
            "regenerate",
            "--revoke-old-token",
            "--password-file",
        ])
        .arg(&password)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    let runs = leader.sandbox.path("/var/lib/carbonio-mesh/runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run = loop {
        let started = runs_kept(&leader).into_iter().find(|run| {
            fs::read_to_string(runs.join(run).join("journal.jsonl")).is_ok_and(|j| {
                j.lines().any(|l| {
                    l.contains(r#""event":"start""#) && l.contains(r#""step":"run-setup""#)
                })
            })
        });
        if let Some(run) = started {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never reached run-setup"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let running = format!(
        "run {run} (secret-regenerate, pid {}) is running on this node",
        first.id()
    );
    let before = leader.checksums();
    for (what, args) in [
        (
            "a second run",
            vec!["--yes", "secret", "regenerate", "--generate"],
        ),
        (
            "its resume",
            vec!["--yes", "secret", "regenerate", "--resume", "--generate"],
        ),
        (
            "a dry run",
            vec!["--dry-run", "secret", "regenerate", "--generate"],
        ),
        (
            "a restore",
            vec!["--yes", "secret", "restore", run.as_str()],
        ),
    ] {
        let (code, out, err) = run_cmd(leader.cmd().args(&args));
        assert_eq!(code, 12, "{what}: {out}{err}");
        assert!(err.contains(&running), "{what}: {err}");
        assert!(
            err.contains(&format!("carbonio-mesh secret show {run}")),
            "{err}"
        );
    }
    assert_eq!(
        leader.checksums(),
        before,
        "the refused commands changed nothing"
    );
    assert_eq!(runs_kept(&leader), vec![run.clone()], "and kept no run");
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    leader.assert_regenerated();

    // A run killed with the lock: the next one takes it over, and says whose it was.
    let leader = Leader::new();
    let crash = leader.config(
        "20-crash.toml",
        "[steps.crash]\nexec = [\"sh\", \"-c\", \"kill -9 $PPID\"]\nafter = \"stop-service\"\n",
    );
    let (code, _, _) = leader.regenerate(&[]);
    assert_eq!(code, -1, "killed");
    fs::remove_file(crash).unwrap();
    let killed = runs_kept(&leader).pop().unwrap();
    let (code, out, err) = leader.regenerate(&["--resume"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "the run lock named {killed} (secret-regenerate, pid "
        )) && err.contains("whose process is gone (killed?): taken over"),
        "{err}"
    );
    leader.assert_regenerated();
}

#[test]
fn format_json_is_one_document_with_every_step_every_node_and_the_generated_password() {
    let leader = Leader::new();
    let calls = leader.sandbox.path("/transport.calls");
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [\"sh\", \"-c\", \"echo {{node}} >> {}\"]\n",
            calls.display()
        ),
    );
    let (code, out, err) = run(leader.cmd().args([
        "--yes",
        "--format",
        "json",
        "secret",
        "regenerate",
        "--nodes",
        "all",
        "--generate",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let document: serde_json::Value =
        serde_json::from_str(&out).expect("standard output is one JSON document");
    assert_eq!(document["finished"], true);
    assert_eq!(document["dry_run"], false);
    carbonio_mesh_tests::assert_check_shape(
        &document["steps"],
        &["nodes", "report", "done_earlier"],
    );
    let steps = document["steps"].as_array().unwrap();
    let names: Vec<String> = steps
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, planned_steps(leader.cmd(), false));
    assert!(steps.iter().all(|s| s["status"] == "ok"), "{out}");
    let rejoin = steps.iter().find(|s| s["name"] == "rejoin-nodes").unwrap();
    let nodes = rejoin["nodes"].as_array().unwrap();
    let results: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("agent-mail-example-com", "ok"),
            ("agent-proxy-example-com", "ok"),
        ]
    );
    // The generated password: in the document, once, and nowhere else.
    let password = document["new_password"].as_str().unwrap();
    assert_eq!(password.len(), 32);
    assert_eq!(out.matches(password).count(), 1);
    assert!(!err.contains(password), "{err}");
    assert_ne!(leader.token_in_archive(password), leader.old_token);
}

#[test]
fn resume_keeps_the_nodes_and_options_the_run_started_with_and_never_finishes_with_a_node_left() {
    let leader = Leader::new();
    let calls = leader.sandbox.path("/transport.calls");
    let down = leader.sandbox.path("/mail.down");
    fs::write(&down, "").unwrap();
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [\"sh\", \"-c\", \"[ {{node}} = agent-mail-example-com ] && [ -e {down} ] && {{ echo 'ssh: connect to host mail port 22: No route to host' >&2; exit 255; }}; echo {{node}} >> {calls}\"]\n",
            down = down.display(),
            calls = calls.display()
        ),
    );
    let (code, out, err) = leader.regenerate(&["--nodes", "all"]);
    assert_eq!(code, 5, "{out}{err}");
    assert_failed_at(&out, "rejoin-nodes");
    let name = run_name(&out);
    // The run is not finished: a node is not set up.
    let (_, runs, _) = run(leader.cmd().args(["secret", "runs"]));
    assert!(
        runs.lines()
            .any(|l| l.starts_with(&name) && l.contains("failed at rejoin-nodes")),
        "{runs}"
    );
    fs::remove_file(&down).unwrap();
    fs::remove_file(&calls).unwrap();
    // `--resume` alone: the nodes (and --revoke-old-token) come from the run's journal; a node
    // list given now is named and ignored.
    let password = leader.password_file(NEW_PASSWORD);
    let (code, out, err) = run(leader
        .cmd()
        .args([
            "--yes",
            "secret",
            "regenerate",
            "--resume",
            "--nodes",
            "proxy.example.com",
            "--password-file",
        ])
        .arg(&password));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "--nodes proxy.example.com ignored: run {name} started with --nodes all"
        )),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(&calls).unwrap().trim(),
        "agent-mail-example-com",
        "only the node left was tried"
    );
    leader.assert_regenerated();
    let (_, runs, _) = run(leader.cmd().args(["secret", "runs"]));
    assert!(
        runs.lines()
            .any(|l| l.starts_with(&name) && l.contains("finished, resumed 1 time")),
        "{runs}"
    );
}

#[test]
fn a_setup_that_failed_half_way_is_cleared_and_run_again_by_resume() {
    for (fail_at, bootstrapped) in [("bootstrap", false), ("upload", true)] {
        let leader = Leader::new();
        let password = leader.password_file(NEW_PASSWORD);
        let (code, out, err) = run(leader
            .cmd()
            .env("SERVICE_DISCOVER_STANDIN_FAIL", fail_at)
            .args([
                "--yes",
                "secret",
                "regenerate",
                "--revoke-old-token",
                "--password-file",
            ])
            .arg(&password));
        assert_eq!(code, 5, "{fail_at}: {out}{err}");
        assert_failed_at(&out, "run-setup");
        // What the failed setup wrote is still there (service-discover never cleans up) ...
        assert!(
            leader
                .sandbox
                .path("/etc/zextras/service-discover/main.json")
                .is_file(),
            "{fail_at}"
        );
        // ... but this node's secrets are the old ones again, and no reset file is left.
        assert_eq!(
            leader.token_in_archive(OLD_PASSWORD),
            leader.old_token,
            "{fail_at}"
        );
        assert!(!leader
            .sandbox
            .path("/var/lib/service-discover/data/acl-bootstrap-reset")
            .exists());
        assert_eq!(
            leader.double.cluster().tokens.len(),
            1 + usize::from(bootstrapped)
        );
        if bootstrapped {
            assert!(
                out.contains("Put back as they were before the run"),
                "{out}"
            );
        }
        let (code, out, err) = leader.regenerate(&["--resume"]);
        assert_eq!(code, 0, "{fail_at}: resume: {out}{err}");
        assert!(
            out.contains("an earlier setup of this run wrote moved to the backup")
                && out.contains("acl-bootstrap-reset written again with reset index"),
            "{fail_at}: {out}"
        );
        leader.assert_regenerated();
        // The token the failed setup bootstrapped went with the old one.
        assert_eq!(leader.double.cluster().tokens.len(), 1, "{fail_at}");
    }
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
