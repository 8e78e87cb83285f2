//! Facts about Consul's API that several plugins need; what differs between Consul versions is
//! in [`version`].

pub mod agent;
pub mod version;

pub use agent::{agent_version, AgentSelf, VersionFound};
pub use version::{AgentVersion, ConsulVersion, KnownVersion};

/// The name the `consul` CLI prints for a serf member status code (`/v1/agent/members`'
/// `Status`): 1 alive, 2 leaving, 3 left, 4 failed, anything else none.
pub fn member_status(status: u8) -> &'static str {
    match status {
        1 => "alive",
        2 => "leaving",
        3 => "left",
        4 => "failed",
        _ => "none",
    }
}

/// The serf status code of a member that is alive.
pub const ALIVE: u8 = 1;
/// The serf status code of a member that left.
pub const LEFT: u8 = 3;
/// The serf status code of a member that failed.
pub const FAILED: u8 = 4;

/// The ACL right a permission denial names, to say which token would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRight {
    /// `agent:read`, `service:write`, ...
    pub right: String,
    /// What it is needed on (a node, a service), when Consul says.
    pub on: Option<String>,
    /// The request carried no token (Consul used the anonymous token).
    pub anonymous: bool,
}

impl MissingRight {
    /// `service:write on "carbonio-proxy"`.
    pub fn describe(&self) -> String {
        match &self.on {
            Some(on) => format!("{} on {on:?}", self.right),
            None => self.right.clone(),
        }
    }
}

/// The right a denial names: Consul 1.12+ says `Permission denied: token with AccessorID 'A'
/// lacks permission 'agent:read' on "NODE"` or `Permission denied: anonymous token lacks
/// permission 'operator:write'. The anonymous token is used implicitly ...`
/// (acl/errors.go `PermissionDeniedError.Error`); 1.9 and 1.10 say `Permission denied: Missing
/// service:write on carbonio-proxy` for services and a bare `Permission denied` (nothing to
/// read: `None`) elsewhere. `rpc error making call: ` prefixes are skipped.
pub fn missing_right(text: &str) -> Option<MissingRight> {
    let denial = &text[text.find("Permission denied")?..];
    if let Some(at) = denial.find("lacks permission '") {
        let rest = &denial[at + "lacks permission '".len()..];
        let (right, rest) = rest.split_once('\'')?;
        let on = rest
            .strip_prefix(" on \"")
            .and_then(|r| r.split_once('"'))
            .map(|(name, _)| name.to_owned());
        return Some(MissingRight {
            right: right.to_owned(),
            on,
            anonymous: denial.contains(": anonymous token lacks"),
        });
    }
    let rest = &denial[denial.find("Missing ")? + "Missing ".len()..];
    let (right, on) = match rest.split_once(" on ") {
        Some((right, on)) => (right, Some(on.trim_end().to_owned())),
        None => (rest.trim_end(), None),
    };
    Some(MissingRight {
        right: right.to_owned(),
        on,
        anonymous: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_clis() {
        let names: Vec<_> = (0..=5).map(member_status).collect();
        assert_eq!(
            names,
            ["none", "alive", "leaving", "left", "failed", "none"]
        );
        assert_eq!(member_status(FAILED), "failed");
    }

    #[test]
    fn the_missing_right_is_read_from_every_denial_form() {
        let long = "Permission denied: token with AccessorID '15e8da5d-24b1-a6b5-cb5f-ab7a7fdbe57a' lacks permission 'service:write' on \"carbonio-proxy\"";
        let right = missing_right(long).unwrap();
        assert_eq!(right.describe(), "service:write on \"carbonio-proxy\"");
        assert!(!right.anonymous);
        let anonymous = "Permission denied: anonymous token lacks permission 'operator:write'. The anonymous token is used implicitly when a request does not specify a token.";
        let right = missing_right(anonymous).unwrap();
        assert_eq!(
            (right.describe(), right.anonymous),
            ("operator:write".to_owned(), true)
        );
        let old =
            missing_right("Permission denied: Missing service:write on carbonio-mailbox").unwrap();
        assert_eq!(old.describe(), "service:write on \"carbonio-mailbox\"");
        let hop = "rpc error making call: Permission denied: anonymous token lacks permission 'keyring:read'. The anonymous token is used implicitly when a request does not specify a token.";
        assert_eq!(missing_right(hop).unwrap().right, "keyring:read");
        assert_eq!(missing_right("Permission denied"), None);
        assert_eq!(
            missing_right("rpc error making call: Permission denied"),
            None
        );
        assert_eq!(missing_right("ACL not found"), None);
    }
}
