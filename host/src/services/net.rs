//! The `net.*` services: resolving names and listing this host's addresses (read-only).

use std::net::{IpAddr, ToSocketAddrs};

use carbonio_mesh_plugin_api::services::{Addresses, Resolve, ServiceErrorKind, ServiceFailure};

use super::{failure, HostContext};

fn push_unique(list: &mut Vec<String>, address: IpAddr) {
    let text = address.to_string();
    if !list.contains(&text) {
        list.push(text);
    }
}

/// The addresses `name` has in an `/etc/hosts` text.
fn from_hosts_file(text: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(Ok(address)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if words.any(|w| w.eq_ignore_ascii_case(name)) {
            push_unique(&mut found, address);
        }
    }
    found
}

pub(super) fn resolve(
    context: &HostContext,
    request: Resolve,
) -> Result<Addresses, ServiceFailure> {
    if let Ok(address) = request.name.parse::<IpAddr>() {
        return Ok(Addresses {
            addresses: vec![address.to_string()],
        });
    }
    let not_found = || {
        failure(
            ServiceErrorKind::NotFound,
            format!("cannot resolve the host name {}", request.name),
        )
    };
    let addresses = if context.paths.is_rooted() {
        let hosts = context.paths.system("/etc/hosts");
        from_hosts_file(
            &std::fs::read_to_string(hosts).unwrap_or_default(),
            &request.name,
        )
    } else {
        let mut found = Vec::new();
        for address in (request.name.as_str(), 0)
            .to_socket_addrs()
            .map_err(|_| not_found())?
        {
            push_unique(&mut found, address.ip());
        }
        found
    };
    if addresses.is_empty() {
        return Err(not_found());
    }
    Ok(Addresses { addresses })
}

pub(super) fn local_addresses() -> Result<Addresses, ServiceFailure> {
    let interfaces = nix::ifaddrs::getifaddrs().map_err(|e| {
        failure(
            ServiceErrorKind::Failed,
            format!("cannot list the network interfaces: {e}"),
        )
    })?;
    let mut addresses = Vec::new();
    for interface in interfaces {
        let Some(address) = interface.address else {
            continue;
        };
        if let Some(v4) = address.as_sockaddr_in() {
            push_unique(&mut addresses, IpAddr::V4(v4.ip()));
        } else if let Some(v6) = address.as_sockaddr_in6() {
            push_unique(&mut addresses, IpAddr::V6(v6.ip()));
        }
    }
    Ok(Addresses { addresses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lookup_ignores_comments_and_case() {
        let text = "127.0.0.1 localhost\n# 10.0.0.9 srv1.example.com\n192.168.56.101 SRV1.example.com srv1 # leader\n";
        assert_eq!(
            from_hosts_file(text, "srv1.example.com"),
            ["192.168.56.101"]
        );
        assert_eq!(from_hosts_file(text, "srv1"), ["192.168.56.101"]);
        assert!(from_hosts_file(text, "srv2.example.com").is_empty());
    }

    #[test]
    fn loopback_is_among_local_addresses() {
        assert!(local_addresses()
            .unwrap()
            .addresses
            .contains(&"127.0.0.1".to_owned()));
    }
}
