//! One answer of the double, and the texts and statuses the answering agent's version gives
//! its denials and errors.

use crate::model::{Cluster, Role};
use crate::wire;

/// One answer: status, body, and whether it is JSON.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub json: bool,
    /// `/v1/catalog/*` and `/v1/acl/token/self` carry the blocking-query headers.
    pub blocking: bool,
    pub allow: Option<&'static str>,
}

pub fn error(status: u16, text: impl Into<String>) -> Answer {
    Answer {
        status,
        body: text.into().into_bytes(),
        json: false,
        blocking: false,
        allow: None,
    }
}

pub fn json<T: serde::Serialize>(value: &T, pretty: bool) -> Answer {
    Answer {
        status: 200,
        body: wire::encode(value, pretty),
        json: true,
        blocking: false,
        allow: None,
    }
}

/// A successful answer without a body: untyped up to 1.19, `application/json` from 1.20.
pub fn empty(cluster: &Cluster) -> Answer {
    Answer {
        status: 200,
        body: Vec::new(),
        json: cluster.local_version().types_empty_answers(),
        blocking: false,
        allow: None,
    }
}

/// A path no endpoint serves (agent/http.go `Index`).
pub fn unknown_path(cluster: &Cluster) -> Answer {
    error(404, cluster.local_version().unknown_path_body())
}

/// Who sent the request, by its token.
pub enum Caller {
    Anonymous,
    Unknown,
    Known { accessor: String, management: bool },
}

impl Caller {
    pub fn of(cluster: &Cluster, token: Option<&str>) -> Caller {
        match token.filter(|t| !t.is_empty()) {
            None => Caller::Anonymous,
            Some(secret) => match cluster.token(secret) {
                Some(known) => Caller::Known {
                    accessor: known.accessor.clone(),
                    management: known.is_management(),
                },
                None => Caller::Unknown,
            },
        }
    }

    /// A management token (or ACLs off) may do anything; the double knows no finer policies.
    pub fn may_write(&self, cluster: &Cluster) -> bool {
        matches!(
            self,
            Caller::Known {
                management: true,
                ..
            }
        ) || !cluster.acl_enabled
    }
}

/// The `rpc error making call: ` each forwarding hop adds to an error from the leader: none on
/// the leader, one on a follower, two through a client agent (client, follower, leader).
pub fn hops(cluster: &Cluster) -> &'static str {
    match cluster.local().map(|n| n.role) {
        _ if cluster.leader.as_deref() == Some(cluster.local_node.as_str()) => "",
        Some(Role::Server) => "rpc error making call: ",
        _ => "rpc error making call: rpc error making call: ",
    }
}

/// 403 for a request that lacks `right` (on `on`), worded as the answering agent's version
/// words it: 1.12+ names the token and the right (acl/errors.go `PermissionDeniedError`),
/// before a bare `Permission denied`.
pub fn denied(cluster: &Cluster, who: &Caller, right: &str, on: Option<&str>) -> Answer {
    error(403, denial(cluster, who, right, on))
}

pub fn denial(cluster: &Cluster, who: &Caller, right: &str, on: Option<&str>) -> String {
    if !cluster.local_version().has_long_denials() {
        return "Permission denied".to_owned();
    }
    let on = on.map(|name| format!(" on \"{name}\"")).unwrap_or_default();
    match who {
        Caller::Known { accessor, .. } => format!(
            "Permission denied: token with AccessorID '{accessor}' lacks permission '{right}'{on}"
        ),
        _ => format!(
            "Permission denied: anonymous token lacks permission '{right}'{on}. The anonymous token is used implicitly when a request does not specify a token."
        ),
    }
}
