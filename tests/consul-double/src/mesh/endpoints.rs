//! What one agent of the mesh answers: the endpoints whose answer depends on which agent is
//! asked (leader, raft, autopilot, keyring, snapshot, leave), then every other endpoint of the
//! single-agent double over that agent's view of the model.

use std::collections::BTreeMap;

use tiny_http::Method;

use crate::answer::{denial, denied, empty, error, hops, json, Answer, Caller};
use crate::model::{Role, Status};
use crate::routes::{bad_query, route, Call};
use crate::wire;

use super::files;
use super::state::MeshState;

/// What the listener does after answering.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// The agent left: its listener closes.
    Close,
}

pub fn answer(state: &mut MeshState, node: &str, call: &Call<'_>) -> (Answer, After) {
    state.view_from(node);
    if let Some(bad) = bad_query(&state.cluster, call.query) {
        return (bad, After::Nothing);
    }
    let who = Caller::of(&state.cluster, call.token);
    // A token is resolved by the servers: an agent that has not seen a leader since it started
    // has none cached (recorded on 1.10.12: members asked with the management token on a server
    // cut off by its CA, 403). What it forwards to a server fails first for want of a leader
    // (the raft configuration there: 500 No cluster leader).
    let unresolved = call.token.is_some_and(|t| !t.is_empty())
        && !state.agent(node).is_some_and(|a| a.saw_leader)
        && call.parts.get(1) == Some(&"agent");
    if matches!(who, Caller::Unknown) || unresolved {
        return (error(403, "ACL not found"), After::Nothing);
    }
    let answer = match call.parts.as_slice() {
        ["v1", "agent", "leave"] => {
            if let Some(wrong) = call.expect(Method::Put) {
                return (wrong, After::Nothing);
            }
            if !who.may_write(&state.cluster) {
                return (
                    denied(&state.cluster, &who, "operator:write", None),
                    After::Nothing,
                );
            }
            let answer = empty(&state.cluster);
            state.leave(node);
            return (answer, After::Close);
        }
        ["v1", "status", "leader"] => call
            .expect(Method::Get)
            .unwrap_or_else(|| status_leader(state, node, call.pretty())),
        ["v1", "status", "peers"] => call.expect(Method::Get).unwrap_or_else(|| {
            let peers: Vec<String> = state
                .configuration_seen_by(node)
                .iter()
                .map(|name| rpc_address(state, name))
                .collect();
            json(&peers, call.pretty())
        }),
        ["v1", "operator", "raft", "configuration"] => call
            .expect(Method::Get)
            .unwrap_or_else(|| raft_configuration(state, node, call, &who)),
        ["v1", "operator", "autopilot", "health"] => call
            .expect(Method::Get)
            .unwrap_or_else(|| autopilot_health(state, &who, call.pretty())),
        ["v1", "snapshot"] => call.expect(Method::Get).unwrap_or_else(|| {
            if !who.may_write(&state.cluster) {
                return denied(&state.cluster, &who, "operator:write", None);
            }
            snapshot(state)
        }),
        ["v1", "operator", "keyring"] => keyring(state, node, call, &who),
        ["v1", "acl", "policy"] | ["v1", "acl", "token"] | ["v1", "agent", "token", "default"]
            if *call.method == Method::Put =>
        {
            acl_write(state, call, &who)
        }
        _ => {
            let answer = route(&mut state.cluster, call);
            // A force-leave marks a failed member left for everyone.
            let left: Vec<String> = state
                .cluster
                .nodes
                .iter()
                .filter(|n| n.status == Status::Left)
                .map(|n| n.name.clone())
                .collect();
            for name in left {
                if let Some(agent) = state.agents.get_mut(&name) {
                    agent.left |= !agent.running;
                }
            }
            answer
        }
    };
    (answer, After::Nothing)
}

/// What service-discover's setup does with the bootstrap token: `consul acl policy create`,
/// `acl token create -policy-name`, `acl set-agent-token default` (SD `pkg/command/common.go`).
/// The first two are RPCs the leader serves (500 `No cluster leader` without one, as every
/// forwarded write); a policy name taken answers Consul's 500 (SD ignores it).
fn acl_write(state: &mut MeshState, call: &Call<'_>, who: &Caller) -> Answer {
    if !who.may_write(&state.cluster) {
        return denied(&state.cluster, who, "acl:write", None);
    }
    let body: serde_json::Value = serde_json::from_str(call.body).unwrap_or_default();
    if call.parts.as_slice() == ["v1", "agent", "token", "default"] {
        return empty(&state.cluster);
    }
    if state.cluster.leader.is_none() {
        let prefix = if state.cluster.local_is_server() {
            ""
        } else {
            "rpc error making call: "
        };
        return error(500, format!("{prefix}No cluster leader"));
    }
    state.cluster.catalog_index += 1;
    let index = state.cluster.catalog_index;
    if call.parts.as_slice() == ["v1", "acl", "policy"] {
        let name = body["Name"].as_str().unwrap_or_default().to_owned();
        if state.policies.contains(&name) {
            return error(
                500,
                format!("Invalid Policy: A Policy with Name {name:?} already exists"),
            );
        }
        state.policies.push(name.clone());
        let policy = serde_json::json!({"ID": policy_id(&name), "Name": name,
            "Description": body["Description"], "Rules": body["Rules"],
            "CreateIndex": index, "ModifyIndex": index});
        return json(&policy, call.pretty());
    }
    let policies = body["Policies"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|l| l["Name"].as_str())
                .map(|name| (policy_id(name), name.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let token = crate::model::Token {
        accessor: format!("{index:08x}-acce-4550-8000-{index:012x}"),
        secret: format!("{index:08x}-5ec2-4e7d-9000-{index:012x}"),
        description: body["Description"].as_str().unwrap_or_default().to_owned(),
        policies,
        create_time: "2026-12-07T00:00:00.000000000Z".into(),
        hash: "c2VydmljZS1kaXNjb3Zlcg==".into(),
        create_index: index,
    };
    state.cluster.tokens.push(token.clone());
    json(&wire::acl_token(&token), call.pretty())
}

fn policy_id(name: &str) -> String {
    let sum: u64 = name.bytes().map(u64::from).sum();
    format!("{sum:08x}-0000-4000-8000-{:012x}", name.len())
}

fn rpc_address(state: &MeshState, name: &str) -> String {
    state
        .cluster
        .node(name)
        .map(|n| format!("{}:{}", n.address, n.ports.server))
        .unwrap_or_default()
}

/// A server without a leader answers `""` (recorded from 1.10.12); a client forwards to a
/// server over TLS RPC, which a CA the servers do not trust breaks.
fn status_leader(state: &MeshState, node: &str, pretty: bool) -> Answer {
    if state.sees_leader(node) {
        let leader = state.leader.clone().unwrap_or_default();
        return json(&rpc_address(state, &leader), pretty);
    }
    let client = state.agent(node).is_some_and(|a| !a.server);
    let foreign_ca = state
        .leader
        .as_ref()
        .and_then(|l| state.agent(l))
        .is_some_and(|l| state.agent(node).is_some_and(|me| me.ca != l.ca));
    if client && foreign_ca {
        return error(
            500,
            "rpc error getting client: failed to get conn: x509: certificate signed by unknown authority",
        );
    }
    json(&"", pretty)
}

fn raft_configuration(state: &MeshState, node: &str, call: &Call<'_>, who: &Caller) -> Answer {
    if !who.may_write(&state.cluster) {
        let text = denial(&state.cluster, who, "operator:read", None);
        return error(403, format!("{}{text}", hops(&state.cluster)));
    }
    let stale = call.query.contains_key("stale");
    if !state.sees_leader(node) && !stale {
        return error(500, "No cluster leader");
    }
    let last_index = state
        .cluster
        .local_version()
        .has_1_13_fields()
        .then_some(state.cluster.raft_index);
    let servers = state
        .configuration_seen_by(node)
        .iter()
        .filter_map(|name| state.cluster.node(name))
        .map(|n| wire::RaftServer {
            id: n.id.clone(),
            node: n.name.clone(),
            address: format!("{}:{}", n.address, n.ports.server),
            leader: state.cluster.leader.as_deref() == Some(n.name.as_str()),
            protocol_version: "3",
            voter: true,
            last_index,
        })
        .collect();
    json(
        &wire::RaftConfiguration {
            servers,
            index: state.cluster.raft_index,
        },
        call.pretty(),
    )
}

/// Autopilot's view from the leader (agent/consul/operator_autopilot_endpoint.go
/// `ServerHealth`): each voter healthy when it runs, trusts the leader's CA and gossips with it;
/// `FailureTolerance` = healthy voters minus a quorum; 429 unless every server is healthy.
fn autopilot_health(state: &MeshState, who: &Caller, pretty: bool) -> Answer {
    if !who.may_write(&state.cluster) {
        let text = denial(&state.cluster, who, "operator:read", None);
        return error(403, format!("{}{text}", hops(&state.cluster)));
    }
    let Some(leader) = state.cluster.leader.clone() else {
        return error(500, "No cluster leader");
    };
    let voters = state.configuration_seen_by(&leader);
    let servers: Vec<wire::AutopilotServer> = voters
        .iter()
        .filter_map(|name| state.cluster.node(name))
        .map(|n| {
            let agent = &state.agents[&n.name];
            let serf = state.status_seen_by(&leader, &n.name);
            // A server cut off by its CA still shows healthy: autopilot keeps the last stats it
            // fetched (recorded on 1.10.12, 12 s after the restart).
            let healthy = agent.running && serf == Status::Alive;
            wire::AutopilotServer {
                id: n.id.clone(),
                name: n.name.clone(),
                address: format!("{}:{}", n.address, n.ports.server),
                serf_status: match serf {
                    Status::Alive => "alive",
                    Status::Leaving => "leaving",
                    Status::Left => "left",
                    Status::Failed => "failed",
                },
                version: n.version.as_str(),
                leader: n.name == leader,
                last_contact: if n.name == leader { "0s" } else { "10ms" }.to_owned(),
                last_term: 2,
                last_index: state.cluster.raft_index,
                healthy,
                voter: true,
                stable_since: "2026-12-07T00:00:00Z",
            }
        })
        .collect();
    let up = servers.iter().filter(|s| s.healthy).count();
    let health = wire::AutopilotHealth {
        healthy: servers.iter().all(|s| s.healthy),
        failure_tolerance: up.saturating_sub(voters.len() / 2 + 1),
        servers,
    };
    let mut answer = json(&health, pretty);
    if !health.healthy {
        answer.status = 429;
    }
    answer
}

/// `GET /v1/snapshot`: forwarded to the leader; the bytes stand in for raft's gzipped archive.
fn snapshot(state: &MeshState) -> Answer {
    if state.cluster.leader.is_none() {
        return error(500, "No cluster leader");
    }
    let voters = state.configuration_seen_by(&state.cluster.local_node);
    Answer {
        status: 200,
        body: format!(
            "consul-double snapshot\nindex {}\nvoters {}\n",
            state.cluster.raft_index,
            voters.join(",")
        )
        .into_bytes(),
        json: false,
        blocking: true,
        allow: None,
    }
}

/// `/v1/operator/keyring`: a serf query over `node`'s gossip pool (every member alive in its
/// view), answered per member (agent/keyring.go, memberlist keyring.go).
fn keyring(state: &mut MeshState, node: &str, call: &Call<'_>, who: &Caller) -> Answer {
    let version = state.cluster.local_version();
    if !version.has_long_denials() && !state.cluster.local_is_server() {
        return error(500, "keyring operations must run against a server node");
    }
    if *call.method == Method::Get {
        if !who.may_write(&state.cluster) {
            if !version.has_long_denials() {
                return error(500, "Reading keyring denied by ACLs");
            }
            return denied(&state.cluster, who, "keyring:read", None);
        }
        return json(&keyring_pools(state, node), call.pretty());
    }
    if !who.may_write(&state.cluster) {
        return denied(&state.cluster, who, "keyring:write", None);
    }
    let Some(key) = serde_json::from_str::<serde_json::Value>(call.body)
        .ok()
        .and_then(|v| v["Key"].as_str().map(str::to_owned))
    else {
        return error(400, "Request decoding failed: missing Key");
    };
    // Each member's refusal, by name (the WAN pool's servers answer as NAME.DC too).
    let mut refused: Vec<(String, &str)> = Vec::new();
    let members = state.alive_seen_by(node);
    for member in &members {
        let agent = state
            .agents
            .get_mut(member)
            .expect("alive members have agents");
        let at = agent.ring.iter().position(|k| *k == key);
        let refusal = match (call.method, at) {
            (Method::Post, None) => {
                agent.ring.push(key.clone());
                None
            }
            (Method::Put, Some(at)) => {
                let key = agent.ring.remove(at);
                agent.ring.insert(0, key);
                None
            }
            (Method::Put, None) => Some("Requested key is not in the keyring"),
            (Method::Delete, Some(0)) => Some("Removing the primary key is not allowed"),
            (Method::Delete, Some(at)) => {
                agent.ring.remove(at);
                None
            }
            (Method::Post, Some(_)) | (Method::Delete, None) => None,
            (method, _) => return error(405, format!("method {method} not allowed")),
        };
        let _ = files::write_keyring(&agent.root, agent.server, &agent.ring);
        if let Some(why) = refusal {
            refused.push((member.clone(), why));
        }
    }
    state.settle();
    if refused.is_empty() {
        return Answer {
            json: false,
            ..empty(&state.cluster)
        };
    }
    error(500, keyring_errors(state, &members, &refused))
}

/// go-multierror's text of `keyringErrorsOrNil` (agent/keyring.go): per pool with a failure,
/// `WAN error: N/M nodes reported failure` (`DC (LAN) error: ...`), then each member's error
/// (recorded on 1.10.12; the members in the order their answers came).
fn keyring_errors(state: &MeshState, members: &[String], refused: &[(String, &str)]) -> String {
    let dc = &state.cluster.datacenter;
    let is_server = |name: &str| state.agent(name).is_some_and(|a| a.server);
    let mut lines = Vec::new();
    for wan in [true, false] {
        let pool: Vec<&String> = members.iter().filter(|m| !wan || is_server(m)).collect();
        let failed: Vec<&(String, &str)> = refused
            .iter()
            .filter(|(m, _)| !wan || is_server(m))
            .collect();
        if failed.is_empty() {
            continue;
        }
        let name = if wan {
            "WAN".to_owned()
        } else {
            format!("{dc} (LAN)")
        };
        lines.push(format!(
            "{name} error: {}/{} nodes reported failure",
            failed.len(),
            pool.len()
        ));
        for (member, why) in failed {
            let shown = if wan {
                format!("{member}.{dc}")
            } else {
                member.clone()
            };
            lines.push(format!("{shown}: {why}"));
        }
    }
    let count = if lines.len() == 1 {
        "1 error occurred".to_owned()
    } else {
        format!("{} errors occurred", lines.len())
    };
    let listed: Vec<String> = lines.iter().map(|l| format!("\t* {l}")).collect();
    format!("{count}:\n{}\n\n", listed.join("\n"))
}

/// The WAN pool (servers) then the LAN pool of `node`'s view: each key with how many alive
/// members hold it, each primary key with how many use it.
fn keyring_pools(state: &MeshState, node: &str) -> Vec<wire::KeyringPool> {
    let alive = state.alive_seen_by(node);
    let pool = |wan: bool| {
        let members: Vec<&String> = alive
            .iter()
            .filter(|n| {
                !wan || state
                    .cluster
                    .node(n)
                    .is_some_and(|n| n.role == Role::Server)
            })
            .collect();
        let mut keys = BTreeMap::new();
        let mut primary = BTreeMap::new();
        for member in &members {
            let ring = &state.agents[*member].ring;
            for key in ring {
                *keys.entry(key.clone()).or_insert(0) += 1;
            }
            if let Some(first) = ring.first() {
                *primary.entry(first.clone()).or_insert(0) += 1;
            }
        }
        wire::KeyringPool {
            wan,
            datacenter: state.cluster.datacenter.clone(),
            segment: String::new(),
            messages: BTreeMap::new(),
            keys,
            primary_keys: primary,
            num_nodes: members.len(),
        }
    };
    vec![pool(true), pool(false)]
}
