//! `consul-double`: serves a model cluster on loopback until killed (for the demo and benchmarks).
//!
//! `consul-double [--listen 127.0.0.1:0] [--cluster fixture|fixture-unbootstrapped|fixture-degraded|recorded-1.10.12|generated:SERVERS,CLIENTS,FAILED]
//!  [--consul-version 1.9.3|1.10.12|1.19.1|1.21.4] [--leader-address IP] [--data-dir DIR]
//!  [--gossip-key KEY] [--unbootstrapped]` prints the URL it listens on, one line, then serves.
//! `--consul-version` is what every agent of the cluster runs (default 1.9.3; Carbonio's build
//! of it: `build=1.21.4:`). `--gossip-key` is the key every member's keyring holds
//! (`/v1/operator/keyring`; the one service-discover setup put in main.json). `--unbootstrapped` clears the ACL state (as before `consul acl bootstrap`).
//! `--leader-address` moves the leader node to IP (to make this host the leader); `--data-dir`
//! is where it reads the ACL bootstrap reset file.
//!
//! `--mesh-roots DIR` (or `--mesh-root NAME=ROOT` for each node) serves the cluster as the
//! simulated Mesh instead (`consul_double::Mesh`): one agent per node, node NAME's root
//! `DIR/NAME` (or ROOT), each agent started by the systemctl stand-in
//! once service-discover's stand-in has set its node up (the first server bootstraps alone:
//! `bootstrap_expect` 1). It prints `control URL`, then `NAME URL` for every node, one a line.

use std::io::Write;

use consul_double::{Cluster, Double, Version};

fn cluster_from(spec: &str) -> Result<Cluster, String> {
    match spec {
        "fixture" => return Ok(Cluster::fixture()),
        "fixture-unbootstrapped" => return Ok(Cluster::fixture_unbootstrapped()),
        "fixture-degraded" => return Ok(Cluster::fixture_degraded()),
        "recorded-1.10.12" => return Ok(Cluster::recorded_1_10_12()),
        _ => {}
    }
    let counts = spec
        .strip_prefix("generated:")
        .ok_or_else(|| format!("unknown cluster '{spec}'"))?;
    let numbers: Vec<usize> = counts
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{spec}: {e}"))?;
    match numbers.as_slice() {
        [servers, clients, failed] if failed <= clients => {
            Ok(Cluster::generated(*servers, *clients, *failed))
        }
        _ => Err(format!(
            "{spec}: expected generated:SERVERS,CLIENTS,FAILED with FAILED <= CLIENTS"
        )),
    }
}

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut cluster = "fixture".to_owned();
    let mut leader_address = None;
    let mut data_dir = None;
    let mut gossip_key = None;
    let mut unbootstrapped = false;
    let mut version = None;
    let mut mesh_roots = None;
    let mut mesh_root = std::collections::BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--unbootstrapped" {
            unbootstrapped = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value,
            ("--cluster", Some(value)) => cluster = value,
            ("--leader-address", Some(value)) => leader_address = Some(value),
            ("--data-dir", Some(value)) => data_dir = Some(std::path::PathBuf::from(value)),
            ("--gossip-key", Some(value)) => gossip_key = Some(value),
            ("--mesh-roots", Some(value)) => mesh_roots = Some(std::path::PathBuf::from(value)),
            ("--mesh-root", Some(value)) => match value.split_once('=') {
                Some((name, dir)) => {
                    mesh_root.insert(name.to_owned(), std::path::PathBuf::from(dir));
                }
                None => {
                    eprintln!("consul-double: --mesh-root NAME=DIR, not {value}");
                    std::process::exit(2);
                }
            },
            ("--consul-version", Some(value)) => match Version::parse(&value) {
                Some(v) => version = Some(v),
                None => {
                    let known: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
                    eprintln!(
                        "consul-double: --consul-version {value}: the double is one of {}",
                        known.join(", ")
                    );
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: consul-double [--listen ADDR] [--cluster fixture|generated:S,C,F] [--consul-version V]"
                );
                std::process::exit(2);
            }
        }
    }
    if !listen.starts_with("127.")
        && !listen.starts_with("[::1]")
        && !listen.starts_with("localhost")
    {
        eprintln!("consul-double: listens on loopback only, not {listen}");
        std::process::exit(2);
    }
    let mut cluster = cluster_from(&cluster).unwrap_or_else(|e| {
        eprintln!("consul-double: {e}");
        std::process::exit(2);
    });
    if let Some(version) = version {
        cluster = cluster.with_version(version);
    }
    if let Some(address) = leader_address {
        let leader = cluster.leader.clone().unwrap_or_default();
        if let Some(node) = cluster.nodes.iter_mut().find(|n| n.name == leader) {
            node.address = address;
        }
    }
    if data_dir.is_some() {
        cluster.data_dir = data_dir;
    }
    if let Some(key) = gossip_key {
        cluster.keyring = vec![(key, Vec::new())];
    }
    if unbootstrapped {
        cluster.tokens.clear();
        cluster.bootstrap_index = 0;
        cluster.bootstraps = 0;
    }
    if mesh_roots.is_some() || !mesh_root.is_empty() {
        serve_mesh(cluster, mesh_roots.as_deref(), mesh_root);
    }
    let double = Double::start_on(&listen, cluster).unwrap_or_else(|e| {
        eprintln!("consul-double: cannot listen on {listen}: {e}");
        std::process::exit(1);
    });
    println!("{}", double.url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// `--mesh-roots`/`--mesh-root`: the simulated Mesh, each node under the root `--mesh-root`
/// names, else `dir/NAME`; never returns.
fn serve_mesh(
    mut cluster: Cluster,
    dir: Option<&std::path::Path>,
    named: std::collections::BTreeMap<String, std::path::PathBuf>,
) -> ! {
    cluster.bootstrap_expect = 1;
    let roots = cluster
        .nodes
        .iter()
        .filter_map(|n| {
            let root = named
                .get(&n.name)
                .cloned()
                .or_else(|| dir.map(|d| d.join(&n.name)));
            root.map(|r| (n.name.clone(), r))
        })
        .collect();
    let mesh = consul_double::Mesh::start(cluster, &roots).unwrap_or_else(|e| {
        eprintln!("consul-double: cannot start the simulated Mesh: {e}");
        std::process::exit(1);
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "control {}", mesh.control_url());
    for name in roots.keys() {
        let _ = writeln!(out, "{name} {}", mesh.url(name));
    }
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
