//! What an agent of the mesh model reads and writes under its node's root, as Consul does under
//! service-discover: main.json (docs/carbonio-mesh.md, "The simulated Mesh": what an agent
//! starts from), the CA file it names, `data/serf/local.keyring` (and `remote.keyring` on a
//! server), `data/raft` and `data/node-id`.

use std::fs;
use std::path::{Path, PathBuf};

/// service-discover's configuration file and data directory on every node.
pub const MAIN_JSON: &str = "etc/zextras/service-discover/main.json";
pub const DATA_DIR: &str = "var/lib/service-discover/data";
/// The file the model keeps a server's raft configuration in (raft's own `raft.db` is a bolt
/// database the double does not imitate); `peers.info` is written beside it as Consul does.
pub const RAFT_FILE: &str = "raft/consul-double-configuration.json";

/// What an agent takes from main.json when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub server: bool,
    /// `encrypt`: the gossip key, used only when no keyring file exists.
    pub encrypt: Option<String>,
    /// The CA certificate `ca_file` names (top level, or `tls.defaults` since Consul 1.12):
    /// its text; two servers trust each other when they hold the same one.
    pub ca: String,
}

/// Why an agent did not start (the unit fails).
pub fn read_config(root: &Path) -> Result<AgentConfig, String> {
    let path = root.join(MAIN_JSON);
    let text =
        fs::read_to_string(&path).map_err(|e| format!("Error loading {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("Error parsing {}: {e}", path.display()))?;
    let ca_file = json["ca_file"]
        .as_str()
        .or_else(|| json["tls"]["defaults"]["ca_file"].as_str())
        .ok_or_else(|| {
            format!(
                "{}: no ca_file (TLS with verify_incoming needs one)",
                path.display()
            )
        })?;
    let ca_path = under(root, ca_file);
    let ca = fs::read_to_string(&ca_path)
        .map_err(|e| format!("Error loading CA file {}: {e}", ca_path.display()))?;
    Ok(AgentConfig {
        server: json["server"].as_bool().unwrap_or(false),
        encrypt: json["encrypt"].as_str().map(str::to_owned),
        ca,
    })
}

/// An absolute path of the node (as main.json names it) under its root.
pub fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

pub fn data_dir(root: &Path) -> PathBuf {
    root.join(DATA_DIR)
}

/// The keyring an agent gossips with, as `setupBaseKeyrings` (agent/keyring.go) decides it:
/// `data/serf/local.keyring` when it exists (then `encrypt` is ignored, with the WARN line
/// Consul logs when the key is not in it), else `[encrypt]`, written to the file (and to
/// `remote.keyring` on a server). Returns the ring (primary first) and the log lines.
pub fn load_keyring(
    root: &Path,
    config: &AgentConfig,
) -> Result<(Vec<String>, Vec<String>), String> {
    let serf = data_dir(root).join("serf");
    let local = serf.join("local.keyring");
    let mut log = Vec::new();
    if let Ok(text) = fs::read_to_string(&local) {
        let ring: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| format!("Error loading keyring {}: {e}", local.display()))?;
        if let Some(key) = &config.encrypt {
            if !ring.contains(key) {
                let pools: &[&str] = if config.server {
                    &["LAN", "WAN"]
                } else {
                    &["LAN"]
                };
                for pool in pools {
                    log.push(format!(
                        "[WARN]  agent:  keyring doesn't include key provided with -encrypt, using keyring: keyring={pool}"
                    ));
                }
            }
        }
        return Ok((ring, log));
    }
    let ring: Vec<String> = config.encrypt.iter().cloned().collect();
    if !ring.is_empty() {
        write_keyring(root, config.server, &ring)?;
    }
    Ok((ring, log))
}

/// Persists a ring as serf does after every keyring change (primary first, mode 0600).
pub fn write_keyring(root: &Path, server: bool, ring: &[String]) -> Result<(), String> {
    let serf = data_dir(root).join("serf");
    fs::create_dir_all(&serf).map_err(|e| format!("{}: {e}", serf.display()))?;
    let text = serde_json::to_string(ring).expect("strings encode");
    let names: &[&str] = if server {
        &["local.keyring", "remote.keyring"]
    } else {
        &["local.keyring"]
    };
    for name in names {
        write_private(&serf.join(name), &text)?;
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A server's raft configuration on disk: the voters' node names in raft's order; `None` when
/// `data/raft` holds none (a server that never joined, or whose raft data was removed).
pub fn read_raft(root: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(data_dir(root).join(RAFT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the configuration a server holds, and `peers.info` as Consul writes it beside its
/// raft data (agent/consul/server.go `setupRaft`).
pub fn write_raft(root: &Path, voters: &[String]) -> Result<(), String> {
    let raft = data_dir(root).join("raft");
    fs::create_dir_all(&raft).map_err(|e| format!("{}: {e}", raft.display()))?;
    write_private(
        &data_dir(root).join(RAFT_FILE),
        &serde_json::to_string(voters).expect("strings encode"),
    )?;
    let info = raft.join("peers.info");
    if !info.exists() {
        write_private(&info, PEERS_INFO)?;
    }
    Ok(())
}

/// What `peers.info` says (agent/consul/server.go `peersInfoContent`, in substance).
const PEERS_INFO: &str = "As of Consul 0.7.0, the peers.json file is only used for recovery
after an outage. The format of this file depends on what the server has
configured for its Raft protocol version.
";

/// `data/raft/peers.json` at start (hashicorp/raft `ReadConfigJSON`, read by
/// agent/consul/server.go `setupRaft` only when `peers.info` exists): a JSON array of
/// `{id, address, non_voter}` replaces the configuration and the file is deleted; anything else
/// stops the agent. `id` is matched with the nodes' IDs by the caller.
pub fn take_peers_json(root: &Path) -> Result<Option<Vec<PeerEntry>>, String> {
    let raft = data_dir(root).join("raft");
    let path = raft.join("peers.json");
    if !path.exists() || !raft.join("peers.info").exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries: Vec<PeerEntry> = serde_json::from_str(&text)
        .map_err(|e| format!("failed to start Raft: recovery failed to parse peers.json: {e}"))?;
    fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(entries))
}

/// One entry of peers.json (hashicorp/raft `configEntry`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PeerEntry {
    pub id: String,
    pub address: String,
    #[serde(default)]
    pub non_voter: bool,
}

/// `data/node-id`, written on first start as Consul does (agent/agent.go `setupNodeID`).
pub fn ensure_node_id(root: &Path, id: &str) -> Result<(), String> {
    let path = data_dir(root).join("node-id");
    if path.exists() {
        return Ok(());
    }
    fs::create_dir_all(data_dir(root)).map_err(|e| format!("{}: {e}", path.display()))?;
    write_private(&path, id)
}

/// Where a node's CA certificate is, as service-discover keeps it.
pub const CA_FILE: &str = "/var/lib/service-discover/consul-agent-ca.pem";

/// A node set up as far as its agent is concerned (for tests of the model that do not run
/// service-discover's stand-in): main.json with `server`, `encrypt` and the CA file under
/// `tls.defaults`, and the CA certificate `ca` (any text stands for one).
pub fn write_setup(root: &Path, server: bool, encrypt: &str, ca: &str) -> Result<(), String> {
    let etc = root.join("etc/zextras/service-discover");
    fs::create_dir_all(&etc).map_err(|e| format!("{}: {e}", etc.display()))?;
    fs::create_dir_all(data_dir(root)).map_err(|e| format!("{e}"))?;
    let main = serde_json::json!({
        "datacenter": "dc1",
        "data_dir": "/var/lib/service-discover/data",
        "server": server,
        "encrypt": encrypt,
        "tls": {"defaults": {"ca_file": CA_FILE, "verify_incoming": true, "verify_outgoing": true}},
    });
    write_private(&root.join(MAIN_JSON), &main.to_string())?;
    write_private(&under(root, CA_FILE), ca)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(encrypt: &str) -> (tempfile::TempDir, AgentConfig) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc/zextras/service-discover")).unwrap();
        fs::create_dir_all(root.join("var/lib/service-discover")).unwrap();
        fs::write(root.join("var/lib/service-discover/ca.pem"), "CA one").unwrap();
        let main = serde_json::json!({"server": true, "encrypt": encrypt,
            "tls": {"defaults": {"ca_file": "/var/lib/service-discover/ca.pem"}}});
        fs::write(root.join(MAIN_JSON), main.to_string()).unwrap();
        let config = read_config(root).unwrap();
        (dir, config)
    }

    #[test]
    fn encrypt_seeds_the_keyring_only_when_no_keyring_file_exists() {
        let (dir, config) = node("KEY1");
        assert_eq!(config.ca, "CA one");
        let (ring, log) = load_keyring(dir.path(), &config).unwrap();
        assert_eq!((ring, log.len()), (vec!["KEY1".to_owned()], 0));
        let second = AgentConfig {
            encrypt: Some("KEY2".into()),
            ..config
        };
        let (ring, log) = load_keyring(dir.path(), &second).unwrap();
        assert_eq!(ring, vec!["KEY1".to_owned()]);
        assert_eq!(log.len(), 2, "LAN and WAN on a server: {log:?}");
        assert!(log[0].ends_with("using keyring: keyring=LAN"));
    }

    #[test]
    fn peers_json_must_be_an_array() {
        let (dir, _) = node("KEY1");
        write_raft(dir.path(), &["a".to_owned()]).unwrap();
        let peers = data_dir(dir.path()).join("raft/peers.json");
        fs::write(&peers, r#"{"id": "x", "address": "1.2.3.4:8300"}"#).unwrap();
        assert!(take_peers_json(dir.path())
            .unwrap_err()
            .contains("peers.json"));
        fs::write(
            &peers,
            r#"[{"id": "x", "address": "1.2.3.4:8300", "non_voter": false}]"#,
        )
        .unwrap();
        assert_eq!(take_peers_json(dir.path()).unwrap().unwrap()[0].id, "x");
        assert!(!peers.exists(), "raft deletes peers.json once read");
    }
}
