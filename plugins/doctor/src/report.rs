//! What `doctor` found, as data: every check with its status, detail and fix, the per-node
//! rows, and the numbers monitoring wants (certificate expiry, members by status). The same
//! shape is `--format json`'s, and what `--nodes` reads back from each node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Exit status when every check passed or warned and at least one warned (README, "Exit codes").
pub const EXIT_WARNINGS: u8 = 10;
/// Exit status when a check failed or a node could not be checked.
pub const EXIT_FAILED: u8 = 11;

/// One check's verdict, worst last (so `max` is the overall verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }

    /// The value of `carbonio_mesh_check_status`.
    pub fn metric(self) -> u8 {
        self as u8
    }
}

/// The scope of checks made from the local agent about the whole cluster.
pub const CLUSTER: &str = "cluster";

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// `cluster`, or the Consul node name of the node it is about.
    pub scope: String,
    pub status: Status,
    pub detail: String,
    /// A command (or what to do) that fixes it; none when it is ok.
    #[serde(default)]
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: &str, scope: &str, status: Status, detail: impl Into<String>) -> Self {
        Check {
            name: name.to_owned(),
            scope: scope.to_owned(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        if self.status != Status::Ok {
            self.fix = Some(fix.into());
        }
        self
    }
}

/// A certificate's remaining life, for monitoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateExpiry {
    /// `ca` or `node`.
    pub certificate: String,
    pub node: String,
    /// Negative: expired that long ago.
    pub expires_in_secs: i64,
}

/// One row of the per-node table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRow {
    pub node: String,
    pub host: Option<String>,
    /// `server`, `agent`, or none when the node name is not in Carbonio's form.
    pub role: Option<String>,
    /// `ok`, `warn`, `fail`, or `unreachable` (its checks could not be run).
    pub status: String,
    /// The names of its checks that are not ok.
    pub problems: Vec<String>,
    /// Why it could not be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub status: Option<Status>,
    pub checks: Vec<Check>,
    pub nodes: Vec<NodeRow>,
    #[serde(default)]
    pub certificates: Vec<CertificateExpiry>,
    /// Members by status name (`alive`, `failed`, ...), as the local agent sees them.
    #[serde(default)]
    pub members: BTreeMap<String, usize>,
}

impl Report {
    /// The worst status of `checks` whose scope is `scope`.
    pub fn status_of(&self, scope: &str) -> Status {
        self.checks
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// Adds the row of `node` from its checks.
    pub fn add_row(&mut self, node: &str, host: Option<String>, role: Option<String>) {
        let problems = self
            .checks
            .iter()
            .filter(|c| c.scope == node && c.status != Status::Ok)
            .map(|c| c.name.clone())
            .collect();
        self.nodes.push(NodeRow {
            node: node.to_owned(),
            host,
            role,
            status: self.status_of(node).word().to_ascii_lowercase(),
            problems,
            error: None,
        });
    }

    /// Sets the overall status: the worst check, or `fail` when a node could not be checked.
    pub fn finish(mut self) -> Self {
        let worst = self.checks.iter().map(|c| c.status).max();
        let unreachable = self.nodes.iter().any(|n| n.error.is_some());
        self.status = Some(if unreachable {
            Status::Fail
        } else {
            worst.unwrap_or(Status::Ok)
        });
        self
    }

    pub fn exit_code(&self) -> u8 {
        match self.status.unwrap_or(Status::Ok) {
            Status::Ok => 0,
            Status::Warn => EXIT_WARNINGS,
            Status::Fail => EXIT_FAILED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_check_decides_and_an_unreachable_node_fails() {
        let mut report = Report::default();
        report
            .checks
            .push(Check::new("a", CLUSTER, Status::Ok, "fine"));
        assert_eq!(report.clone().finish().exit_code(), 0);
        report
            .checks
            .push(Check::new("b", "n1", Status::Warn, "hm").fix("do x"));
        report.add_row("n1", None, Some("agent".into()));
        assert_eq!(report.nodes[0].problems, ["b"]);
        assert_eq!(report.nodes[0].status, "warn");
        assert_eq!(report.clone().finish().exit_code(), EXIT_WARNINGS);
        report.nodes[0].error = Some("ssh: no route".into());
        assert_eq!(report.clone().finish().exit_code(), EXIT_FAILED);
        assert_eq!(
            Check::new("c", CLUSTER, Status::Ok, "")
                .fix("never shown")
                .fix,
            None
        );
    }
}
