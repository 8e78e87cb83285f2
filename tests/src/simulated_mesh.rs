//! A Mesh of three servers (or one) and two agents on the simulated Mesh (`consul_double::Mesh`: one
//! Consul agent per node that refuses what Consul refuses), each node under its own root, set up
//! by the service-discover stand-in in Carbonio's order (the first server, then the other
//! servers, then the agents), each agent started and stopped by the systemctl stand-in, every
//! node but this host's reachable through one real sshd at 127.0.0.2, 127.0.0.3, ...
//! (`crate::sshd`). The three-server regeneration is tested against it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use consul_double::{Cluster, Mesh, Role, Version};

use crate::ssh_mesh::{built_in_step_with, SSHD_ROOT_PATH};
use crate::sshd::{SshNode, Sshd};
use crate::{local_ip, Sandbox, StandInBin, STAND_IN_ENV};

pub const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";
/// What dpkg lists when service-discover's server package is installed: the stand-in then sets
/// up a Mesh server.
const SERVER_PACKAGE: &str = "var/lib/dpkg/info/service-discover-server.list";

pub struct SimulatedMesh {
    /// This host's root: the first Mesh server, where `secret regenerate` runs.
    pub sandbox: Sandbox,
    pub mesh: Mesh,
    pub bin: StandInBin,
    pub sshd: Sshd,
    /// This host's node name.
    pub leader: String,
    /// Every node's root, this host's too.
    pub roots: BTreeMap<String, PathBuf>,
}

impl SimulatedMesh {
    /// The fixture's three servers and two agents on Consul `version`, set up with `password`,
    /// the product plugins `plugins` installed on every node, the built-in transport reaching
    /// every node through the real sshd.
    pub fn new(version: Version, plugins: &[&str], password: &str) -> SimulatedMesh {
        Self::build(
            Cluster::fixture_unbootstrapped(),
            version,
            plugins,
            password,
        )
    }

    /// The fixture's first server alone (the other two never installed) and its two agents: a
    /// Carbonio without redundant Mesh servers.
    pub fn one_server(version: Version, plugins: &[&str], password: &str) -> SimulatedMesh {
        let mut cluster = Cluster::fixture_unbootstrapped();
        let leader = cluster.leader.clone().expect("the fixture has a leader");
        cluster
            .nodes
            .retain(|n| n.role != Role::Server || n.name == leader);
        let kept: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        cluster.services.retain(|s| kept.contains(&s.node));
        Self::build(cluster, version, plugins, password)
    }

    fn build(
        cluster: Cluster,
        version: Version,
        plugins: &[&str],
        password: &str,
    ) -> SimulatedMesh {
        let sandbox = Sandbox::new();
        for plugin in plugins {
            sandbox.install_product(plugin);
        }
        let mut cluster = cluster.with_version(version);
        // service-discoverd expects as many servers as LDAP lists with service-discover when
        // it starts: one, for the first instance.
        cluster.bootstrap_expect = 1;
        let leader = cluster.leader.clone().expect("the fixture has a leader");
        let base = sandbox.root().parent().unwrap().join("nodes");
        let mut roots = BTreeMap::new();
        let mut others = Vec::new();
        // Servers first (the first one this host), then the agents: Carbonio's setup order.
        cluster
            .nodes
            .sort_by_key(|n| (n.name != leader, n.role != Role::Server, n.name.clone()));
        for node in cluster.nodes.iter_mut() {
            let root = if node.name == leader {
                node.address = local_ip();
                sandbox.root()
            } else {
                // The gossip address is what the transport reaches without LDAP: sshd's.
                node.address = format!("127.0.0.{}", others.len() + 2);
                others.push(node.name.clone());
                base.join(&node.name).join("root")
            };
            fs::create_dir_all(&root).unwrap();
            if node.role == Role::Server {
                let package = root.join(SERVER_PACKAGE);
                fs::create_dir_all(package.parent().unwrap()).unwrap();
                fs::write(package, "/usr/bin/service-discover\n").unwrap();
            }
            // Consul runs as service-discover on a real node; this machine has no such user.
            let config = root.join("etc/carbonio-mesh/config.d");
            fs::create_dir_all(&config).unwrap();
            fs::write(
                config.join("10-test.toml"),
                "[mesh]\nservice_user = \"nobody\"\n",
            )
            .unwrap();
            roots.insert(node.name.clone(), root);
        }
        let order: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
        let mesh = Mesh::start(cluster, &roots).unwrap();
        let bin = StandInBin::new(&["service-discover", "systemctl", "consul"]);
        for name in &order {
            let first = *name == leader;
            if !first {
                let archive = fs::read(sandbox.path(ARCHIVE)).unwrap();
                let target = roots[name].join(ARCHIVE.trim_start_matches('/'));
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                fs::write(target, archive).unwrap();
            }
            setup(&bin, &mesh, &roots[name], name, password, first);
        }
        let served: Vec<SshNode> = others
            .iter()
            .map(|name| {
                let root = &roots[name];
                SshNode::new(name, root, &sandbox.plugin_dir())
                    .env("PATH", format!("{}:{SSHD_ROOT_PATH}", bin.path().display()))
                    .env("CARBONIO_MESH_CHILD_ENV", STAND_IN_ENV)
                    .env("SERVICE_DISCOVER_STANDIN_ROOT", root.display().to_string())
                    .env("CONSUL_HTTP_ADDR", mesh.url(name))
                    .env("CONSUL_DOUBLE_CONTROL", mesh.control_url())
            })
            .collect();
        let sshd = Sshd::start(served);
        for (i, name) in others.iter().enumerate() {
            assert_eq!(sshd.address(name).to_string(), format!("127.0.0.{}", i + 2));
        }
        let simulated = SimulatedMesh {
            sandbox,
            mesh,
            bin,
            sshd,
            leader,
            roots,
        };
        let transport = built_in_step_with(
            &simulated.sandbox,
            "transport",
            &simulated.sshd.client_config(),
        );
        simulated.config("50-transport.toml", &transport);
        simulated
    }

    fn stand_in_env(&self, cmd: &mut Command, name: &str) {
        stand_in_env(cmd, &self.bin, &self.mesh, &self.roots[name], name);
    }

    /// `service-discover setup` on node `name` (the stand-in, which starts its agent).
    pub fn setup(&self, name: &str, password: &str, first: bool) {
        setup(
            &self.bin,
            &self.mesh,
            &self.roots[name],
            name,
            password,
            first,
        );
    }

    /// Writes a configuration file into this host's /etc/carbonio-mesh/config.d.
    pub fn config(&self, name: &str, text: &str) {
        let dir = self.sandbox.make_dir("/etc/carbonio-mesh/config.d");
        fs::write(dir.join(name), text).unwrap();
    }

    /// This host's carbonio-mesh, with the stand-ins and its agent.
    pub fn leader_cmd(&self) -> Command {
        let mut cmd = self.sandbox.process();
        self.stand_in_env(&mut cmd, &self.leader);
        cmd
    }

    /// Node `name`'s root.
    pub fn root(&self, name: &str) -> &Path {
        &self.roots[name]
    }

    /// The keyring node `name`'s agent gossips with (its `local.keyring`).
    pub fn ring(&self, name: &str) -> Vec<String> {
        self.mesh.state().agent(name).unwrap().ring.clone()
    }
}

/// The environment the stand-ins need on node `name`: the stand-ins first on PATH, the node's
/// root, its agent, the simulated Mesh's control.
fn stand_in_env(cmd: &mut Command, bin: &StandInBin, mesh: &Mesh, root: &Path, name: &str) {
    cmd.env("PATH", bin.search_path())
        .env("SERVICE_DISCOVER_STANDIN_ROOT", root)
        .env("CONSUL_HTTP_ADDR", mesh.url(name))
        .env("CONSUL_DOUBLE_CONTROL", mesh.control_url());
}

/// `service-discover setup` on node `name` through the stand-in, which starts its agent.
fn setup(bin: &StandInBin, mesh: &Mesh, root: &Path, name: &str, password: &str, first: bool) {
    let mut cmd = Command::new(bin.path().join("service-discover"));
    stand_in_env(&mut cmd, bin, mesh, root, name);
    cmd.args(["setup", "192.0.2.2", &format!("--password={password}")]);
    if first {
        cmd.arg("--first-instance");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "service-discover setup on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
