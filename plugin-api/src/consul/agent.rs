//! `GET /v1/agent/self`: who the answering agent is and which Consul it runs. One request
//! answers both; a command that needs either asks once.

use serde::Deserialize;

use super::version::{AgentVersion, KnownVersion};
use crate::services::ConsulRequest;
use crate::{Host, PluginError, Response};

/// The part of `/v1/agent/self` carbonio-mesh reads (`Config`, as agent/agent_endpoint.go
/// builds it in every version since 1.9).
#[derive(Debug, Clone, Deserialize)]
pub struct AgentSelf {
    /// The agent's running configuration.
    #[serde(rename = "Config")]
    pub config: AgentConfig,
}

/// `Config` of `/v1/agent/self`: the fields carbonio-mesh reads.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentConfig {
    /// The agent's node name (Consul's `node_name`).
    #[serde(rename = "NodeName")]
    pub node_name: String,
    /// `VersionWithMetadata()`: `1.21.4`, `1.10.0-beta2`.
    #[serde(rename = "Version", default)]
    pub version: String,
    /// Whether the agent is a server.
    #[serde(rename = "Server", default)]
    pub server: bool,
    /// The agent's datacenter.
    #[serde(rename = "Datacenter", default)]
    pub datacenter: String,
}

impl AgentSelf {
    /// Asks the agent (needs `agent:read` on its node).
    pub fn read(host: &Host<'_>) -> Result<AgentSelf, PluginError> {
        host.consul_get(&ConsulRequest::get(&["v1", "agent", "self"]))
    }

    /// The version the agent reports; `None` when it says none or one that does not parse.
    pub fn version(&self) -> Option<AgentVersion> {
        AgentVersion::parse(&self.config.version)
    }
}

/// The answering agent's version, from one `/v1/agent/self`. When the agent does not say (the
/// token lacks `agent:read`, an answer without a version), the newest known version is assumed,
/// what a new Carbonio install runs, with a warning that says why.
pub fn agent_version(host: &Host<'_>) -> VersionFound {
    VersionFound::of_answer(&AgentSelf::read(host))
}

/// An agent's version and, when it had to be assumed, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFound {
    /// The agent's version, or the one assumed.
    pub version: AgentVersion,
    /// Why the version was assumed (the agent's answer could not be had or read); `None` when
    /// the agent said it.
    pub unknown_because: Option<String>,
}

impl VersionFound {
    /// The version `/v1/agent/self` gave (see [`agent_version`]), for a command that reads the
    /// rest of that answer too.
    pub fn of_answer(answer: &Result<AgentSelf, PluginError>) -> Self {
        let assumed = AgentVersion::of_known(*KnownVersion::ALL.last().expect("not empty"));
        match answer.as_ref().map(AgentSelf::version) {
            Ok(Some(version)) => VersionFound {
                version,
                unknown_because: None,
            },
            Ok(None) => VersionFound {
                version: assumed,
                unknown_because: Some("its /v1/agent/self names no version".to_owned()),
            },
            Err(e) => VersionFound {
                version: assumed,
                unknown_because: Some(e.message.clone()),
            },
        }
    }

    /// The version as read from an answer that carries it (a member's `build` tag).
    pub fn reported(version: AgentVersion) -> Self {
        VersionFound {
            version,
            unknown_because: None,
        }
    }

    /// `response` with the one warning this version calls for: an unknown version, or one
    /// that had to be assumed. Standard error only: `--format json` output stays a document.
    pub fn warn_into(&self, response: Response) -> Response {
        if let Some(why) = &self.unknown_because {
            return response.with_warning(
                format!(
                    "cannot learn the Consul agent's version ({why}): output follows Consul {}",
                    self.version.known
                ),
                Some("give a token with agent:read on this node (--token-file FILE) so the agent can say which Consul it runs".to_owned()),
            );
        }
        match self.version.warning() {
            Some((message, fix)) => response.with_warning(message, Some(fix)),
            None => response,
        }
    }
}
