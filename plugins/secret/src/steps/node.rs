//! The steps only another node runs (`secret rejoin`): its checks before anything changes, the
//! leader's new archive put in place, and the check after its setup.

use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{ConsulRequest, Exec, OpenCredentials, WriteFile};
use carbonio_mesh_plugin_api::step::{facts, Facts, StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::workflow::{lock, new_run_id, now};
use carbonio_mesh_plugin_api::{Args, Host, PluginError, Response, SecretText, StepCall};
use serde_json::Value;

use super::archive::{archive_file, bind_address, compare_with_ldap};
use crate::paths::{MAIN_JSON, SERVICE};

fn fail(message: impl Into<String>) -> PluginError {
    PluginError::operation(message)
}

/// The file holding the new archive: `--archive FILE` (a system path), else the one an earlier
/// attempt of the run checked (only its path is in the journal); none with `--input-stdin`.
fn archive_path(call: &StepCall) -> Result<Option<String>, PluginError> {
    if let Some(path) = call.value("archive") {
        return Ok(Some(path.to_owned()));
    }
    if call.flag("input-stdin") {
        return Ok(None);
    }
    Ok(call.facts.get(&facts::ARCHIVE_FILE)?)
}

fn password(call: &StepCall) -> Result<&SecretText, PluginError> {
    call.new_password
        .as_ref()
        .ok_or_else(|| fail("no new password"))
}

/// On a node, before anything changes: root, service-discover present, the new archive (from
/// `--archive FILE`: it opens with the new password) and this node's own address.
/// Root, and service-discover installed.
pub fn root_and_service(host: &Host<'_>) -> Result<(), PluginError> {
    let uid = host.exec(&Exec::new(["id", "-u"]))?;
    if uid.stdout.trim() != "0" {
        return Err(PluginError::usage("secret rejoin must run as root"));
    }
    let which = host.exec(&Exec::new(["which", SERVICE]))?;
    if which.status != Some(0) {
        return Err(fail(format!(
            "'{SERVICE}' is not installed (not found in PATH)"
        )));
    }
    Ok(())
}

pub fn node_preflight(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    root_and_service(host)?;
    let mut archive = "the new archive came on standard input".to_owned();
    let mut found = Facts::new();
    match (archive_path(call)?, &call.input) {
        (Some(path), _) => {
            let read = archive_file(host, &path, password(call)?)?;
            let ldap = compare_with_ldap(host, &path, &read)?;
            archive = format!("{path} opens with the new password; {ldap}");
            found.set(&facts::ARCHIVE_FILE, &path);
        }
        (None, Some(_)) => {}
        (None, None) if call.dry_run => archive = "no new archive given".to_owned(),
        (None, None) => {
            return Err(PluginError::usage(
                "no new archive: give the file copied from the leader (--archive FILE), or the password and archive on standard input (--input-stdin)",
            )
            .hint("scp LEADER:/etc/zextras/service-discover/cluster-credentials.tar.gpg /root/ then carbonio-mesh secret rejoin --archive /root/cluster-credentials.tar.gpg")
            .into())
        }
    }
    let (ip, source) = bind_address(host)?;
    found.set(&facts::SETUP_IP, &ip.to_string());
    Ok(Outcome {
        detail: format!(
            "root, service-discover present; {archive}; this node is {ip} (from the {source})"
        ),
        facts: found,
        ..Outcome::default()
    })
}

/// The leader's new archive in place (0600 root), before setup reads it. From a file, the
/// bytes node-preflight read and checked; a resumed run reads and checks the file again.
pub fn install_archive(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let from_file;
    let (archive, origin) = match (archive_path(call)?, &call.input) {
        // The bytes node-preflight checked and compared (read again only by a resumed run).
        (Some(path), _) => {
            from_file = archive_file(host, &path, password(call)?)?;
            (&from_file, path)
        }
        (None, Some(archive)) => (archive, "standard input".to_owned()),
        (None, None) if call.dry_run => {
            return Ok(Outcome::new("would install the leader's new archive"))
        }
        (None, None) => {
            return Err(PluginError::usage(
                "no new archive: give the file copied from the leader again (--archive FILE)",
            )
            .hint("the archive is never kept in the journal: a resumed run reads it again")
            .into())
        }
    };
    host.call(&WriteFile {
        path: mesh::ARCHIVE_PATH.to_owned(),
        content: archive.expose().to_owned(),
        mode: 0o600,
        owner: None,
    })?;
    Ok(Outcome::new(if call.dry_run {
        format!(
            "would put the leader's new archive (from {origin}) at {}",
            mesh::ARCHIVE_PATH
        )
    } else {
        format!(
            "the leader's new archive (from {origin}) is {}",
            mesh::ARCHIVE_PATH
        )
    }))
}

/// The archive opens with the new password and Consul accepts its token.
pub fn node_verify(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    if call.dry_run {
        return Ok(Outcome::new("would check the new archive and its token"));
    }
    let credentials = host.call(&OpenCredentials {
        known_password: call.new_password.clone(),
        ..OpenCredentials::default()
    })?;
    let member = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .ok_or_else(|| fail("the new archive has no consul-acl-secret.json"))?;
    let token = BootstrapToken::parse(member.content.expose()).map_err(fail)?;
    let members: Vec<Value> = host.consul_get(
        &ConsulRequest::get(&["v1", "agent", "members"]).with_token(token.secret_id.clone()),
    )?;
    Ok(Outcome::new(format!(
        "the new archive opens; Consul accepts its token; {} member(s) listed",
        members.len()
    )))
}

/// A Mesh server asked by the leader to leave raft (several servers): it leaves gracefully
/// (`PUT /v1/agent/leave`: the leader takes it out of the raft configuration while it still
/// answers, which a stop alone would not do) and stops. Its own archive's token is used. The
/// node's run lock is held meanwhile; no run is kept.
pub fn answer_leave(host: &Host<'_>) -> Result<Response, PluginError> {
    root_and_service(host)?;
    let main = host.read_file(MAIN_JSON)?;
    let server = serde_json::from_str::<Value>(&main)
        .ok()
        .and_then(|v| v["server"].as_bool())
        .unwrap_or(false);
    if !server {
        return Err(PluginError::usage(
            "this node is not a Mesh server (main.json: server is not true): only servers leave raft",
        ));
    }
    lock(host, &new_run_id(now()), "secret leave")?;
    let token = super::raft::archive_token(host, None)?;
    host.consul(&ConsulRequest::put(&["v1", "agent", "leave"]).with_token(token))?;
    super::service::systemctl(host, "stop")
        .map_err(|e| fail(format!("left raft, but {}", e.message)))?;
    host.audit("secret leave", "this node", "ok");
    Ok(Response::text(
        "ok: left raft gracefully and stopped service-discover\n",
    ))
}
