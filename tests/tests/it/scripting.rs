//! What admins and scripts see around a command's answer (issue 16): the warning when Consul
//! answered an anonymous read under default-deny, one JSON document on standard output for
//! every outcome with `--format json`, `-q`, the exit code of a declined confirmation, progress
//! on a terminal, and an agent that accepts connections and never answers.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use carbonio_mesh_tests::{
    binary, on_a_terminal, planned_steps, run, stand_in, ClusterSandbox, MeshLeader, Sandbox,
    StandInBin, STAND_IN_ENV, TOKEN,
};
use consul_double::{Cluster, Double, Status};

const WARNING: &str = "carbonio-mesh: warning: no Consul token: under Carbonio's default-deny ACLs, anonymous requests do not see";

fn setup(plugins: &[&str]) -> ClusterSandbox {
    ClusterSandbox::new(Cluster::fixture(), plugins)
}

/// Standard output as one JSON document (the whole of it, nothing before or after).
fn document(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out:?}"))
}

#[test]
fn an_anonymous_read_under_default_deny_is_flagged_on_stderr_and_stdout_stays_consuls() {
    let s = setup(&["members", "catalog"]);
    // What Consul's CLI prints (nothing for members, exit 2; its message for catalog, exit 0),
    // and after it our warning with the fix.
    let (code, out, err) = s.run_anonymous(&["members"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.starts_with(WARNING), "{err}");
    assert!(err.contains("the members"), "{err}");
    assert!(
        err.contains("\n  fix: give a token with node:read: --token-file FILE"),
        "{err}"
    );

    let (code, out, err) = s.run_anonymous(&["catalog", "nodes"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(
        err.starts_with("No nodes match the given query - try expanding your search.\n"),
        "{err}"
    );
    assert!(err.contains(WARNING), "{err}");
    let (_, _, err) = s.run_anonymous(&["catalog", "services"]);
    assert!(
        err.contains(WARNING) && err.contains("service:read"),
        "{err}"
    );

    // -q leaves the warning out; with a token there is nothing to warn about.
    let (code, _, err) = s.run_anonymous(&["-q", "members"]);
    assert_eq!((code, err.as_str()), (2, ""));
    let (code, out, err) = s.run(&["members"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Node "), "{out}");
    assert_eq!(err, "");
    let (_, _, err) = s.run(&["catalog", "nodes"]);
    assert_eq!(err, "");
}

#[test]
fn with_format_json_no_match_a_dry_run_and_an_unknown_node_are_documents() {
    let s = setup(&["members", "force-leave", "reload"]);

    // No member failed: Consul's exit 2, and still a document.
    let (code, out, err) = s.run(&["members", "--status", "failed", "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(document(&out), serde_json::json!([]));

    let (code, out, err) = s.run(&["--dry-run", "reload", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        document(&out),
        serde_json::json!({
            "dry_run": true,
            "changes": ["send PUT /v1/agent/reload to Consul"],
        }),
        "{err}"
    );

    let (code, out, err) = s.run(&["--yes", "force-leave", "agent-nosuch", "--format", "json"]);
    assert_eq!(code, 5, "{err}");
    let error = &document(&out)["error"];
    assert!(
        error["message"].as_str().unwrap().contains(
            "Unexpected response code: 500 (agent: No node found with name 'agent-nosuch')"
        ),
        "{out}"
    );
    assert!(error["fix"].is_string(), "{out}");
    assert_eq!(error["exit_code"], 5, "{out}");
    // The human message is still on standard error.
    assert!(err.contains("carbonio-mesh: error: "), "{err}");
    // A host error is the same document: here an unknown command, --format given before it.
    let (code, out, _) = run(s.sandbox.cmd().args(["--format", "json", "nosuch"]));
    assert_eq!(code, 2);
    let error = &document(&out)["error"];
    assert_eq!(error["exit_code"], 2, "{out}");
    assert_eq!(
        error["message"], "'nosuch' is not a carbonio-mesh command",
        "{out}"
    );
    // Humans keep Consul's own words.
    let (code, out, err) = s.run(&["--yes", "force-leave", "agent-nosuch"]);
    assert_eq!((code, out.as_str()), (5, ""));
    assert!(
        err.starts_with("Error force leaving: Unexpected response code: 500 (agent: No node found with name 'agent-nosuch')\n"),
        "{err}"
    );
}

#[test]
fn with_format_json_a_usage_error_clap_finds_is_a_document_too() {
    let s = setup(&["members", "catalog"]);
    // An unknown flag at the plugin's level, --format given before the plugin name.
    let (code, out, err) = s.run(&["--format", "json", "catalog", "services", "--nope"]);
    assert_eq!(code, 2, "{err}");
    let error = &document(&out)["error"];
    assert_eq!(
        error["message"], "unexpected argument '--nope' found",
        "{out}"
    );
    assert_eq!(error["exit_code"], 2, "{out}");
    // clap's tip is the fix; the human message and the usage stay on standard error.
    assert!(error["fix"].as_str().unwrap().contains("'--node'"), "{out}");
    assert!(
        err.starts_with("carbonio-mesh: error: unexpected argument '--nope' found\n  fix: "),
        "{err}"
    );
    assert!(
        err.contains("Usage: carbonio-mesh catalog services"),
        "{err}"
    );

    // A bad value, --format=json after the plugin name; no tip: the fix is null.
    let (code, out, err) = s.run(&["members", "--format=json", "--status"]);
    assert_eq!(code, 2, "{err}");
    let error = &document(&out)["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'--status <REGEX>'"),
        "{out}"
    );
    assert_eq!(error["fix"], serde_json::Value::Null, "{out}");

    // At the host's own level (before any plugin is loaded), and a bad --format value itself.
    let (code, out, _) = run(s
        .sandbox
        .cmd()
        .args(["--nope", "--format", "json", "members"]));
    assert_eq!(code, 2);
    assert_eq!(document(&out)["error"]["exit_code"], 2, "{out}");

    // No command at all: the usage error document, the help left to humans.
    let (code, out, err) = run(s.sandbox.cmd().args(["--format", "json"]));
    assert_eq!(code, 2, "{err}");
    let error = &document(&out)["error"];
    assert_eq!(error["message"], "no command given", "{out}");
    assert!(
        error["fix"]
            .as_str()
            .unwrap()
            .starts_with("name one: `carbonio-mesh --help`"),
        "{out}"
    );
    let (code, out, err) = run(&mut s.sandbox.cmd());
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("Usage: carbonio-mesh [OPTIONS] [COMMAND]"),
        "{err}"
    );

    // The last --format wins; words after `--` are not options; without JSON stdout stays empty.
    for args in [
        &["--format", "json", "members", "--format", "human", "--nope"][..],
        &["members", "--nope", "--", "--format", "json"][..],
        &["members", "--format", "yaml"][..],
    ] {
        let (code, out, err) = s.run(args);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(err.starts_with("carbonio-mesh: error: "), "{err}");
    }
}

#[test]
fn a_missing_ca_certificate_is_a_usage_error_naming_the_variable() {
    let s = setup(&["members"]);
    let missing = s.sandbox.root().join("no-such-ca.pem");
    for format in ["human", "json"] {
        let (code, out, err) = run(s.sandbox.cmd().env("CONSUL_CACERT", &missing).args([
            "--http-addr",
            &s.double.url(),
            "members",
            "--format",
            format,
        ]));
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!(
                "CONSUL_CACERT={}: cannot read it",
                missing.display()
            )),
            "{err}"
        );
        assert!(
            err.contains("fix: set CONSUL_CACERT to the PEM file"),
            "{err}"
        );
        assert!(!err.contains("refused"), "{err}");
        if format == "json" {
            let error = &document(&out)["error"];
            assert_eq!(error["exit_code"], 2, "{out}");
            assert!(
                error["fix"].as_str().unwrap().contains("CONSUL_CACERT"),
                "{out}"
            );
        } else {
            assert_eq!(out, "");
        }
    }
}

#[test]
fn leader_q_prints_no_warning() {
    let s = setup(&["leader"]);
    let carbonio = stand_in("carbonio");
    let leader = |extra: &[&str]| {
        run(s
            .sandbox
            .cmd()
            .env("CONSUL_HTTP_ADDR", s.double.url())
            .env("CARBONIO_STANDIN_USER", "nobody")
            .arg("leader")
            .arg("--carbonio")
            .arg(&carbonio.path)
            .args(["--carbonio-user", "nobody"])
            .env("CARBONIO_STANDIN_FAIL", "1")
            .args(extra))
    };
    let (code, _, err) = leader(&[]);
    assert_eq!(code, 6, "{err}");
    assert!(err.starts_with("carbonio-mesh: warning: "), "{err}");
    // -q: neither the warning nor the report (issue 25 item 6); the exit status answers.
    let (code, out, err) = leader(&["-q"]);
    assert_eq!(code, 6, "{err}");
    assert_eq!(out, "");
    assert_eq!(err, "");
}

#[test]
fn a_declined_confirmation_exits_9_and_says_so_in_json() {
    let s = setup(&["reload"]);
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {} --token {TOKEN} reload --format json",
        binary().display(),
        s.sandbox.root().display(),
        s.sandbox.plugin_dir().display(),
        s.double.url()
    );
    let (code, screen) = on_a_terminal(&command, &[("[y/N] ", "n\n")]);
    assert_eq!(code, 9, "{screen}");
    assert!(screen.contains("\"declined\": true"), "{screen}");
    assert!(screen.contains("Nothing changed."), "{screen}");
    assert!(
        !s.double.requests().iter().any(|r| r.starts_with("PUT ")),
        "{:?}",
        s.double.requests()
    );
}

/// An agent that accepts connections and never answers (a stuck Consul): the listener is kept,
/// and whatever connects waits forever.
fn stuck_agent() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[test]
fn an_agent_that_never_answers_fails_within_15_s_naming_the_timeout() {
    let s = setup(&["members"]);
    let (_listener, url) = stuck_agent();
    let started = Instant::now();
    let (code, out, err) = run(s.sandbox.cmd().args(["--http-addr", &url, "members"]));
    let took = started.elapsed();
    assert_eq!((code, out.as_str()), (5, ""), "{err}");
    assert!(
        err.contains(&format!(
            "Consul at {url} accepted the connection but did not answer /v1/agent/members within 10 s (the timeout)"
        )),
        "{err}"
    );
    assert!(err.contains("--timeout SECONDS"), "{err}");
    // Not 90 s (30 s x 3 tries): one wait of the default timeout. A loose bound: this is a
    // behaviour check, timings belong to benchmarks.
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let started = Instant::now();
    let (code, _, err) =
        run(s
            .sandbox
            .cmd()
            .args(["--http-addr", &url, "--timeout", "1", "members"]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("within 1 s (the timeout)"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn on_a_terminal_consul_connection_retries_are_shown() {
    let s = setup(&["members"]);
    // A port nothing listens on: the connection is refused at once, every time.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {url} members",
        binary().display(),
        s.sandbox.root().display(),
        s.sandbox.plugin_dir().display(),
    );
    let (code, screen) = on_a_terminal(&command, &[]);
    assert_eq!(code, 5, "{screen}");
    for attempt in 1..=2 {
        assert!(
            screen.contains(&format!(
                "carbonio-mesh: Consul at {url} did not accept the connection (attempt {attempt} of 3); trying again"
            )),
            "{screen}"
        );
    }
    assert!(
        screen.contains(&format!("cannot reach Consul at {url}")),
        "{screen}"
    );
    // Not on a pipe: scripts' standard error is as it was.
    let (code, _, err) = run(s.sandbox.cmd().args(["--http-addr", &url, "members"]));
    assert_eq!(code, 5);
    assert!(!err.contains("trying again"), "{err}");
}

/// A Mesh leader under a sandbox root, as the secret tests set it up: the service-discover
/// stand-in made it against the double, whose leader is at this machine's address.
fn mesh_leader(password: &str) -> (Sandbox, Double, StandInBin) {
    let leader = MeshLeader::new(password);
    (leader.sandbox, leader.double, leader.bin)
}

#[test]
fn on_a_terminal_secret_regenerate_shows_each_step_as_it_starts_and_ends() {
    let (sandbox, double, bin) = mesh_leader("old-Mesh-password-1");
    let password = sandbox.file_beside_root("new-password", "new-Mesh-password-2\n");
    let base = format!(
        "env PATH={} SERVICE_DISCOVER_STANDIN_ROOT={} CARBONIO_MESH_CHILD_ENV='{STAND_IN_ENV}' \
         CONSUL_HTTP_ADDR={} {} --root {} --plugin-dir {}",
        bin.search_path(),
        sandbox.root().display(),
        double.url(),
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
    );
    let (code, screen) = on_a_terminal(
        &format!(
            "{base} --yes secret regenerate --password-file {}",
            password.display()
        ),
        &[],
    );
    assert_eq!(code, 0, "{screen}");
    // Each step's start comes before its end, and the end before the next step's start.
    let mut from = 0;
    // Every step up to the first this run skips (no LDAP here, no --revoke-old-token, no
    // --nodes), with its number out of all the plan's steps.
    let steps = planned_steps(sandbox.cmd(), false);
    let total = steps.len();
    let runs = steps
        .iter()
        .position(|s| s == "check-ldap-copy")
        .expect("the plan checks LDAP's copy");
    for (number, step) in steps[..runs].iter().enumerate() {
        for line in [
            format!("carbonio-mesh: step {}/{total} {step} ...", number + 1),
            format!("carbonio-mesh: step {}/{total} {step} ok (", number + 1),
        ] {
            let at = screen[from..]
                .find(&line)
                .unwrap_or_else(|| panic!("no {line:?} after byte {from}: {screen}"));
            from += at + line.len();
        }
    }
    // The step table comes after the progress lines (it is the answer).
    assert!(screen[from..].contains("Run: "), "{screen}");
}

#[test]
fn progress_lines_stay_off_a_pipe_and_off_a_terminal_under_q() {
    let (sandbox, double, bin) = mesh_leader("old-Mesh-password-1");
    let (code, _, err) = run(sandbox
        .cmd()
        .env("PATH", bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", sandbox.root())
        .env("CONSUL_HTTP_ADDR", double.url())
        .args(["--dry-run", "secret", "regenerate", "--generate"]));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("step 1/12"), "{err}");
    let command = format!(
        "env PATH={} CONSUL_HTTP_ADDR={} {} --root {} --plugin-dir {} -q --dry-run secret regenerate --generate",
        bin.search_path(),
        double.url(),
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
    );
    let (code, screen) = on_a_terminal(&command, &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("step 1/12"), "{screen}");
}

#[test]
fn on_a_terminal_force_leave_says_what_it_waits_for() {
    let mut cluster = Cluster::fixture();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = Status::Failed;
    let sandbox = Sandbox::new();
    sandbox.install_product("force-leave");
    let double = Double::start(cluster).unwrap();
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {} --token {TOKEN} --yes force-leave agent-proxy-example-com --wait 20",
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
        double.url()
    );
    let (code, screen) = on_a_terminal(&command, &[]);
    assert_eq!(code, 0, "{screen}");
    let waiting = screen
        .find("carbonio-mesh: waiting up to 20 s for the member list to show agent-proxy-example-com as left")
        .unwrap_or_else(|| panic!("{screen}"));
    let seen = screen
        .find("carbonio-mesh: the member list shows the change")
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(waiting < seen, "{screen}");
}
