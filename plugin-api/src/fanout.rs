//! Running one command on many nodes (`--nodes all|LIST`): which nodes, how the transport
//! command reaches each one, and why one failed. `secret regenerate --nodes` and
//! `doctor --nodes` share it; each runs the commands through the host's `exec.many` (bounded,
//! parallel) with its own transport step.

use serde::{Deserialize, Serialize};

use crate::consul::{ALIVE, FAILED};
use crate::nodes::{Lookup, MeshNode, NodeDirectory};
use crate::services::ExecArg;
use crate::PluginError;

/// A node to reach, under its three names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The Consul node name.
    pub node: String,
    /// The Carbonio hostname mapped to the node, if one is.
    pub host: Option<String>,
    /// The node's gossip address.
    pub address: String,
}

impl Target {
    /// What the transport connects to: the hostname (what host keys are known by), else the
    /// address; never the Consul node name, which resolves nowhere.
    pub fn reach(&self) -> &str {
        self.host.as_deref().unwrap_or(&self.address)
    }
}

impl From<&MeshNode> for Target {
    fn from(node: &MeshNode) -> Self {
        Target {
            node: node.node.clone(),
            host: node.host.clone(),
            address: node.address.clone(),
        }
    }
}

/// A member `--nodes all` leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The member left out.
    pub target: Target,
    /// Why (failed, this host, ...).
    pub reason: String,
}

/// The nodes a command is run on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// The nodes to run on, in order.
    pub targets: Vec<Target>,
    /// The members `--nodes all` leaves out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Why some hostnames are unknown (those nodes are reached by address).
    pub notes: Vec<String>,
}

/// Whether `node` is this host: the agent's own node when Consul said which, else a member
/// whose address is one of this host's (`local`).
pub fn is_this_host(directory: &NodeDirectory, local: &[String], node: &MeshNode) -> bool {
    match &directory.local_node {
        Some(own) => *own == node.node,
        None => local.contains(&node.address),
    }
}

impl NodePlan {
    /// `--nodes all`: alive members other than this host; failed ones only with
    /// `include_failed`; members that left never.
    pub fn all(directory: &NodeDirectory, local: &[String], include_failed: bool) -> NodePlan {
        let mut plan = NodePlan::default();
        for node in &directory.nodes {
            if is_this_host(directory, local, node) {
                continue;
            }
            match node.status {
                ALIVE => plan.targets.push(node.into()),
                FAILED if include_failed => plan.targets.push(node.into()),
                FAILED => plan.skipped.push(Skipped {
                    target: node.into(),
                    reason: "failed member (--include-failed to try it)".to_owned(),
                }),
                _ => {}
            }
        }
        plan
    }

    /// `--nodes A,B,...`: each a node name, hostname or address of a member other than this
    /// host; anything else is refused before anything runs.
    pub fn listed(
        directory: &NodeDirectory,
        local: &[String],
        list: &str,
    ) -> Result<NodePlan, PluginError> {
        let mut plan = NodePlan::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let node = match directory.find(name) {
                Lookup::Found(node) => node,
                Lookup::Ambiguous(nodes) => {
                    let names: Vec<String> = nodes.iter().map(|n| n.label()).collect();
                    return Err(PluginError::usage(format!(
                        "--nodes: '{name}' fits several members: {}",
                        names.join(", ")
                    ))
                    .hint("name the one meant by its Consul node name"));
                }
                Lookup::NotFound => {
                    return Err(PluginError::usage(format!(
                        "--nodes: no member is named '{name}' (by node name, hostname or address)"
                    ))
                    .hint("`carbonio-mesh members` lists them; a node that left the cluster cannot be reached from here"));
                }
            };
            if is_this_host(directory, local, node) {
                return Err(PluginError::usage(format!(
                    "--nodes: {} is this host, which the run itself covers",
                    node.label()
                )));
            }
            let target = Target::from(node);
            if !plan.targets.contains(&target) {
                plan.targets.push(target);
            }
        }
        Ok(plan)
    }
}

/// A transport's words with `{node}`, `{host}`, `{address}` and `{run}` filled in.
pub fn transport_argv(argv: &[String], target: &Target, run: &str) -> Vec<ExecArg> {
    argv.iter()
        .map(|w| {
            ExecArg::from(
                w.replace("{node}", &target.node)
                    .replace("{host}", target.reach())
                    .replace("{address}", &target.address)
                    .replace("{run}", run),
            )
        })
        .collect()
}

/// Refuses a transport that connects to `{node}`: that is the Consul node name
/// (`server-srv2-example-com`), which resolves nowhere; a transport written before node names
/// were understood does that. `defined_in` names the configuration that said so.
pub fn check_transport(argv: &[String], defined_in: &str) -> Result<(), PluginError> {
    match argv.iter().find(|w| w.contains("@{node}")) {
        Some(word) => Err(PluginError::config(format!(
            "the transport ({defined_in}) connects to '{word}': {{node}} is the Consul node name (server-/agent- + dashed FQDN), which resolves nowhere"
        ))
        .hint("write {host} instead: the node's Carbonio hostname, else its address")),
        None => Ok(()),
    }
}

/// The line of a failed transport's standard error that says why: the last one that is not
/// indented. ssh's own failures end with their reason; a node's carbonio-mesh prints its reason
/// (`carbonio-mesh: error: ...`) and then indented advice for whoever is at that node (`fix:`,
/// how to resume or restore there), which would say nothing about what went wrong. Without
/// such a line, the last line.
pub fn failure_reason(stderr: &str) -> &str {
    let lines = || stderr.lines().rev().filter(|l| !l.trim().is_empty());
    lines()
        .find(|l| !l.starts_with(char::is_whitespace))
        .or_else(|| lines().next())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul::LEFT;
    use crate::nodes::Member;

    fn directory() -> NodeDirectory {
        let member = |name: &str, addr: &str, status| Member {
            name: name.into(),
            addr: addr.into(),
            status,
        };
        NodeDirectory::build(
            &[
                member("server-srv1-example-com", "192.168.56.101", ALIVE),
                member("server-srv2-example-com", "192.168.56.102", ALIVE),
                member("agent-mail-example-com", "192.168.56.110", ALIVE),
                member("agent-proxy-example-com", "192.168.56.111", FAILED),
                member("agent-old-example-com", "192.168.56.120", LEFT),
            ],
            &["srv1.example.com".into(), "srv2.example.com".into()],
        )
    }

    fn local() -> Vec<String> {
        vec!["127.0.0.1".into(), "192.168.56.101".into()]
    }

    #[test]
    fn all_is_alive_members_but_this_host_failed_ones_skipped_left_ones_never() {
        let plan = NodePlan::all(&directory(), &local(), false);
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(names, ["server-srv2-example-com", "agent-mail-example-com"]);
        assert_eq!(plan.targets[0].reach(), "srv2.example.com");
        assert_eq!(
            plan.targets[1].reach(),
            "192.168.56.110",
            "no hostname maps: address"
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].target.node, "agent-proxy-example-com");
        assert!(plan.skipped[0].reason.contains("--include-failed"));
        let plan = NodePlan::all(&directory(), &local(), true);
        assert_eq!(plan.targets.len(), 3);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn this_host_is_the_agents_own_node_when_consul_says_which() {
        // Every member's address is local here (a network namespace holding the whole
        // simulated cluster): only the agent's own node is this host.
        let mut directory = directory();
        directory.local_node = Some("server-srv1-example-com".into());
        let everything: Vec<String> = directory.nodes.iter().map(|n| n.address.clone()).collect();
        let plan = NodePlan::all(&directory, &everything, false);
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(names, ["server-srv2-example-com", "agent-mail-example-com"]);
    }

    #[test]
    fn a_list_takes_any_of_the_three_names_and_refuses_unknown_ones_and_this_host() {
        let plan = NodePlan::listed(
            &directory(),
            &local(),
            "srv2.example.com, agent-mail-example-com,192.168.56.111,server-srv2-example-com",
        )
        .unwrap();
        let names: Vec<&str> = plan.targets.iter().map(|t| t.node.as_str()).collect();
        assert_eq!(
            names,
            [
                "server-srv2-example-com",
                "agent-mail-example-com",
                "agent-proxy-example-com"
            ],
            "named twice, reached once"
        );
        let error = NodePlan::listed(&directory(), &local(), "srv9.example.com").unwrap_err();
        assert!(error
            .message
            .contains("no member is named 'srv9.example.com'"));
        let error = NodePlan::listed(&directory(), &local(), "srv1.example.com").unwrap_err();
        assert!(error.message.contains("is this host"), "{}", error.message);
    }

    #[test]
    fn the_reason_is_the_last_unindented_line() {
        assert_eq!(
            failure_reason(
                "secret rejoin: step failed: 'service-discover' is not installed\n  Continue with: x\n"
            ),
            "secret rejoin: step failed: 'service-discover' is not installed"
        );
        assert_eq!(
            failure_reason("No ED25519 host key is known.\nHost key verification failed.\n"),
            "Host key verification failed."
        );
        assert_eq!(failure_reason("  only indented\n\n"), "only indented");
    }

    #[test]
    fn the_transport_gets_the_hostname_or_address_never_the_node_name_as_host() {
        let target = Target {
            node: "agent-mail-example-com".into(),
            host: None,
            address: "192.168.56.110".into(),
        };
        let argv = transport_argv(
            &[
                "ssh".into(),
                "root@{host}".into(),
                "{node}/{address}/{run}".into(),
            ],
            &target,
            "r1",
        );
        assert_eq!(
            argv,
            [
                ExecArg::from("ssh"),
                ExecArg::from("root@192.168.56.110"),
                ExecArg::from("agent-mail-example-com/192.168.56.110/r1")
            ]
        );
        assert!(check_transport(&["root@{node}".into()], "built-in").is_err());
        assert!(check_transport(&["root@{host}".into()], "built-in").is_ok());
    }
}
