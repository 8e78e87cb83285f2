//! `--nodes all|LIST`: each other node runs its own checks (`doctor --local --format json`)
//! through the `doctor-transport` step, a bounded number at a time (the host's `exec.many`, as
//! `secret --nodes`), and its document is merged into this run's report. A node whose answer
//! is not such a document is named as not reached, with the reason.

use carbonio_mesh_plugin_api::fanout::{self, NodePlan, Target};
use carbonio_mesh_plugin_api::nodes::{NodeDirectory, NodeRole};
use carbonio_mesh_plugin_api::services::{Exec, ExecArg, ExecMany, ExecResult, LocalAddresses};
use carbonio_mesh_plugin_api::{Host, PluginError};

use crate::report::{CertificateExpiry, Check, NodeRow, Report};

/// The nodes `--nodes` names (this host's own checks run in-process, never through the
/// transport); failed members are not tried: the cluster checks already report them.
pub fn plan(
    host: &Host<'_>,
    directory: &NodeDirectory,
    nodes: &str,
) -> Result<NodePlan, PluginError> {
    let local = host.call(&LocalAddresses {})?.addresses;
    let mut plan = if nodes == "all" {
        NodePlan::all(directory, &local, false)
    } else {
        NodePlan::listed(directory, &local, nodes)?
    };
    plan.notes = directory.unmapped.clone();
    Ok(plan)
}

/// `server` or `agent`, from the node name's prefix.
pub fn role_of(node: &str) -> Option<String> {
    NodeRole::split(node).map(|(role, _)| {
        match role {
            NodeRole::Server => "server",
            NodeRole::Agent => "agent",
        }
        .to_owned()
    })
}

/// The node's document in what a transport printed: all of it (ssh), or the first object
/// that parses starting at the beginning of a line, ended where the object ends, so that what a
/// transport adds around it (ansible's `HOST | FAILED | rc=11 >>` and error lines before it, the
/// node's standard error after it) does not hide it.
fn document(stdout: &str) -> Result<Report, serde_json::Error> {
    let starts = std::iter::once(0).chain(stdout.match_indices("\n{").map(|(at, _)| at + 1));
    let mut first_error = None;
    for start in starts {
        let mut documents =
            serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<Report>();
        match documents.next() {
            Some(Ok(report)) => return Ok(report),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => serde_json::from_str(stdout),
    }
}

/// What one node's transport run gave: its report, or why there is none.
pub fn node_report(result: &ExecResult) -> Result<Report, String> {
    match (&result.output, &result.error) {
        (Some(out), _) => match document(&out.stdout) {
            Ok(report) if out.status.is_some() => Ok(report),
            _ => {
                let status = out
                    .status
                    .map_or_else(|| "killed".to_owned(), |s| format!("exit {s}"));
                let reason = fanout::failure_reason(&out.stderr);
                Err(if reason.is_empty() {
                    format!("{status}, no report on standard output")
                } else {
                    format!("{status}: {reason}")
                })
            }
        },
        (None, Some(e)) => Err(e.message.clone()),
        (None, None) => Err("no answer".to_owned()),
    }
}

/// Merges a node's own report (its checks, certificates and row) into `report`.
pub fn merge(report: &mut Report, target: &Target, answer: Result<Report, String>) {
    match answer {
        Ok(node) => {
            // A node names itself after its own agent, which may be down (it then calls itself
            // `this-node`): its checks are filed under the node this run reached.
            report
                .checks
                .extend(node.checks.into_iter().map(|check| Check {
                    scope: target.node.clone(),
                    ..check
                }));
            report
                .certificates
                .extend(node.certificates.into_iter().map(|cert| CertificateExpiry {
                    node: target.node.clone(),
                    ..cert
                }));
            let mut row = node.nodes.into_iter().next().unwrap_or(NodeRow {
                node: target.node.clone(),
                host: None,
                role: None,
                status: "ok".into(),
                problems: Vec::new(),
                error: None,
            });
            row.node = target.node.clone();
            row.host = target.host.clone().or(row.host);
            row.role = role_of(&target.node).or(row.role);
            report.nodes.push(row);
        }
        Err(error) => report.nodes.push(NodeRow {
            node: target.node.clone(),
            host: target.host.clone(),
            role: role_of(&target.node),
            status: "unreachable".into(),
            problems: Vec::new(),
            error: Some(format!("{} ({}): {error}", target.reach(), target.address)),
        }),
    }
}

/// Runs the transport on every node of `plan`, `parallel` at a time, and merges the answers.
pub fn run(
    host: &Host<'_>,
    argv: &[String],
    plan: &NodePlan,
    parallel: usize,
    report: &mut Report,
) -> Result<(), PluginError> {
    // A node whose names cannot go into the transport (they come from Consul and LDAP) is not
    // reached, and says why.
    let commands: Vec<Result<Vec<ExecArg>, String>> = plan
        .targets
        .iter()
        .map(|target| fanout::transport_command(argv, target, ""))
        .collect();
    let reached: Vec<(&Target, &Vec<ExecArg>)> = plan
        .targets
        .iter()
        .zip(&commands)
        .filter_map(|(target, command)| command.as_ref().ok().map(|argv| (target, argv)))
        .collect();
    let answer = host.call(&ExecMany {
        execs: reached
            .iter()
            .map(|(_, argv)| Exec {
                argv: argv.to_vec(),
                ..Exec::default()
            })
            .collect(),
        labels: reached.iter().map(|(t, _)| t.reach().to_owned()).collect(),
        parallel: parallel.max(1),
    })?;
    let mut results = answer.results.into_iter();
    for (target, command) in plan.targets.iter().zip(&commands) {
        let answer = match command {
            Ok(_) => node_report(&results.next().unwrap_or_default()),
            Err(why) => Err(why.clone()),
        };
        merge(report, target, answer);
    }
    for skipped in &plan.skipped {
        report.nodes.push(NodeRow {
            node: skipped.target.node.clone(),
            host: skipped.target.host.clone(),
            role: role_of(&skipped.target.node),
            status: "skipped".into(),
            problems: vec!["members-failed".into()],
            error: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::services::ExecOutput;

    fn out(status: Option<i32>, stdout: &str, stderr: &str) -> ExecResult {
        ExecResult::from(Ok(ExecOutput {
            status,
            stdout: stdout.into(),
            stderr: stderr.into(),
            dry_run: false,
        }))
    }

    #[test]
    fn the_document_is_found_between_what_a_transport_adds() {
        let doc = "{\n  \"status\": \"ok\",\n  \"checks\": [],\n  \"nodes\": []\n}";
        // ansible's minimal output: a line before, the node's standard error after.
        let wrapped =
            format!("srv2.example.com | FAILED | rc=10 >>\n{doc}\ncarbonio-mesh: warning: x\n");
        let report = node_report(&out(Some(2), &wrapped, "")).unwrap();
        assert!(report.status.is_some(), "{report:?}");
        assert!(node_report(&out(Some(0), "srv2 | CHANGED | rc=0 >>\nnot json\n", "")).is_err());
        assert!(node_report(&out(Some(0), "", "")).is_err());
    }

    #[test]
    fn a_node_answers_with_its_document_whatever_its_exit_status() {
        let doc = r#"{"status":"warn","checks":[{"name":"service","scope":"agent-x","status":"warn","detail":"d","fix":null}],"nodes":[{"node":"agent-x","host":null,"role":"agent","status":"warn","problems":["service"]}]}"#;
        let report = node_report(&out(Some(10), doc, "")).unwrap();
        assert_eq!(report.checks.len(), 1);
        let error = node_report(&out(
            Some(255),
            "",
            "ssh: connect to host x port 22: Connection refused\n",
        ))
        .unwrap_err();
        assert_eq!(
            error,
            "exit 255: ssh: connect to host x port 22: Connection refused"
        );
        assert_eq!(
            node_report(&out(None, doc, "")).unwrap_err(),
            "killed, no report on standard output"
        );
        let target = Target {
            node: "agent-x".into(),
            host: Some("x.example.com".into()),
            address: "10.0.0.9".into(),
        };
        let mut merged = Report::default();
        merge(&mut merged, &target, Err(error));
        assert_eq!(merged.nodes[0].status, "unreachable");
        assert_eq!(
            merged.nodes[0].error.as_deref(),
            Some("x.example.com (10.0.0.9): exit 255: ssh: connect to host x port 22: Connection refused")
        );
        let mut renamed = report.clone();
        renamed.checks[0].scope = "this-node".into();
        merge(&mut merged, &target, Ok(renamed));
        assert_eq!(merged.nodes[1].host.as_deref(), Some("x.example.com"));
        assert_eq!(
            merged.checks[0].scope, "agent-x",
            "filed under the node reached"
        );
    }
}
