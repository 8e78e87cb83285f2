//! `health`: Consul's critical health checks (`/v1/health/state/critical`, node:read and
//! service:read), by node and service; a node or service in maintenance mode is a warning naming
//! it, not a failure. [`health_check`] is pure; [`gather`] asks.

use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{ErrorKind, Host};
use serde::Deserialize;

use crate::report::{cluster_check as check, node_label as label, Check, Status};

/// A `/v1/health/state/critical` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthCheck {
    #[serde(rename = "Node")]
    pub node: String,
    /// `_node_maintenance`, `_service_maintenance:ID` for maintenance mode (agent/agent.go).
    #[serde(rename = "CheckID", default)]
    pub check_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ServiceName", default)]
    pub service_name: String,
    #[serde(rename = "Output", default)]
    pub output: String,
    /// Maintenance mode's reason (`consul maint -reason`), its Output being empty.
    #[serde(rename = "Notes", default)]
    pub notes: String,
}

/// Consul's maintenance-mode checks: critical on purpose (`consul maint -enable`), not failures.
const NODE_MAINTENANCE: &str = "_node_maintenance";
const SERVICE_MAINTENANCE: &str = "_service_maintenance:";

/// `health`: every critical check, by node and service; a node or service in maintenance mode
/// is a warning naming it, not a failure.
pub fn health_check(critical: &[HealthCheck], directory: &NodeDirectory) -> Check {
    let (maintenance, critical): (Vec<&HealthCheck>, Vec<&HealthCheck>) =
        critical.iter().partition(|c| {
            c.check_id == NODE_MAINTENANCE || c.check_id.starts_with(SERVICE_MAINTENANCE)
        });
    if critical.is_empty() {
        return match maintenance_check(&maintenance, directory) {
            Some(check) => check,
            None => check("health", Status::Ok, "no critical health check"),
        };
    }
    let mut details = Vec::new();
    let mut fixes = Vec::new();
    for c in &critical {
        let output = c.output.lines().next().unwrap_or("").trim();
        let output: String = output.chars().take(120).collect();
        let what = if c.service_name.is_empty() {
            format!("{}: {}", label(directory, &c.node), c.name)
        } else {
            format!(
                "{} service {}: {}",
                label(directory, &c.node),
                c.service_name,
                c.name
            )
        };
        details.push(if output.is_empty() {
            what
        } else {
            format!("{what} ({output})")
        });
        let on = directory.host_of(&c.node).unwrap_or(&c.node);
        let unit = if c.service_name.is_empty() {
            "service-discover"
        } else {
            c.service_name.as_str()
        };
        let fix = format!("on {on}: systemctl status {unit}");
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    let mut detail = format!("{} critical: {}", critical.len(), details.join("; "));
    if let Some(maintenance) = maintenance_check(&maintenance, directory) {
        detail.push_str(&format!("; {}", maintenance.detail));
    }
    check("health", Status::Fail, detail).fix(fixes.join("; "))
}

/// The nodes and services in maintenance mode, a warning (none when there are none).
fn maintenance_check(maintenance: &[&HealthCheck], directory: &NodeDirectory) -> Option<Check> {
    if maintenance.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    let mut fixes = Vec::new();
    for c in maintenance {
        let on = directory.host_of(&c.node).unwrap_or(&c.node);
        // The reason is the check's Notes (recorded from Consul 1.10.12: Output is empty).
        let reason = [&c.notes, &c.output]
            .into_iter()
            .map(|text| text.lines().next().unwrap_or("").trim())
            .find(|text| !text.is_empty())
            .map(|text| format!(" ({text})"))
            .unwrap_or_default();
        if c.check_id == NODE_MAINTENANCE {
            what.push(format!("{}{reason}", label(directory, &c.node)));
            fixes.push(format!("on {on}: consul maint -disable"));
        } else {
            let id = c.check_id.trim_start_matches(SERVICE_MAINTENANCE);
            what.push(format!(
                "{} service {id}{reason}",
                label(directory, &c.node)
            ));
            fixes.push(format!("on {on}: consul maint -disable -service {id}"));
        }
    }
    Some(
        check(
            "health",
            Status::Warn,
            format!("in maintenance mode: {}", what.join("; ")),
        )
        .fix(format!(
            "when the maintenance is over: {}",
            fixes.join("; ")
        )),
    )
}

/// The `health` check from Consul's critical checks.
pub fn gather(host: &Host<'_>, directory: &NodeDirectory) -> Check {
    match host.consul_get_filtered::<Vec<HealthCheck>>(
        &ConsulRequest::get(&["v1", "health", "state", "critical"]),
        "the health checks",
        "node:read and service:read",
    ) {
        Ok(critical) => health_check(&critical, directory),
        Err(e) => check(
            "health",
            Status::Unknown,
            match e.kind {
                // Hidden from an anonymous request: what a node without a token cannot see.
                ErrorKind::Usage => format!("not checked here: {}", e.message),
                _ => format!("not checked: {}", e.message),
            },
        )
        .fix(e.hint.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::nodes;

    fn directory() -> NodeDirectory {
        NodeDirectory::build(
            &[nodes::Member {
                name: "agent-mail-example-com".into(),
                addr: "192.168.56.110".into(),
                status: 1,
            }],
            &["mail.example.com".into()],
        )
    }

    fn critical(node: &str, check_id: &str, service: &str, output: &str) -> HealthCheck {
        HealthCheck {
            node: node.into(),
            check_id: check_id.into(),
            name: check_id.into(),
            service_name: service.into(),
            output: output.into(),
            notes: String::new(),
        }
    }

    #[test]
    fn maintenance_mode_warns_and_a_critical_check_fails() {
        let directory = directory();
        let node = critical(
            "agent-mail-example-com",
            "_node_maintenance",
            "",
            "Upgrading",
        );
        let service = critical(
            "agent-mail-example-com",
            "_service_maintenance:carbonio-mailbox",
            "carbonio-mailbox",
            "Maintenance mode is enabled for this service",
        );
        let only = health_check(&[node.clone(), service.clone()], &directory);
        assert_eq!(only.status, Status::Warn);
        assert_eq!(
            only.detail,
            "in maintenance mode: agent-mail-example-com (mail.example.com) (Upgrading); agent-mail-example-com (mail.example.com) service carbonio-mailbox (Maintenance mode is enabled for this service)"
        );
        assert_eq!(
            only.fix.as_deref(),
            Some("when the maintenance is over: on mail.example.com: consul maint -disable; on mail.example.com: consul maint -disable -service carbonio-mailbox")
        );
        let down = critical(
            "agent-mail-example-com",
            "service:x",
            "carbonio-x",
            "refused",
        );
        let both = health_check(&[node, down], &directory);
        assert_eq!(both.status, Status::Fail);
        assert!(both.detail.starts_with("1 critical: "), "{}", both.detail);
        assert!(
            both.detail.contains("; in maintenance mode: "),
            "{}",
            both.detail
        );
    }
}
