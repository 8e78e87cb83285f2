//! Steps from other plugins and site commands in `secret regenerate`, end to end: the example
//! site plugin (examples/site-step) followed from its README, a whole regeneration with its step
//! enabled, and misconfigurations refused by `secret plan` and before a run changes anything.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use carbonio_mesh_tests::{
    binary, build_dir, gpg_decrypt, mesh_checksums, run, MeshLeader, Sandbox,
};

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-2";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// A leader with the example plugin in its plugin directory and `wall`/`logger` stand-ins.
fn leader_with_site_example() -> MeshLeader {
    let leader = MeshLeader::new(OLD_PASSWORD);
    leader.sandbox.install_product("site-example");
    leader.bin.add(&["wall", "logger"]);
    leader
}

fn regenerate(leader: &MeshLeader, extra: &[&str]) -> (i32, String, String) {
    let password = leader
        .sandbox
        .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
    run(leader
        .cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&password)
        .args(extra))
}

/// The step names of a run's table, in order, with their status.
fn table_steps(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with("Run:"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn a_whole_regeneration_runs_the_site_step_before_stop_service() {
    let leader = leader_with_site_example();
    let fragment = leader.config(
        "50-announce.toml",
        "[steps.announce]\nplugin = \"site-example\"\n",
    );
    let (code, plan, err) = run(leader.cmd().args(["secret", "plan"]));
    assert_eq!(code, 0, "{err}");
    let row = plan.lines().find(|l| l.contains("announce")).unwrap();
    for part in [
        "plugin site-example 0.1.0",
        "site-example.so",
        "leader_ip",
        &format!("{}:1", fragment.display()),
    ] {
        assert!(row.contains(part), "{part} in {row}");
    }

    let (code, out, err) = regenerate(&leader, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let steps = table_steps(&out);
    let names: Vec<&str> = steps.iter().map(|(_, n)| n.as_str()).collect();
    let at = names
        .iter()
        .position(|n| *n == "announce")
        .expect("announce ran");
    assert_eq!(names[at - 1], "write-reset-file", "{out}");
    assert_eq!(names[at + 1], "stop-service", "{out}");
    assert!(steps.iter().all(|(status, _)| status == "ok"), "{out}");
    let run_id = out
        .lines()
        .find_map(|l| l.strip_prefix("Run: "))
        .unwrap()
        .to_owned();

    // Every logged-in admin and the system journal were told, with who and how to follow.
    let wall = fs::read_to_string(leader.sandbox.path("/run/wall-standin/messages")).unwrap();
    assert!(wall.contains("Broadcast message from"), "{wall}");
    assert!(
        wall.contains(&format!("carbonio-mesh secret show {run_id}")),
        "{wall}"
    );
    assert!(wall.contains("started by "), "{wall}");
    let journal = fs::read_to_string(leader.sandbox.path("/run/logger-standin/journal")).unwrap();
    assert!(
        journal
            .contains("auth.notice carbonio-mesh: Carbonio Mesh secret regeneration is starting"),
        "{journal}"
    );
    // The run's journal has the step like any other, and the new password never reached it.
    let records = fs::read_to_string(leader.sandbox.path(&format!(
        "/var/lib/carbonio-mesh/runs/{run_id}/journal.jsonl"
    )))
    .unwrap();
    let done: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["event"] == "done" && r["step"] == "announce")
        .collect();
    assert_eq!(done.len(), 1, "{records}");
    assert!(!records.contains(NEW_PASSWORD));
    // The regeneration itself went through: the new archive opens with the new password.
    gpg_decrypt(&leader.sandbox.path(ARCHIVE), NEW_PASSWORD);
}

#[test]
fn a_dry_run_says_what_the_site_step_would_announce_and_announces_nothing() {
    let leader = leader_with_site_example();
    leader.config(
        "50-announce.toml",
        "[steps.announce]\nplugin = \"site-example\"\n",
    );
    let (code, out, err) = regenerate(&leader, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("would tell the logged-in admins"), "{out}");
    assert!(err.contains("run: wall"), "{err}");
    assert!(!leader.sandbox.path("/run/wall-standin").exists());
}

#[test]
fn a_command_replacing_a_step_that_recorded_a_needed_fact_is_refused_before_anything_changes() {
    let leader = MeshLeader::new(OLD_PASSWORD);
    let fragment = leader.config(
        "40-site.toml",
        "# our own leader check\n[steps.check-on-leader]\nexec = [\"true\"]\n",
    );
    let before = mesh_checksums(&leader.sandbox.root());
    let (code, _, err) = run(leader.cmd().args(["secret", "plan"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "{}: line 2: steps.check-on-leader replaces a step that records 'setup_ip'",
            fragment.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("step stop-service needs the fact 'setup_ip'"),
        "{err}"
    );
    assert!(err.contains("fix: add provides = [\"setup_ip\"]"), "{err}");

    let (code, out, err) = regenerate(&leader, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(mesh_checksums(&leader.sandbox.root()), before);
    assert!(!leader.sandbox.path("/var/lib/carbonio-mesh/runs").exists());
    assert!(!leader.sandbox.path("/run/systemctl-standin/calls").exists());

    // Declaring the fact and printing it makes the plan whole again.
    leader.config(
        "40-site.toml",
        "[steps.check-on-leader]\nexec = [\"sh\", \"-c\", \"echo setup_ip={leader}\"]\nprovides = [\"setup_ip\"]\n",
    );
    let (code, out, err) = regenerate(&leader, &["--dry-run"]);
    assert_eq!(code, 0, "a dry run records no fact and goes on: {out}{err}");
    let (code, out, err) = regenerate(&leader, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("site command: sh -c echo setup_ip={leader}"),
        "{out}"
    );
}

#[test]
fn misspelled_steps_plugins_and_places_are_named_with_file_and_line() {
    let leader = leader_with_site_example();
    for (text, says) in [
        ("\n[steps.stop-servce]\nexec = [\"true\"]\n", "line 2: no workflow has a step 'stop-servce'"),
        (
            "[steps.announce]\nplugin = \"site-example\"\nbefore = \"stop-servce\"\nworkflow = \"secret-regenerate\"\n",
            "line 1: steps.announce goes next to 'stop-servce', but secret-regenerate has no such step",
        ),
        ("[steps.announse]\nplugin = \"site-example\"\n", "line 1: plugin site-example"),
        ("[steps.announce]\nplugin = \"site-exemple\"\n", "line 1: steps.announce comes from plugin 'site-exemple', which cannot be used"),
        ("[workflows]\nsecret-regenerte = [\"preflight\"]\n", "line 2: there is no workflow 'secret-regenerte'"),
    ] {
        let fragment = leader.config("60-typo.toml", text);
        let (code, _, err) = run(leader.cmd().args(["secret", "plan"]));
        assert_eq!(code, 3, "{text}: {err}");
        assert!(err.contains(&format!("{}: {says}", fragment.display())), "{text}: {err}");
        assert!(err.contains("fix: "), "{err}");
    }
    // A step's plugin passes the trust rules of every plugin, or nothing runs.
    leader.config(
        "60-typo.toml",
        "[steps.announce]\nplugin = \"site-example\"\n",
    );
    let file = leader.sandbox.plugin_dir().join("site-example.so");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let (code, out, err) = regenerate(&leader, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("comes from plugin 'site-example', which cannot be used")
            && err.contains("writable by everyone"),
        "{err}"
    );
    assert!(!leader.sandbox.path("/var/lib/carbonio-mesh/runs").exists());
}

/// The commands of the README block marked as tested, one per line.
fn readme_commands() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/site-step/README.md");
    let text = fs::read_to_string(readme).unwrap();
    let block = text
        .split("<!-- tested by tests/tests/it/site_steps.rs")
        .nth(1)
        .expect("the README marks its tested block");
    let block = block.split("```sh\n").nth(1).unwrap();
    block
        .split("```")
        .next()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The example's README, followed literally in a sandbox: its system paths under the sandbox's
/// root, `carbonio-mesh` the built binary with `--root`. One deviation, said here: `cargo build
/// --release -p carbonio-mesh-plugin-site-example` is not run again inside the test (the suite
/// is itself run by cargo, which holds the build directory); the library `cargo build
/// --workspace` built from the same sources moments before stands in for target/release's.
#[test]
fn the_example_readme_works_when_followed_literally() {
    let sandbox = Sandbox::new();
    sandbox.install_all_products();
    let commands = readme_commands();
    assert_eq!(
        commands[0],
        "cargo build --release -p carbonio-mesh-plugin-site-example"
    );
    let built = build_dir().join("libcarbonio_mesh_plugin_site_example.so");
    assert!(built.is_file(), "{} was built", built.display());
    let root = sandbox.root();
    let mut plan = String::new();
    for command in &commands[1..] {
        let line = command
            .replace(" /usr/local/", &format!(" {}/usr/local/", root.display()))
            .replace(" /etc/", &format!(" {}/etc/", root.display()))
            .replace(" target/release/", &format!(" {}/", build_dir().display()));
        let line = match line.strip_prefix("carbonio-mesh ") {
            Some(rest) => format!(
                "{} --root {} --plugin-dir {} {rest}",
                binary().display(),
                root.display(),
                sandbox.plugin_dir().display()
            ),
            None => line,
        };
        let (code, out, err) = run(assert_cmd::Command::new("sh")
            .args(["-c", &line])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")));
        assert_eq!(code, 0, "{command}\n{line}\n{out}{err}");
        plan = out;
    }
    let row = plan
        .lines()
        .find(|l| l.contains(" announce "))
        .expect(&plan);
    assert!(row.contains("plugin site-example 0.1.0"), "{row}");
    assert!(
        row.contains(&format!(
            "{}/usr/local/lib/carbonio-mesh/plugins/site-example.so",
            root.display()
        )),
        "{row}"
    );
    assert!(row.contains("50-announce.toml:1"), "{row}");
    let names: Vec<&str> = plan
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let at = names.iter().position(|n| *n == "announce").unwrap();
    assert_eq!(
        (names[at - 1], names[at + 1]),
        ("write-reset-file", "stop-service"),
        "{plan}"
    );
}
