//! The `prompt.confirm` service: the one place a destructive command asks before it acts.

use carbonio_mesh_plugin_api::services::{Confirm, Confirmed, ServiceErrorKind, ServiceFailure};

use super::HostContext;
use crate::exit;
use crate::terminal::tty;

pub(super) fn confirm(
    context: &HostContext,
    request: Confirm,
) -> Result<Confirmed, ServiceFailure> {
    // A dry run changes nothing, so there is nothing to agree to; --yes agreed in advance.
    if context.dry_run || context.assume_yes {
        return Ok(Confirmed { yes: true });
    }
    if !tty::available() {
        return Err(ServiceFailure {
            kind: ServiceErrorKind::Denied,
            message: format!(
                "{} needs confirmation and there is no terminal to ask on",
                context.plugin
            ),
            hint: Some("add --yes to confirm, or --dry-run to see what would change".into()),
            exit_code: Some(exit::USAGE),
        });
    }
    let yes = tty::confirm(&request.changes, &request.question).map_err(|e| ServiceFailure {
        kind: ServiceErrorKind::Failed,
        message: format!("cannot ask for confirmation on the terminal: {e}"),
        hint: Some("add --yes to confirm without asking".into()),
        exit_code: None,
    })?;
    Ok(Confirmed { yes })
}
