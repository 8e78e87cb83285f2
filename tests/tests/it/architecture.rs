//! The layout rules a new engineer relies on (ARCHITECTURE.md): no import circles in the host,
//! in plugin-api and in the plugins (see `carbonio_mesh_tests::imports` for what counts).

use std::path::Path;

use carbonio_mesh_tests::imports::ModuleGraph;

/// Each circle among the modules of `crate_dir` (its root file `root`), for the message.
fn circles_of(crate_dir: &str, root: &str) -> (usize, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let graph = ModuleGraph::read(&src, root).unwrap();
    let circles = graph.circles().iter().map(ToString::to_string).collect();
    (graph.files.len(), circles)
}

#[test]
fn no_import_circles_in_the_host() {
    let (modules, circles) = circles_of("host", "main.rs");
    assert!(modules > 30, "host/src: only {modules} modules read");
    assert!(circles.is_empty(), "host/src:\n{circles}");
}

#[test]
fn no_import_circles_in_plugin_api() {
    let (modules, circles) = circles_of("plugin-api", "lib.rs");
    assert!(modules > 20, "plugin-api/src: only {modules} modules read");
    assert!(circles.is_empty(), "plugin-api/src:\n{circles}");
}

/// Every product plugin but `secret`, whose steps and nodes modules use each other until its
/// rewrite (issue 23) takes its workflow engine apart.
#[test]
fn no_import_circles_in_the_plugins() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let mut checked = 0;
    let mut found = String::new();
    for entry in std::fs::read_dir(plugins).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "secret" {
            continue;
        }
        let (_, circles) = circles_of(&format!("plugins/{name}"), "lib.rs");
        if !circles.is_empty() {
            found.push_str(&format!("plugins/{name}/src:\n{circles}"));
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} plugins read");
    assert!(found.is_empty(), "{found}");
}
