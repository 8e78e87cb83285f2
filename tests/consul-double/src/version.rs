//! The Consul versions the double can be, and what each does differently in what carbonio-mesh
//! reads: every fact here was read in Consul's source at that tag (1.10.12 also recorded from a
//! real agent, `tests/fixtures/consul/1.10.12/README.md`). Deliberately not the product's
//! `plugin-api` rule: a double that shared it could not catch it being wrong.

use std::fmt;

/// A Consul release an agent of the double runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// The official binary of 2021 (tag `v1.9.3`, f55da930).
    V1_9_3,
    /// Tag `v1.10.12` (590878ba).
    V1_10_12,
    /// Tag `v1.19.1` (9f62fb41).
    V1_19_1,
    /// 1.21.4 (59b8b905, "Prepare release/1.21.4").
    V1_21_4,
}

impl Version {
    pub const ALL: [Version; 4] = [
        Version::V1_9_3,
        Version::V1_10_12,
        Version::V1_19_1,
        Version::V1_21_4,
    ];

    /// `1.21.4`, also the name of its fixture directory.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_9_3 => "1.9.3",
            Version::V1_10_12 => "1.10.12",
            Version::V1_19_1 => "1.19.1",
            Version::V1_21_4 => "1.21.4",
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The git revision in the `build` tag of the binary Carbonio shipped: the 2021 official
    /// binary carries one; Zextras builds from source since mid-2022 without `-X
    /// version.GitCommit`, so theirs is empty (`build=1.21.4:`).
    pub fn carbonio_revision(self) -> &'static str {
        match self {
            Version::V1_9_3 => "f55da930",
            _ => "",
        }
    }

    /// `/v1/agent/self` `Config.PrimaryDatacenter`, `Proxy.Mode`, `ServiceSocketPath`, and a
    /// health check's `Interval`, `Timeout`, `ExposedPort` (1.10.0).
    pub fn has_1_10_fields(self) -> bool {
        self >= Version::V1_10_12
    }

    /// Client agents send the `acls` tag (removed in 1.11.0, agent/consul/client_serf.go).
    pub fn clients_tag_acls(self) -> bool {
        self < Version::V1_19_1
    }

    /// ACLs start in legacy mode until a leader sets them up (gone in 1.11.0).
    pub fn has_acl_legacy_mode(self) -> bool {
        self < Version::V1_19_1
    }

    /// force-leave finds WAN members and takes `?wan` (agent/consul/server_ce.go, 1.11.0);
    /// before, `NODE.DC` is "No node found" (agent/agent.go ForceLeave checks LAN members).
    pub fn force_leave_finds_wan(self) -> bool {
        self >= Version::V1_19_1
    }

    /// Denials name the token and the right (acl/errors.go, 1.12.0); an unknown service ID
    /// on deregister is 404 (agent/acl.go, 1.12.0); the keyring denial is 403, and client
    /// agents forward keyring reads (agent/keyring.go, 1.12.0).
    pub fn has_long_denials(self) -> bool {
        self >= Version::V1_19_1
    }

    /// Servers tag `grpc_port` (1.13.0) and `grpc_tls_port` (1.14.0) when those ports are set
    /// (agent/consul/server_serf.go); `/v1/agent/self` says `BuildDate` (1.13.0); `NodeService`
    /// always carries `PeerName` (1.13.0, peering).
    pub fn has_1_13_fields(self) -> bool {
        self >= Version::V1_19_1
    }

    /// `DELETE /v1/acl/token/ID` of a token that is gone is 404 (1.15.0).
    pub fn token_delete_404(self) -> bool {
        self >= Version::V1_19_1
    }

    /// Each node's meta has `consul-version` (agent/agent.go, 1.16.1).
    pub fn node_meta_version(self) -> bool {
        self >= Version::V1_19_1
    }

    /// An empty successful answer says `Content-Type: application/json` (agent/http.go
    /// ensureContentTypeHeader, 1.20.0); before, it had none.
    pub fn types_empty_answers(self) -> bool {
        self >= Version::V1_21_4
    }

    /// The body of a 404 for a path no endpoint serves (agent/http.go `Index`): empty up to
    /// 1.10.12 (observed), a sentence with a newline later.
    pub fn unknown_path_body(self) -> &'static str {
        if self >= Version::V1_19_1 {
            "Invalid URL path: not a recognized HTTP API endpoint\n"
        } else {
            ""
        }
    }

    /// `/v1/agent/self` `Config.BuildDate` of a build without a date: version/version.go's
    /// default, "flagrantly wrong" on purpose.
    pub const BUILD_DATE: &'static str = "1970-01-01T00:00:01Z";
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
