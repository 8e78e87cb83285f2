//! Plugin `force-leave`: `consul force-leave` of Consul 1.9.3 made safe, plus the cleanup users
//! ask Consul for: `force-leave --failed`.
//!
//! It reads the member list first. A node is named by its Consul node name, its Carbonio hostname
//! (`agent-mail-example-com` is `agent-mail-example-com`) or its address; a WAN name (`NODE.DC`, in
//! the member list `-wan` prints) goes to Consul as it is. An unknown node gets Consul's own text
//! and the closest names; an alive node is refused unless `--force` (it answers the gossip and
//! rejoins at once).
//! After asking, it sends `PUT /v1/agent/force-leave/:node` (`?prune` with `--prune`) for each
//! target, then polls the member list until each is `left` (or gone with `--prune`) or `--wait`
//! runs out, and reports every node's final state. Each node gets an audit line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::consul::{member_status, ALIVE, FAILED, LEFT};
use carbonio_mesh_plugin_api::nodes::{node_names_for, Lookup, Member, NodeDirectory, NodeRole};
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, Suggest, Table,
};
use serde::Serialize;

const POLL_EVERY: Duration = Duration::from_millis(250);

fn lan_members(host: &Host<'_>) -> Result<Vec<Member>, PluginError> {
    host.consul_get_filtered(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("segment", "_all"),
        "the member list",
        "operator:write",
    )
}

/// The WAN pool (`NODE.DC` names) a server agent knows; a client agent has none (`null`).
fn wan_members(host: &Host<'_>) -> Vec<Member> {
    host.consul_get::<Option<Vec<Member>>>(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("wan", "1"),
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Every member's status by name: the LAN pool, plus the WAN pool when `wan` (a WAN target).
fn members(host: &Host<'_>, wan: bool) -> Result<BTreeMap<String, u8>, PluginError> {
    let mut list = lan_members(host)?;
    if wan {
        list.extend(wan_members(host));
    }
    Ok(list.into_iter().map(|m| (m.name, m.status)).collect())
}

/// What the node named on the command line is: a LAN member found by any of its names (with
/// the hostname, when known), a WAN member, or nothing Consul knows.
enum Named {
    Lan { node: String, host: Option<String> },
    Wan(String),
    Unknown,
}

fn name_node(host: &Host<'_>, lan: &[Member], name: &str) -> Result<Named, PluginError> {
    let directory = NodeDirectory::with_servers_of(host, lan);
    match directory.find(name) {
        Lookup::Found(node) => Ok(Named::Lan {
            node: node.node.clone(),
            host: node.host.clone(),
        }),
        Lookup::Ambiguous(nodes) => {
            let names: Vec<String> = nodes.iter().map(|n| n.label()).collect();
            Err(PluginError::usage(format!(
                "'{name}' fits several members: {}",
                names.join(", ")
            ))
            .hint("name the one meant by its Consul node name"))
        }
        Lookup::NotFound if wan_members(host).iter().any(|m| m.name == name) => {
            Ok(Named::Wan(name.to_owned()))
        }
        Lookup::NotFound => Ok(Named::Unknown),
    }
}

/// Up to three member names close to `wanted`: at most two edits away from it or from the node
/// names its hostname form would have (a typo), or whose host part starts with its first label
/// (`agent-mail-example-com` for `mail.example.org`).
fn close_names<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let forms: Vec<String> = if wanted.contains('.') {
        node_names_for(wanted).into()
    } else {
        vec![wanted.to_owned()]
    };
    let label = wanted.split('.').next().unwrap_or(wanted);
    let mut scored: Vec<(usize, &str)> = names
        .map(|n| {
            let nearest = forms
                .iter()
                .map(|f| strsim::levenshtein(f, n))
                .min()
                .unwrap_or(usize::MAX);
            (nearest, n.as_str())
        })
        .filter(|(d, n)| {
            let host_part = NodeRole::split(n).map_or(*n, |(_, dashed)| dashed);
            *d <= 2 || (label.len() > 1 && host_part.starts_with(label))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[derive(Serialize)]
struct Outcome {
    node: String,
    /// The Carbonio hostname the command line named it by (null otherwise).
    host: Option<String>,
    before: String,
    after: String,
    result: String,
}

fn force_leave(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let prune = request.flag("prune");
    let node = request.value("node");
    let failed_only = request.flag("failed");
    let wait = Duration::from_secs(request.parsed("wait")?.unwrap_or(30));
    let lan = lan_members(host)?;
    let mut before: BTreeMap<String, u8> = lan.iter().map(|m| (m.name.clone(), m.status)).collect();
    // The hostname of each target, when the command line named one.
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    let mut wan = false;
    let targets: Vec<String> = match (node, failed_only) {
        (Some(_), true) | (None, false) => {
            return Err(
                PluginError::usage("give a node name, or --failed for every failed member")
                    .hint("carbonio-mesh force-leave NODE, or carbonio-mesh force-leave --failed"),
            )
        }
        (None, true) => before
            .iter()
            .filter(|(_, status)| **status == FAILED)
            .map(|(name, _)| name.clone())
            .collect(),
        (Some(name), false) => {
            let node = match name_node(host, &lan, name)? {
                Named::Lan { node, host } => {
                    if let Some(host) = host {
                        hosts.insert(node.clone(), host);
                    }
                    node
                }
                Named::Wan(node) => {
                    wan = true;
                    before = members(host, true)?;
                    node
                }
                Named::Unknown => name.to_owned(),
            };
            let node = node.as_str();
            let label = match hosts.get(node) {
                Some(host) => format!("{node} ({host})"),
                None => node.to_owned(),
            };
            let Some(status) = before.get(node) else {
                // Consul 1.9.3's words for this (agent/agent.go ForceLeave), without asking it to change anything.
                let consul = format!(
                    "Unexpected response code: 500 (agent: No node found with name '{node}')"
                );
                let close = close_names(node, before.keys());
                let did_you_mean =
                    (!close.is_empty()).then(|| format!("Did you mean: {}?", close.join(", ")));
                return match request.format {
                    // One document for scripts: the host's error document, Consul's text in it.
                    OutputFormat::Json => Err(PluginError::operation(consul).hint(
                        did_you_mean.unwrap_or_else(|| {
                            "`carbonio-mesh members` lists the node names".to_owned()
                        }),
                    )),
                    OutputFormat::Human => {
                        let mut stderr = format!("Error force leaving: {consul}\n");
                        if let Some(line) = did_you_mean {
                            stderr.push_str(&line);
                            stderr.push('\n');
                        }
                        // Consul's text above stays as Consul prints it; the fix is ours.
                        stderr.push_str("  fix: name a member `carbonio-mesh members` lists: its node name, Carbonio hostname or address\n");
                        Ok(Response::text("").with_stderr(stderr).with_exit_code(5))
                    }
                };
            };
            if *status == ALIVE && !request.flag("force") {
                return Err(PluginError::usage(format!(
                    "{label} is alive: force-leave would not last, an alive node answers the gossip and rejoins at once"
                ))
                .hint(format!(
                    "stop its agent first (systemctl stop service-discover on {}), or pass --force to send it anyway",
                    hosts.get(node).map_or(node, String::as_str)
                )));
            }
            vec![node.to_owned()]
        }
    };
    if targets.is_empty() {
        return Ok(match request.format {
            OutputFormat::Json => Response::json(&Vec::<Outcome>::new())?,
            OutputFormat::Human => Response::text("").with_stderr("No failed members.\n"),
        });
    }
    let verb = if prune {
        "force-leave and prune"
    } else {
        "force-leave"
    };
    let label = |n: &String| match hosts.get(n) {
        Some(host) => format!("{n} ({host})"),
        None => n.clone(),
    };
    let changes = targets
        .iter()
        .map(|n| format!("{verb} {} (now {})", label(n), member_status(before[n])))
        .collect();
    let question = format!("Force {} member(s) to leave?", targets.len());
    if !host.confirm(changes, &question)? {
        return Ok(Response::declined_as(request.format));
    }

    let mut stderr = String::new();
    let mut results: BTreeMap<String, String> = BTreeMap::new();
    for node in &targets {
        let mut put = ConsulRequest::put(&["v1", "agent", "force-leave", node]).accepting_errors();
        if prune {
            put = put.query("prune", "1");
        }
        let result = match host.consul(&put) {
            Ok(_) if request.dry_run => "dry-run".to_owned(),
            Ok(a) if a.status == 200 => "sent".to_owned(),
            Ok(a) => {
                stderr.push_str(&format!("Error force leaving {node}: {}\n", a.unexpected()));
                if a.status == 403 {
                    stderr.push_str(
                        "  fix: this needs a token with operator:write: give --token-file FILE\n",
                    );
                }
                format!("failed: {}", a.unexpected())
            }
            Err(e) => {
                stderr.push_str(&format!("Error force leaving {node}: {}\n", e.message));
                format!("failed: {}", e.message)
            }
        };
        results.insert(node.clone(), result);
    }

    // Poll until every node that was sent the request is left (or gone), or time runs out.
    let mut after = before.clone();
    if !request.dry_run {
        let deadline = Instant::now() + wait;
        let sent: Vec<&str> = results
            .iter()
            .filter(|(_, r)| *r == "sent")
            .map(|(n, _)| n.as_str())
            .collect();
        if !sent.is_empty() {
            host.progress(&format!(
                "waiting up to {} s for the member list to show {} as {}",
                wait.as_secs(),
                sent.join(", "),
                if prune { "removed" } else { "left" }
            ));
        }
        loop {
            match members(host, wan) {
                Ok(now) => after = now,
                Err(e) => {
                    stderr.push_str(&format!(
                        "Cannot read the member list to check the result: {}\n",
                        e.message
                    ));
                    break;
                }
            }
            let pending = results
                .iter()
                .filter(|(_, r)| *r == "sent")
                .any(|(n, _)| !reached(after.get(n).copied(), prune));
            if !pending || Instant::now() >= deadline {
                if !sent.is_empty() {
                    host.progress(if pending {
                        "stopped waiting: time is up (--wait SECONDS waits longer)"
                    } else {
                        "the member list shows the change"
                    });
                }
                break;
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    let mut outcomes = Vec::new();
    let mut all_done = true;
    for node in &targets {
        let now = after.get(node).copied();
        let state = now.map(member_status).unwrap_or("removed").to_owned();
        let sent = results[node].clone();
        let result = if sent == "sent" {
            if reached(now, prune) {
                "ok".to_owned()
            } else {
                all_done = false;
                format!("still {state} after {}s", wait.as_secs())
            }
        } else {
            if sent != "dry-run" {
                all_done = false;
            }
            sent
        };
        host.audit(verb, node, &result);
        outcomes.push(Outcome {
            node: node.clone(),
            host: hosts.get(node).cloned(),
            before: member_status(before[node]).to_owned(),
            after: if request.dry_run {
                "unchanged (dry run)".to_owned()
            } else {
                state
            },
            result,
        });
    }
    let exit_code = if all_done { 0 } else { 5 };
    let response = match request.format {
        OutputFormat::Json => Response::json(&outcomes)?,
        OutputFormat::Human if request.dry_run => Response::text(""),
        OutputFormat::Human => {
            let mut table = Table::new(["Node", "Before", "After", "Result"]);
            let labels: Vec<String> = outcomes
                .iter()
                .map(|o| match &o.host {
                    Some(host) => format!("{} ({host})", o.node),
                    None => o.node.clone(),
                })
                .collect();
            for (o, node) in outcomes.iter().zip(&labels) {
                table.push([
                    node.as_str(),
                    o.before.as_str(),
                    o.after.as_str(),
                    o.result.as_str(),
                ]);
            }
            Response::text(table.render())
        }
    };
    Ok(response.with_stderr(stderr).with_exit_code(exit_code))
}

/// Whether a node reached the state force-leave aims for.
fn reached(status: Option<u8>, prune: bool) -> bool {
    match status {
        None => true,
        Some(LEFT) => !prune,
        Some(_) => false,
    }
}

pub struct ForceLeave;

impl Plugin for ForceLeave {
    fn manifest() -> Manifest {
        let about = "Make failed members leave the cluster (consul force-leave)";
        Manifest::new("force-leave", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("force-leave", about)
.example("carbonio-mesh force-leave --failed", "Every failed member leaves (asks first)")
.example("carbonio-mesh force-leave proxy.example.com", "One node, by hostname, node name or address")
.example("carbonio-mesh --dry-run force-leave --prune agent-proxy-example-com", "What removing it from the list would send")
                .long_about(
                    "Moves a failed member to 'left' (PUT /v1/agent/force-leave/NODE), or with --prune \
removes it from the member list, then waits until the member list shows it. --failed does this for \
every member in status failed. An alive member is refused unless --force: it answers the gossip and \
rejoins at once. Needs a token with operator:write.",
                )
                .arg(ArgSpec::positional("node", "The member to remove: its Consul node name, Carbonio hostname or address, or a WAN name NODE.DC").value_name("NODE").suggest(Suggest::Nodes { extra: Vec::new(), list: false }))
                .arg(ArgSpec::flag("failed", "Every member whose status is failed"))
                .arg(ArgSpec::flag("prune", "Remove the member from the list entirely"))
                .arg(ArgSpec::flag("force", "Send it even to an alive member"))
                .arg(
                    ArgSpec::option("wait", "How long to wait for the member list to show the change")
                        .value_name("SECONDS")
                        .default_value("30")
                        .unsigned(0, 3600),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        force_leave(host, request)
    }
}

export_plugin!(ForceLeave);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_find_typos_and_shared_first_labels() {
        let names: Vec<String> = [
            "server-srv1-example-com",
            "server-srv2-example-com",
            "agent-mail-example-com",
            "agent-proxy-example-com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            close_names("server-srv4-example-com", names.iter()),
            vec!["server-srv1-example-com", "server-srv2-example-com"]
        );
        // A hostname typo is compared in its node-name forms.
        assert_eq!(
            close_names("srv4.example.com", names.iter()),
            vec!["server-srv1-example-com", "server-srv2-example-com"]
        );
        assert_eq!(
            close_names("mail.example.org", names.iter()),
            vec!["agent-mail-example-com"]
        );
        assert_eq!(
            close_names("mail", names.iter()),
            vec!["agent-mail-example-com"]
        );
        assert!(close_names("nope.example.org", names.iter()).len() <= 3);
    }

    #[test]
    fn pruned_nodes_must_be_gone_others_left() {
        assert!(reached(Some(3), false));
        assert!(!reached(Some(3), true));
        assert!(reached(None, true));
        assert!(!reached(Some(4), false));
    }
}
