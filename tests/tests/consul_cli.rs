//! The read-only plugins against the Consul double: every `cli/catalog_*` and `cli/members*`
//! fixture reproduced byte for byte, empty results, errors and JSON.

use std::fs;

use carbonio_mesh_tests::{consul_fixture, run, Sandbox};
use consul_double::{Cluster, Double, Status};

const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";

struct Setup {
    sandbox: Sandbox,
    double: Double,
}

fn setup() -> Setup {
    let sandbox = Sandbox::new();
    for plugin in ["members", "catalog"] {
        sandbox.install_product(plugin);
    }
    Setup {
        sandbox,
        double: Double::start(Cluster::fixture()).unwrap(),
    }
}

impl Setup {
    fn mesh(&self, args: &[&str]) -> (i32, String, String) {
        run(self
            .sandbox
            .cmd()
            .env("CONSUL_HTTP_ADDR", self.double.url())
            .env("CONSUL_HTTP_TOKEN", TOKEN)
            .args(args))
    }
}

/// `catalog_services_-node=mail.example.com_-tags` -> `catalog services --node mail.example.com --tags`.
fn args_of(fixture_stem: &str) -> Vec<String> {
    let mut parts = fixture_stem.split("_-");
    let mut args: Vec<String> = parts
        .next()
        .unwrap()
        .split('_')
        .map(str::to_owned)
        .collect();
    for flag in parts {
        match flag.split_once('=') {
            Some((name, value)) => args.extend([format!("--{name}"), value.to_owned()]),
            None => args.push(format!("--{flag}")),
        }
    }
    args
}

#[test]
fn every_catalog_and_members_fixture_is_reproduced_exactly() {
    let setup = setup();
    let mut checked = 0;
    for entry in fs::read_dir(consul_fixture("cli")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".stdout") else {
            continue;
        };
        if !stem.starts_with("catalog_") && !stem.starts_with("members") {
            continue;
        }
        let args = if stem == "members_failed" {
            setup
                .double
                .cluster()
                .nodes
                .iter_mut()
                .find(|n| n.name == "proxy.example.com")
                .unwrap()
                .status = Status::Failed;
            vec!["members".to_owned()]
        } else {
            args_of(stem)
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = setup.mesh(&args);
        if stem == "members_failed" {
            setup
                .double
                .cluster()
                .nodes
                .iter_mut()
                .find(|n| n.name == "proxy.example.com")
                .unwrap()
                .status = Status::Alive;
        }
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(
            out,
            fs::read_to_string(&path).unwrap(),
            "{name} (carbonio-mesh {args:?})"
        );
        assert_eq!(err, "", "{name}");
        checked += 1;
    }
    assert_eq!(checked, 11, "every catalog and members fixture was checked");
}

#[test]
fn empty_results_print_consuls_message_and_exit_0() {
    let setup = setup();
    let (code, out, err) = setup.mesh(&["catalog", "services", "--node", "nope.example.com"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        "No services match the given query - try expanding your search.\n"
    );
    let (code, out, err) = setup.mesh(&["catalog", "nodes", "--service", "no-such-service"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        "No nodes match the given query - try expanding your search.\n"
    );
}

#[test]
fn members_with_no_match_exit_2_silently() {
    let setup = setup();
    let (code, out, err) = setup.mesh(&["members", "--status", "failed"]);
    assert_eq!((code, out.as_str(), err.as_str()), (2, "", ""));
    let (code, out, _) = setup.mesh(&["members", "--status", "fail|alive"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 6);
    let (code, _, err) = setup.mesh(&["members", "--status", "("]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--status \"(\" is not a regular expression"),
        "{err}"
    );
}

#[test]
fn json_output_has_stable_field_names() {
    let setup = setup();
    let (code, out, _) = setup.mesh(&["members", "--format", "json"]);
    assert_eq!(code, 0);
    let members: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &members[0];
    assert_eq!(first["name"], "srv1.example.com");
    assert_eq!(first["address"], "192.168.56.101:8301");
    assert_eq!(
        (first["status"].as_str(), first["type"].as_str()),
        (Some("alive"), Some("server"))
    );
    assert_eq!(
        (first["build"].as_str(), first["protocol"].as_str()),
        (Some("1.9.3"), Some("2"))
    );
    assert_eq!(
        (first["dc"].as_str(), first["segment"].as_str()),
        (Some("dc1"), Some("<all>"))
    );
    assert_eq!(first["tags"]["role"], "consul");

    let (_, out, _) = setup.mesh(&["catalog", "nodes", "--format", "json"]);
    let nodes: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(nodes[0]["name"], "mail.example.com");
    assert_eq!(nodes[0]["id"], "f1c36ec8-cfd8-a65b-ef16-945585b61781");
    assert_eq!(nodes[0]["meta"]["consul-network-segment"], "");
    let (_, out, _) = setup.mesh(&["catalog", "services", "--format", "json"]);
    let services: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        services[0],
        serde_json::json!({"name": "carbonio-mailbox", "tags": ["mailbox", "primary"]})
    );
}

#[test]
fn consul_errors_keep_consuls_text_and_say_what_to_do() {
    let setup = setup();
    let (code, _, err) = run(setup
        .sandbox
        .cmd()
        .env("CONSUL_HTTP_ADDR", setup.double.url())
        .env("CONSUL_HTTP_TOKEN", "wrong")
        .args(["members"]));
    assert_eq!(code, 5);
    assert!(
        err.contains("members: Consul answered 403: ACL not found"),
        "{err}"
    );
    assert!(
        err.contains("fix: the token from CONSUL_HTTP_TOKEN was not accepted"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "the token itself is never shown: {err}"
    );

    setup.double.cluster().leader = None;
    let (code, _, err) = setup.mesh(&["catalog", "nodes"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("Consul answered 500: No cluster leader") && err.contains("--stale"),
        "{err}"
    );
    let (code, out, _) = setup.mesh(&["catalog", "nodes", "--stale"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Node "), "{out}");

    let url = setup.double.url();
    drop(setup.double);
    let (code, _, err) = run(setup.sandbox.cmd().args(["members", "--http-addr", &url]));
    assert_eq!(code, 5);
    assert!(
        err.contains(&format!("cannot reach Consul at {url}")),
        "{err}"
    );
    assert!(
        err.contains("fix: is service-discover running on this node"),
        "{err}"
    );
}

#[test]
fn flags_beat_the_environment_and_the_token_file_is_read() {
    let setup = setup();
    let token_file = setup.sandbox.path("/token");
    fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (code, out, err) = run(setup
        .sandbox
        .cmd()
        .env("CONSUL_HTTP_ADDR", "http://127.0.0.1:1")
        .env("CONSUL_HTTP_TOKEN", "wrong")
        .args([
            "members",
            "-v",
            "--http-addr",
            &setup.double.url(),
            "--token-file",
        ])
        .arg(&token_file));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 6);
    assert!(err.contains("Consul token from --token-file"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}
