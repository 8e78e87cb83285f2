//! Plugin `leader`: which Mesh server is the raft leader, and is it this host?
//!
//! Replaces `carbonio prov gas service-discover` plus `wget .../v1/status/leader` plus guessing:
//! the Mesh servers come from LDAP (`carbonio prov gas service-discover`, run as zextras), the
//! leader and raft peers from Consul (`/v1/status/leader`, `/v1/status/peers`, no token needed),
//! names are resolved to addresses, and "this host" means one of this host's interface addresses.
//!
//! Exit status: 0 this host is the leader; 6 another host is the leader; 5 no leader or Consul
//! unreachable; so `if carbonio-mesh leader -q >/dev/null; then ...` runs only on the leader.

use carbonio_mesh_plugin_api::services::{
    ConsulRequest, Exec, LocalAddresses, Resolve, ServiceErrorKind,
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

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Server {
    name: String,
    addresses: Vec<String>,
    raft_peer: bool,
    leader: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    /// `ip:port` of the leader's raft endpoint.
    leader_address: String,
    /// The leader's name among the Mesh servers LDAP lists, when it is one of them.
    leader_name: Option<String>,
    this_host_is_leader: bool,
    servers: Vec<Server>,
    warnings: Vec<String>,
}

/// The Mesh servers' FQDNs from LDAP, or a warning saying why there are none.
fn ldap_servers(host: &Host<'_>, request: &Request) -> Result<Vec<String>, String> {
    let command = request.value("carbonio").unwrap_or(DEFAULT_CARBONIO);
    let user = request
        .value("carbonio-user")
        .unwrap_or(DEFAULT_CARBONIO_USER);
    let exec = Exec::new([command, "prov", "gas", "service-discover"])
        .user(user)
        .timeout_ms(60_000);
    let output = host.exec(&exec).map_err(|e| match e.kind {
        ServiceErrorKind::NotFound => format!("cannot list the Mesh servers from LDAP: {} (is this a Carbonio node? --carbonio names the command)", e.message),
        _ => format!("cannot list the Mesh servers from LDAP: {}", e.message),
    })?;
    if !output.success() {
        let said = output.stderr.trim();
        return Err(format!(
            "`carbonio prov gas service-discover` failed (exit {}): {}",
            output
                .status
                .map_or_else(|| "by signal".to_owned(), |s| s.to_string()),
            if said.is_empty() {
                output.stdout.trim()
            } else {
                said
            }
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

/// `"192.168.56.101:8300"` -> `"192.168.56.101"`; IPv6 `"[fd00::1]:8300"` -> `"fd00::1"`.
fn ip_of(raft_address: &str) -> &str {
    let host = raft_address
        .rsplit_once(':')
        .map_or(raft_address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn report(host: &Host<'_>, request: &Request) -> Result<Report, PluginError> {
    let mut warnings = Vec::new();
    let names = ldap_servers(host, request).unwrap_or_else(|warning| {
        warnings.push(warning);
        Vec::new()
    });
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

    let mut servers = Vec::new();
    for name in names {
        let addresses = match host.call(&Resolve { name: name.clone() }) {
            Ok(found) => found.addresses,
            Err(e) => {
                warnings.push(format!(
                    "{}: the Mesh server is listed in LDAP but its name does not resolve",
                    e.message
                ));
                Vec::new()
            }
        };
        let raft_peer = addresses.iter().any(|a| peer_ips.contains(&a.as_str()));
        let leader = addresses.contains(&leader_ip);
        servers.push(Server {
            name,
            addresses,
            raft_peer,
            leader,
        });
    }
    // Raft peers LDAP does not know about are worth seeing too.
    for peer in &peer_ips {
        if !servers
            .iter()
            .any(|s| s.addresses.iter().any(|a| a == peer))
        {
            servers.push(Server {
                name: String::new(),
                addresses: vec![(*peer).to_owned()],
                raft_peer: true,
                leader: *peer == leader_ip,
            });
        }
    }
    let leader_name = servers
        .iter()
        .find(|s| s.leader && !s.name.is_empty())
        .map(|s| s.name.clone());
    if leader_name.is_none() && !servers.iter().all(|s| s.name.is_empty()) {
        warnings.push(format!(
            "the leader {leader_address} is not among the Mesh servers LDAP lists"
        ));
    }
    let local = host.call(&LocalAddresses {})?.addresses;
    let this_host_is_leader = local.contains(&leader_ip);
    Ok(Report {
        leader_address,
        leader_name,
        this_host_is_leader,
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
        let mut table = Table::new(["Server", "Address", "Raft peer", "Leader"]);
        for server in &report.servers {
            let name = if server.name.is_empty() {
                "(not in LDAP)"
            } else {
                server.name.as_str()
            };
            let addresses = if server.addresses.is_empty() {
                "-".to_owned()
            } else {
                server.addresses.join(",")
            };
            table.push([
                name.to_owned(),
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
                "Find the Carbonio Mesh leader: the Mesh servers from LDAP (carbonio prov gas \
                     service-discover, run as zextras), the leader and raft peers from Consul, and \
                     whether one of this host's interface addresses is the leader's.\n\n\
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
    fn render_marks_the_leader_and_unknown_peers() {
        let report = Report {
            leader_address: "10.0.0.1:8300".into(),
            leader_name: Some("srv1".into()),
            this_host_is_leader: false,
            servers: vec![
                Server {
                    name: "srv1".into(),
                    addresses: vec!["10.0.0.1".into()],
                    raft_peer: true,
                    leader: true,
                },
                Server {
                    name: String::new(),
                    addresses: vec!["10.0.0.9".into()],
                    raft_peer: true,
                    leader: false,
                },
            ],
            warnings: vec![],
        };
        assert_eq!(
            render(&report),
            "Leader: srv1 (10.0.0.1:8300)\nThis host is not the leader.\n\n\
             Server         Address   Raft peer  Leader\n\
             srv1           10.0.0.1  yes        yes\n\
             (not in LDAP)  10.0.0.9  yes        no\n"
        );
    }
}
