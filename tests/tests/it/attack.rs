//! The holes an adversarial review found in the tool running as root, each driven through the
//! built binary: host options honoured wherever clap accepts them, configuration obeying the
//! plugin trust rules, secrets kept out of output. Each test failed before its fix.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use carbonio_mesh_tests::{binary, first_mesh_server, gpg_decrypt, run, Sandbox, PRODUCT_PLUGINS};
use consul_double::{Cluster, Double, Status};

const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// Every product plugin, as (command path, arguments after it): one command of each.
const COMMANDS: &[(&[&str], &[&str])] = &[
    (&["members"], &[]),
    (&["catalog", "nodes"], &[]),
    (&["catalog", "services"], &[]),
    (&["leader"], &[]),
    (&["credentials", "token"], &[]),
    (&["credentials", "rekey"], &[]),
    (&["secret", "plan"], &[]),
    (&["services", "deregister"], &["--id", "carbonio-mailbox"]),
    (&["force-leave"], &["proxy.example.com"]),
    (&["reload"], &[]),
];

/// `carbonio-mesh` with a clean environment and no option given yet (unlike `Sandbox::cmd`,
/// which puts `--root` and `--plugin-dir` first).
fn bare() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(binary());
    for var in [
        "CARBONIO_MESH_PLUGIN_DIR",
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
        "CONSUL_HTTP_TOKEN_FILE",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `words` (plugin name first) then `tail`, with `options` put at `level`: 0 before the plugin
/// name, 1 right after it, 2 after the first subcommand, ...
fn at_level(words: &[&str], tail: &[&str], level: usize, options: &[String]) -> Vec<String> {
    let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    let at = level.min(args.len());
    args.splice(at..at, options.iter().cloned());
    args.extend(tail.iter().map(|t| (*t).to_owned()));
    args
}

fn levels(words: &[&str]) -> std::ops::RangeInclusive<usize> {
    0..=words.len()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A configuration fragment every command trips over (exit 3, naming the file): the proof that
/// the command read the configuration of the root it was given.
fn broken_config(sandbox: &Sandbox) -> PathBuf {
    let file = sandbox
        .make_dir("/etc/carbonio-mesh/config.d")
        .join("50-proof.toml");
    fs::write(&file, "[exec]\nnot_a_key = 1\n").unwrap();
    file
}

#[test]
fn root_and_plugin_dir_count_at_every_level_of_every_plugin() {
    let sandbox = Sandbox::new();
    let vendor = sandbox.vendor_dir();
    for plugin in PRODUCT_PLUGINS {
        sandbox.install_product(plugin);
        fs::copy(
            sandbox.plugin_dir().join(format!("{plugin}.so")),
            vendor.join(format!("{plugin}.so")),
        )
        .unwrap();
    }
    let proof = broken_config(&sandbox);
    let root = sandbox.root().display().to_string();
    let plugin_dir = sandbox.plugin_dir().display().to_string();
    for (words, tail) in COMMANDS {
        for level in levels(words) {
            // --root alone: the plugin is found in the root's vendor directory, and the root's
            // configuration is what is read.
            for root_option in [
                vec!["--root".to_owned(), root.clone()],
                vec![format!("--root={root}")],
            ] {
                let args = at_level(words, tail, level, &root_option);
                let (code, _, err) = run(bare().args(&args));
                assert_eq!(code, 3, "{args:?}: {err}");
                assert!(
                    err.contains(&proof.display().to_string()),
                    "{args:?}: {err}"
                );
            }
            // --plugin-dir at this level, --root before the plugin name.
            let mut args = strings(&["--root", &root]);
            args.extend(at_level(
                words,
                tail,
                level,
                &strings(&["--plugin-dir", &plugin_dir]),
            ));
            let (code, _, err) = run(bare().args(&args));
            assert_eq!(code, 3, "{args:?}: {err}");
        }
    }
}

#[test]
fn consul_options_and_format_count_at_every_level() {
    let sandbox = Sandbox::new();
    for plugin in ["members", "catalog"] {
        sandbox.install_product(plugin);
    }
    let double = Double::start(Cluster::fixture()).unwrap();
    let token_file = sandbox.file_beside_root("token", &format!("{TOKEN}\n"));
    let url = double.url();
    let common = [
        "--http-addr",
        url.as_str(),
        "--datacenter",
        "dc1",
        "--stale",
        "--format",
        "json",
    ];
    let mut with_token = strings(&common);
    with_token.extend(strings(&["--token", TOKEN]));
    // -v says which source the token came from: proof that both were read at that level.
    let mut with_token_file = strings(&common);
    with_token_file.extend(strings(&[
        "-v",
        "--token-file",
        &token_file.display().to_string(),
    ]));
    for words in [
        &["members"][..],
        &["catalog", "nodes"],
        &["catalog", "services"],
    ] {
        for (level, options) in
            levels(words).flat_map(|level| [(level, &with_token), (level, &with_token_file)])
        {
            let before = double.requests_with_tokens().len();
            let args = at_level(words, &[], level, options);
            let (code, out, err) = run(sandbox.cmd().args(&args));
            assert_eq!(code, 0, "{args:?}: {err}");
            if options.iter().any(|o| o == "-v") {
                assert!(
                    err.contains("Consul token from --token-file"),
                    "{args:?}: {err}"
                );
            }
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"));
            let sent = &double.requests_with_tokens()[before..];
            assert!(!sent.is_empty(), "{args:?}: nothing reached the double");
            for (request, token) in sent {
                assert_eq!(token.as_deref(), Some(TOKEN), "{args:?}: {request}");
                if words[0] == "catalog" {
                    assert!(
                        request.contains("dc=dc1") && request.contains("stale"),
                        "{args:?}: {request}"
                    );
                }
            }
        }
    }
}

/// The fixture cluster seen from the mailbox node's agent (which runs carbonio-mailbox), with
/// the proxy node failed.
fn cluster_for_changes() -> Cluster {
    let mut cluster = Cluster::fixture();
    cluster.local_node = "agent-mail-example-com".into();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = Status::Failed;
    cluster
}

#[test]
fn dry_run_and_yes_count_at_every_level_of_every_cluster_change() {
    let changes: &[(&[&str], &[&str])] = &[
        (&["services", "deregister"], &["--id", "carbonio-mailbox"]),
        (&["force-leave"], &["proxy.example.com"]),
        (&["reload"], &[]),
    ];
    let sandbox = Sandbox::new();
    for plugin in ["services", "force-leave", "reload"] {
        sandbox.install_product(plugin);
    }
    for (words, tail) in changes {
        for level in levels(words) {
            let double = Double::start(cluster_for_changes()).unwrap();
            let consul = strings(&["--http-addr", &double.url(), "--token", TOKEN]);
            let changes_sent = || {
                double
                    .requests()
                    .iter()
                    .filter(|r| r.starts_with("PUT "))
                    .count()
            };
            // --dry-run (with --yes) at this level: nothing is sent.
            let args = at_level(words, tail, level, &strings(&["--dry-run", "--yes"]));
            let (code, _, err) = run(sandbox.cmd().args(&consul).args(&args));
            assert_eq!(code, 0, "{args:?}: {err}");
            assert!(
                err.contains("Dry run: nothing was changed"),
                "{args:?}: {err}"
            );
            assert_eq!(changes_sent(), 0, "{args:?}: {:?}", double.requests());
            // --yes at this level, no terminal: the change is made.
            let args = at_level(words, tail, level, &strings(&["--yes"]));
            let (code, _, err) = run(sandbox.cmd().args(&consul).args(&args));
            assert_eq!(code, 0, "{args:?}: {err}");
            assert_eq!(changes_sent(), 1, "{args:?}: {:?}", double.requests());
        }
    }
}

/// A Mesh server's files under the sandbox root, and the credentials plugin.
fn mesh_server(password: &str) -> (Sandbox, Double) {
    let (sandbox, double) = first_mesh_server(password);
    sandbox.install_product("credentials");
    (sandbox, double)
}

#[test]
fn rekey_with_root_after_the_plugin_name_changes_only_the_sandbox() {
    let (sandbox, _double) = mesh_server("old-Mesh-password-1");
    let old = sandbox.file_beside_root("old", "old-Mesh-password-1\n");
    let new = sandbox.file_beside_root("new", "new-Mesh-password-2\n");
    let root = sandbox.root();
    for (n, words) in [
        vec!["credentials", "rekey", "--root"],
        vec!["credentials", "--root"],
    ]
    .into_iter()
    .enumerate()
    {
        let (from, to) = if n == 0 { (&old, &new) } else { (&new, &old) };
        let mut cmd = bare();
        cmd.arg("--plugin-dir")
            .arg(sandbox.plugin_dir())
            .args(&words)
            .arg(&root);
        if words.len() == 2 {
            cmd.arg("rekey");
        }
        cmd.arg("--yes")
            .arg("--password-file")
            .arg(from)
            .arg("--new-password-file")
            .arg(to);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{words:?}: {err}");
        assert!(out.contains("Re-encrypted"), "{out}");
        // The sandbox's archive changed (real gpg opens it with the new password) and its backup
        // went under the sandbox's /var/backups.
        let password = fs::read_to_string(to).unwrap();
        gpg_decrypt(&sandbox.path(ARCHIVE), password.trim());
        assert!(sandbox.path("/var/backups/carbonio-mesh").is_dir());
    }
}

#[test]
fn a_new_password_shorter_than_twelve_characters_is_refused() {
    let (sandbox, _double) = mesh_server("old-Mesh-password-1");
    let old = sandbox.file_beside_root("old", "old-Mesh-password-1\n");
    let short = sandbox.file_beside_root("short", "zextras1\n");
    let before = fs::read(sandbox.path(ARCHIVE)).unwrap();
    let (code, _, err) = run(sandbox
        .cmd()
        .args(["--yes", "credentials", "rekey", "--password-file"])
        .arg(&old)
        .arg("--new-password-file")
        .arg(&short));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shorter than 12"), "{err}");
    assert_eq!(fs::read(sandbox.path(ARCHIVE)).unwrap(), before);
}

#[test]
fn an_empty_root_or_plugin_dir_is_a_usage_error() {
    for option in ["--root=", "--plugin-dir="] {
        let (code, _, err) = run(bare().args(["members", option]));
        assert_eq!(code, 2, "{option}: {err}");
        assert!(err.contains("not an empty value"), "{err}");
    }
}

/// An agent that answers every request with a redirect to `to`, counting what it got.
fn redirecting_agent(to: String) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}/v1/agent/members\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, handle)
}

#[test]
fn a_redirect_is_not_followed_so_the_token_stays_with_the_agent() {
    let sandbox = Sandbox::new();
    sandbox.install_product("members");
    // Where the redirect points: it must never see a request, let alone the token.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let (agent, handle) = redirecting_agent(format!("http://{}", elsewhere.local_addr().unwrap()));
    let (code, _, err) =
        run(sandbox
            .cmd()
            .args(["--http-addr", &agent, "--token", TOKEN, "members"]));
    handle.join().unwrap();
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("307"), "{err}");
    assert!(
        elsewhere.accept().is_err(),
        "the redirect was followed, with the token"
    );
}

#[test]
fn an_untrusted_configuration_file_is_refused_and_its_command_never_runs() {
    let sandbox = Sandbox::new();
    sandbox.install_product("secret");
    let marker = sandbox.root().parent().unwrap().join("evil-ran");
    let drop_ins = sandbox.make_dir("/etc/carbonio-mesh/config.d");
    fs::set_permissions(&drop_ins, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(
        drop_ins.join("99-evil.toml"),
        format!(
            "[steps.preflight]\nexec = [\"/bin/sh\", \"-c\", \"id > {}\"]\n",
            marker.display()
        ),
    )
    .unwrap();
    let password = sandbox.file_beside_root("new", "new-Mesh-password-2\n");
    for args in [
        vec!["secret", "plan"],
        vec!["secret", "regenerate", "--yes", "--password-file"],
    ] {
        let mut cmd = sandbox.cmd();
        cmd.args(&args);
        if args.len() > 2 {
            cmd.arg(&password);
        }
        let (code, _, err) = run(&mut cmd);
        assert_eq!(code, 4, "{args:?}: {err}");
        assert!(
            err.contains(&format!("{} is not trusted", drop_ins.display())),
            "{err}"
        );
        assert!(
            err.contains(&format!("fix: chmod go-w {}", drop_ins.display())),
            "{err}"
        );
        assert!(!marker.exists(), "the untrusted step ran");
    }
    // Closed again, the same file is obeyed (and a misspelled step is named with its line).
    fs::set_permissions(&drop_ins, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        drop_ins.join("99-evil.toml"),
        "# site\n[steps.stop-servce]\nexec = [\"true\"]\n",
    )
    .unwrap();
    let (code, _, err) = run(sandbox.cmd().args(["secret", "plan"]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("99-evil.toml: line 2"), "{err}");
    assert!(err.contains("'stop-servce'"), "{err}");
}

#[test]
fn a_mask_owned_by_someone_else_does_not_switch_a_plugin_off() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to give a file away");
        return;
    }
    // The packaged plugin in the vendor directory; a site mask (an empty file) above it.
    let sandbox = Sandbox::new();
    let packaged = sandbox.install_product("members");
    fs::rename(&packaged, sandbox.vendor_dir().join("members.so")).unwrap();
    let mask = sandbox.site_dir().join("members.so");
    fs::write(&mask, b"").unwrap();
    nix::unistd::chown(&mask, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let (code, _, err) = run(sandbox.bare_cmd().args(["members"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("owned by uid 65534"), "{err}");
    assert!(!err.contains("masked"), "{err}");
}

#[test]
fn control_characters_from_consul_are_shown_not_obeyed() {
    let sandbox = Sandbox::new();
    sandbox.install_product("members");
    let mut cluster = Cluster::fixture();
    cluster.nodes[1].name = "evil\u{1b}]0;pwned\u{7}.example.com".into();
    let double = Double::start(cluster).unwrap();
    let (code, out, err) =
        run(sandbox
            .cmd()
            .args(["--http-addr", &double.url(), "--token", TOKEN, "members"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("evil\\x1b]0;pwned\\x07.example.com"), "{out}");
}
