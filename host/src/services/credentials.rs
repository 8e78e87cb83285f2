//! The `credentials.*` services: the Mesh credentials archive, opened and written by the host
//! so that passphrases are found, asked for and wiped in one place.

use carbonio_mesh_archive::{ArchiveError, Member};
use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{
    Credentials, CredentialsMember, NewPassword, NewPasswordAnswer, OpenCredentials,
    ServiceErrorKind, ServiceFailure, WriteCredentials, Written,
};
use carbonio_mesh_plugin_api::SecretText;

use super::{failure, fs, HostContext};
use crate::consul::credentials::{self as creds, MeshFiles};

fn archive_path(request_archive: &Option<String>) -> String {
    request_archive
        .clone()
        .unwrap_or_else(|| mesh::ARCHIVE_PATH.to_owned())
}

/// Remembers a secret from the archive or a password source (see `redact` for which are kept).
fn remember(context: &HostContext, secret: &[u8]) {
    if let Ok(text) = std::str::from_utf8(secret) {
        context.add_secret(text);
    }
}

pub(super) fn open(
    context: &HostContext,
    request: OpenCredentials,
) -> Result<Credentials, ServiceFailure> {
    let shown = archive_path(&request.archive);
    context.resolve(&shown)?;
    let bytes = creds::read_archive(&context.paths, &shown, &shown)?;
    let found = match &request.known_password {
        Some(known) => creds::Found {
            passphrase: carbonio_mesh_archive::Passphrase::new(known.expose().as_bytes().to_vec()),
            source: "the workflow's new password".to_owned(),
        },
        None => creds::existing_passphrase(
            &request.password,
            &MeshFiles::under(&context.paths),
            &shown,
        )?,
    };
    remember(context, found.passphrase.as_bytes());
    let members = creds::open(&bytes, &found.passphrase, &shown)?;
    let members = members
        .into_iter()
        .map(|member| answer_member(context, member, &shown))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Credentials {
        archive: shown,
        password_source: found.source,
        archive_size: bytes.len() as u64,
        members,
    })
}

fn answer_member(
    context: &HostContext,
    member: Member,
    shown: &str,
) -> Result<CredentialsMember, ServiceFailure> {
    let size = member.data.len() as u64;
    let text = std::str::from_utf8(&member.data).map_err(|_| {
        let error = ArchiveError::BadMember {
            name: member.name.clone(),
            reason: "not UTF-8 text".into(),
        };
        creds::archive_failure(&error, shown)
    })?;
    if member.name == mesh::ACL_SECRET_MEMBER {
        if let Ok(token) = BootstrapToken::parse(text) {
            remember(context, token.secret_id.expose().as_bytes());
        }
    }
    // The gossip key and the CA key are secrets too: the whole text, and each line of a PEM
    // body, which a program echoing part of the file would show.
    if member.name == mesh::GOSSIP_KEY_MEMBER || member.name == mesh::CA_KEY_MEMBER {
        remember(context, text.trim().as_bytes());
        for line in text.lines().filter(|l| !l.starts_with("-----")) {
            remember(context, line.trim().as_bytes());
        }
    }
    Ok(CredentialsMember {
        content: SecretText::new(text),
        name: member.name,
        mode: member.mode,
        size,
    })
}

pub(super) fn new_password(
    context: &HostContext,
    request: NewPassword,
) -> Result<NewPasswordAnswer, ServiceFailure> {
    let found = if request.generate {
        creds::generated_password()?
    } else {
        creds::new_passphrase(&request.password)?
    };
    remember(context, found.passphrase.as_bytes());
    let text = std::str::from_utf8(found.passphrase.as_bytes()).map_err(|_| {
        failure(
            ServiceErrorKind::Invalid,
            "the new password is not UTF-8 text: service-discover takes it on its command line",
        )
    })?;
    Ok(NewPasswordAnswer {
        password: SecretText::new(text),
        source: found.source,
    })
}

pub(super) fn write(
    context: &HostContext,
    request: WriteCredentials,
) -> Result<Written, ServiceFailure> {
    let shown = archive_path(&request.archive);
    context.resolve(&shown)?;
    if request.members.is_empty() {
        return Err(failure(
            ServiceErrorKind::Invalid,
            "refusing to write a credentials archive with no members",
        ));
    }
    let update_password_file = request.update_password_file && context.exists(mesh::PASSWORD_PATH);
    if context.dry_run {
        let backup = if context.exists(&shown) {
            format!(
                ", after backing up the old file to {}",
                context.backups.target(&shown)
            )
        } else {
            String::new()
        };
        context.record(format!(
            "encrypt {} members with the new password and replace {shown} (mode 0600){backup}",
            request.members.len()
        ));
        if update_password_file {
            context.record(format!(
                "write the new password to {} (mode 0400), after backing it up",
                mesh::PASSWORD_PATH
            ));
        }
        return Ok(Written {
            archive: shown,
            backup: None,
        });
    }
    let found = creds::new_passphrase(&request.password)?;
    remember(context, found.passphrase.as_bytes());
    let members: Vec<Member> = request
        .members
        .iter()
        .map(|m| Member::new(m.name.clone(), m.content.expose().as_bytes().to_vec()))
        .collect();
    let sealed = carbonio_mesh_archive::seal(&members, &found.passphrase)
        .map_err(|e| failure(ServiceErrorKind::Failed, format!("{shown}: {e}")))?;
    // Root owns the archive, as service-discover leaves it.
    let root = nix::unistd::Uid::effective().is_root().then_some((0, 0));
    let backup = fs::replace_file(context, &shown, &sealed, 0o600, root)?;
    if update_password_file {
        fs::replace_file(
            context,
            mesh::PASSWORD_PATH,
            found.passphrase.as_bytes(),
            0o400,
            root,
        )?;
        tracing::info!(plugin = %context.plugin, "wrote the new password to {}", mesh::PASSWORD_PATH);
    }
    tracing::info!(plugin = %context.plugin, "re-encrypted {shown} (new password from {})", found.source);
    Ok(Written {
        archive: shown,
        backup,
    })
}
