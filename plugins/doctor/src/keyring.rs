//! `keyring`: the gossip keys Consul lists (`/v1/operator/keyring`, keyring:read): per pool one
//! key, on every node that answered, the archive's. Keys are secrets: they are named by whether
//! they are the archive's gossip key, never by value. [`keyring_check`] is pure; [`gather`] asks.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::Host;
use serde::Deserialize;

use crate::report::{cluster_check as check, Check, Status};

/// One pool of `/v1/operator/keyring` (the WAN pool, the LAN pool of each segment).
#[derive(Debug, Clone, Deserialize)]
pub struct KeyringPool {
    #[serde(rename = "WAN")]
    pub wan: bool,
    #[serde(rename = "Segment", default)]
    pub segment: String,
    #[serde(rename = "Keys")]
    pub keys: BTreeMap<String, usize>,
    #[serde(rename = "NumNodes")]
    pub num_nodes: usize,
    /// What nodes that failed the keyring query answered, by node (`omitempty`).
    #[serde(rename = "Messages", default)]
    pub messages: BTreeMap<String, String>,
}

/// `keyring` when Consul would not list it. A denial is 403 from 1.12 (naming `keyring:read`)
/// and 500 `Reading keyring denied by ACLs` before (agent/consul/internal_endpoint.go); a client
/// agent before 1.12 answers 500 `keyring operations must run against a server node`
/// (agent/keyring.go); anything else is Consul failing.
fn keyring_refused(answer: &carbonio_mesh_plugin_api::services::ConsulResponse) -> Check {
    let text = answer.text.trim();
    let denied = answer.status == 403 || text.contains("Reading keyring denied by ACLs");
    if denied {
        return check(
            "keyring",
            Status::Unknown,
            format!("not checked: Consul answered {} ({text})", answer.status),
        )
        .fix("give a token with keyring:read: --token-file FILE (on a Mesh server, run as root to use the archive's)");
    }
    if text.contains("must run against a server node") {
        return check(
            "keyring",
            Status::Unknown,
            format!(
                "not checked here: this agent's Consul reads the keyring on servers only ({text})"
            ),
        )
        .fix("run carbonio-mesh doctor on a Mesh server to check the keyring");
    }
    check(
        "keyring",
        Status::Unknown,
        format!(
            "not checked: cannot read the keyring: {}",
            answer.unexpected()
        ),
    )
}

/// `keyring`: in each pool, every key should be on every node, and one key in use. Keys are
/// secrets: they are named by whether they are the archive's gossip key, never by value.
pub fn keyring_check(pools: &[KeyringPool], archive_key: Option<&str>) -> Check {
    let mut problems = Vec::new();
    let mut unanswered = Vec::new();
    for pool in pools {
        let name = match (pool.wan, pool.segment.as_str()) {
            (true, _) => "WAN pool".to_owned(),
            (false, "") => "LAN pool".to_owned(),
            (false, segment) => format!("LAN pool of segment {segment}"),
        };
        let describe = |key: &str| match archive_key {
            Some(archive) if archive.trim() == key => "the archive's key",
            Some(_) => "a key that is not the archive's",
            None => "a key",
        };
        if pool.keys.len() > 1 {
            let keys: Vec<String> = pool
                .keys
                .iter()
                .map(|(key, count)| format!("{} on {count}", describe(key)))
                .collect();
            problems.push(format!(
                "{} keys in the {name} of {} nodes: {}",
                pool.keys.len(),
                pool.num_nodes,
                keys.join(", ")
            ));
        } else if let Some((key, count)) = pool.keys.iter().next() {
            if archive_key.is_some_and(|archive| archive.trim() != key) {
                problems.push(format!(
                    "the {name} uses a key that is not the archive's: a node set up from the archive cannot join"
                ));
            } else if *count < pool.num_nodes {
                // One key: every node that answered holds it. `NumNodes` counts the alive
                // members, `Keys` the nodes that answered the serf query in time: the others
                // were slow or failed (`Messages`), which says nothing about their keys.
                let why: Vec<String> = pool
                    .messages
                    .iter()
                    .map(|(node, message)| format!("{node}: {message}"))
                    .collect();
                unanswered.push(format!(
                    "{} of the {} nodes of the {name} did not answer the keyring query{}",
                    pool.num_nodes - count,
                    pool.num_nodes,
                    if why.is_empty() {
                        " in time".to_owned()
                    } else {
                        format!(" ({})", why.join("; "))
                    }
                ));
            }
        }
    }
    if problems.is_empty() && !unanswered.is_empty() {
        check(
            "keyring",
            Status::Unknown,
            format!(
                "not checked on every node: {}; the others all hold one key{}",
                unanswered.join("; "),
                if archive_key.is_some() { ", the archive's" } else { "" }
            ),
        )
        .fix("run carbonio-mesh doctor again; a node that never answers: `carbonio-mesh members` and its journal (journalctl -u service-discover)")
    } else if problems.is_empty() {
        check("keyring", Status::Ok, "one gossip key, on every node")
    } else {
        check("keyring", Status::Warn, problems.join("; ")).fix(
            "`consul keyring -list` (with a management token) shows the keys: install the archive's gossip key where it is missing (consul keyring -install KEY, then -use KEY) and remove the other (consul keyring -remove KEY)",
        )
    }
}

/// The `keyring` check from Consul's keyring, against the archive's key when known.
pub fn gather(host: &Host<'_>, archive_key: Option<&str>) -> Check {
    let keyring = host.consul(
        &ConsulRequest::get(&["v1", "operator", "keyring"])
            .accept(403)
            .accept(500),
    );
    match keyring {
        Ok(answer) if answer.status != 200 => keyring_refused(&answer),
        Ok(answer) => match answer.decode::<Vec<KeyringPool>>() {
            Ok(pools) => keyring_check(&pools, archive_key),
            Err(e) => check(
                "keyring",
                Status::Fail,
                format!("Consul's keyring answer is not understood: {e}"),
            ),
        },
        Err(e) => check(
            "keyring",
            Status::Unknown,
            format!("not checked: cannot read the keyring: {}", e.message),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_never_printed_only_described() {
        let pool = |keys: &[(&str, usize)], n| KeyringPool {
            wan: false,
            segment: String::new(),
            keys: keys.iter().map(|(k, c)| ((*k).to_owned(), *c)).collect(),
            num_nodes: n,
            messages: BTreeMap::new(),
        };
        let one = keyring_check(&[pool(&[("K1==", 5)], 5)], Some("K1=="));
        assert_eq!(one.status, Status::Ok);
        // One key on 3 of 5: the other 2 did not answer (slow): not drift, not checked.
        let slow = keyring_check(&[pool(&[("K1==", 3)], 5)], Some("K1=="));
        assert_eq!(slow.status, Status::Unknown);
        assert_eq!(
            slow.detail,
            "not checked on every node: 2 of the 5 nodes of the LAN pool did not answer the keyring query in time; the others all hold one key, the archive's"
        );
        let mut failed = pool(&[("K1==", 4)], 5);
        failed.messages = [("agent-x".to_owned(), "timeout".to_owned())].into();
        assert!(keyring_check(&[failed], None)
            .detail
            .contains("did not answer the keyring query (agent-x: timeout)"));
        // A second key on some nodes is drift.
        let drift = keyring_check(&[pool(&[("K1==", 4), ("K2==", 1)], 5)], Some("K1=="));
        assert_eq!(drift.status, Status::Warn);
        let two = keyring_check(&[pool(&[("K1==", 5), ("K2==", 2)], 5)], Some("K1=="));
        assert!(
            !two.detail.contains("K1") && !two.detail.contains("K2"),
            "{}",
            two.detail
        );
        assert!(
            two.detail.contains("2 keys in the LAN pool of 5 nodes"),
            "{}",
            two.detail
        );
    }
}
