//! What admins see, pinned: the tool's own human output (tables, plans, dry-run plans, errors
//! with their fixes, help), so that every change to it shows in the diff of
//! `tests/tests/snapshots/*.snap`. Review a change with `cargo insta review` (or rerun with
//! `INSTA_UPDATE=always` and read the diff). Output that mirrors Consul is pinned byte for byte by
//! the recorded fixtures instead (tests/tests/consul_cli.rs).
//!
//! Filters replace what changes from run to run: the sandbox and build paths, run IDs, backup
//! directory names, this machine's address, dates, the Consul double's port and token IDs.

use carbonio_mesh_tests::{build_dir, local_ip, run, MeshLeader, Sandbox};
use consul_double::{Cluster, Double, Status};

const OLD_PASSWORD: &str = "old-snapshot-password";
const NEW_PASSWORD: &str = "new-snapshot-password";

/// Runs `check` with the filters every snapshot here needs.
fn filtered(sandbox: &Sandbox, check: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    let root = sandbox.root();
    let parent = root.parent().unwrap().display().to_string();
    settings.add_filter(&regex_escape(&root.display().to_string()), "[ROOT]");
    settings.add_filter(&regex_escape(&parent), "[SANDBOX]");
    settings.add_filter(&regex_escape(&build_dir().display().to_string()), "[BUILD]");
    settings.add_filter(&regex_escape(&local_ip()), "[THIS-HOST]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{4}", "[RUN]");
    settings.add_filter(r"/carbonio-mesh/\d{9,}-\d+/", "/carbonio-mesh/[BACKUP]/");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(
        r"\w{3}, \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000",
        "[DATE]",
    );
    settings.add_filter(r"\(in \d+ days\)", "(in [N] days)");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIME]");
    settings.add_filter(r"[0-9a-f]{8}-aaaa-4bbb-8ccc-[0-9a-f]{12}", "[ACCESSOR]");
    settings.bind(check);
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `$ carbonio-mesh ARGS`, the exit status, standard output and standard error, as one text.
fn session(args: &[&str], (code, out, err): (i32, String, String)) -> String {
    format!(
        "$ carbonio-mesh {}\n[exit {code}]\n--- stdout\n{out}--- stderr\n{err}",
        args.join(" ")
    )
}

#[test]
fn secret_plan_and_a_dry_run_of_the_whole_cluster() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let password = password.display().to_string();
    leader.config(
        "50-transport.toml",
        "[steps.transport]\nexec = [\"ssh\", \"-o\", \"BatchMode=yes\", \"root@{host}\", \"carbonio-mesh\", \"--yes\", \"secret\", \"rejoin\", \"--input-stdin\"]\npassword_stdin = true\n",
    );
    filtered(&leader.sandbox, || {
        let args = ["secret", "plan"];
        // Its "From" column is as wide as this machine's plugin path, header included: compare
        // the cells, not the padding (plugin-api's Table tests pin the padding).
        let mut cells = insta::Settings::clone_current();
        cells.add_filter(r" {2,}", "  ");
        cells.bind(|| {
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
        let mut cells = insta::Settings::clone_current();
        cells.add_filter(r" {2,}", "  ");
        cells.bind(|| {
            insta::assert_snapshot!(
                "secret_plan_with_a_site_step",
                session(&args, run(leader.cmd().args(args)))
            );
        });
    });
}

#[test]
fn a_failed_node_and_the_way_back() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    let password = password.display().to_string();
    // One node answers as an unreachable host does; the others are set up.
    leader.config(
        "50-transport.toml",
        "[steps.transport]\nexec = [\"sh\", \"-c\", \"cat >/dev/null; [ {node} != agent-proxy-example-com ] || { echo 'ssh: connect to host {host} port 22: Connection refused' >&2; exit 255; }\"]\npassword_stdin = true\n",
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
        insta::assert_snapshot!(
            "secret_regenerate_one_node_unreachable",
            session(&args, run(leader.cmd().args(args)))
        );
        let args = ["secret", "runs"];
        insta::assert_snapshot!("secret_runs", session(&args, run(leader.cmd().args(args))));
    });
}

/// A sandbox with the cluster-changing plugins against a double of `cluster`.
fn cluster_setup(cluster: Cluster) -> (Sandbox, Double) {
    let sandbox = Sandbox::new();
    for plugin in ["force-leave", "services", "reload", "members", "catalog"] {
        sandbox.install_product(plugin);
    }
    (sandbox, Double::start(cluster).unwrap())
}

#[test]
fn cluster_changes_plans_and_errors() {
    let (sandbox, double) = cluster_setup(Cluster::fixture_degraded());
    let url = double.url();
    let mesh = |args: &[&str]| {
        run(sandbox
            .cmd()
            .args([
                "--http-addr",
                &url,
                "--token",
                "260570b8-e9af-05cf-9513-c03866285b98",
            ])
            .args(args))
    };
    filtered(&sandbox, || {
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
            insta::assert_snapshot!(name, session(args, mesh(args)));
        }
    });
    assert_eq!(
        double
            .cluster()
            .node("agent-proxy-example-com")
            .map(|n| n.status),
        Some(Status::Left)
    );
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
