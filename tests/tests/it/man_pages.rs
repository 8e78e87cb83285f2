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
            ".SH \"CONSUL VERSIONS\"",
        ] {
            assert!(text.contains(section), "{}: no {section}", page.display());
        }
        // The plugins' own exit codes come from their manifests.
        for named in [
            "CONSUL_HTTP_TOKEN_FILE",
            "CARBONIO_MESH_CHILD_ENV",
            "/etc/carbonio\\-mesh/config.d",
            "/var/lib/carbonio\\-mesh/runs",
            "/var/backups/carbonio\\-mesh",
            "/var/lib/service\\-discover/consul\\-agent\\-ca.pem",
            "\\fB8\\fR",
            "\\fB1.9.3, 1.10.12, 1.19.x, 1.21.4\\fR",
            "\\fB6\\fR\nleader only: it worked, and another host is the leader.",
            "\\fB10\\fR\ndoctor only: it worked, no check failed, and at least one warned.",
            "\\fB2\\fR\nmembers only: no member matched (as Consul).",
        ] {
            assert!(
                text.contains(named),
                "{}: does not name {named}",
                page.display()
            );
        }
    }
}

/// The product commands an admin runs (leaves of the plugin tree), as `--help` words.
const COMMANDS: &[&[&str]] = &[
    &["members"],
    &["leader"],
    &["catalog", "nodes"],
    &["catalog", "services"],
    &["force-leave"],
    &["reload"],
    &["services", "deregister"],
    &["credentials", "token"],
    &["credentials", "show"],
    &["credentials", "verify"],
    &["credentials", "rekey"],
    &["secret", "regenerate"],
    &["secret", "rejoin"],
    &["secret", "plan"],
    &["secret", "restore"],
    &["secret", "runs"],
    &["secret", "show"],
    &["secret", "prune"],
];

/// Read-only commands: their help does not offer `--dry-run` or `--yes`.
const READ_ONLY: &[&[&str]] = &[
    &["members"],
    &["leader"],
    &["catalog", "nodes"],
    &["catalog", "services"],
    &["credentials", "token"],
    &["credentials", "show"],
    &["credentials", "verify"],
    &["secret", "plan"],
    &["secret", "runs"],
    &["secret", "show"],
];

#[test]
fn every_command_shows_examples_in_its_help_and_man_page() {
    let sandbox = Sandbox::new();
    sandbox.install_all_products();
    let dir = tempfile::tempdir().unwrap();
    stdout_of(sandbox.cmd().arg("generate").arg("man").arg(dir.path()));
    for words in COMMANDS {
        let help = stdout_of(sandbox.cmd().args(*words).arg("--help"));
        let examples = help
            .split_once("\nExamples:\n")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{words:?} --help has no Examples:\n{help}"));
        let lines: Vec<&str> = examples
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("carbonio-mesh ") || l.contains("carbonio-mesh ")
            })
            .collect();
        assert!(
            (1..=4).contains(&lines.len()),
            "{words:?}: {} example(s)\n{examples}",
            lines.len()
        );
        let offers = |flag: &str| help.lines().any(|l| l.trim_start().starts_with(flag));
        let read_only = READ_ONLY.contains(words);
        assert_eq!(
            offers("--dry-run"),
            !read_only,
            "{words:?} --dry-run:\n{help}"
        );
        assert_eq!(offers("-y, --yes"), !read_only, "{words:?} --yes:\n{help}");
        let page = dir
            .path()
            .join(format!("carbonio-mesh-{}.1", words.join("-")));
        let text = fs::read_to_string(&page).unwrap();
        assert!(
            text.contains(".SH \"EXAMPLES\""),
            "{} has no EXAMPLES",
            page.display()
        );
        assert!(!text.contains(".SH EXTRA"), "{}", page.display());
        // The synopsis lists only the options the command takes, as its help does.
        let synopsis = text
            .split_once(".SH SYNOPSIS")
            .and_then(|(_, rest)| rest.split(".SH ").next())
            .unwrap_or_else(|| panic!("{} has no SYNOPSIS", page.display()));
        assert_eq!(
            synopsis.contains("\\-\\-dry\\-run"),
            !read_only,
            "{words:?}: {synopsis}"
        );
        assert_eq!(synopsis.contains("\\-\\-yes"), !read_only, "{words:?}");
    }
}

#[test]
fn generate_man_dry_run_writes_nothing_and_names_every_page() {
    let sandbox = Sandbox::new();
    sandbox.install_all_products();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("man1");
    let (code, out, err) = carbonio_mesh_tests::run(
        sandbox
            .cmd()
            .args(["generate", "man", "--dry-run"])
            .arg(&dir),
    );
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(!dir.exists(), "the dry run created {}", dir.display());
    assert!(
        err.starts_with("Dry run: nothing was changed. This command would:\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "  - write {}/carbonio-mesh-doctor.1\n",
            dir.display()
        )),
        "{err}"
    );
}

/// The README's tables render: a Markdown table ends at its first blank line, so a table row
/// after one (with no header of its own) shows as a line of pipes.
#[test]
fn every_readme_table_row_belongs_to_a_table() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut in_code = false;
    for (at, line) in lines.iter().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('|') {
            continue;
        }
        let previous = if at == 0 { "" } else { lines[at - 1] };
        let next = lines.get(at + 1).copied().unwrap_or_default();
        let starts_a_table =
            next.starts_with("|--") || next.starts_with("| --") || next.starts_with("|:");
        assert!(
            previous.starts_with('|') || starts_a_table,
            "README.md line {}: a table row outside any table (a blank line above it?): {line}",
            at + 1
        );
    }
}
