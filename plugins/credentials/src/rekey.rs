//! `credentials rekey`: the same content under a new password, the old archive backed up first
//! and, on a Mesh server, the password file updated to match.

use carbonio_mesh_plugin_api::services::{
    Credentials, NewMember, PasswordSource, WriteCredentials,
};
use carbonio_mesh_plugin_api::{Host, OutputFormat, PluginError, Request, Response};
use serde::Serialize;

use crate::archive::archive_request;

pub const REKEY_ABOUT: &str = "Re-encrypts the credentials archive with a new password: the same token, gossip key and \
CA, a new passphrase. The old file is backed up first, and on a Mesh server the password file \
/var/lib/service-discover/password is updated to match (also backed up).

Only this node's copy changes. The other Mesh nodes keep their own copy under the old password, and \
LDAP still holds the old archive (attribute carbonioMeshCredentials, which new nodes download during \
setup): copy the new archive to every node and upload it to LDAP, or they keep using the old password.";

/// `credentials rekey [--new-password-file FILE]`.
pub fn rekey(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let open = archive_request(request)?;
    let new_password = PasswordSource {
        file: request.value("new-password-file").map(str::to_owned),
        stdin: false,
    };
    let credentials = host.call(&open)?;
    let changes = vec![
        format!(
            "re-encrypt {} ({} members) with a new password, backing up the old file",
            credentials.archive,
            credentials.members.len()
        ),
        "other nodes and LDAP keep the old archive until you copy the new one".to_owned(),
    ];
    if !host.confirm(changes, "Re-encrypt the credentials archive?")? {
        return Ok(Response::declined_as(request.format));
    }
    let rekeyed = reencrypt(host, &credentials, new_password, request.dry_run)?;
    render(request.format, &rekeyed)
}

/// What `rekey` did (`--format json`).
#[derive(Serialize)]
struct Rekeyed {
    archive: String,
    backup: Option<String>,
    dry_run: bool,
}

/// Writes the archive's members again under the new password (recorded, not done, under
/// `--dry-run`), and audits it.
fn reencrypt(
    host: &Host<'_>,
    credentials: &Credentials,
    password: PasswordSource,
    dry_run: bool,
) -> Result<Rekeyed, PluginError> {
    let write = WriteCredentials {
        archive: Some(credentials.archive.clone()),
        members: credentials
            .members
            .iter()
            .map(|m| NewMember {
                name: m.name.clone(),
                content: m.content.clone(),
            })
            .collect(),
        password,
        update_password_file: true,
    };
    let written = host.call(&write);
    let result = match (&written, dry_run) {
        (Ok(_), true) => "dry-run".to_owned(),
        (Ok(_), false) => "ok".to_owned(),
        (Err(e), _) => format!("failed: {}", e.message),
    };
    host.audit("credentials rekey", &credentials.archive, &result);
    let written = written?;
    Ok(Rekeyed {
        archive: written.archive,
        backup: written.backup,
        dry_run,
    })
}

/// The new archive and its old file's backup (a dry run's plan is the host's to print), and
/// that the other nodes still hold the old one.
fn render(format: OutputFormat, rekeyed: &Rekeyed) -> Result<Response, PluginError> {
    let response = Response::render(format, rekeyed, |r| {
        if r.dry_run {
            return String::new();
        }
        let backup = r
            .backup
            .as_ref()
            .map(|b| format!(" The old file is saved at {b}."))
            .unwrap_or_default();
        format!(
            "Re-encrypted {} with the new password.{backup}\n",
            r.archive
        )
    })?;
    if format == OutputFormat::Json || rekeyed.dry_run {
        return Ok(response);
    }
    Ok(response.with_stderr(
        "Other nodes and LDAP still hold the archive under the old password: copy the new one to them.\n",
    ))
}
