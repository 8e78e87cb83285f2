//! The `log` service: a plugin's message through the host's tracing subscriber.

use carbonio_mesh_plugin_api::services::{Empty, Log, LogLevel, Progress, ServiceFailure};

use super::HostContext;

pub(super) fn log(context: &HostContext, request: Log) -> Result<Empty, ServiceFailure> {
    let message = context.redact(&request.message);
    let message = crate::terminal::untrusted::one_line(&message);
    let plugin = context.plugin.as_str();
    match request.level {
        LogLevel::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
        LogLevel::Info => tracing::info!(target: "plugin", plugin, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
        LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
    }
    Ok(Empty {})
}

/// The `progress` service: one line for the person watching (see `crate::terminal::progress`), secrets
/// redacted like every other line the host prints.
pub(super) fn progress(context: &HostContext, request: Progress) -> Result<Empty, ServiceFailure> {
    crate::terminal::progress::say(&context.redact(&request.message));
    Ok(Empty {})
}
