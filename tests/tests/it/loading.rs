//! Discovery, trust, version compatibility and panics, on real built cdylibs.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use carbonio_mesh_tests::{api_version, next_minor_api_version, run, stdout_of, Sandbox};
use serde_json::Value;

fn list_json(sandbox: &Sandbox) -> Vec<Value> {
    let text = stdout_of(sandbox.cmd().args(["plugins", "list", "--format", "json"]));
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

fn entry<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list:?}"))
}

#[test]
fn plugins_list_shows_versions_origins_and_each_verdict() {
    let sandbox = Sandbox::new();
    let dir = sandbox.plugin_dir();
    for (fixture, name) in [
        ("ok", "ok"),
        ("old-minor", "old-minor"),
        ("next-minor", "next-minor"),
        ("next-major", "next-major"),
        ("wrong-name", "wrong-name"),
    ] {
        sandbox.install(fixture, &dir, name);
    }
    let list = list_json(&sandbox);
    assert_eq!(list.len(), 5);
    let ok = entry(&list, "ok");
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["version"], "0.1.0");
    assert_eq!(ok["api_version"], api_version().as_str());
    assert_eq!(ok["origin"], "dir");
    assert_eq!(ok["path"], dir.join("ok.so").to_str().unwrap());
    assert_eq!(entry(&list, "old-minor")["api_version"], "1.0.0");
    assert_eq!(entry(&list, "old-minor")["status"], "ok");
    let newer = entry(&list, "next-minor")["status"]
        .as_str()
        .unwrap()
        .to_owned();
    let (host, next) = (api_version(), next_minor_api_version());
    assert!(
        newer.contains(&format!("plugin-api {next}"))
            && newer.contains(&format!("plugin-api {host}")),
        "{newer}"
    );
    let major = entry(&list, "next-major")["status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        major.contains("ABI 2.0.0") && major.contains("ABI 1.0.0"),
        "{major}"
    );
    assert!(entry(&list, "wrong-name")["fix"]
        .as_str()
        .unwrap()
        .contains("rename"));

    let (code, out, _) = run(sandbox.cmd().args(["plugins", "check"]));
    assert_eq!(code, 4);
    assert!(
        out.contains("refused: next-minor:") && out.contains("    fix: rebuild"),
        "{out}"
    );
    assert!(out.ends_with("5 plugins checked, 3 refused\n"), "{out}");
}

#[test]
fn plugins_check_passes_when_everything_loads() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    let (code, out, _) = run(sandbox.cmd().args(["plugins", "check", "--format", "json"]));
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["checked"], 1);
}

#[test]
fn a_plugin_built_against_the_first_minor_still_runs() {
    let sandbox = Sandbox::new();
    sandbox.install("old-minor", &sandbox.plugin_dir(), "old-minor");
    assert_eq!(
        stdout_of(sandbox.cmd().arg("old-minor")),
        "old-minor built against plugin-api 1.0.0\n"
    );
}

#[test]
fn newer_minor_and_other_major_are_refused_with_both_versions() {
    let sandbox = Sandbox::new();
    sandbox.install("next-minor", &sandbox.plugin_dir(), "next-minor");
    sandbox.install("next-major", &sandbox.plugin_dir(), "next-major");
    let (code, _, err) = run(sandbox.cmd().arg("next-minor"));
    assert_eq!(code, 4);
    let (host, next) = (api_version(), next_minor_api_version());
    assert!(
        err.contains(&format!(
            "built against plugin-api {next}, but this carbonio-mesh speaks plugin-api {host}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "fix: rebuild the plugin against carbonio-mesh-plugin-api {host}"
        )),
        "{err}"
    );
    let (code, _, err) = run(sandbox.cmd().arg("next-major"));
    assert_eq!(code, 4);
    assert!(
        err.contains("ABI 2.0.0") && err.contains("ABI 1.0.0"),
        "{err}"
    );
}

#[test]
fn a_manifest_name_that_differs_from_the_file_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.install("wrong-name", &sandbox.plugin_dir(), "wrong-name");
    let (code, _, err) = run(sandbox.cmd().arg("wrong-name"));
    assert_eq!(code, 4);
    assert!(err.contains("says it is plugin 'not-wrong-name'"), "{err}");
}

#[test]
fn a_panicking_plugin_leaves_the_host_alive_with_a_clear_error() {
    let sandbox = Sandbox::new();
    sandbox.install("panicking", &sandbox.plugin_dir(), "panicking");
    let (code, out, err) = run(sandbox.cmd().arg("panicking"));
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("the plugin panicked at tests/fixture-plugins/panicking/src/lib.rs"),
        "{err}"
    );
    assert!(err.contains("the cluster has 0 members"), "{err}");
    assert!(err.contains("fix: this is a bug in the plugin"), "{err}");
    assert!(
        !err.contains("RUST_BACKTRACE"),
        "the plugin's own panic hook output must not leak: {err}"
    );
}

/// The marker fixture writes a file the moment it is loaded.
fn marker_run(sandbox: &Sandbox, dir_mode: u32) -> (i32, String, bool) {
    let dir = sandbox.plugin_dir();
    sandbox.install("marker", &dir, "marker");
    fs::set_permissions(&dir, fs::Permissions::from_mode(dir_mode)).unwrap();
    let marker = sandbox.path("/marker-was-loaded");
    let (code, _, err) = run(sandbox
        .cmd()
        .arg("marker")
        .env("CARBONIO_MESH_TEST_MARKER", &marker));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    (code, err, marker.exists())
}

#[test]
fn a_plugin_in_a_world_writable_directory_is_never_loaded() {
    // Control: in a clean directory the same file is loaded and writes its marker.
    let (code, err, loaded) = marker_run(&Sandbox::new(), 0o755);
    assert_eq!((code, loaded), (0, true), "{err}");

    let sandbox = Sandbox::new();
    let (code, err, loaded) = marker_run(&sandbox, 0o777);
    assert_eq!(code, 4);
    assert!(!loaded, "the refused plugin's constructor ran");
    let dir = sandbox.plugin_dir();
    assert!(
        err.contains(&format!(
            "{} is writable by everyone (mode 0777)",
            dir.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("fix: chmod go-w {}", dir.display())),
        "{err}"
    );
}

#[test]
fn running_a_command_loads_only_that_plugins_file() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    sandbox.install("marker", &sandbox.plugin_dir(), "marker");
    let marker = sandbox.path("/marker-was-loaded");
    stdout_of(
        sandbox
            .cmd()
            .args(["ok", "echo"])
            .env("CARBONIO_MESH_TEST_MARKER", &marker),
    );
    assert!(!marker.exists(), "running `ok` loaded the marker plugin");
}

#[test]
fn unsafe_plugin_files_are_refused_with_the_reason_and_fix() {
    type Spoil = fn(&std::path::Path);
    let cases: [(&str, Spoil, &str); 4] = [
        (
            "group-writable",
            |p| fs::set_permissions(p, fs::Permissions::from_mode(0o775)).unwrap(),
            "is writable by its group (mode 0775)",
        ),
        (
            "setuid",
            |p| fs::set_permissions(p, fs::Permissions::from_mode(0o4755)).unwrap(),
            "has the setuid or setgid bit",
        ),
        (
            "other-owner",
            |p| nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap(),
            "is owned by uid 65534, not by root",
        ),
        (
            "symlinked",
            |p| {
                let real = p.with_file_name("real-file");
                fs::rename(p, &real).unwrap();
                symlink(&real, p).unwrap();
            },
            "is a symbolic link",
        ),
    ];
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "these tests run as root, like the host on a Carbonio node"
    );
    for (what, spoil, expected) in cases {
        let sandbox = Sandbox::new();
        let file = sandbox.install("ok", &sandbox.plugin_dir(), "ok");
        spoil(&file);
        let (code, out, err) = run(sandbox.cmd().args(["ok", "echo"]));
        assert_eq!(code, 4, "{what}: {err}");
        assert_eq!(out, "", "{what}");
        assert!(
            err.contains(&format!("plugin 'ok' refused: {}", file.display())),
            "{what}: {err}"
        );
        assert!(err.contains(expected), "{what}: {err}");
        assert!(err.contains("  fix: "), "{what}: {err}");
    }
}

#[test]
fn a_site_plugin_overrides_the_vendor_one() {
    let sandbox = Sandbox::new();
    // The vendor copy would be refused (its manifest says another name): if it were loaded,
    // the command would fail.
    let vendor = sandbox.install("wrong-name", &sandbox.vendor_dir(), "old-minor");
    let site = sandbox.install("old-minor", &sandbox.site_dir(), "old-minor");
    assert_eq!(
        stdout_of(sandbox.bare_cmd().arg("old-minor")),
        "old-minor built against plugin-api 1.0.0\n"
    );
    let text = stdout_of(
        sandbox
            .bare_cmd()
            .args(["plugins", "list", "--format", "json"]),
    );
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    let entry = entry(&list, "old-minor");
    assert_eq!(entry["origin"], "site");
    assert_eq!(entry["path"], site.to_str().unwrap());
    assert_eq!(
        entry["overrides"],
        serde_json::json!([vendor.to_str().unwrap()])
    );
}

#[test]
fn a_mask_switches_a_plugin_off() {
    for make_mask in [
        |p: &std::path::Path| symlink("/dev/null", p).unwrap(),
        |p: &std::path::Path| fs::write(p, b"").unwrap(),
    ] {
        let sandbox = Sandbox::new();
        let vendor = sandbox.install("ok", &sandbox.vendor_dir(), "ok");
        let mask = sandbox.site_dir().join("ok.so");
        make_mask(&mask);
        let (code, _, err) = run(sandbox.bare_cmd().args(["ok", "echo"]));
        assert_eq!(code, 4);
        assert!(
            err.contains(&format!("plugin 'ok' is masked by {}", mask.display())),
            "{err}"
        );
        let list: Vec<Value> = serde_json::from_str(&stdout_of(
            sandbox
                .bare_cmd()
                .args(["plugins", "list", "--format", "json"]),
        ))
        .unwrap();
        assert_eq!(list[0]["status"], "masked");
        assert_eq!(
            list[0]["masks"],
            serde_json::json!([vendor.to_str().unwrap()])
        );
        let (_, help, _) = run(sandbox.bare_cmd().arg("--help"));
        assert!(
            !help.contains("  ok "),
            "a masked plugin is not offered in help: {help}"
        );
    }
}

#[test]
fn cargo_build_names_are_accepted() {
    let sandbox = Sandbox::new();
    sandbox.install("ok", &sandbox.plugin_dir(), "libcarbonio_mesh_plugin_ok");
    assert_eq!(
        stdout_of(
            sandbox
                .cmd()
                .args(["ok", "echo", "--text", "from cargo's name"])
        ),
        "from cargo's name\n"
    );
}

/// Listing takes each plugin's manifest from the probe cache (`/var/cache/carbonio-mesh`, made
/// 0700 by the first listing) while the plugin file is the same file, probes it again once the
/// file changes, and ignores a cache that someone else could have written.
#[test]
fn listing_probes_each_plugin_file_once_until_it_changes() {
    const REAL: &str = "Fixture plugin that behaves";
    let sandbox = Sandbox::new();
    sandbox.make_dir("/var/cache");
    let ok = sandbox.install("ok", &sandbox.plugin_dir(), "ok");
    let described = || entry(&list_json(&sandbox), "ok")["description"].clone();
    assert_eq!(described(), REAL);
    let cache = sandbox.path("/var/cache/carbonio-mesh/probes.json");
    let mode = |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
    assert_eq!(mode(&cache), 0o600);
    // What the cache holds is what is shown, in the list and in --help: nothing was probed.
    let kept = fs::read_to_string(&cache).unwrap();
    assert!(kept.contains(REAL), "{kept}");
    fs::write(&cache, kept.replace(REAL, "Kept from the first listing")).unwrap();
    assert_eq!(described(), "Kept from the first listing");
    let help = stdout_of(sandbox.cmd().arg("--help"));
    assert!(help.contains("Kept from the first listing"), "{help}");
    // The plugin file changes (its times do): probed again, and the cache follows.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&ok)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(described(), REAL);
    // A cache others may write is not believed, and is replaced by one that is ours.
    let kept = fs::read_to_string(&cache).unwrap();
    fs::write(&cache, kept.replace(REAL, "Planted")).unwrap();
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(described(), REAL);
    assert_eq!(mode(&cache), 0o600);
}
