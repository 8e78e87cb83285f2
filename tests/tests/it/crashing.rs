//! A plugin that crashes the process (SIGSEGV, SIGABRT) instead of panicking: the diagnostics
//! (`plugins list|check`, `--help`, `generate`) survive it, and running its command names it.

use std::os::unix::process::ExitStatusExt;

use carbonio_mesh_tests::{run, stdout_of, Sandbox};
use serde_json::Value;

/// A sandbox with the well-behaved `ok` and the `segfaulting` fixture, which dies when loaded.
fn with_segfaulting() -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    let file = sandbox.install("segfaulting", &sandbox.plugin_dir(), "segfaulting");
    (sandbox, file)
}

#[test]
fn plugins_list_shows_the_crash_and_every_other_plugin() {
    let (sandbox, file) = with_segfaulting();
    let (code, out, err) = run(sandbox.cmd().args(["plugins", "list"]));
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("segfaulting "))
        .unwrap_or_else(|| panic!("segfaulting not listed: {out}"));
    assert!(line.contains(file.to_str().unwrap()), "{line}");
    assert!(line.ends_with("crashed (signal 11)"), "{line}");

    let text = stdout_of(sandbox.cmd().args(["plugins", "list", "--format", "json"]));
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    let ok = list.iter().find(|e| e["name"] == "ok").expect("ok listed");
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["version"], "0.1.0");
}

#[test]
fn plugins_check_names_the_crashing_file_and_exits_4() {
    let (sandbox, file) = with_segfaulting();
    let (code, out, err) = run(sandbox.cmd().args(["plugins", "check"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        out.contains("refused: segfaulting: crashed (signal 11)"),
        "{out}"
    );
    assert!(out.contains(file.to_str().unwrap()), "{out}");
    assert!(out.ends_with("2 plugins checked, 1 refused\n"), "{out}");
}

#[test]
fn help_still_lists_the_plugins_that_load() {
    let (sandbox, _) = with_segfaulting();
    let help = stdout_of(sandbox.cmd().arg("--help"));
    assert!(help.contains("  ok   "), "{help}");
    assert!(help.contains("Fixture plugin that behaves"), "{help}");
    assert!(
        help.contains("segfaulting  (refused: see `carbonio-mesh plugins check`)"),
        "{help}"
    );
}

#[test]
fn generate_and_completion_leave_the_crashing_plugin_out() {
    let (sandbox, _) = with_segfaulting();
    let pages = tempfile::tempdir().unwrap();
    let (code, _, err) = run(sandbox.cmd().args(["generate", "man"]).arg(pages.path()));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: plugin segfaulting left out: crashed (signal 11)"),
        "{err}"
    );
    assert!(
        pages.path().join("carbonio-mesh-ok.1").is_file(),
        "ok's page"
    );
    assert!(!pages.path().join("carbonio-mesh-segfaulting.1").exists());
    // A TAB: ok's command is offered, the crashing plugin's is not (and nothing crashes).
    let (code, out, err) = run(assert_cmd::Command::new(carbonio_mesh_tests::binary())
        .args(["__complete", "bash", "carbonio-mesh", "--plugin-dir"])
        .arg(sandbox.plugin_dir())
        .arg(""));
    assert_eq!(code, 0, "{err}");
    let offered: Vec<&str> = out.lines().collect();
    assert!(offered.contains(&"ok"), "{out}");
    assert!(!out.contains("segfaulting"), "{out}");
}

/// Runs `carbonio-mesh NAME` and gives (the signal it died of, standard error).
fn run_crashing(sandbox: &Sandbox, name: &str) -> (Option<i32>, String) {
    let output = sandbox.cmd().arg(name).output().unwrap();
    (
        output.status.signal(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_crash_while_running_a_command_names_the_plugin_and_its_file() {
    let sandbox = Sandbox::new();
    let file = sandbox.install("aborting", &sandbox.plugin_dir(), "aborting");
    let (signal, err) = run_crashing(&sandbox, "aborting");
    assert_eq!(signal, Some(6), "the exit status still says SIGABRT: {err}");
    assert_eq!(
        err,
        format!(
            "carbonio-mesh: error: plugin 'aborting' ({}) crashed with SIGABRT; nothing more was \
             done by carbonio-mesh\n  fix: this is a bug in the plugin: report it to its author; \
             remove or mask the plugin meanwhile\n",
            file.display()
        )
    );
}

#[test]
fn a_crash_while_loading_for_a_command_names_the_plugin_and_its_file() {
    let (sandbox, file) = with_segfaulting();
    let (signal, err) = run_crashing(&sandbox, "segfaulting");
    assert_eq!(signal, Some(11), "{err}");
    assert!(
        err.starts_with(&format!(
            "carbonio-mesh: error: plugin 'segfaulting' ({}) crashed with SIGSEGV;",
            file.display()
        )),
        "{err}"
    );
}
