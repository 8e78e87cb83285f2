//! The `audit` service: who changed what, with what result. Through tracing (target
//! `carbonio_mesh::audit`, shown with `-v`) and, when journald listens, to the system journal
//! with structured fields, so `journalctl SYSLOG_IDENTIFIER=carbonio-mesh` lists every change.

use std::os::unix::net::UnixDatagram;

use carbonio_mesh_plugin_api::services::{Audit, Empty, ServiceFailure};

use super::HostContext;

/// journald's native protocol socket (under `--root`, so tests can listen in their sandbox).
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// The person behind the command: `sudo` keeps the caller in `SUDO_USER`.
fn who() -> String {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    match std::env::var("SUDO_USER") {
        Ok(sudo) if !sudo.is_empty() => format!("{sudo} (as {user})"),
        _ => user,
    }
}

/// One `KEY=value` line of the native protocol; values are kept to one line.
fn field(key: &str, value: &str) -> String {
    format!("{key}={}\n", value.replace('\n', " "))
}

pub(super) fn audit(context: &HostContext, request: Audit) -> Result<Empty, ServiceFailure> {
    let who = who();
    let target = context.redact(&request.target);
    let result = context.redact(&request.result);
    let action = context.redact(&request.action);
    let message = format!("{who}: {action} {target}: {result}");
    let message = crate::terminal::untrusted::one_line(&message);
    tracing::info!(target: "carbonio_mesh::audit", plugin = %context.plugin, "{message}");
    // Reached through its directory, opened inside `--root`.
    let socket = context
        .paths
        .entry(JOURNAL_SOCKET)
        .ok()
        .filter(|entry| entry.stat().is_ok_and(|s| s.is_some()));
    if let Some(socket) = socket {
        let socket = socket.proc_path();
        let entry = [
            field("MESSAGE", &format!("carbonio-mesh: {message}")),
            field("PRIORITY", "5"),
            field("SYSLOG_IDENTIFIER", "carbonio-mesh"),
            field("CARBONIO_MESH_USER", &who),
            field("CARBONIO_MESH_PLUGIN", &context.plugin),
            field("CARBONIO_MESH_ACTION", &action),
            field("CARBONIO_MESH_TARGET", &target),
            field("CARBONIO_MESH_RESULT", &result),
        ]
        .concat();
        let sent = UnixDatagram::unbound().and_then(|s| s.send_to(entry.as_bytes(), &socket));
        if let Err(e) = sent {
            tracing::warn!("cannot write the audit line to the journal: {e}");
        }
    }
    Ok(Empty {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stay_on_one_line() {
        assert_eq!(field("MESSAGE", "a\nb"), "MESSAGE=a b\n");
    }
}
