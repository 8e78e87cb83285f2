//! `audit`: who changed what, with what result.

use serde::{Deserialize, Serialize};

use super::{Empty, Service};

/// `audit` (1.3): one line saying who changed what, with what result. The host writes it through
/// tracing (target `carbonio_mesh::audit`) and to the system journal when one is listening.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// What was done: `force-leave`, `deregister`, `reload`, ...
    pub action: String,
    /// What it was done to: a node, a service ID, an agent.
    pub target: String,
    /// `ok`, `failed: ...`, `dry-run`.
    pub result: String,
}

impl Service for Audit {
    const NAME: &'static str = "audit";
    type Answer = Empty;
}
