//! What `secret rejoin` needs beyond the generic steps: the leader's new archive from a file the
//! admin copied (`--archive FILE`), checked before anything changes, and the address this node
//! is set up on.

use std::net::{IpAddr, SocketAddr};

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::{
    ConsulRequest, LdapCredentials, LocalAddresses, OpenCredentials, ReadFile, ServiceErrorKind,
    SourceAddress, StatPath,
};
use carbonio_mesh_plugin_api::{ErrorKind, Host, PluginError, SecretText};

use crate::MAX_ARCHIVE;

const CONFIG_JSON: &str = "/etc/zextras/service-discover/config.json";
const ARMOR: &str = "-----BEGIN PGP MESSAGE-----";
/// The host's documented exit codes (README, "Exit codes").
const EXIT_USAGE: u8 = 2;
const EXIT_BAD_ARCHIVE: u8 = 8;

fn unusable(path: &str, why: &str) -> PluginError {
    PluginError::new(ErrorKind::Operation, format!("{path}: {why}"))
        .hint("copy the archive again from the Mesh leader, unchanged: scp LEADER:/etc/zextras/service-discover/cluster-credentials.tar.gpg FILE")
        .with_exit_code(EXIT_BAD_ARCHIVE)
}

/// `--archive FILE` as a system path: a relative FILE is taken from the current directory
/// (and, like every path, put under `--root` by the host).
pub fn archive_arg(path: &str) -> Result<String, PluginError> {
    if path.starts_with('/') {
        return Ok(path.to_owned());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| PluginError::usage(format!("cannot resolve --archive {path}: {e}")))?;
    Ok(cwd.join(path).display().to_string())
}

/// The armored archive at `path`, checked: a regular file of at most [`MAX_ARCHIVE`] bytes, an
/// armored OpenPGP message, that opens with `password` (a wrong password is the host's exit 7,
/// a damaged archive exit 8). Read through the host, so `--root` applies.
pub fn checked_archive(
    host: &Host<'_>,
    path: &str,
    password: &SecretText,
) -> Result<SecretText, PluginError> {
    let stat = host.call(&StatPath {
        path: path.to_owned(),
    })?;
    if !stat.exists {
        return Err(PluginError::operation(format!(
            "the archive {path} does not exist"
        ))
        .hint("copy the new archive from the Mesh leader first: scp LEADER:/etc/zextras/service-discover/cluster-credentials.tar.gpg FILE"));
    }
    if stat.file_type != Some(carbonio_mesh_plugin_api::services::FileType::File) {
        return Err(
            PluginError::usage(format!("the archive {path} is not a regular file"))
                .hint("give the copied archive file itself (not a directory or a symbolic link)")
                .with_exit_code(EXIT_USAGE),
        );
    }
    if stat.size > MAX_ARCHIVE {
        return Err(unusable(
            path,
            &format!(
                "{} bytes is more than a credentials archive can be ({MAX_ARCHIVE} at most)",
                stat.size
            ),
        ));
    }
    let text = SecretText::new(
        host.call(&ReadFile {
            path: path.to_owned(),
            max_bytes: Some(MAX_ARCHIVE),
        })
        .map_err(|e| unusable(path, &e.message))?
        .content,
    );
    if !text.expose().trim_start().starts_with(ARMOR) {
        return Err(unusable(
            path,
            "not an armored OpenPGP message (service-discover writes one starting with -----BEGIN PGP MESSAGE-----)",
        ));
    }
    host.call(&OpenCredentials {
        archive: Some(path.to_owned()),
        known_password: Some(password.clone()),
        ..OpenCredentials::default()
    })?;
    Ok(text)
}

/// The archive of `--archive FILE`, read and checked once a run (every later step takes these
/// bytes: the file may change meanwhile); the admin is warned when someone other than root
/// could have changed the file or its directory.
pub fn archive_file<'c>(
    ctx: &'c crate::steps::StepContext<'_>,
    path: &str,
) -> Result<&'c SecretText, PluginError> {
    if let Some(read) = ctx.archive_read.get() {
        return Ok(read);
    }
    let password = ctx
        .new_password
        .ok_or_else(|| PluginError::operation("no new password"))?;
    warn_if_others_can_write(ctx.host, path);
    let text = checked_archive(ctx.host, path, password)?;
    Ok(ctx.archive_read.get_or_init(|| text))
}

/// Warns when `path` or its directory belongs to someone else than root or may be written by
/// group or others: whoever could have replaced the leader's archive there.
fn warn_if_others_can_write(host: &Host<'_>, path: &str) {
    let dir = std::path::Path::new(path)
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".to_owned());
    for (what, at) in [("the archive", path), ("its directory", dir.as_str())] {
        let Ok(stat) = host.call(&StatPath {
            path: at.to_owned(),
        }) else {
            continue;
        };
        let who = if stat.uid != 0 {
            Some(format!("its owner, uid {}", stat.uid))
        } else if stat.mode & 0o002 != 0 {
            Some("everyone".to_owned())
        } else if stat.mode & 0o020 != 0 {
            Some("its group".to_owned())
        } else {
            None
        };
        if let Some(who) = who {
            host.warn(&format!(
                "{what} {at} is writable by {who} (mode {:04o}): someone could have put another archive there; it is compared with the one in LDAP before anything changes",
                stat.mode
            ));
        }
    }
}

/// Compares the archive read from `path` with the copy in LDAP (which the leader's setup
/// uploaded, and which this node's setup downloads), before anything changes: another
/// cluster's archive sealed with the same password would otherwise set the node up with the
/// wrong CA and gossip key. Skipped, and said so, on a host without Carbonio's LDAP settings.
pub fn compare_with_ldap(
    host: &Host<'_>,
    path: &str,
    archive: &SecretText,
) -> Result<String, PluginError> {
    let copy = match host.call(&LdapCredentials {}) {
        Ok(copy) => copy,
        Err(e) if e.kind == ServiceErrorKind::NotFound => {
            return Ok(format!("not compared with LDAP's copy ({})", e.message))
        }
        Err(e) => {
            return Err(PluginError::operation(format!(
                "cannot compare {path} with the archive in LDAP: {}",
                e.message
            ))
            .hint(e.hint.unwrap_or_else(|| "make Carbonio's LDAP reachable from this node (its setup downloads the archive there too), then run it again".to_owned())))
        }
    };
    let place = format!(
        "{} on {} at {}",
        mesh::LDAP_ARCHIVE_ATTRIBUTE,
        mesh::LDAP_ARCHIVE_DN,
        copy.url
    );
    match &copy.archive {
        Some(ldap) if ldap.expose() == archive.expose() => {
            Ok(format!("it is the archive in LDAP ({place})"))
        }
        found => Err(PluginError::operation(format!(
            "{path} is not the archive in LDAP ({place}{}): another cluster's archive, or the leader's setup did not upload its new one; nothing was changed",
            if found.is_none() { ", which holds none" } else { "" }
        ))
        .hint("copy the archive again from this cluster's Mesh leader (scp LEADER:/etc/zextras/service-discover/cluster-credentials.tar.gpg FILE); `carbonio-mesh credentials verify` on the leader says whether LDAP holds its archive")),
    }
}

/// Where this node's address came from (for the outcome line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindSource {
    ConfigJson,
    RouteToLeader(String),
    OnlyAddress,
}

impl std::fmt::Display for BindSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindSource::ConfigJson => write!(f, "bind_addr in {CONFIG_JSON}"),
            BindSource::RouteToLeader(leader) => write!(f, "route to leader {leader}"),
            BindSource::OnlyAddress => write!(
                f,
                "only non-loopback IPv4 address of this host; the local Consul agent named no leader"
            ),
        }
    }
}

/// The leader's IP in `/v1/status/leader`'s `"IP:PORT"` (`[IP]:PORT` for IPv6); none for `""`.
pub fn leader_ip(status: &str) -> Option<IpAddr> {
    status.parse::<SocketAddr>().ok().map(|a| a.ip())
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `bind_addr` of config.json, when it is there.
fn configured(host: &Host<'_>) -> Option<String> {
    let text = host.read_file(CONFIG_JSON).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["bind_addr"].as_str().map(str::to_owned)
}

/// The address this node is set up on: config.json's `bind_addr` when it is one of this host's
/// addresses; else the local address the routing table uses to reach the Mesh leader (as the
/// local agent names it); else, only when the agent cannot tell and there is exactly one, this
/// host's non-loopback IPv4 address. Never `hostname -i` (often 127.0.1.1).
pub fn bind_address(host: &Host<'_>) -> Result<(String, BindSource), PluginError> {
    let local = host.call(&LocalAddresses {})?.addresses;
    let usable = |ip: &str| local.iter().any(|a| a == ip) && !is_loopback(ip);
    let bound = configured(host);
    if let Some(ip) = bound.as_deref().filter(|ip| usable(ip)) {
        return Ok((ip.to_owned(), BindSource::ConfigJson));
    }
    let fix = format!(
        "write this node's own address into {CONFIG_JSON} as {{\"bind_addr\": \"IP\"}}, then run it again"
    );
    let leader = host
        .consul_get::<String>(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())
        .ok()
        .and_then(|status| leader_ip(&status));
    if let Some(leader) = leader {
        let source = host
            .call(&SourceAddress {
                to: leader.to_string(),
            })?
            .addresses
            .into_iter()
            .next()
            .unwrap_or_default();
        if !usable(&source) {
            return Err(PluginError::operation(format!(
                "the route to the Mesh leader {leader} leaves from '{source}', which is not a usable address of this host"
            ))
            .hint(fix));
        }
        return Ok((source, BindSource::RouteToLeader(leader.to_string())));
    }
    let v4: Vec<&String> = local
        .iter()
        .filter(|a| usable(a) && a.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()))
        .collect();
    match v4.as_slice() {
        [only] => Ok(((*only).clone(), BindSource::OnlyAddress)),
        many => {
            let config = match bound {
                Some(ip) => format!("{CONFIG_JSON} names {ip}, not an address of this host"),
                None => format!("{CONFIG_JSON} has no bind_addr"),
            };
            let addresses = many
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Err(PluginError::operation(format!(
                "cannot tell which address to set this node up on: {config}, the local Consul agent names no leader, and this host has {} non-loopback IPv4 addresses ({})",
                many.len(),
                if addresses.is_empty() { "none" } else { &addresses }
            ))
            .hint(fix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_ip_comes_from_the_status_text() {
        assert_eq!(
            leader_ip("192.168.56.101:8300"),
            Some("192.168.56.101".parse().unwrap())
        );
        assert_eq!(
            leader_ip("[fd00::1]:8300"),
            Some("fd00::1".parse().unwrap())
        );
        assert_eq!(leader_ip(""), None);
        assert_eq!(leader_ip("192.168.56.101"), None);
    }

    #[test]
    fn the_source_is_named_in_the_outcome() {
        assert_eq!(
            BindSource::RouteToLeader("10.0.0.1".into()).to_string(),
            "route to leader 10.0.0.1"
        );
        assert!(BindSource::ConfigJson.to_string().contains("config.json"));
    }
}
