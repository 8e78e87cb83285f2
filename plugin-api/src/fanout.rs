//! Running one command on many nodes (`--nodes all|LIST`): which nodes, how the transport
//! command reaches each one, and why one failed. `secret regenerate --nodes` and
//! `doctor --nodes` share it; each runs the commands through the host's `exec.many` (bounded,
//! parallel) with its own transport step.

use serde::{Deserialize, Serialize};

use crate::consul::{ALIVE, FAILED};
use crate::nodes::{Lookup, MeshNode, NodeDirectory};
use crate::services::{ExecArg, ResolvedStep, WorkflowSteps};
use crate::step::Fill;
pub use crate::target::Target;
use crate::{Host, PluginError};

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

/// A transport's words with `{node}`, `{host}`, `{address}` and `{run}` filled in, unchecked.
#[deprecated(
    since = "1.7.0",
    note = "the names come from Consul and LDAP: use transport_command, which checks them"
)]
pub fn transport_argv(argv: &[String], target: &Target, run: &str) -> Vec<ExecArg> {
    argv.iter()
        .map(|w| ExecArg::from(fill(w, target, run)))
        .collect()
}

fn fill(word: &str, target: &Target, run: &str) -> String {
    Fill {
        run,
        facts: None,
        target: Some(target),
    }
    .word(word)
}

/// The placeholders a transport word may hold.
const PLACEHOLDERS: [&str; 4] = ["{node}", "{host}", "{address}", "{run}"];

/// Whether `name` is a DNS host name: dot-separated labels of letters, digits, `-` and `_`,
/// none empty or starting with `-` (a trailing dot is allowed).
pub fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `name` is a Consul node name as Carbonio makes them (`agent-mail-example-com`, or a
/// WAN name `NODE.DC`): letters, digits, `-`, `_` and `.`, not starting with `-` or `.`.
pub fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Why a name of `target` may not go into the transport's words (`argv` says which are used),
/// if one may not. The names come from Consul and LDAP, which whoever controls a node or the
/// directory can set: `-oProxyCommand=...` as a hostname would be an option to ssh, and words
/// after ssh's destination are run by the node's shell.
fn refused_name(argv: &[String], target: &Target, run: &str) -> Option<String> {
    let used = |placeholder: &str| argv.iter().any(|w| w.contains(placeholder));
    if used("{node}") && !is_node_name(&target.node) {
        return Some(format!(
            "its Consul node name {:?} is not a node name (letters, digits, '-', '_', '.')",
            target.node
        ));
    }
    if used("{address}") && target.address.parse::<std::net::IpAddr>().is_err() {
        return Some(format!(
            "its address {:?} is not an IP address",
            target.address
        ));
    }
    if used("{host}") {
        match &target.host {
            Some(host) if !is_dns_name(host) => {
                return Some(format!(
                    "its hostname {host:?} (from Carbonio's LDAP) is not a DNS name"
                ))
            }
            None if target.address.parse::<std::net::IpAddr>().is_err() => {
                return Some(format!(
                    "its address {:?} is not an IP address",
                    target.address
                ))
            }
            _ => {}
        }
    }
    if used("{run}") && !run.is_empty() && !is_node_name(run) {
        return Some(format!(
            "the run name {run:?} is not one carbonio-mesh makes"
        ));
    }
    None
}

/// A transport's words with `{node}`, `{host}`, `{address}` and `{run}` filled in, each value
/// checked first: `{host}` only a DNS name (or, without one, the address), `{address}` only an
/// IP address, `{node}` only a Consul node name. `Err` says why this node cannot be reached.
pub fn transport_command(
    argv: &[String],
    target: &Target,
    run: &str,
) -> Result<Vec<ExecArg>, String> {
    if let Some(why) = refused_name(argv, target, run) {
        return Err(format!("not reached: {why}"));
    }
    Ok(argv
        .iter()
        .map(|w| ExecArg::from(fill(w, target, run)))
        .collect())
}

/// A command step that reaches another node (`transport` of `secret`, `doctor-transport` of
/// `doctor`): its command as configured, and whether the run's password goes to its standard
/// input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// The command's words, placeholders unfilled.
    pub argv: Vec<String>,
    /// The run's new password goes to its standard input.
    pub password_stdin: bool,
    /// Where it is configured: the file (or `built-in`) and the line.
    pub defined_in: String,
    /// The line of `defined_in`, when a configuration file.
    pub line: Option<usize>,
}

impl Transport {
    /// The command step `step` as the configuration resolves it, refused when it is not a
    /// command or connects to the Consul node name ([`check_transport`]).
    pub fn configured(host: &Host<'_>, step: &str) -> Result<Transport, PluginError> {
        let resolved = host.call(&WorkflowSteps {
            workflow: step.to_owned(),
        })?;
        Transport::from_resolved(step, resolved.steps.into_iter().next())
    }

    /// The transport a resolved command step describes (see [`Transport::configured`]).
    pub fn from_resolved(
        step: &str,
        resolved: Option<ResolvedStep>,
    ) -> Result<Transport, PluginError> {
        let Some((argv, password_stdin, defined_in, line)) = resolved.and_then(|s| {
            s.exec
                .map(|argv| (argv, s.password_stdin, s.defined_in, s.line))
        }) else {
            return Err(PluginError::config(format!(
                "the {step} step must be a command: [steps.{step}] exec = [...]"
            )));
        };
        check_transport(&argv, &defined_in)?;
        Ok(Transport {
            argv,
            password_stdin,
            defined_in,
            line,
        })
    }

    /// `FILE:LINE`, or `built-in`.
    pub fn at(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.defined_in),
            None => self.defined_in.clone(),
        }
    }

    /// The command that reaches `target`, its `{node}`, `{host}`, `{address}` and `{run}`
    /// filled in once each name is checked ([`transport_command`]); `Err` says why this node
    /// cannot be reached.
    pub fn command_for(&self, target: &Target, run: &str) -> Result<Vec<ExecArg>, String> {
        transport_command(&self.argv, target, run)
    }
}

/// Refuses a transport that connects to `{node}`: that is the Consul node name
/// (`server-srv2-example-com`), which resolves nowhere; a transport written before node names
/// were understood does that. Refuses a word that starts with a placeholder too: whatever fills
/// it in could begin with `-` and be read as an option. `defined_in` names the configuration
/// that said so.
pub fn check_transport(argv: &[String], defined_in: &str) -> Result<(), PluginError> {
    if let Some(word) = argv.iter().find(|w| w.contains("@{node}")) {
        return Err(PluginError::config(format!(
            "the transport ({defined_in}) connects to '{word}': {{node}} is the Consul node name (server-/agent- + dashed FQDN), which resolves nowhere"
        ))
        .hint("write {host} instead: the node's Carbonio hostname, else its address"));
    }
    let leading = argv
        .iter()
        .skip(1)
        .find(|w| PLACEHOLDERS.iter().any(|p| w.starts_with(p)));
    if let Some(word) = leading {
        return Err(PluginError::config(format!(
            "the transport ({defined_in}) has the word '{word}', which starts with a placeholder: a name from Consul or LDAP beginning with '-' would be taken for an option"
        ))
        .hint("put fixed text before it, as the default does: root@{host}"));
    }
    Ok(())
}

/// What a node's program that ended without success says: `exit N: ` (or `exit killed: `)
/// and the reason its standard error gives ([`failure_reason`]).
pub fn failed_run(output: &crate::services::ExecOutput) -> String {
    format!(
        "exit {}: {}",
        output
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "killed".into()),
        failure_reason(&output.stderr)
    )
}

/// The line of a failed transport's standard error that says why: the last one that is not
/// indented nor a warning. ssh's own failures end with their reason; a node's carbonio-mesh
/// prints its reason (`carbonio-mesh: error: ...`) and then indented advice for whoever is at
/// that node (`fix:`, how to resume or restore there), which would say nothing about what went
/// wrong, and its warnings last (a run lock taken over from a killed run), which say nothing
/// about it either. Without such a line, the last line.
pub fn failure_reason(stderr: &str) -> &str {
    const WARNING: &str = "carbonio-mesh: warning: ";
    let lines = || stderr.lines().rev().filter(|l| !l.trim().is_empty());
    let unindented = || lines().filter(|l| !l.starts_with(char::is_whitespace));
    unindented()
        .find(|l| !l.starts_with(WARNING))
        .or_else(|| unindented().next())
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
        // A node's warnings come after its error.
        assert_eq!(
            failure_reason(
                "secret rejoin: step failed: setup failed\n  fix: x\ncarbonio-mesh: warning: the run lock named R was taken over\n  fix: y\n"
            ),
            "secret rejoin: step failed: setup failed"
        );
        assert_eq!(
            failure_reason("carbonio-mesh: warning: only this\n"),
            "carbonio-mesh: warning: only this"
        );
    }

    #[test]
    fn a_failed_run_says_its_exit_status_or_killed_and_the_reason() {
        let output = |status, stderr: &str| crate::services::ExecOutput {
            status,
            stderr: stderr.to_owned(),
            ..Default::default()
        };
        assert_eq!(
            failed_run(&output(
                Some(5),
                "carbonio-mesh: error: no leader\n  fix: wait\n"
            )),
            "exit 5: carbonio-mesh: error: no leader"
        );
        assert_eq!(failed_run(&output(None, "")), "exit killed: ");
    }

    #[test]
    fn the_transport_gets_the_hostname_or_address_never_the_node_name_as_host() {
        let target = Target {
            node: "agent-mail-example-com".into(),
            host: None,
            address: "192.168.56.110".into(),
        };
        let argv = transport_command(
            &[
                "ssh".into(),
                "root@{host}".into(),
                "{node}/{address}/{run}".into(),
            ],
            &target,
            "r1",
        )
        .unwrap();
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

    /// Issue 24, item 4: an LDAP hostname `-oProxyCommand=...` went into a site transport where
    /// `{host}` was its own word, and ssh ran the command as root.
    #[test]
    fn names_from_consul_and_ldap_go_into_a_transport_only_when_they_are_names() {
        let argv: Vec<String> = ["ssh", "root@{host}", "carbonio-mesh", "{node}", "{address}"]
            .map(String::from)
            .to_vec();
        let good = Target {
            node: "agent-mail-example-com".into(),
            host: Some("mail.example.com".into()),
            address: "192.168.56.110".into(),
        };
        assert!(transport_command(&argv, &good, "r1").is_ok());
        for (target, why) in [
            (
                Target {
                    host: Some("-oProxyCommand=touch /tmp/x".into()),
                    ..good.clone()
                },
                "is not a DNS name",
            ),
            (
                Target {
                    node: "agent-x;reboot".into(),
                    ..good.clone()
                },
                "is not a node name",
            ),
            (
                Target {
                    address: "-oProxyCommand=x".into(),
                    ..good.clone()
                },
                "is not an IP address",
            ),
            (
                Target {
                    host: None,
                    address: "mail.example.com".into(),
                    ..good.clone()
                },
                "is not an IP address",
            ),
        ] {
            let error = transport_command(&argv, &target, "r1").unwrap_err();
            assert!(error.contains(why), "{error}");
        }
        // A placeholder the transport does not use is not checked.
        let only_host: Vec<String> = vec!["ssh".into(), "root@{host}".into()];
        let odd_node = Target {
            node: "agent x".into(),
            ..good.clone()
        };
        assert!(transport_command(&only_host, &odd_node, "r1").is_ok());
        // A word that starts with a placeholder is refused in the configuration itself.
        for word in ["{host}", "{address}:22", "{node}", "{run}"] {
            let argv = vec!["ssh".to_owned(), word.to_owned(), "true".to_owned()];
            let error = check_transport(&argv, "99-site.toml: line 2").unwrap_err();
            assert!(
                error.message.contains("starts with a placeholder"),
                "{word}"
            );
        }
        assert!(is_dns_name("srv1.example.com.") && is_dns_name("mail_1.example.com"));
        assert!(!is_dns_name("-x.example.com") && !is_dns_name("a..b") && !is_dns_name(""));
    }
}
