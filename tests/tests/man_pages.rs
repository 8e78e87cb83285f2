//! `generate man DIR`: one page per command of the whole tree, plugins included, each ending with
//! the sections an admin looks for that clap does not make.

use std::fs;

use carbonio_mesh_tests::{stdout_of, Sandbox};

#[test]
fn every_page_has_exit_status_environment_and_files() {
    let sandbox = Sandbox::new();
    sandbox.install_all_products();
    let dir = tempfile::tempdir().unwrap();
    stdout_of(sandbox.cmd().arg("generate").arg("man").arg(dir.path()));
    let mut pages: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    pages.sort();
    for page in [
        "carbonio-mesh.1",
        "carbonio-mesh-catalog-nodes.1",
        "carbonio-mesh-secret-regenerate.1",
    ] {
        assert!(
            pages.contains(&dir.path().join(page)),
            "{page} missing: {pages:?}"
        );
    }
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"FILES\"",
        ] {
            assert!(text.contains(section), "{}: no {section}", page.display());
        }
        for named in [
            "CONSUL_HTTP_TOKEN_FILE",
            "CARBONIO_MESH_CHILD_ENV",
            "/etc/carbonio\\-mesh/config.d",
            "/var/lib/carbonio\\-mesh/runs",
            "\\fB8\\fR",
        ] {
            assert!(
                text.contains(named),
                "{}: does not name {named}",
                page.display()
            );
        }
    }
}
