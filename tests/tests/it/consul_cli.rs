//! The read-only plugins against the Consul double: every `cli/catalog_*` and `cli/members*`
//! fixture of 1.9.3 and 1.21.4, and what a real 1.10.12 printed, reproduced byte for byte;
//! empty results, errors and JSON.

use std::fs;

use carbonio_mesh_tests::{consul_fixture, consul_fixture_at, run, ClusterSandbox, TOKEN};
use consul_double::{Cluster, Status, Version};

fn setup() -> ClusterSandbox {
    ClusterSandbox::new(Cluster::fixture(), &["members", "catalog"])
}

/// `catalog_services_-node=agent-mail-example-com_-tags` -> `catalog services --node agent-mail-example-com --tags`.
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

/// The `catalog` and `members` outputs of `version`'s `cli/`: (file name, stem, path).
fn cli_outputs(version: Version) -> Vec<(String, String, std::path::PathBuf)> {
    fs::read_dir(consul_fixture_at(version, "cli"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let stem = name.strip_suffix(".stdout")?.to_owned();
            (stem.starts_with("catalog_") || stem.starts_with("members"))
                .then_some((name, stem, path))
        })
        .collect()
}

#[test]
fn every_catalog_and_members_fixture_is_reproduced_exactly() {
    // What each version's consul prints; the fixture cluster on 1.9.3 and on 1.21.4.
    for version in [Version::V1_9_3, Version::V1_21_4] {
        let setup = setup();
        *setup.double.cluster() = Cluster::fixture_at(version);
        let mut checked = 0;
        for (name, stem, path) in cli_outputs(version) {
            // The degraded cluster's members: a failed, a left and an IPv6 member.
            let args = if stem == "members_degraded" {
                *setup.double.cluster() = Cluster::fixture_degraded().with_version(version);
                vec!["members".to_owned()]
            } else {
                args_of(&stem)
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = setup.run_env(&args);
            if stem == "members_degraded" {
                *setup.double.cluster() = Cluster::fixture_at(version);
            }
            assert_eq!(code, 0, "{version} {name}: {err}");
            assert_eq!(
                out,
                fs::read_to_string(&path).unwrap(),
                "{version} {name} (carbonio-mesh {args:?})"
            );
            assert_eq!(err, "", "{version} {name}");
            checked += 1;
        }
        assert_eq!(
            checked, 11,
            "{version}: every catalog and members fixture was checked"
        );
    }
}

/// What a real `consul` 1.10.12 printed (tests/fixtures/consul/1.10.12/cli), against the double
/// in the state the recorded cluster was in: the plugins print the same bytes.
#[test]
fn the_real_consul_1_10_12_output_is_reproduced() {
    const RECORDED_TOKEN: &str = "9db38395-8190-f21e-6ac9-292481a159f4";
    let proxy = "agent-proxy-example-com";
    let mut checked = 0;
    for (name, stem, path) in cli_outputs(Version::V1_10_12) {
        let mut cluster = Cluster::recorded_1_10_12();
        let (state, args) = match stem.rsplit_once('_') {
            Some((args, state @ ("failed" | "left" | "pruned"))) => (state, args),
            Some((_, "leader")) => ("no_leader", "members"),
            Some((_, "servers")) => ("no_servers", "members"),
            _ => ("", stem.as_str()),
        };
        match state {
            "failed" => cluster.set_status(proxy, Status::Failed),
            "left" => cluster.set_status(proxy, Status::Left),
            "pruned" => cluster.nodes.retain(|n| n.name != proxy),
            "no_leader" | "no_servers" => {
                cluster.nodes.retain(|n| n.name != proxy);
                cluster.leader = None;
                for server in ["server-srv1-example-com", "server-srv3-example-com"] {
                    cluster.set_status(server, Status::Failed);
                }
                cluster.local_node = "server-srv2-example-com".into();
                if state == "no_servers" {
                    cluster.set_status("server-srv2-example-com", Status::Failed);
                    cluster.local_node = "agent-mail-example-com".into();
                }
            }
            _ => {}
        }
        let setup = ClusterSandbox::new(cluster, &["members", "catalog"]);
        let args = args_of(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(setup
            .sandbox
            .cmd()
            .env("CONSUL_HTTP_ADDR", setup.double.url())
            .env("CONSUL_HTTP_TOKEN", RECORDED_TOKEN)
            .args(&args));
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(
            out,
            fs::read_to_string(&path).unwrap(),
            "{name} (carbonio-mesh {args:?})"
        );
        assert_eq!(err, "", "{name}");
        checked += 1;
    }
    assert_eq!(
        checked, 17,
        "every recorded catalog and members output was checked"
    );
}

#[test]
fn empty_results_print_consuls_message_and_exit_0() {
    let setup = setup();
    let (code, out, err) = setup.run_env(&["catalog", "services", "--node", "nope.example.com"]);
    assert_eq!((code, out.as_str()), (0, ""));
    // Consul's line, then which name matched no node.
    assert!(
        err.starts_with("No services match the given query - try expanding your search.\n"),
        "{err}"
    );
    assert!(
        err.contains("no node named 'nope.example.com' in the catalog"),
        "{err}"
    );
    let (code, out, err) = setup.run_env(&["catalog", "nodes", "--service", "no-such-service"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        "No nodes match the given query - try expanding your search.\n"
    );
}

#[test]
fn members_with_no_match_exit_2_silently() {
    let setup = setup();
    let (code, out, err) = setup.run_env(&["members", "--status", "failed"]);
    assert_eq!((code, out.as_str(), err.as_str()), (2, "", ""));
    let (code, out, _) = setup.run_env(&["members", "--status", "fail|alive"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 6);
    let (code, _, err) = setup.run_env(&["members", "--status", "("]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--status \"(\" is not a regular expression"),
        "{err}"
    );
}

#[test]
fn json_output_has_stable_field_names() {
    let setup = setup();
    let (code, out, _) = setup.run_env(&["members", "--format", "json"]);
    assert_eq!(code, 0);
    let members: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &members[0];
    assert_eq!(first["node"], "server-srv1-example-com");
    // No Carbonio server list here (no localconfig.xml): the hostname is unknown, not guessed.
    assert_eq!(first["host"], serde_json::Value::Null);
    assert_eq!(
        (&first["address"], &first["port"]),
        (
            &serde_json::json!("192.168.56.101"),
            &serde_json::json!(8301)
        )
    );
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

    let (_, out, _) = setup.run_env(&["catalog", "nodes", "--format", "json"]);
    let nodes: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(nodes[0]["node"], "agent-mail-example-com");
    assert_eq!(nodes[0]["address"], "192.168.56.110");
    assert_eq!(nodes[0]["host"], serde_json::Value::Null);
    assert_eq!(nodes[0]["id"], "f1c36ec8-cfd8-a65b-ef16-945585b61781");
    assert_eq!(nodes[0]["meta"]["consul-network-segment"], "");
    let (_, out, _) = setup.run_env(&["catalog", "services", "--format", "json"]);
    let services: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        services[0],
        serde_json::json!({"name": "carbonio-mailbox", "tags": ["mailbox", "primary"]})
    );
}

#[test]
fn catalog_services_takes_a_node_id_prefix_a_hostname_or_an_address() {
    let setup = setup();
    let expected = fs::read_to_string(consul_fixture(
        "cli/catalog_services_-node=agent-mail-example-com.stdout",
    ))
    .unwrap();
    // `catalog nodes` prints the ID prefix f1c36ec8; the seeds pass it to -node.
    for node in ["f1c36ec8", "mail.example.com", "192.168.56.110"] {
        let (code, out, err) = setup.run_env(&["catalog", "services", "--node", node]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, expected.as_str(), ""),
            "{node}"
        );
    }
}

#[test]
fn catalog_near_and_node_meta_reach_consul_and_shape_the_answer() {
    let setup = setup();
    {
        let mut cluster = setup.double.cluster();
        let coordinate = |x: f64| consul_double::Coordinate {
            vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            height: 0.0001,
            adjustment: 0.0,
        };
        for (name, x) in [
            ("server-srv1-example-com", 0.0),
            ("server-srv2-example-com", 0.009),
            ("agent-mail-example-com", 0.001),
            ("agent-proxy-example-com", 0.004),
        ] {
            let node = cluster.nodes.iter_mut().find(|n| n.name == name).unwrap();
            node.coordinate = Some(coordinate(x));
        }
        let mail = cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "agent-mail-example-com")
            .unwrap();
        mail.meta.insert("site".into(), "milan".into());
    }
    let (code, out, err) =
        setup.run_env(&["catalog", "nodes", "--near", "server-srv1-example-com"]);
    assert_eq!(code, 0, "{err}");
    let order: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "server-srv1-example-com",
            "agent-mail-example-com",
            "agent-proxy-example-com",
            "server-srv2-example-com",
            "server-srv3-example-com"
        ],
        "by distance, the node without a coordinate last"
    );
    let (code, out, err) = setup.run_env(&["catalog", "nodes", "--node-meta", "site=milan"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Node                    ID        Address         DC\nagent-mail-example-com  f1c36ec8  192.168.56.110  dc1\n"
    );
    let (code, out, err) = setup.run_env(&["catalog", "services", "--node-meta", "site=rome"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        err,
        "No services match the given query - try expanding your search.\n"
    );
    let (code, out, _) = setup.run_env(&["catalog", "services", "--node-meta", "site=milan"]);
    assert_eq!(code, 0);
    assert_eq!(out, "carbonio-mailbox\ncarbonio-mailbox-sidecar-proxy\n");
    let (code, _, err) = setup.run_env(&["catalog", "nodes", "--node-meta", "site"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--node-meta site: give KEY=VALUE"), "{err}");
    let sent = setup.double.requests();
    assert!(
        sent.iter()
            .any(|r| r.contains("node-meta=site%3Amilan") || r.contains("node-meta=site:milan")),
        "{sent:?}"
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
    let (code, _, err) = setup.run_env(&["catalog", "nodes"]);
    assert_eq!(code, 5);
    assert!(
        err.contains("Consul answered 500: No cluster leader") && err.contains("--stale"),
        "{err}"
    );
    let (code, out, _) = setup.run_env(&["catalog", "nodes", "--stale"]);
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

/// A cell that is not ASCII (Consul allows such node names, warning they are not DNS names):
/// up to 1.11 columnize measures bytes, so its row is padded wider; from 1.12 characters. Only
/// then does the catalog plugin ask the agent which Consul it runs.
#[test]
fn non_ascii_cells_are_padded_as_the_agents_columnize_pads_them() {
    let setup = setup();
    for (version, padding) in [(Version::V1_9_3, "   "), (Version::V1_21_4, "  ")] {
        let mut cluster = Cluster::fixture_at(version);
        let mail = cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "agent-mail-example-com")
            .unwrap();
        mail.name = "agent-città-centrale-example-com".into();
        *setup.double.cluster() = cluster;
        let (code, out, err) = setup.run_env(&["catalog", "nodes"]);
        assert_eq!((code, err.as_str()), (0, ""));
        // The widest name: 32 characters, 33 bytes.
        assert_eq!(
            out.lines().nth(1).unwrap(),
            format!("agent-città-centrale-example-com{padding}f1c36ec8  192.168.56.110  dc1"),
            "{version}"
        );
    }
}
