//! What every snapshot test shares (insta): the filters for what changes from run to run, a table
//! compared by its cells, and one command's session as one text.

use crate::{api_version, build_dir, local_ip, next_minor_api_version, Sandbox};

/// Runs `check` with the filters every snapshot needs: what changes from run to run (the
/// sandbox and build paths, run IDs, backup directory names, this machine's address, dates, the
/// Consul double's port, token accessor IDs, the plugin-api versions) replaced by a name in
/// brackets.
pub fn filtered(sandbox: &Sandbox, check: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    let root = sandbox.root();
    let parent = root.parent().unwrap().display().to_string();
    settings.add_filter(&regex_escape(&root.display().to_string()), "[ROOT]");
    settings.add_filter(&regex_escape(&parent), "[SANDBOX]");
    settings.add_filter(&regex_escape(&build_dir().display().to_string()), "[BUILD]");
    settings.add_filter(&regex_escape(&local_ip()), "[THIS-HOST]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-[0-9a-f]{4}", "[RUN]");
    settings.add_filter(r"/carbonio-mesh/\d{9,}-\d+\b", "/carbonio-mesh/[BACKUP]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(
        r"\w{3}, \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000",
        "[DATE]",
    );
    settings.add_filter(r"\(in \d+ days\)", "(in [N] days)");
    // A minor release of plugin-api changes no snapshot.
    settings.add_filter(&format!(r"\b{}\b", regex_escape(&api_version())), "[API]");
    settings.add_filter(
        &format!(r"\b{}\b", regex_escape(&next_minor_api_version())),
        "[NEXT-API]",
    );
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIME]");
    settings.add_filter(r"[0-9a-f]{8}-aaaa-4bbb-8ccc-[0-9a-f]{12}", "[ACCESSOR]");
    // `consul tls ca create` ends the CA's CN with its random serial.
    settings.add_filter(r"Consul Agent CA \d+", "Consul Agent CA [SERIAL]");
    settings.bind(check);
}

/// Runs `check` comparing a table's cells, not its padding: a column holding a path or a
/// filtered value is as wide as this machine's text, header included (plugin-api's Table tests
/// pin the padding).
pub fn by_cells(check: impl FnOnce()) {
    let mut cells = insta::Settings::clone_current();
    cells.add_filter(r" {2,}", "  ");
    cells.bind(check);
}

/// `text` as a regular expression matching itself.
pub fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `$ carbonio-mesh ARGS`, the exit status, standard output and standard error, as one text.
pub fn session(args: &[&str], (code, out, err): (i32, String, String)) -> String {
    format!(
        "$ carbonio-mesh {}\n[exit {code}]\n--- stdout\n{out}--- stderr\n{err}",
        args.join(" ")
    )
}
