//! `consul`: one HTTP request to the Consul agent through the host's client.

use serde::{Deserialize, Serialize};

use super::Service;

/// `consul`: one HTTP request to the Consul agent, with the host's address, token, datacenter,
/// `--stale`, TLS, timeouts and retries. Answers with statuses other than 2xx and those in
/// `accept_status` become a [`ServiceFailure`](super::ServiceFailure) whose message keeps Consul's own text and says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsulRequest {
    /// `GET`, `PUT` or `DELETE` (1.3).
    pub method: String,
    /// Path segments, each percent-encoded by the host: `["v1", "catalog", "node", name]`.
    pub path: Vec<String>,
    /// Query parameters, in order (`dc` and `stale` are the host's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// The request body (`PUT`), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Error statuses the plugin handles itself (answered, not turned into a failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept_status: Vec<u16>,
    /// Send no token even when one is configured (for endpoints that need none).
    #[serde(default)]
    pub anonymous: bool,
    /// Send this token instead of the configured one (1.3): checking a token from the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<crate::SecretText>,
}

impl ConsulRequest {
    /// A `GET` of the path `path` (segments, encoded by the host).
    pub fn get(path: &[&str]) -> Self {
        ConsulRequest {
            method: "GET".to_owned(),
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            accept_status: Vec::new(),
            anonymous: false,
            token: None,
        }
    }

    /// A change: `PUT path`.
    pub fn put(path: &[&str]) -> Self {
        ConsulRequest {
            method: "PUT".to_owned(),
            ..ConsulRequest::get(path)
        }
    }

    /// A removal: `DELETE path` (1.3).
    pub fn delete(path: &[&str]) -> Self {
        ConsulRequest {
            method: "DELETE".to_owned(),
            ..ConsulRequest::get(path)
        }
    }

    /// Answers Consul's error statuses (400, 403, 404, 500, 503) instead of failing, for a
    /// plugin that prints them the way the `consul` CLI does ([`ConsulResponse::unexpected`]).
    pub fn accepting_errors(mut self) -> Self {
        self.accept_status.extend([400, 403, 404, 500, 503]);
        self
    }

    /// Sends `token` with this request instead of the configured one.
    pub fn with_token(mut self, token: crate::SecretText) -> Self {
        self.token = Some(token);
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Answers `status` instead of failing with it: the plugin handles it.
    pub fn accept(mut self, status: u16) -> Self {
        self.accept_status.push(status);
        self
    }

    /// Sends no token, even when the host has one (a read that must work for anyone).
    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }
}

/// Consul's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsulResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body, unparsed, when Consul said it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Box<serde_json::value::RawValue>>,
    /// The body when it is not JSON (error texts are plain text).
    #[serde(default)]
    pub text: String,
    /// `X-Consul-Index` of blocking endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// `X-Consul-Default-ACL-Policy`: `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_acl_policy: Option<String>,
    /// Whether a token was sent.
    #[serde(default)]
    pub token_sent: bool,
}

impl Service for ConsulRequest {
    const NAME: &'static str = "consul";
    type Answer = ConsulResponse;
}

impl ConsulResponse {
    /// The Consul Go client's error for a non-200 answer, as the `consul` CLI prints it after
    /// its own prefix: `Unexpected response code: 500 (agent: No node found with name 'x')`.
    pub fn unexpected(&self) -> String {
        format!("Unexpected response code: {} ({})", self.status, self.text)
    }

    /// Whether this answer came to a request without a token under Consul's `default_policy
    /// deny` (Carbonio's): Consul then leaves out what it may not show, so an empty list means
    /// nothing.
    pub fn anonymous_under_deny(&self) -> bool {
        !self.token_sent && self.default_acl_policy.as_deref() == Some("deny")
    }

    /// The JSON body decoded into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json.as_ref().map_or("null", |raw| raw.get()))
    }
}
