//! The archive every command opens: which file and where its password comes from (from the
//! command line), and the bootstrap token in it.

use carbonio_mesh_plugin_api::mesh::BootstrapToken;
use carbonio_mesh_plugin_api::services::{Credentials, OpenCredentials, PasswordSource};
use carbonio_mesh_plugin_api::{ErrorKind, PluginError, Request};

use crate::inspect;

/// The host's exit code for an unusable archive (README, "Exit codes").
pub const EXIT_BAD_ARCHIVE: u8 = 8;

fn archive_error(message: String) -> PluginError {
    PluginError::new(ErrorKind::Operation, message)
        .hint("copy a good archive from the Mesh leader or restore it from a backup")
        .with_exit_code(EXIT_BAD_ARCHIVE)
}

/// The archive option as a system path: relative paths are taken from the current directory.
fn archive_arg(request: &Request) -> Result<Option<String>, PluginError> {
    let Some(path) = request.value("archive") else {
        return Ok(None);
    };
    if path.starts_with('/') {
        return Ok(Some(path.to_owned()));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| PluginError::usage(format!("cannot resolve --archive {path}: {e}")))?;
    Ok(Some(cwd.join(path).display().to_string()))
}

/// Which archive, and where its password comes from (`--archive`, `--password-file`,
/// `--password-stdin`): the request every command opens it with.
pub fn archive_request(request: &Request) -> Result<OpenCredentials, PluginError> {
    Ok(OpenCredentials {
        archive: archive_arg(request)?,
        password: PasswordSource {
            file: request.value("password-file").map(str::to_owned),
            stdin: request.flag("password-stdin"),
        },
        known_password: None,
    })
}

pub fn token_of(credentials: &Credentials) -> Result<BootstrapToken, PluginError> {
    inspect::token(credentials).map_err(archive_error)
}
