//! What a program carbonio-mesh runs inherits from it, seen from outside: the built binary runs a
//! program that reports its whole environment.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use carbonio_mesh_tests::{run, Sandbox};
use consul_double::{Cluster, Double};

/// A program that writes its environment to stderr and fails, in a world-readable temporary
/// directory (it may run as `nobody`). Removed with the directory.
fn environment_reporter() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("report-environment");
    fs::write(&path, "#!/bin/sh\nenv >&2\nexit 1\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, path)
}

#[test]
fn a_consul_token_in_our_environment_never_reaches_a_program_run_as_another_user() {
    let sandbox = Sandbox::new();
    sandbox.install_product("leader");
    let double = Double::start(Cluster::fixture()).unwrap();
    let (_dir, reporter) = environment_reporter();
    // `leader` runs `carbonio prov gas service-discover` as the Carbonio user; the reporter
    // stands in for `carbonio`, and its failure (its environment) comes back as a warning.
    let root = nix::unistd::Uid::effective().is_root();
    let user = if root {
        "nobody".to_owned()
    } else {
        nix::unistd::User::from_uid(nix::unistd::Uid::effective())
            .unwrap()
            .unwrap()
            .name
    };
    let token = "5a1f3c7e-token-in-roots-environment";
    let (_, out, err) = run(sandbox
        .cmd()
        .env("CONSUL_HTTP_ADDR", double.url())
        .env("CONSUL_HTTP_TOKEN", token)
        .env("CARBONIO_MESH_TEST_UNLISTED", "unlisted-value")
        .arg("leader")
        .arg("--carbonio")
        .arg(&reporter)
        .args(["--carbonio-user", &user]));
    let said = format!("{out}{err}");
    assert!(
        said.contains("PATH=/") && said.contains(&format!("USER={user}")),
        "the environment was reported: {said}"
    );
    // `CONSUL_HTTP_TOKEN=`: the variable in the child's environment (a warning may name the
    // variable as where our own token came from).
    for leaked in [token, "CONSUL_HTTP_TOKEN=", "CARBONIO_MESH_TEST_UNLISTED"] {
        assert!(!said.contains(leaked), "{leaked} reached the child: {said}");
    }
}
