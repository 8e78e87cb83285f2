//! `autopilot` and `raft-lag`: what only autopilot shows (`/v1/operator/autopilot/health`,
//! operator:read): a voter that is gossip-alive but cannot replicate, and a failure tolerance
//! below what the Mesh's size allows (0 is right for one server, 1 for three). Healthy per
//! autopilot means serf-alive, last contact within 200ms and at most 250 entries behind the
//! leader (docs/carbonio-mesh.md). [`autopilot_checks`] is pure; [`gather`] asks.

use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::Host;
use serde::Deserialize;

use crate::report::{node_label as label, Check, Status, CLUSTER};

/// `api.OperatorHealthReply`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub healthy: bool,
    pub failure_tolerance: usize,
    #[serde(default)]
    pub servers: Vec<ServerHealth>,
}

/// One server of autopilot's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerHealth {
    pub name: String,
    #[serde(default)]
    pub serf_status: String,
    #[serde(default)]
    pub leader: bool,
    /// A Go duration (`18.2ms`, `1.5s`, `1m0s`).
    #[serde(default)]
    pub last_contact: String,
    #[serde(default)]
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
}

/// Autopilot's defaults (`last_contact_threshold`, `max_trailing_logs`).
const LAST_CONTACT_MS: f64 = 200.0;
const MAX_TRAILING_LOGS: u64 = 250;

/// A Go duration in milliseconds (`1m2.5s`, `350ms`, `12µs`); none when it is not one.
pub fn go_millis(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest == "0" {
        return Some(0.0);
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let (scale, len) = [
            ("ns", 1e-6),
            ("us", 1e-3),
            ("µs", 1e-3),
            ("ms", 1.0),
            ("s", 1e3),
            ("m", 60e3),
            ("h", 3600e3),
        ]
        .iter()
        .find(|(unit, _)| rest.starts_with(unit))
        .map(|(unit, scale)| (*scale, unit.len()))?;
        total += number * scale;
        rest = &rest[len..];
    }
    Some(total)
}

/// `autopilot` (every server healthy, the failure tolerance the voters allow) and `raft-lag`
/// (each server's last contact and how far it trails the leader).
pub fn autopilot_checks(health: &Health, directory: &NodeDirectory) -> Vec<Check> {
    let voters = health.servers.iter().filter(|s| s.voter).count();
    let expected = voters.saturating_sub(1) / 2;
    let on = |name: &str| directory.host_of(name).unwrap_or(name).to_owned();
    let unhealthy: Vec<&ServerHealth> = health.servers.iter().filter(|s| !s.healthy).collect();
    let mut problems = Vec::new();
    for server in &unhealthy {
        problems.push(format!(
            "{} is not healthy (serf {})",
            label(directory, &server.name),
            server.serf_status
        ));
    }
    if health.failure_tolerance < expected {
        problems.push(format!(
            "failure tolerance {} where {voters} voters allow {expected}",
            health.failure_tolerance
        ));
    }
    let summary = format!(
        "{voters} voter(s), failure tolerance {}",
        health.failure_tolerance
    );
    let autopilot = if problems.is_empty() && health.healthy {
        Check::new(
            "autopilot",
            CLUSTER,
            Status::Ok,
            format!("{summary}: every server healthy"),
        )
    } else {
        // One more server lost and a Mesh of several servers has no leader.
        let status = if voters > 1 && health.failure_tolerance == 0 {
            Status::Fail
        } else {
            Status::Warn
        };
        let fixes: Vec<String> = unhealthy
            .iter()
            .map(|s| {
                format!(
                    "on {}: systemctl status service-discover; journalctl -u service-discover",
                    on(&s.name)
                )
            })
            .collect();
        let fix = if fixes.is_empty() {
            "consul operator autopilot get-config; every Mesh server must run and be a voter"
                .to_owned()
        } else {
            fixes.join("; ")
        };
        Check::new(
            "autopilot",
            CLUSTER,
            status,
            format!("{summary}: {}", problems.join("; ")),
        )
        .fix(fix)
    };
    let leader_index = health
        .servers
        .iter()
        .find(|s| s.leader)
        .map(|s| s.last_index);
    let mut behind = Vec::new();
    let mut fixes = Vec::new();
    for server in health.servers.iter().filter(|s| !s.leader) {
        let contact = go_millis(&server.last_contact);
        let trailing = leader_index.map(|i| i.saturating_sub(server.last_index));
        let late = contact.is_some_and(|ms| ms > LAST_CONTACT_MS);
        let trails = trailing.is_some_and(|n| n > MAX_TRAILING_LOGS);
        if late || trails {
            behind.push(format!(
                "{}: last contact {}, {} entries behind the leader",
                label(directory, &server.name),
                server.last_contact,
                trailing.map_or_else(|| "?".to_owned(), |n| n.to_string())
            ));
            fixes.push(format!(
                "on {}: journalctl -u service-discover (network, disk or CPU starved)",
                on(&server.name)
            ));
        }
    }
    let lag = if behind.is_empty() {
        Check::new(
            "raft-lag",
            CLUSTER,
            Status::Ok,
            "every server in contact with the leader within 200ms and at most 250 entries behind",
        )
    } else {
        Check::new("raft-lag", CLUSTER, Status::Warn, behind.join("; ")).fix(fixes.join("; "))
    };
    vec![autopilot, lag]
}

/// Asks the leader through the local agent. Not readable (no operator:read, no leader): both
/// checks are not made, with the reason.
pub fn gather(host: &Host<'_>, directory: &NodeDirectory) -> Vec<Check> {
    let answer = host.consul(
        &ConsulRequest::get(&["v1", "operator", "autopilot", "health"])
            .accept(429)
            .accept(403)
            .accept(500),
    );
    let why = match answer {
        Ok(answer) if answer.status == 200 || answer.status == 429 => {
            match answer.decode::<Health>() {
                Ok(health) => return autopilot_checks(&health, directory),
                Err(e) => format!("Consul's autopilot answer is not understood: {e}"),
            }
        }
        Ok(answer) => format!("Consul answered {} ({})", answer.status, answer.text.trim()),
        Err(e) => e.message,
    };
    let fix = "give a token with operator:read: --token-file FILE or CONSUL_HTTP_TOKEN_FILE (on a Mesh server, run as root to use the archive's)";
    ["autopilot", "raft-lag"]
        .into_iter()
        .map(|name| {
            Check::new(
                name,
                CLUSTER,
                Status::Unknown,
                format!("not checked: {why}"),
            )
            .fix(fix)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, leader: bool, contact: &str, index: u64, healthy: bool) -> ServerHealth {
        ServerHealth {
            name: name.into(),
            serf_status: if healthy { "alive" } else { "failed" }.into(),
            leader,
            last_contact: contact.into(),
            last_index: index,
            healthy,
            voter: true,
        }
    }

    #[test]
    fn a_tolerance_below_the_size_and_a_lagging_server_are_named() {
        let directory = NodeDirectory::default();
        let healthy = Health {
            healthy: true,
            failure_tolerance: 1,
            servers: vec![
                server("s1", true, "0s", 500, true),
                server("s2", false, "10ms", 500, true),
                server("s3", false, "12.5ms", 499, true),
            ],
        };
        let checks = autopilot_checks(&healthy, &directory);
        assert_eq!(
            (checks[0].status, checks[1].status),
            (Status::Ok, Status::Ok)
        );
        assert_eq!(
            checks[0].detail,
            "3 voter(s), failure tolerance 1: every server healthy"
        );
        let one = Health {
            healthy: true,
            failure_tolerance: 0,
            servers: vec![server("s1", true, "0s", 5, true)],
        };
        assert_eq!(
            autopilot_checks(&one, &directory)[0].status,
            Status::Ok,
            "0 is right for one server"
        );
        let lagging = Health {
            healthy: false,
            failure_tolerance: 0,
            servers: vec![
                server("s1", true, "0s", 1000, true),
                server("s2", false, "1.5s", 100, false),
                server("s3", false, "10ms", 1000, true),
            ],
        };
        let checks = autopilot_checks(&lagging, &directory);
        assert_eq!(checks[0].status, Status::Fail);
        assert_eq!(
            checks[0].detail,
            "3 voter(s), failure tolerance 0: s2 is not healthy (serf failed); failure tolerance 0 where 3 voters allow 1"
        );
        assert_eq!(checks[1].status, Status::Warn);
        assert_eq!(
            checks[1].detail,
            "s2: last contact 1.5s, 900 entries behind the leader"
        );
        assert_eq!(go_millis("1m2.5s"), Some(62_500.0));
        assert_eq!(go_millis("350ms"), Some(350.0));
        assert_eq!(go_millis("bogus"), None);
    }
}
