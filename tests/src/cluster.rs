//! The setup most end-to-end tests share: a sandbox with some product plugins installed, against
//! a Consul double serving a cluster, and the commands that reach it.

use assert_cmd::Command;
use consul_double::{Cluster, Double, Status};

use crate::{run, Sandbox};

/// The recorded cluster's bootstrap token (`tests/fixtures/consul/README.md`), which the
/// double's fixture clusters accept with every right.
pub const TOKEN: &str = "260570b8-e9af-05cf-9513-c03866285b98";

/// A sandbox whose plugin directory holds `plugins`, and a Consul double serving `cluster`.
pub struct ClusterSandbox {
    pub sandbox: Sandbox,
    pub double: Double,
}

impl ClusterSandbox {
    pub fn new(cluster: Cluster, plugins: &[&str]) -> Self {
        let sandbox = Sandbox::new();
        for plugin in plugins {
            sandbox.install_product(plugin);
        }
        ClusterSandbox {
            sandbox,
            double: Double::start(cluster).expect("the Consul double starts"),
        }
    }

    /// `carbonio-mesh --http-addr URL` without a token (the sandbox holds no Mesh archive
    /// either): Consul's anonymous reads.
    pub fn anonymous_cmd(&self) -> Command {
        let mut cmd = self.sandbox.cmd();
        cmd.arg("--http-addr").arg(self.double.url());
        cmd
    }

    /// `carbonio-mesh --http-addr URL --token TOKEN`.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.anonymous_cmd();
        cmd.arg("--token").arg(TOKEN);
        cmd
    }

    /// (exit code, stdout, stderr) of `carbonio-mesh ARGS` with the token.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        run(self.cmd().args(args))
    }

    /// [`ClusterSandbox::run`] without a token.
    pub fn run_anonymous(&self, args: &[&str]) -> (i32, String, String) {
        run(self.anonymous_cmd().args(args))
    }

    /// [`ClusterSandbox::run`] with the agent and the token from the environment
    /// (`CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN`) instead of options.
    pub fn run_env(&self, args: &[&str]) -> (i32, String, String) {
        run(self
            .sandbox
            .cmd()
            .env("CONSUL_HTTP_ADDR", self.double.url())
            .env("CONSUL_HTTP_TOKEN", TOKEN)
            .args(args))
    }

    /// The changes sent to the double, in order (`PUT PATH`).
    pub fn puts(&self) -> Vec<String> {
        self.double
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PUT "))
            .collect()
    }

    /// How many members have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.double
            .cluster()
            .nodes
            .iter()
            .filter(|n| n.status == status)
            .count()
    }

    /// Member `node`'s status, if the double knows it.
    pub fn status(&self, node: &str) -> Option<Status> {
        self.double.cluster().node(node).map(|n| n.status)
    }
}
