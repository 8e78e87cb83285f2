//! What every host service shares: the request trait, the empty answer and the failure answer.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A request type for one host service.
pub trait Service: Serialize {
    /// The service name passed to `call(service, payload)`.
    const NAME: &'static str;
    /// What the service answers.
    type Answer: DeserializeOwned;
}

/// An answer with nothing in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// How a host service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceErrorKind {
    /// The request itself is wrong (bad path, unknown service, bad JSON).
    Invalid,
    /// Not found.
    NotFound,
    /// Permission denied, or the host must be root.
    Denied,
    /// The program did not finish in time.
    Timeout,
    /// Anything else (I/O failure, program not startable).
    Failed,
}

/// The error answer of every host service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFailure {
    /// How it failed.
    pub kind: ServiceErrorKind,
    /// What went wrong.
    pub message: String,
    /// How to fix it (added in 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The exit code the host documents for this failure, when it has its own (added in 1.3):
    /// a wrong archive password is 7, a damaged archive 8, a bad token file 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}
