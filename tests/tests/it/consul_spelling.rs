//! Command lines pasted from Consul's documentation: `-name`, `-name=value`, `-name value` and
//! `-name=true|false` work as `--name...` does, on the plugins' options and the host's, and
//! nothing else changes meaning (`-v`, an option's value, the words after `--`).

use std::fs;

use carbonio_mesh_tests::{consul_fixture, run, ClusterSandbox, TOKEN};
use consul_double::{Cluster, Status};

fn setup(cluster: Cluster) -> ClusterSandbox {
    ClusterSandbox::new(cluster, &["members", "catalog", "force-leave", "services"])
}

/// `carbonio-mesh ARGS`, the agent and token given only in Consul's spelling, before the
/// command (`-token-file=FILE`) and after its first word (`-http-addr URL`).
fn spelled(setup: &ClusterSandbox, args: &[&str]) -> (i32, String, String) {
    let token = setup
        .sandbox
        .file_beside_root("token", &format!("{TOKEN}\n"));
    let mut cmd = setup.sandbox.cmd();
    cmd.arg(format!("-token-file={}", token.display()))
        .arg(args[0])
        .args(["-http-addr", &setup.double.url()])
        .args(&args[1..]);
    run(&mut cmd)
}

/// The fixture's own name is the Consul command line: `catalog_services_-node=X_-tags` is
/// `catalog services -node=X -tags`, and with `spaced`, `catalog services -node X -tags`.
fn consul_args(fixture_stem: &str, spaced: bool) -> Vec<String> {
    let mut parts = fixture_stem.split("_-");
    let mut args: Vec<String> = parts
        .next()
        .unwrap()
        .split('_')
        .map(str::to_owned)
        .collect();
    for flag in parts {
        match flag.split_once('=') {
            Some((name, value)) if spaced => args.extend([format!("-{name}"), value.to_owned()]),
            _ => args.push(format!("-{flag}")),
        }
    }
    args
}

#[test]
fn every_catalog_and_members_fixture_answers_consuls_spelling() {
    let setup = setup(Cluster::fixture());
    let mut checked = 0;
    for entry in fs::read_dir(consul_fixture("cli")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(stem) = name.strip_suffix(".stdout") else {
            continue;
        };
        if !(stem.starts_with("catalog_") || stem.starts_with("members")) || !stem.contains("_-") {
            continue;
        }
        for spaced in [false, true] {
            let args = consul_args(stem, spaced);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = spelled(&setup, &args);
            assert_eq!(
                (code, err.as_str()),
                (0, ""),
                "{name} (carbonio-mesh {args:?})"
            );
            assert_eq!(
                out,
                fs::read_to_string(&path).unwrap(),
                "{name} (carbonio-mesh {args:?})"
            );
            checked += 1;
        }
    }
    // members -detailed, -wan; catalog nodes -detailed, -service=; services -node=, -node= -tags,
    // -tags: each in both spellings.
    assert_eq!(checked, 14, "every fixture with a flag, both spellings");
}

#[test]
fn booleans_take_gos_true_and_false() {
    let setup = setup(Cluster::fixture());
    let detailed = fs::read_to_string(consul_fixture("cli/members_-detailed.stdout")).unwrap();
    let plain = fs::read_to_string(consul_fixture("cli/members.stdout")).unwrap();
    for (args, expected) in [
        (["members", "-detailed=true"], &detailed),
        (["members", "-detailed=1"], &detailed),
        (["members", "-detailed=false"], &plain),
    ] {
        let (code, out, err) = spelled(&setup, &args);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, expected.as_str(), ""),
            "{args:?}"
        );
    }
    let (code, _, err) = spelled(&setup, &["members", "-detailed=maybe"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("carbonio-mesh: error: unexpected value 'maybe' for '--detailed' found"),
        "{err}"
    );
}

#[test]
fn members_status_regex_in_consuls_spelling() {
    let setup = setup(Cluster::fixture_degraded());
    let ours = spelled(&setup, &["members", "--status", "failed"]);
    let (code, out, err) = spelled(&setup, &["members", "-status=failed"]);
    assert_eq!((code, out.clone(), err), ours);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(" failed "), "{out}");
}

#[test]
fn force_leave_prune_and_deregister_id_in_consuls_spelling() {
    let mut cluster = Cluster::fixture();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = Status::Failed;
    cluster.local_node = "agent-mail-example-com".into();
    let setup = setup(cluster);
    let (code, _, err) = spelled(
        &setup,
        &["-yes", "force-leave", "-prune", "agent-proxy-example-com"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(setup
        .double
        .cluster()
        .node("agent-proxy-example-com")
        .is_none());
    assert!(setup
        .double
        .requests()
        .contains(&"PUT /v1/agent/force-leave/agent-proxy-example-com?prune=1".to_owned()));

    let (code, out, err) = spelled(
        &setup,
        &["services", "deregister", "-id=carbonio-mailbox", "-yes"],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Deregistered service: carbonio-mailbox\n"),
        "{err}"
    );
}

#[test]
fn short_options_values_and_words_after_the_double_dash_keep_their_meaning() {
    let setup = setup(Cluster::fixture());
    // `-v` is still verbose: the plugin's debug line shows.
    let (code, _, err) = spelled(&setup, &["members", "-vv"]);
    assert_eq!(code, 0);
    assert!(err.contains("DEBUG"), "{err}");
    // A word after an option that takes a value is that value, never rewritten: clap then
    // refuses it as it always did (a value starting with `-` needs `--node=-x`), naming `-d`;
    // rewritten, it would have named `--detailed`.
    let (code, _, err) = spelled(&setup, &["catalog", "services", "--node", "-detailed"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("carbonio-mesh: error: unexpected argument '-d' found\n"),
        "{err}"
    );
    // After `--` every word is a positional value, as clap has it.
    let (code, _, err) = spelled(&setup, &["force-leave", "--", "-prune"]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.starts_with("Error force leaving: Unexpected response code: 500 (agent: No node found with name '-prune')"),
        "{err}"
    );
}

#[test]
fn an_unknown_option_is_named_whole_with_a_fix() {
    let setup = setup(Cluster::fixture());
    let (code, out, err) = spelled(&setup, &["catalog", "services", "-nope"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.starts_with(
            "carbonio-mesh: error: unexpected argument '--nope' found\n  fix: a similar argument exists: '--node'\n\nUsage: "
        ),
        "{err}"
    );
    // Consul's options this tool does not have are refused the same way, not misread.
    let (code, _, err) = spelled(&setup, &["catalog", "nodes", "-filter", "Node == x"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("carbonio-mesh: error: unexpected argument '--filter' found"),
        "{err}"
    );
}
