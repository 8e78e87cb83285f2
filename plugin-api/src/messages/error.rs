//! An error a plugin reports, and the kind the host maps to an exit code.

use serde::{Deserialize, Serialize};

/// What kind of failure an error is; the host maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The user's arguments are wrong (exit 2).
    Usage,
    /// The configuration is wrong (exit 3).
    Config,
    /// The operation failed: Consul refused, a command failed, a file is missing (exit 5).
    Operation,
    /// A bug in the plugin (exit 4, like a plugin that fails to load).
    Internal,
}

/// An error a plugin reports. `message` says what was wrong; `hint` says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    /// What kind of failure: decides the exit code unless `exit_code` is given.
    pub kind: ErrorKind,
    /// What was wrong.
    pub message: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// A specific exit status (above 5) for errors that scripts must tell apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

impl PluginError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
            hint: None,
            exit_code: None,
        }
    }

    /// The user's arguments are wrong (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// The configuration is wrong (exit 3).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// The operation failed (exit 5).
    pub fn operation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Operation, message)
    }

    /// A bug in the plugin (exit 4).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Says how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Exits with `exit_code` instead of the kind's code.
    pub fn with_exit_code(mut self, exit_code: u8) -> Self {
        self.exit_code = Some(exit_code);
        self
    }
}
