//! The command line built from manifests, host services seen from a plugin, exit codes, config.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use carbonio_mesh_tests::{run, stdout_of, Sandbox};

fn with_ok() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    sandbox
}

#[test]
fn help_lists_every_plugin_and_each_plugins_commands() {
    let sandbox = with_ok();
    sandbox.install("old-minor", &sandbox.plugin_dir(), "old-minor");
    let help = stdout_of(sandbox.cmd().arg("--help"));
    assert!(
        help.contains("  ok         Fixture plugin that behaves\n"),
        "{help}"
    );
    assert!(
        help.contains("  old-minor  Fixture plugin old-minor\n"),
        "{help}"
    );
    assert!(
        help.contains("  plugins    List and check the plugins this host finds\n"),
        "{help}"
    );
    let help = stdout_of(sandbox.cmd().args(["ok", "--help"]));
    assert!(
        help.contains("Usage: carbonio-mesh ok [OPTIONS] <COMMAND>"),
        "{help}"
    );
    assert!(
        help.contains("  exec    Run ARGV through the host"),
        "{help}"
    );
    let help = stdout_of(sandbox.cmd().args(["ok", "fail", "--help"]));
    assert!(
        help.contains("--kind <kind>")
            && help.contains("[possible values: usage, config, operation]"),
        "{help}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = with_ok();
    let (code, _, err) = run(sandbox.cmd().arg("no-such-plugin"));
    assert_eq!(code, 2);
    assert!(
        err.contains("'no-such-plugin' is not a carbonio-mesh command"),
        "{err}"
    );
    assert!(
        err.contains("fix: `carbonio-mesh --help` lists the plugins found in"),
        "{err}"
    );
    let (code, _, err) = run(sandbox.cmd().args(["ok", "echo", "--bogus"]));
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");
    let (code, _, _) = run(&mut sandbox.cmd());
    assert_eq!(code, 2, "no command at all is a usage error");
}

#[test]
fn global_options_work_after_the_plugin_name_and_json_is_offered() {
    let sandbox = with_ok();
    let out = stdout_of(
        sandbox
            .cmd()
            .args(["ok", "echo", "--text", "a&b", "--format", "json"]),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["text"],
        "a&b"
    );
    let out = stdout_of(sandbox.cmd().args(["--format", "json", "ok", "echo"]));
    assert!(out.starts_with('{'), "{out}");
}

#[test]
fn plugin_errors_map_to_documented_exit_codes_with_their_hint() {
    let sandbox = with_ok();
    for (kind, code) in [("usage", 2), ("config", 3), ("operation", 5)] {
        let (got, _, err) =
            run(sandbox
                .cmd()
                .args(["ok", "fail", "--kind", kind, "--message", "Consul said no"]));
        assert_eq!(got, code, "{kind}: {err}");
        assert_eq!(
            err,
            "carbonio-mesh: error: ok: Consul said no\n  fix: the fixture's hint\n"
        );
    }
}

#[test]
fn dry_run_records_file_changes_and_changes_nothing() {
    let sandbox = with_ok();
    sandbox.make_dir("/etc/zextras/service-discover");
    fs::write(
        sandbox.path("/etc/zextras/service-discover/main.json"),
        "{}",
    )
    .unwrap();
    let (code, out, err) = run(sandbox.cmd().args([
        "--dry-run",
        "ok",
        "remove",
        "--path",
        "/etc/zextras/service-discover/main.json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("existed=true") && out.contains("dry_run=true"),
        "{out}"
    );
    assert!(err.contains("Dry run: nothing was changed. This command would:\n  - remove /etc/zextras/service-discover/main.json, after backing up to /var/backups/carbonio-mesh/"), "{err}");
    assert!(sandbox
        .path("/etc/zextras/service-discover/main.json")
        .exists());
    assert!(!sandbox.path("/var/backups").exists());
}

#[test]
fn removing_a_file_backs_it_up_first() {
    let sandbox = with_ok();
    sandbox.make_dir("/var/lib/service-discover");
    let pem = sandbox.path("/var/lib/service-discover/consul-agent-ca.pem");
    fs::write(&pem, "CA").unwrap();
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o600)).unwrap();
    let out = stdout_of(sandbox.cmd().args([
        "ok",
        "remove",
        "--path",
        "/var/lib/service-discover/consul-agent-ca.pem",
    ]));
    assert!(!pem.exists());
    let backup = out
        .split("backup=Some(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect(&out);
    let saved = sandbox.path(backup);
    assert_eq!(fs::read_to_string(&saved).unwrap(), "CA");
    assert_eq!(
        fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn files_written_for_a_plugin_stay_under_the_root() {
    let sandbox = with_ok();
    sandbox.make_dir("/etc");
    stdout_of(sandbox.cmd().args([
        "ok",
        "write",
        "--path",
        "/etc/carbonio-mesh-test.json",
        "--content",
        "x",
    ]));
    assert_eq!(
        fs::read_to_string(sandbox.path("/etc/carbonio-mesh-test.json")).unwrap(),
        "x"
    );
    assert!(!std::path::Path::new("/etc/carbonio-mesh-test.json").exists());
    let (code, _, err) = run(sandbox.cmd().args([
        "ok",
        "write",
        "--path",
        "/etc/../../escape",
        "--content",
        "x",
    ]));
    assert_eq!(
        code, 4,
        "a plugin asking to leave the root is a plugin bug: {err}"
    );
    assert!(err.contains("must not contain '..'"), "{err}");
}

#[test]
fn exec_runs_commands_without_a_shell_and_never_shows_secrets() {
    let sandbox = with_ok();
    let out = stdout_of(
        sandbox
            .cmd()
            .args(["ok", "exec", "--stdin", "$(id)", "--", "cat"]),
    );
    assert_eq!(out, "$(id)status 0\n");
    let out = stdout_of(
        sandbox
            .cmd()
            .args(["ok", "exec", "--user", "nobody", "--", "id", "-un"]),
    );
    assert_eq!(out, "nobody\nstatus 0\n");

    let secret = "s3cret-Passw0rd";
    let (code, out, err) = run(sandbox.cmd().args([
        "ok",
        "exec",
        "--secret",
        secret,
        "--",
        "sh",
        "-c",
        &format!("test \"$0\" = {secret} && echo received"),
    ]));
    assert_eq!(
        (code, out.as_str()),
        (0, "received\nstatus 0\n"),
        "the program itself gets the secret: {err}"
    );
    let (code, out, err) = run(sandbox.cmd().args([
        "-vvv",
        "ok",
        "exec",
        "--secret",
        secret,
        "--",
        "echo",
        "--password",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "--password <redacted>\nstatus 0\n",
        "what the program echoes is redacted like everything the host prints"
    );
    assert!(err.contains("running: echo --password <redacted>"), "{err}");
    // In a JSON answer too (it crosses from the plugin as JSON, not as a string).
    let secret_quoted = r#"pa"ss\word-1"#;
    let (code, out, err) = run(sandbox.cmd().args([
        "ok",
        "exec",
        "--format",
        "json",
        "--secret",
        secret_quoted,
        "--",
        // The secret argument comes last: printf prints it.
        "printf",
        "%s",
    ]));
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["stdout"], "<redacted>", "{out}");
    assert!(!out.contains("word-1"), "{out}");
    assert!(
        !err.contains(secret),
        "the secret leaked into the log: {err}"
    );

    let (_, _, err) = run(sandbox.cmd().args([
        "--dry-run",
        "ok",
        "exec",
        "--mutating",
        "--secret",
        secret,
        "--",
        "service-discover",
        "setup",
    ]));
    assert!(
        err.contains("  - run: service-discover setup <redacted>"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");

    let (code, _, err) =
        run(sandbox
            .cmd()
            .args(["ok", "exec", "--timeout-ms", "200", "--", "sleep", "10"]));
    assert_eq!(code, 5);
    assert!(
        err.contains("sleep 10 did not finish within 0.2 s and was killed"),
        "{err}"
    );
}

#[test]
fn plugin_logs_go_through_the_hosts_verbosity() {
    let sandbox = with_ok();
    let (_, _, quiet) =
        run(sandbox
            .cmd()
            .args(["ok", "log", "--message", "hello from the plugin"]));
    assert!(!quiet.contains("hello from the plugin"), "{quiet}");
    let (_, _, verbose) =
        run(sandbox
            .cmd()
            .args(["ok", "log", "--message", "hello from the plugin", "-v"]));
    assert!(
        verbose.contains("hello from the plugin") && verbose.contains("plugin=\"ok\""),
        "{verbose}"
    );
}

#[test]
fn a_plugins_warning_is_one_of_the_tools_messages_and_q_silences_it() {
    let sandbox = with_ok();
    let warn = |extra: &str| {
        run(sandbox
            .cmd()
            .args(["ok", "log", "--warn", "--message", "3 Mesh servers"])
            .args((!extra.is_empty()).then_some(extra)))
    };
    let (code, _, err) = warn("");
    assert_eq!(
        (code, err.as_str()),
        (0, "carbonio-mesh: warning: 3 Mesh servers\n")
    );
    assert_eq!(warn("-q").2, "");
    let verbose = warn("-v").2;
    assert!(
        verbose.contains(" WARN ") && verbose.contains("3 Mesh servers plugin=\"ok\""),
        "{verbose}"
    );
}

#[test]
fn an_unknown_configuration_key_exits_3_naming_file_and_key() {
    let sandbox = with_ok();
    let dir = sandbox.make_dir("/etc/carbonio-mesh/config.d");
    fs::write(dir.join("10-site.toml"), "[exec]\ntimeout_secs = 30\n").unwrap();
    fs::write(dir.join("20-typo.toml"), "[backup]\ndirectory = \"/srv\"\n").unwrap();
    let (code, _, err) = run(sandbox.cmd().args(["ok", "echo"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "{}: line 2: unknown field `directory`",
            dir.join("20-typo.toml").display()
        )),
        "{err}"
    );
}

#[test]
fn the_config_backup_dir_is_honoured() {
    let sandbox = with_ok();
    let dir = sandbox.make_dir("/etc/carbonio-mesh");
    fs::write(
        dir.join("config.toml"),
        "[backup]\ndir = \"/srv/mesh-backups\"\n",
    )
    .unwrap();
    sandbox.make_dir("/etc/zextras");
    fs::write(sandbox.path("/etc/zextras/x"), "x").unwrap();
    let out = stdout_of(
        sandbox
            .cmd()
            .args(["ok", "remove", "--path", "/etc/zextras/x"]),
    );
    assert!(out.contains("backup=Some(\"/srv/mesh-backups/"), "{out}");
}

#[test]
fn help_works_on_the_built_in_commands_and_as_a_command() {
    let sandbox = with_ok();
    for args in [
        &["plugins", "--help"][..],
        &["plugins", "list", "-h"],
        &["plugins", "check", "--help"],
        &["generate", "--help"],
        &["generate", "man", "--help"],
        &["generate", "completion", "-h"],
    ] {
        let (code, out, err) = run(sandbox.cmd().args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage: carbonio-mesh"), "{args:?}: {out}");
    }
    // `help` alone is the top-level help, plugins listed; `help COMMAND` is that command's.
    let top = stdout_of(sandbox.cmd().arg("--help"));
    assert_eq!(stdout_of(sandbox.cmd().arg("help")), top);
    let ok_help = stdout_of(sandbox.cmd().args(["ok", "--help"]));
    assert_eq!(stdout_of(sandbox.cmd().args(["help", "ok"])), ok_help);
    let plugins_help = stdout_of(sandbox.cmd().args(["plugins", "list", "--help"]));
    assert_eq!(
        stdout_of(sandbox.cmd().args(["help", "plugins", "list"])),
        plugins_help
    );
}

/// Issue 14 item 7: a value of the wrong kind is refused by the host, naming the option and what
/// it takes, before the plugin runs (it used to be read as the default, silently).
#[test]
fn a_value_of_the_wrong_kind_is_a_usage_error_before_the_plugin_runs() {
    let sandbox = Sandbox::new();
    sandbox.install_product("secret");
    sandbox.install_product("force-leave");
    for (args, bad, option, takes) in [
        (
            &[
                "secret",
                "regenerate",
                "--nodes",
                "all",
                "--parallel",
                "abc",
            ][..],
            "abc",
            "--parallel <N>",
            "1 to 64",
        ),
        (
            &["secret", "regenerate", "--nodes", "all", "--parallel", "0"][..],
            "0",
            "--parallel <N>",
            "1 to 64",
        ),
        (
            &["secret", "regenerate", "--nodes", "all", "--parallel=65"][..],
            "65",
            "--parallel <N>",
            "1 to 64",
        ),
        (
            &["secret", "prune", "--keep=-1"][..],
            "-1",
            "--keep <N>",
            "0 to 1000000",
        ),
        (
            &["force-leave", "agent-x", "--wait", "30s"][..],
            "30s",
            "--wait <SECONDS>",
            "0 to 3600",
        ),
    ] {
        let (code, out, err) = run(sandbox.cmd().args(args));
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!(
                "carbonio-mesh: error: invalid value '{bad}' for '{option}': expected a whole number from {takes}\n"
            )),
            "{args:?}: {err}"
        );
        // Nothing ran: no run journal, no backup.
        assert!(
            !sandbox.root().join("var/lib/carbonio-mesh").exists(),
            "{args:?}"
        );
        assert!(!sandbox.root().join("var/backups").exists(), "{args:?}");
    }
    // The same refusal as the error document with --format json.
    let (code, out, _) = run(sandbox.cmd().args([
        "--format",
        "json",
        "secret",
        "regenerate",
        "--nodes",
        "all",
        "--parallel",
        "abc",
    ]));
    assert_eq!(code, 2);
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        document["error"]["message"],
        "invalid value 'abc' for '--parallel <N>': expected a whole number from 1 to 64"
    );
    // A good value reaches the plugin: prune with nothing to prune.
    let (code, _, err) = run(sandbox
        .cmd()
        .args(["--dry-run", "secret", "prune", "--keep", "3"]));
    assert_eq!(code, 0, "{err}");
}
