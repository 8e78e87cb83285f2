//! Carbonio's LDAP against a real slapd (tests/src/slapd.rs): the LDAP copy of the Mesh archive
//! in `credentials verify` and in `secret regenerate` (step check-ldap-copy), and the stand-ins
//! that talk to it as the real programs do (service-discover uploads, carbonio lists servers).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use carbonio_mesh_tests::slapd::{self, install_localconfig, localconfig_xml, Slapd};
use carbonio_mesh_tests::{
    first_mesh_server_with, run, stand_in, MeshLeader, Sandbox, StandInBin, FIXTURE_LEADER_REPORT,
};
use consul_double::Double;

const PASSWORD: &str = "S3cr3T-ldap-test-pw";
const NEW_PASSWORD: &str = "new-Mesh-password-ldap-2";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// A first Mesh server whose setup (the stand-in) found localconfig.xml and uploaded its archive
/// to a real slapd.
struct CarbonioNode {
    ldap: Slapd,
    sandbox: Sandbox,
    double: Double,
}

impl CarbonioNode {
    fn new() -> Self {
        let ldap = Slapd::start();
        let (sandbox, double) = first_mesh_server_with(PASSWORD, |sandbox| {
            install_localconfig(sandbox, &ldap.localconfig());
        });
        sandbox.install_product("credentials");
        CarbonioNode {
            ldap,
            sandbox,
            double,
        }
    }

    fn archive(&self) -> Vec<u8> {
        fs::read(self.sandbox.path(ARCHIVE)).unwrap()
    }

    fn verify(&self, extra: &[&str]) -> (i32, String, String) {
        run(self
            .sandbox
            .cmd()
            .args(["--http-addr", &self.double.url()])
            .args(extra)
            .args(["credentials", "verify"]))
    }

    /// The `fix:` line verify printed, made runnable here: the bind DN and a password file
    /// filled in, the archive's system path under the root.
    fn run_fix(&self, out: &str) {
        let fix = out
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("fix: "))
            .unwrap_or_else(|| panic!("no fix in\n{out}"));
        let command = fix
            .split_once("upload it as service-discover setup does: ")
            .unwrap()
            .1
            .split(" (ZIMBRA_LDAP_USERDN")
            .next()
            .unwrap();
        let password_file = self
            .sandbox
            .file_beside_root("ldap-password", slapd::BIND_PASSWORD);
        let command = command
            .replace("ZIMBRA_LDAP_USERDN", slapd::BIND_DN)
            .replace("PASSWORD_FILE", &password_file.display().to_string())
            .replace(ARCHIVE, &self.sandbox.path(ARCHIVE).display().to_string());
        let out = Command::new("sh").args(["-c", &command]).output().unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn setup_uploads_and_verify_finds_the_same_archive_in_ldap() {
    let node = CarbonioNode::new();
    // The service-discover stand-in uploaded the file, as the real setup does.
    assert_eq!(node.ldap.credentials(), Some(node.archive()));
    let (code, out, err) = node.verify(&[]);
    assert_eq!(code, 0, "{out}{err}");
    let line = format!(
        "ok    ldap-copy       LDAP holds the same archive (carbonioMeshCredentials on cn=config,cn=zimbra at {})",
        node.ldap.url()
    );
    assert!(out.contains(&line), "{line} in\n{out}");
    // Nothing of the bind password, in the output or the most verbose logs.
    let (_, out, err) = node.verify(&["-vvv"]);
    assert!(!format!("{out}{err}").contains(slapd::BIND_PASSWORD));
}

#[test]
fn a_different_copy_fails_verify_and_its_fix_uploads_this_archive() {
    let node = CarbonioNode::new();
    let mut other = node.archive();
    other.extend_from_slice(b"\n");
    node.ldap.set_credentials(&other);
    let (code, out, err) = node.verify(&[]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        out.contains("FAIL  ldap-copy       LDAP holds a different archive (carbonioMeshCredentials on cn=config,cn=zimbra at ldap://127.0.0.1:"),
        "{out}"
    );
    // The other checks still pass: only LDAP's copy is wrong.
    assert!(out.contains("ok    consul"), "{out}");
    let json: serde_json::Value = serde_json::from_str(
        &run(node
            .sandbox
            .cmd()
            .args(["--http-addr", &node.double.url()])
            .args(["--format", "json", "credentials", "verify"]))
        .1,
    )
    .unwrap();
    assert_eq!(json["ok"], false);
    let check = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ldap-copy")
        .unwrap();
    assert_eq!(check["status"], "fail");
    assert!(check["fix"].as_str().unwrap().contains("ldapmodify"));
    // The fix, run as printed, puts this archive back and verify is happy again.
    node.run_fix(&out);
    assert_eq!(node.ldap.credentials(), Some(node.archive()));
    let (code, out, _) = node.verify(&[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_missing_copy_fails_verify_with_the_fix() {
    let node = CarbonioNode::new();
    node.ldap.clear_credentials();
    let (code, out, _) = node.verify(&[]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("FAIL  ldap-copy       LDAP holds no archive (carbonioMeshCredentials on cn=config,cn=zimbra at "),
        "{out}"
    );
    assert!(
        out.contains("      fix: if this archive is the current one"),
        "{out}"
    );
}

#[test]
fn ldap_down_fails_verify_naming_the_url() {
    let mut node = CarbonioNode::new();
    let url = node.ldap.url();
    node.ldap.stop();
    let (code, out, _) = node.verify(&[]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains(&format!("FAIL  ldap-copy       cannot reach LDAP: {url} (")),
        "{out}"
    );
    assert!(
        out.contains("fix: check that Carbonio's LDAP server is running"),
        "{out}"
    );
}

#[test]
fn a_wrong_bind_password_is_named_never_shown() {
    let node = CarbonioNode::new();
    let wrong = "Wrong-bind-Pw-73e1a0";
    install_localconfig(
        &node.sandbox,
        &localconfig_xml(&node.ldap.url(), slapd::BIND_DN, wrong),
    );
    let (code, out, err) = node.verify(&["-vvv"]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains(&format!(
            "FAIL  ldap-copy       LDAP at {} refused the bind as uid=zimbra,cn=admins,cn=zimbra: invalidCredentials (49)",
            node.ldap.url()
        )),
        "{out}"
    );
    assert!(out.contains("zimbra_ldap_password"), "{out}");
    let all = format!("{out}{err}");
    assert!(!all.contains(wrong), "{all}");
    assert!(!all.contains(slapd::BIND_PASSWORD), "{all}");
}

#[test]
fn without_localconfig_the_copy_is_not_checked() {
    let node = CarbonioNode::new();
    fs::remove_file(node.sandbox.path(slapd::LOCALCONFIG)).unwrap();
    let (code, out, _) = node.verify(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("skip  ldap-copy       not checked: not a Carbonio node: no /opt/zextras/conf/localconfig.xml"),
        "{out}"
    );
}

#[test]
fn a_localconfig_others_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let node = CarbonioNode::new();
    let path = node.sandbox.path(slapd::LOCALCONFIG);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, _) = node.verify(&[]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("FAIL  ldap-copy       /opt/zextras/conf/localconfig.xml is refused: it is writable by everyone (mode 0666)"),
        "{out}"
    );
    assert!(
        out.contains("fix: chmod 0640 /opt/zextras/conf/localconfig.xml"),
        "{out}"
    );
}

#[test]
fn the_carbonio_stand_in_lists_servers_from_ldap() {
    let ldap = Slapd::start();
    ldap.add_server("srv2.example.com", &["mailbox", "service-discover"]);
    ldap.add_server("mail.example.com", &["mailbox"]);
    ldap.add_server("srv1.example.com", &["service-discover"]);
    let sandbox = Sandbox::new();
    install_localconfig(&sandbox, &ldap.localconfig());
    let carbonio = stand_in("carbonio");
    // As the user running the tests, standing in for Carbonio's (the sandbox may sit in a
    // directory only that user can enter, such as root's ~/.cache).
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
        .unwrap()
        .unwrap()
        .name;
    let gas = |args: &[&str]| {
        let out = Command::new(&carbonio.path)
            .args(args)
            .env("CARBONIO_STANDIN_USER", &user)
            .env("CARBONIO_STANDIN_ROOT", sandbox.root())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        gas(&["prov", "gas", "service-discover"]),
        (
            Some(0),
            "srv1.example.com\nsrv2.example.com\n".into(),
            String::new()
        )
    );
    assert_eq!(
        gas(&["prov", "gas"]).1,
        "mail.example.com\nsrv1.example.com\nsrv2.example.com\n"
    );
    assert_eq!(
        gas(&["prov", "gas", "proxy"]),
        (Some(0), String::new(), String::new())
    );
    drop(ldap);
    let (code, out, err) = gas(&["prov", "gas", "service-discover"]);
    assert_eq!((code, out.as_str()), (Some(2), ""), "{err}");
    assert!(err.starts_with("ERROR: service.FAILURE"), "{err}");
}

/// A Mesh leader on a Carbonio node (localconfig.xml, a real slapd holding its archive), with
/// the stand-ins of tests/tests/it/secret.rs's leader.
struct Leader {
    ldap: Slapd,
    sandbox: Sandbox,
    double: Double,
    bin: StandInBin,
}

impl Leader {
    fn new() -> Self {
        let ldap = Slapd::start();
        let leader = MeshLeader::prepared(PASSWORD, |sandbox| {
            install_localconfig(sandbox, &ldap.localconfig());
            // zimbra_server_hostname resolves (service-discover setup checks it does, and not
            // to loopback).
            sandbox.write_fixture_hosts();
        });
        Leader {
            ldap,
            sandbox: leader.sandbox,
            double: leader.double,
            bin: leader.bin,
        }
    }

    fn regenerate(&self, env: &[(&str, &str)]) -> (i32, String, String) {
        let password: PathBuf = self
            .sandbox
            .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
        let mut cmd = self.sandbox.cmd();
        cmd.env("PATH", self.bin.search_path())
            .env("SERVICE_DISCOVER_STANDIN_ROOT", self.sandbox.root())
            .env("CONSUL_HTTP_ADDR", self.double.url());
        for (key, value) in env {
            cmd.env(key, value);
        }
        run(cmd
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(&password))
    }

    fn archive(&self) -> Vec<u8> {
        fs::read(self.sandbox.path(ARCHIVE)).unwrap()
    }
}

#[test]
fn regenerate_checks_that_ldap_holds_the_new_archive() {
    let leader = Leader::new();
    let old = leader.archive();
    assert_eq!(leader.ldap.credentials(), Some(old.clone()));
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    let new = leader.archive();
    assert_ne!(new, old);
    assert_eq!(leader.ldap.credentials(), Some(new));
    let row = out
        .lines()
        .find(|l| l.contains("check-ldap-copy"))
        .unwrap_or_else(|| panic!("no check-ldap-copy row in\n{out}"));
    assert!(row.starts_with("ok "), "{row}");
    assert!(row.contains("LDAP holds the new archive"), "{row}");
    // verify comes before it, rotate-gossip-key after.
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let at = |step: &str| order.iter().position(|s| *s == step).unwrap();
    assert_eq!(at("check-ldap-copy"), at("verify") + 1);
    assert_eq!(at("rotate-gossip-key"), at("check-ldap-copy") + 1);
    assert!(!format!("{out}{err}").contains(slapd::BIND_PASSWORD));
}

#[test]
fn regenerate_fails_at_check_ldap_copy_when_the_upload_is_lost() {
    let leader = Leader::new();
    let old = leader.archive();
    let (code, out, err) = leader.regenerate(&[("SERVICE_DISCOVER_STANDIN_LDAP_UPLOAD", "skip")]);
    assert_eq!(code, 5, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.contains("check-ldap-copy"))
        .unwrap_or_else(|| panic!("no check-ldap-copy row in\n{out}"));
    assert!(row.starts_with("FAIL"), "{row}");
    assert!(
        err.contains("secret regenerate: step failed: LDAP still holds another archive than the new one (carbonioMeshCredentials on cn=config,cn=zimbra at ldap://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("fix: service-discover setup did not upload it"),
        "{err}"
    );
    assert!(err.contains("ldapmodify -x -H ldap://127.0.0.1:"), "{err}");
    assert!(
        err.contains("Continue with: carbonio-mesh secret regenerate --resume"),
        "{err}"
    );
    // LDAP still has the old archive: nodes set up now would get it.
    assert_eq!(leader.ldap.credentials(), Some(old));
    assert_ne!(leader.archive(), leader.ldap.credentials().unwrap());
    assert!(!format!("{out}{err}").contains(slapd::BIND_PASSWORD));
}

#[test]
fn regenerate_without_localconfig_skips_the_ldap_check() {
    let leader = Leader::new();
    fs::remove_file(leader.sandbox.path(slapd::LOCALCONFIG)).unwrap();
    let (code, out, err) = leader.regenerate(&[]);
    assert_eq!(code, 0, "{out}{err}");
    let row = out.lines().find(|l| l.contains("check-ldap-copy")).unwrap();
    assert!(
        row.contains("skipped: not a Carbonio node: no /opt/zextras/conf/localconfig.xml"),
        "{row}"
    );
}

/// The fixture cluster's hosts as Carbonio's LDAP lists them.
fn add_fixture_servers(ldap: &Slapd) {
    for host in ["srv1.example.com", "srv2.example.com", "srv3.example.com"] {
        ldap.add_server(host, &["service-discover"]);
    }
    ldap.add_server("mail.example.com", &["mailbox"]);
    ldap.add_server("proxy.example.com", &["proxy"]);
}

#[test]
fn with_carbonios_server_list_every_node_has_its_hostname() {
    let node = CarbonioNode::new();
    add_fixture_servers(&node.ldap);
    // Two hostnames with one dashed form: the node's hostname is not guessed.
    node.ldap.add_server("proxy-example.com", &[]);
    for plugin in ["members", "catalog", "force-leave", "services"] {
        node.sandbox.install_product(plugin);
    }
    let mesh = |args: &[&str]| {
        run(node
            .sandbox
            .cmd()
            .args(["--http-addr", &node.double.url()])
            .args(args))
    };
    let hosts = |json: &str| -> Vec<(String, Option<String>)> {
        let list: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
        list.iter()
            .map(|m| {
                (
                    m["node"].as_str().unwrap().to_owned(),
                    m["host"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };
    let (code, out, err) = mesh(&["members", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let host = |name: &str| Some(name.to_owned());
    assert_eq!(
        hosts(&out),
        [
            (
                "server-srv1-example-com".to_owned(),
                host("srv1.example.com")
            ),
            (
                "server-srv2-example-com".to_owned(),
                host("srv2.example.com")
            ),
            (
                "server-srv3-example-com".to_owned(),
                host("srv3.example.com")
            ),
            (
                "agent-mail-example-com".to_owned(),
                host("mail.example.com")
            ),
            ("agent-proxy-example-com".to_owned(), None),
        ]
    );
    let (code, out, err) = mesh(&["catalog", "nodes", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        hosts(&out)[0],
        (
            "agent-mail-example-com".to_owned(),
            host("mail.example.com")
        )
    );
    // The human tables stay Consul's, byte for byte.
    let (_, out, _) = mesh(&["members"]);
    assert_eq!(
        out,
        fs::read_to_string(carbonio_mesh_tests::consul_fixture("cli/members.stdout")).unwrap()
    );
    // Where to run a deregistration: the node, with the host to run it on.
    let (code, _, err) = mesh(&[
        "--yes",
        "services",
        "deregister",
        "--id",
        "carbonio-mailbox",
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("fix: it is registered on agent-mail-example-com (mail.example.com): run"),
        "{err}"
    );
    // Named by its hostname, a node is shown under both names.
    node.double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "server-srv3-example-com")
        .unwrap()
        .status = consul_double::Status::Failed;
    let (code, out, err) = mesh(&["--yes", "force-leave", "srv3.example.com"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("server-srv3-example-com (srv3.example.com)  failed  left"),
        "{out}"
    );
    // A short hostname, when one node has it; a typo is answered in the form typed.
    let fail = |name: &str| {
        node.double
            .cluster()
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap()
            .status = consul_double::Status::Failed;
    };
    fail("server-srv2-example-com");
    let (code, out, err) = mesh(&["--yes", "force-leave", "srv2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("server-srv2-example-com (srv2.example.com)  failed  left"),
        "{out}"
    );
    let (code, _, err) = mesh(&["--yes", "force-leave", "mial"]);
    assert_eq!(code, 5);
    assert!(err.contains("Did you mean: mail?"), "{err}");
    // --failed keeps each hostname in its prompt, table and JSON.
    fail("agent-mail-example-com");
    let (code, out, err) = mesh(&["--yes", "force-leave", "--failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("agent-mail-example-com (mail.example.com)  failed  left"),
        "{out}"
    );
    fail("agent-mail-example-com");
    let (code, out, err) = mesh(&["--yes", "--format", "json", "force-leave", "--failed"]);
    assert_eq!(code, 0, "{err}");
    let outcomes: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcomes[0]["node"], "agent-mail-example-com", "{outcomes}");
    assert_eq!(outcomes[0]["host"], "mail.example.com", "{outcomes}");
    // The catalog takes the short name too (of a node still in it: the ones that left are
    // gone), and says when no node has the name.
    let (code, out, err) = mesh(&["catalog", "services", "--node", "srv1"]);
    assert_eq!((code, out.as_str()), (0, "consul\n"), "{err}");
    let (code, _, err) = mesh(&["catalog", "services", "--node", "nosuch"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("no node named 'nosuch' in the catalog"),
        "{err}"
    );
}

#[test]
fn nodes_all_reaches_each_node_by_its_hostname() {
    let leader = Leader::new();
    add_fixture_servers(&leader.ldap);
    let calls = leader.sandbox.path("/transport.calls");
    fs::write(
        leader.sandbox.path("/etc/carbonio-mesh/config.d/50-transport.toml"),
        format!(
            "[steps.transport]\nexec = [\"sh\", \"-c\", \"echo {{node}} {{host}} {{address}} >> {}\"]\n",
            calls.display()
        ),
    )
    .unwrap();
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let (code, out, err) = run(leader
        .sandbox
        .cmd()
        .env("PATH", leader.bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", leader.sandbox.root())
        .env("CONSUL_HTTP_ADDR", leader.double.url())
        .args([
            "--yes",
            "secret",
            "regenerate",
            "--nodes",
            "all",
            "--password-file",
        ])
        .arg(&password));
    assert_eq!(code, 0, "{out}{err}");
    let mut called: Vec<String> = fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    called.sort();
    assert_eq!(
        called,
        [
            "agent-mail-example-com mail.example.com 192.168.56.110",
            "agent-proxy-example-com proxy.example.com 192.168.56.111",
        ],
        "a server-/agent- name never reaches the transport as the host"
    );
    assert!(
        out.lines().any(|l| l.starts_with("agent-mail-example-com")
            && l.contains("mail.example.com")
            && l.contains("192.168.56.110")),
        "the per-node table shows node, host and address:\n{out}"
    );
}

#[test]
fn regenerate_refuses_before_anything_stops_what_service_discover_setup_would_refuse() {
    let leader = Leader::new();
    let calls = leader.sandbox.path("/run/systemctl-standin/calls");
    let before = carbonio_mesh_tests::mesh_checksums(&leader.sandbox.root());
    let refused = |what: &str, expected: &[&str]| {
        let (code, out, err) = leader.regenerate(&[]);
        assert_eq!(code, 5, "{what}: {out}{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains("check-setup")),
            "{what}: {out}"
        );
        for text in expected {
            assert!(err.contains(text), "{what}: no {text:?} in {err}");
        }
        assert!(!calls.exists(), "{what}: service-discover was touched");
        assert_eq!(
            carbonio_mesh_tests::mesh_checksums(&leader.sandbox.root()),
            before,
            "{what}"
        );
    };
    // Ubuntu's line for the host's own name.
    fs::write(
        leader.sandbox.path("/etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 srv1.example.com srv1\n",
    )
    .unwrap();
    refused(
        "hostname on loopback",
        &[
            "service-discover setup would refuse: zimbra_server_hostname srv1.example.com resolves to the loopback address 127.0.1.1",
            "fix: remove the 127.0.1.1 line naming srv1.example.com from /etc/hosts",
        ],
    );
    leader.sandbox.write_fixture_hosts();
    // A bind password LDAP does not take: setup could not upload the new archive.
    install_localconfig(
        &leader.sandbox,
        &localconfig_xml(&leader.ldap.url(), slapd::BIND_DN, "not-the-bind-password"),
    );
    refused(
        "master bind refused",
        &[
            "the LDAP master (ldap_master_url, where setup uploads the archive)",
            "refused the bind as uid=zimbra,cn=admins,cn=zimbra",
        ],
    );
    // A key setup reads, missing.
    let without_hostname = leader.ldap.localconfig().replace(
        "  <key name=\"zimbra_server_hostname\">\n    <value>srv1.example.com</value>\n  </key>\n",
        "",
    );
    assert!(!without_hostname.contains("zimbra_server_hostname"));
    install_localconfig(&leader.sandbox, &without_hostname);
    refused(
        "a key missing",
        &["lacks zimbra_server_hostname: carbonio is not correctly initialized, please run carbonio-bootstrap"],
    );
}

#[test]
fn leader_reads_the_mesh_servers_from_ldap_when_carbonio_fails_and_names_every_server() {
    let node = CarbonioNode::new();
    add_fixture_servers(&node.ldap);
    node.sandbox.install_product("leader");
    node.sandbox.write_fixture_hosts();
    let carbonio = stand_in("carbonio");
    // The stand-in insists on `nobody` and is run as root: it says "Please run as nobody user"
    // on standard output, exit 1, as the real one does for anyone but zextras.
    let (code, out, err) = run(node
        .sandbox
        .cmd()
        .env("CARBONIO_STANDIN_USER", "nobody")
        .args(["--http-addr", &node.double.url(), "leader", "--carbonio"])
        .arg(&carbonio.path)
        .args(["--carbonio-user", "root"]));
    assert_eq!(code, 6, "{err}");
    assert_eq!(
        err,
        "carbonio-mesh: warning: `carbonio prov gas service-discover` failed (exit 1): Please run \
         as nobody user (it ran as root: --carbonio-user names the user it insists on); the Mesh \
         servers were read from LDAP instead\n"
    );
    // LDAP's servers with service-discover enabled (not mail, not proxy), each with its node.
    assert_eq!(out, FIXTURE_LEADER_REPORT);
    let (_, out, _) = run(node
        .sandbox
        .cmd()
        .args([
            "--http-addr",
            &node.double.url(),
            "leader",
            "--format",
            "json",
        ])
        .args(["--carbonio", "/nonexistent/carbonio"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["servers_from"], "ldap");
    assert_eq!(report["servers"].as_array().unwrap().len(), 3, "{out}");
}

#[test]
fn completion_offers_hostnames_from_ldap_with_the_archives_token_on_loopback() {
    let node = CarbonioNode::new();
    add_fixture_servers(&node.ldap);
    node.sandbox.install_product("force-leave");
    // What a TAB after `force-leave mail` asks (tests/tests/completion.rs runs the scripts):
    // root on a Mesh server, no token given: the archive's, to the loopback agent.
    let (code, out, err) = run(assert_cmd::Command::new(carbonio_mesh_tests::binary())
        .env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE")
        .args(["__complete", "fish", "carbonio-mesh", "--root"])
        .arg(node.sandbox.root())
        .arg("--plugin-dir")
        .arg(node.sandbox.plugin_dir())
        .args(["--http-addr", &node.double.url(), "force-leave", "mail"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "words\nmail.example.com\tagent-mail-example-com\n");
    assert!(node
        .double
        .requests_with_tokens()
        .iter()
        .any(|(request, token)| request.starts_with("GET /v1/agent/members") && token.is_some()));
}
