//! The cluster checks, made from the local agent: leader and raft peers against Carbonio's list
//! of Mesh servers, members, the token; and through their own modules autopilot, the critical
//! health checks and the gossip keyring. Each `*_checks` function is pure (Consul's answers in,
//! checks out); [`gather`] asks.

use std::collections::{BTreeMap, BTreeSet};

use carbonio_mesh_plugin_api::consul::{self, FAILED, LEFT};
use carbonio_mesh_plugin_api::nodes::{self, NodeDirectory};
use carbonio_mesh_plugin_api::services::{CarbonioServers, ConsulRequest, ServiceErrorKind};
use carbonio_mesh_plugin_api::{ErrorKind, Host, SecretText};
use serde::Deserialize;

use crate::report::{cluster_check as check, node_label as label, Check, Report, Status};

/// A `/v1/agent/members` entry, the fields the checks read.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Addr")]
    pub addr: String,
    #[serde(rename = "Status")]
    pub status: u8,
    #[serde(rename = "Tags", default)]
    pub tags: BTreeMap<String, String>,
}

impl Member {
    /// The fields the node directory maps (all but the tags).
    fn plain(&self) -> nodes::Member {
        nodes::Member {
            name: self.name.clone(),
            addr: self.addr.clone(),
            status: self.status,
        }
    }
}

/// A server of `/v1/operator/raft/configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct RaftServer {
    #[serde(rename = "Node")]
    pub node: String,
    #[serde(rename = "Address")]
    pub address: String,
}

#[derive(Debug, Deserialize)]
struct RaftConfiguration {
    #[serde(rename = "Servers")]
    servers: Vec<RaftServer>,
}

#[derive(Debug, Deserialize)]
struct TokenSelf {
    #[serde(rename = "AccessorID", default)]
    accessor_id: String,
}

/// `leader`: `/v1/status/leader` answers `""` when there is none.
pub fn leader_check(leader: &str) -> Check {
    if leader.is_empty() {
        check("leader", Status::Fail, "the Mesh has no raft leader").fix(
            "a majority of the Mesh servers must run: `carbonio-mesh leader` lists them; start service-discover on those that are down (systemctl start service-discover)",
        )
    } else {
        check("leader", Status::Ok, format!("leader at {leader}"))
    }
}

/// `raft-peers`: the raft servers (node names, or addresses no member has) against the Mesh
/// servers LDAP lists (`ldap`: their hostnames, or why they are not known: ok on a host that
/// is no Carbonio node, a warning when LDAP could not be read); and an even number of servers.
pub fn raft_checks(
    raft: &[RaftServer],
    directory: &NodeDirectory,
    ldap: Result<Vec<String>, (Status, String)>,
) -> Vec<Check> {
    let name_of = |server: &RaftServer| -> String {
        if !server.node.is_empty() {
            return server.node.clone();
        }
        let ip = server.address.rsplit_once(':').map_or("", |(ip, _)| ip);
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        directory
            .nodes
            .iter()
            .find(|n| n.address == ip)
            .map_or_else(|| server.address.clone(), |n| n.node.clone())
    };
    let in_raft: BTreeSet<String> = raft.iter().map(name_of).collect();
    let mut checks = Vec::new();
    let listed = in_raft.iter().cloned().collect::<Vec<_>>().join(", ");
    // Peers known by address only, with no member list to name them (no valid token): which
    // server is which is unknown, so nothing is missing and nothing is to be removed.
    let unnamed = raft.iter().any(|s| s.node.is_empty()) && directory.nodes.is_empty();
    let ldap = match ldap {
        Ok(_) if unnamed => Err((
            Status::Unknown,
            "the peers are known by address only and no member list names them".to_owned(),
        )),
        other => other,
    };
    checks.push(match ldap {
        Err((status, why)) => check(
            "raft-peers",
            status,
            format!(
                "{}{} raft servers ({listed}); not compared with LDAP: {why}",
                if status == Status::Unknown { "not checked: " } else { "" },
                in_raft.len()
            ),
        )
        .fix(if status == Status::Unknown {
            "give a token with node:read and operator:read: --token-file FILE or CONSUL_HTTP_TOKEN_FILE (on a Mesh server, run as root to use the archive's)"
        } else {
            "make LDAP readable from this host (/opt/zextras/conf/localconfig.xml) to compare"
        }),
        Ok(hostnames) => {
            let expected: BTreeMap<String, String> = hostnames
                .iter()
                .map(|h| (format!("{}{}", nodes::SERVER_PREFIX, nodes::dashed(h)), h.clone()))
                .collect();
            let missing: Vec<&String> = expected
                .iter()
                .filter(|(node, _)| !in_raft.contains(*node))
                .map(|(_, host)| host)
                .collect();
            let extra: Vec<&RaftServer> = raft
                .iter()
                .filter(|s| !expected.contains_key(&name_of(s)))
                .collect();
            let mut problems = Vec::new();
            let mut fixes = Vec::new();
            for host in &missing {
                problems.push(format!("{host} is a Mesh server in LDAP but not a raft peer"));
                fixes.push(format!(
                    "on {host}: systemctl status service-discover (it must run and join; `carbonio-mesh members` shows it)"
                ));
            }
            for server in &extra {
                problems.push(format!(
                    "{} ({}) is a raft peer LDAP does not list as a Mesh server",
                    name_of(server),
                    server.address
                ));
                fixes.push(format!(
                    "if that server is gone for good: consul operator raft remove-peer -address={}",
                    server.address
                ));
            }
            let status = if !missing.is_empty() {
                Status::Fail
            } else if !extra.is_empty() {
                Status::Warn
            } else {
                Status::Ok
            };
            let detail = if problems.is_empty() {
                format!(
                    "{} raft servers, the Mesh servers LDAP lists ({listed})",
                    in_raft.len()
                )
            } else {
                problems.join("; ")
            };
            check("raft-peers", status, detail).fix(fixes.join("; "))
        }
    });
    let count = in_raft.len();
    checks.push(if count > 0 && count % 2 == 0 {
        check(
            "raft-size",
            Status::Warn,
            format!(
                "{count} Mesh servers: an even number tolerates no more failures than {}",
                count - 1
            ),
        )
        .fix("add a Mesh server or retire one: 3 servers tolerate 1 failure, 5 tolerate 2")
    } else {
        check("raft-size", Status::Ok, format!("{count} Mesh servers"))
    });
    checks
}

/// `members-failed`, `members-left`, `consul-versions`, `gossip-protocol`.
pub fn member_checks(members: &[Member], directory: &NodeDirectory) -> Vec<Check> {
    let with =
        |status: u8| -> Vec<&Member> { members.iter().filter(|m| m.status == status).collect() };
    let failed = with(FAILED);
    let left = with(LEFT);
    let names = |list: &[&Member]| -> String {
        list.iter()
            .map(|m| label(directory, &m.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let commands = |list: &[&Member], prune: bool| -> String {
        list.iter()
            .map(|m| {
                format!(
                    "carbonio-mesh force-leave {}{}",
                    if prune { "--prune " } else { "" },
                    m.name
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut checks = vec![
        if failed.is_empty() {
            check("members-failed", Status::Ok, "no failed member")
        } else {
            check(
                "members-failed",
                Status::Fail,
                format!("failed: {}", names(&failed)),
            )
            .fix(format!(
                "if the node is gone: {}; else start service-discover on it",
                commands(&failed, false)
            ))
        },
        if left.is_empty() {
            check(
                "members-left",
                Status::Ok,
                "no member that left is still listed",
            )
        } else {
            check(
                "members-left",
                Status::Warn,
                format!("left but still listed: {}", names(&left)),
            )
            .fix(commands(&left, true))
        },
    ];
    // Versions and protocols of the members still in the cluster.
    let present: Vec<&Member> = members.iter().filter(|m| m.status != LEFT).collect();
    for (name, tag, what, fix) in [
        (
            "consul-versions",
            "build",
            "Consul builds",
            "upgrade service-discover-base on the nodes behind so every node runs one Consul version",
        ),
        (
            "gossip-protocol",
            "vsn",
            "gossip protocol versions",
            "run one Consul version on every node: the protocol follows the build",
        ),
    ] {
        let mut by_value: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in &present {
            let value = m.tags.get(tag).map_or("unknown", |v| {
                if tag == "build" {
                    v.split(':').next().unwrap_or(v)
                } else {
                    v
                }
            });
            by_value.entry(value).or_default().push(&m.name);
        }
        checks.push(if by_value.len() <= 1 {
            let value = by_value.keys().next().copied().unwrap_or("none");
            check(name, Status::Ok, format!("every member: {value}"))
        } else {
            let parts: Vec<String> = by_value
                .iter()
                .map(|(value, nodes)| format!("{value} on {}", nodes.join(", ")))
                .collect();
            check(name, Status::Warn, format!("{what} differ: {}", parts.join("; "))).fix(fix)
        });
    }
    checks
}

/// Members by status name, for monitoring.
pub fn members_by_status(members: &[Member]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in members {
        *counts
            .entry(consul::member_status(m.status).to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// What the token checks learned: the accessor of the token in use, or why there is none.
pub enum TokenAnswer {
    Accepted(String),
    Refused(String),
    AclDisabled,
    /// No token was configured nor found (an agent node without `--token-file`).
    NoToken,
}

/// `token`: the token in use is accepted; on a Mesh server (where the archive opens), the
/// archive's bootstrap token is the one in use or at least still accepted.
pub fn token_check(in_use: &TokenAnswer, archive: Option<(&str, &TokenAnswer)>) -> Check {
    let accessor = match in_use {
        TokenAnswer::NoToken => {
            return check(
                "token",
                Status::Unknown,
                "not checked here: no token (an agent keeps no archive); the cluster checks saw only what an anonymous request may",
            )
            .fix("give a token: --token-file FILE or CONSUL_HTTP_TOKEN_FILE (on a Mesh server, run as root to use the archive's)")
        }
        TokenAnswer::AclDisabled => {
            return check("token", Status::Warn, "Consul's ACLs are disabled (401 ACL support disabled)")
                .fix("Carbonio runs Consul with ACLs enabled: check main.json's acl section")
        }
        TokenAnswer::Refused(why) => {
            return check(
                "token",
                Status::Fail,
                format!("the token in use is not accepted: {why}"),
            )
            .fix("give a valid token: --token-file FILE or CONSUL_HTTP_TOKEN_FILE (on a Mesh server, run as root to use the archive's)")
        }
        TokenAnswer::Accepted(accessor) => accessor,
    };
    match archive {
        None => check("token", Status::Ok, format!("accepted (AccessorID {accessor})")),
        Some((archive_accessor, _)) if archive_accessor == accessor => check(
            "token",
            Status::Ok,
            format!("the archive's bootstrap token, accepted (AccessorID {accessor})"),
        ),
        Some((archive_accessor, TokenAnswer::Accepted(_))) => check(
            "token",
            Status::Ok,
            format!("accepted (AccessorID {accessor}); the archive's bootstrap token ({archive_accessor}) is accepted too"),
        ),
        Some((archive_accessor, _)) => check(
            "token",
            Status::Fail,
            format!("the archive's bootstrap token (AccessorID {archive_accessor}) is not accepted by Consul: the archive is out of date"),
        )
        .fix("copy the current archive from the Mesh leader: carbonio-mesh secret rejoin --archive FILE (or regenerate: carbonio-mesh secret regenerate on the leader)"),
    }
}

fn ask_token(host: &Host<'_>, token: Option<SecretText>) -> TokenAnswer {
    let mut request = ConsulRequest::get(&["v1", "acl", "token", "self"])
        .accept(401)
        .accept(403);
    if let Some(token) = token {
        request = request.with_token(token);
    }
    match host.consul(&request) {
        // ACLs disabled answer 401 whatever the token: that is not "no token".
        Ok(answer) if answer.status == 401 => TokenAnswer::AclDisabled,
        Ok(answer) if !answer.token_sent => TokenAnswer::NoToken,
        Ok(answer) if answer.status == 403 => TokenAnswer::Refused(answer.text.trim().to_owned()),
        Ok(answer) => match answer.decode::<TokenSelf>() {
            Ok(token) => TokenAnswer::Accepted(token.accessor_id),
            Err(e) => TokenAnswer::Refused(format!("Consul's answer is not understood: {e}")),
        },
        Err(e) => TokenAnswer::Refused(e.message),
    }
}

/// What the node checks can use from the cluster's side.
pub struct ClusterView {
    pub directory: NodeDirectory,
}

/// The archive's secrets the cluster checks compare with (on a server, where it opens).
pub struct ArchiveSecrets<'a> {
    pub token: Option<(&'a str, SecretText)>,
    pub gossip_key: Option<&'a str>,
}

/// Asks the local agent and LDAP, adds the cluster checks to `report`.
pub fn gather(host: &Host<'_>, archive: &ArchiveSecrets<'_>, report: &mut Report) -> ClusterView {
    let leader = match read_leader(host) {
        Ok(leader) => leader,
        Err(agent_down) => {
            report.checks.push(agent_down);
            return ClusterView {
                directory: NodeDirectory::default(),
            };
        }
    };
    report.checks.push(leader_check(&leader));
    let members = match read_members(host) {
        Ok(members) => members,
        Err(unread) => {
            report.checks.push(unread);
            Vec::new()
        }
    };
    let (directory, mesh_servers) = directory_and_mesh_servers(host, &members);
    report
        .checks
        .extend(raft_peers(host, &directory, mesh_servers));
    report
        .checks
        .extend(crate::autopilot::gather(host, &directory));
    if !members.is_empty() {
        report.checks.extend(member_checks(&members, &directory));
        report.members = members_by_status(&members);
    }
    report.checks.push(crate::health::gather(host, &directory));
    report
        .checks
        .push(crate::keyring::gather(host, archive.gossip_key));
    let in_use = ask_token(host, None);
    let archive_token = archive
        .token
        .as_ref()
        .map(|(accessor, secret)| (*accessor, ask_token(host, Some(secret.clone()))));
    report.checks.push(token_check(
        &in_use,
        archive_token.as_ref().map(|(a, answer)| (*a, answer)),
    ));
    ClusterView { directory }
}

/// The leader the local agent names; the `agent` check when it does not answer.
fn read_leader(host: &Host<'_>) -> Result<String, Check> {
    host.consul_get::<String>(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())
        .map_err(|e| {
            check("agent", Status::Fail, format!("the local Consul agent does not answer: {}", e.message))
                .fix("systemctl start service-discover; journalctl -u service-discover says why it stopped")
        })
}

/// Every member, WAN pool aside; the `members` check when they cannot be read (a warning when
/// an anonymous read under default-deny hid them).
fn read_members(host: &Host<'_>) -> Result<Vec<Member>, Check> {
    host.consul_get_filtered::<Vec<Member>>(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("segment", "_all"),
        "the member list",
        "node:read",
    )
    .map_err(|e| {
        // Hidden from an anonymous request, or no answer: not checked, either way.
        let why = if e.kind == ErrorKind::Usage {
            format!("not checked here: {}", e.message)
        } else {
            format!("not checked: cannot read the members: {}", e.message)
        };
        check("members", Status::Unknown, why).fix(
            e.hint
                .unwrap_or_else(|| "give a token with node:read: --token-file FILE".into()),
        )
    })
}

/// The nodes under their three names (this agent's own node known), and the Mesh servers LDAP
/// lists with service-discover enabled (or why they are unknown, and how much that matters).
fn directory_and_mesh_servers(
    host: &Host<'_>,
    members: &[Member],
) -> (NodeDirectory, Result<Vec<String>, (Status, String)>) {
    let plain: Vec<nodes::Member> = members.iter().map(Member::plain).collect();
    let servers = host.call(&CarbonioServers::default());
    let mut directory = match &servers {
        Ok(list) => NodeDirectory::build(&plain, &list.hostnames()),
        Err(_) => NodeDirectory::build(&plain, &[]),
    };
    directory.local_node = nodes::agent_node(host);
    let mesh_servers = match servers {
        Ok(list) => Ok(list
            .servers
            .iter()
            .filter(|s| s.services.iter().any(|x| x == "service-discover"))
            .map(|s| s.hostname.clone())
            .collect()),
        Err(e) if e.kind == ServiceErrorKind::NotFound => Err((Status::Ok, e.message)),
        Err(e) => Err((Status::Warn, e.message)),
    };
    (directory, mesh_servers)
}

/// The raft servers against the Mesh servers. The raft configuration names each server's node;
/// it needs operator:read. Without it, the peers' addresses are mapped through the members.
fn raft_peers(
    host: &Host<'_>,
    directory: &NodeDirectory,
    mesh_servers: Result<Vec<String>, (Status, String)>,
) -> Vec<Check> {
    let raft = host
        .consul_get::<RaftConfiguration>(&ConsulRequest::get(&[
            "v1",
            "operator",
            "raft",
            "configuration",
        ]))
        .map(|c| c.servers)
        .or_else(|_| {
            host.consul_get::<Vec<String>>(
                &ConsulRequest::get(&["v1", "status", "peers"]).anonymous(),
            )
            .map(|peers| {
                peers
                    .into_iter()
                    .map(|address| RaftServer {
                        node: String::new(),
                        address,
                    })
                    .collect()
            })
        });
    match raft {
        Ok(raft) => raft_checks(&raft, directory, mesh_servers),
        Err(e) => vec![check(
            "raft-peers",
            Status::Unknown,
            format!("not checked: cannot read the raft peers: {}", e.message),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::consul::ALIVE;

    fn member(name: &str, addr: &str, status: u8, build: &str) -> Member {
        Member {
            name: name.into(),
            addr: addr.into(),
            status,
            tags: [
                ("build".to_owned(), build.to_owned()),
                ("vsn".to_owned(), "2".to_owned()),
            ]
            .into(),
        }
    }

    fn directory(members: &[Member]) -> NodeDirectory {
        let plain: Vec<nodes::Member> = members.iter().map(Member::plain).collect();
        NodeDirectory::build(
            &plain,
            &["srv1.example.com".into(), "mail.example.com".into()],
        )
    }

    #[test]
    fn failed_left_and_skewed_members_are_named_with_their_fix() {
        let members = [
            member(
                "server-srv1-example-com",
                "192.168.56.101",
                ALIVE,
                "1.9.3:f55da930",
            ),
            member(
                "agent-mail-example-com",
                "192.168.56.110",
                FAILED,
                "1.9.3:f55da930",
            ),
            member(
                "agent-old-example-com",
                "192.168.56.120",
                LEFT,
                "1.9.3:f55da930",
            ),
            member(
                "agent-new-example-com",
                "192.168.56.121",
                ALIVE,
                "1.10.0:abc",
            ),
        ];
        let checks = member_checks(&members, &directory(&members));
        let failed = &checks[0];
        assert_eq!(failed.status, Status::Fail);
        assert_eq!(
            failed.detail,
            "failed: agent-mail-example-com (mail.example.com)"
        );
        assert!(failed
            .fix
            .as_deref()
            .unwrap()
            .contains("carbonio-mesh force-leave agent-mail-example-com"));
        assert_eq!(checks[1].status, Status::Warn);
        assert_eq!(
            checks[1].fix.as_deref(),
            Some("carbonio-mesh force-leave --prune agent-old-example-com")
        );
        assert_eq!(checks[2].status, Status::Warn);
        assert!(
            checks[2].detail.contains("1.10.0 on agent-new-example-com"),
            "{}",
            checks[2].detail
        );
        assert_eq!(checks[3].status, Status::Ok);
        assert_eq!(members_by_status(&members)["alive"], 2);
    }

    #[test]
    fn raft_against_ldap_names_missing_and_extra_servers_and_an_even_count_warns() {
        let members = [
            member(
                "server-srv1-example-com",
                "192.168.56.101",
                ALIVE,
                "1.9.3:x",
            ),
            member(
                "server-srv9-example-com",
                "192.168.56.109",
                ALIVE,
                "1.9.3:x",
            ),
        ];
        let directory = directory(&members);
        let raft = [
            RaftServer {
                node: String::new(),
                address: "192.168.56.101:8300".into(),
            },
            RaftServer {
                node: String::new(),
                address: "192.168.56.109:8300".into(),
            },
        ];
        let checks = raft_checks(
            &raft,
            &directory,
            Ok(vec!["srv1.example.com".into(), "srv2.example.com".into()]),
        );
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0]
            .detail
            .contains("srv2.example.com is a Mesh server in LDAP but not a raft peer"));
        assert!(checks[0].detail.contains(
            "server-srv9-example-com (192.168.56.109:8300) is a raft peer LDAP does not list"
        ));
        assert!(checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("remove-peer -address=192.168.56.109:8300"));
        assert_eq!(checks[1].status, Status::Warn, "{}", checks[1].detail);
        let ok = raft_checks(&raft[..1], &directory, Ok(vec!["srv1.example.com".into()]));
        assert_eq!((ok[0].status, ok[1].status), (Status::Ok, Status::Ok));
    }

    #[test]
    fn a_stale_archive_token_fails_the_token_check() {
        let in_use = TokenAnswer::Accepted("a1".into());
        assert_eq!(
            token_check(&in_use, Some(("a1", &TokenAnswer::Accepted("a1".into())))).status,
            Status::Ok
        );
        let stale = token_check(
            &in_use,
            Some(("old", &TokenAnswer::Refused("ACL not found".into()))),
        );
        assert_eq!(stale.status, Status::Fail);
        assert!(stale.fix.as_deref().unwrap().contains("secret rejoin"));
        assert_eq!(
            token_check(&TokenAnswer::Refused("ACL not found".into()), None).status,
            Status::Fail
        );
        assert_eq!(leader_check("").status, Status::Fail);
        let none = token_check(&TokenAnswer::NoToken, None);
        assert_eq!(none.status, Status::Unknown, "no token is not checked here");
        assert!(none.detail.starts_with("not checked here: no token"));
        assert_eq!(
            token_check(&TokenAnswer::AclDisabled, None).status,
            Status::Warn
        );
    }

    #[test]
    fn peers_known_by_address_only_are_not_checked_and_never_removed() {
        let raft = [
            RaftServer {
                node: String::new(),
                address: "192.168.56.101:8300".into(),
            },
            RaftServer {
                node: String::new(),
                address: "192.168.56.102:8300".into(),
            },
        ];
        // No member list (no valid token): the directory is empty.
        let checks = raft_checks(
            &raft,
            &NodeDirectory::default(),
            Ok(vec!["srv1.example.com".into(), "srv2.example.com".into()]),
        );
        assert_eq!(checks[0].status, Status::Unknown, "{}", checks[0].detail);
        assert!(checks[0].detail.starts_with("not checked: 2 raft servers"));
        let fix = checks[0].fix.as_deref().unwrap();
        assert!(
            !fix.contains("remove-peer") && fix.contains("node:read"),
            "{fix}"
        );
    }
}
