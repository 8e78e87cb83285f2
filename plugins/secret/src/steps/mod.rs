//! The steps this plugin provides, each declared once in [`builtins`] (what it does, where it
//! goes, what it needs and records) next to the function that carries it out. Each is safe to
//! repeat: it checks before it changes, and a resumed run may run it again after a crash in the
//! middle of it. Every step is given the same [`StepCall`] as a step of another plugin.
//!
//! [`StepCall`]: carbonio_mesh_plugin_api::StepCall

mod archive;
mod checks;
mod gossip;
mod leader;
mod node;
mod nodes;
mod quorum;
mod raft;
mod reach;
mod service;
mod topology;

pub use archive::archive_arg;
pub use checks::answer_check;
pub use leader::remove_reset_file;
pub use node::answer_leave;
pub use nodes::{decide, scope, NODES};
pub use quorum::scope as recover_scope;
pub use topology::{procedure_text, read as read_topology};

use carbonio_mesh_plugin_api::step::{facts, StepSpec};
use carbonio_mesh_plugin_api::workflow::{Builtin, StepFn};

pub use crate::workflows::{RECOVER, REGENERATE, REJOIN};

/// Every step of this plugin, in its workflows' order: adding a step is adding it here.
pub fn builtins() -> Vec<Builtin> {
    let mut all = before_stop();
    all.extend(from_stop());
    all
}

fn builtin(spec: StepSpec, run: StepFn) -> Builtin {
    Builtin { spec, run }
}

/// The checks and decisions, and (several servers) raft shrunk: until service-discover stops.
fn before_stop() -> Vec<Builtin> {
    let step = StepSpec::new;
    vec![
        builtin(
            step("preflight", "root, consul and service-discover present, Consul reachable, servers and agents counted")
                .in_workflow(REGENERATE)
                .provides(&facts::SERVERS)
                .provides(&facts::AGENTS)
                .provides(&facts::OLD_ACCESSOR),
            leader::preflight,
        ),
        builtin(
            step("find-leader", "the leader's address from /v1/status/leader")
                .in_workflow(REGENERATE)
                .provides(&facts::LEADER_IP),
            leader::find_leader,
        ),
        builtin(
            step("check-on-leader", "refuse unless this host is the leader")
                .in_workflow(REGENERATE)
                .needs_fact(&facts::LEADER_IP)
                .provides(&facts::SETUP_IP),
            leader::check_on_leader,
        ),
        builtin(
            step("node-preflight", "on a node: root, service-discover present, the new archive opens, this node's address")
                .in_workflow(REJOIN)
                .needs_password()
                .provides(&facts::SETUP_IP)
                .provides(&facts::ARCHIVE_FILE),
            node::node_preflight,
        ),
        builtin(
            step("quorum-preflight", "on the Mesh server to keep: root, set up as a server, its agent sees no leader and no other server is alive, its node ID and raft address, peers.info present (Consul reads peers.json only then)")
                .in_workflow(RECOVER)
                .provides(&quorum::RAFT_DIR)
                .provides(&quorum::RAFT_ADDRESS)
                .provides(&quorum::NODE_ID)
                .provides(&facts::SETUP_IP),
            quorum::quorum_preflight,
        ),
        builtin(
            step("check-setup", "service-discover setup's own checks, before anything stops: localconfig.xml's keys, a bind to the LDAP master, LDAP's copy of the archive, the hostname not on loopback, the setup address on a non-lo interface; with --nodes, on every node through the transport")
                .in_workflow(REGENERATE)
                .in_workflow(REJOIN)
                .needs_fact(&facts::SETUP_IP),
            checks::check_setup,
        ),
        builtin(
            step("save-snapshot", "several Mesh servers: a snapshot of the cluster state into the run's backup")
                .in_workflow(REGENERATE)
                .provides(&raft::SNAPSHOT)
                .changes_system(),
            raft::save_snapshot,
        ),
        builtin(
            // Its password: the servers open their own archive to leave; none is sent.
            step("shrink-raft", "several Mesh servers: each other server leaves raft gracefully and stops, one at a time, the configuration checked after each")
                .in_workflow(REGENERATE)
                .changes_system(),
            raft::shrink_raft,
        ),
        builtin(
            step("read-reset-index", "PUT /v1/acl/bootstrap and read the reset index")
                .in_workflow(REGENERATE)
                .provides(&facts::RESET_INDEX)
                .provides(&facts::INTERIM_ACCESSOR)
                .changes_system(),
            leader::read_reset_index,
        ),
        builtin(
            step("write-reset-file", "the reset index into Consul's data directory, as its user")
                .in_workflow(REGENERATE)
                .needs_fact(&facts::RESET_INDEX)
                .provides(&facts::RESET_FILE)
                .changes_system(),
            leader::write_reset_file,
        ),
    ]
}

/// From service-discover stopped to the end, and the transport.
fn from_stop() -> Vec<Builtin> {
    let step = StepSpec::new;
    vec![
        builtin(
            // Needs the address setup will use: on the leader, check-on-leader records it only
            // once it knows this host leads; nothing stops before that.
            step("stop-service", "systemctl stop service-discover")
                .in_workflow(REGENERATE)
                .in_workflow(REJOIN)
                .in_workflow(RECOVER)
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            service::stop_service,
        ),
        builtin(
            step("backup-and-remove", "back up and remove main.json, config.json and the certificates; back up the archive and the password file, left in place until setup replaces them")
                .in_workflow(REGENERATE)
                .in_workflow(REJOIN)
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            service::backup_and_remove,
        ),
        builtin(
            step("install-archive", "on a node: the leader's new archive in place (--archive FILE: read and checked again)")
                .in_workflow(REJOIN)
                .needs_password()
                .changes_system(),
            node::install_archive,
        ),
        builtin(
            // Consul takes the new bootstrap only with the reset file in place.
            step("run-setup", "service-discover setup IP --first-instance with the new password")
                .in_workflow(REGENERATE)
                .needs_password()
                .needs_fact(&facts::SETUP_IP)
                .needs_fact(&facts::RESET_FILE)
                .changes_system(),
            service::run_setup,
        ),
        builtin(
            step("node-setup", "on a node: service-discover setup IP with the new password")
                .in_workflow(REJOIN)
                .needs_password()
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            service::node_setup,
        ),
        builtin(
            step("verify", "the new archive opens and Consul accepts its token")
                .in_workflow(REGENERATE)
                .provides(&facts::NEW_ACCESSOR),
            leader::verify,
        ),
        builtin(
            step("node-verify", "on a node: the new archive opens and Consul accepts its token")
                .in_workflow(REJOIN)
                .needs_password(),
            node::node_verify,
        ),
        builtin(
            step("check-ldap-copy", "LDAP holds the new archive, as nodes download it there (skipped without localconfig.xml)")
                .in_workflow(REGENERATE),
            leader::check_ldap_copy,
        ),
        builtin(
            step("rotate-gossip-key", "the new archive's gossip key installed, used, and the only one on every alive member (Consul keeps data/serf/local.keyring over main.json's key)")
                .in_workflow(REGENERATE)
                .changes_system(),
            gossip::rotate_gossip_key,
        ),
        builtin(
            // The password goes to each node, with --nodes only: the engine asks for it then.
            step("rejoin-nodes", "set up the other nodes again through the transport (with --nodes)")
                .in_workflow(REGENERATE)
                .changes_system(),
            nodes::rejoin_nodes,
        ),
        builtin(
            step("revoke-old-token", "delete the previous bootstrap token (with --revoke-old-token)")
                .in_workflow(REGENERATE)
                .changes_system(),
            leader::revoke_old_token,
        ),
        builtin(
            step("write-peers-json", "data/raft/peers.json naming this server alone, a JSON array, as the service user (one already there backed up)")
                .in_workflow(RECOVER)
                .needs_fact(&quorum::RAFT_DIR)
                .needs_fact(&quorum::RAFT_ADDRESS)
                .needs_fact(&quorum::NODE_ID)
                .changes_system(),
            quorum::write_peers_json,
        ),
        builtin(
            step("start-service", "systemctl start service-discover: Consul reads peers.json and deletes it")
                .in_workflow(RECOVER)
                .changes_system(),
            quorum::start_service,
        ),
        builtin(
            step("wait-leader", "this server leads alone and peers.json was read")
                .in_workflow(RECOVER)
                .needs_fact(&quorum::RAFT_ADDRESS),
            quorum::wait_leader,
        ),
        builtin(
            step("transport", "how rejoin-nodes reaches a node: {host} is its Carbonio hostname (from LDAP), else its address; {node} its Consul node name; {address} its gossip address; the new password, then the new archive, on its standard input")
                .command(
                    [
                        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                        "ConnectTimeout=10", "root@{host}", "carbonio-mesh", "--yes", "secret",
                        "rejoin", "--input-stdin",
                    ],
                    true,
                ),
            nodes::not_a_workflow_step,
        ),
    ]
}
