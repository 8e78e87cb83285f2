//! The Consul settings of a run (host service `consul`'s half that needs no network): the
//! agent's address, the token and where it came from, the datacenter, TLS files and the time
//! limit, resolved once from the command line and the environment as the Consul CLI resolves
//! them (flags beat the environment; a token file or the archive is read on first use).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};
use zeroize::Zeroizing;

use crate::consul::credentials::{self, MeshFiles};
use crate::exit;

const DEFAULT_ADDR: &str = "http://127.0.0.1:8500";
/// How long one request may take in all unless `--timeout` says otherwise. With the connection
/// retries (3 x 3 s, plus 0.5 s of pauses) a read gives up within 15 s in every case.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the token came from, for `-v` and for error hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Flag,
    FlagFile,
    Env,
    EnvFile,
    MeshArchive,
    /// A token the plugin sends for one request (`credentials verify`).
    Request,
}

impl TokenSource {
    /// Whether nobody gave this token for this agent: it was found in an archive.
    pub(super) fn is_implicit(self) -> bool {
        matches!(self, TokenSource::MeshArchive | TokenSource::Request)
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            TokenSource::Flag => "--token",
            TokenSource::FlagFile => "--token-file",
            TokenSource::Env => "CONSUL_HTTP_TOKEN",
            TokenSource::EnvFile => "CONSUL_HTTP_TOKEN_FILE",
            TokenSource::MeshArchive => "the Mesh credentials archive",
            TokenSource::Request => "the credentials archive being checked",
        }
    }
}

/// The Consul options of the command line; the environment fills what they leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsulFlags {
    pub http_addr: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub datacenter: Option<String>,
    pub stale: bool,
    /// `--timeout SECONDS`: the whole of one request, connection included.
    pub timeout: Option<Duration>,
}

/// What was given for the token. Files are read (and the archive opened) on first use.
enum TokenSpec {
    Value(Zeroizing<String>, TokenSource),
    File(PathBuf, TokenSource),
    /// Nothing given: the Mesh archive's token, when these files are readable.
    Mesh(Option<MeshFiles>),
}

type ResolvedToken = Option<(Zeroizing<String>, TokenSource)>;

/// Everything needed to talk to Consul, resolved once per run.
pub struct ConsulSettings {
    /// The agent's URL as given: it may hold `user:password@` (sent as Basic authentication),
    /// so it is never shown; [`ConsulSettings::shown`] is.
    pub addr: String,
    /// The URL without its userinfo: the form in every message and log line.
    pub shown: String,
    /// Who may own the listener a token nobody gave explicitly goes to: root, the service user
    /// (`[mesh] service_user`) and, when carbonio-mesh does not run as root, the user it runs as.
    pub(super) trusted_owners: Vec<u32>,
    /// Those owners in words, for messages: `root or service-discover (the service user)`.
    pub(super) owners_named: String,
    token_spec: TokenSpec,
    token: OnceCell<Result<ResolvedToken, ServiceFailure>>,
    pub(super) datacenter: Option<String>,
    pub(super) stale: bool,
    pub(super) timeout: Duration,
    pub(super) ca_cert: Option<PathBuf>,
    pub(super) client_cert: Option<(PathBuf, PathBuf)>,
    /// `CONSUL_TLS_SERVER_NAME`: the name TLS expects on the agent's certificate when the address
    /// is an IP or another name.
    pub(super) tls_server_name: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A Consul setting given wrong (an address, a TLS variable): the user's to fix, before anything
/// is loaded or sent (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SettingsError {
    pub message: String,
    pub hint: String,
}

fn usage(message: String, hint: &str) -> SettingsError {
    SettingsError {
        message,
        hint: hint.to_owned(),
    }
}

/// `CONSUL_CACERT`, which must name a readable file: a wrong path is the user's to fix (exit 2),
/// found before anything is loaded or sent.
fn ca_cert() -> Result<Option<PathBuf>, SettingsError> {
    let Some(path) = env("CONSUL_CACERT").map(PathBuf::from) else {
        return Ok(None);
    };
    match std::fs::File::open(&path) {
        Ok(_) => Ok(Some(path)),
        Err(e) => Err(usage(
            format!("CONSUL_CACERT={}: cannot read it: {e}", path.display()),
            "set CONSUL_CACERT to the PEM file of the CA that signed the agent's certificate (on a Mesh node /var/lib/service-discover/consul-agent-ca.pem), or unset it",
        )),
    }
}

/// The first line of a token file, without its newline. A bad file is a usage error (exit 2).
fn read_token_file(path: &Path, source: TokenSource) -> Result<Zeroizing<String>, ServiceFailure> {
    let bad = |message: String, hint: &str| ServiceFailure {
        kind: ServiceErrorKind::Invalid,
        message,
        hint: Some(hint.to_owned()),
        exit_code: Some(exit::USAGE),
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        bad(
            format!(
                "cannot read the Consul token file {} ({}): {e}",
                path.display(),
                source.describe()
            ),
            "give a readable file holding the token on its first line",
        )
    })?);
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(bad(
            format!("the Consul token file {} is empty", path.display()),
            "put the token on its first line",
        ));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

impl ConsulSettings {
    /// `mesh`: where to look for the archive's token when none is given (`None`: never).
    pub fn resolve(flags: &ConsulFlags, mesh: Option<MeshFiles>) -> Result<Self, SettingsError> {
        let raw_addr = flags
            .http_addr
            .clone()
            .or_else(|| env("CONSUL_HTTP_ADDR"))
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = if raw_addr.contains("://") {
            raw_addr
        } else {
            let ssl = env("CONSUL_HTTP_SSL")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"));
            format!("{}://{raw_addr}", if ssl { "https" } else { "http" })
        };
        if !addr.starts_with("http://") && !addr.starts_with("https://") {
            return Err(usage(
                format!("the Consul address {addr} is not http:// or https://"),
                "use --http-addr http://127.0.0.1:8500 (unix sockets are not supported)",
            ));
        }
        let addr = addr.trim_end_matches('/').to_owned();
        let shown = crate::consul::destination::without_userinfo(&addr);
        let token_spec = if let Some(token) = flags.token.clone() {
            TokenSpec::Value(Zeroizing::new(token), TokenSource::Flag)
        } else if let Some(file) = &flags.token_file {
            TokenSpec::File(file.clone(), TokenSource::FlagFile)
        } else if let Some(token) = env("CONSUL_HTTP_TOKEN") {
            TokenSpec::Value(Zeroizing::new(token), TokenSource::Env)
        } else if let Some(file) = env("CONSUL_HTTP_TOKEN_FILE") {
            TokenSpec::File(PathBuf::from(file), TokenSource::EnvFile)
        } else {
            TokenSpec::Mesh(mesh)
        };
        let client_cert = match (env("CONSUL_CLIENT_CERT"), env("CONSUL_CLIENT_KEY")) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (None, None) => None,
            _ => {
                return Err(usage(
                    "CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY go together".to_owned(),
                    "set both, or neither",
                ))
            }
        };
        Ok(ConsulSettings {
            addr,
            shown,
            trusted_owners: vec![0, nix::unistd::Uid::effective().as_raw()],
            owners_named: "root".to_owned(),
            token_spec,
            token: OnceCell::new(),
            datacenter: flags.datacenter.clone(),
            stale: flags.stale,
            timeout: flags.timeout.unwrap_or(DEFAULT_TIMEOUT),
            ca_cert: ca_cert()?,
            client_cert,
            tls_server_name: env("CONSUL_TLS_SERVER_NAME"),
        })
    }

    /// The token, found on first use; `-v` says which source won.
    pub(super) fn token(
        &self,
    ) -> Result<Option<&(Zeroizing<String>, TokenSource)>, ServiceFailure> {
        let resolved = self.token.get_or_init(|| {
            let token = match &self.token_spec {
                TokenSpec::Value(token, source) => Some((token.clone(), *source)),
                TokenSpec::File(path, source) => Some((read_token_file(path, *source)?, *source)),
                TokenSpec::Mesh(Some(files)) => {
                    credentials::mesh_token(files).map(|token| (token, TokenSource::MeshArchive))
                }
                TokenSpec::Mesh(None) => None,
            };
            match &token {
                Some((_, source)) => tracing::info!("Consul token from {}", source.describe()),
                None => tracing::info!("no Consul token given (anonymous requests)"),
            }
            Ok(token)
        });
        resolved.as_ref().map(Option::as_ref).map_err(Clone::clone)
    }

    /// Trusts the listener of `service_user` (`[mesh] service_user`) with the tokens nobody
    /// gave explicitly, besides root's (see `crate::destination`).
    pub fn trusting(mut self, service_user: &str) -> Self {
        if let Some(uid) = crate::listeners::uid_of(service_user) {
            self.trusted_owners.push(uid);
        }
        self.owners_named = format!("root or {service_user} (the service user)");
        self
    }

    /// The password in the address's `user:password@`, a secret of the run.
    pub fn userinfo_password(&self) -> Option<String> {
        crate::consul::destination::userinfo_password(&self.addr)
    }

    /// The token requests carry, once it was needed (for redaction).
    pub fn token_in_use(&self) -> Option<&str> {
        match self.token.get() {
            Some(Ok(Some((token, _)))) => Some(token.as_str()),
            _ => None,
        }
    }

    /// Which source the token came from (`None`: no token, or not needed yet).
    pub fn token_source(&self) -> Option<&'static str> {
        match self.token.get() {
            Some(Ok(Some((_, source)))) => Some(source.describe()),
            _ => None,
        }
    }
}
