//! Issue 24, "Security, third pass": the attacks a local user (or whoever controls a cluster
//! member or the directory) made on carbonio-mesh running as root, each driven through the built
//! binary and named after the attack it reproduces. Each test failed before its fix. (Items
//! reproduced next to their own helpers: 4, 6 and 12 in plugin-api and the doctor plugin's unit
//! tests and `doctor.rs`; 9 in `rejoin.rs`.)

use std::fs;

use carbonio_mesh_tests::{binary, on_a_terminal, run, Sandbox};
use consul_double::{Cluster, Double, Status};

/// A token the fixture cluster's double accepts.
const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";

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
