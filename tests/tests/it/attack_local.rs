//! Issue 24, "Security, third pass": the attacks a local user (or whoever controls a cluster
//! member or the directory) made on carbonio-mesh running as root, each driven through the built
//! binary and named after the attack it reproduces; each test failed before its fix. Items 6 and
//! 12 are also reproduced in `doctor.rs` (a hostile member name in doctor's table and metrics),
//! item 9 in `rejoin.rs` (another cluster's archive), and most items by unit tests beside their
//! fix.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carbonio_mesh_tests::slapd::{install_localconfig, localconfig_xml, BIND_DN, BIND_PASSWORD};
use carbonio_mesh_tests::{
    binary, first_mesh_server, local_ip, on_a_terminal, run, stdout_of, MeshLeader, Sandbox, TOKEN,
};
use consul_double::{Cluster, Double, Status};

const PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-2";
const NOBODY: u32 = 65534;

fn root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// `f` on a thread whose file-system uid is `uid`: a socket it opens belongs to `uid` in the
/// kernel's socket table, exactly as one opened by a program that user runs (`setfsuid` is
/// per thread; the rest of the test process stays root).
fn as_user<T: Send>(uid: u32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let before = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
                let out = f();
                nix::unistd::setfsuid(before);
                out
            })
            .join()
            .unwrap()
    })
}

/// A Mesh server's archive and password file under a sandbox (the archive's token is the one
/// carbonio-mesh sends when given none), with `plugins` installed; and that token.
fn mesh_server(plugins: &[&str]) -> (Sandbox, Double, String) {
    let (sandbox, double) = first_mesh_server(PASSWORD);
    sandbox.install_product("credentials");
    for plugin in plugins {
        sandbox.install_product(plugin);
    }
    let token = stdout_of(sandbox.cmd().args(["credentials", "token"]))
        .trim()
        .to_owned();
    assert!(!token.is_empty());
    (sandbox, double, token)
}

/// Whether `token` reached `double` in any request.
fn token_reached(double: &Double, token: &str) -> bool {
    double
        .requests_with_tokens()
        .iter()
        .any(|(_, sent)| sent.as_deref() == Some(token))
}

/// Item 2: while service-discover is down, any local user can bind 127.0.0.1:8500 first, and
/// root's `members`, `catalog` and `doctor --prometheus` (the packaged timer, every 5 minutes)
/// sent it the archive's global-management token.
#[test]
fn the_archive_token_never_goes_to_a_port_another_user_bound_first() {
    if !root() {
        eprintln!("skipped: needs root to listen as another user");
        return;
    }
    let (sandbox, _real, token) = mesh_server(&["members", "catalog", "doctor"]);
    let impostor = as_user(NOBODY, || Double::start(Cluster::fixture()).unwrap());
    let url = impostor.url();
    for words in [
        &["members"][..],
        &["catalog", "nodes"],
        &["doctor"],
        &["doctor", "--prometheus"],
    ] {
        let (code, out, err) = run(sandbox.cmd().args(["--http-addr", &url]).args(words));
        assert!(
            !token_reached(&impostor, &token),
            "{words:?} sent the token"
        );
        if words.len() == 1 {
            assert!(
                format!("{out}{err}").contains("uid 65534"),
                "{words:?} ({code}) says why: {out}{err}"
            );
        }
        if words[0] != "doctor" {
            assert_eq!(code, 5, "{words:?}: {err}");
            assert!(err.contains("not sent"), "{err}");
        }
    }
    // Given explicitly, a token goes where the admin sends it.
    let file = sandbox.file_beside_root("token", &format!("{token}\n"));
    let (_, _, err) = run(sandbox
        .cmd()
        .args(["--http-addr", &url, "--token-file"])
        .arg(&file)
        .arg("members"));
    assert!(token_reached(&impostor, &token), "{err}");
    // The service user owns Consul's listener on a real node: that one gets the archive token.
    let trusted = as_user(NOBODY, || Double::start(Cluster::fixture()).unwrap());
    let config = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("10-mesh.toml");
    fs::write(&config, "[mesh]\nservice_user = \"nobody\"\n").unwrap();
    let (_, _, err) = run(sandbox
        .cmd()
        .args(["--http-addr", &trusted.url(), "members"]));
    assert!(token_reached(&trusted, &token), "{err}");
}

/// A TCP listener on 127.0.0.1 opened as `uid`, keeping every byte it is sent.
fn recording_listener(uid: u32) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = as_user(uid, || std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let into = into.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    into.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
    });
    (port, seen)
}

/// Item 2, LDAP: the bind password of localconfig.xml went to whatever listened on the
/// `ldap://127.0.0.1` port it names.
#[test]
fn the_ldap_bind_password_never_goes_to_a_port_another_user_bound_first() {
    if !root() {
        eprintln!("skipped: needs root to listen as another user");
        return;
    }
    let (sandbox, double, _) = mesh_server(&[]);
    let (port, seen) = recording_listener(NOBODY);
    install_localconfig(
        &sandbox,
        &localconfig_xml(&format!("ldap://127.0.0.1:{port}"), BIND_DN, BIND_PASSWORD),
    );
    let (code, out, err) = run(sandbox.cmd().args([
        "--http-addr",
        &double.url(),
        "credentials",
        "verify",
        "--format",
        "json",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(!seen.contains(BIND_PASSWORD), "the bind password was sent");
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("uid 65534"), "{out}");
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

/// A directory beside the sandbox's root (outside the simulated system) holding `name`.
fn outside(sandbox: &Sandbox, name: &str, text: &str) -> PathBuf {
    let dir = sandbox.root().parent().unwrap().join("outside");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    fs::write(&file, text).unwrap();
    file
}

/// Item 5: `--root DIR` followed absolute links inside the tree out of it: a directory of the
/// tree that is a link to `/somewhere` led writes, removals, reads and stats to the real
/// `/somewhere`.
#[test]
fn root_confines_every_file_service_to_the_tree() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    let target = outside(&sandbox, "target.txt", "outside, untouched");
    let outside_dir = target.parent().unwrap().to_owned();
    sandbox.make_dir("/etc");
    std::os::unix::fs::symlink(&outside_dir, sandbox.path("/etc/linked")).unwrap();
    let through = "/etc/linked/target.txt";
    for words in [
        vec!["ok", "write", "--path", through, "--content", "replaced"],
        vec!["ok", "remove", "--path", through],
        vec!["ok", "read", "--path", through],
        vec!["ok", "stat", "--path", through],
    ] {
        let (code, out, err) = run(sandbox.cmd().args(&words));
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            "outside, untouched",
            "{words:?}"
        );
        assert!(
            !out.contains("outside, untouched"),
            "{words:?} read it: {out}"
        );
        assert!(
            !out.contains("exists=true"),
            "{words:?} saw the file: {out}"
        );
        assert!(code == 0 || code == 5, "{words:?}: {err}");
    }
    // Inside the tree, an absolute link means the tree's own path, as it would after chroot.
    let own = sandbox.make_dir(outside_dir.to_str().unwrap());
    fs::write(own.join("target.txt"), "the tree's own").unwrap();
    let out = stdout_of(sandbox.cmd().args(["ok", "read", "--path", through]));
    assert_eq!(out, "the tree's own");
    assert_eq!(fs::read_dir(&outside_dir).unwrap().count(), 1);
}

/// Item 5: `credentials rekey --root DIR` rewrote an archive outside DIR when the tree's
/// `etc/zextras/service-discover` was a link to it.
#[test]
fn rekey_under_root_never_rewrites_an_archive_outside_the_tree() {
    let (sandbox, _double, _) = mesh_server(&[]);
    let etc = sandbox.path("/etc/zextras/service-discover");
    let elsewhere = sandbox.root().parent().unwrap().join("elsewhere");
    fs::rename(&etc, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &etc).unwrap();
    let before = fs::read(elsewhere.join("cluster-credentials.tar.gpg")).unwrap();
    let old = sandbox.file_beside_root("old", &format!("{PASSWORD}\n"));
    let new = sandbox.file_beside_root("new", &format!("{NEW_PASSWORD}\n"));
    let (code, _, err) = run(sandbox
        .cmd()
        .args(["--yes", "credentials", "rekey", "--password-file"])
        .arg(&old)
        .arg("--new-password-file")
        .arg(&new));
    assert!(
        fs::read(elsewhere.join("cluster-credentials.tar.gpg")).unwrap() == before,
        "the archive outside the tree was rewritten: {err}"
    );
    assert_eq!(code, 5, "{err}");
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

/// Item 7: `[backup] dir` was not trust-checked: secrets were copied into another user's
/// directory.
#[test]
fn a_backup_directory_others_can_write_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    sandbox.make_dir("/etc");
    fs::write(sandbox.path("/etc/secret.txt"), "old secret").unwrap();
    let shared = sandbox.make_dir("/srv/shared");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let config = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("10-backup.toml");
    fs::write(&config, "[backup]\ndir = \"/srv/shared\"\n").unwrap();
    let (code, _, err) = run(sandbox.cmd().args([
        "ok",
        "write",
        "--path",
        "/etc/secret.txt",
        "--content",
        "new secret",
    ]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&shared.display().to_string()), "{err}");
    assert!(err.contains("chmod go-w"), "{err}");
    assert_eq!(
        fs::read_to_string(sandbox.path("/etc/secret.txt")).unwrap(),
        "old secret"
    );
    assert_eq!(fs::read_dir(&shared).unwrap().count(), 0, "a copy was made");
}

/// Writes run `run`'s journal under `root` (the records as JSON lines).
fn journal(sandbox: &Sandbox, run: &str, records: &[serde_json::Value]) {
    let dir = sandbox.make_dir(&format!("/var/lib/carbonio-mesh/runs/{run}"));
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    fs::write(dir.join("journal.jsonl"), text).unwrap();
}

/// Item 7: `secret restore` put another user's bytes back as main.json: the run's backup
/// directory was theirs to change.
#[test]
fn restore_takes_backups_only_from_the_trusted_backup_directory() {
    if !root() {
        eprintln!("skipped: needs root to give a directory away");
        return;
    }
    let leader = MeshLeader::new(PASSWORD);
    let sandbox = &leader.sandbox;
    let main_json = "/etc/zextras/service-discover/main.json";
    let before = fs::read(sandbox.path(main_json)).unwrap();
    let theirs = sandbox.make_dir("/home/mallory/backups");
    nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let planted = sandbox.make_dir("/home/mallory/backups/1-2/etc/zextras/service-discover");
    fs::write(planted.join("main.json"), "{\"acl\": \"mallory's\"}").unwrap();
    leader.config(
        "20-backup.toml",
        "[backup]\ndir = \"/home/mallory/backups\"\n",
    );
    let run_name = "1796135620-5193";
    journal(
        sandbox,
        run_name,
        &[
            serde_json::json!({"event": "run", "workflow": "secret-regenerate", "at": 1}),
            serde_json::json!({"event": "removed", "step": "backup-and-remove", "path": main_json,
                "backup": format!("/home/mallory/backups/1-2{main_json}")}),
        ],
    );
    let (code, _, err) = run(leader.cmd().args(["--yes", "secret", "restore", run_name]));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("/home/mallory/backups"), "{err}");
    assert_eq!(fs::read(sandbox.path(main_json)).unwrap(), before);
}

/// Item 8: `secret prune` deleted any directory a journal named: a hostile member name in a
/// finished run's journal removed the backups of an unfinished run.
#[test]
fn prune_removes_only_the_backups_a_run_recorded_as_its_own() {
    let sandbox = Sandbox::new();
    sandbox.install_product("secret");
    let victim = sandbox.make_dir("/var/backups/carbonio-mesh/1796135700-777/etc/zextras");
    fs::write(victim.join("main.json"), "the unfinished run's backup").unwrap();
    journal(
        &sandbox,
        "1796135620-5193",
        &[
            serde_json::json!({"event": "run", "workflow": "secret-regenerate", "at": 1}),
            serde_json::json!({"event": "node", "step": "rejoin-nodes",
                "node": "/var/backups/carbonio-mesh/1796135700-777/x", "host": null,
                "address": "192.168.56.110", "result": "failed", "detail": "unreachable"}),
            serde_json::json!({"event": "finished", "at": 2}),
        ],
    );
    journal(
        &sandbox,
        "1796135700-778",
        &[
            serde_json::json!({"event": "run", "workflow": "secret-regenerate", "at": 3}),
            serde_json::json!({"event": "removed", "step": "backup-and-remove",
                "path": "/etc/zextras/main.json",
                "backup": "/var/backups/carbonio-mesh/1796135700-777/etc/zextras/main.json"}),
        ],
    );
    let (code, out, err) = run(sandbox
        .cmd()
        .args(["--yes", "secret", "prune", "--keep", "0"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1796135620-5193"), "{out}");
    assert!(
        victim.join("main.json").exists(),
        "the unfinished run's backups were removed: {out}"
    );
    assert!(!sandbox
        .path("/var/lib/carbonio-mesh/runs/1796135620-5193")
        .exists());
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

/// Item 11: naming `[steps.doctor-transport]` made `secret` load every plugin in its own
/// process: one that crashes while loading killed `secret plan` with SIGSEGV.
#[test]
fn other_plugins_steps_are_resolved_without_loading_them_in_process() {
    let sandbox = Sandbox::new();
    for plugin in ["secret", "doctor"] {
        sandbox.install_product(plugin);
    }
    sandbox.install("segfaulting", &sandbox.plugin_dir(), "segfaulting");
    let config = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("40-doctor.toml");
    fs::write(
        &config,
        "[steps.doctor-transport]\nexec = [\"ssh\", \"root@{host}\", \"carbonio-mesh\", \"doctor\", \"--local\", \"--format\", \"json\"]\n",
    )
    .unwrap();
    let (code, out, err) = run(sandbox.cmd().args(["secret", "plan"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("preflight"), "{out}");
}

/// Item 13: a password inside `CONSUL_HTTP_ADDR` (`http://user:pw@host`) was printed in errors,
/// JSON documents and `-vvv` logs.
#[test]
fn a_password_in_the_consul_address_is_never_printed() {
    let sandbox = Sandbox::new();
    sandbox.install_product("members");
    let secret = "Addr-Pw-7c1e";
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let double = Double::start(Cluster::fixture()).unwrap();
    for (addr, format) in [
        (format!("http://admin:{secret}@127.0.0.1:{closed}"), "human"),
        (format!("http://admin:{secret}@127.0.0.1:{closed}"), "json"),
        (format!("http://admin:{secret}@{}", double.addr()), "human"),
    ] {
        let (code, out, err) = run(sandbox
            .cmd()
            .env("CONSUL_HTTP_ADDR", &addr)
            .args(["-vvv", "members", "--token", "t", "--format", format]));
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{addr} ({code}): {out}{err}"
        );
        assert!(
            out.contains("127.0.0.1") || err.contains("127.0.0.1"),
            "{err}"
        );
    }
}

/// Item 14: `localhost` was taken for loopback by its name, so the archive's token went over
/// plain http to whatever address the resolver gave for it. The resolver here is the system's,
/// in a mount namespace whose /etc/hosts maps `localhost` to this host's network address.
#[test]
fn localhost_is_judged_by_the_address_connected_to() {
    if !root()
        || !std::process::Command::new("unshare")
            .args(["--mount", "true"])
            .status()
            .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: needs root and mount namespaces");
        return;
    }
    let (sandbox, _real, token) = mesh_server(&["members"]);
    let ip = local_ip();
    let double = Double::start_on(&format!("{ip}:0"), Cluster::fixture()).unwrap();
    let hosts = sandbox.file_beside_root("hosts", &format!("{ip} localhost\n"));
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} --root {} --plugin-dir {} --http-addr http://localhost:{} members",
        hosts.display(),
        binary().display(),
        sandbox.root().display(),
        sandbox.plugin_dir().display(),
        double.addr().port()
    );
    let output = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env_remove("CONSUL_HTTP_ADDR")
        .env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !token_reached(&double, &token),
        "the token went to {ip}: {err}"
    );
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(&ip), "{err}");
}

/// Item 15: an explicit token sent to a remote agent over plain http: a careful admin wants to
/// hear about it, once.
#[test]
fn an_explicit_token_over_plain_http_to_another_host_is_warned_about_once() {
    let sandbox = Sandbox::new();
    sandbox.install_product("catalog");
    let double = Double::start_on(&format!("{}:0", local_ip()), Cluster::fixture()).unwrap();
    let (code, _, err) = run(sandbox.cmd().args([
        "--http-addr",
        &double.url(),
        "--token",
        TOKEN,
        "catalog",
        "services",
        "--node",
        "srv2.example.com",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(double.requests().len() > 1, "{:?}", double.requests());
    assert_eq!(err.matches("over plain http").count(), 1, "{err}");
    // Over loopback there is nothing to say.
    let local = Double::start(Cluster::fixture()).unwrap();
    let (_, _, err) = run(sandbox.cmd().args([
        "--http-addr",
        &local.url(),
        "--token",
        TOKEN,
        "catalog",
        "services",
    ]));
    assert!(!err.contains("plain http"), "{err}");
}

/// Item 1: `write-reset-file` took the data directory from main.json, which the service user
/// owns, and followed a link in its place: root wrote `acl-bootstrap-reset`, owned by that user,
/// into `etc/cron.hourly` or `etc/update-motd.d`, where the user can make it a program root runs.
#[test]
fn the_reset_file_is_written_only_inside_service_discovers_state_directory() {
    let leader = MeshLeader::new(PASSWORD);
    let sandbox = &leader.sandbox;
    let password = sandbox.file_beside_root("new", &format!("{NEW_PASSWORD}\n"));
    let regenerate = || {
        run(leader
            .cmd()
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(&password))
    };
    let stops = || {
        fs::read_to_string(sandbox.path("/run/systemctl-standin/calls"))
            .unwrap_or_default()
            .matches("stop")
            .count()
    };
    // main.json's data_dir pointed elsewhere.
    let main_json = sandbox.path("/etc/zextras/service-discover/main.json");
    let original = fs::read_to_string(&main_json).unwrap();
    let mut main: serde_json::Value = serde_json::from_str(&original).unwrap();
    main["data_dir"] = "/etc/cron.hourly".into();
    fs::write(&main_json, main.to_string()).unwrap();
    let cron = sandbox.make_dir("/etc/cron.hourly");
    let (code, _, err) = run(leader
        .cmd()
        .args(["--yes", "secret", "regenerate", "--password-file"])
        .arg(&password));
    assert!(!cron.join("acl-bootstrap-reset").exists(), "{err}");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("/var/lib/service-discover"), "{err}");
    assert_eq!(stops(), 0, "service-discover was stopped: {err}");
    // The data directory replaced by a link to another directory.
    fs::write(&main_json, &original).unwrap();
    let motd = sandbox.make_dir("/etc/update-motd.d");
    let data = sandbox.path("/var/lib/service-discover/data");
    fs::rename(&data, sandbox.path("/var/lib/service-discover/data.real")).unwrap();
    std::os::unix::fs::symlink("../../../etc/update-motd.d", &data).unwrap();
    let (code, _, err) = regenerate();
    assert!(!motd.join("acl-bootstrap-reset").exists(), "{err}");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("link"), "{err}");
    assert_eq!(stops(), 0, "service-discover was stopped: {err}");
}
