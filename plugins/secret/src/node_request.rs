//! What the leader sends a node on the transport's standard input (`secret rejoin
//! --input-stdin` there).
//!
//! Two forms. The first, every version's: the new password on the first line, the leader's new
//! archive after it: set this node up again with them. A request (1.7): a first line no
//! password can be ([`MARKER`]: it starts with a control character, which every carbonio-mesh
//! refuses in a password before it changes anything, so an older node refuses the request
//! instead of taking it for an archive), then one JSON document ([`NodeRequest`]).

use carbonio_mesh_plugin_api::services::{
    NewPassword, NewPasswordAnswer, PasswordSource, ReadStdin,
};
use carbonio_mesh_plugin_api::{Host, PluginError, SecretText};
use serde::{Deserialize, Serialize};

use crate::paths::MAX_ARCHIVE;

/// The first line of a request.
pub const MARKER: &str = "\u{1}carbonio-mesh node request 1";

/// What the leader asks of a node besides setting it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum NodeRequest {
    /// service-discover setup's own checks, before the leader changes anything: nothing changes.
    Check,
    /// A Mesh server leaves raft gracefully and stops (several servers: raft shrunk to the
    /// leader before it is reset).
    Leave,
}

/// What came on standard input.
pub enum Input {
    /// The first form: the new password (checked like any) and the archive.
    Setup {
        password: NewPasswordAnswer,
        archive: SecretText,
    },
    Request(NodeRequest),
}

/// A request as the leader writes it on the transport's standard input.
pub fn encode(request: &NodeRequest) -> String {
    let document = serde_json::to_string(request).unwrap_or_default();
    format!("{MARKER}\n{document}\n")
}

/// Reads standard input: a request, or the password and the archive.
pub fn read(host: &Host<'_>) -> Result<Input, PluginError> {
    let all = host
        .call(&ReadStdin {
            max_bytes: MAX_ARCHIVE + 4096,
        })?
        .text;
    let (first, rest) = all.expose().split_once('\n').unwrap_or((all.expose(), ""));
    if first == MARKER {
        let request = serde_json::from_str(rest.trim()).map_err(|e| {
            PluginError::usage(format!(
                "the leader's request is not one this carbonio-mesh knows: {e}"
            ))
            .hint("install the same carbonio-mesh version on the leader and on this node")
        })?;
        return Ok(Input::Request(request));
    }
    let password = host.call(&NewPassword {
        password: PasswordSource {
            read: Some(SecretText::new(first)),
            ..PasswordSource::default()
        },
        generate: false,
    })?;
    Ok(Input::Setup {
        password,
        archive: SecretText::new(rest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_starts_with_a_line_no_password_can_be() {
        let text = encode(&NodeRequest::Check);
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(first, MARKER);
        assert!(first.bytes().any(|b| b.is_ascii_control()));
        assert_eq!(
            serde_json::from_str::<NodeRequest>(rest.trim()).unwrap(),
            NodeRequest::Check
        );
    }
}
