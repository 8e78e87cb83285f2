//! `services deregister`, `force-leave` and `reload` against the Consul double, watching the
//! double's state change (or not: its request log proves what was sent).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use carbonio_mesh_tests::{consul_fixture_at, run, ClusterSandbox, TOKEN};
use consul_double::{Cluster, Status, Token, Version};

/// A sandbox with the cluster-changing plugins against a double of `cluster`.
fn setup(cluster: Cluster) -> ClusterSandbox {
    ClusterSandbox::new(cluster, &["services", "force-leave", "reload"])
}

/// The fixture cluster seen from the mailbox node's agent, which runs carbonio-mailbox.
fn on_mailbox_node(version: Version) -> Cluster {
    let mut cluster = Cluster::fixture_at(version);
    cluster.local_node = "agent-mail-example-com".into();
    cluster
}

fn with_failed(node: &str, version: Version) -> Cluster {
    let mut cluster = Cluster::fixture_at(version);
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == node)
        .unwrap()
        .status = Status::Failed;
    cluster
}

fn deregister_removes_the_service_from_the_agent_and_the_catalog(version: Version) {
    let s = setup(on_mailbox_node(version));
    let (code, out, err) = run(s.cmd().args([
        "--yes",
        "services",
        "deregister",
        "--id",
        "carbonio-mailbox",
    ]));
    assert_eq!(
        (code, out.as_str()),
        (0, "Deregistered service: carbonio-mailbox\n"),
        "{err}"
    );
    assert!(!s
        .double
        .cluster()
        .services
        .iter()
        .any(|x| x.id == "carbonio-mailbox"));
    assert_eq!(
        s.puts(),
        ["PUT /v1/agent/service/deregister/carbonio-mailbox"]
    );
}

fn an_id_on_another_node_is_named_and_nothing_is_sent(version: Version) {
    let s = setup(Cluster::fixture_at(version)); // the agent of srv1
    let (code, _, err) = run(s.cmd().args([
        "--yes",
        "services",
        "deregister",
        "--id",
        "carbonio-mailbox",
    ]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("Error deregistering service \"carbonio-mailbox\": this agent has no service with that ID"), "{err}");
    assert!(
        err.contains("fix: it is registered on agent-mail-example-com: run `carbonio-mesh services deregister --id carbonio-mailbox` on that node")
            && !err.contains("--http-addr"),
        "{err}"
    );
    assert!(err.contains("Nothing was changed."), "{err}");
    let (code, _, err) = run(s
        .cmd()
        .args(["--yes", "services", "deregister", "--id", "nope"]));
    assert_eq!(code, 5);
    assert!(
        err.contains("  fix: no node in the catalog has it either"),
        "{err}"
    );
    assert!(s.puts().is_empty(), "{:?}", s.puts());
}

/// A second service of the fixture's mailbox node: name `carbonio-mta`, ID `carbonio-mta-1`.
fn add_mta(cluster: &mut Cluster, id: &str) {
    let mut mta = cluster
        .services
        .iter()
        .find(|x| x.id == "carbonio-mailbox")
        .unwrap()
        .clone();
    mta.id = id.into();
    mta.name = "carbonio-mta".into();
    mta.proxy_of = None;
    cluster.services.push(mta);
}

fn a_service_name_is_taken_for_its_one_id_and_the_ids_are_listed_otherwise(version: Version) {
    let mut cluster = on_mailbox_node(version);
    add_mta(&mut cluster, "carbonio-mta-1");
    let s = setup(cluster);
    // By name, on the node that has one service of that name.
    let (code, out, err) = run(s
        .cmd()
        .args(["--yes", "services", "deregister", "carbonio-mta"]));
    assert_eq!(
        (code, out.as_str()),
        (0, "Deregistered service: carbonio-mta-1\n"),
        "{err}"
    );
    assert!(
        err.contains("carbonio-mta is a service name: its one ID on this agent is carbonio-mta-1"),
        "{err}"
    );
    assert_eq!(
        s.puts(),
        ["PUT /v1/agent/service/deregister/carbonio-mta-1"]
    );
    // Two services of that name here: refused, both IDs listed.
    add_mta(&mut s.double.cluster(), "carbonio-mta-1");
    add_mta(&mut s.double.cluster(), "carbonio-mta-2");
    let (code, _, err) =
        run(s
            .cmd()
            .args(["--yes", "services", "deregister", "--id", "carbonio-mta"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("carbonio-mta is a service name with 2 IDs on this agent: carbonio-mta-1, carbonio-mta-2")
            && err.contains("services deregister --id carbonio-mta-1 --id carbonio-mta-2"),
        "{err}"
    );
    // From another node: the IDs the name has on each node.
    let mut cluster = Cluster::fixture_at(version);
    add_mta(&mut cluster, "carbonio-mta-1");
    let s = setup(cluster);
    let (code, _, err) = run(s
        .cmd()
        .args(["--yes", "services", "deregister", "carbonio-mta"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("fix: carbonio-mta is a service name, not an ID; its IDs: carbonio-mta-1 on agent-mail-example-com: run"),
        "{err}"
    );
    assert!(s.puts().is_empty(), "{:?}", s.puts());
}

fn without_write_rights_consul_says_permission_denied(version: Version) {
    let mut cluster = on_mailbox_node(version);
    cluster.tokens.push(Token {
        accessor: "read-only".into(),
        secret: "read-only-secret".into(),
        policies: vec![("read".into(), "read-only".into())],
        ..Cluster::fixture().tokens.remove(0)
    });
    let s = setup(cluster);
    let (code, out, err) = run(s
        .sandbox
        .cmd()
        .arg("--http-addr")
        .arg(s.double.url())
        .args([
            "--token",
            "read-only-secret",
            "--yes",
            "services",
            "deregister",
            "--id",
            "carbonio-mailbox",
        ]));
    assert_eq!(code, 5, "{out}{err}");
    // Consul's line as the agent's CLI prints it (its verb, the name `-id` leaves empty), then
    // the fix naming the ID and the right.
    let consul = match version {
        Version::V1_9_3 => "Error registering service \"\": Unexpected response code: 403 (Permission denied: Missing service:write on carbonio-mailbox)",
        _ => "Error deregistering service \"\": Unexpected response code: 403 (Permission denied: token with AccessorID 'read-only' lacks permission 'service:write' on \"carbonio-mailbox\")",
    };
    assert_eq!(
        err,
        format!("{consul}\n  fix: carbonio-mailbox needs a token with service:write on \"carbonio-mailbox\": give --token-file FILE\n")
    );
    let (code, _, err) = run(s
        .sandbox
        .cmd()
        .arg("--http-addr")
        .arg(s.double.url())
        .args([
            "--token",
            "read-only-secret",
            "--yes",
            "force-leave",
            "--failed",
        ]));
    assert_eq!(code, 0, "no failed member, nothing to do: {err}");
    let (code, _, err) = run(s
        .sandbox
        .cmd()
        .arg("--http-addr")
        .arg(s.double.url())
        .args(["--token", "read-only-secret", "--yes", "reload"]));
    assert_eq!(code, 5);
    let (denied, right) = match version {
        Version::V1_9_3 => ("Permission denied".to_owned(), "agent:write"),
        _ => (
            "Permission denied: token with AccessorID 'read-only' lacks permission 'agent:write' on \"agent-mail-example-com\"".to_owned(),
            "agent:write on \"agent-mail-example-com\"",
        ),
    };
    assert_eq!(
        err,
        format!("Error reloading: Unexpected response code: 403 ({denied})\n  fix: this needs a token with {right}: give --token-file FILE\n")
    );
}

fn force_leave_moves_a_failed_member_to_left_and_prune_removes_it(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, out, err) = run(s
        .cmd()
        .args(["--yes", "force-leave", "agent-proxy-example-com"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.status("agent-proxy-example-com"), Some(Status::Left));
    assert_eq!(
        out,
        "Node                     Before  After  Result\nagent-proxy-example-com  failed  left   ok\n"
    );
    let (code, _, err) =
        run(s
            .cmd()
            .args(["--yes", "force-leave", "--prune", "agent-proxy-example-com"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.status("agent-proxy-example-com"), None);
    assert!(s
        .puts()
        .contains(&"PUT /v1/agent/force-leave/agent-proxy-example-com?prune=1".to_owned()));
}

fn force_leave_takes_the_hostname_or_the_address_and_names_both(version: Version) {
    // No Carbonio server list here (no LDAP): the hostname's dashed form finds the node.
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, out, err) = run(s.cmd().args([
        "--yes",
        "--format",
        "json",
        "force-leave",
        "proxy.example.com",
    ]));
    assert_eq!(code, 0, "{err}");
    let outcome: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome[0]["node"], "agent-proxy-example-com", "{out}");
    assert_eq!(s.status("agent-proxy-example-com"), Some(Status::Left));
    assert_eq!(
        s.puts(),
        ["PUT /v1/agent/force-leave/agent-proxy-example-com"],
        "Consul is sent the node name, never the hostname"
    );
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, out, err) = run(s.cmd().args(["--yes", "force-leave", "192.168.56.111"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("agent-proxy-example-com  failed"), "{out}");
    // An alive node named by its hostname is refused naming the host to stop it on.
    let (code, _, err) = run(s.cmd().args(["--yes", "force-leave", "mail.example.com"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("agent-mail-example-com is alive"), "{err}");
}

/// A WAN name goes to Consul 1.11+ as it is (it looks in both pools); 1.9 and 1.10 look among
/// LAN members only, so it is refused before anything is sent, with Consul's words and the LAN
/// name that works (a server leaves the WAN pool with it).
fn a_wan_name_goes_to_consul_as_it_is(version: Version) {
    let mut cluster = with_failed("server-srv2-example-com", version);
    cluster.local_node = "server-srv1-example-com".into();
    let s = setup(cluster);
    let (code, out, err) =
        run(s
            .cmd()
            .args(["--yes", "force-leave", "server-srv2-example-com.dc1"]));
    if version == Version::V1_9_3 {
        assert_eq!(code, 5, "{out}{err}");
        assert_eq!(
            err,
            "Error force leaving: Unexpected response code: 500 (agent: No node found with name 'server-srv2-example-com.dc1')\n\
             \x20 fix: Consul 1.9.3 finds force-leave's node among LAN members only: give its LAN node name, server-srv2-example-com (a server leaves the WAN pool with it)\n"
        );
        assert!(s.puts().is_empty(), "{:?}", s.puts());
        let (code, _, err) =
            run(s
                .cmd()
                .args(["--yes", "force-leave", "--wan", "server-srv2-example-com"]));
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("--wan needs Consul 1.11 or later, and this agent runs 1.9.3"),
            "{err}"
        );
        return;
    }
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        s.puts(),
        ["PUT /v1/agent/force-leave/server-srv2-example-com.dc1"]
    );
    assert!(
        out.contains("server-srv2-example-com.dc1  failed  left"),
        "{out}"
    );
    // --wan: the WAN pool only, by the server's LAN name, its hostname or its WAN name.
    s.double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "server-srv2-example-com")
        .unwrap()
        .status = Status::Failed;
    let (code, out, err) =
        run(s
            .cmd()
            .args(["--yes", "force-leave", "--wan", "server-srv2-example-com"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        s.puts().last().map(String::as_str),
        Some("PUT /v1/agent/force-leave/server-srv2-example-com.dc1?wan=1")
    );
    s.double.cluster().local_node = "agent-mail-example-com".into();
    let (code, _, err) = run(s.cmd().args(["--yes", "force-leave", "--wan", "--failed"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Must be a server to force-leave a node from the WAN cluster"),
        "{err}"
    );
}

fn without_a_token_the_default_deny_policy_is_explained_and_nothing_is_sent(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    let anonymous = || {
        let mut cmd = s.sandbox.cmd();
        cmd.arg("--http-addr").arg(s.double.url()).arg("--yes");
        cmd
    };
    for args in [
        &["force-leave", "agent-proxy-example-com"][..],
        &["force-leave", "--failed"],
        &["services", "deregister", "--id", "consul"],
    ] {
        let (code, _, err) = run(anonymous().args(args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("no Consul token") && err.contains("--token-file"),
            "{err}"
        );
    }
    let (code, _, err) = run(anonymous().arg("reload"));
    assert_eq!(code, 5);
    let (denied, right) = match version {
        Version::V1_9_3 => ("Permission denied".to_owned(), "agent:write"),
        _ => (
            "Permission denied: anonymous token lacks permission 'agent:write' on \"server-srv1-example-com\". The anonymous token is used implicitly when a request does not specify a token.".to_owned(),
            "agent:write on \"server-srv1-example-com\"",
        ),
    };
    assert_eq!(
        err,
        format!("Error reloading: Unexpected response code: 403 ({denied})\n  fix: this needs a token with {right}: give --token-file FILE\n")
    );
    assert!(
        s.puts().iter().all(|p| p == "PUT /v1/agent/reload"),
        "{:?}",
        s.puts()
    );
}

fn an_alive_member_is_refused_unless_forced(version: Version) {
    let s = setup(Cluster::fixture_at(version));
    let (code, _, err) = run(s
        .cmd()
        .args(["--yes", "force-leave", "agent-mail-example-com"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("agent-mail-example-com is alive") && err.contains("rejoins"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(s.puts().is_empty());
    // Forced: sent, and (as on a real cluster) the alive node stays alive; reported, exit 5.
    let (code, out, _) = run(s.cmd().args([
        "--yes",
        "force-leave",
        "--force",
        "--wait",
        "0",
        "agent-mail-example-com",
    ]));
    assert_eq!(code, 5);
    assert!(out.contains("still alive after 0s"), "{out}");
    assert_eq!(s.puts().len(), 1);
}

fn an_unknown_node_gets_consuls_text_and_close_names(version: Version) {
    let s = setup(Cluster::fixture_at(version));
    let expected = std::fs::read_to_string(consul_fixture_at(
        version,
        "cli/force-leave_unknown_node.stderr",
    ))
    .unwrap();
    let (code, _, err) = run(s.cmd().args(["--yes", "force-leave", "nope.example.com"]));
    assert_eq!(code, 5);
    assert!(
        err.starts_with(&expected),
        "{err:?} should start with {expected:?}"
    );
    let (_, _, err) = run(s.cmd().args(["--yes", "force-leave", "srv4.example.com"]));
    assert!(
        err.ends_with("Did you mean: srv1.example.com, srv2.example.com, srv3.example.com?\n  fix: name a member `carbonio-mesh members` lists: its node name, Carbonio hostname (or its first label, when one node has it) or address\n"),
        "{err}"
    );
    // Answered in the form typed: a node name, a short hostname, an address.
    for (typed, close) in [
        ("server-srv4-example-com", "server-srv1-example-com"),
        ("srv4", "srv1"),
        ("192.168.56.10", "192.168.56.101"),
    ] {
        let (code, _, err) = run(s.cmd().args(["--yes", "force-leave", typed]));
        assert_eq!(code, 5, "{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("Did you mean: "))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains(close), "{typed}: {line}");
    }
    assert!(s.puts().is_empty());
}

fn force_leave_failed_cleans_every_failed_member(version: Version) {
    let s = setup(Cluster::generated(3, 97, 10).with_version(version));
    let failed_before = s
        .double
        .cluster()
        .nodes
        .iter()
        .filter(|n| n.status == Status::Failed)
        .count();
    assert_eq!(failed_before, 10);
    let (code, out, err) =
        run(s
            .cmd()
            .args(["--yes", "--format", "json", "force-leave", "--failed"]));
    assert_eq!(code, 0, "{err}");
    let outcomes: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcomes.as_array().unwrap().len(), 10);
    assert!(outcomes
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["after"] == "left" && o["result"] == "ok"));
    assert_eq!(s.count(Status::Failed), 0);
}

fn dry_run_sends_no_change_and_prints_the_plan(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, _, err) = run(s.cmd().args(["--dry-run", "force-leave", "--failed"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Dry run: nothing was changed")
            && err.contains("send PUT /v1/agent/force-leave/agent-proxy-example-com"),
        "{err}"
    );
    let s2 = setup(on_mailbox_node(version));
    let (code, _, err) = run(s2.cmd().args([
        "--dry-run",
        "services",
        "deregister",
        "--id",
        "carbonio-mailbox",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run(s2.cmd().args(["--dry-run", "reload"]));
    assert_eq!(code, 0);
    assert!(
        s.puts().is_empty() && s2.puts().is_empty(),
        "{:?} {:?}",
        s.puts(),
        s2.puts()
    );
    assert_eq!(s.status("agent-proxy-example-com"), Some(Status::Failed));
    assert!(s2
        .double
        .cluster()
        .services
        .iter()
        .any(|x| x.id == "carbonio-mailbox"));
}

fn without_a_terminal_or_yes_nothing_is_changed(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, _, err) = run(s.cmd().args(["force-leave", "agent-proxy-example-com"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("needs confirmation") && err.contains("--yes"),
        "{err}"
    );
    assert!(s.puts().is_empty());
}

fn reload_reports_success_and_consuls_config_error(version: Version) {
    let s = setup(Cluster::fixture_at(version));
    let (code, out, _) = run(s.cmd().args(["--yes", "reload"]));
    assert_eq!(
        (code, out.as_str()),
        (0, "Configuration reload triggered\n")
    );
    s.double.cluster().reload_error = Some(
        "Failed to parse /etc/zextras/service-discover/main.json: invalid character '}'".into(),
    );
    let (code, out, err) = run(s.cmd().args(["--yes", "reload"]));
    assert_eq!((code, out.as_str()), (5, ""));
    assert_eq!(err, "Error reloading: Unexpected response code: 500 (Failed to parse /etc/zextras/service-discover/main.json: invalid character '}')\n  fix: correct what Consul names above and reload again; until then the agent keeps its previous configuration\n");
}

fn consul_going_down_mid_way_reports_what_was_done(version: Version) {
    let mut cluster = Cluster::generated(3, 17, 4).with_version(version);
    // The agent's self, the members, then two force-leaves answered; then the connection breaks.
    cluster.answers_left = Some(4);
    let s = setup(cluster);
    let (code, out, err) = run(s.cmd().args([
        "--yes",
        "--format",
        "json",
        "force-leave",
        "--failed",
        "--wait",
        "1",
    ]));
    assert_eq!(code, 5, "{err}");
    let outcomes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(outcomes.len(), 4);
    let failed = outcomes
        .iter()
        .filter(|o| o["result"].as_str().unwrap().starts_with("failed"))
        .count();
    assert_eq!(failed, 2, "{outcomes:?}");
    assert!(err.contains("Error force leaving"), "{err}");
    assert_eq!(s.count(Status::Left), 2);
}

fn every_change_is_audited_to_the_journal(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    // A journald stand-in: the native protocol's datagram socket, under the root.
    let socket_path = s.sandbox.make_dir("/run/systemd/journal").join("socket");
    let journal = UnixDatagram::bind(&socket_path).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (code, _, err) = run(s
        .cmd()
        .args(["--yes", "force-leave", "agent-proxy-example-com"]));
    assert_eq!(code, 0, "{err}");
    let mut buffer = [0u8; 4096];
    let n = journal.recv(&mut buffer).unwrap();
    let entry = String::from_utf8_lossy(&buffer[..n]);
    for field in [
        "SYSLOG_IDENTIFIER=carbonio-mesh\n",
        "CARBONIO_MESH_ACTION=force-leave\n",
        "CARBONIO_MESH_TARGET=agent-proxy-example-com\n",
        "CARBONIO_MESH_RESULT=ok\n",
        "CARBONIO_MESH_PLUGIN=force-leave\n",
        "PRIORITY=5\n",
    ] {
        assert!(entry.contains(field), "{field} in {entry}");
    }
    assert!(entry.contains("CARBONIO_MESH_USER="), "{entry}");
    assert!(!entry.contains(TOKEN), "{entry}");
}

/// Runs `carbonio-mesh ARGS` on a real pseudo-terminal, answering its question with `answer`.
fn on_a_terminal(s: &ClusterSandbox, args: &str, answer: &str) -> (i32, String) {
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {} --token {TOKEN} {args}",
        carbonio_mesh_tests::binary().display(),
        s.sandbox.root().display(),
        s.sandbox.plugin_dir().display(),
        s.double.url()
    );
    carbonio_mesh_tests::on_a_terminal(&command, &[("[y/N] ", answer)])
}

fn on_a_terminal_it_lists_the_changes_and_asks(version: Version) {
    let s = setup(with_failed("agent-proxy-example-com", version));
    let (code, screen) = on_a_terminal(&s, "force-leave agent-proxy-example-com", "n\n");
    assert_eq!(code, 9, "a declined confirmation: {screen}");
    assert!(
        screen.contains("  - force-leave agent-proxy-example-com (now failed)"),
        "{screen}"
    );
    assert!(
        screen.contains("Force 1 member(s) to leave? [y/N]"),
        "{screen}"
    );
    assert!(screen.contains("Nothing changed."), "{screen}");
    assert!(s.puts().is_empty());
    let (code, screen) = on_a_terminal(&s, "force-leave agent-proxy-example-com", "y\n");
    assert_eq!(code, 0, "{screen}");
    assert_eq!(s.status("agent-proxy-example-com"), Some(Status::Left));
}

/// Every test above, against a cluster of Consul 1.9.3 agents and one of 1.21.4 agents.
macro_rules! on_both_versions {
    ($($test:ident),* $(,)?) => {
        mod consul_1_9_3 {
            $(#[test]
            fn $test() {
                super::$test(consul_double::Version::V1_9_3)
            })*
        }
        mod consul_1_21_4 {
            $(#[test]
            fn $test() {
                super::$test(consul_double::Version::V1_21_4)
            })*
        }
    };
}

on_both_versions!(
    deregister_removes_the_service_from_the_agent_and_the_catalog,
    a_service_name_is_taken_for_its_one_id_and_the_ids_are_listed_otherwise,
    an_id_on_another_node_is_named_and_nothing_is_sent,
    without_write_rights_consul_says_permission_denied,
    force_leave_moves_a_failed_member_to_left_and_prune_removes_it,
    force_leave_takes_the_hostname_or_the_address_and_names_both,
    a_wan_name_goes_to_consul_as_it_is,
    without_a_token_the_default_deny_policy_is_explained_and_nothing_is_sent,
    an_alive_member_is_refused_unless_forced,
    an_unknown_node_gets_consuls_text_and_close_names,
    force_leave_failed_cleans_every_failed_member,
    dry_run_sends_no_change_and_prints_the_plan,
    without_a_terminal_or_yes_nothing_is_changed,
    reload_reports_success_and_consuls_config_error,
    consul_going_down_mid_way_reports_what_was_done,
    every_change_is_audited_to_the_journal,
    on_a_terminal_it_lists_the_changes_and_asks,
);
