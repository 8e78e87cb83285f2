//! Which Consul answers, and what that changes: the one place that knows how Consul's tables,
//! texts and statuses differ between the versions Carbonio ships.
//!
//! Carbonio shipped Consul 1.9.3 (2021), 1.10.12 (2022), 1.19.x (2024) and ships 1.21.4 since
//! late 2025 (service-discover-base's PKGBUILD history). Every table carbonio-mesh mirrors and every
//! text it parses was read in Consul's source at those tags ([`KnownVersion`]); each difference
//! is a [`Change`] with the first release that has it. A command takes the version of the agent
//! it talks to (the CLI on a node is the same binary as its agent): from the answer when it
//! carries it (a member's `build` tag), else from `/v1/agent/self` ([`AgentVersion::parse`] reads
//! both spellings). A version that is none of the known ones is treated as the nearest known one
//! (the one that agrees with it on the most changes, the newer on a tie) with one warning.

use std::fmt;

/// A Consul release number, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsulVersion {
    /// `1` for every version Carbonio shipped.
    pub major: u16,
    /// The minor release: `9`, `10`, `19`, `21`.
    pub minor: u16,
    /// The patch release.
    pub patch: u16,
}

impl ConsulVersion {
    /// `MAJOR.MINOR.PATCH`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        ConsulVersion {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for ConsulVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A difference between Consul versions in something carbonio-mesh copies or calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The first release that has it.
    pub since: ConsulVersion,
    /// What changed, and where in Consul's source.
    pub what: &'static str,
}

/// `/v1/agent/self` says `Config.PrimaryDatacenter` (agent/agent_endpoint.go, 3726cb52c7), and
/// a service's `Proxy` has `Mode` (transparent proxy).
pub const AGENT_SELF_PRIMARY_DC: Change = Change {
    since: ConsulVersion::new(1, 10, 0),
    what: "/v1/agent/self Config.PrimaryDatacenter; Proxy.Mode in service answers",
};
/// `consul members` prints a Partition column, writes `ap=default` into every member's tags
/// (so `-detailed` shows it) and sorts servers first (command/members/members.go, #11446).
pub const MEMBERS_PARTITION: Change = Change {
    since: ConsulVersion::new(1, 11, 0),
    what: "consul members: Partition column, ap=default tag, servers sorted first",
};
/// `PUT /v1/agent/force-leave/NODE` also finds WAN members (`NODE.DC`), and takes `?wan`
/// (agent/consul/server_ce.go removeFailedNode; command/forceleave `-wan`). Before, a WAN name
/// was refused with 500 `agent: No node found with name 'NODE.DC'` (agent/agent.go ForceLeave,
/// LAN members only).
pub const FORCE_LEAVE_WAN: Change = Change {
    since: ConsulVersion::new(1, 11, 0),
    what: "force-leave finds WAN members (NODE.DC) and takes -wan",
};
/// ACL legacy mode is gone: `PUT /v1/acl/bootstrap` never answers `The ACL system is currently
/// in legacy mode.`; without a leader it is `No cluster leader` (CHANGELOG 1.11.0, GH-11232).
/// Client agents stop sending the `acls` serf tag (agent/consul/client_serf.go).
pub const ACL_LEGACY_GONE: Change = Change {
    since: ConsulVersion::new(1, 11, 0),
    what: "ACL legacy mode removed; clients send no acls tag",
};
/// Deregistering an ID the agent does not have is 404 `Unknown service ID "X". Ensure that the
/// service ID is passed, not the service name.` (agent/acl.go; 500 `Unknown service "X"` before);
/// denials name the token and the missing right (acl/errors.go PermissionDeniedError); the
/// keyring is readable through client agents and its denial is 403 (agent/keyring.go); the CLI's
/// columns are measured in characters, not bytes (ryanuber/columnize v2.1.2 in go.mod).
pub const LONG_DENIALS: Change = Change {
    since: ConsulVersion::new(1, 12, 0),
    what: "deregister of an unknown ID is 404; permission denials name the right; columnize counts characters",
};
/// `consul services deregister` says `Error deregistering service` (`Error registering
/// service` before; command/services/deregister/deregister.go, 155c4bc2af); servers add the
/// `grpc_port` tag and `/v1/agent/self` `BuildDate`.
pub const DEREGISTER_WORDING: Change = Change {
    since: ConsulVersion::new(1, 13, 0),
    what: "services deregister: 'Error deregistering service'; grpc_port tag; BuildDate",
};
/// Servers add the `grpc_tls_port` tag (agent/consul/server_serf.go, 0ceec9017b).
pub const GRPC_TLS_TAG: Change = Change {
    since: ConsulVersion::new(1, 14, 0),
    what: "servers tag grpc_tls_port",
};
/// `DELETE /v1/acl/token/ID` of a token that is gone is 404 `Cannot find token to delete`
/// (agent/acl_endpoint.go; 200 `true` before; CHANGELOG 1.15.0, GH-16105).
pub const TOKEN_DELETE_404: Change = Change {
    since: ConsulVersion::new(1, 15, 0),
    what: "deleting a token that is gone answers 404",
};
/// A server whose `<data_dir>/server_metadata.json` is older than `server_rejoin_age_max`
/// (default 168h) refuses to start (agent/agent.go, 95f462d5f1, GH-17171).
pub const SERVER_REJOIN_AGE: Change = Change {
    since: ConsulVersion::new(1, 15, 3),
    what: "server_rejoin_age_max: a server down for over 7 days refuses to start",
};
/// Every node's catalog meta has `consul-version` (agent/agent.go, 2f20c77e4d, GH-17754).
pub const NODE_META_VERSION: Change = Change {
    since: ConsulVersion::new(1, 16, 1),
    what: "node meta consul-version",
};
/// A server starting without `raft/raft.db` keeps raft in a WAL (`raft/wal/`)
/// (agent/consul/server.go, 3e6f1c1fe1, GH-21592); empty answers carry `Content-Type:
/// application/json` (agent/http.go ensureContentTypeHeader, GH-21704).
pub const RAFT_WAL: Change = Change {
    since: ConsulVersion::new(1, 20, 0),
    what: "raft WAL store on a fresh data directory; empty answers typed application/json",
};

/// Every change, oldest first: what decides the nearest known version.
pub const CHANGES: &[Change] = &[
    AGENT_SELF_PRIMARY_DC,
    MEMBERS_PARTITION,
    FORCE_LEAVE_WAN,
    ACL_LEGACY_GONE,
    LONG_DENIALS,
    DEREGISTER_WORDING,
    GRPC_TLS_TAG,
    TOKEN_DELETE_404,
    SERVER_REJOIN_AGE,
    NODE_META_VERSION,
    RAFT_WAL,
];

/// The versions carbonio-mesh was checked against, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KnownVersion {
    /// The official 2021 binary (`build` tag `1.9.3:f55da930`).
    V1_9_3,
    /// Zextras' build of 2022; also recorded from a real agent (`tests/fixtures/consul/1.10.12`).
    V1_10_12,
    /// 1.19.0 and 1.19.1 (2024), identical in everything carbonio-mesh copies.
    V1_19,
    /// What a new Carbonio install runs (`build` tag `1.21.4:`, Zextras builds carry no revision).
    V1_21_4,
}

impl KnownVersion {
    /// Every known version, oldest first.
    pub const ALL: [KnownVersion; 4] = [
        KnownVersion::V1_9_3,
        KnownVersion::V1_10_12,
        KnownVersion::V1_19,
        KnownVersion::V1_21_4,
    ];

    /// The release this stands for (1.19.x: 1.19.1, the one Carbonio shipped last).
    pub fn version(self) -> ConsulVersion {
        match self {
            KnownVersion::V1_9_3 => ConsulVersion::new(1, 9, 3),
            KnownVersion::V1_10_12 => ConsulVersion::new(1, 10, 12),
            KnownVersion::V1_19 => ConsulVersion::new(1, 19, 1),
            KnownVersion::V1_21_4 => ConsulVersion::new(1, 21, 4),
        }
    }

    /// How it is named to users: `1.9.3`, `1.10.12`, `1.19.x`, `1.21.4`.
    pub fn label(self) -> &'static str {
        match self {
            KnownVersion::V1_9_3 => "1.9.3",
            KnownVersion::V1_10_12 => "1.10.12",
            KnownVersion::V1_19 => "1.19.x",
            KnownVersion::V1_21_4 => "1.21.4",
        }
    }

    fn covers(self, version: ConsulVersion) -> bool {
        match self {
            KnownVersion::V1_19 => version.major == 1 && version.minor == 19,
            known => known.version() == version,
        }
    }

    /// Whether this version has `change`.
    pub fn has(self, change: &Change) -> bool {
        self.version() >= change.since
    }

    /// The known version `version` behaves like: itself when known, else the one that agrees
    /// with it on the most [`CHANGES`] (the newer one on a tie: Carbonio moves forward).
    pub fn nearest(version: ConsulVersion) -> KnownVersion {
        if let Some(known) = Self::ALL.into_iter().find(|k| k.covers(version)) {
            return known;
        }
        let disagreements = |known: KnownVersion| {
            CHANGES
                .iter()
                .filter(|c| known.has(c) != (version >= c.since))
                .count()
        };
        Self::ALL
            .into_iter()
            .rev()
            .min_by_key(|k| disagreements(*k))
            .expect("ALL is not empty")
    }
}

impl fmt::Display for KnownVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The version of the agent a command talks to, as it reported it, and the known version whose
/// tables, texts and statuses apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentVersion {
    /// What the agent said, as it said it (`1.21.4`, `1.10.0-beta2`).
    pub reported: String,
    /// The known version it is (or the nearest one to it).
    pub known: KnownVersion,
    /// Whether `reported` is one of the known versions exactly (no pre-release, no metadata).
    pub exact: bool,
}

impl AgentVersion {
    /// The version in `text`: `/v1/agent/self`'s `Config.Version` (`1.21.4`), a member's `build`
    /// tag (`1.21.4:`, `1.9.3:f55da930`, `1.10.0-beta2:`) or `consul version`'s first line
    /// (`Consul v1.21.4`). `None` when it holds no version number.
    pub fn parse(text: &str) -> Option<AgentVersion> {
        let text = text.trim();
        let text = text.strip_prefix("Consul ").unwrap_or(text);
        let text = text.strip_prefix('v').unwrap_or(text);
        // The build tag: VERSION:REVISION.
        let reported = text.split(':').next().unwrap_or_default();
        let end = reported
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(reported.len());
        let mut numbers = reported[..end].split('.').map(str::parse::<u16>);
        let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch)), None) = (
            numbers.next(),
            numbers.next(),
            numbers.next(),
            numbers.next(),
        ) else {
            return None;
        };
        let version = ConsulVersion::new(major, minor, patch);
        let known = KnownVersion::nearest(version);
        Some(AgentVersion {
            reported: reported.to_owned(),
            known,
            exact: end == reported.len() && known.covers(version),
        })
    }

    /// The agent runs `known` itself (for tests and for tools that know it).
    pub fn of_known(known: KnownVersion) -> AgentVersion {
        AgentVersion {
            reported: known.version().to_string(),
            known,
            exact: true,
        }
    }

    /// Whether `change` applies to this agent (through its known version).
    pub fn has(&self, change: &Change) -> bool {
        self.known.has(change)
    }

    /// The one warning for a version that is not a known one; `None` for a known one.
    pub fn warning(&self) -> Option<(String, String)> {
        (!self.exact).then(|| {
            let known: Vec<&str> = KnownVersion::ALL.iter().map(|k| k.label()).collect();
            (
                format!(
                    "the Consul agent runs {}, a version carbonio-mesh was not checked against: its output follows Consul {}, the nearest known",
                    self.reported, self.known
                ),
                format!(
                    "carbonio-mesh knows Consul {}; tables and texts may differ from what this agent's own CLI prints",
                    known.join(", ")
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(text: &str) -> (KnownVersion, bool) {
        let version = AgentVersion::parse(text).unwrap();
        (version.known, version.exact)
    }

    #[test]
    fn every_spelling_an_agent_uses_is_read() {
        assert_eq!(known("1.21.4"), (KnownVersion::V1_21_4, true));
        assert_eq!(known("1.21.4:"), (KnownVersion::V1_21_4, true));
        assert_eq!(known("1.9.3:f55da930"), (KnownVersion::V1_9_3, true));
        assert_eq!(known("Consul v1.10.12"), (KnownVersion::V1_10_12, true));
        assert_eq!(known("1.19.0"), (KnownVersion::V1_19, true));
        assert_eq!(known("1.19.1:"), (KnownVersion::V1_19, true));
        let beta = AgentVersion::parse("1.10.0-beta2:").unwrap();
        assert_eq!(beta.reported, "1.10.0-beta2");
        assert!(!beta.exact, "a pre-release is never a known version");
        for bad in ["", "< 0.3", "1.21", "one.two.three", "1.2.3.4", ":abc"] {
            assert_eq!(AgentVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_unknown_version_is_the_nearest_known_one() {
        let cases = [
            // Older than anything known, and 1.9.x/1.10.x patch releases.
            ("1.8.4", KnownVersion::V1_9_3),
            ("1.9.2", KnownVersion::V1_9_3),
            ("1.10.4", KnownVersion::V1_10_12),
            ("1.10.0-beta2", KnownVersion::V1_10_12),
            // 1.11 differs from 1.10.12 in its own three changes, from 1.19 in six later ones.
            ("1.11.0", KnownVersion::V1_10_12),
            // From 1.15 on, more of 1.19's changes than not.
            ("1.15.0", KnownVersion::V1_19),
            ("1.17.3", KnownVersion::V1_19),
            // 1.20 has the WAL: 1.21.4's behaviour.
            ("1.20.0", KnownVersion::V1_21_4),
            ("1.21.3", KnownVersion::V1_21_4),
            ("1.22.0", KnownVersion::V1_21_4),
            ("2.0.0", KnownVersion::V1_21_4),
        ];
        for (text, expected) in cases {
            assert_eq!(known(text), (expected, false), "{text}");
        }
    }

    #[test]
    fn changes_are_ordered_and_known_versions_have_them_from_their_release() {
        assert!(CHANGES.windows(2).all(|w| w[0].since <= w[1].since));
        assert!(!KnownVersion::V1_9_3.has(&AGENT_SELF_PRIMARY_DC));
        assert!(KnownVersion::V1_10_12.has(&AGENT_SELF_PRIMARY_DC));
        assert!(!KnownVersion::V1_10_12.has(&MEMBERS_PARTITION));
        assert!(KnownVersion::V1_19.has(&NODE_META_VERSION));
        assert!(!KnownVersion::V1_19.has(&RAFT_WAL));
        assert!(KnownVersion::V1_21_4.has(&RAFT_WAL));
    }

    #[test]
    fn only_an_unknown_version_warns_and_the_warning_names_both() {
        assert_eq!(AgentVersion::parse("1.21.4:").unwrap().warning(), None);
        let (message, fix) = AgentVersion::parse("1.17.3").unwrap().warning().unwrap();
        assert!(message.contains("runs 1.17.3"), "{message}");
        assert!(
            message.contains("Consul 1.19.x, the nearest known"),
            "{message}"
        );
        assert!(fix.contains("1.9.3, 1.10.12, 1.19.x, 1.21.4"), "{fix}");
        assert_eq!(
            AgentVersion::of_known(KnownVersion::V1_19).reported,
            "1.19.1"
        );
    }
}
