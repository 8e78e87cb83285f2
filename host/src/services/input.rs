//! The `input.stdin` service. The host owns standard input: a plugin has its own copy of std,
//! whose buffer would not see what the host's already read (the `--password-stdin` line), so
//! plugins read the rest through here.

use carbonio_mesh_plugin_api::services::{ReadStdin, ServiceErrorKind, ServiceFailure, StdinText};
use carbonio_mesh_plugin_api::SecretText;

use super::failure;

/// `input.stdin`: what is left on standard input (text), bounded.
pub(super) fn read_stdin(request: ReadStdin) -> Result<StdinText, ServiceFailure> {
    use std::io::Read;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(request.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot read standard input: {e}"),
            )
        })?;
    if bytes.len() as u64 > request.max_bytes {
        return Err(failure(
            ServiceErrorKind::Invalid,
            format!("standard input is over {} bytes", request.max_bytes),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        failure(
            ServiceErrorKind::Invalid,
            "standard input is not UTF-8 text",
        )
    })?;
    Ok(StdinText {
        text: SecretText::new(text),
    })
}
