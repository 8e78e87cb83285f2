//! `secret recover-quorum`: the recovery of a lost raft quorum (docs/secret-regeneration.md,
//! "The procedure the Mesh needs"), an explicit command the admin runs on the one server to keep, never a step
//! a regeneration takes on its own. Consul reads `data/raft/peers.json` once at start, when
//! `peers.info` is there, as a JSON array of `{id, address, non_voter}` (hashicorp/raft
//! `ReadConfigJSON`; Consul `agent/consul/server.go` `setupRaft`), replaces the raft
//! configuration with it and deletes the file: this server then leads alone, and a
//! regeneration sets the other servers up again from empty raft data.

use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::consul::ALIVE;
use carbonio_mesh_plugin_api::fanout::is_this_host;
use carbonio_mesh_plugin_api::nodes::{NodeDirectory, NodeRole};
use carbonio_mesh_plugin_api::services::{ConsulRequest, LocalAddresses};
use carbonio_mesh_plugin_api::step::{facts, FactKey, StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::{Host, PluginError, StepCall};
use serde_json::{json, Value};

use super::leader::data_dir;
use super::node::root_and_service;
use super::service::systemctl;
use crate::paths::{CONFIG_JSON, MAIN_JSON, SERVICE};

/// The raft directory peers.json goes into.
pub const RAFT_DIR: FactKey<String> = FactKey::new("raft_dir");
/// This server's raft identity, as peers.json names it: `IP:PORT` and its `data/node-id`.
pub const RAFT_ADDRESS: FactKey<String> = FactKey::new("raft_address");
pub const NODE_ID: FactKey<String> = FactKey::new("node_id");

/// Consul's server RPC port when main.json sets none (`ports.server`).
const SERVER_PORT: u64 = 8300;
/// How long the server has to read peers.json and elect itself.
const LEADER_WAIT: Duration = Duration::from_secs(60);

fn fail(message: impl Into<String>) -> PluginError {
    PluginError::operation(message)
}

/// The one-voter configuration peers.json holds (a JSON array: an object is refused by raft).
pub fn peers_json(node_id: &str, address: &str) -> String {
    let peers = json!([{ "id": node_id, "address": address, "non_voter": false }]);
    format!("{peers:#}\n")
}

/// What the workflow's confirmation says it changes.
pub fn scope(_host: &Host<'_>, _call: &StepCall) -> String {
    "on this Mesh server only, which then leads alone: every other Mesh server must be stopped first (a regeneration sets them up again)".to_owned()
}

fn main_json(host: &Host<'_>) -> Result<Value, PluginError> {
    let text = host.read_file(MAIN_JSON).map_err(|e| {
        fail(format!("cannot read {MAIN_JSON}: {}", e.message))
            .hint("run it on a Mesh server that is set up (its raft data is what is kept)")
    })?;
    serde_json::from_str(&text).map_err(|e| fail(format!("{MAIN_JSON}: {e}")))
}

/// The local agent's leader (`None`: the agent does not answer, stopped).
fn local_leader(host: &Host<'_>) -> Option<String> {
    host.consul_get(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())
        .ok()
}

/// This server's raft address: the peer on one of this host's addresses when the agent names
/// its peers, else config.json's `bind_addr` with main.json's server port.
fn raft_address(host: &Host<'_>, main: &Value, peers: &[String]) -> Result<String, PluginError> {
    let local = host.call(&LocalAddresses {})?.addresses;
    let ip_of = |peer: &str| {
        peer.rsplit_once(':')
            .map(|(ip, _)| ip.trim_matches(['[', ']']).to_owned())
    };
    if let Some(peer) = peers
        .iter()
        .find(|p| ip_of(p).is_some_and(|ip| local.contains(&ip)))
    {
        return Ok(peer.clone());
    }
    let bind = host
        .read_file(CONFIG_JSON)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["bind_addr"].as_str().map(str::to_owned))
        .or_else(|| main["bind_addr"].as_str().map(str::to_owned))
        .filter(|ip| local.contains(ip))
        .ok_or_else(|| {
            fail(format!(
                "cannot tell this server's raft address: neither the agent's peers nor {CONFIG_JSON}'s bind_addr name an address of this host"
            ))
            .hint(format!("write this server's own address into {CONFIG_JSON} as {{\"bind_addr\": \"IP\"}}, then run it again"))
        })?;
    let port = main["ports"]["server"].as_u64().unwrap_or(SERVER_PORT);
    Ok(if bind.contains(':') {
        format!("[{bind}]:{port}")
    } else {
        format!("{bind}:{port}")
    })
}

/// Refuses while another Mesh server is alive: recovering here would leave two clusters (the
/// others may still hold a quorum of the old configuration: a server cut off by a new CA sees
/// no leader while the others have one). Says what it could check.
fn others_alive(host: &Host<'_>) -> Result<String, PluginError> {
    let directory = match NodeDirectory::load(host) {
        Ok(directory) => directory,
        Err(e) => {
            return Ok(format!(
                "the other servers could not be listed ({}): they must be stopped",
                e.message
            ))
        }
    };
    let local = host.call(&LocalAddresses {})?.addresses;
    let alive: Vec<String> = directory
        .nodes
        .iter()
        .filter(|n| n.role == Some(NodeRole::Server) && n.status == ALIVE)
        .filter(|n| !is_this_host(&directory, &local, n))
        .map(|n| format!("{} ({})", n.node, n.address))
        .collect();
    if alive.is_empty() {
        return Ok("no other Mesh server is alive".to_owned());
    }
    Err(fail(format!(
        "{} alive: the quorum may not be lost, only this server cut off from it; nothing was changed",
        alive.join(", ")
    ))
    .hint("ask `carbonio-mesh leader` on those servers: if one leads, regenerate there; else stop service-discover on each (systemctl stop service-discover), then run this again"))
}

/// Before anything changes: a set-up Mesh server whose agent sees no leader, its node-id and
/// raft address, and a raft directory Consul will read peers.json from.
pub fn quorum_preflight(host: &Host<'_>, _call: &StepCall) -> Result<Outcome, StepError> {
    root_and_service(host)?;
    let main = main_json(host)?;
    if main["server"].as_bool() != Some(true) {
        return Err(PluginError::usage(
            "this node is not a Mesh server (main.json: server is not true): the quorum is recovered on a server",
        )
        .into());
    }
    let leader = local_leader(host);
    if let Some(leader) = leader.as_deref().filter(|l| !l.is_empty()) {
        return Err(fail(format!(
            "the Mesh has a leader ({leader}): its quorum is not lost, nothing to recover"
        ))
        .hint("regenerate on the leader: carbonio-mesh secret regenerate --nodes all")
        .into());
    }
    let peers: Vec<String> = host
        .consul_get(&ConsulRequest::get(&["v1", "status", "peers"]).anonymous())
        .unwrap_or_default();
    let others = others_alive(host)?;
    let data = data_dir(host);
    let raft = format!("{}/raft", data.trim_end_matches('/'));
    // Without peers.info (a server that never started on this raft data) Consul deletes
    // peers.json unread (`setupRaft`).
    if !host
        .stat(&format!("{raft}/peers.info"))
        .is_ok_and(|s| s.exists)
    {
        return Err(fail(format!(
            "{raft}/peers.info is missing: Consul would delete peers.json without reading it (this server has no raft data of its own)"
        ))
        .hint("run it on the server whose raft data is to be kept (the one that led last)")
        .into());
    }
    let id_path = format!("{}/node-id", data.trim_end_matches('/'));
    let node_id = host
        .read_file(&id_path)
        .map_err(|e| fail(format!("cannot read {id_path}: {}", e.message)))?
        .trim()
        .to_owned();
    if node_id.len() != 36 || !node_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(fail(format!("{id_path} holds no node ID ('{node_id}')")).into());
    }
    let address = raft_address(host, &main, &peers)?;
    let ip = address
        .rsplit_once(':')
        .map(|(ip, _)| ip.trim_matches(['[', ']']).to_owned())
        .unwrap_or_default();
    let agent = match leader {
        Some(_) => format!("the agent sees no leader among {} peer(s)", peers.len()),
        None => "the agent does not answer (stopped)".to_owned(),
    };
    Ok(Outcome::new(format!(
        "{agent}; {others}; this server is {address}, node ID {node_id}"
    ))
    .fact(&RAFT_DIR, &raft)
    .fact(&RAFT_ADDRESS, &address)
    .fact(&NODE_ID, &node_id)
    .fact(&facts::SETUP_IP, &ip))
}

/// peers.json naming this server alone, the service user's file (Consul reads and deletes it);
/// one already there is backed up first (by fs.write-state).
pub fn write_peers_json(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let raft = call.facts.require(&RAFT_DIR)?;
    let content = peers_json(
        &call.facts.require(&NODE_ID)?,
        &call.facts.require(&RAFT_ADDRESS)?,
    );
    let path = format!("{raft}/peers.json");
    // fs.write-state backs up a file already there (and, in a dry run, records the write).
    let written = host.write_state_file(&path, &content, 0o600)?;
    if written.dry_run {
        return Ok(Outcome::new(format!(
            "would write {path} as {}: {}",
            call.service_user,
            content.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    Ok(Outcome::new(format!(
        "{path} names this server alone (owner {})",
        call.service_user
    )))
}

pub fn start_service(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    systemctl(host, "start")?;
    Ok(Outcome::new(if call.dry_run {
        format!("would start {SERVICE}")
    } else {
        format!("{SERVICE} started")
    }))
}

/// This server leads, alone in the raft configuration, and Consul consumed peers.json.
pub fn wait_leader(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let address = call.facts.require(&RAFT_ADDRESS)?;
    if call.dry_run {
        return Ok(Outcome::new(format!(
            "would wait until {address} leads alone"
        )));
    }
    let path = format!("{}/peers.json", call.facts.require(&RAFT_DIR)?);
    let deadline = Instant::now() + LEADER_WAIT;
    loop {
        let leader = local_leader(host).unwrap_or_default();
        let peers: Vec<String> = host
            .consul_get(&ConsulRequest::get(&["v1", "status", "peers"]).anonymous())
            .unwrap_or_default();
        let read = !host.stat(&path).is_ok_and(|s| s.exists);
        if leader == address && peers == [address.clone()] && read {
            return Ok(Outcome {
                report: "Next, on this server: carbonio-mesh secret regenerate --nodes all --include-failed (it sets the other Mesh servers up again, their raft data removed)\n".to_owned(),
                ..Outcome::new(format!(
                    "{address} leads alone; Consul read and deleted peers.json"
                ))
            });
        }
        if Instant::now() >= deadline {
            let found = if read {
                format!("the leader is '{leader}', the peers [{}]", peers.join(", "))
            } else {
                format!("{path} is still there: Consul did not read it")
            };
            return Err(fail(format!(
                "{address} does not lead alone within {} s: {found}",
                LEADER_WAIT.as_secs()
            ))
            .hint("look at service-discover's log (journalctl -u service-discover) for \"recovery\"; --resume waits again")
            .into());
        }
        host.progress(&format!("waiting: {address} to lead alone"));
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::peers_json;

    /// hashicorp/raft `ReadConfigJSON` decodes `[]configEntry`: an array, never an object.
    #[test]
    fn peers_json_is_the_array_raft_decodes() {
        let text = peers_json("6d1f8ad2-8a4b-4cf1-9b4e-3c2b1a0f9e77", "10.0.0.1:8300");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!([{
                "id": "6d1f8ad2-8a4b-4cf1-9b4e-3c2b1a0f9e77",
                "address": "10.0.0.1:8300",
                "non_voter": false
            }])
        );
    }
}
