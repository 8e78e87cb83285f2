//! The one Consul HTTP client every plugin uses (host service `consul`).
//!
//! Consul CLI conventions: `--http-addr` / `CONSUL_HTTP_ADDR` (default `http://127.0.0.1:8500`;
//! without a scheme, `https` when `CONSUL_HTTP_SSL` is true), the token from `--token`,
//! `--token-file`, `CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_TOKEN_FILE` (first found wins, flags beat the
//! environment), else the bootstrap token in the Mesh credentials archive when the archive and the
//! Mesh password file are readable, sent as `X-Consul-Token`; token files and the archive are read
//! on the first request that needs a token, so commands that never need one never fail on them; `CONSUL_CACERT`, `CONSUL_CLIENT_CERT` /
//! `CONSUL_CLIENT_KEY`, `--datacenter` as `?dc=`, `--stale`. A connection gets 3 s and a whole request `--timeout`
//! (10 s); a read whose connection fails is tried 3 times (each retry shown on a terminal), one
//! that timed out is not, so a read gives up within 15 s; answers are capped in size; every error
//! keeps Consul's own text and says what to do.
//!
//! What it is told (address, token, TLS files, time limit) is resolved in `settings.rs`.

use std::cell::OnceCell;
use std::time::Duration;

use carbonio_mesh_plugin_api::services::{
    ConsulRequest, ConsulResponse, ServiceErrorKind, ServiceFailure,
};
use zeroize::Zeroizing;

use crate::consul::destination::Destination;
pub use crate::consul::settings::{ConsulFlags, ConsulSettings, SettingsError, TokenSource};
use crate::exit;

/// 5,000 members are about 4 MB of JSON; this leaves room for very large clusters.
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// A read whose connection fails is tried this many times in all.
const READ_ATTEMPTS: u32 = 3;
/// How long a connection may take to open: an agent on this node or the LAN answers in
/// milliseconds, so a few seconds means it is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The HTTP machinery, built on first use.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// `scheme://host:port` requests go to: the configured address, or with
    /// `CONSUL_TLS_SERVER_NAME` that name, pinned to the address's IPs (`ClientBuilder::resolve`),
    /// so SNI and the certificate check use the name while the connection goes to the address.
    base: String,
    /// The addresses the client connects to (its host's name is pinned to them): what the token
    /// rules judge.
    destination: Destination,
}

/// Consul's answer as the host hands it to the plugin.
#[derive(Debug)]
pub struct ConsulAnswer {
    /// Everything but the JSON body.
    pub meta: ConsulResponse,
    /// The body as Consul sent it, for a request saving it (a snapshot is binary).
    pub raw: Option<Vec<u8>>,
    /// `{"json":` followed by the JSON body as Consul sent it (checked UTF-8, not parsed): the
    /// body is read straight into the buffer that becomes the answer.
    json_buffer: Option<Vec<u8>>,
}

/// What the answer buffer starts with, before Consul's body.
const JSON_PREFIX: &[u8] = b"{\"json\":";

impl ConsulAnswer {
    /// The `ConsulResponse` JSON with the body spliced in as its `json` field. A member list of
    /// 5,000 agents is 4 MB: building a tree of it only to serialise it again would cost more
    /// than fetching it.
    pub fn into_json(self) -> String {
        let meta = serde_json::to_string(&self.meta).expect("the answer's fields always encode");
        let Some(mut buffer) = self.json_buffer else {
            return meta;
        };
        buffer.push(b',');
        buffer.extend_from_slice(&meta.as_bytes()[1..]); // the fields after the opening brace
        String::from_utf8(buffer).expect("the body was checked to be UTF-8 and the rest is ours")
    }
}

/// The client, built on first use (plugins that never call Consul pay nothing).
pub struct ConsulClient {
    settings: ConsulSettings,
    /// Built on first use: reqwest's async client on a current-thread runtime, driven from this
    /// thread. (The blocking client hands every body chunk across threads: measured at 220
    /// `epoll_wait` and 127 `futex` calls for a 4 MB member list.)
    http: OnceCell<Http>,
    /// An explicit token went over plain http to another host, and the warning was given.
    warned_plain_http: std::cell::Cell<bool>,
}

/// What to do when the agent cannot be reached.
const UNREACHABLE_HINT: &str = "is service-discover running on this node (systemctl status service-discover)? Otherwise point --http-addr or CONSUL_HTTP_ADDR at a running agent";

fn failure(kind: ServiceErrorKind, message: String, hint: &str) -> ServiceFailure {
    ServiceFailure {
        kind,
        message,
        hint: Some(hint.to_owned()),
        exit_code: None,
    }
}

/// The token nobody gave, in words: `the Mesh archive's bootstrap token`.
fn implicit_token(source: TokenSource) -> &'static str {
    match source {
        TokenSource::Request => "the token of the credentials archive being checked",
        _ => "the Mesh archive's bootstrap token",
    }
}

/// A request's path for messages (`v1/agent/members`).
fn url_path(request: &ConsulRequest) -> String {
    request.path.join("/")
}

impl ConsulClient {
    pub fn new(settings: ConsulSettings) -> Self {
        ConsulClient {
            settings,
            http: OnceCell::new(),
            warned_plain_http: std::cell::Cell::new(false),
        }
    }

    /// The token requests carry, once one was needed (for redaction).
    pub fn token_in_use(&self) -> Option<&str> {
        self.settings.token_in_use()
    }

    fn http(&self) -> Result<&Http, ServiceFailure> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let tls_failure = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
            failure(
                ServiceErrorKind::Invalid,
                format!("cannot use {what} {}: {e}", path.display()),
                "check CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY",
            )
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(self.settings.timeout)
            .no_proxy()
            // A redirect would carry X-Consul-Token to wherever it points (reqwest strips only
            // the standard credential headers): Consul never redirects, so neither do we.
            .redirect(reqwest::redirect::Policy::none())
            // No connection kept between requests: a workflow restarts the agent between two
            // of them (stop-service, then setup starts it), and a kept connection to the agent
            // that stopped fails the next request ("connection closed before message
            // completed": the current-thread runtime does not see it close while idle).
            .pool_max_idle_per_host(0)
            .user_agent(concat!("carbonio-mesh/", env!("CARGO_PKG_VERSION")));
        let destination = Destination::resolve(&self.settings.addr).map_err(|why| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot reach Consul at {}: {why}", self.settings.shown),
                UNREACHABLE_HINT,
            )
        })?;
        let mut base = self.settings.addr.clone();
        // The client connects to the resolved addresses and nothing else: the token rules judge
        // them. With CONSUL_TLS_SERVER_NAME the name, a DNS name only, is pinned to them.
        if let Some(name) = &self.settings.tls_server_name {
            base = self.pin_server_name(name)?;
            builder = builder.resolve_to_addrs(name, &destination.targets);
        } else if destination.host.parse::<std::net::IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(&destination.host, &destination.targets);
        }
        if let Some(path) = &self.settings.ca_cert {
            let pem =
                std::fs::read(path).map_err(|e| tls_failure("the CA certificate", path, &e))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| tls_failure("the CA certificate", path, &e))?;
            builder = builder.add_root_certificate(cert);
        }
        if let Some((cert, key)) = &self.settings.client_cert {
            let mut pem =
                std::fs::read(cert).map_err(|e| tls_failure("the client certificate", cert, &e))?;
            pem.extend(std::fs::read(key).map_err(|e| tls_failure("the client key", key, &e))?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| tls_failure("the client certificate", cert, &e))?;
            builder = builder.identity(identity);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                failure(
                    ServiceErrorKind::Failed,
                    format!("cannot set up the HTTP runtime: {e}"),
                    "this is a bug",
                )
            })?;
        // The client needs the runtime's reactor to exist while it is built.
        let _context = runtime.enter();
        let client = builder.build().map_err(|e| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot set up the HTTP client: {e}"),
                "this is a bug",
            )
        })?;
        Ok(self.http.get_or_init(|| Http {
            runtime,
            client,
            base,
            destination,
        }))
    }

    /// `CONSUL_TLS_SERVER_NAME`: the base URL with the name in place of the host (the client
    /// pins the name to the address's IPs).
    fn pin_server_name(&self, name: &str) -> Result<String, ServiceFailure> {
        let bad = |why: String| {
            failure(
                ServiceErrorKind::Invalid,
                why,
                "check CONSUL_HTTP_ADDR and CONSUL_TLS_SERVER_NAME",
            )
        };
        // A DNS name and nothing else: an IP literal would be connected to directly (skipping
        // the pin), and `/`, `#`, `@`, `:` would change the URL the name is put into.
        let dns_name = !name.is_empty()
            && name.parse::<std::net::IpAddr>().is_err()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !dns_name {
            return Err(bad(format!(
                "CONSUL_TLS_SERVER_NAME {name:?} is not a DNS name"
            )));
        }
        let url = reqwest::Url::parse(&self.settings.addr).map_err(|e| {
            bad(format!(
                "the Consul address {} is not a URL: {e}",
                self.settings.shown
            ))
        })?;
        let Some(port) = url.port_or_known_default() else {
            return Err(bad(format!(
                "the Consul address {} has no port",
                self.settings.shown
            )));
        };
        Ok(format!("{}://{name}:{port}", url.scheme()))
    }

    /// The request's URL: `base`, then the path segments, percent-encoded by `Url` (node names
    /// and service IDs may hold any character: a `/` or `?` stays inside its segment), then the
    /// query with `dc` and `stale` added.
    fn url(&self, base: &str, request: &ConsulRequest) -> Result<String, ServiceFailure> {
        // `Url` drops `.` and `..` segments, which would send the request to another endpoint;
        // an empty one would too.
        if let Some(bad) = request
            .path
            .iter()
            .find(|s| matches!(s.as_str(), "" | "." | ".."))
        {
            return Err(failure(
                ServiceErrorKind::Invalid,
                format!("'{bad}' cannot be part of a Consul request path"),
                "give the node name, service ID or check ID as Consul lists it",
            ));
        }
        let mut url = reqwest::Url::parse(base).map_err(|e| {
            failure(
                ServiceErrorKind::Invalid,
                format!("the Consul address {base} is not a URL: {e}"),
                "check --http-addr or CONSUL_HTTP_ADDR",
            )
        })?;
        url.path_segments_mut()
            .map_err(|()| {
                failure(
                    ServiceErrorKind::Invalid,
                    format!("the Consul address {base} cannot have a path"),
                    "check --http-addr or CONSUL_HTTP_ADDR",
                )
            })?
            .pop_if_empty()
            .extend(&request.path);
        let mut query: Vec<(&str, &str)> = request
            .query
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        if let Some(dc) = &self.settings.datacenter {
            query.push(("dc", dc));
        }
        if self.settings.stale && request.method == "GET" {
            query.push(("stale", ""));
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                if value.is_empty() {
                    pairs.append_key_only(key);
                } else {
                    pairs.append_pair(key, value);
                }
            }
        }
        Ok(url.into())
    }

    /// Performs `request`; see the module docs.
    pub fn request(&self, request: &ConsulRequest) -> Result<ConsulAnswer, ServiceFailure> {
        let Http {
            runtime,
            client,
            base,
            destination,
        } = self.http()?;
        let url = self.url(base, request)?;
        // What logs show: the same URL without userinfo.
        let shown_url = crate::consul::destination::without_userinfo(&url);
        let method = match request.method.as_str() {
            "GET" => reqwest::Method::GET,
            "PUT" => reqwest::Method::PUT,
            "DELETE" => reqwest::Method::DELETE,
            "POST" => reqwest::Method::POST,
            other => {
                return Err(failure(
                    ServiceErrorKind::Invalid,
                    format!("Consul requests are GET, PUT, POST or DELETE, not {other}"),
                    "this is a bug in the plugin",
                ))
            }
        };
        let given = request
            .token
            .as_ref()
            .map(|t| (Zeroizing::new(t.expose().to_owned()), TokenSource::Request));
        let token = if request.anonymous {
            None
        } else if given.is_some() {
            given.as_ref()
        } else {
            self.settings.token()?
        };
        let source = token.map(|(_, source)| *source);
        if let Some(source) = source {
            self.check_destination(source, destination)?;
        }
        // A token nobody gave goes over plain http only to a listener root or the service user
        // owns, checked before every attempt (crate::destination).
        let guarded = source.is_some_and(TokenSource::is_implicit) && !destination.https;
        let attempts = if method == reqwest::Method::GET {
            READ_ATTEMPTS
        } else {
            1
        };
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            if guarded && !self.listener_gate(destination, source, attempt, attempts)? {
                continue;
            }
            let mut builder = client.request(method.clone(), &url);
            if let Some((token, _)) = token {
                builder = builder.header("X-Consul-Token", token.as_str());
            }
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            tracing::debug!("consul: {} {shown_url} (attempt {attempt})", request.method);
            match runtime.block_on(async { builder.send().await }) {
                Ok(response) => break response,
                // A connection that failed may work a moment later (the agent restarting); an
                // agent that accepted and did not answer in time will not do better on retry.
                Err(error) if attempt < attempts && error.is_connect() => {
                    crate::terminal::progress::say(&format!(
                        "Consul at {} did not accept the connection (attempt {attempt} of {attempts}); trying again",
                        self.settings.shown
                    ));
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt * attempt)));
                }
                Err(error) if error.is_timeout() && !error.is_connect() => {
                    return Err(self.timed_out(&url_path(request)))
                }
                Err(error) => return Err(self.unreachable(&error)),
            }
        };
        self.answer(runtime, response, request, token.is_some())
    }

    /// Before an attempt carrying a token nobody gave over plain http: `true` when a listener
    /// root or the service user owns is where the client connects; `false` when nothing listens
    /// yet and the attempt is to be tried again (after a pause, said on a terminal); an error
    /// when another user listens there, or nothing does at the last attempt.
    fn listener_gate(
        &self,
        destination: &Destination,
        source: Option<TokenSource>,
        attempt: u32,
        attempts: u32,
    ) -> Result<bool, ServiceFailure> {
        if self.trusted_listener(destination, source)? {
            return Ok(true);
        }
        if attempt < attempts {
            crate::terminal::progress::say(&format!(
                "nothing listens at {} yet (attempt {attempt} of {attempts}); trying again",
                destination.addresses()
            ));
            std::thread::sleep(Duration::from_millis(100 * u64::from(attempt * attempt)));
            return Ok(false);
        }
        Err(failure(
            ServiceErrorKind::Failed,
            format!(
                "cannot reach Consul at {}: nothing listens at {}",
                self.settings.shown,
                destination.addresses()
            ),
            UNREACHABLE_HINT,
        ))
    }

    /// Consul's answer to `request`: status, headers and the body, read straight into the
    /// buffer the plugin's answer is made of.
    fn answer(
        &self,
        runtime: &tokio::runtime::Runtime,
        mut response: reqwest::Response,
        request: &ConsulRequest,
        token_sent: bool,
    ) -> Result<ConsulAnswer, ServiceFailure> {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let index = header("X-Consul-Index").and_then(|v| v.parse().ok());
        let default_acl_policy = header("X-Consul-Default-ACL-Policy");
        let is_json = header("Content-Type").is_some_and(|t| t.starts_with("application/json"));
        // Read straight into the answer buffer, sized from Content-Length: no growing, no copy.
        let expected = response.content_length().unwrap_or(0).min(MAX_BODY) as usize;
        let mut buffer = Vec::with_capacity(JSON_PREFIX.len() + expected + 256);
        buffer.extend_from_slice(JSON_PREFIX);
        let read = runtime.block_on(async {
            while let Some(chunk) = response.chunk().await? {
                buffer.extend_from_slice(&chunk);
                if (buffer.len() - JSON_PREFIX.len()) as u64 > MAX_BODY {
                    break;
                }
            }
            Ok::<(), reqwest::Error>(())
        });
        read.map_err(|e| {
            if e.is_timeout() {
                self.timed_out(&url_path(request))
            } else {
                self.unreachable(&e)
            }
        })?;
        let body = &buffer[JSON_PREFIX.len()..];
        if body.len() as u64 > MAX_BODY {
            return Err(failure(
                ServiceErrorKind::Failed,
                format!(
                    "Consul's answer to {} is larger than {MAX_BODY} bytes",
                    request.path.join("/")
                ),
                "narrow the query",
            ));
        }
        if !(200..300).contains(&status) && !request.accept_status.contains(&status) {
            return Err(self.consul_error(status, &String::from_utf8_lossy(body), token_sent));
        }
        let meta = |text: String| ConsulResponse {
            status,
            json: None,
            text,
            index,
            default_acl_policy,
            token_sent,
        };
        if request.save_in_backup.is_some() {
            return Ok(ConsulAnswer {
                meta: meta(String::new()),
                raw: Some(body.to_vec()),
                json_buffer: None,
            });
        }
        if !is_json || body.is_empty() {
            return Ok(ConsulAnswer {
                meta: meta(String::from_utf8_lossy(body).into_owned()),
                raw: None,
                json_buffer: None,
            });
        }
        let bad_json = |why: String| {
            failure(
                ServiceErrorKind::Failed,
                format!("Consul answered malformed JSON: {why}"),
                "check the address points at a Consul agent",
            )
        };
        std::str::from_utf8(body).map_err(|_| bad_json("not UTF-8".to_owned()))?;
        // Not parsed here: the plugin's typed decoding of the whole answer is the check. A body
        // that is not exactly one JSON value cannot pass it (trailing text, or a second `json`
        // field, is an error), and a 4 MB member list is not scanned twice.
        Ok(ConsulAnswer {
            meta: meta(String::new()),
            raw: None,
            json_buffer: Some(buffer),
        })
    }

    /// The token rules that do not depend on who listens (see `crate::destination`): a token
    /// nobody gave goes only over https or to loopback; an explicit one over plain http to
    /// another host is warned about, once a run.
    fn check_destination(
        &self,
        source: TokenSource,
        destination: &Destination,
    ) -> Result<(), ServiceFailure> {
        if destination.https || destination.loopback_only() {
            return Ok(());
        }
        if source.is_implicit() {
            return Err(ServiceFailure {
                kind: ServiceErrorKind::Invalid,
                message: format!(
                    "{} is sent only to a local agent or over https, and {} is neither: it is {}",
                    implicit_token(source),
                    self.settings.shown,
                    destination.addresses()
                ),
                hint: Some(
                    "give the token explicitly to send it there: --token-file FILE or CONSUL_HTTP_TOKEN_FILE=FILE"
                        .to_owned(),
                ),
                exit_code: Some(exit::USAGE),
            });
        }
        if !self.warned_plain_http.replace(true) {
            tracing::warn!(
                "the Consul token from {} goes to {} over plain http, where anyone on the network path can read it; use https (an https:// address, or CONSUL_HTTP_SSL=true)",
                source.describe(),
                destination.addresses()
            );
        }
        Ok(())
    }

    /// Whether a listener root or the service user owns is where the client connects
    /// (`false`: nothing listens); a listener of anyone else refuses the request.
    fn trusted_listener(
        &self,
        destination: &Destination,
        source: Option<TokenSource>,
    ) -> Result<bool, ServiceFailure> {
        let what = source.map_or("the token", implicit_token);
        let verdict = destination
            .listeners(&self.settings.trusted_owners)
            .map_err(|why| {
                failure(
                    ServiceErrorKind::Failed,
                    format!(
                        "{what} is not sent to {}: {why}",
                        destination.addresses()
                    ),
                    "carbonio-mesh reads /proc/net/tcp to see who listens: check that /proc is mounted",
                )
            })?;
        match verdict {
            crate::listeners::Verdict::Trusted => Ok(true),
            crate::listeners::Verdict::NothingListens => Ok(false),
            crate::listeners::Verdict::Foreign { uid } => Err(failure(
                ServiceErrorKind::Denied,
                format!(
                    "{what} is not sent to {}: the socket listening there belongs to {}, not to {}",
                    destination.addresses(),
                    crate::listeners::describe_uid(uid),
                    self.settings.owners_named
                ),
                "while service-discover is down anyone on this host can listen on its port: see who does (ss -ltnp), and start service-discover again; if Consul really runs as that user, set [mesh] service_user; to send a token there anyway, give it explicitly (--token-file FILE)",
            )),
        }
    }

    /// The agent accepted the connection and did not answer within the timeout.
    fn timed_out(&self, path: &str) -> ServiceFailure {
        failure(
            ServiceErrorKind::Failed,
            format!(
                "Consul at {} accepted the connection but did not answer /{path} within {} s (the timeout)",
                self.settings.shown,
                self.settings.timeout.as_secs_f64()
            ),
            "the agent is overloaded or stuck: check service-discover on this node (systemctl status service-discover, journalctl -u service-discover); give it longer with --timeout SECONDS",
        )
    }

    fn unreachable(&self, error: &dyn std::error::Error) -> ServiceFailure {
        // reqwest keeps the useful part ("Connection refused (os error 111)", a name that does
        // not resolve, a certificate refused) at the end of its source chain, under layers that
        // repeat the URL and name the library's internals: that innermost cause is said.
        let mut detail = error;
        while let Some(cause) = detail.source() {
            detail = cause;
        }
        failure(
            ServiceErrorKind::Failed,
            format!("cannot reach Consul at {}: {detail}", self.settings.shown),
            UNREACHABLE_HINT,
        )
    }

    fn consul_error(&self, status: u16, text: &str, token_sent: bool) -> ServiceFailure {
        // An agent (or whatever answers at that address) may send megabytes: echo the start.
        let text = crate::terminal::untrusted::excerpt(
            text.trim_end(),
            crate::terminal::untrusted::ECHOED_BYTES,
        );
        let message = format!("Consul answered {status}: {text}");
        match status {
            401 | 403 => {
                // Consul 1.12+ names the right the token lacks: the fix says which.
                let named = carbonio_mesh_plugin_api::consul::missing_right(&text)
                    .map(|r| format!("a token with {}", r.describe()));
                let hint = match (token_sent, self.settings.token_source()) {
                    (true, Some(source)) => format!("the token from {source} was not accepted; give {} (--token-file FILE or CONSUL_HTTP_TOKEN_FILE)", named.as_deref().unwrap_or("a token with the needed rights")),
                    _ => format!("this needs {}: --token-file FILE, CONSUL_HTTP_TOKEN_FILE=FILE or CONSUL_HTTP_TOKEN (on a Mesh server, the SecretID in the credentials archive)", named.as_deref().unwrap_or("an ACL token")),
                };
                ServiceFailure { kind: ServiceErrorKind::Denied, message, hint: Some(hint), exit_code: None }
            }
            404 => failure(ServiceErrorKind::NotFound, message, "check the name; Consul does not know it"),
            500 if text.contains("No cluster leader") => failure(
                ServiceErrorKind::Failed,
                message,
                "the Mesh servers have no leader (lost quorum?): check service-discover on every Mesh server; add --stale to read from any server",
            ),
            _ => failure(ServiceErrorKind::Failed, message, "see Consul's message above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consul::credentials::MeshFiles;

    /// A Mesh server's archive and password file under a temporary root.
    fn mesh_files_with_token(secret: &str) -> (tempfile::TempDir, MeshFiles) {
        let root = tempfile::tempdir().unwrap();
        let files = MeshFiles::under(&crate::config::paths::SystemPaths::new(Some(
            root.path().into(),
        )));
        let token = format!(r#"{{"AccessorID":"a-1","SecretID":"{secret}"}}"#);
        let members = [carbonio_mesh_archive::Member::new(
            carbonio_mesh_plugin_api::mesh::ACL_SECRET_MEMBER.to_owned(),
            token.into_bytes(),
        )];
        let password = carbonio_mesh_archive::Passphrase::new(b"mesh-password".to_vec());
        let sealed = carbonio_mesh_archive::seal(&members, &password).unwrap();
        for (path, bytes) in [
            (&files.archive(), sealed.as_slice()),
            (&files.password(), b"mesh-password".as_slice()),
        ] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        (root, files)
    }

    #[test]
    fn the_archive_token_goes_only_to_a_local_agent_or_over_https() {
        let (_root, files) = mesh_files_with_token("archive-secret-1");
        let client = |addr: &str| {
            let flags = ConsulFlags {
                http_addr: Some(addr.to_owned()),
                ..ConsulFlags::default()
            };
            ConsulClient::new(ConsulSettings::resolve(&flags, Some(files.clone())).unwrap())
        };
        let verdict = |addr: &str, source| {
            client(addr).check_destination(source, &Destination::resolve(addr).unwrap())
        };
        for local in [
            "http://127.0.0.1:8500",
            "http://localhost:8500",
            "http://[::1]:8500",
            "https://192.0.2.9:8501",
        ] {
            let settings = &client(local).settings;
            let token = settings
                .token()
                .unwrap()
                .map(|(t, _)| t.as_str().to_owned());
            assert_eq!(token.as_deref(), Some("archive-secret-1"), "{local}");
            assert!(verdict(local, TokenSource::MeshArchive).is_ok(), "{local}");
        }
        // Judged on the address connected to: the token of an archive being checked too.
        for source in [TokenSource::MeshArchive, TokenSource::Request] {
            let error = verdict("http://192.0.2.9:8500", source).unwrap_err();
            assert_eq!(error.exit_code, Some(exit::USAGE));
            assert!(
                error.message.contains("192.0.2.9:8500"),
                "{}",
                error.message
            );
        }
        // Given explicitly, a token goes wherever the admin sends it (with a warning).
        assert!(verdict("http://192.0.2.9:8500", TokenSource::Flag).is_ok());
    }

    #[test]
    fn path_segments_are_percent_encoded_and_dot_segments_refused() {
        let client = ConsulClient::new(settings(ConsulFlags::default()));
        let url = |segment: &str| {
            client.url(
                &client.settings.addr,
                &ConsulRequest::get(&["v1", "catalog", "node", segment]),
            )
        };
        for (segment, encoded) in [
            ("mail.example.com", "mail.example.com"),
            ("a b/c?d%#", "a%20b%2Fc%3Fd%25%23"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(
                url(segment).unwrap(),
                format!("http://127.0.0.1:8500/v1/catalog/node/{encoded}")
            );
        }
        for bad in ["..", ".", ""] {
            let error = url(bad).unwrap_err();
            assert_eq!(error.kind, ServiceErrorKind::Invalid, "{bad:?}");
        }
    }

    fn settings(flags: ConsulFlags) -> ConsulSettings {
        ConsulSettings::resolve(&flags, None).unwrap()
    }

    #[test]
    fn flags_make_the_url_and_query() {
        let client = ConsulClient::new(settings(ConsulFlags {
            http_addr: Some("127.0.0.1:8600".into()),
            datacenter: Some("dc2".into()),
            stale: true,
            ..ConsulFlags::default()
        }));
        let request = ConsulRequest::get(&["v1", "catalog", "node", "x y"]).query("pretty", "");
        assert_eq!(
            client.url(&client.settings.addr, &request).unwrap(),
            "http://127.0.0.1:8600/v1/catalog/node/x%20y?pretty&dc=dc2&stale"
        );
    }

    #[test]
    fn a_tls_server_name_is_pinned_to_the_address() {
        let double = consul_double::Double::start(consul_double::Cluster::fixture()).unwrap();
        let mut settings = settings(ConsulFlags {
            http_addr: Some(double.url()),
            ..ConsulFlags::default()
        });
        settings.tls_server_name = Some("consul.mesh.invalid".into());
        let client = ConsulClient::new(settings);
        // The name does not resolve anywhere: the request reaches the double only through the pin.
        let leader = client
            .request(&ConsulRequest::get(&["v1", "status", "leader"]))
            .unwrap();
        assert_eq!(leader.meta.status, 200);
        let base = &client.http().unwrap().base;
        assert_eq!(
            *base,
            format!("http://consul.mesh.invalid:{}", double.addr().port())
        );
    }

    #[test]
    fn a_tls_server_name_must_be_a_dns_name() {
        for bad in ["192.0.2.7", "evil.example#", "a@b", "x/y", "h:1", ""] {
            let mut settings = settings(ConsulFlags::default());
            settings.tls_server_name = Some(bad.into());
            let client = ConsulClient::new(settings);
            let error = client
                .http()
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(
                error.message.contains("not a DNS name"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn a_token_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc-123\nignored\n").unwrap();
        let s = settings(ConsulFlags {
            token_file: Some(file.clone()),
            ..ConsulFlags::default()
        });
        assert_eq!(s.token_source(), None, "not read before it is needed");
        let token = s.token().unwrap().map(|(t, _)| t.as_str().to_owned());
        assert_eq!(token.as_deref(), Some("abc-123"));
        assert_eq!(s.token_source(), Some("--token-file"));
        std::fs::write(&file, "\n").unwrap();
        let empty = settings(ConsulFlags {
            token_file: Some(file),
            ..ConsulFlags::default()
        });
        let error = empty.token().unwrap_err();
        assert_eq!(error.exit_code, Some(exit::USAGE));
        assert!(error.message.contains("is empty"), "{}", error.message);
    }

    #[test]
    fn answers_and_errors_from_the_double() {
        let double = consul_double::Double::start(consul_double::Cluster::fixture()).unwrap();
        let client = ConsulClient::new(settings(ConsulFlags {
            http_addr: Some(double.url()),
            ..ConsulFlags::default()
        }));
        let leader = client
            .request(&ConsulRequest::get(&["v1", "status", "leader"]))
            .unwrap();
        assert_eq!(leader.meta.default_acl_policy.as_deref(), Some("deny"));
        let answer: ConsulResponse = serde_json::from_str(&leader.into_json()).unwrap();
        assert_eq!(answer.json.unwrap().get(), "\"192.168.56.101:8300\"");
        let denied = client
            .request(&ConsulRequest::get(&["v1", "acl", "token", "self"]))
            .unwrap_err();
        assert_eq!(denied.kind, ServiceErrorKind::Denied);
        assert_eq!(denied.message, "Consul answered 403: ACL not found");
        assert!(denied.hint.unwrap().contains("--token-file"));
        // Consul 1.12+ names the right a denial lacks: the fix names it too.
        double.cluster().nodes.iter_mut().for_each(|n| {
            n.version = consul_double::Version::V1_21_4;
        });
        let denied = client
            .request(&ConsulRequest::get(&["v1", "agent", "self"]))
            .unwrap_err();
        assert!(
            denied.hint.as_deref().unwrap_or_default().starts_with(
                "this needs a token with agent:read on \"server-srv1-example-com\": --token-file FILE"
            ),
            "{denied:?}"
        );
        double.cluster().leader = None;
        let no_leader = client
            .request(&ConsulRequest::get(&["v1", "catalog", "nodes"]))
            .unwrap_err();
        assert_eq!(no_leader.message, "Consul answered 500: No cluster leader");
        assert!(no_leader.hint.unwrap().contains("--stale"));
        let url = double.url();
        drop(double);
        let down = ConsulClient::new(settings(ConsulFlags {
            http_addr: Some(url.clone()),
            ..ConsulFlags::default()
        }));
        let error = down
            .request(&ConsulRequest::get(&["v1", "status", "leader"]))
            .unwrap_err();
        assert!(
            error
                .message
                .starts_with(&format!("cannot reach Consul at {url}")),
            "{}",
            error.message
        );
    }
}
