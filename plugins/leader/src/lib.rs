//! Plugin `leader`: which Mesh server is the raft leader, and is it this host?
//!
//! Replaces `carbonio prov gas service-discover` plus `wget .../v1/status/leader` plus guessing:
//! the Mesh servers come from `carbonio prov gas service-discover` (run as zextras, the
//! documented way), or from LDAP directly (host service `carbonio.servers`) with a warning when
//! `carbonio` is missing or fails; the leader and raft peers from Consul (`/v1/status/leader`,
//! `/v1/status/peers`, no token needed); every server is named from the same node directory as
//! every other command (`nodes::NodeDirectory`: node name, hostname, address), and "this host"
//! means one of this host's interface addresses.
//!
//! Exit status: 0 this host is the leader; 6 another host is the leader; 5 no leader or Consul
//! unreachable; so `carbonio-mesh leader -q && ...` runs only on the leader, and prints nothing.

use carbonio_mesh_plugin_api::nodes::{self, Lookup, NodeDirectory};
use carbonio_mesh_plugin_api::services::{
    CarbonioServers, ConsulRequest, Exec, LocalAddresses, Resolve, ServerList, ServiceErrorKind,
};
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, Table,
};
use serde::Serialize;

/// Exit status when the command worked and another host is the leader.
pub const EXIT_NOT_LEADER: u8 = 6;

const DEFAULT_CARBONIO: &str = "/opt/zextras/bin/carbonio";
const DEFAULT_CARBONIO_USER: &str = "zextras";
/// The service LDAP lists on every Mesh server (`zimbraServiceEnabled`).
const MESH_SERVICE: &str = "service-discover";

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Server {
    /// The hostname, else the Consul node name, else "" (a raft peer no member answers to):
    /// the table's; JSON names `node` and `host` apart.
    #[serde(skip)]
    name: String,
    /// The Consul node name, when a member is this server.
    node: Option<String>,
    /// The Carbonio hostname, when known.
    host: Option<String>,
    addresses: Vec<String>,
    /// Among the Mesh servers `carbonio prov gas service-discover` (or LDAP) lists.
    listed: bool,
    raft_peer: bool,
    leader: bool,
}

/// The leader in JSON: its node name and hostname (null when unknown), its raft address (an
/// IP) and port apart.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct LeaderView {
    node: Option<String>,
    host: Option<String>,
    address: String,
    port: Option<u16>,
}

#[derive(Debug, Serialize)]
struct Report {
    /// `ip:port` of the leader's raft endpoint (the human output's; JSON has `leader`).
    #[serde(skip)]
    leader_address: String,
    /// The leader's hostname, else its node name; none when neither is known.
    #[serde(skip)]
    leader_name: Option<String>,
    leader: LeaderView,
    this_host_is_leader: bool,
    /// Where the list of Mesh servers came from: `carbonio` or `ldap` (none: neither answered).
    servers_from: Option<&'static str>,
    servers: Vec<Server>,
    warnings: Vec<String>,
}

/// The Mesh servers' FQDNs from `carbonio prov gas service-discover`, or why there are none.
fn carbonio_servers(host: &Host<'_>, request: &Request) -> Result<Vec<String>, String> {
    let command = request.value("carbonio").unwrap_or(DEFAULT_CARBONIO);
    let user = request
        .value("carbonio-user")
        .unwrap_or(DEFAULT_CARBONIO_USER);
    let exec = Exec::new([command, "prov", "gas", MESH_SERVICE])
        .user(user)
        .timeout_ms(60_000);
    let output = host.exec(&exec).map_err(|e| match e.kind {
        ServiceErrorKind::NotFound => format!(
            "cannot run `carbonio`: {} (is this a Carbonio node? --carbonio names the command)",
            e.message
        ),
        _ => format!("cannot run `carbonio`: {}", e.message),
    })?;
    if !output.success() {
        // The real `carbonio` says "Please run as zextras user" on standard output, its other
        // failures (`ERROR: ...`) on standard error (docs/carbonio-mesh.md, "Programs and users").
        let said = match output.stderr.trim() {
            "" => output.stdout.trim(),
            said => said,
        };
        let status = output
            .status
            .map_or_else(|| "by signal".to_owned(), |s| s.to_string());
        let fix = if said.starts_with("Please run as") {
            format!(" (it ran as {user}: --carbonio-user names the user it insists on)")
        } else {
            String::new()
        };
        return Err(format!(
            "`carbonio prov gas {MESH_SERVICE}` failed (exit {status}): {said}{fix}"
        ));
    }
    Ok(output
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The Mesh servers and where they came from: `carbonio`, else LDAP's server entries with
/// service-discover enabled (`ldap`: Carbonio's server list, read once for the directory too).
fn mesh_servers(
    host: &Host<'_>,
    request: &Request,
    ldap: &Result<ServerList, String>,
    warnings: &mut Vec<String>,
) -> (Vec<String>, Option<&'static str>) {
    let failed = match carbonio_servers(host, request) {
        Ok(names) => return (names, Some("carbonio")),
        Err(failed) => failed,
    };
    match ldap {
        Ok(list) => {
            warnings.push(format!(
                "{failed}; the Mesh servers were read from LDAP instead"
            ));
            let names = list
                .servers
                .iter()
                .filter(|s| s.services.iter().any(|service| service == MESH_SERVICE))
                .map(|s| s.hostname.clone())
                .collect();
            (names, Some("ldap"))
        }
        Err(ldap) => {
            warnings.push(format!(
                "{failed}; LDAP could not be read either ({ldap}): the Mesh servers are not known"
            ));
            (Vec::new(), None)
        }
    }
}

/// The node directory every command names nodes from: the members (with the token in use)
/// and Carbonio's server list; with an empty member list, why (an anonymous read under
/// default-deny, say, with its fix): the leader is still found, only names may be missing.
fn directory(
    host: &Host<'_>,
    ldap: &Result<ServerList, String>,
) -> (NodeDirectory, Option<PluginError>) {
    let members = nodes::members(host);
    let hostnames = ldap.as_ref().map(ServerList::hostnames).unwrap_or_default();
    match members {
        Ok(members) => (NodeDirectory::build(&members, &hostnames), None),
        Err(e) => (NodeDirectory::build(&[], &hostnames), Some(e)),
    }
}

/// `"192.168.56.101:8300"` -> `"192.168.56.101"`; IPv6 `"[fd00::1]:8300"` -> `"fd00::1"`.
fn ip_of(raft_address: &str) -> &str {
    let host = raft_address
        .rsplit_once(':')
        .map_or(raft_address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The node `name` (a hostname or an address) is in the directory, when exactly one is.
fn node_of<'d>(directory: &'d NodeDirectory, name: &str) -> Option<&'d str> {
    match directory.find(name) {
        Lookup::Found(node) => Some(node.node.as_str()),
        _ => None,
    }
}

/// One row per listed Mesh server, then one per raft peer none of them is.
fn servers(
    host: &Host<'_>,
    names: Vec<String>,
    directory: &NodeDirectory,
    peer_ips: &[&str],
    leader_ip: &str,
    warnings: &mut Vec<String>,
) -> Vec<Server> {
    let mut servers = Vec::new();
    for name in names {
        let node = node_of(directory, &name).map(str::to_owned);
        let addresses = match host.call(&Resolve { name: name.clone() }) {
            Ok(found) => found.addresses,
            // The member's gossip address, when the name does not resolve here.
            Err(e) => match directory
                .nodes
                .iter()
                .find(|n| Some(&n.node) == node.as_ref())
            {
                Some(member) => vec![member.address.clone()],
                None => {
                    warnings.push(format!(
                        "{}: the Mesh server is listed but its name does not resolve",
                        e.message
                    ));
                    Vec::new()
                }
            },
        };
        servers.push(Server {
            raft_peer: addresses.iter().any(|a| peer_ips.contains(&a.as_str())),
            leader: addresses.iter().any(|a| a == leader_ip),
            name: name.clone(),
            node,
            host: Some(name),
            addresses,
            listed: true,
        });
    }
    for peer in peer_ips {
        if servers
            .iter()
            .any(|s| s.addresses.iter().any(|a| a == peer))
        {
            continue;
        }
        let (node, host) = match directory.find(peer) {
            Lookup::Found(found) => (Some(found.node.clone()), found.host.clone()),
            _ => (None, None),
        };
        servers.push(Server {
            name: host.clone().or_else(|| node.clone()).unwrap_or_default(),
            node,
            host,
            addresses: vec![(*peer).to_owned()],
            listed: false,
            raft_peer: true,
            leader: *peer == leader_ip,
        });
    }
    servers
}

fn report(host: &Host<'_>, request: &Request) -> Result<Report, PluginError> {
    let mut warnings = Vec::new();
    let ldap = host
        .call(&CarbonioServers::default())
        .map_err(|e| e.message);
    let (names, servers_from) = mesh_servers(host, request, &ldap, &mut warnings);
    let leader_address: String =
        host.consul_get(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())?;
    if leader_address.is_empty() {
        let servers = if names.is_empty() {
            "each Mesh server".to_owned()
        } else {
            names.join(", ")
        };
        return Err(PluginError::operation("Carbonio Mesh has no leader: Consul answered \"\" to /v1/status/leader")
            .hint(format!("the Mesh servers have lost quorum or are starting: check `systemctl status service-discover` on {servers}")));
    }
    let peers: Vec<String> =
        host.consul_get(&ConsulRequest::get(&["v1", "status", "peers"]).anonymous())?;
    let peer_ips: Vec<&str> = peers.iter().map(|p| ip_of(p)).collect();
    let leader_ip = ip_of(&leader_address).to_owned();
    let (directory, unnamed) = directory(host, &ldap);
    let any_listed = !names.is_empty();
    let servers = servers(
        host,
        names,
        &directory,
        &peer_ips,
        &leader_ip,
        &mut warnings,
    );
    if let Some(why) = unnamed {
        if servers.iter().any(|s| s.host.is_none() && s.node.is_none()) {
            let fix = why.hint.map(|fix| format!(" ({fix})")).unwrap_or_default();
            warnings.push(format!(
                "servers are shown by address only: {}{fix}",
                why.message
            ));
        }
    }
    let leader = servers.iter().find(|s| s.leader);
    if any_listed && !leader.is_some_and(|s| s.listed) {
        warnings.push(format!(
            "the leader {leader_address} is not among the Mesh servers LDAP lists"
        ));
    }
    let leader_name = leader
        .map(|s| s.name.clone())
        .filter(|name| !name.is_empty());
    let leader = LeaderView {
        node: leader.and_then(|s| s.node.clone()),
        host: leader.and_then(|s| s.host.clone()),
        port: leader_address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok()),
        address: leader_ip.clone(),
    };
    let local = host.call(&LocalAddresses {})?.addresses;
    let this_host_is_leader = local.contains(&leader_ip);
    Ok(Report {
        leader,
        leader_address,
        leader_name,
        this_host_is_leader,
        servers_from,
        servers,
        warnings,
    })
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn render(report: &Report) -> String {
    let mut out = match &report.leader_name {
        Some(name) => format!("Leader: {name} ({})\n", report.leader_address),
        None => format!("Leader: {}\n", report.leader_address),
    };
    out.push_str(if report.this_host_is_leader {
        "This host is the leader.\n"
    } else {
        "This host is not the leader.\n"
    });
    if !report.servers.is_empty() {
        out.push('\n');
        let mut table = Table::new(["Server", "Node", "Address", "Raft peer", "Leader"]);
        let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
        for server in &report.servers {
            let addresses = if server.addresses.is_empty() {
                "-".to_owned()
            } else {
                server.addresses.join(",")
            };
            table.push([
                or_dash(&server.host),
                or_dash(&server.node),
                addresses,
                yes_no(server.raft_peer).to_owned(),
                yes_no(server.leader).to_owned(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

pub struct Leader;

impl Plugin for Leader {
    fn manifest() -> Manifest {
        Manifest::new(
            "leader",
            env!("CARGO_PKG_VERSION"),
            "Find the Mesh leader and tell whether this host is it",
        )
        .exit_code(EXIT_NOT_LEADER, "it worked, and another host is the leader")
        .command(
            CommandSpec::new(
                "leader",
                "Find the Mesh leader and tell whether this host is it",
            )
            .example(
                "sudo carbonio-mesh leader",
                "Which Mesh server leads, and whether this host is it (exit 0 only on the leader)",
            )
            .example(
                "carbonio-mesh leader -q && echo on the leader",
                "In a script: act only on the leader",
            )
            .read_only()
            .long_about(
                "Find the Carbonio Mesh leader: the Mesh servers from `carbonio prov gas \
                     service-discover` (run as zextras; from LDAP directly, with a warning, when \
                     carbonio is missing or fails), the leader and raft peers from Consul, each \
                     server's hostname and Consul node name, and whether one of this host's \
                     interface addresses is the leader's. With -q nothing is printed: the exit \
                     status is the answer.\n\n\
                     Exit status: 0 this host is the leader, 6 another host is, 5 no leader or \
                     Consul unreachable.",
            )
            .arg(
                ArgSpec::option("carbonio", "The Carbonio admin command")
                    .value_name("PATH")
                    .default_value(DEFAULT_CARBONIO),
            )
            .arg(
                ArgSpec::option("carbonio-user", "Run it as USER")
                    .value_name("USER")
                    .default_value(DEFAULT_CARBONIO_USER),
            ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        let report = report(host, request)?;
        let exit_code = if report.this_host_is_leader {
            0
        } else {
            EXIT_NOT_LEADER
        };
        let response = match request.format {
            OutputFormat::Json => Response::json(&report)?,
            // `leader -q && ...`: the exit status is the answer.
            OutputFormat::Human if request.quiet => Response::text(String::new()),
            // Through the host, which leaves warnings out under -q.
            OutputFormat::Human => report
                .warnings
                .iter()
                .fold(Response::text(render(&report)), |response, warning| {
                    response.with_warning(warning.clone(), None)
                }),
        };
        Ok(response.with_exit_code(exit_code))
    }
}

export_plugin!(Leader);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_addresses_lose_their_port() {
        assert_eq!(ip_of("192.168.56.101:8300"), "192.168.56.101");
        assert_eq!(ip_of("[fd00::1]:8300"), "fd00::1");
    }

    #[test]
    fn render_marks_the_leader_and_names_unlisted_peers_from_the_directory() {
        let report = Report {
            leader_address: "10.0.0.1:8300".into(),
            leader_name: Some("srv1".into()),
            leader: LeaderView {
                node: Some("server-srv1".into()),
                host: Some("srv1".into()),
                address: "10.0.0.1".into(),
                port: Some(8300),
            },
            this_host_is_leader: false,
            servers_from: Some("carbonio"),
            servers: vec![
                Server {
                    name: "srv1".into(),
                    node: Some("server-srv1".into()),
                    host: Some("srv1".into()),
                    addresses: vec!["10.0.0.1".into()],
                    listed: true,
                    raft_peer: true,
                    leader: true,
                },
                Server {
                    name: "server-srv9".into(),
                    node: Some("server-srv9".into()),
                    host: None,
                    addresses: vec!["10.0.0.9".into()],
                    listed: false,
                    raft_peer: true,
                    leader: false,
                },
            ],
            warnings: vec![],
        };
        assert_eq!(
            render(&report),
            "Leader: srv1 (10.0.0.1:8300)\nThis host is not the leader.\n\n\
             Server  Node         Address   Raft peer  Leader\n\
             srv1    server-srv1  10.0.0.1  yes        yes\n\
             -       server-srv9  10.0.0.9  yes        no\n"
        );
    }
}
