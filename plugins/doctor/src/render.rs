//! The report as people and machines read it: a summary line, the per-node table and each
//! problem with its fix; or Prometheus' text format for node_exporter's textfile collector.

use std::borrow::Cow;

use carbonio_mesh_plugin_api::untrusted::one_line;
use carbonio_mesh_plugin_api::Table;

use crate::report::{metric, Check, Report, Status, CLUSTER};

fn paint(text: &str, status: Status, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match status {
        Status::Ok => "32",
        Status::Warn => "33",
        Status::Fail => "31",
        Status::Unknown => "36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary line: `OK: every check passed (21 checks on 1 node)`, `FAIL: 2 failed, 1
/// warning, 3 not checked (...)`.
pub fn summary(report: &Report, color: bool) -> String {
    let count = |status| report.checks.iter().filter(|c| c.status == status).count();
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    let unknown = count(Status::Unknown);
    let unreachable = report.nodes.iter().filter(|n| n.error.is_some()).count();
    let status = report.status.unwrap_or(Status::Ok);
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    if warned > 0 {
        parts.push(plural(warned, "warning", "warnings"));
    }
    if unreachable > 0 {
        parts.push(format!(
            "{} not reached",
            plural(unreachable, "node", "nodes")
        ));
    }
    let what = match (parts.is_empty(), unknown) {
        (true, 0) => "every check passed".to_owned(),
        (true, _) => format!("every check made passed, {unknown} not checked"),
        (false, 0) => parts.join(", "),
        (false, _) => format!("{}, {unknown} not checked", parts.join(", ")),
    };
    format!(
        "{}: {what} ({} on {})\n",
        paint(&status.name().to_ascii_uppercase(), status, color),
        plural(report.checks.len(), "check", "checks"),
        plural(report.nodes.len(), "node", "nodes")
    )
}

pub fn human(report: &Report, color: bool) -> String {
    let mut out = summary(report, color);
    out.push('\n');
    let mut table = Table::new(["Node", "Host", "Role", "Status", "Problems"]);
    let cluster_status = report.status_of(CLUSTER);
    let cluster_problems: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.scope == CLUSTER && !c.passed())
        .collect();
    if report.checks.iter().any(|c| c.scope == CLUSTER) {
        table.push([
            "(cluster)".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            cluster_status.name().to_owned(),
            problems_cell(&cluster_problems),
        ]);
    }
    for row in &report.nodes {
        let problems = match &row.error {
            Some(_) => "not reached".to_owned(),
            None if row.problems.is_empty() => "-".to_owned(),
            // A check of the row's node not made is marked; a name of another scope (a skipped
            // node's `members-failed`) is shown as it is.
            None => row
                .problems
                .iter()
                .map(|name| {
                    let unknown = report.checks.iter().any(|c| {
                        c.scope == row.node && c.name == *name && c.status == Status::Unknown
                    });
                    if unknown {
                        format!("{name} (not checked)")
                    } else {
                        name.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        table.push([
            Cow::from(row.node.as_str()),
            Cow::from(row.host.as_deref().unwrap_or("-")),
            Cow::from(row.role.as_deref().unwrap_or("-")),
            Cow::from(row.status.as_str()),
            Cow::from(problems),
        ]);
    }
    out.push_str(&table.render());
    let problems: Vec<_> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Warn | Status::Fail))
        .collect();
    let unreachable: Vec<_> = report.nodes.iter().filter(|n| n.error.is_some()).collect();
    if !problems.is_empty() || !unreachable.is_empty() {
        out.push_str("\nProblems:\n");
    }
    for check in problems {
        check_lines(&mut out, check, color);
    }
    for row in unreachable {
        let host = line(row.host.as_deref().unwrap_or(&row.node));
        out.push_str(&format!(
            "{} {}: not reached: {}\n     fix: check that {host} is up and reachable over the doctor-transport (ssh root@{host} works without a password)\n",
            paint(Status::Fail.word(), Status::Fail, color),
            line(&row.node),
            line(row.error.as_deref().unwrap_or("")),
        ));
    }
    let unknown: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Unknown)
        .collect();
    if !unknown.is_empty() {
        out.push_str("\nNot checked:\n");
    }
    for check in unknown {
        check_lines(&mut out, check, color);
    }
    out
}

/// One line per check and one for its fix: details and fixes quote node names and what nodes
/// answered, so each is kept to one line.
fn line(text: &str) -> String {
    one_line(text).into_owned()
}

fn check_lines(out: &mut String, check: &Check, color: bool) {
    out.push_str(&format!(
        "{} {} {}: {}\n",
        paint(check.status.word(), check.status, color),
        line(&check.scope),
        line(&check.name),
        line(&check.detail)
    ));
    if let Some(fix) = &check.fix {
        out.push_str(&format!("     fix: {}\n", line(fix)));
    }
}

/// The checks of a row that did not pass; one not made is marked `(not checked)`.
fn problems_cell(problems: &[&Check]) -> String {
    if problems.is_empty() {
        return "-".to_owned();
    }
    let names: Vec<String> = problems
        .iter()
        .map(|c| match c.status {
            Status::Unknown => format!("{} (not checked)", c.name),
            _ => c.name.clone(),
        })
        .collect();
    names.join(", ")
}

/// A label value in Prometheus' text format: `\`, `"` and newlines escaped, the only escapes
/// the format has; every other control character is left out. Shown as `\x1b` (what the host
/// does to controls in any output) it would be an escape the format does not know, and the
/// textfile collector drops the whole file: no alert would fire.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// node_exporter's textfile format.
pub fn prometheus(report: &Report) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "carbonio_mesh_check_status",
        "A carbonio-mesh doctor check: 0 ok, 1 warn, 2 fail, -1 not checked.",
    );
    for check in &report.checks {
        out.push_str(&format!(
            "carbonio_mesh_check_status{{check=\"{}\",node=\"{}\"}} {}\n",
            label(&check.name),
            label(&check.scope),
            metric(check.status)
        ));
    }
    gauge(
        &mut out,
        "carbonio_mesh_certificate_expiry_seconds",
        "Seconds until a Mesh certificate expires (negative: expired).",
    );
    for cert in &report.certificates {
        out.push_str(&format!(
            "carbonio_mesh_certificate_expiry_seconds{{certificate=\"{}\",node=\"{}\"}} {}\n",
            label(&cert.certificate),
            label(&cert.node),
            cert.expires_in_secs
        ));
    }
    gauge(
        &mut out,
        "carbonio_mesh_members",
        "Consul members by status, as the local agent sees them.",
    );
    // Every status Consul knows, 0 when none: an alert on `failed > 0` needs the series to be
    // there when it is 0 too. Nothing when the members were not read (`--local`).
    let mut members = report.members.clone();
    if !members.is_empty() {
        for status in ["alive", "leaving", "left", "failed"] {
            members.entry(status.to_owned()).or_insert(0);
        }
    }
    for (status, count) in &members {
        out.push_str(&format!(
            "carbonio_mesh_members{{status=\"{}\"}} {count}\n",
            label(status)
        ));
    }
    gauge(
        &mut out,
        "carbonio_mesh_node_reached",
        "Whether doctor could run a node's checks (1) or not (0).",
    );
    for row in &report.nodes {
        out.push_str(&format!(
            "carbonio_mesh_node_reached{{node=\"{}\"}} {}\n",
            label(&row.node),
            u8::from(row.error.is_none())
        ));
    }
    gauge(
        &mut out,
        "carbonio_mesh_doctor_status",
        "The worst check: 0 ok, 1 warn, 2 fail.",
    );
    out.push_str(&format!(
        "carbonio_mesh_doctor_status {}\n",
        metric(report.status.unwrap_or(Status::Ok))
    ));
    out
}

/// The `# HELP` and `# TYPE` lines that open a gauge's series.
fn gauge(out: &mut String, name: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CertificateExpiry, Check};

    fn report() -> Report {
        let mut report = Report::default();
        report
            .checks
            .push(Check::new("leader", CLUSTER, Status::Ok, "leader at x"));
        report.checks.push(
            Check::new("members-failed", CLUSTER, Status::Fail, "failed: agent-x")
                .fix("carbonio-mesh force-leave agent-x"),
        );
        report
            .checks
            .push(Check::new("service", "server-a", Status::Ok, "active"));
        report.add_row(
            "server-a",
            Some("a.example.com".into()),
            Some("server".into()),
        );
        report.certificates.push(CertificateExpiry {
            certificate: "ca".into(),
            node: "server-a".into(),
            expires_in_secs: 42,
            subject: None,
        });
        report.members.insert("alive".into(), 4);
        report.finish()
    }

    #[test]
    fn the_human_report_has_a_summary_a_table_and_each_problem_with_its_fix() {
        let text = human(&report(), false);
        assert_eq!(
            text,
            "FAIL: 1 failed (3 checks on 1 node)\n\n\
Node       Host           Role    Status  Problems\n\
(cluster)  -              -       fail    members-failed\n\
server-a   a.example.com  server  ok      -\n\
\nProblems:\n\
FAIL cluster members-failed: failed: agent-x\n     fix: carbonio-mesh force-leave agent-x\n"
        );
        assert!(human(&report(), true).contains("\x1b[31mFAIL\x1b[0m"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn prometheus_text_has_one_sample_per_check_and_escapes_labels() {
        let mut report = report();
        report.checks[0].scope = "a\"b\\c".into();
        let text = prometheus(&report);
        assert!(text
            .contains("carbonio_mesh_check_status{check=\"members-failed\",node=\"cluster\"} 2\n"));
        assert!(text.contains("node=\"a\\\"b\\\\c\"} 0\n"), "{text}");
        assert!(text.contains(
            "carbonio_mesh_certificate_expiry_seconds{certificate=\"ca\",node=\"server-a\"} 42\n"
        ));
        assert!(text.contains("carbonio_mesh_members{status=\"alive\"} 4\n"));
        assert!(
            text.contains("carbonio_mesh_members{status=\"failed\"} 0\n"),
            "{text}"
        );
        assert!(text.ends_with("carbonio_mesh_doctor_status 2\n"));
    }

    /// Issue 24, item 12: a node name with control characters made the host write `\x1b` into
    /// a label value, an escape the exposition format does not have: node_exporter rejected the
    /// whole file, so no alert fired.
    #[test]
    fn control_characters_never_reach_a_label_value() {
        let mut report = report();
        report.checks[0].scope = "evil\u{1b}]0;x\u{7}\r\tname\nnext".into();
        let text = prometheus(&report);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("node=\"evil]0;xname\\nnext\"} 0\n"), "{text}");
    }
}
