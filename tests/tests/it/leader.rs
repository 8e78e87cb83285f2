//! `carbonio-mesh leader` against the Consul double and the `carbonio` stand-in.

use std::fs;

use carbonio_mesh_tests::{run, stand_in, Sandbox, StandIn, FIXTURE_LEADER_REPORT, TOKEN};
use consul_double::{Cluster, Double};

struct Setup {
    sandbox: Sandbox,
    double: Double,
    carbonio: StandIn,
    servers: String,
}

const SERVERS: &str = "srv1.example.com\nsrv2.example.com\nsrv3.example.com\n";

fn setup(servers: &str) -> Setup {
    let sandbox = Sandbox::new();
    sandbox.install_product("leader");
    sandbox.write_fixture_hosts();
    Setup {
        sandbox,
        double: Double::start(Cluster::fixture()).unwrap(),
        carbonio: stand_in("carbonio"),
        servers: servers.to_owned(),
    }
}

impl Setup {
    /// `carbonio-mesh leader` against the double with the stand-in (which insists on `nobody`),
    /// run as `user`, with `extra` arguments and `env` variables.
    fn leader_as(&self, user: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = self.sandbox.cmd();
        cmd.env("CONSUL_HTTP_ADDR", self.double.url())
            .env("CONSUL_HTTP_TOKEN", TOKEN)
            .env("CARBONIO_STANDIN_SERVERS", &self.servers)
            .env("CARBONIO_STANDIN_USER", "nobody")
            .envs(env.iter().copied())
            .arg("leader")
            .arg("--carbonio")
            .arg(&self.carbonio.path)
            .args(["--carbonio-user", user])
            .args(extra);
        run(&mut cmd)
    }

    fn leader(&self, extra: &[&str]) -> (i32, String, String) {
        self.leader_as("nobody", extra, &[])
    }
}

#[test]
fn another_host_is_the_leader_exit_6() {
    let setup = setup(SERVERS);
    let (code, out, err) = setup.leader(&[]);
    assert_eq!(code, 6, "{err}");
    assert_eq!(err, "");
    assert_eq!(out, FIXTURE_LEADER_REPORT);
    // The leader and peers need no token: none was sent there; the member list (the node
    // directory) is read with the token in use.
    for (request, token) in setup.double.requests_with_tokens() {
        if request.starts_with("GET /v1/status/") {
            assert_eq!(token, None, "{request}");
        } else {
            assert!(request.starts_with("GET /v1/agent/members"), "{request}");
        }
    }
}

#[test]
fn quiet_prints_nothing_the_exit_status_answers() {
    let setup = setup(SERVERS);
    // Its own help's example: `leader -q && echo on the leader`.
    assert_eq!(setup.leader(&["-q"]), (6, String::new(), String::new()));
    assert_eq!(setup.leader(&["--quiet"]).1, "");
    // Errors are still said.
    setup.double.cluster().leader = None;
    let (code, out, err) = setup.leader(&["-q"]);
    assert_eq!((code, out.as_str()), (5, ""));
    assert!(err.contains("has no leader"), "{err}");
}

#[test]
fn this_host_is_the_leader_exit_0() {
    let setup = setup(SERVERS);
    setup
        .double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "server-srv1-example-com")
        .unwrap()
        .address = "127.0.0.1".into();
    fs::write(setup.sandbox.path("/etc/hosts"), "127.0.0.1 srv1.example.com\n192.168.56.102 srv2.example.com\n192.168.56.103 srv3.example.com\n").unwrap();
    let (code, out, err) = setup.leader(&["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["this_host_is_leader"], true);
    assert_eq!(
        report["leader"],
        serde_json::json!({"node": "server-srv1-example-com", "host": "srv1.example.com", "address": "127.0.0.1", "port": 8300})
    );
    assert_eq!(
        report["servers"][0],
        serde_json::json!({"node": "server-srv1-example-com", "host": "srv1.example.com", "addresses": ["127.0.0.1"], "listed": true, "raft_peer": true, "leader": true})
    );
    assert_eq!(report["servers_from"], "carbonio");
    // -q leaves a document asked for by --format json alone.
    let (code, out, _) = setup.leader(&["--format", "json", "-q"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"this_host_is_leader\": true"), "{out}");
}

#[test]
fn no_leader_is_an_error_naming_the_servers_to_check() {
    let setup = setup(SERVERS);
    setup.double.cluster().leader = None;
    let (code, out, err) = setup.leader(&[]);
    assert_eq!((code, out.as_str()), (5, ""));
    assert!(
        err.contains("Carbonio Mesh has no leader: Consul answered \"\" to /v1/status/leader"),
        "{err}"
    );
    assert!(err.contains("systemctl status service-discover` on srv1.example.com, srv2.example.com, srv3.example.com"), "{err}");
}

#[test]
fn carbonio_missing_or_failing_is_a_warning_and_consul_still_answers() {
    let setup = setup(SERVERS);
    let (code, out, err) = run(setup
        .sandbox
        .cmd()
        .env("CONSUL_HTTP_ADDR", setup.double.url())
        .env("CONSUL_HTTP_TOKEN", TOKEN)
        .args([
            "leader",
            "--carbonio",
            "/nonexistent/carbonio",
            "--carbonio-user",
            "nobody",
        ]));
    assert_eq!(code, 6, "{err}");
    assert!(
        err.starts_with(
            "carbonio-mesh: warning: cannot run `carbonio`: cannot run /nonexistent/carbonio"
        ),
        "{err}"
    );
    assert!(err.contains("is this a Carbonio node?"), "{err}");
    // No LDAP here either (no localconfig.xml): said, and the servers are still named from
    // the members, never `(not in LDAP)`.
    assert!(
        err.contains("LDAP could not be read either (not a Carbonio node"),
        "{err}"
    );
    assert!(
        out.contains("-       server-srv1-example-com  192.168.56.101  yes        yes"),
        "{out}"
    );

    let (code, _, err) = setup.leader_as("nobody", &[], &[("CARBONIO_STANDIN_FAIL", "1")]);
    assert_eq!(code, 6);
    assert!(err.contains("`carbonio prov gas service-discover` failed (exit 2): ERROR: service.FAILURE (system failure: unable to connect to LDAP)"), "{err}");
}

#[test]
fn carbonio_runs_as_the_configured_user() {
    let setup = setup(SERVERS);
    // The real carbonio says so on standard output (the stand-in too): the warning quotes it
    // and names the option.
    let (code, _, err) = setup.leader_as("root", &[], &[]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("failed (exit 1): Please run as nobody user (it ran as root: --carbonio-user names the user it insists on)"),
        "{err}"
    );
}

#[test]
fn a_leader_missing_from_ldap_is_flagged() {
    let setup = setup("srv2.example.com\nsrv3.example.com\n");
    let (code, out, err) = setup.leader(&[]);
    assert_eq!(code, 6);
    // Named from the members like everywhere else (the leader is no listed Mesh server).
    assert!(
        out.starts_with("Leader: server-srv1-example-com (192.168.56.101:8300)\n"),
        "{out}"
    );
    assert!(
        out.contains("-                 server-srv1-example-com  192.168.56.101  yes        yes"),
        "{out}"
    );
    assert_eq!(
        err,
        "carbonio-mesh: warning: the leader 192.168.56.101:8300 is not among the Mesh servers LDAP lists\n"
    );
    let (code, _, err) = setup.leader(&["-q"]);
    assert_eq!((code, err.as_str()), (6, ""), "-q silences warnings");
}

#[test]
fn consul_down_exits_5() {
    let setup = setup(SERVERS);
    let url = setup.double.url();
    drop(setup.double);
    let (code, _, err) = run(setup
        .sandbox
        .cmd()
        .env("CONSUL_HTTP_ADDR", &url)
        .env("CARBONIO_STANDIN_SERVERS", &setup.servers)
        .env("CARBONIO_STANDIN_USER", "nobody")
        .arg("leader")
        .arg("--carbonio")
        .arg(&setup.carbonio.path)
        .args(["--carbonio-user", "nobody"]));
    assert_eq!(code, 5);
    assert!(
        err.contains(&format!("cannot reach Consul at {url}")),
        "{err}"
    );
}
