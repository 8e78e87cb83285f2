//! rotate-gossip-key: the new archive's gossip key put into use on every alive member.
//!
//! Consul takes `encrypt` from main.json only when `data/serf/local.keyring` does not exist
//! (`agent/keyring.go` `setupBaseKeyrings`, the same in 1.9.3 and 1.21.4), so a node that keeps
//! its data directory keeps gossiping with the old key whatever setup writes. The rotation is
//! Consul's own, over gossip (it reaches every alive member, whatever its CA): install the new
//! key, use it, remove every other (`/v1/operator/keyring` POST, PUT, DELETE, `keyring:write`),
//! then every ring checked. A node that missed it (stopped) has its `data/serf` removed before
//! its setup.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::{ConsulRequest, OpenCredentials};
use carbonio_mesh_plugin_api::step::{StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::{Host, PluginError, SecretText, StepCall};
use serde::Deserialize;

use super::raft::archive_token;

/// One keyring (`GET /v1/operator/keyring`): LAN or WAN, each key with how many members hold it.
#[derive(Debug, Deserialize)]
struct Ring {
    #[serde(rename = "WAN", default)]
    wan: bool,
    #[serde(rename = "Keys", default)]
    keys: BTreeMap<String, u32>,
    #[serde(rename = "PrimaryKeys", default)]
    primary: BTreeMap<String, u32>,
    #[serde(rename = "NumNodes", default)]
    nodes: u32,
}

impl Ring {
    fn name(&self) -> &'static str {
        if self.wan {
            "WAN"
        } else {
            "LAN"
        }
    }

    /// Whether `key` is this ring's only key, primary on every member.
    fn only(&self, key: &str) -> bool {
        self.keys.len() == 1
            && self.keys.get(key) == Some(&self.nodes)
            && self.primary.get(key).is_none_or(|n| *n == self.nodes)
    }
}

fn rings(host: &Host<'_>, token: &SecretText) -> Result<Vec<Ring>, PluginError> {
    host.consul_get(&ConsulRequest::get(&["v1", "operator", "keyring"]).with_token(token.clone()))
}

/// The new archive's gossip key (a secret: never shown).
fn new_key(host: &Host<'_>, call: &StepCall) -> Result<SecretText, PluginError> {
    let credentials = host.call(&OpenCredentials {
        known_password: call.new_password.clone(),
        ..OpenCredentials::default()
    })?;
    let member = credentials
        .member(mesh::GOSSIP_KEY_MEMBER)
        .ok_or_else(|| PluginError::operation("the new archive has no gossip-key"))?;
    Ok(SecretText::new(member.content.expose().trim()))
}

fn key_request(
    method: fn(&[&str]) -> ConsulRequest,
    key: &str,
    token: &SecretText,
) -> ConsulRequest {
    let body = serde_json::json!({ "Key": key }).to_string();
    ConsulRequest {
        body: Some(body),
        ..method(&["v1", "operator", "keyring"]).with_token(token.clone())
    }
}

pub fn rotate_gossip_key(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    if call.dry_run {
        return Ok(Outcome::new(
            "would install the new archive's gossip key on every alive member, use it, and remove the old one",
        ));
    }
    let token = archive_token(host, call.new_password.as_ref())?;
    let key = new_key(host, call)?;
    let key = key.expose();
    let before = rings(host, &token)?;
    let old: Vec<String> = before
        .iter()
        .flat_map(|r| r.keys.keys())
        .filter(|k| k.as_str() != key)
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if old.is_empty() && before.iter().all(|r| r.only(key)) {
        return Ok(Outcome::new(
            "the new archive's gossip key is already the only one, on every alive member",
        ));
    }
    host.consul(&key_request(ConsulRequest::post, key, &token))?;
    host.consul(&key_request(ConsulRequest::put, key, &token))?;
    for other in &old {
        host.consul(&key_request(ConsulRequest::delete, other, &token))?;
    }
    let after = rings(host, &token)?;
    let wrong: Vec<String> = after
        .iter()
        .filter(|r| !r.only(key))
        .map(|r| {
            format!(
                "{} ring: {} key(s) on {} member(s)",
                r.name(),
                r.keys.len(),
                r.nodes
            )
        })
        .collect();
    if !wrong.is_empty() {
        return Err(PluginError::operation(format!(
            "the gossip key did not change everywhere: {}",
            wrong.join("; ")
        ))
        .hint("a member that did not answer keeps the old key: its setup removes data/serf; then --resume")
        .into());
    }
    let members: Vec<String> = after
        .iter()
        .map(|r| format!("{} member(s) ({})", r.nodes, r.name()))
        .collect();
    Ok(Outcome::new(format!(
        "the new archive's gossip key installed, used and the only one on {}; {} old key(s) removed",
        members.join(", "),
        old.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_done_when_the_new_key_is_its_only_key_on_every_member() {
        let ring = |keys: &[(&str, u32)], primary: &[(&str, u32)], nodes| Ring {
            wan: false,
            keys: keys.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            primary: primary.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            nodes,
        };
        assert!(ring(&[("new", 5)], &[("new", 5)], 5).only("new"));
        // 1.9.3 answers no PrimaryKeys for a client's view: the counts decide.
        assert!(ring(&[("new", 5)], &[], 5).only("new"));
        assert!(!ring(&[("new", 5), ("old", 5)], &[("new", 5)], 5).only("new"));
        assert!(
            !ring(&[("new", 4)], &[("new", 4)], 5).only("new"),
            "a member lacks it"
        );
        assert!(!ring(&[("old", 5)], &[("old", 5)], 5).only("new"));
    }
}
