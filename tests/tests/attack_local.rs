//! Issue 24, "Security, third pass": the attacks a local user (or whoever controls a cluster
//! member or the directory) made on carbonio-mesh running as root, each driven through the built
//! binary and named after the attack it reproduces. Each test failed before its fix. (Items
//! reproduced next to their own helpers: 4, 6 and 12 in plugin-api and the doctor plugin's unit
//! tests and `doctor.rs`; 9 in `rejoin.rs`.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use carbonio_mesh_tests::{binary, on_a_terminal, run, Sandbox};
use consul_double::{Cluster, Double, Status};

const NOBODY: u32 = 65534;
/// A token the fixture cluster's double accepts.
const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";

fn root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Item 3: `leader` ran `carbonio prov gas` as zextras inside root's session, with root's
/// controlling terminal: a program zextras controls pushed a command into root's shell
/// (TIOCSTI), which ran it as root once carbonio-mesh had exited.
#[test]
fn a_program_run_as_another_user_cannot_reach_roots_terminal() {
    if !root() {
        eprintln!("skipped: needs root to run a program as another user");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.install_product("leader");
    let double = Double::start(Cluster::fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let evil = dir.path().join("carbonio");
    fs::write(
        &evil,
        "#!/bin/sh\n\
         if (exec 3<>/dev/tty) 2>/dev/null; then echo 'evil: opened /dev/tty' >&2; else echo 'evil: no terminal' >&2; fi\n\
         if perl -e 'open(my $t, \"+<\", \"/dev/tty\") or exit 1; ioctl($t, 0x5412, \"#\") or exit 2' 2>/dev/null; then echo 'evil: pushed a key' >&2; fi\n\
         if [ -t 0 ]; then echo 'evil: stdin is a terminal' >&2; fi\n\
         exit 1\n",
    )
    .unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {} leader --carbonio {} --carbonio-user nobody",
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
        double.url(),
        evil.display()
    );
    let (_, screen) = on_a_terminal(&command, &[]);
    assert!(screen.contains("evil: no terminal"), "{screen}");
    for reached in ["opened /dev/tty", "pushed a key", "stdin is a terminal"] {
        assert!(!screen.contains(reached), "{reached}: {screen}");
    }
}

/// Item 4: a site transport with `{host}` as its own word: an LDAP hostname `-oProxyCommand=...`
/// became an option of ssh, run as root. Such a transport is refused in the configuration.
#[test]
fn a_transport_word_that_starts_with_a_placeholder_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.install_product("secret");
    let config = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("20-transport.toml");
    fs::write(
        &config,
        "[steps.transport]\nexec = [\"ssh\", \"{host}\", \"carbonio-mesh\", \"--yes\", \"secret\", \"rejoin\", \"--input-stdin\"]\npassword_stdin = true\n",
    )
    .unwrap();
    let (code, _, err) = run(sandbox.cmd().args(["secret", "plan"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("starts with a placeholder"), "{err}");
    assert!(err.contains("root@{host}"), "{err}");
}

/// Item 6: `force-leave --failed` listed Consul node names with their raw escape sequences in
/// the list the admin confirms; a name can rewrite that list.
#[test]
fn the_confirmation_list_shows_hostile_node_names_escaped() {
    let sandbox = Sandbox::new();
    sandbox.install_product("force-leave");
    let mut cluster = Cluster::fixture();
    let node = cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap();
    node.name = "agent-evil\u{1b}]0;pwned\u{7}\u{1b}[1A\rsafe".into();
    node.status = Status::Failed;
    let double = Double::start(cluster).unwrap();
    let command = format!(
        "{} --root {} --plugin-dir {} --http-addr {} --token {TOKEN} force-leave --failed",
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
        double.url(),
    );
    let (code, screen) = on_a_terminal(&command, &[("[y/N] ", "n\n")]);
    assert_eq!(code, 9, "{screen}");
    assert!(!screen.contains("\u{1b}]0;pwned"), "{screen:?}");
    assert!(!screen.contains("\u{1b}[1A"), "{screen:?}");
    assert!(
        screen.contains("agent-evil\\x1b]0;pwned\\x07\\x1b[1A\\rsafe"),
        "{screen:?}"
    );
}

/// Item 6: a `-vv` log line carried a raw carriage return from what it quoted: the line after
/// it could be forged on the terminal.
#[test]
fn log_lines_show_control_characters_escaped() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    let (code, _, err) = run(sandbox.cmd().args([
        "-vv",
        "ok",
        "exec",
        "echo",
        "forged\rERROR all good\u{1b}[2K",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("forged\\rERROR all good\\x1b[2K"), "{err}");
    assert!(!err.contains('\r') && !err.contains("\u{1b}[2K"), "{err:?}");
}

/// A script that writes `marker` when run, at `path`, mode 0755.
fn marker_script(path: &Path, marker: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        format!("#!/bin/sh\necho ran > {}\n", marker.display()),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Item 10: a relative program (`exec = ["bin/x"]`) ran from the current directory, another
/// user's, as root; a bare name was looked up in PATH directories others can write.
#[test]
fn a_program_is_absolute_or_found_in_a_directory_only_root_can_write() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    sandbox.install_product("secret");
    let cwd = sandbox.root().parent().unwrap().join("cwd");
    let marker = cwd.join("ran");
    marker_script(&cwd.join("bin/x"), &marker);
    let (code, _, err) = run(sandbox
        .cmd()
        .current_dir(&cwd)
        .args(["ok", "exec", "bin/x"]));
    assert!(!marker.exists(), "bin/x ran from the current directory");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("bin/x"), "{err}");
    // A site command says so in the plan, with its file and line.
    let config = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("30-site.toml");
    fs::write(&config, "[steps.preflight]\nexec = [\"bin/x\"]\n").unwrap();
    let (code, _, err) = run(sandbox.cmd().current_dir(&cwd).args(["secret", "plan"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("30-site.toml: line 1"), "{err}");
    fs::remove_file(&config).unwrap();
    if root() {
        // First in PATH, a directory another user can write.
        let theirs = sandbox.root().parent().unwrap().join("theirs");
        marker_script(&theirs.join("evilprog"), &marker);
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
        let path = format!("{}:/usr/bin:/bin", theirs.display());
        let (code, _, err) = run(sandbox
            .cmd()
            .env("PATH", path)
            .args(["ok", "exec", "evilprog"]));
        assert!(!marker.exists(), "evilprog ran from {}", theirs.display());
        assert_eq!(code, 5, "{err}");
        assert!(err.contains(&theirs.display().to_string()), "{err}");
    }
}
