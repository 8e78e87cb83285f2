//! [`Host`]: the typed side of the host handle a plugin receives.

use carbonio_mesh_plugin_abi::{
    abi_stable::std_types::{RResult, RString},
    HostHandle,
};

use crate::services::{self, ExecOutput, Service, ServiceErrorKind, ServiceFailure};
use crate::{ErrorKind, PluginError};

/// A host service failed. Convert it into a [`PluginError`] with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct ServiceError {
    /// The service's name (`fs.write`, ...).
    pub service: String,
    /// How it failed.
    pub kind: ServiceErrorKind,
    /// What went wrong, as the host said it.
    pub message: String,
    /// How to fix it, when the host knows.
    pub hint: Option<String>,
    /// The exit code the host documents for this failure (1.3), passed on to the plugin error.
    pub exit_code: Option<u8>,
}

impl From<ServiceError> for PluginError {
    fn from(error: ServiceError) -> Self {
        let kind = match error.kind {
            ServiceErrorKind::Invalid => ErrorKind::Internal,
            _ => ErrorKind::Operation,
        };
        let mut plugin_error = PluginError::new(kind, error.message);
        plugin_error.hint = error.hint;
        plugin_error.exit_code = error.exit_code;
        plugin_error
    }
}

impl From<ServiceError> for crate::step::StepError {
    fn from(error: crate::ServiceError) -> Self {
        crate::step::StepError::from(PluginError::from(error))
    }
}

/// The host, as seen from inside [`crate::Plugin::run`]. Valid only during that call.
pub struct Host<'a> {
    handle: &'a HostHandle,
}

impl<'a> Host<'a> {
    #[doc(hidden)]
    pub fn new(handle: &'a HostHandle) -> Self {
        Host { handle }
    }

    /// Sends a typed request to its host service.
    pub fn call<S: Service>(&self, request: &S) -> Result<S::Answer, ServiceError> {
        let answer = self.call_raw(S::NAME, request)?;
        let parsed = serde_json::from_str(answer.as_str()).map_err(|e| ServiceError {
            service: S::NAME.to_owned(),
            kind: ServiceErrorKind::Invalid,
            message: format!("the host's answer is not understood: {e}"),
            hint: None,
            exit_code: None,
        });
        // Answers may hold secrets (`credentials.open`): wipe the JSON text once decoded.
        let mut bytes = answer.into_bytes();
        zeroize::Zeroize::zeroize(bytes.as_mut_slice());
        parsed
    }

    /// Sends a request and returns the host's answer as JSON text.
    fn call_raw<R: serde::Serialize>(
        &self,
        service: &str,
        request: &R,
    ) -> Result<RString, ServiceError> {
        let failure = |kind, message: String, hint, exit_code| ServiceError {
            service: service.to_owned(),
            kind,
            message,
            hint,
            exit_code,
        };
        let payload = serde_json::to_string(request).map_err(|e| {
            failure(
                ServiceErrorKind::Invalid,
                format!("cannot encode the request: {e}"),
                None,
                None,
            )
        })?;
        match self.handle.call(service, &payload) {
            RResult::ROk(answer) => Ok(answer),
            RResult::RErr(error) => {
                let ServiceFailure {
                    kind,
                    message,
                    hint,
                    exit_code,
                } = serde_json::from_str(error.as_str()).unwrap_or(ServiceFailure {
                    kind: ServiceErrorKind::Failed,
                    message: error.into_string(),
                    hint: None,
                    exit_code: None,
                });
                Err(failure(kind, message, hint, exit_code))
            }
        }
    }

    /// Runs a program (see [`services::Exec`]).
    pub fn exec(&self, exec: &services::Exec) -> Result<ExecOutput, ServiceError> {
        self.call(exec)
    }

    /// Reads a text file (a system path; the host applies `--root`).
    pub fn read_file(&self, path: &str) -> Result<String, ServiceError> {
        self.call(&services::ReadFile {
            path: path.to_owned(),
            max_bytes: None,
        })
        .map(|c| c.content)
    }

    /// Replaces a file atomically, backing up the old one.
    pub fn write_file(
        &self,
        path: &str,
        content: &str,
        mode: u32,
    ) -> Result<services::Changed, ServiceError> {
        self.call(&services::WriteFile {
            path: path.to_owned(),
            content: content.to_owned(),
            mode,
            owner: None,
        })
    }

    /// Writes a file inside service-discover's state directory, owned by the service user
    /// (see [`services::WriteStateFile`]): a path elsewhere or through a link is refused.
    pub fn write_state_file(
        &self,
        path: &str,
        content: &str,
        mode: u32,
    ) -> Result<services::Changed, ServiceError> {
        self.call(&services::WriteStateFile {
            path: path.to_owned(),
            content: content.to_owned(),
            mode,
        })
    }

    /// Backs up then removes a file or directory.
    pub fn remove(&self, path: &str) -> Result<services::Removed, ServiceError> {
        self.call(&services::RemovePath {
            path: path.to_owned(),
        })
    }

    /// Describes a path without following a final symlink.
    pub fn stat(&self, path: &str) -> Result<services::Stat, ServiceError> {
        self.call(&services::StatPath {
            path: path.to_owned(),
        })
    }

    /// One request to Consul (see [`services::ConsulRequest`]).
    pub fn consul(
        &self,
        request: &services::ConsulRequest,
    ) -> Result<services::ConsulResponse, ServiceError> {
        self.call(request)
    }

    /// `GET path` from Consul, decoded into `T`.
    pub fn consul_get<T: serde::de::DeserializeOwned>(
        &self,
        request: &services::ConsulRequest,
    ) -> Result<T, PluginError> {
        self.consul_text(request)?.decode()
    }

    /// `GET` a list Consul filters by ACL, decoded into `T`. Sent without a token under Consul's
    /// `default_policy deny` (Carbonio's), the answer leaves out what the caller may not see, so
    /// an empty list would mean nothing: that is refused, naming `what` is hidden and the ACL
    /// `right` the command needs.
    pub fn consul_get_filtered<T: serde::de::DeserializeOwned>(
        &self,
        request: &services::ConsulRequest,
        what: &str,
        right: &str,
    ) -> Result<T, PluginError> {
        let answer = self.consul(request)?;
        if answer.anonymous_under_deny() {
            let (message, fix) = anonymous_warning(what, right);
            return Err(PluginError::usage(message).hint(fix));
        }
        answer.decode().map_err(|e| {
            PluginError::operation(format!(
                "Consul's answer to /{} is not what Consul 1.9 sends: {e}",
                request.path.join("/")
            ))
        })
    }

    /// A Consul request whose answer is kept as text, to decode with borrowed strings
    /// ([`ConsulText::decode`] into types holding `Cow<'_, str>` with `#[serde(borrow)]`): a
    /// 5,000-member list then costs no allocation per string, and is parsed once.
    pub fn consul_text(
        &self,
        request: &services::ConsulRequest,
    ) -> Result<ConsulText, PluginError> {
        Ok(ConsulText(
            self.call_raw(services::ConsulRequest::NAME, request)?,
        ))
    }

    /// Asks the user to agree to `changes` (see [`services::Confirm`]): true with `--yes` or
    /// `--dry-run`, the user's answer on a terminal, a failure with no terminal.
    pub fn confirm(&self, changes: Vec<String>, question: &str) -> Result<bool, ServiceError> {
        self.call(&services::Confirm {
            changes,
            question: question.to_owned(),
        })
        .map(|c| c.yes)
    }

    /// Records who changed what, with what result (see [`services::Audit`]). Never fails the
    /// command: a change that happened must be reported even if the journal is gone.
    pub fn audit(&self, action: &str, target: &str, result: &str) {
        let _ = self.call(&services::Audit {
            action: action.to_owned(),
            target: target.to_owned(),
            result: result.to_owned(),
        });
    }

    /// Lists a directory, sorted.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, ServiceError> {
        self.call(&services::ListDir {
            path: path.to_owned(),
        })
        .map(|e| e.names)
    }

    fn log(&self, level: services::LogLevel, message: &str) {
        // Logging must never fail a command; a host that cannot log has already said why.
        let _ = self.call(&services::Log {
            level,
            message: message.to_owned(),
        });
    }

    /// Says what a long command is doing now (see [`services::Progress`]). Never fails the
    /// command: progress is a courtesy.
    pub fn progress(&self, message: &str) {
        let _ = self.call(&services::Progress {
            message: message.to_owned(),
        });
    }

    /// Logs `message` at warning level (shown without `-v`).
    pub fn warn(&self, message: &str) {
        self.log(services::LogLevel::Warn, message);
    }

    /// Logs `message` at info level (`-v`).
    pub fn info(&self, message: &str) {
        self.log(services::LogLevel::Info, message);
    }

    /// Logs `message` at debug level (`-vv`).
    pub fn debug(&self, message: &str) {
        self.log(services::LogLevel::Debug, message);
    }
}

/// The host's answer to a Consul request, undecoded (see [`Host::consul_text`]).
pub struct ConsulText(RString);

impl ConsulText {
    /// The host's answer as it would give it (`{"json":BODY,"status":200,...}`), for a plugin's
    /// unit tests.
    #[doc(hidden)]
    pub fn for_tests(answer: &str) -> Self {
        ConsulText(RString::from(answer))
    }

    /// The answer's size in bytes (Consul's body and a few fields): a guide for sizing output
    /// made from it.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the answer is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes Consul's JSON body into `T` in one pass over the answer, borrowing from it where
    /// `T` asks to (`null` when there is no body).
    pub fn decode<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, PluginError> {
        self.decode_noting_acl().map(|(value, _)| value)
    }

    /// [`ConsulText::decode`], and whether the request went out without a token under Consul's
    /// `default_policy deny` (Carbonio's): Consul then filters out what it may not show, so an
    /// empty or short list says nothing about the cluster (see [`anonymous_warning`]).
    pub fn decode_noting_acl<'a, T: serde::Deserialize<'a>>(
        &'a self,
    ) -> Result<(T, bool), PluginError> {
        self.decode_seed_noting_acl(std::marker::PhantomData::<T>)
    }

    /// [`ConsulText::decode_noting_acl`] through a seed: for a plugin that handles each element
    /// of a large answer as it is decoded (`members --format json` writes each member at once)
    /// rather than building the whole value first.
    pub fn decode_seed_noting_acl<'a, S: serde::de::DeserializeSeed<'a>>(
        &'a self,
        seed: S,
    ) -> Result<(S::Value, bool), PluginError> {
        let not_consul = |e: serde_json::Error| {
            PluginError::operation(format!("Consul's answer is not what Consul 1.9 sends: {e}"))
        };
        let mut deserializer = serde_json::Deserializer::from_str(self.0.as_str());
        let answer = serde::Deserializer::deserialize_map(&mut deserializer, AnswerFields(seed))
            .and_then(|answer| deserializer.end().map(|()| answer))
            .map_err(not_consul)?;
        let anonymous = !answer.token_sent && answer.default_acl_policy.as_deref() == Some("deny");
        match answer.json {
            Ok(value) => Ok((value, anonymous)),
            // No body: the seed reads `null`.
            Err(seed) => seed
                .deserialize(serde_json::Value::Null)
                .map(|value| (value, anonymous))
                .map_err(not_consul),
        }
    }
}

/// The fields of the host's Consul answer a plugin reads: the body (`json`, through the seed),
/// and what says whether Consul may have filtered it.
struct AnswerFields<S>(S);

struct Answer<S, V> {
    /// The decoded body, or the seed still unused when there was none.
    json: Result<V, S>,
    default_acl_policy: Option<String>,
    token_sent: bool,
}

impl<'de, S: serde::de::DeserializeSeed<'de>> serde::de::Visitor<'de> for AnswerFields<S> {
    type Value = Answer<S, S::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the host's answer to a Consul request")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut answer = Answer {
            json: Err(self.0),
            default_acl_policy: None,
            token_sent: false,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "json" => {
                    answer.json = match answer.json {
                        Err(seed) => Ok(map.next_value_seed(seed)?),
                        Ok(_) => return Err(serde::de::Error::duplicate_field("json")),
                    }
                }
                "default_acl_policy" => answer.default_acl_policy = map.next_value()?,
                "token_sent" => answer.token_sent = map.next_value()?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(answer)
    }
}

/// What to say of an ACL-filtered answer read without a token under default-deny (`what` is
/// left out of it; a token with `right` sees it), and how to fix it.
pub fn anonymous_warning(what: &str, right: &str) -> (String, String) {
    (
        format!(
            "no Consul token: under Carbonio's default-deny ACLs, anonymous requests do not see {what}"
        ),
        format!(
            "give a token with {right}: --token-file FILE or CONSUL_HTTP_TOKEN_FILE (on a Mesh server, run as root to use the credentials archive's)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> ConsulText {
        ConsulText(RString::from(text))
    }

    #[test]
    fn only_an_anonymous_read_under_deny_may_be_filtered() {
        let cases = [
            (
                r#"{"json":[],"status":200,"default_acl_policy":"deny"}"#,
                true,
            ),
            (
                r#"{"json":[],"status":200,"default_acl_policy":"deny","token_sent":true}"#,
                false,
            ),
            (
                r#"{"json":[],"status":200,"default_acl_policy":"allow"}"#,
                false,
            ),
            (r#"{"json":[],"status":200}"#, false),
        ];
        for (text, anonymous) in cases {
            let (list, flagged): (Vec<u8>, bool) = answer(text).decode_noting_acl().unwrap();
            assert_eq!((list.len(), flagged), (0, anonymous), "{text}");
        }
        let (none, _): (Option<Vec<u8>>, bool) =
            answer(r#"{"status":200,"default_acl_policy":"deny"}"#)
                .decode_noting_acl()
                .unwrap();
        assert_eq!(none, None);
    }
}
