//! The values completion finds on this host and in the live cluster: node names and hostnames
//! (the same node directory every command resolves names with: the members and Carbonio's
//! server list), and the runs journaled here.
//!
//! Asked through a host context like any plugin's (dry run: nothing can change), so the
//! Consul token is chosen by the same rules: the archive's token only ever goes to a loopback
//! agent or over https, and nothing prompts (the archive is opened with the password file or not
//! at all). Bounded in time: whatever is not known when [`DEADLINE`] passes is left out, and
//! the words that need no lookup are offered anyway.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::nodes::{self, NodeDirectory};
use carbonio_mesh_plugin_api::services::JournalRead;
use carbonio_mesh_plugin_api::{Host, Suggest};

use super::engine::Candidate;
use crate::cli::command::Globals;
use crate::config::paths::SystemPaths;
use crate::config::settings::{self, Config};
use crate::consul::client::{ConsulClient, ConsulSettings};
use crate::consul::credentials::MeshFiles;
use crate::plugins::trust::TrustPolicy;
use crate::services::HostContext;

/// How long a TAB may wait for Consul and LDAP.
pub const DEADLINE: Duration = Duration::from_millis(1500);

/// The candidates `source` offers that start with `partial`, each after `prefix`, found with
/// the options typed so far (`--root`, `--http-addr`, `--token-file`...).
pub fn candidates(
    source: &Suggest,
    prefix: &str,
    partial: &str,
    globals: &Globals,
) -> Vec<Candidate> {
    // A list (`--nodes a,b,<TAB>`) completes its last element; the rest is kept as typed.
    let (prefix, partial, taken) = match (source, partial.rsplit_once(',')) {
        (Suggest::Nodes { list: true, .. }, Some((head, last))) => (
            format!("{prefix}{head},"),
            last,
            head.split(',').collect::<Vec<_>>(),
        ),
        _ => (prefix.to_owned(), partial, Vec::new()),
    };
    let fixed: Vec<Candidate> = match source {
        Suggest::Values { values } => values.iter().map(|v| word(v, "")).collect(),
        Suggest::Nodes { extra, .. } if taken.is_empty() => {
            extra.iter().map(|v| word(v, "")).collect()
        }
        Suggest::Nodes { .. } | Suggest::Runs => Vec::new(),
    };
    let found = match source {
        Suggest::Values { .. } => Vec::new(),
        Suggest::Nodes { .. } | Suggest::Runs => within_deadline(source.clone(), globals.clone()),
    };
    fixed
        .into_iter()
        .chain(found)
        .filter(|c| c.word.starts_with(partial) && !taken.contains(&c.word.as_str()))
        .map(|c| Candidate {
            word: format!("{prefix}{}", c.word),
            ..c
        })
        .collect()
}

fn word(word: &str, about: &str) -> Candidate {
    Candidate {
        word: word.to_owned(),
        about: about.to_owned(),
    }
}

/// The lookup in a thread of its own; what it has found by the deadline (the node names as soon
/// as the members are read, the hostnames once LDAP has answered).
fn within_deadline(source: Suggest, globals: Globals) -> Vec<Candidate> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || look_up(&source, &globals, &sender));
    let deadline = Instant::now() + DEADLINE;
    let mut best = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok(found) => best = found,
            // Done, or out of time: the thread is left behind; the process exits soon.
            Err(_) => break,
        }
    }
    best
}

/// Sends what it finds, better answers later.
fn look_up(source: &Suggest, globals: &Globals, found: &mpsc::Sender<Vec<Candidate>>) {
    let paths = SystemPaths::new(globals.root.clone());
    let policy = TrustPolicy::for_current_user();
    let config = settings::load(&paths, &policy).unwrap_or_else(|_| Config::default());
    let mut flags = globals.consul.clone();
    flags.timeout = Some(flags.timeout.unwrap_or(DEADLINE).min(DEADLINE));
    let Ok(settings) = ConsulSettings::resolve(&flags, Some(MeshFiles::under(&paths))) else {
        return;
    };
    // The archive's token goes to a listener the service user owns, as in a command's run.
    let settings = settings.trusting(&config.service_user);
    let context = HostContext::new(
        "completion",
        paths,
        config,
        true,
        ConsulClient::new(settings),
    );
    let handle = context.handle();
    let host = Host::new(&handle);
    match source {
        Suggest::Runs => {
            if let Ok(journal) = host.call(&JournalRead { run: None }) {
                let _ = found.send(journal.runs.iter().rev().map(|r| word(r, "")).collect());
            }
        }
        Suggest::Nodes { .. } => {
            let Ok(members) = nodes::members(&host) else {
                return;
            };
            let _ = found.send(node_words(&NodeDirectory::build(&members, &[])));
            let _ = found.send(node_words(&NodeDirectory::with_servers_of(&host, &members)));
        }
        Suggest::Values { .. } => {}
    }
}

/// Every node under its node name, then the hostnames known.
fn node_words(directory: &NodeDirectory) -> Vec<Candidate> {
    let names = directory.nodes.iter().map(|n| {
        let about = match &n.host {
            Some(host) => format!("{host}, {} ({})", n.address, n.status_name()),
            None => format!("{} ({})", n.address, n.status_name()),
        };
        word(&n.node, &about)
    });
    let hosts = directory
        .nodes
        .iter()
        .filter_map(|n| Some(word(n.host.as_deref()?, &n.node)));
    names.chain(hosts).collect()
}
