//! How a service fails: the one constructor of a failure answer, and what an I/O error means to a
//! plugin. A leaf, so that the archive reader and every handler can use it.

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};

/// What an I/O error means to a plugin: not found, denied, or failed.
pub fn io_error_kind(error: &std::io::Error) -> ServiceErrorKind {
    match error.kind() {
        std::io::ErrorKind::NotFound => ServiceErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ServiceErrorKind::Denied,
        _ => ServiceErrorKind::Failed,
    }
}

/// `cannot ACTION WHAT: error`, of the kind the error maps to.
pub fn io_failure(action: &str, what: &str, error: std::io::Error) -> ServiceFailure {
    failure(
        io_error_kind(&error),
        format!("cannot {action} {what}: {error}"),
    )
}

pub fn failure(kind: ServiceErrorKind, message: impl Into<String>) -> ServiceFailure {
    ServiceFailure {
        kind,
        message: message.into(),
        hint: None,
        exit_code: None,
    }
}
