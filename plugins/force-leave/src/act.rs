//! Sending the force-leaves, then watching the member list until each target got where it was
//! sent (`left`, or gone with `--prune`) or time runs out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::change::ConsulChange;
use carbonio_mesh_plugin_api::consul::LEFT;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{Host, PluginError};

use crate::names::{lan_members, wan_members};
use crate::plan::{Ask, Plan};

const POLL_EVERY: Duration = Duration::from_millis(250);

/// What sending did: each target's result (`sent`, `dry-run`, `failed: ...`), the member list
/// afterwards, and what to say on standard error.
pub struct Acted {
    pub results: BTreeMap<String, String>,
    pub after: BTreeMap<String, u8>,
    pub stderr: String,
}

fn send(
    host: &Host<'_>,
    plan: &Plan,
    ask: &Ask,
    dry_run: bool,
) -> (BTreeMap<String, String>, String) {
    let mut stderr = String::new();
    let mut results = BTreeMap::new();
    for node in &plan.targets {
        let mut put = ConsulRequest::put(&["v1", "agent", "force-leave", node]);
        if ask.prune {
            put = put.query("prune", "1");
        }
        if plan.wan_query {
            put = put.query("wan", "1");
        }
        let change = ConsulChange::send(host, put, dry_run);
        if let Some(why) = change.error() {
            stderr.push_str(&format!("Error force leaving {node}: {why}\n"));
        }
        if change.forbidden() {
            stderr.push_str(&format!(
                "  fix: this needs a token with {}: give --token-file FILE\n",
                change.right_needed("operator:write")
            ));
        }
        let result = change.result("sent");
        results.insert(node.clone(), result);
    }
    (results, stderr)
}

/// Every member's status by name: the LAN pool, plus the WAN pool when `wan`.
fn members(host: &Host<'_>, wan: bool) -> Result<BTreeMap<String, u8>, PluginError> {
    let mut list = lan_members(host)?;
    if wan {
        list.extend(wan_members(host));
    }
    Ok(list.into_iter().map(|m| (m.name, m.status)).collect())
}

/// Sends, then polls until every node that was sent the request is left (or gone), or time
/// runs out.
pub fn act(host: &Host<'_>, plan: &Plan, ask: &Ask, dry_run: bool) -> Acted {
    let (results, mut stderr) = send(host, plan, ask, dry_run);
    let mut after = plan.before.clone();
    let sent: Vec<&str> = results
        .iter()
        .filter(|(_, r)| *r == "sent")
        .map(|(n, _)| n.as_str())
        .collect();
    if dry_run || sent.is_empty() {
        return Acted {
            results,
            after,
            stderr,
        };
    }
    let deadline = Instant::now() + ask.wait;
    host.progress(&format!(
        "waiting up to {} s for the member list to show {} as {}",
        ask.wait.as_secs(),
        sent.join(", "),
        if ask.prune { "removed" } else { "left" }
    ));
    loop {
        match members(host, plan.wan_pool) {
            Ok(now) => after = now,
            Err(e) => {
                stderr.push_str(&format!(
                    "Cannot read the member list to check the result: {}\n",
                    e.message
                ));
                break;
            }
        }
        let pending = sent
            .iter()
            .any(|n| !reached(after.get(*n).copied(), ask.prune));
        if !pending || Instant::now() >= deadline {
            host.progress(if pending {
                "stopped waiting: time is up (--wait SECONDS waits longer)"
            } else {
                "the member list shows the change"
            });
            break;
        }
        std::thread::sleep(POLL_EVERY);
    }
    Acted {
        results,
        after,
        stderr,
    }
}

/// Whether a node reached the state force-leave aims for.
pub fn reached(status: Option<u8>, prune: bool) -> bool {
    match status {
        None => true,
        Some(LEFT) => !prune,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruned_nodes_must_be_gone_others_left() {
        assert!(reached(Some(3), false));
        assert!(!reached(Some(3), true));
        assert!(reached(None, true));
        assert!(!reached(Some(4), false));
    }
}
