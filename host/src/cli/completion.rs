//! Shell completion: the scripts `generate completion bash|zsh|fish` prints, and the hidden entry
//! point they call on every TAB (`carbonio-mesh __complete SHELL WORD...`), which answers from
//! the same command tree the command line is parsed with (`engine`) and, for node names,
//! hostnames and runs, from the live cluster and this host (`live`).
//!
//! The answer's first line says what the shell should do (`words`, `files`, `dirs`); each
//! further line is a word to offer and its description, separated by a tab. It never fails
//! loudly: a TAB that cannot be answered offers nothing.

mod engine;
mod live;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::command::Globals;
use crate::config::paths::SystemPaths;
use crate::consul::client::ConsulFlags;
use crate::plugins::trust::TrustPolicy;
use crate::plugins::{discovery, inventory};
use crate::terminal::untrusted;

use engine::Answer;

/// The first argument of the hidden entry point the scripts call.
pub const ENTRY: &str = "__complete";

/// The completion script for `shell` (bash, zsh or fish).
pub fn script(shell: &str) -> &'static str {
    match shell {
        "zsh" => include_str!("completion/_carbonio-mesh"),
        "fish" => include_str!("completion/carbonio-mesh.fish"),
        _ => include_str!("completion/carbonio-mesh.bash"),
    }
}

/// `carbonio-mesh __complete SHELL PROGRAM WORD...`: prints the answer for the last WORD.
pub fn answer(args: &[OsString]) -> ExitCode {
    let words: Vec<String> = args
        .iter()
        .skip(2) // the shell and the program name as typed
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let shell = args.first().and_then(|s| s.to_str()).unwrap_or("bash");
    let globals = typed_options(&words);
    let paths = SystemPaths::new(globals.root.clone());
    let plugin_dir = globals
        .plugin_dir
        .as_deref()
        .and_then(|dir| std::path::absolute(dir).ok());
    let dirs = discovery::search_dirs(&paths, plugin_dir.as_deref());
    let specs: Vec<_> = inventory::inspect(&paths, &dirs, &TrustPolicy::for_current_user())
        .into_iter()
        .filter_map(|entry| entry.command)
        .collect();
    let tree = engine::tree(&specs);
    let (kind, candidates) = match engine::complete(&tree, &specs, &words) {
        Answer::Words(words) => ("words", words),
        Answer::Files { dirs_only: false } => ("files", Vec::new()),
        Answer::Files { dirs_only: true } => ("dirs", Vec::new()),
        Answer::Live {
            source,
            prefix,
            partial,
        } => (
            "words",
            live::candidates(&source, &prefix, &partial, &globals),
        ),
    };
    let mut out = format!("{kind}\n");
    for candidate in candidates.iter().filter(|c| safe_word(&c.word)) {
        let about = untrusted::escape_controls(&candidate.about).replace('\t', " ");
        // zsh's descriptions are `word  -- about`; bash shows none.
        match shell {
            "bash" => out.push_str(&format!("{}\n", candidate.word)),
            _ => out.push_str(&format!("{}\t{about}\n", candidate.word)),
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

/// A word the shell may put on the command line as it is: node names come from Consul and
/// must not bring quotes, spaces, `;` or `$` into an admin's root shell.
fn safe_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:=@+/|".contains(&b))
}

/// The host's options among the words typed (`--root`, `--plugin-dir`, the Consul options),
/// the environment filling what they leave out as for a command.
fn typed_options(words: &[String]) -> Globals {
    let value = |name: &str| -> Option<String> {
        let mut found = None;
        let mut iter = words.iter();
        while let Some(word) = iter.next() {
            if word == "--" {
                break;
            }
            if word == name {
                found = iter.next().cloned().or(found);
            } else if let Some(v) = word.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                found = Some(v.to_owned());
            }
        }
        found.filter(|v| !v.is_empty())
    };
    Globals {
        root: value("--root").map(PathBuf::from),
        plugin_dir: value("--plugin-dir")
            .or_else(|| std::env::var("CARBONIO_MESH_PLUGIN_DIR").ok())
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        consul: ConsulFlags {
            http_addr: value("--http-addr"),
            token: value("--token"),
            token_file: value("--token-file").map(PathBuf::from),
            datacenter: value("--datacenter"),
            stale: words.iter().any(|w| w == "--stale"),
            timeout: value("--timeout")
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs),
        },
        ..Globals::default()
    }
}

#[cfg(test)]
mod tests;
