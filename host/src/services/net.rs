//! The `net.*` services: resolving names, listing this host's addresses and the one it reaches
//! another host from (read-only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs, UdpSocket};

use carbonio_mesh_plugin_api::services::{
    Addresses, Resolve, ServiceErrorKind, ServiceFailure, SourceAddress,
};

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
        let mut hosts = String::new();
        if let Ok(file) = context.paths.open(
            "/etc/hosts",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK,
            nix::sys::stat::Mode::empty(),
        ) {
            let _ = std::io::Read::read_to_string(&mut std::fs::File::from(file), &mut hosts);
        }
        from_hosts_file(&hosts, &request.name)
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

/// `net.source-address`: the local address the kernel picks to reach `to`. Connecting a UDP
/// socket only looks up the route (no packet is sent, so port 9, discard, is never reached);
/// `local_addr` then names the source address, as `ip route get TO` does.
pub(super) fn source_address(request: SourceAddress) -> Result<Addresses, ServiceFailure> {
    let to: IpAddr = request.to.trim().parse().map_err(|_| {
        failure(
            ServiceErrorKind::Invalid,
            format!("'{}' is not an IP address", request.to),
        )
    })?;
    let any = match to {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let no_route = |e: std::io::Error| {
        failure(
            ServiceErrorKind::Failed,
            format!("no route from this host to {to}: {e}"),
        )
    };
    let socket = UdpSocket::bind((any, 0)).map_err(no_route)?;
    socket.connect((to, 9)).map_err(no_route)?;
    let local = socket.local_addr().map_err(no_route)?.ip();
    Ok(Addresses {
        addresses: vec![local.to_string()],
    })
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

    #[test]
    fn the_source_address_towards_loopback_is_loopback() {
        let to = |ip: &str| source_address(SourceAddress { to: ip.into() });
        assert_eq!(to("127.0.0.1").unwrap().addresses, ["127.0.0.1"]);
        // Every address of 127.0.0.0/8 is reached from 127.0.0.1 itself.
        assert_eq!(to("127.0.0.2").unwrap().addresses, ["127.0.0.1"]);
        if std::net::UdpSocket::bind("[::1]:0").is_ok() {
            assert_eq!(to("::1").unwrap().addresses, ["::1"]);
        }
        let bad = to("leader.example.com").unwrap_err();
        assert_eq!(bad.kind, ServiceErrorKind::Invalid);
        assert!(bad.message.contains("not an IP address"), "{}", bad.message);
    }
}
