//! The man pages: clap_mangen's sections for each command of the whole tree, followed by the
//! sections every page shares (EXIT STATUS, ENVIRONMENT, FILES), which clap knows nothing of.

use std::io::Write;
use std::path::Path;

use carbonio_mesh_plugin_api::ExitCodeSpec;
use clap::Command;
use clap_mangen::Man;

use crate::config::paths::{
    DEFAULT_BACKUP_DIR, PROBE_CACHE, SITE_CONFIG, SITE_CONFIG_DIR, SITE_PLUGIN_DIR, VENDOR_CONFIG,
    VENDOR_PLUGIN_DIR,
};
use crate::services::RUNS_DIR;

/// The host's exit codes (`crate::exit`, and the README's table); each plugin's own come from its
/// manifest.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    ("1", "Unexpected failure (a bug in carbonio-mesh)."),
    ("2", "Usage: unknown command, bad flag or value."),
    ("3", "Configuration: a configuration file is unreadable or wrong."),
    ("4", "A plugin or a configuration file was refused (trust rules), a plugin is masked, failed to load, or crashed."),
    ("5", "The operation failed (Consul refused or is unreachable, a command failed, a file is missing)."),
    ("7", "Wrong password for the credentials archive."),
    ("8", "The credentials archive is unusable: damaged, truncated, not encrypted, signed, a member missing or unsafe."),
    ("9", "A confirmation was declined (answered no): nothing was changed."),
];

/// The EXIT STATUS entries: the host's, then each plugin's (`(plugin, code)` as its manifest
/// declares it), by code.
fn exit_status(plugins: &[(String, ExitCodeSpec)]) -> Vec<(String, String)> {
    let mut entries: Vec<(u8, String)> = EXIT_STATUS
        .iter()
        .map(|(code, text)| (code.parse().expect("a number"), (*text).to_owned()))
        .collect();
    for (plugin, spec) in plugins {
        entries.push((
            spec.code,
            format!("{plugin} only: {}.", spec.meaning.trim_end_matches('.')),
        ));
    }
    // Stable: the host's meaning of a code first, then the plugins' in the inventory's order.
    entries.sort_by_key(|(code, _)| *code);
    entries
        .into_iter()
        .map(|(code, text)| (code.to_string(), text))
        .collect()
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("CONSUL_HTTP_ADDR", "The Consul agent's address (--http-addr); default http://127.0.0.1:8500."),
    ("CONSUL_HTTP_TOKEN", "The Consul ACL token (--token)."),
    ("CONSUL_HTTP_TOKEN_FILE", "A file whose first line is the Consul ACL token (--token-file)."),
    ("CONSUL_HTTP_SSL", "true: talk HTTPS to the agent."),
    ("CONSUL_CACERT", "The CA certificate that signed the agent's certificate; a path that is not a readable file is a usage error (exit 2)."),
    ("CONSUL_CLIENT_CERT", "The client certificate shown to the agent."),
    ("CONSUL_CLIENT_KEY", "The key of the client certificate."),
    ("CONSUL_TLS_SERVER_NAME", "The name expected in the agent's certificate."),
    ("CARBONIO_MESH_PLUGIN_DIR", "Look for plugins in this directory first (--plugin-dir)."),
    ("CARBONIO_MESH_CHILD_ENV", "Space-separated names of variables passed on to the programs carbonio-mesh runs, whose environment is otherwise clean."),
    ("NO_COLOR", "Set: no colour in the output."),
];

/// (path, what it is); the system paths the code uses, from where it declares them.
fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        (SITE_CONFIG, "The site's configuration."),
        (SITE_CONFIG_DIR, "More configuration, *.toml read in name order after config.toml."),
        (VENDOR_CONFIG, "The package's configuration, read first."),
        (SITE_PLUGIN_DIR, "The site's plugins, NAME.so, looked for before the package's."),
        (VENDOR_PLUGIN_DIR, "The plugins the package installed."),
        (PROBE_CACHE, "What loading each plugin for --help and plugins list found, kept per plugin file (root's only; probed again when a file changes; removed on purge)."),
        (RUNS_DIR, "The journals of the secret runs (regenerate, rejoin): each step's state and the files it removed; 0700, removed on purge."),
        (DEFAULT_BACKUP_DIR, "A copy of every file carbonio-mesh replaced or removed, one directory per process (TIME-PID), with its mode and owner ([backup] dir in the configuration moves it; kept on purge; secret prune deletes old runs' backups, which hold the old secrets)."),
        ("/etc/zextras/service-discover/cluster-credentials.tar.gpg", "The Mesh credentials archive (root only)."),
        ("/etc/zextras/service-discover/main.json", "The service-discover agent's configuration."),
        ("/var/lib/service-discover/password", "The credentials archive's password, on the Mesh servers."),
        ("/var/lib/service-discover/consul-agent-ca.pem", "The Mesh CA certificate (the archive holds the same)."),
    ]
}

/// Writes one page per command of `command`'s tree (not hidden) into `dir`; `exit_codes` are the
/// plugins' own, by plugin. With `dry_run`, writes nothing (not even `dir`) and only names the
/// files. Returns the pages' paths, written or not.
pub fn generate_to(
    command: Command,
    dir: &Path,
    dry_run: bool,
    exit_codes: &[(String, ExitCodeSpec)],
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    if !dry_run {
        std::fs::create_dir_all(dir)?;
    }
    let shared = shared_sections(&exit_status(exit_codes));
    write_pages(&command, dir, dry_run, &shared, &mut pages)?;
    Ok(pages)
}

fn write_pages(
    command: &Command,
    dir: &Path,
    dry_run: bool,
    shared: &str,
    pages: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, dry_run, shared, pages)?;
    }
    // The examples (clap's after-help) get a section of their own, not clap_mangen's EXTRA.
    let examples = command.get_after_help().map(|text| text.to_string());
    let man = Man::new(command.clone().after_help(None::<&str>));
    let mut page = Vec::new();
    man.render(&mut page)?;
    if let Some(text) = examples {
        page.extend(examples_section(&text).as_bytes());
    }
    page.extend(shared.as_bytes());
    let path = dir.join(man.get_filename());
    pages.push(path.clone());
    if dry_run {
        return Ok(());
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(&page)?;
    file.flush()
}

/// EXAMPLES from the help's "Examples:" text: each command line in bold, what it does under it.
fn examples_section(text: &str) -> String {
    let mut roff = String::from(".SH \"EXAMPLES\"\n");
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && *l != "Examples:");
    while let Some(command) = lines.next() {
        let about = lines.next().unwrap_or_default();
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(command.trim()),
            escape(about.trim())
        ));
    }
    roff
}

/// The Consul versions carbonio-mesh knows (plugin-api's list) and what follows from them.
fn consul_versions() -> Vec<(String, String)> {
    use carbonio_mesh_plugin_api::consul::KnownVersion;
    let known: Vec<&str> = KnownVersion::ALL.iter().map(|v| v.label()).collect();
    vec![
        (
            known.join(", "),
            "The Consul versions Carbonio ships (1.21.4 since late 2025). What a command prints follows the version of the agent it talks to, as that node's own consul prints it: the members table (a Partition column from 1.11), Consul's error texts and statuses, the rights a denial names.".to_owned(),
        ),
        (
            "Another version".to_owned(),
            "Treated as the nearest known one, with one warning on standard error.".to_owned(),
        ),
    ]
}

/// The sections every page ends with, in roff.
fn shared_sections(exit_status: &[(String, String)]) -> String {
    let mut roff = String::new();
    let owned = |entries: &[(&str, &str)]| -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    for (heading, entries) in [
        ("EXIT STATUS", exit_status.to_vec()),
        ("ENVIRONMENT", owned(ENVIRONMENT)),
        ("FILES", owned(&files())),
        ("CONSUL VERSIONS", consul_versions()),
    ] {
        roff.push_str(&format!(".SH \"{heading}\"\n"));
        for (term, text) in entries {
            roff.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                escape(&term),
                escape(&text)
            ));
        }
    }
    roff
}

/// A roff text line: `-` as `\-` (a real minus, so that copying works), `\` doubled, and a
/// leading `.` or `'` made literal.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\\\").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_code_has_a_line() {
        use crate::exit;
        for code in [
            exit::OK,
            exit::FAILURE,
            exit::USAGE,
            exit::CONFIG,
            exit::PLUGIN,
            exit::OPERATION,
            exit::WRONG_PASSWORD,
            exit::BAD_ARCHIVE,
            carbonio_mesh_plugin_api::EXIT_DECLINED,
        ] {
            assert!(
                EXIT_STATUS.iter().any(|(c, _)| *c == code.to_string()),
                "{code}"
            );
        }
    }

    #[test]
    fn a_plugins_exit_codes_are_listed_by_code_after_the_hosts_meaning() {
        let spec = |code, meaning: &str| ExitCodeSpec {
            code,
            meaning: meaning.to_owned(),
        };
        let entries = exit_status(&[
            ("doctor".to_owned(), spec(11, "a check failed")),
            (
                "members".to_owned(),
                spec(2, "no member matched (as Consul)"),
            ),
        ]);
        let at = |code: &str| entries.iter().position(|(c, _)| c == code).unwrap();
        assert_eq!(
            entries[at("2") + 1].1,
            "members only: no member matched (as Consul)."
        );
        assert!(entries[at("2")].1.starts_with("Usage"));
        assert_eq!(
            entries.last().unwrap(),
            &("11".to_owned(), "doctor only: a check failed.".to_owned())
        );
    }

    #[test]
    fn roff_control_characters_are_escaped() {
        assert_eq!(escape(".x -y \\z"), "\\&.x \\-y \\\\z");
    }
}
