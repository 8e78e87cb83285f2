//! Where a Consul request goes, and whether its token may go there.
//!
//! The agent's host is resolved once, here, and the HTTP client is pinned to exactly those
//! addresses, so that the rules judge the addresses connected to, not a name: `localhost` is
//! whatever the resolver says it is. Rules for a token:
//!
//! - A token nobody gave explicitly (the archive's bootstrap token, which can do anything; or the
//!   token of an archive being checked) goes only over https, or over plain http to loopback,
//!   and there only to a listener root or the service user (`[mesh] service_user`) owns (the
//!   socket table says who: `crate::listeners`); otherwise it is not sent, and the error says
//!   why. While service-discover is down any local user can bind its port.
//! - A token given explicitly goes where the admin sends it; over plain http to another host a
//!   warning says so, once a run.
//!
//! A URL is only ever shown without its `user:password@` part ([`without_userinfo`]).

use std::net::{SocketAddr, ToSocketAddrs};

use crate::listeners::{self, Verdict};

/// The agent as connected to: whether it is https, and the addresses its host resolved to (the
/// client connects to nothing else).
#[derive(Debug, Clone)]
pub struct Destination {
    pub https: bool,
    /// The URL's host as written (a name to pin, or an IP literal), and its port.
    pub host: String,
    pub targets: Vec<SocketAddr>,
}

/// `url` without `user:password@`: the form every message and log line uses.
pub fn without_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        _ => url.to_owned(),
    }
}

/// The password of `url`'s userinfo (a secret of the run), if it has one.
pub fn userinfo_password(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let password = parsed.password()?;
    Some(percent_decoded(password))
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Destination {
    /// Resolves `url`'s host with the system resolver. `Err` says why it cannot be reached.
    pub fn resolve(url: &str) -> Result<Destination, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return Err("the address has no host".to_owned());
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut targets: Vec<SocketAddr> = Vec::new();
        let found = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        for address in found {
            if !targets.contains(&address) {
                targets.push(address);
            }
        }
        if targets.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        Ok(Destination {
            https: parsed.scheme() == "https",
            host,
            targets,
        })
    }

    /// Whether every address connected to is a loopback one.
    pub fn loopback_only(&self) -> bool {
        self.targets.iter().all(|t| t.ip().is_loopback())
    }

    /// The addresses, for messages: `127.0.0.1:8500, [::1]:8500`.
    pub fn addresses(&self) -> String {
        self.targets
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Who listens where the client connects, against the `trusted` uids: a foreign listener
    /// anywhere among the addresses refuses them all; `NothingListens` when none listens.
    pub fn listeners(&self, trusted: &[u32]) -> Result<Verdict, String> {
        let mut any = false;
        for target in &self.targets {
            match listeners::check(*target, trusted) {
                Ok(Verdict::Foreign { uid }) => return Ok(Verdict::Foreign { uid }),
                Ok(Verdict::Trusted) => any = true,
                Ok(Verdict::NothingListens) => {}
                Err(e) => return Err(format!("cannot read the socket table: {e}")),
            }
        }
        Ok(if any {
            Verdict::Trusted
        } else {
            Verdict::NothingListens
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_never_shown_and_its_password_is_known() {
        assert_eq!(
            without_userinfo("http://admin:S3cr%40t@127.0.0.1:8500"),
            "http://127.0.0.1:8500"
        );
        assert_eq!(
            without_userinfo("http://127.0.0.1:8500"),
            "http://127.0.0.1:8500"
        );
        assert_eq!(
            userinfo_password("http://admin:S3cr%40t@127.0.0.1:8500").as_deref(),
            Some("S3cr@t")
        );
        assert_eq!(userinfo_password("http://127.0.0.1:8500"), None);
    }

    #[test]
    fn the_destination_is_the_resolved_addresses() {
        let local = Destination::resolve("http://127.0.0.1:8500").unwrap();
        assert!(local.loopback_only() && !local.https);
        assert_eq!(local.addresses(), "127.0.0.1:8500");
        let v6 = Destination::resolve("https://[::1]:8501").unwrap();
        assert!(v6.loopback_only() && v6.https);
        assert_eq!(v6.host, "::1");
        let remote = Destination::resolve("http://192.0.2.9:8500").unwrap();
        assert!(!remote.loopback_only());
        assert!(Destination::resolve("http://name.invalid:8500").is_err());
    }
}
