//! A simulated Mesh reached over real ssh: the leader (this host, in a sandbox) and every other
//! member of the recorded cluster as a node under its own root, set up by the service-discover
//! stand-in, reachable through one real sshd at 127.0.0.2, 127.0.0.3, ... (`crate::sshd`). The
//! `--nodes` tests of `secret` and `doctor` build their cluster with it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use consul_double::{Cluster, Double};

use crate::sshd::{SshNode, Sshd};
use crate::{local_ip, service_discover_setup, Sandbox, StandInBin, STAND_IN_ENV};

/// sshd's `PATH` for a session as root (OpenSSH's default, Debian's build).
pub const SSHD_ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";

/// The command step `step` as the plugin declaring it ships it (`plugins list --format json`
/// shows each plugin's steps), with `-F CONFIG` after `ssh`, as a config.d fragment: all a site
/// changes to reach its nodes.
pub fn built_in_step_with(sandbox: &Sandbox, step: &str, ssh_config: &Path) -> String {
    let list: serde_json::Value = serde_json::from_str(&crate::stdout_of(
        sandbox.cmd().args(["--format", "json", "plugins", "list"]),
    ))
    .unwrap();
    let command = list
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|plugin| plugin["steps"].as_array().cloned().unwrap_or_default())
        .find(|s| s["name"] == step)
        .map(|s| s["command"].clone())
        .unwrap_or_else(|| panic!("no plugin declares the command step {step}"));
    let words: Vec<String> = serde_json::from_value(command["argv"].clone()).unwrap();
    assert!(
        words[0] == "ssh" && words.iter().any(|w| w == "root@{host}"),
        "the built-in {step} changed: {words:?}"
    );
    let mut exec = vec![
        "ssh".to_owned(),
        "-F".to_owned(),
        ssh_config.display().to_string(),
    ];
    exec.extend(words[1..].iter().cloned());
    let stdin = if command["password_stdin"] == true {
        "password_stdin = true\n"
    } else {
        ""
    };
    format!("[steps.{step}]\nexec = {exec:?}\n{stdin}")
}

pub struct SshMesh {
    pub sandbox: Sandbox,
    pub double: Double,
    pub bin: StandInBin,
    pub sshd: Sshd,
    /// The other members' node names, in sshd's order.
    pub nodes: Vec<String>,
    pub roots: BTreeMap<String, PathBuf>,
}

impl SshMesh {
    /// The leader with the product plugins `plugins` installed, set up with `password`; every
    /// other node set up as a client with the leader's archive. `node_env` changes what each
    /// node's carbonio-mesh gets (by its index among the nodes).
    pub fn new(
        plugins: &[&str],
        password: &str,
        node_env: impl Fn(usize, SshNode) -> SshNode,
    ) -> SshMesh {
        Self::of(
            Cluster::fixture_unbootstrapped(),
            plugins,
            password,
            node_env,
        )
    }

    /// [`SshMesh::new`] with one Mesh server: the leader and the recorded agents (what `secret
    /// regenerate` on one server drives).
    pub fn one_server(
        plugins: &[&str],
        password: &str,
        node_env: impl Fn(usize, SshNode) -> SshNode,
    ) -> SshMesh {
        Self::of(
            crate::one_mesh_server(Cluster::fixture_unbootstrapped()),
            plugins,
            password,
            node_env,
        )
    }

    fn of(
        mut cluster: Cluster,
        plugins: &[&str],
        password: &str,
        node_env: impl Fn(usize, SshNode) -> SshNode,
    ) -> SshMesh {
        let sandbox = Sandbox::new();
        for plugin in plugins {
            sandbox.install_product(plugin);
        }
        let leader = cluster.leader.clone().unwrap();
        cluster.data_dir = Some(sandbox.path("/var/lib/service-discover/data"));
        let mut nodes = Vec::new();
        for node in cluster.nodes.iter_mut() {
            if node.name == leader {
                node.address = local_ip();
            } else {
                // The gossip address is what the transport reaches without LDAP: sshd's.
                node.address = format!("127.0.0.{}", nodes.len() + 2);
                nodes.push(node.name.clone());
            }
        }
        let double = Double::start(cluster).unwrap();
        let bin = StandInBin::new(&["service-discover", "systemctl", "consul", "journalctl"]);
        let setup = |root: &Path, ip: &str, first: bool| {
            service_discover_setup(
                &bin.path().join("service-discover"),
                root,
                &double.url(),
                ip,
                password,
                first,
            );
            // Consul runs as service-discover on a real node; this machine has no such user.
            let config = root.join("etc/carbonio-mesh/config.d");
            fs::create_dir_all(&config).unwrap();
            fs::write(
                config.join("10-test.toml"),
                "[mesh]\nservice_user = \"nobody\"\n",
            )
            .unwrap();
        };
        setup(&sandbox.root(), "192.0.2.2", true);
        let leader_archive = fs::read(sandbox.path(ARCHIVE)).unwrap();
        let base = sandbox.root().parent().unwrap().join("nodes");
        let mut roots = BTreeMap::new();
        let mut served = Vec::new();
        for name in &nodes {
            let root = base.join(name).join("root");
            let etc = root.join("etc/zextras/service-discover");
            fs::create_dir_all(&etc).unwrap();
            fs::write(etc.join("cluster-credentials.tar.gpg"), &leader_archive).unwrap();
            setup(&root, &local_ip(), false);
            let node = SshNode::new(name, &root, &sandbox.plugin_dir())
                .env("PATH", format!("{}:{SSHD_ROOT_PATH}", bin.path().display()))
                .env("CARBONIO_MESH_CHILD_ENV", STAND_IN_ENV)
                .env("SERVICE_DISCOVER_STANDIN_ROOT", root.display().to_string())
                .env("CONSUL_HTTP_ADDR", double.url());
            served.push(node_env(served.len(), node));
            roots.insert(name.clone(), root);
        }
        let sshd = Sshd::start(served);
        for (i, name) in nodes.iter().enumerate() {
            assert_eq!(sshd.address(name).to_string(), format!("127.0.0.{}", i + 2));
        }
        SshMesh {
            sandbox,
            double,
            bin,
            sshd,
            nodes,
            roots,
        }
    }

    /// Writes a configuration file into the leader's /etc/carbonio-mesh/config.d.
    pub fn config(&self, name: &str, text: &str) {
        let dir = self.sandbox.make_dir("/etc/carbonio-mesh/config.d");
        fs::write(dir.join(name), text).unwrap();
    }

    /// The leader's carbonio-mesh with the stand-ins and the double.
    pub fn leader_cmd(&self) -> std::process::Command {
        let mut cmd = self.sandbox.process();
        cmd.env("PATH", self.bin.search_path())
            .env("SERVICE_DISCOVER_STANDIN_ROOT", self.sandbox.root())
            .env("CONSUL_HTTP_ADDR", self.double.url());
        cmd
    }
}
