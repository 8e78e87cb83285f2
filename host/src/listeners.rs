//! Who owns the socket listening at an address of this host: the kernel's listening sockets
//! (sock_diag.rs), or, where the kernel has no `sock_diag`, its socket tables (`/proc/net/tcp`
//! and `/proc/net/tcp6`: each socket's local address, state and owner uid).
//!
//! A secret carbonio-mesh finds by itself (the archive's bootstrap token, LDAP's bind password
//! from localconfig.xml) goes to a listener on this host only when root or the service's own user
//! owns it: while the service is down (a restart, an upgrade, the stop-service step of a
//! regeneration) any local user can bind its port first. The table is read just before each
//! connection; the port cannot change hands while its owner keeps it open (another user cannot
//! share it, `SO_REUSEPORT` needs the same uid), so what is left is the moment between the
//! reading and the connection, when the owner would have to close and the other bind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::sock_diag::Listening;

/// Linux's `TCP_LISTEN` state, as the table writes it.
const LISTEN: &str = "0A";

/// An address of the table: `0100007F:1F90` (IPv4, the 32-bit word in host order) or 32 hex
/// digits and a port (IPv6, four words in host order).
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The listening sockets of one table's text.
fn listening(table: &str) -> Vec<Listening> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) != Some(&LISTEN) {
                return None;
            }
            Some(Listening {
                address: parse_address(fields.get(1)?)?,
                uid: fields.get(7)?.parse().ok()?,
            })
        })
        .collect()
}

/// Whether a connection to `target` could be accepted by a socket listening at `at`: the same
/// port, and the same address or a wildcard one of a family that accepts it (a `[::]` socket
/// takes IPv4 too unless it is IPv6-only, which the table does not say: counted).
fn accepts(at: SocketAddr, target: SocketAddr) -> bool {
    if at.port() != target.port() {
        return false;
    }
    let target_ip = match target.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match (at.ip(), target_ip) {
        (IpAddr::V4(at), IpAddr::V4(to)) => at.is_unspecified() || at == to,
        (IpAddr::V6(at), IpAddr::V4(to)) => at.is_unspecified() || at.to_ipv4_mapped() == Some(to),
        (IpAddr::V6(at), IpAddr::V6(to)) => at.is_unspecified() || at == to,
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// What the table says about `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every socket that could take the connection belongs to one of the trusted users.
    Trusted,
    /// Nothing listens there: the connection would be refused.
    NothingListens,
    /// A socket that could take the connection belongs to this other user.
    Foreign { uid: u32 },
}

/// The uids of the `sockets` listening where a connection to `target` would go.
fn owners_in(sockets: &[Listening], target: SocketAddr) -> Vec<u32> {
    sockets
        .iter()
        .filter(|l| accepts(l.address, target))
        .map(|l| l.uid)
        .collect()
}

/// The listening sockets of the tables `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_in_tables() -> std::io::Result<Vec<Listening>> {
    let mut sockets = Vec::new();
    for name in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(name) {
            Ok(text) => sockets.extend(listening(&text)),
            // A host without IPv6 has no tcp6 table.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name.ends_with('6') => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sockets)
}

/// Who listens at `target` on this host, against the `trusted` uids. Read just now, from the
/// kernel's listeners or, when it refuses `sock_diag` (an old or confined kernel), its tables.
/// "Nothing listens" is confirmed by the tables: a secret goes ahead on that answer (an LDAP
/// bind), so it never rests on the dump alone; it is also the rare case, a retry's.
pub fn check(target: SocketAddr, trusted: &[u32]) -> std::io::Result<Verdict> {
    let mut owners = match crate::sock_diag::listening() {
        Ok(sockets) => owners_in(&sockets, target),
        Err(e) => {
            tracing::debug!("sock_diag refused ({e}): reading /proc/net/tcp");
            Vec::new()
        }
    };
    if owners.is_empty() {
        owners = owners_in(&listening_in_tables()?, target);
    }
    if let Some(&uid) = owners.iter().find(|uid| !trusted.contains(uid)) {
        return Ok(Verdict::Foreign { uid });
    }
    Ok(if owners.is_empty() {
        Verdict::NothingListens
    } else {
        Verdict::Trusted
    })
}

/// `uid 65534 (nobody)`, or `uid N` for a uid without a name.
pub fn describe_uid(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// The uid of user `name`, when there is one.
pub fn uid_of(name: &str) -> Option<u32> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

/// Whether `ip` is an address of this host (loopback or one of its interfaces'): only those have
/// their listeners in this host's table.
pub fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
        || nix::ifaddrs::getifaddrs().is_ok_and(|mut interfaces| {
            interfaces.any(|interface| {
                interface.address.is_some_and(|address| {
                    address
                        .as_sockaddr_in()
                        .map(|v4| IpAddr::V4(v4.ip()))
                        .or_else(|| address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                        == Some(ip)
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2134 00000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 1082 1 0 100 0 0 10 0
   1: 00000000:0185 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1083 1 0 100 0 0 10 0
   2: 0100007F:2134 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000 65534        0 1084 1 0 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 2001 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:2135 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0        0 2002 1 0 100 0 0 10 0
";

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_table_names_the_owner_of_the_listener_a_connection_reaches() {
        let tables: Vec<Listening> = [TCP, TCP6].iter().flat_map(|t| listening(t)).collect();
        // 127.0.0.1:8500 (0x2134) by uid 998; the established connection of uid 65534 is not a
        // listener.
        assert_eq!(owners_in(&tables, at("127.0.0.1:8500")), [998]);
        // 0.0.0.0:389 takes a connection to any IPv4 address of the port.
        assert_eq!(owners_in(&tables, at("192.0.2.7:389")), [0]);
        // [::]:8080 (0x1F90) takes IPv4 and IPv6 connections.
        assert_eq!(owners_in(&tables, at("127.0.0.1:8080")), [65534]);
        assert_eq!(owners_in(&tables, at("[::1]:8080")), [65534]);
        // [::1]:8501 only IPv6 loopback.
        assert_eq!(owners_in(&tables, at("[::1]:8501")), [0]);
        assert!(owners_in(&tables, at("127.0.0.1:8501")).is_empty());
        assert!(owners_in(&tables, at("127.0.0.1:9")).is_empty());
    }

    #[test]
    fn the_tables_say_what_sock_diag_says_of_this_tests_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mine = |sockets: Vec<Listening>| sockets.into_iter().find(|s| s.address == addr);
        let from_tables = mine(listening_in_tables().unwrap());
        assert!(from_tables.is_some());
        assert_eq!(from_tables, mine(crate::sock_diag::listening().unwrap()));
    }

    #[test]
    fn a_listener_of_this_test_is_found_with_its_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let me = nix::unistd::Uid::effective().as_raw();
        let addr = listener.local_addr().unwrap();
        assert_eq!(check(addr, &[me]).unwrap(), Verdict::Trusted);
        assert_eq!(
            check(addr, &[me + 1]).unwrap(),
            Verdict::Foreign { uid: me }
        );
        // A connected client's own port is in the table too, but nothing listens there (and,
        // unlike the port of a dropped listener, no other test can take it meanwhile).
        let client = std::net::TcpStream::connect(addr).unwrap();
        let client_port = client.local_addr().unwrap();
        assert_eq!(check(client_port, &[me]).unwrap(), Verdict::NothingListens);
        assert!(is_local("127.0.0.1".parse().unwrap()));
    }
}
