//! The listening TCP sockets of this host and their owners, asked of the kernel over netlink's
//! `sock_diag` (what `ss -ltn` asks): a dump of the sockets in state LISTEN only.
//!
//! Why not `/proc/net/tcp`: the kernel writes a line for every TCP socket there, connections
//! included, and a Carbonio node that proxies mail holds thousands of them. With 20,000 sockets
//! reading both tables took 68 to 72 ms here, before every connection that carries a token; the
//! kernel answers this dump from its table of listeners alone. The tables stay the fallback
//! (listeners.rs) for a kernel without `sock_diag`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLMSG_ERROR` and `NLMSG_DONE` (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// `TCP_LISTEN` (include/net/tcp_states.h), as a bit of `idiag_states`.
const LISTEN_STATES: u32 = 1 << 10;
/// The sizes of `struct nlmsghdr`, `struct inet_diag_req_v2` and the part of
/// `struct inet_diag_msg` read here (up to and with `idiag_uid`).
const HEADER: usize = 16;
const REQUEST: usize = 56;
const MESSAGE: usize = 68;

/// One listening socket: its local address and its owner's uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub address: SocketAddr,
    pub uid: u32,
}

/// Every listening TCP socket of this host, IPv4 and IPv6.
pub fn listening() -> io::Result<Vec<Listening>> {
    let tcp = nix::libc::IPPROTO_TCP as u8;
    let mut sockets = dump(AddressFamily::Inet, tcp)?;
    sockets.extend(dump(AddressFamily::Inet6, tcp)?);
    Ok(sockets)
}

/// The request for the listening sockets of `family` and `protocol`.
fn request(family: AddressFamily, protocol: u8) -> [u8; HEADER + REQUEST] {
    let mut message = [0u8; HEADER + REQUEST];
    message[0..4].copy_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    message[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    message[8..12].copy_from_slice(&1u32.to_ne_bytes());
    message[HEADER] = family as u8;
    message[HEADER + 1] = protocol;
    message[HEADER + 4..HEADER + 8].copy_from_slice(&LISTEN_STATES.to_ne_bytes());
    message
}

fn dump(family: AddressFamily, protocol: u8) -> io::Result<Vec<Listening>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    send(
        fd.as_raw_fd(),
        &request(family, protocol),
        MsgFlags::empty(),
    )?;
    let mut sockets = Vec::new();
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let read = recv(fd.as_raw_fd(), &mut buffer, MsgFlags::empty())?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag: no answer",
            ));
        }
        if parse(&buffer[..read], &mut sockets)? {
            return Ok(sockets);
        }
    }
}

/// The messages of one datagram into `sockets`; `true` at the end of the dump. A dump that
/// failed ends in an error: `NLMSG_ERROR`, or `NLMSG_DONE` with a negative status (what the
/// kernel answers when the dump itself fails, e.g. without the `tcp_diag` module): never an
/// empty list, which would say that nothing listens.
fn parse(mut datagram: &[u8], sockets: &mut Vec<Listening>) -> io::Result<bool> {
    let u16_at = |bytes: &[u8], at: usize| u16::from_ne_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |bytes: &[u8], at: usize| {
        u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    };
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "sock_diag: malformed answer");
    while datagram.len() >= HEADER {
        let length = u32_at(datagram, 0) as usize;
        if length < HEADER || length > datagram.len() {
            return Err(malformed());
        }
        let payload = &datagram[HEADER..length];
        let status = || payload.get(..4).map_or(0, |_| u32_at(payload, 0) as i32);
        match u16_at(datagram, 4) {
            NLMSG_DONE if status() < 0 => {
                return Err(io::Error::from_raw_os_error(status().wrapping_neg()))
            }
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                return Err(match status() {
                    0 => io::Error::new(io::ErrorKind::InvalidData, "sock_diag: empty error"),
                    errno => io::Error::from_raw_os_error(errno.wrapping_neg()),
                })
            }
            SOCK_DIAG_BY_FAMILY => sockets.push(socket_of(payload).ok_or_else(malformed)?),
            _ => {}
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        datagram = &datagram[((length + 3) & !3).min(datagram.len())..];
    }
    Ok(false)
}

/// One `struct inet_diag_msg`: family, state, timer, retransmits, then `struct inet_diag_sockid`
/// (source port and address in network order, ...), expires, queues, uid.
fn socket_of(message: &[u8]) -> Option<Listening> {
    if message.len() < MESSAGE {
        return None;
    }
    let port = u16::from_be_bytes([message[4], message[5]]);
    let source = &message[8..24];
    let ip = match i32::from(message[0]) {
        nix::libc::AF_INET => IpAddr::V4(Ipv4Addr::new(source[0], source[1], source[2], source[3])),
        nix::libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(source).ok()?)),
        _ => return None,
    };
    let uid = u32::from_ne_bytes(message[64..68].try_into().ok()?);
    Some(Listening {
        address: SocketAddr::new(ip, port),
        uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_test_is_in_the_dump_with_its_owner_and_a_connection_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let me = nix::unistd::Uid::effective().as_raw();
        let sockets = listening().unwrap();
        assert!(
            sockets.contains(&Listening {
                address: addr,
                uid: me
            }),
            "{sockets:?}"
        );
        let client = client.local_addr().unwrap();
        assert!(sockets.iter().all(|s| s.address != client));
    }

    #[test]
    fn an_ipv6_listener_is_read_with_its_address() {
        let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
            return; // no IPv6 on this host: nothing to read
        };
        let addr = listener.local_addr().unwrap();
        assert!(listening().unwrap().iter().any(|s| s.address == addr));
    }

    #[test]
    fn a_dump_the_kernel_cannot_make_is_an_error_not_an_empty_list() {
        // No protocol 255 has a diag handler: the kernel ends the dump with NLMSG_DONE and
        // -ENOENT, as it does for TCP without the tcp_diag module.
        let error = dump(AddressFamily::Inet, 255).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(nix::libc::ENOENT), "{error}");
        let mut done = [0u8; HEADER + 4];
        done[0..4].copy_from_slice(&((HEADER + 4) as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        done[HEADER..].copy_from_slice(&(-nix::libc::ENOENT).to_ne_bytes());
        let error = parse(&done, &mut Vec::new()).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(nix::libc::ENOENT));
        done[HEADER..].copy_from_slice(&0i32.to_ne_bytes());
        assert!(parse(&done, &mut Vec::new()).unwrap());
    }

    #[test]
    fn an_error_message_is_an_error_and_a_short_message_is_malformed() {
        let mut error = [0u8; HEADER + 4];
        error[0..4].copy_from_slice(&((HEADER + 4) as u32).to_ne_bytes());
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[HEADER..].copy_from_slice(&(-nix::libc::EPERM).to_ne_bytes());
        let e = parse(&error, &mut Vec::new()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(nix::libc::EPERM));
        let mut short = [0u8; HEADER + 8];
        short[0..4].copy_from_slice(&((HEADER + 8) as u32).to_ne_bytes());
        short[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        assert_eq!(
            parse(&short, &mut Vec::new()).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
