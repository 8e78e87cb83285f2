//! What `doctor` found, as data: every check with its status, detail and fix, the per-node
//! rows, and the numbers monitoring wants (certificate expiry, members by status). The same
//! shape is `--format json`'s, and what `--nodes` reads back from each node.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use serde::{Deserialize, Serialize};

/// Exit status when every check passed or warned and at least one warned (README, "Exit codes").
pub const EXIT_WARNINGS: u8 = 10;
/// Exit status when a check failed or a node could not be checked.
pub const EXIT_FAILED: u8 = 11;

pub use carbonio_mesh_plugin_api::CheckStatus as Status;

/// The value of `carbonio_mesh_check_status` and `carbonio_mesh_doctor_status`: 0 ok, 1 warn,
/// 2 fail, -1 not checked (so an alert on `== 2` or `>= 1` never fires for what was not checked).
pub fn metric(status: Status) -> i8 {
    match status {
        Status::Ok => 0,
        Status::Warn => 1,
        Status::Fail => 2,
        Status::Unknown => -1,
    }
}

/// The scope of checks made from the local agent about the whole cluster.
pub const CLUSTER: &str = "cluster";

/// One check, in plugin-api's one shape (`name`, `status`, `detail`, `fix`), and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `cluster`, or the Consul node name of the node it is about.
    pub scope: String,
    #[serde(flatten)]
    pub check: carbonio_mesh_plugin_api::Check,
}

impl std::ops::Deref for Check {
    type Target = carbonio_mesh_plugin_api::Check;

    fn deref(&self) -> &Self::Target {
        &self.check
    }
}

impl std::ops::DerefMut for Check {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.check
    }
}

impl Check {
    pub fn new(name: &str, scope: &str, status: Status, detail: impl Into<String>) -> Self {
        Check {
            scope: scope.to_owned(),
            check: carbonio_mesh_plugin_api::Check::new(name, status, detail),
        }
    }

    /// The fix, unless the check passed.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.check = self.check.fix(fix);
        self
    }
}

/// A check of the cluster scope.
pub fn cluster_check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check::new(name, CLUSTER, status, detail)
}

/// A node in a detail: `node (host)`, or the node name when its hostname is not known.
pub fn node_label(directory: &NodeDirectory, node: &str) -> String {
    match directory.host_of(node) {
        Some(host) => format!("{node} ({host})"),
        None => node.to_owned(),
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
    /// The certificate's subject: a Consul CA's names it with a random number
    /// (`CN=Consul Agent CA 4156...`), so two nodes hold the same CA when their subjects match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// One row of the per-node table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRow {
    pub node: String,
    pub host: Option<String>,
    /// `server`, `agent`, or none when the node name is not in Carbonio's form.
    pub role: Option<String>,
    /// `ok`, `warn`, `fail` (its worst check, what was not checked aside), `unreachable` (its
    /// checks could not be run) or `skipped`.
    pub status: String,
    /// The names of its checks that did not pass (unknown ones included).
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
    /// The worst status of `checks` whose scope is `scope` (what was not checked aside).
    pub fn status_of(&self, scope: &str) -> Status {
        Status::worst(
            self.checks
                .iter()
                .filter(|c| c.scope == scope)
                .map(|c| c.status),
        )
    }

    /// Adds the row of `node` from its checks.
    pub fn add_row(&mut self, node: &str, host: Option<String>, role: Option<String>) {
        let problems = self
            .checks
            .iter()
            .filter(|c| c.scope == node && !c.passed())
            .map(|c| c.name.clone())
            .collect();
        self.nodes.push(NodeRow {
            node: node.to_owned(),
            host,
            role,
            status: self.status_of(node).name().to_owned(),
            problems,
            error: None,
        });
    }

    /// Sets the overall status: the worst check (what was not checked aside), or `fail` when a
    /// node could not be checked.
    pub fn finish(mut self) -> Self {
        let unreachable = self.nodes.iter().any(|n| n.error.is_some());
        self.status = Some(if unreachable {
            Status::Fail
        } else {
            Status::worst(self.checks.iter().map(|c| c.status))
        });
        self
    }

    pub fn exit_code(&self) -> u8 {
        match self.status.unwrap_or(Status::Ok) {
            Status::Ok | Status::Unknown => 0,
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
