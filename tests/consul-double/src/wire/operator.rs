//! `/v1/operator/*`: the gossip keyring, the raft configuration and autopilot's health.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Cluster, Node, Role};

/// One pool of `GET /v1/operator/keyring` (`structs.KeyringResponse`: `Messages` and CE's
/// `Partition` are `omitempty`; `PrimaryKeys` since 1.8.4).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyringPool {
    #[serde(rename = "WAN")]
    pub wan: bool,
    pub datacenter: String,
    pub segment: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, String>,
    pub keys: BTreeMap<String, usize>,
    pub primary_keys: BTreeMap<String, usize>,
    pub num_nodes: usize,
}

/// The WAN pool (servers) then the LAN pool, as a server agent answers: each key with the
/// number of live members of the pool that hold it, `NumNodes` the live members; the first key
/// is the primary one, on every live member that holds it.
pub fn keyring(cluster: &Cluster) -> Vec<KeyringPool> {
    let default = [(crate::model::FIXTURE_GOSSIP_KEY.to_owned(), Vec::new())];
    let keys: &[(String, Vec<String>)] = if cluster.keyring.is_empty() {
        &default
    } else {
        &cluster.keyring
    };
    let pool = |wan: bool| {
        let live: Vec<&Node> = cluster
            .nodes
            .iter()
            .filter(|n| n.status == crate::model::Status::Alive)
            .filter(|n| !wan || n.role == Role::Server)
            .collect();
        let holding: BTreeMap<String, usize> = keys
            .iter()
            .map(|(key, lacking)| {
                let holders = live.iter().filter(|n| !lacking.contains(&n.name)).count();
                (key.clone(), holders)
            })
            .filter(|(_, holders)| *holders > 0)
            .collect();
        let primary = keys
            .first()
            .and_then(|(key, _)| holding.get_key_value(key))
            .map(|(k, n)| (k.clone(), *n))
            .into_iter()
            .collect();
        KeyringPool {
            wan,
            datacenter: cluster.datacenter.clone(),
            segment: String::new(),
            messages: BTreeMap::new(),
            keys: holding,
            primary_keys: primary,
            num_nodes: live.len(),
        }
    };
    vec![pool(true), pool(false)]
}

/// `GET /v1/operator/raft/configuration`: the raft servers in raft's order and the leader.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    pub index: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub leader: bool,
    pub protocol_version: &'static str,
    pub voter: bool,
    /// From autopilot's state (1.14.8, 1.15.4, 1.16.1): always there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_index: Option<u64>,
}

pub fn raft_configuration(cluster: &Cluster) -> RaftConfiguration {
    let last_index = cluster
        .local_version()
        .has_1_13_fields()
        .then_some(cluster.catalog_index);
    RaftConfiguration {
        servers: cluster
            .raft_peers()
            .iter()
            .map(|n| RaftServer {
                id: n.id.clone(),
                node: n.name.clone(),
                address: format!("{}:{}", n.address, n.ports.server),
                leader: cluster.leader.as_deref() == Some(n.name.as_str()),
                protocol_version: "3",
                voter: true,
                last_index,
            })
            .collect(),
        index: cluster.raft_index,
    }
}

/// `GET /v1/operator/autopilot/health` (`api.OperatorHealthReply`, the same shape from 1.9 to
/// 1.21: consul-versions.md §6): every raft server with its serf status and how far it is
/// behind the leader; `Healthy` when every server is, `FailureTolerance` the healthy voters
/// beyond a quorum (agent/consul/autopilot.go, raft-autopilot's defaults: last contact within
/// 200ms, at most 250 entries behind).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutopilotHealth {
    pub healthy: bool,
    pub failure_tolerance: usize,
    pub servers: Vec<AutopilotServer>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutopilotServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub serf_status: &'static str,
    pub version: &'static str,
    pub leader: bool,
    pub last_contact: String,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
    pub stable_since: &'static str,
}

/// Autopilot's thresholds (`last_contact_threshold`, `max_trailing_logs`).
const LAST_CONTACT_MS: u64 = 200;
const MAX_TRAILING_LOGS: u64 = 250;

/// A Go duration of `ms` or `s` (what the double's lags are written in), in milliseconds.
fn millis(duration: &str) -> u64 {
    if let Some(ms) = duration.strip_suffix("ms") {
        return ms.parse().unwrap_or(u64::MAX);
    }
    duration
        .strip_suffix('s')
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(u64::MAX, |s| (s * 1000.0) as u64)
}

pub fn autopilot_health(cluster: &Cluster) -> AutopilotHealth {
    let leader_index = cluster.raft_index;
    let servers: Vec<AutopilotServer> = cluster
        .raft_peers()
        .iter()
        .map(|n| {
            let leader = cluster.leader.as_deref() == Some(n.name.as_str());
            let (contact, behind) = match cluster.raft_lag.get(&n.name) {
                Some((contact, behind)) => (contact.clone(), *behind),
                None if leader => ("0s".to_owned(), 0),
                None => ("10ms".to_owned(), 0),
            };
            let alive = n.status == crate::model::Status::Alive;
            AutopilotServer {
                id: n.id.clone(),
                name: n.name.clone(),
                address: format!("{}:{}", n.address, n.ports.server),
                serf_status: match n.status {
                    crate::model::Status::Alive => "alive",
                    crate::model::Status::Leaving => "leaving",
                    crate::model::Status::Left => "left",
                    crate::model::Status::Failed => "failed",
                },
                version: n.version.as_str(),
                leader,
                healthy: alive
                    && millis(&contact) <= LAST_CONTACT_MS
                    && behind <= MAX_TRAILING_LOGS,
                last_contact: contact,
                last_term: 2,
                last_index: leader_index.saturating_sub(behind),
                voter: true,
                stable_since: "2026-12-01T10:00:00Z",
            }
        })
        .collect();
    let healthy_voters = servers.iter().filter(|s| s.voter && s.healthy).count();
    let quorum = servers.iter().filter(|s| s.voter).count() / 2 + 1;
    AutopilotHealth {
        healthy: servers.iter().all(|s| s.healthy),
        failure_tolerance: healthy_voters.saturating_sub(quorum),
        servers,
    }
}
