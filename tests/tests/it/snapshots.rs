//! What admins see, pinned: the tool's own human output (tables, plans, dry-run plans, errors
//! with their fixes, help), so that every change to it shows in the diff of
//! `tests/tests/it/snapshots/it__snapshots__*.snap`. Review a change with `cargo insta review` (or rerun with
//! `INSTA_UPDATE=always` and read the diff). Output that mirrors Consul is pinned byte for byte by
//! the recorded fixtures instead (tests/tests/it/consul_cli.rs).
//!
//! Filters (`carbonio_mesh_tests::snapshot`, shared with every snapshot test) replace what changes
//! from run to run: the sandbox and build paths, run IDs, backup directory names, this machine's
//! address, dates, the Consul double's port and token IDs (and, where a test needs it, a
//! stand-in's path or a size that random content decides). A table with such a value in a column
//! is compared by its cells (`by_cells`), not its padding.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use carbonio_mesh_tests::snapshot::{by_cells, filtered, regex_escape, session};
use carbonio_mesh_tests::{
    first_mesh_server, run, stand_in, ClusterSandbox, MeshLeader, Sandbox, TOKEN,
};
use consul_double::{Cluster, Double, Status, Version};

const OLD_PASSWORD: &str = "old-snapshot-password";
const NEW_PASSWORD: &str = "new-snapshot-password";

#[test]
fn secret_plan_and_a_dry_run_of_the_whole_cluster() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let password = password.display().to_string();
    // The nodes answer setup's checks as healthy nodes do (the dry run asks them).
    let ssh = ssh_node_beside(&leader.sandbox);
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [{:?}, \"root@{{host}}\", \"carbonio-mesh\", \"--yes\", \"secret\", \"rejoin\", \"--input-stdin\"]\npassword_stdin = true\n",
            ssh.display().to_string()
        ),
    );
    filtered(&leader.sandbox, || {
        let args = ["secret", "plan"];
        // Its "From" column is as wide as this machine's plugin path, header included.
        by_cells(|| {
            insta::assert_snapshot!("secret_plan", session(&args, run(leader.cmd().args(args))));
        });
        let args = [
            "--dry-run",
            "secret",
            "regenerate",
            "--nodes",
            "all",
            "--password-file",
            &password,
        ];
        insta::assert_snapshot!(
            "secret_regenerate_dry_run_nodes_all",
            session(&args, run(leader.cmd().args(args)))
        );
    });
}

#[test]
fn a_plan_the_configuration_breaks_and_a_site_step_added() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    leader.sandbox.install_product("site-example");
    filtered(&leader.sandbox, || {
        let args = ["secret", "plan"];
        leader.config(
            "40-site.toml",
            "# our own leader check\n[steps.check-on-leader]\nexec = [\"/usr/local/sbin/leader-check\"]\n",
        );
        insta::assert_snapshot!(
            "secret_plan_missing_fact",
            session(&args, run(leader.cmd().args(args)))
        );
        leader.config(
            "40-site.toml",
            "[steps.announce]\nplugin = \"site-example\"\n",
        );
        by_cells(|| {
            insta::assert_snapshot!(
                "secret_plan_with_a_site_step",
                session(&args, run(leader.cmd().args(args)))
            );
        });
    });
}

/// The `ssh-node` stand-in (tests/stand-ins) beside the sandbox's root, where the filters name
/// its path `[SANDBOX]/ssh-node`.
fn ssh_node_beside(sandbox: &Sandbox) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stand-ins/ssh-node");
    let path = sandbox.file_beside_root("ssh-node", &fs::read_to_string(source).unwrap());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_failed_node_and_the_way_back() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let password = password.display().to_string();
    // One node goes down after setup's checks passed: it answers its setup as an unreachable
    // host does; the others are set up.
    let ssh = ssh_node_beside(&leader.sandbox);
    leader.config(
        "50-transport.toml",
        &format!(
            "[steps.transport]\nexec = [{:?}, \"--down-after-checks=192.168.56.111\", \"root@{{host}}\", \"carbonio-mesh\", \"--yes\", \"secret\", \"rejoin\", \"--input-stdin\"]\npassword_stdin = true\n",
            ssh.display().to_string()
        ),
    );
    filtered(&leader.sandbox, || {
        let args = [
            "--yes",
            "secret",
            "regenerate",
            "--nodes",
            "all",
            "--password-file",
            &password,
        ];
        let regenerated = run(leader.cmd().args(args));
        let run_id = regenerated
            .1
            .lines()
            .find_map(|l| l.strip_prefix("Run: "))
            .unwrap_or_else(|| panic!("no run name in {regenerated:?}"))
            .to_owned();
        insta::assert_snapshot!(
            "secret_regenerate_one_node_unreachable",
            session(&args, regenerated)
        );
        let args = ["secret", "runs"];
        insta::assert_snapshot!("secret_runs", session(&args, run(leader.cmd().args(args))));
        // The failed run as `secret show` tells it (its Detail and Backup columns hold filtered
        // addresses and backup names), and what pruning it would remove.
        by_cells(|| {
            let args = ["secret", "show", &run_id];
            insta::assert_snapshot!(
                "secret_show_failed_run",
                session(&args, run(leader.cmd().args(args)))
            );
        });
        let args = [
            "--dry-run",
            "secret",
            "prune",
            "--keep",
            "0",
            "--include-unfinished",
        ];
        insta::assert_snapshot!(
            "secret_prune_dry_run",
            session(&args, run(leader.cmd().args(args)))
        );
    });
}

#[test]
fn cluster_changes_plans_and_errors() {
    let cluster = ClusterSandbox::new(
        Cluster::fixture_degraded(),
        &["force-leave", "services", "reload", "members", "catalog"],
    );
    filtered(&cluster.sandbox, || {
        for (name, args) in [
            (
                "force_leave_dry_run_failed",
                &["--dry-run", "force-leave", "--failed"][..],
            ),
            (
                "force_leave_by_hostname",
                &["--yes", "force-leave", "proxy.example.com"],
            ),
            (
                "force_leave_alive",
                &["--yes", "force-leave", "mail.example.com"],
            ),
            (
                "force_leave_unknown",
                &["--yes", "force-leave", "srv4.example.com"],
            ),
            (
                "services_deregister_elsewhere",
                &[
                    "--yes",
                    "services",
                    "deregister",
                    "--id",
                    "carbonio-mailbox",
                ],
            ),
            ("reload_dry_run", &["--dry-run", "reload"]),
            ("usage_error", &["catalog", "services", "--nope"]),
        ] {
            insta::assert_snapshot!(name, session(args, cluster.run(args)));
        }
    });
    assert_eq!(
        cluster
            .double
            .cluster()
            .node("agent-proxy-example-com")
            .map(|n| n.status),
        Some(Status::Left)
    );
}

/// The members table of each Consul Carbonio ships (the fixture files pin them byte for byte;
/// here the whole session, warnings included), an agent of a version carbonio-mesh does not
/// know, and a force-leave each version answers differently.
#[test]
fn members_and_force_leave_as_each_consul_version_does_them() {
    let cluster = ClusterSandbox::new(Cluster::fixture_degraded(), &["force-leave", "members"]);
    filtered(&cluster.sandbox, || {
        for (version, suffix) in [(Version::V1_9_3, "1_9_3"), (Version::V1_21_4, "1_21_4")] {
            *cluster.double.cluster() = Cluster::fixture_degraded().with_version(version);
            for (name, args) in [
                ("members", &["members"][..]),
                ("members_detailed", &["members", "--detailed"]),
                (
                    "force_leave_wan_name",
                    &[
                        "--dry-run",
                        "force-leave",
                        "server-srv2-example-com.dc1",
                        "--force",
                    ],
                ),
            ] {
                insta::assert_snapshot!(
                    format!("{name}_{suffix}"),
                    session(args, cluster.run(args))
                );
            }
        }
        // Every agent says 1.17.3: a version carbonio-mesh was not checked against.
        let mut unknown = Cluster::fixture_degraded().with_version(Version::V1_19_1);
        let names: Vec<String> = unknown.nodes.iter().map(|n| n.name.clone()).collect();
        for name in names {
            unknown
                .member_tags
                .insert(name, [("build".to_owned(), "1.17.3:".to_owned())].into());
        }
        *cluster.double.cluster() = unknown;
        let args = ["members", "--status", "alive"];
        insta::assert_snapshot!(
            "members_unknown_version",
            session(&args, cluster.run(&args))
        );
    });
}

#[test]
fn help_of_the_commands_admins_run_most() {
    let sandbox = Sandbox::new();
    sandbox.install_all_products();
    filtered(&sandbox, || {
        for (name, args) in [
            ("help_top", &["--help"][..]),
            (
                "help_secret_regenerate",
                &["secret", "regenerate", "--help"],
            ),
            ("help_force_leave", &["force-leave", "--help"]),
        ] {
            insta::assert_snapshot!(name, session(args, run(sandbox.cmd().args(args))));
        }
    });
}

#[test]
fn plugins_listed_checked_and_refused() {
    let sandbox = Sandbox::new();
    let dir = sandbox.plugin_dir();
    for name in ["ok", "old-minor", "next-minor", "next-major", "wrong-name"] {
        sandbox.install(name, &dir, name);
    }
    filtered(&sandbox, || {
        // The Path column is as wide as this machine's sandbox path.
        by_cells(|| {
            let args = ["plugins", "list"];
            insta::assert_snapshot!(
                "plugins_list",
                session(&args, run(sandbox.cmd().args(args)))
            );
        });
        for (name, args) in [
            ("plugins_check", &["plugins", "check"][..]),
            ("plugin_refused_newer_api", &["next-minor"]),
        ] {
            insta::assert_snapshot!(name, session(args, run(sandbox.cmd().args(args))));
        }
    });
}

#[test]
fn site_plugins_over_vendor_ones_and_a_mask() {
    let sandbox = Sandbox::new();
    sandbox.install("old-minor", &sandbox.vendor_dir(), "old-minor");
    sandbox.install("old-minor", &sandbox.site_dir(), "old-minor");
    sandbox.install("ok", &sandbox.vendor_dir(), "ok");
    fs::write(sandbox.site_dir().join("ok.so"), b"").unwrap();
    filtered(&sandbox, || {
        by_cells(|| {
            let args = ["plugins", "list"];
            insta::assert_snapshot!(
                "plugins_list_site_over_vendor",
                session(&args, run(sandbox.bare_cmd().args(args)))
            );
        });
        let args = ["ok", "echo"];
        insta::assert_snapshot!(
            "plugin_masked",
            session(&args, run(sandbox.bare_cmd().args(args)))
        );
    });
}

#[test]
fn a_plugin_directory_everyone_can_write() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    fs::set_permissions(sandbox.plugin_dir(), fs::Permissions::from_mode(0o777)).unwrap();
    filtered(&sandbox, || {
        let args = ["ok", "echo"];
        insta::assert_snapshot!(
            "plugin_dir_world_writable",
            session(&args, run(sandbox.cmd().args(args)))
        );
    });
}

/// Consul's leader and the Mesh servers LDAP lists (the `carbonio` stand-in), as leader.rs
/// sets them up; runs `check` with the stand-in's path filtered too.
fn leader_setup(check: impl FnOnce(&Sandbox, &Double, &str)) {
    let sandbox = Sandbox::new();
    sandbox.install_product("leader");
    sandbox.write_fixture_hosts();
    let double = Double::start(Cluster::fixture()).unwrap();
    let carbonio = stand_in("carbonio");
    let carbonio_path = carbonio.path.display().to_string();
    filtered(&sandbox, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex_escape(&carbonio_path), "[STAND-IN]/carbonio");
        settings.bind(|| check(&sandbox, &double, &carbonio_path));
    });
}

/// `carbonio-mesh --http-addr URL leader --carbonio CARBONIO --carbonio-user nobody EXTRA`,
/// LDAP listing the three servers; its arguments and outcome.
fn leader_session(sandbox: &Sandbox, url: &str, carbonio: &str, extra: &[&str]) -> String {
    let args = [
        &["--http-addr", url, "leader", "--carbonio", carbonio][..],
        &["--carbonio-user", "nobody"],
        extra,
    ]
    .concat();
    let outcome = run(sandbox
        .cmd()
        .env(
            "CARBONIO_STANDIN_SERVERS",
            "srv1.example.com\nsrv2.example.com\nsrv3.example.com\n",
        )
        .env("CARBONIO_STANDIN_USER", "nobody")
        .args(&args));
    session(&args, outcome)
}

#[test]
fn leader_names_every_server_and_says_where_the_list_came_from() {
    leader_setup(|sandbox, double, carbonio| {
        let url = double.url();
        // The fixture cluster's token, as root on a Mesh server has it from the archive: the
        // member list names each server's node.
        let token = sandbox.file_beside_root("token", &format!("{TOKEN}\n"));
        let token = token.display().to_string();
        insta::assert_snapshot!(
            "leader_servers_named",
            leader_session(sandbox, &url, carbonio, &["--token-file", &token])
        );
        // carbonio run as the wrong user says so on standard output; no LDAP here either.
        let args = [
            "--http-addr",
            &url,
            "leader",
            "--carbonio",
            carbonio,
            "--carbonio-user",
            "root",
            "--token-file",
            &token,
        ];
        let outcome = run(sandbox
            .cmd()
            .env("CARBONIO_STANDIN_USER", "nobody")
            .args(args));
        insta::assert_snapshot!("leader_carbonio_refuses_the_user", session(&args, outcome));
        // -q: nothing at all, the exit status answers.
        insta::assert_snapshot!(
            "leader_quiet",
            leader_session(sandbox, &url, carbonio, &["-q", "--token-file", &token])
        );
    });
}

#[test]
fn leader_when_ldap_cannot_be_asked_and_when_there_is_none() {
    leader_setup(|sandbox, double, carbonio| {
        let url = double.url();
        insta::assert_snapshot!(
            "leader_not_a_carbonio_node",
            leader_session(sandbox, &url, "/nonexistent/carbonio", &[])
        );
        double.cluster().leader = None;
        insta::assert_snapshot!(
            "leader_no_leader",
            leader_session(sandbox, &url, carbonio, &[])
        );
    });
}

#[test]
fn leader_when_consul_is_down_or_does_not_answer() {
    leader_setup(|sandbox, _, carbonio| {
        // A port nothing listens on: the connection is refused at once, every time.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        insta::assert_snapshot!(
            "leader_consul_refuses_connections",
            leader_session(sandbox, &closed, carbonio, &[])
        );
        // A listener kept open and never read: an agent that accepts and never answers.
        let stuck = TcpListener::bind("127.0.0.1:0").unwrap();
        let stuck_url = format!("http://{}", stuck.local_addr().unwrap());
        insta::assert_snapshot!(
            "leader_consul_does_not_answer",
            leader_session(sandbox, &stuck_url, carbonio, &["--timeout", "1"])
        );
    });
}

#[test]
fn reads_without_a_token_under_default_deny() {
    let cluster = ClusterSandbox::new(Cluster::fixture(), &["members", "catalog"]);
    let url = cluster.double.url();
    let sandbox = &cluster.sandbox;
    filtered(sandbox, || {
        for (name, args) in [
            (
                "members_without_a_token",
                &["--http-addr", &url, "members"][..],
            ),
            (
                "catalog_nodes_without_a_token",
                &["--http-addr", &url, "catalog", "nodes"],
            ),
        ] {
            insta::assert_snapshot!(name, session(args, run(sandbox.cmd().args(args))));
        }
    });
}

#[test]
fn credentials_shown_verified_and_a_wrong_password() {
    const PASSWORD: &str = "S3cr3T-snapshot-credentials";
    const NEW: &str = "An0ther-snapshot-passphrase";
    let (sandbox, double) = first_mesh_server(PASSWORD);
    sandbox.install_product("credentials");
    let wrong = sandbox.file_beside_root("wrong", "not-the-password\n");
    let wrong = wrong.display().to_string();
    let new = sandbox.file_beside_root("new", &format!("{NEW}\n"));
    let new = new.display().to_string();
    let url = double.url();
    let secrets: Vec<String> = double
        .cluster()
        .tokens
        .iter()
        .map(|t| t.secret.clone())
        .chain([PASSWORD, NEW, "not-the-password"].map(str::to_owned))
        .collect();
    filtered(&sandbox, || {
        // The archive and the CA certificate are as long as their random content encodes
        // (an ECDSA signature is 70 to 72 bytes).
        let mut sizes = insta::Settings::clone_current();
        sizes.add_filter(r"\(\d+ bytes, password", "([N] bytes, password");
        sizes.add_filter(r"(consul-agent-ca\.pem +0600 +)\d+ bytes", "${1}[N] bytes");
        let _sizes = sizes.bind_to_scope();
        for (name, args) in [
            (
                "credentials_show",
                &["--http-addr", &url, "credentials", "show"][..],
            ),
            (
                "credentials_verify",
                &["--http-addr", &url, "credentials", "verify"],
            ),
            (
                "credentials_token_wrong_password",
                &["credentials", "token", "--password-file", &wrong],
            ),
            (
                "credentials_rekey_dry_run",
                &[
                    "--dry-run",
                    "credentials",
                    "rekey",
                    "--new-password-file",
                    &new,
                ],
            ),
        ] {
            let text = session(args, run(sandbox.cmd().args(args)));
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{name} shows a secret:\n{text}"
                );
            }
            insta::assert_snapshot!(name, text);
        }
    });
}

#[test]
fn configuration_errors_name_the_file_the_line_and_the_fix() {
    let sandbox = Sandbox::new();
    sandbox.install_product("secret");
    let drop_ins = sandbox.make_dir("/etc/carbonio-mesh/config.d");
    let args = ["secret", "plan"];
    filtered(&sandbox, || {
        for (name, text) in [
            (
                "config_unknown_key",
                "[mesh]\nservice-user = \"service-discover\"\n",
            ),
            (
                "config_misspelled_step",
                "# site\n[steps.stop-servce]\nexec = [\"true\"]\n",
            ),
        ] {
            fs::write(drop_ins.join("60-site.toml"), text).unwrap();
            insta::assert_snapshot!(name, session(&args, run(sandbox.cmd().args(args))));
        }
        fs::set_permissions(&drop_ins, fs::Permissions::from_mode(0o777)).unwrap();
        insta::assert_snapshot!(
            "config_directory_world_writable",
            session(&args, run(sandbox.cmd().args(args)))
        );
    });
}
