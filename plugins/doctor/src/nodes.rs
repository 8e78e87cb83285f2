//! `--nodes all|LIST`: each other node runs its own checks (`doctor --local --format json`)
//! through the `doctor-transport` step, a bounded number at a time (the host's `exec.many`, as
//! `secret --nodes`), and its document is merged into this run's report. A node whose answer
//! is not such a document is named as not reached, with the reason.

use carbonio_mesh_plugin_api::fanout::{self, NodePlan, Target, Transport};
use carbonio_mesh_plugin_api::nodes::{NodeDirectory, NodeRole};
use carbonio_mesh_plugin_api::services::{Exec, ExecArg, ExecMany, ExecResult, LocalAddresses};
use carbonio_mesh_plugin_api::{Host, PluginError};

use carbonio_mesh_plugin_api::mesh;

use crate::local::STALE_NODE;
use crate::report::{CertificateExpiry, Check, NodeRow, Report, Status};

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

/// When LDAP holds this node's archive (the leader's, after a regeneration), another node whose
/// archive differs from LDAP's is the stale one: its fix is `secret rejoin` there, never the
/// upload its own check suggests (that would put the old secrets back in LDAP).
pub fn stale_nodes(report: &mut Report, local: &str) {
    let ldap_is_ours = report.checks.iter().any(|c| {
        c.scope == local
            && c.name == "ldap-copy"
            && c.passed()
            && c.detail.starts_with("LDAP holds the same archive")
    });
    if !ldap_is_ours {
        return;
    }
    let hosts: Vec<(String, String)> = report
        .nodes
        .iter()
        .map(|row| {
            (
                row.node.clone(),
                row.host.clone().unwrap_or_else(|| row.node.clone()),
            )
        })
        .collect();
    for check in report.checks.iter_mut().filter(|c| {
        c.scope != local
            && c.name == "ldap-copy"
            && c.status == Status::Fail
            && c.detail.starts_with(mesh::LDAP_DIFFERENT)
    }) {
        let on = hosts
            .iter()
            .find(|(node, _)| *node == check.scope)
            .map_or(check.scope.as_str(), |(_, host)| host.as_str());
        check.check.fix = Some(format!("on {on}: {STALE_NODE}"));
    }
}

/// `leader-ca`: every node reached holds this node's CA (on the Mesh leader, the cluster's):
/// a node left on an old CA cannot talk TLS to the others. Compared by the CA's subject, which
/// names each Consul CA with its own random number; nothing is said when this node has no CA.
pub fn same_ca(report: &mut Report, local: &str) {
    let subject_of = |report: &Report, node: &str| {
        report
            .certificates
            .iter()
            .find(|c| c.node == node && c.certificate == "ca")
            .and_then(|c| c.subject.clone())
    };
    let Some(ours) = subject_of(report, local) else {
        return;
    };
    let reached: Vec<(String, Option<String>)> = report
        .nodes
        .iter()
        .filter(|row| row.node != local && row.error.is_none() && row.status != "skipped")
        .map(|row| (row.node.clone(), row.host.clone()))
        .collect();
    for (node, host) in reached {
        let Some(theirs) = subject_of(report, &node) else {
            continue;
        };
        let check = if theirs == ours {
            Check::new("leader-ca", &node, Status::Ok, "holds this node's CA")
        } else {
            let on = host.as_deref().unwrap_or(&node);
            Check::new(
                "leader-ca",
                &node,
                Status::Fail,
                format!("its CA is {theirs}, not this node's ({ours}): it cannot talk TLS with the nodes on this one"),
            )
            .fix(format!("on {on}: carbonio-mesh secret rejoin --archive FILE, FILE this node's /etc/zextras/service-discover/cluster-credentials.tar.gpg"))
        };
        if let Some(row) = report.nodes.iter_mut().find(|r| r.node == node) {
            if check.status == Status::Fail {
                row.problems.push("leader-ca".into());
                row.status = Status::Fail.name().to_owned();
            }
        }
        report.checks.push(check);
    }
}

/// Runs the transport on every node of `plan`, `parallel` at a time, and merges the answers.
pub fn run(
    host: &Host<'_>,
    transport: &Transport,
    plan: &NodePlan,
    parallel: usize,
    report: &mut Report,
) -> Result<(), PluginError> {
    // A node whose names cannot go into the transport (they come from Consul and LDAP) is not
    // reached, and says why.
    let commands: Vec<Result<Vec<ExecArg>, String>> = plan
        .targets
        .iter()
        .map(|target| transport.command_for(target, ""))
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

    #[test]
    fn a_node_left_behind_by_a_regeneration_is_told_to_rejoin_never_to_upload() {
        let mut report = Report::default();
        let ours = Check::new(
            "ldap-copy",
            "server-srv1",
            Status::Ok,
            "LDAP holds the same archive (carbonioMeshCredentials ...)",
        );
        let stale = Check::new(
            "ldap-copy",
            "agent-x",
            Status::Fail,
            format!(
                "{} (carbonioMeshCredentials ...): nodes set up now get that one",
                mesh::LDAP_DIFFERENT
            ),
        )
        .fix("... upload it as service-discover setup does: ldapmodify ...");
        report.checks = vec![ours.clone(), stale.clone()];
        report.nodes.push(NodeRow {
            node: "agent-x".into(),
            host: Some("x.example.com".into()),
            role: None,
            status: "fail".into(),
            problems: vec!["ldap-copy".into()],
            error: None,
        });
        stale_nodes(&mut report, "server-srv1");
        let fix = report.checks[1].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("on x.example.com: this node keeps an older archive"),
            "{fix}"
        );
        assert!(
            fix.contains("carbonio-mesh secret rejoin --archive FILE")
                && !fix.contains("ldapmodify"),
            "{fix}"
        );
        // When LDAP does not hold this node's archive, which side is stale is not known here.
        let mut unsure = Report::default();
        let mut different = ours;
        different.check.status = Status::Fail;
        unsure.checks = vec![different, stale];
        stale_nodes(&mut unsure, "server-srv1");
        assert!(unsure.checks[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("ldapmodify"));
    }
}
