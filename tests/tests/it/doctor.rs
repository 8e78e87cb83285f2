//! `carbonio-mesh doctor` end to end: a healthy Mesh leader (the Consul double, the
//! service-discover and systemctl stand-ins, real files under a sandbox root) passes every check;
//! then each check's problem is planted — in the double, in the files, in the real slapd, behind
//! the real sshd — and seen flagged with its fix.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use carbonio_mesh_tests::slapd::{install_localconfig, Slapd};
use carbonio_mesh_tests::snapshot::{filtered, session};
use carbonio_mesh_tests::ssh_mesh::{built_in_step_with, SshMesh};
use carbonio_mesh_tests::{local_ip, run, MeshLeader, StandInBin};
use serde_json::Value;

const PASSWORD: &str = "doctor-Mesh-password-1";
const ETC: &str = "/etc/zextras/service-discover";
const LIB: &str = "/var/lib/service-discover";

/// The uid Consul's files belong to in these tests (`[mesh] service_user = "nobody"`).
const NOBODY: u32 = 65534;

/// A Mesh leader on this host where every check passes: Consul's files belong to the service
/// user, the unit runs, `bind_addr` is this host's address, and the double's keyring holds the
/// archive's gossip key.
fn healthy() -> MeshLeader {
    healthy_with(|_| {})
}

/// [`healthy`], with `prepare` run on the sandbox before service-discover's setup.
fn healthy_with(prepare: impl FnOnce(&carbonio_mesh_tests::Sandbox)) -> MeshLeader {
    // The recorded cluster's three Mesh servers: raft peers against LDAP's servers.
    let leader = MeshLeader::with_cluster(
        PASSWORD,
        consul_double::Cluster::fixture_unbootstrapped(),
        prepare,
    );
    leader.sandbox.install_product("doctor");
    let key = make_healthy(&leader.sandbox.root(), &leader.bin);
    leader.double.cluster().keyring = vec![(key, Vec::new())];
    leader
}

/// Makes the node set up under `root` healthy: the archive 0600, Consul's files the service
/// user's, `bind_addr` this host's address, the unit started. Returns the gossip key main.json
/// holds.
fn make_healthy(root: &Path, bin: &StandInBin) -> String {
    let etc = root.join(ETC.trim_start_matches('/'));
    fs::set_permissions(
        etc.join("cluster-credentials.tar.gpg"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(
        etc.join("config.json"),
        format!("{{\"bind_addr\": \"{}\"}}\n", local_ip()),
    )
    .unwrap();
    for file in ["main.json", "config.json"] {
        nix::unistd::chown(
            &etc.join(file),
            Some(nix::unistd::Uid::from_raw(NOBODY)),
            None,
        )
        .unwrap();
    }
    systemctl_on(root, bin, "start");
    let main: Value =
        serde_json::from_str(&fs::read_to_string(etc.join("main.json")).unwrap()).unwrap();
    main["encrypt"].as_str().unwrap().to_owned()
}

/// The systemctl stand-in on the system under `root`: `start` or `stop` service-discover.
fn systemctl_on(root: &Path, bin: &StandInBin, verb: &str) {
    let status = std::process::Command::new(bin.path().join("systemctl"))
        .env("SERVICE_DISCOVER_STANDIN_ROOT", root)
        .args([verb, "service-discover"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// [`systemctl_on`] the leader.
fn systemctl(leader: &MeshLeader, verb: &str) {
    systemctl_on(&leader.sandbox.root(), &leader.bin, verb);
}

/// `doctor ARGS --format json`: exit status and the document.
fn doctor_json(leader: &MeshLeader, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = run(leader
        .cmd()
        .arg("doctor")
        .args(args)
        .args(["--format", "json"]));
    let doc = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    (code, doc)
}

/// The check `name` of the document (panics naming the checks when absent).
fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {doc:#}"))
}

/// The checks that are not ok, as `name=status`.
fn problems(doc: &Value) -> Vec<String> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect()
}

/// Asserts the document flags exactly `name` as `status`, with `fix` in its fix; returns the
/// check's detail.
fn flagged(leader: &MeshLeader, args: &[&str], name: &str, status: &str, fix: &str) -> String {
    let (code, doc) = doctor_json(leader, args);
    assert_eq!(problems(&doc), [format!("{name}={status}")], "{doc:#}");
    assert_eq!(code, if status == "fail" { 11 } else { 10 }, "{doc:#}");
    let found = check(&doc, name);
    let text = found["fix"].as_str().unwrap_or_default();
    assert!(text.contains(fix), "fix of {name}: {text}");
    found["detail"].as_str().unwrap().to_owned()
}

#[test]
fn a_healthy_leader_passes_every_check() {
    let leader = healthy();
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(problems(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(code, 0);
    assert_eq!(doc["status"], "ok");
    carbonio_mesh_tests::assert_check_shape(&doc["checks"], &["scope"]);
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "leader",
        "raft-peers",
        "raft-size",
        "members-failed",
        "members-left",
        "consul-versions",
        "gossip-protocol",
        "health",
        "keyring",
        "token",
        "archive-file",
        "password-file",
        "main-json",
        "config-json",
        "stale-certificates",
        "ca-certificate",
        "node-certificate",
        "archive",
        "ldap-copy",
        "service",
        "bind-address",
        "unfinished-run",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(doc["nodes"][0]["node"], "server-srv1-example-com");
    assert_eq!(doc["nodes"][0]["role"], "server");
    let scopes: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["scope"].as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"cluster") && scopes.contains(&"server-srv1-example-com"));
    // --local: only this node's checks.
    let (code, local) = doctor_json(&leader, &["--local"]);
    assert_eq!(code, 0, "{local:#}");
    assert!(local["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["scope"] == "server-srv1-example-com"));
}

/// `kill -9` in the middle of `secret regenerate` (a site step that kills its caller, after
/// stop-service): doctor names the run and `--resume`, and every other fix waits for it
/// (before, it told the leader to run `secret rejoin --archive` or `service-discover setup`).
#[test]
fn after_a_kill_9_mid_regeneration_doctor_names_the_run_and_resume() {
    // The Mesh's only server: what `secret regenerate` without --nodes runs on.
    let leader = MeshLeader::new(PASSWORD);
    leader.sandbox.install_product("doctor");
    let key = make_healthy(&leader.sandbox.root(), &leader.bin);
    leader.double.cluster().keyring = vec![(key, Vec::new())];
    let planned = carbonio_mesh_tests::planned_steps(leader.cmd(), false);
    let at = planned.iter().position(|s| s == "stop-service").unwrap() + 1;
    let mut steps: Vec<String> = planned.iter().map(|s| format!("\"{s}\"")).collect();
    steps.insert(at, "\"crash\"".into());
    let crash = leader.config(
        "20-crash.toml",
        &format!(
            "[workflows]\nsecret-regenerate = [{}]\n[steps.crash]\nexec = [\"sh\", \"-c\", \"kill -9 $PPID\"]\n",
            steps.join(", ")
        ),
    );
    let password = leader.sandbox.root().join("new-password");
    fs::write(&password, "doctor-New-password-2").unwrap();
    let (code, out, err) = run(leader
        .cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&password));
    assert_eq!(code, -1, "killed: {out}{err}");
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 11, "{doc:#}");
    let found = check(&doc, "unfinished-run");
    assert_eq!(found["status"], "fail", "{doc:#}");
    let detail = found["detail"].as_str().unwrap();
    assert!(
        detail.contains("of secret regenerate stopped at step crash (killed, or running now)"),
        "{detail}"
    );
    let id = detail
        .strip_prefix("run ")
        .and_then(|d| d.split_whitespace().next())
        .unwrap();
    let resume = format!("carbonio-mesh secret regenerate --resume --run {id}");
    // Both commands as the run record names them (the engine writes them from the workflow).
    let fix = format!("finish it: {resume} (or go back: carbonio-mesh secret restore {id})");
    assert_eq!(found["fix"].as_str(), Some(fix.as_str()), "{found}");
    // The stopped unit's fix (and every other) says to finish the run first.
    let service = check(&doc, "service");
    assert_eq!(service["status"], "fail", "{doc:#}");
    assert!(
        service["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("first finish run {id}: {resume}")),
        "{service}"
    );
    for c in doc["checks"].as_array().unwrap() {
        if c["status"] != "ok" && c["status"] != "unknown" {
            let fix = c["fix"].as_str().unwrap_or_default();
            assert!(fix.contains(&resume), "{c}");
        }
    }
    // Resumed to the end, the run is no longer named.
    fs::remove_file(crash).unwrap();
    let (code, out, err) = run(leader
        .cmd()
        .args([
            "--yes",
            "secret",
            "regenerate",
            "--resume",
            "--password-file",
        ])
        .arg(&password));
    assert_eq!(code, 0, "{out}{err}");
    let (_, doc) = doctor_json(&leader, &["--local"]);
    assert_eq!(check(&doc, "unfinished-run")["status"], "ok", "{doc:#}");
}

#[test]
fn no_leader_fails() {
    let leader = healthy();
    leader.double.cluster().leader = None;
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 11);
    assert_eq!(check(&doc, "leader")["status"], "fail");
    assert!(check(&doc, "leader")["fix"]
        .as_str()
        .unwrap()
        .contains("systemctl start service-discover"));
}

#[test]
fn an_even_number_of_servers_warns() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .nodes
        .retain(|n| n.name != "server-srv3-example-com");
    let detail = flagged(
        &leader,
        &[],
        "raft-size",
        "warn",
        "add a Mesh server or retire one",
    );
    assert!(detail.contains("2 Mesh servers"), "{detail}");
}

#[test]
fn a_failed_member_is_named_with_force_leave() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = consul_double::Status::Failed;
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 11);
    // Consul's serfHealth of the failed member is critical too, and its key is on one node less.
    assert_eq!(
        problems(&doc),
        ["members-failed=fail", "health=fail"],
        "{doc:#}"
    );
    let failed = check(&doc, "members-failed");
    assert_eq!(failed["detail"], "failed: agent-proxy-example-com");
    assert!(failed["fix"]
        .as_str()
        .unwrap()
        .contains("carbonio-mesh force-leave agent-proxy-example-com"));
    assert_eq!(doc["members"]["failed"], 1);
}

#[test]
fn a_member_that_left_still_listed_warns_with_prune() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-mail-example-com")
        .unwrap()
        .status = consul_double::Status::Left;
    flagged(
        &leader,
        &[],
        "members-left",
        "warn",
        "carbonio-mesh force-leave --prune agent-mail-example-com",
    );
}

#[test]
fn version_skew_and_protocol_mismatch_warn() {
    let leader = healthy();
    leader.double.cluster().member_tags.insert(
        "agent-mail-example-com".into(),
        [("build".to_owned(), "1.10.0:abcdef12".to_owned())].into(),
    );
    let detail = flagged(
        &leader,
        &[],
        "consul-versions",
        "warn",
        "upgrade service-discover-base",
    );
    assert!(
        detail.contains("1.10.0 on agent-mail-example-com"),
        "{detail}"
    );
    leader.double.cluster().member_tags.insert(
        "agent-mail-example-com".into(),
        [("vsn".to_owned(), "3".to_owned())].into(),
    );
    let detail = flagged(
        &leader,
        &[],
        "gossip-protocol",
        "warn",
        "one Consul version",
    );
    assert!(detail.contains("3 on agent-mail-example-com"), "{detail}");
}

#[test]
fn maintenance_mode_is_a_warning_naming_it_not_a_failure() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .critical_checks
        .push(consul_double::HealthCheck {
            node: "agent-mail-example-com".into(),
            check_id: "_node_maintenance".into(),
            name: "Node Maintenance Mode".into(),
            service_id: String::new(),
            service_name: String::new(),
            // Consul keeps the reason in Notes (which the double does not model) and leaves
            // Output empty (recorded from 1.10.12).
            output: String::new(),
            check_type: String::new(),
            create_index: 451,
        });
    let detail = flagged(&leader, &[], "health", "warn", "consul maint -disable");
    assert_eq!(detail, "in maintenance mode: agent-mail-example-com");
}

#[test]
fn a_critical_health_check_is_named_by_node_and_service() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .critical_checks
        .push(consul_double::HealthCheck {
            node: "agent-mail-example-com".into(),
            check_id: "service:carbonio-mailbox".into(),
            name: "Service 'carbonio-mailbox' check".into(),
            service_id: "carbonio-mailbox".into(),
            service_name: "carbonio-mailbox".into(),
            output: "Get \"http://127.0.0.1:8080/health\": dial tcp 127.0.0.1:8080: connect: connection refused".into(),
            check_type: "http".into(),
            create_index: 450,
        });
    let detail = flagged(
        &leader,
        &[],
        "health",
        "fail",
        "on agent-mail-example-com: systemctl status carbonio-mailbox",
    );
    assert!(
        detail.contains(
            "agent-mail-example-com service carbonio-mailbox: Service 'carbonio-mailbox' check"
        ),
        "{detail}"
    );
}

#[test]
fn keyring_drift_and_a_second_key_warn_without_showing_a_key() {
    let leader = healthy();
    let key = leader.double.cluster().keyring[0].0.clone();
    // One key, on 4 of the 5 nodes: the fifth did not answer the keyring query (Consul counts
    // the alive members in NumNodes, the answers in Keys): a slow node, not drift.
    leader.double.cluster().keyring[0].1 = vec!["agent-mail-example-com".into()];
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(problems(&doc), ["keyring=unknown"], "{doc:#}");
    assert_eq!((code, &doc["status"]), (0, &Value::from("ok")), "{doc:#}");
    let detail = check(&doc, "keyring")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("1 of the 5 nodes of the LAN pool did not answer the keyring query"),
        "{detail}"
    );
    assert!(!detail.contains(&key));
    leader.double.cluster().keyring = vec![
        (key.clone(), Vec::new()),
        (
            "T2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleQ==".into(),
            vec!["agent-mail-example-com".into()],
        ),
    ];
    let detail = flagged(&leader, &[], "keyring", "warn", "consul keyring -remove");
    assert!(
        detail.contains("2 keys in the LAN pool of 5 nodes"),
        "{detail}"
    );
    assert!(
        !detail.contains(&key) && !detail.contains("T2xk"),
        "{detail}"
    );
}

/// Autopilot sees what gossip does not: a server alive but trailing the leader. With three
/// servers the failure tolerance must be 1; a lagging one brings it to 0, the Mesh one failure
/// away from losing its leader.
#[test]
fn a_server_trailing_the_leader_fails_autopilot_and_is_named_in_raft_lag() {
    let leader = healthy();
    let (_, doc) = doctor_json(&leader, &[]);
    assert_eq!(
        check(&doc, "autopilot")["detail"],
        "3 voter(s), failure tolerance 1: every server healthy"
    );
    leader
        .double
        .cluster()
        .raft_lag
        .insert("server-srv2-example-com".into(), ("1.5s".into(), 300));
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 11, "{doc:#}");
    assert_eq!(
        problems(&doc),
        ["autopilot=fail", "raft-lag=warn"],
        "{doc:#}"
    );
    assert_eq!(
        check(&doc, "autopilot")["detail"],
        "3 voter(s), failure tolerance 0: server-srv2-example-com is not healthy (serf alive); failure tolerance 0 where 3 voters allow 1"
    );
    assert_eq!(
        check(&doc, "raft-lag")["detail"],
        "server-srv2-example-com: last contact 1.5s, 300 entries behind the leader"
    );
}

/// Errors in service-discover's journal since Consul last started: a node that cannot decrypt
/// gossip, or talk TLS, while every API answer looks fine.
#[test]
fn tls_and_gossip_errors_in_the_journal_since_the_start_warn() {
    let leader = healthy();
    let journal = leader.sandbox.path("/run/journal-standin");
    fs::create_dir_all(&journal).unwrap();
    fs::write(
        journal.join("service-discover"),
        "2026-12-07T10:00:00.000Z [ERROR] agent.server.memberlist.lan: memberlist: failed to receive: No installed keys could decrypt the message from=192.168.56.120:8301\n\
         ==> Consul agent running!\n\
         2026-12-07T10:05:00.000Z [WARN]  agent: [core]grpc: addrConn.createTransport failed to connect: remote error: tls: bad certificate\n",
    )
    .unwrap();
    let detail = flagged(
        &leader,
        &["--local"],
        "journal",
        "warn",
        "doctor --nodes all",
    );
    assert_eq!(
        detail,
        "service-discover's journal since Consul last started: 1 x \"tls: bad certificate\" (a peer refused this node's certificate)"
    );
}

/// What the data directory holds, checked with no token: a leftover ACL reset file, and a
/// local.keyring without main.json's gossip key (Consul then ignores `encrypt`).
#[test]
fn a_leftover_reset_file_and_a_keyring_file_without_the_key_fail() {
    let leader = healthy();
    let data = leader.sandbox.path("/var/lib/service-discover/data");
    fs::create_dir_all(data.join("serf")).unwrap();
    fs::write(data.join("acl-bootstrap-reset"), "908").unwrap();
    let detail = flagged(
        &leader,
        &["--local"],
        "acl-bootstrap-reset",
        "fail",
        "rm /var/lib/service-discover/data/acl-bootstrap-reset",
    );
    assert!(detail.contains("global-management token"), "{detail}");
    fs::remove_file(data.join("acl-bootstrap-reset")).unwrap();
    let old_key = "T2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleQ==";
    fs::write(data.join("serf/local.keyring"), format!("[\"{old_key}\"]")).unwrap();
    let detail = flagged(
        &leader,
        &["--local"],
        "gossip-keyring",
        "fail",
        "carbonio-mesh secret rejoin",
    );
    assert!(
        detail.contains("does not hold main.json's gossip key") && !detail.contains(old_key),
        "{detail}"
    );
    let key = leader.double.cluster().keyring[0].0.clone();
    fs::write(
        data.join("serf/local.keyring"),
        format!("[\"{key}\", \"{old_key}\"]"),
    )
    .unwrap();
    let (code, doc) = doctor_json(&leader, &["--local"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(check(&doc, "gossip-keyring")["status"], "ok");
}

#[test]
fn a_stale_archive_token_fails_the_token_check() {
    let leader = healthy();
    // Consul forgot the archive's token (the secrets were regenerated elsewhere): the token in
    // use, the archive's, is refused.
    leader.double.cluster().tokens.clear();
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 11);
    let token = check(&doc, "token");
    assert_eq!(token["status"], "fail", "{doc:#}");
    assert!(
        token["detail"].as_str().unwrap().contains("ACL not found"),
        "{token}"
    );
}

#[test]
fn wrong_modes_and_owners_fail_with_chmod_and_chown() {
    let leader = healthy();
    let archive = leader
        .sandbox
        .path(&format!("{ETC}/cluster-credentials.tar.gpg"));
    fs::set_permissions(&archive, fs::Permissions::from_mode(0o644)).unwrap();
    flagged(
        &leader,
        &["--local"],
        "archive-file",
        "fail",
        "chmod 0600 /etc/zextras/service-discover/cluster-credentials.tar.gpg",
    );
    fs::set_permissions(&archive, fs::Permissions::from_mode(0o600)).unwrap();
    let password = leader.sandbox.path(&format!("{LIB}/password"));
    fs::set_permissions(&password, fs::Permissions::from_mode(0o440)).unwrap();
    flagged(
        &leader,
        &["--local"],
        "password-file",
        "fail",
        "chmod 0400 /var/lib/service-discover/password",
    );
    fs::set_permissions(&password, fs::Permissions::from_mode(0o400)).unwrap();
    // main.json holds the gossip key: readable by everyone is a failure.
    let main_json = leader.sandbox.path(&format!("{ETC}/main.json"));
    fs::set_permissions(&main_json, fs::Permissions::from_mode(0o644)).unwrap();
    flagged(
        &leader,
        &["--local"],
        "main-json",
        "fail",
        "chmod 0600 /etc/zextras/service-discover/main.json",
    );
    fs::set_permissions(&main_json, fs::Permissions::from_mode(0o600)).unwrap();
    nix::unistd::chown(
        &leader.sandbox.path(&format!("{ETC}/main.json")),
        Some(nix::unistd::Uid::from_raw(0)),
        None,
    )
    .unwrap();
    flagged(
        &leader,
        &["--local"],
        "main-json",
        "fail",
        "chown nobody: /etc/zextras/service-discover/main.json",
    );
}

#[test]
fn a_missing_config_json_fails() {
    let leader = healthy();
    fs::remove_file(leader.sandbox.path(&format!("{ETC}/config.json"))).unwrap();
    let (code, doc) = doctor_json(&leader, &["--local"]);
    assert_eq!(code, 11);
    assert_eq!(check(&doc, "config-json")["status"], "fail");
    assert!(check(&doc, "config-json")["detail"]
        .as_str()
        .unwrap()
        .contains("config.json is missing"));
}

#[test]
fn a_leftover_dash_1_certificate_warns_with_its_removal() {
    let leader = healthy();
    let lib = leader.sandbox.path(LIB);
    for suffix in ["", "-key"] {
        fs::copy(
            lib.join(format!("dc1-server-consul-0{suffix}.pem")),
            lib.join(format!("dc1-server-consul-1{suffix}.pem")),
        )
        .unwrap();
    }
    flagged(
        &leader,
        &["--local"],
        "stale-certificates",
        "warn",
        "rm /var/lib/service-discover/dc1-server-consul-1-key.pem /var/lib/service-discover/dc1-server-consul-1.pem",
    );
}

/// A new CA and a certificate it signed, with openssl, under `dir`: (CA PEM, certificate PEM).
fn openssl_pair(dir: &std::path::Path, cn: &str, days: i32) -> (String, String) {
    let sh = |script: &str| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1825 -subj '/CN=Other CA' -keyout ca-key.pem -out ca.pem");
    sh(&format!(
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN={cn}' -keyout key.pem -out req.csr && \
         openssl x509 -req -in req.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days {days} -out cert.pem"
    ));
    (
        fs::read_to_string(dir.join("ca.pem")).unwrap(),
        fs::read_to_string(dir.join("cert.pem")).unwrap(),
    )
}

#[test]
fn a_ca_that_is_not_the_archives_fails() {
    let leader = healthy();
    let scratch = tempfile::tempdir().unwrap();
    let (other_ca, _) = openssl_pair(scratch.path(), "server.dc1.consul", 365);
    fs::write(
        leader.sandbox.path(&format!("{LIB}/consul-agent-ca.pem")),
        other_ca,
    )
    .unwrap();
    let (code, doc) = doctor_json(&leader, &["--local"]);
    assert_eq!(code, 11);
    let ca = check(&doc, "ca-certificate");
    assert_eq!(ca["status"], "fail", "{doc:#}");
    assert!(
        ca["detail"]
            .as_str()
            .unwrap()
            .contains("is not the archive's CA"),
        "{ca}"
    );
    assert!(ca["fix"].as_str().unwrap().contains("secret rejoin"));
    // The node certificate was signed by the archive's CA, not by this file's.
    let node = check(&doc, "node-certificate");
    assert_eq!(node["status"], "fail");
    assert!(
        node["detail"]
            .as_str()
            .unwrap()
            .contains("is not signed by the CA"),
        "{node}"
    );
}

#[test]
fn a_node_certificate_for_another_role_or_expiring_soon_is_flagged() {
    let leader = healthy();
    let lib = leader.sandbox.path(LIB);
    let scratch = tempfile::tempdir().unwrap();
    let sign = |cn: &str, days: i32| {
        let script = format!(
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN={cn}' -keyout {d}/k.pem -out {d}/r.csr && \
             openssl x509 -req -in {d}/r.csr -CA {lib}/consul-agent-ca.pem -CAkey {lib}/consul-agent-ca-key.pem -CAcreateserial -CAserial {d}/ca.srl -days {days} -out {lib}/dc1-server-consul-0.pem",
            d = scratch.path().display(),
            lib = lib.display(),
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    sign("client.dc1.consul", 365);
    let detail = flagged(
        &leader,
        &["--local"],
        "node-certificate",
        "fail",
        "secret rejoin",
    );
    assert!(
        detail.contains("is for client.dc1.consul, not server.dc1.consul"),
        "{detail}"
    );
    sign("server.dc1.consul", 10);
    let detail = flagged(
        &leader,
        &["--local"],
        "node-certificate",
        "warn",
        "secret rejoin",
    );
    assert!(
        detail.contains("expires in 9 days") || detail.contains("expires in 10 days"),
        "{detail}"
    );
}

#[test]
fn an_archive_that_does_not_open_fails() {
    let leader = healthy();
    fs::write(
        leader.sandbox.path(&format!("{LIB}/password")),
        "not-the-password",
    )
    .unwrap();
    let (code, doc) = doctor_json(&leader, &["--local"]);
    assert_eq!(code, 11);
    let archive = check(&doc, "archive");
    assert_eq!(archive["status"], "fail", "{doc:#}");
    assert!(
        archive["detail"].as_str().unwrap().contains("password"),
        "{archive}"
    );
}

#[test]
fn a_stopped_unit_and_a_foreign_bind_addr_fail() {
    let leader = healthy();
    systemctl(&leader, "stop");
    let detail = flagged(
        &leader,
        &["--local"],
        "service",
        "fail",
        "systemctl start service-discover",
    );
    assert_eq!(detail, "service-discover is inactive");
    systemctl(&leader, "start");
    fs::write(
        leader.sandbox.path(&format!("{ETC}/config.json")),
        "{\"bind_addr\": \"198.51.100.7\"}\n",
    )
    .unwrap();
    let detail = flagged(
        &leader,
        &["--local"],
        "bind-address",
        "fail",
        "service-discover config set bind-address",
    );
    assert!(detail.contains("bind_addr 198.51.100.7 is not an address of this host"));
}

/// A systemctl that answers nothing on standard output: the real one with no D-Bus to talk to
/// (a container, a broken system bus) says why on standard error and exits 1.
fn mute_systemctl(dir: &Path) {
    let script = dir.join("systemctl");
    fs::write(
        &script,
        "#!/bin/sh\necho 'Failed to connect to bus: No such file or directory' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_probe_with_no_answer_is_unknown_with_the_reason_said_once() {
    let leader = healthy();
    let mute = tempfile::tempdir().unwrap();
    mute_systemctl(mute.path());
    let (code, out, err) = run(leader
        .cmd()
        .env(
            "PATH",
            format!("{}:{}", mute.path().display(), leader.bin.search_path()),
        )
        .args(["doctor", "--local", "--format", "json"]));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(problems(&doc), ["service=unknown"], "{doc:#}");
    assert_eq!(code, 0, "not checked is no warning");
    assert_eq!(
        check(&doc, "service")["detail"],
        "not checked: systemctl is-active service-discover printed no state (exit 1) Failed to connect to bus: No such file or directory"
    );
    // A file that cannot be read is named once, and what depends on it is not checked.
    fs::remove_file(leader.sandbox.path(&format!("{ETC}/config.json"))).unwrap();
    let (_, doc) = doctor_json(&leader, &["--local"]);
    let bind = check(&doc, "bind-address");
    assert_eq!(bind["status"], "unknown", "{doc:#}");
    let detail = bind["detail"].as_str().unwrap();
    assert_eq!(
        detail
            .matches("/etc/zextras/service-discover/config.json")
            .count(),
        1,
        "{detail}"
    );
    assert_eq!(check(&doc, "config-json")["status"], "fail");
}

#[test]
fn with_the_agent_down_the_node_keeps_its_name_from_main_json() {
    let leader = healthy();
    let main = leader.sandbox.path(&format!("{ETC}/main.json"));
    let mut config: Value = serde_json::from_str(&fs::read_to_string(&main).unwrap()).unwrap();
    // What service-discover setup writes (SD pkg/command/common.go ConsulNodeName).
    config["node_name"] = "server-srv1-example-com".into();
    fs::write(&main, config.to_string()).unwrap();
    systemctl(&leader, "stop");
    // Nothing listens there: the agent does not answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let (code, out, _) = run(leader
        .cmd()
        .env("CONSUL_HTTP_ADDR", format!("http://{address}"))
        .args(["doctor", "--format", "json"]));
    assert_eq!(code, 11, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(check(&doc, "agent")["status"], "fail");
    assert_eq!(
        doc["nodes"][0]["node"], "server-srv1-example-com",
        "{doc:#}"
    );
    assert!(doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["scope"] == "cluster" || c["scope"] == "server-srv1-example-com"));
}

#[test]
fn the_human_report_shows_the_table_and_each_problem_with_its_fix() {
    let leader = healthy();
    systemctl(&leader, "stop");
    let (code, out, _) = run(leader.cmd().arg("doctor"));
    assert_eq!(code, 11, "{out}");
    assert!(out.starts_with("FAIL: 1 failed ("), "{out}");
    assert!(
        out.contains("Node                     Host  Role    Status  Problems\n"),
        "{out}"
    );
    assert!(
        out.contains("server-srv1-example-com  -     server  fail    service\n"),
        "{out}"
    );
    assert!(out.contains("FAIL server-srv1-example-com service: service-discover is inactive\n     fix: systemctl start service-discover"), "{out}");
    assert!(!out.contains('\x1b'), "no colour without a terminal");
}

#[test]
fn prometheus_metrics_name_every_check() {
    let leader = healthy();
    let (code, out, err) = run(leader.cmd().args(["doctor", "--prometheus"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("carbonio_mesh_check_status{check=\"leader\",node=\"cluster\"} 0\n"),
        "{out}"
    );
    assert!(out.contains(
        "carbonio_mesh_check_status{check=\"service\",node=\"server-srv1-example-com\"} 0\n"
    ));
    assert!(out.contains("carbonio_mesh_certificate_expiry_seconds{certificate=\"node\",node=\"server-srv1-example-com\"} "));
    assert!(out.contains("carbonio_mesh_members{status=\"alive\"} 5\n"));
    assert!(out.ends_with("carbonio_mesh_doctor_status 0\n"));
}

/// A healthy leader on a Carbonio node: its localconfig.xml binds to a real slapd, where setup
/// uploaded the archive and the fixture's five servers are listed (the three Mesh servers with
/// service-discover enabled).
fn healthy_carbonio() -> (Slapd, MeshLeader) {
    let ldap = Slapd::start();
    let leader = healthy_with(|sandbox| {
        install_localconfig(sandbox, &ldap.localconfig());
    });
    for server in ["srv1", "srv2", "srv3"] {
        ldap.add_server(
            &format!("{server}.example.com"),
            &["service-discover", "mailbox"],
        );
    }
    ldap.add_server("mail.example.com", &["mailbox"]);
    ldap.add_server("proxy.example.com", &["proxy"]);
    (ldap, leader)
}

#[test]
fn on_a_carbonio_node_raft_and_the_archive_match_ldap() {
    let (_ldap, leader) = healthy_carbonio();
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(problems(&doc), Vec::<String>::new(), "{doc:#}");
    assert_eq!(code, 0);
    assert!(check(&doc, "raft-peers")["detail"]
        .as_str()
        .unwrap()
        .starts_with("3 raft servers, the Mesh servers LDAP lists"));
    assert!(check(&doc, "ldap-copy")["detail"]
        .as_str()
        .unwrap()
        .starts_with("LDAP holds the same archive"));
    assert_eq!(doc["nodes"][0]["host"], "srv1.example.com");
}

/// Without a valid token the members are not read, so the raft peers are known by address
/// only: which server is which is unknown, and doctor never suggests removing one (before, it
/// failed raft-peers with `consul operator raft remove-peer` for every server, the leader too).
#[test]
fn with_a_refused_or_missing_token_no_server_is_ever_to_be_removed() {
    let (_ldap, leader) = healthy_carbonio();
    for refused in [true, false] {
        if refused {
            // Consul forgot the archive's token: every request with it is refused.
            leader.double.cluster().tokens.clear();
        } else {
            // No token at all: the archive does not open without its password file.
            fs::remove_file(leader.sandbox.path(&format!("{LIB}/password"))).unwrap();
        }
        let (_, doc) = doctor_json(&leader, &[]);
        let raft = check(&doc, "raft-peers");
        assert_eq!(raft["status"], "unknown", "{doc:#}");
        for c in doc["checks"].as_array().unwrap() {
            let fix = c["fix"].as_str().unwrap_or_default();
            assert!(!fix.contains("remove-peer"), "{c}");
        }
        assert_eq!(check(&doc, "members")["status"], "unknown", "{doc:#}");
    }
}

#[test]
fn a_mesh_server_ldap_lists_but_raft_lacks_fails_and_an_extra_peer_warns() {
    let (ldap, leader) = healthy_carbonio();
    ldap.add_server("srv4.example.com", &["service-discover"]);
    let detail = flagged(
        &leader,
        &[],
        "raft-peers",
        "fail",
        "on srv4.example.com: systemctl status service-discover",
    );
    assert_eq!(
        detail,
        "srv4.example.com is a Mesh server in LDAP but not a raft peer"
    );
    ldap.modify(
        "dn: cn=srv4.example.com,cn=servers,cn=zimbra\nchangetype: delete\n\n\
         dn: cn=srv3.example.com,cn=servers,cn=zimbra\nchangetype: modify\nreplace: zimbraServiceEnabled\nzimbraServiceEnabled: mailbox\n",
    );
    let detail = flagged(
        &leader,
        &[],
        "raft-peers",
        "warn",
        "consul operator raft remove-peer -address=192.168.56.103:8300",
    );
    assert_eq!(
        detail,
        "server-srv3-example-com (192.168.56.103:8300) is a raft peer LDAP does not list as a Mesh server"
    );
}

#[test]
fn an_ldap_copy_that_differs_fails_with_the_upload_command() {
    let (ldap, leader) = healthy_carbonio();
    ldap.set_credentials(
        b"-----BEGIN PGP MESSAGE-----\n\nanother archive\n-----END PGP MESSAGE-----\n",
    );
    let detail = flagged(
        &leader,
        &["--local"],
        "ldap-copy",
        "fail",
        "ldapmodify -x -H ldap://",
    );
    assert!(
        detail.starts_with("LDAP holds a different archive"),
        "{detail}"
    );
}

/// The simulated Mesh over real ssh (tests/src/ssh_mesh.rs), every node healthy, the leader's
/// `doctor --nodes` going through the built-in doctor-transport.
fn healthy_mesh() -> SshMesh {
    let mesh = SshMesh::new(&["doctor"], PASSWORD, |_, node| node);
    mesh.config(
        "50-transport.toml",
        &built_in_step_with(
            &mesh.sandbox,
            "doctor-transport",
            &mesh.sshd.client_config(),
        ),
    );
    let key = make_healthy(&mesh.sandbox.root(), &mesh.bin);
    for root in mesh.roots.values() {
        make_healthy(root, &mesh.bin);
    }
    mesh.double.cluster().keyring = vec![(key, Vec::new())];
    mesh
}

fn doctor_nodes(mesh: &SshMesh, args: &[&str]) -> (i32, String, String) {
    run(&mut assert_cmd::Command::from_std({
        let mut cmd = mesh.leader_cmd();
        cmd.args(["doctor", "--nodes", "all"]).args(args);
        cmd
    }))
}

/// `doctor ARGS` as run on the agent `node` of `mesh` (its own root, no token, no archive
/// password: what the packaged timer runs there).
fn doctor_on(mesh: &SshMesh, node: &str, args: &[&str]) -> (i32, String, String) {
    let root = &mesh.roots[node];
    let mut cmd = std::process::Command::new(carbonio_mesh_tests::binary());
    cmd.env("CARBONIO_MESH_CHILD_ENV", carbonio_mesh_tests::STAND_IN_ENV)
        .env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE")
        .env_remove("NO_COLOR")
        .env("PATH", mesh.bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", root)
        .env("CONSUL_HTTP_ADDR", mesh.double.url())
        .arg("--root")
        .arg(root)
        .arg("--plugin-dir")
        .arg(mesh.sandbox.plugin_dir())
        .arg("doctor")
        .args(args);
    run(&mut assert_cmd::Command::from_std(cmd))
}

/// A regeneration without `--nodes` leaves the other nodes on the old archive while LDAP holds
/// the leader's new one: `doctor --nodes all` tells each such node to `secret rejoin` there,
/// never to upload its old archive to LDAP (which its own check, alone, would suggest).
#[test]
fn after_a_regeneration_without_nodes_a_node_left_behind_is_told_to_rejoin() {
    let mesh = healthy_mesh();
    // LDAP names the nodes by hostname, which this sshd does not know: reach them by address.
    let step = built_in_step_with(
        &mesh.sandbox,
        "doctor-transport",
        &mesh.sshd.client_config(),
    )
    .replace("root@{host}", "root@{address}");
    mesh.config("50-transport.toml", &step);
    let ldap = Slapd::start();
    for server in ["srv1", "srv2", "srv3"] {
        ldap.add_server(&format!("{server}.example.com"), &["service-discover"]);
    }
    ldap.add_server("mail.example.com", &["mailbox"]);
    ldap.add_server("proxy.example.com", &["proxy"]);
    install_localconfig(&mesh.sandbox, &ldap.localconfig());
    for root in mesh.roots.values() {
        let conf = root.join("opt/zextras/conf");
        fs::create_dir_all(&conf).unwrap();
        fs::copy(
            mesh.sandbox.path("/opt/zextras/conf/localconfig.xml"),
            conf.join("localconfig.xml"),
        )
        .unwrap();
        fs::set_permissions(
            conf.join("localconfig.xml"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        nix::unistd::chown(
            &conf.join("localconfig.xml"),
            None,
            Some(nix::unistd::Gid::from_raw(NOBODY)),
        )
        .unwrap();
    }
    // LDAP holds the leader's archive (its setup uploaded it); one agent keeps an older one.
    let archive = format!("{ETC}/cluster-credentials.tar.gpg");
    let leader_archive = fs::read(mesh.sandbox.path(&archive)).unwrap();
    ldap.set_credentials(&leader_archive);
    let agent = first_agent(&mesh);
    let mut older = leader_archive.clone();
    older.extend_from_slice(b"\n");
    fs::write(
        mesh.roots[&agent].join(archive.trim_start_matches('/')),
        older,
    )
    .unwrap();
    let (_, out, err) = doctor_nodes(&mesh, &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let copies: Vec<&Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "ldap-copy")
        .collect();
    assert_eq!(copies.len(), 1 + mesh.nodes.len(), "{doc:#}");
    for copy in copies {
        if copy["scope"] == agent.as_str() {
            assert_eq!(copy["status"], "fail", "{copy}");
            let fix = copy["fix"].as_str().unwrap();
            assert!(
                fix.starts_with("on mail.example.com: this node keeps an older archive")
                    && fix.contains("carbonio-mesh secret rejoin --archive FILE")
                    && !fix.contains("ldapmodify"),
                "{fix}"
            );
        } else {
            assert_eq!(copy["status"], "ok", "{copy}");
        }
    }
}

/// The first agent (no Mesh server) of `mesh`.
fn first_agent(mesh: &SshMesh) -> String {
    mesh.nodes
        .iter()
        .find(|n| n.starts_with("agent-"))
        .expect("the fixture has agents")
        .clone()
}

/// The packaged timer runs `doctor --prometheus` on every node; an agent has no archive
/// password, hence no token: what it cannot see is "not checked", never a warning forever.
#[test]
fn an_agent_without_a_token_reports_what_it_cannot_check_as_not_checked() {
    let mesh = healthy_mesh();
    let agent = first_agent(&mesh);
    let (code, out, err) = doctor_on(&mesh, &agent, &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let mut found = problems(&doc);
    found.sort();
    assert_eq!(
        found,
        [
            "autopilot=unknown",
            "health=unknown",
            "keyring=unknown",
            "members=unknown",
            "raft-lag=unknown",
            "token=unknown"
        ],
        "{doc:#}"
    );
    assert_eq!((code, &doc["status"]), (0, &Value::from("ok")), "{doc:#}");
    let members = check(&doc, "members");
    assert!(
        members["fix"].as_str().unwrap().contains("node:read"),
        "{members}"
    );
    assert!(members["detail"]
        .as_str()
        .unwrap()
        .starts_with("not checked here: "));
    let (code, out, _) = doctor_on(&mesh, &agent, &["--prometheus"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\ncarbonio_mesh_doctor_status 0\n"), "{out}");
    assert!(
        out.contains("carbonio_mesh_check_status{check=\"token\",node=\"cluster\"} -1\n"),
        "{out}"
    );
    // What the admin sees: no warning, and what was not checked here, with the reason.
    let (code, out, err) = doctor_on(&mesh, &agent, &[]);
    assert_eq!(code, 0, "{out}{err}");
    insta::assert_snapshot!("doctor_human_agent_without_a_token", out);
    // ACLs disabled: that is what the token check says, not "no token".
    mesh.double.cluster().acl_enabled = false;
    let (_, out, _) = doctor_on(&mesh, &agent, &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let token = check(&doc, "token");
    assert_eq!(token["status"], "warn", "{doc:#}");
    assert!(
        token["detail"]
            .as_str()
            .unwrap()
            .contains("ACLs are disabled"),
        "{token}"
    );
    assert_eq!(check(&doc, "members-failed")["status"], "ok", "{doc:#}");
}

/// A node whose CA and certificate agree with each other but not with the leader (set up from
/// another archive): its own checks pass, `--nodes` sees it holds another CA.
#[test]
fn a_node_on_another_ca_than_the_leaders_is_named_with_rejoin() {
    let mesh = healthy_mesh();
    let agent = first_agent(&mesh);
    let lib = mesh.roots[&agent].join(LIB.trim_start_matches('/'));
    let scratch = tempfile::tempdir().unwrap();
    let (other_ca, cert) = openssl_pair(scratch.path(), "client.dc1.consul", 365);
    fs::write(lib.join("consul-agent-ca.pem"), other_ca).unwrap();
    fs::write(lib.join("dc1-client-consul-0.pem"), cert).unwrap();
    let (code, out, err) = doctor_nodes(&mesh, &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(code, 11, "{doc:#}");
    let failed: Vec<&Value> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .collect();
    assert_eq!(failed.len(), 1, "{doc:#}");
    assert_eq!(
        (&failed[0]["name"], &failed[0]["scope"]),
        (&Value::from("leader-ca"), &Value::from(agent.as_str()))
    );
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap()
            .contains("CN=Other CA"),
        "{doc:#}"
    );
    assert!(failed[0]["fix"].as_str().unwrap().contains("secret rejoin"));
    let row = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == agent.as_str())
        .unwrap();
    assert_eq!(
        (&row["status"], &row["problems"]),
        (&Value::from("fail"), &serde_json::json!(["leader-ca"]))
    );
}

#[test]
fn every_node_is_checked_over_real_ssh_and_a_node_not_reached_is_named() {
    let mut mesh = healthy_mesh();
    let (code, out, err) = doctor_nodes(&mesh, &["--format", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(
        problems(&doc),
        Vec::<String>::new(),
        "{doc:#}\nsshd:\n{}",
        mesh.sshd.log()
    );
    assert_eq!(code, 0);
    let rows: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 1 + mesh.nodes.len(), "{rows:?}");
    for node in &mesh.nodes {
        assert!(rows.contains(&node.as_str()), "{node} in {rows:?}");
        // Each node's own checks came back, filed under it.
        assert!(doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["scope"] == node.as_str() && c["name"] == "node-certificate"));
    }
    // One node's unit stopped, another refuses the leader's key.
    let stopped = mesh.nodes[0].clone();
    let refusing = mesh.nodes[1].clone();
    systemctl_on(&mesh.roots[&stopped], &mesh.bin, "stop");
    mesh.sshd.set_authorized(&refusing, false);
    let (code, out, err) = doctor_nodes(&mesh, &[]);
    assert_eq!(code, 11, "{out}{err}");
    let row = |node: &str| {
        out.lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("no row for {node}:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row(&stopped)[3..], ["fail", "service"], "{out}");
    assert_eq!(
        row(&refusing)[3..],
        ["unreachable", "not", "reached"],
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "FAIL {stopped} service: service-discover is inactive\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("FAIL {refusing}: not reached: 127.0.0.3 (127.0.0.3): exit 255: root@127.0.0.3: Permission denied (publickey).")),
        "{out}"
    );
}

/// What an admin sees, pinned (review changes with `cargo insta review`): the summary, the
/// per-node table and each problem with its fix, for a leader with a failed member, a leftover
/// certificate and a stopped unit. Nothing in it varies between runs or machines (system paths,
/// the fixture's names), so no filter is needed.
#[test]
fn the_human_report_of_a_leader_with_three_problems() {
    let leader = healthy();
    leader
        .double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = consul_double::Status::Failed;
    let lib = leader.sandbox.path(LIB);
    fs::copy(
        lib.join("dc1-server-consul-0.pem"),
        lib.join("dc1-server-consul-1.pem"),
    )
    .unwrap();
    systemctl(&leader, "stop");
    filtered(&leader.sandbox, || {
        let report = session(&["doctor"], run(leader.cmd().arg("doctor")));
        insta::assert_snapshot!("doctor_human_report", report);
    });
}

/// The packaged `doctor-textfile` (what carbonio-mesh-doctor.service runs) against the leader,
/// writing into `dir`; `args` go to carbonio-mesh before `doctor`.
fn textfile(leader: &MeshLeader, dir: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/deb/doctor-textfile");
    std::process::Command::new(script)
        .env_clear()
        .env("CARBONIO_MESH", carbonio_mesh_tests::binary())
        .env("CARBONIO_MESH_TEXTFILE_DIR", dir)
        .env("CARBONIO_MESH_CHILD_ENV", carbonio_mesh_tests::STAND_IN_ENV)
        .env("PATH", leader.bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", leader.sandbox.root())
        .env("CONSUL_HTTP_ADDR", leader.double.url())
        .arg("--root")
        .arg(leader.sandbox.root())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_packaged_textfile_script_writes_the_metrics_atomically_for_node_exporter() {
    let leader = healthy();
    let dir = tempfile::tempdir().unwrap();
    let plugins = leader.sandbox.plugin_dir();
    let with_plugins = ["--plugin-dir".as_ref(), plugins.as_os_str()];
    let prom = dir.path().join("carbonio-mesh.prom");
    let listing = || {
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let out = textfile(&leader, dir.path(), &with_plugins);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&prom).unwrap();
    assert!(text.ends_with("carbonio_mesh_doctor_status 0\n"), "{text}");
    assert_eq!(
        fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o644,
        "node_exporter reads it as its own user"
    );
    assert_eq!(listing(), ["carbonio-mesh.prom"], "no temporary file left");
    // A failed check is a result: written, and the script succeeds.
    systemctl(&leader, "stop");
    let out = textfile(&leader, dir.path(), &with_plugins);
    assert!(out.status.success());
    let text = fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(
            "carbonio_mesh_check_status{check=\"service\",node=\"server-srv1-example-com\"} 2\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("carbonio_mesh_doctor_status 2\n"));
    // doctor cannot run at all (no plugin): the file says so, and the unit fails.
    let out = textfile(&leader, dir.path(), &[]);
    assert!(!out.status.success());
    assert_eq!(
        fs::read_to_string(&prom).unwrap(),
        "# HELP carbonio_mesh_doctor_status The worst check: 0 ok, 1 warn, 2 fail.\n\
# TYPE carbonio_mesh_doctor_status gauge\ncarbonio_mesh_doctor_status 2\n"
    );
    assert_eq!(listing(), ["carbonio-mesh.prom"]);
    // A directory someone else can write to (a planted symbolic link could lead root's write
    // elsewhere) gets nothing written, and the unit fails saying why.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let before = fs::read_to_string(&prom).unwrap();
    let out = textfile(&leader, dir.path(), &with_plugins);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("must be owned by root and writable by root only"),
        "{err}"
    );
    assert!(err.contains("fix: chown root:root"), "{err}");
    assert_eq!(fs::read_to_string(&prom).unwrap(), before);
    assert_eq!(listing(), ["carbonio-mesh.prom"]);
    let link = tempfile::tempdir().unwrap();
    let linked = link.path().join("node-exporter");
    std::os::unix::fs::symlink(dir.path(), &linked).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = textfile(&leader, &linked, &with_plugins);
    assert!(
        !out.status.success(),
        "a symbolic link is not the directory"
    );
}

#[test]
fn a_transport_to_the_node_name_is_refused_only_when_nodes_are_asked_for() {
    let leader = healthy();
    leader.config(
        "50-transport.toml",
        "[steps.doctor-transport]\nexec = [\"ssh\", \"root@{node}\", \"carbonio-mesh\", \"doctor\", \"--local\", \"--format\", \"json\"]\n",
    );
    let (code, _, err) = run(leader.cmd().args(["doctor", "--nodes", "all"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("connects to 'root@{node}'"), "{err}");
    assert!(err.contains("fix: write {host} instead"), "{err}");
    let (code, doc) = doctor_json(&leader, &[]);
    assert_eq!(code, 0, "{doc:#}");
}

/// Consul 1.15.3 and later refuse to start a server last seen more than
/// `server_rejoin_age_max` (7 days) ago; 1.9.3 does not. The installed Consul's version comes
/// from `consul version`. main.json's TLS keys at the top level (installs before
/// service-discover moved them under `tls.defaults`) are read as well.
#[test]
fn a_server_down_for_more_than_a_week_will_not_start_on_consul_1_21_4() {
    let leader = healthy();
    let main_path = leader.sandbox.path(&format!("{ETC}/main.json"));
    let mut main: Value = serde_json::from_str(&fs::read_to_string(&main_path).unwrap()).unwrap();
    let tls = main["tls"]["defaults"].take();
    let main = main.as_object_mut().unwrap();
    main.remove("tls");
    for (key, value) in tls.as_object().unwrap() {
        main.insert(key.clone(), value.clone());
    }
    fs::write(&main_path, serde_json::to_string(&main).unwrap()).unwrap();
    let metadata = leader
        .sandbox
        .path(&format!("{LIB}/data/server_metadata.json"));
    let eight_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 8 * 86_400;
    fs::write(
        &metadata,
        format!("{{\"last_seen_unix\":{eight_days_ago}}}"),
    )
    .unwrap();
    let doctor = |consul: &str| {
        let (_, out, err) = run(leader
            .cmd()
            .env("CONSUL_STANDIN_VERSION", consul)
            .args(["doctor", "--local", "--format", "json"]));
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        doc
    };
    let doc = doctor("1.21.4");
    assert_eq!(problems(&doc), ["server-rejoin-age=fail"], "{doc:#}");
    let found = check(&doc, "server-rejoin-age");
    assert!(
        found["detail"]
            .as_str()
            .unwrap()
            .contains("last seen 8.0 days ago, more than server_rejoin_age_max, 168h"),
        "{found}"
    );
    assert!(
        found["fix"]
            .as_str()
            .unwrap()
            .starts_with("rm /var/lib/service-discover/data/server_metadata.json; systemctl restart service-discover"),
        "{found}"
    );
    assert_eq!(
        check(&doc, "node-certificate")["status"],
        "ok",
        "top-level TLS keys read"
    );
    let doc = doctor("1.9.3");
    assert_eq!(problems(&doc), Vec::<String>::new(), "{doc:#}");
    assert!(check(&doc, "server-rejoin-age")["detail"]
        .as_str()
        .unwrap()
        .contains("Consul 1.9.3 has no server_rejoin_age_max"));
}

/// Issue 24, items 6 and 12: a failed member whose name holds a newline and escape sequences
/// forged rows of doctor's table (one name, five rows), and made `--prometheus` write `\x1b`
/// into a label value, an escape the text format does not have: node_exporter dropped the whole
/// file, so no alert fired.
#[test]
fn a_hostile_member_name_forges_no_row_and_keeps_the_metrics_readable() {
    let leader = healthy();
    let hostile = "agent-evil\nserver-srv9-example-com  -  server  ok  -\u{1b}[2K\r";
    for node in leader.double.cluster().nodes.iter_mut() {
        if node.name == "agent-proxy-example-com" {
            node.name = hostile.to_owned();
            node.status = consul_double::Status::Failed;
        } else if node.name != "server-srv1-example-com" {
            node.status = consul_double::Status::Left;
        }
    }
    let (code, out, err) = run(leader.cmd().args(["doctor", "--nodes", "all"]));
    assert_eq!(code, 11, "{out}{err}");
    assert!(
        !out.lines().any(|l| l.starts_with("server-srv9")),
        "a forged row: {out}"
    );
    assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("agent-evil\\nserver-srv9"), "{out}");
    let (_, out, err) = run(leader
        .cmd()
        .args(["doctor", "--nodes", "all", "--prometheus"]));
    assert!(
        out.contains("carbonio_mesh_node_reached{node=\"agent-evil\\nserver-srv9"),
        "{out}{err}"
    );
    assert!(!out.contains("\\x"), "{out}");
    // Every line is a comment or a sample, `NAME{LABELS} VALUE` or `NAME VALUE`.
    for line in out.lines() {
        assert!(
            !line.chars().any(char::is_control),
            "a control character in {line:?}"
        );
        if !line.starts_with('#') {
            let value = line.rsplit_once(' ').map(|(_, v)| v).unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "not a sample: {line:?}");
        }
    }
}

/// On a terminal doctor's statuses are coloured (green, yellow, red): the host passes a plugin's
/// plain colour codes when colour is on, and escapes them (and every other control) otherwise.
/// Before, the host's output filter showed them as `\x1b[31m` text on every terminal.
#[test]
fn statuses_are_coloured_on_a_terminal_and_plain_with_no_color() {
    let sandbox = carbonio_mesh_tests::Sandbox::new();
    sandbox.install_product("doctor");
    let double = consul_double::Double::start(consul_double::Cluster::fixture()).unwrap();
    let command = |env: &str| {
        format!(
            "{env} {} --root {} --plugin-dir {} --http-addr {} doctor",
            carbonio_mesh_tests::binary().display(),
            sandbox.root().display(),
            sandbox.plugin_dir().display(),
            double.url(),
        )
    };
    // Nothing is set up under the sandbox: this node's checks fail (red).
    let (code, screen) = carbonio_mesh_tests::on_a_terminal(&command("env -u NO_COLOR"), &[]);
    assert_eq!(code, 11, "{screen:?}");
    assert!(screen.contains("\u{1b}[31mFAIL\u{1b}[0m"), "{screen:?}");
    assert!(!screen.contains("\\x1b["), "{screen:?}");
    let (_, plain) = carbonio_mesh_tests::on_a_terminal(&command("NO_COLOR=1"), &[]);
    assert!(
        plain.contains("FAIL") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}
