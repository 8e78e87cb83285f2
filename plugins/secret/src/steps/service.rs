//! The steps the leader and every other node share: stop service-discover, back up what setup
//! replaces (removing what it refuses to find), and run `service-discover setup` — again after a
//! setup of this run that failed half-way.

use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{
    BackupPath, Exec, ExecArg, OpenCredentials, RemovePath, RestorePath, ServiceErrorKind,
};
use carbonio_mesh_plugin_api::step::{facts, JournalRecord, StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::workflow::{journal, typed_records};
use carbonio_mesh_plugin_api::{Host, PluginError, StepCall};

use super::leader::{ensure_reset_file, STRAY_ACCESSORS};
use crate::paths::{CONFIG_JSON, DEFAULT_DATA_DIR, LIB_DIR, MAIN_JSON, SERVICE};
use crate::workflows::REJOIN;

fn fail(message: impl Into<String>) -> PluginError {
    PluginError::operation(message)
}

/// `systemctl VERB service-discover`; its error says which verb failed and why.
pub fn systemctl(host: &Host<'_>, verb: &str) -> Result<(), PluginError> {
    let answer = host.exec(&Exec {
        mutating: true,
        ..Exec::new(["systemctl", verb, SERVICE])
    })?;
    if answer.status != Some(0) {
        return Err(fail(format!(
            "systemctl {verb} {SERVICE} failed: {}",
            answer.stderr.trim()
        )));
    }
    Ok(())
}

pub fn stop_service(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    systemctl(host, "stop")?;
    Ok(Outcome::new(if call.dry_run {
        format!("would stop {SERVICE}")
    } else {
        format!("{SERVICE} stopped")
    }))
}

/// What `service-discover setup` refuses to find (main.json: "already performed"; the CA and
/// node certificates: `consul tls ca|cert create` refuse or write `-1` files), with config.json.
fn setup_files(host: &Host<'_>) -> Result<Vec<String>, PluginError> {
    let mut paths = vec![MAIN_JSON.to_owned(), CONFIG_JSON.to_owned()];
    match host.list_dir(LIB_DIR) {
        Ok(names) => paths.extend(
            names
                .into_iter()
                .filter(|n| n.ends_with(".pem"))
                .map(|n| format!("{LIB_DIR}/{n}")),
        ),
        Err(e) if e.kind == ServiceErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(paths)
}

/// On another node (`secret rejoin`): what Consul keeps over a new setup and must not: every
/// node's `data/serf` (its keyring holds the old gossip key, which Consul prefers to main.json's
/// `encrypt`), and a server's `data/raft` (a configuration naming the old voters: it joins the
/// reset leader as a new voter instead). `data/node-id` stays: the node keeps its identity. The
/// leader keeps both (its raft data is the cluster's; its key is rotated live).
fn stale_consul_state(host: &Host<'_>, call: &StepCall) -> Result<Vec<String>, PluginError> {
    if call.workflow != REJOIN {
        return Ok(Vec::new());
    }
    let main: Option<serde_json::Value> = host
        .read_file(MAIN_JSON)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let data = main
        .as_ref()
        .and_then(|m| m["data_dir"].as_str())
        .unwrap_or(DEFAULT_DATA_DIR)
        .trim_end_matches('/')
        .to_owned();
    let mut paths = vec![format!("{data}/serf")];
    let server = main.as_ref().and_then(|m| m["server"].as_bool());
    // No main.json (removed by an earlier attempt): raft data only a server has.
    if server.unwrap_or_else(|| host.stat(&format!("{data}/raft")).is_ok_and(|s| s.exists)) {
        paths.push(format!("{data}/raft"));
    }
    Ok(paths)
}

/// Backs up and removes `paths`, each journaled the moment it is gone (a crash after a removal
/// must still let `restore` find it); how many there were.
fn remove_journaled(
    host: &Host<'_>,
    call: &StepCall,
    paths: &[String],
) -> Result<usize, PluginError> {
    let mut removed = 0;
    for path in paths {
        let answer = host.call(&RemovePath { path: path.clone() })?;
        if let (true, Some(backup)) = (answer.existed, answer.backup) {
            removed += 1;
            let record = JournalRecord::Removed {
                step: call.step.clone(),
                path: path.clone(),
                backup,
            };
            journal(host, &call.run, &record)?;
        }
    }
    Ok(removed)
}

/// The archive and the password file stay where they are until the new setup replaces them
/// (a node whose setup fails keeps working with them); their backups are journaled for
/// `restore` and for a failed setup to put them back.
fn save_secrets(host: &Host<'_>, call: &StepCall) -> Result<usize, PluginError> {
    let mut saved = 0;
    for path in [mesh::ARCHIVE_PATH, mesh::PASSWORD_PATH] {
        let answer = host.call(&BackupPath {
            path: path.to_owned(),
        })?;
        if let (true, Some(backup)) = (answer.existed, answer.backup) {
            saved += 1;
            let record = JournalRecord::Saved {
                step: call.step.clone(),
                path: path.to_owned(),
                backup,
            };
            journal(host, &call.run, &record)?;
        }
    }
    Ok(saved)
}

pub fn backup_and_remove(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    // Read before main.json goes: it says where Consul's data is and what the node is.
    let stale = stale_consul_state(host, call)?;
    let mut removed = remove_journaled(host, call, &setup_files(host)?)?;
    removed += remove_journaled(host, call, &stale)?;
    let saved = save_secrets(host, call)?;
    Ok(Outcome::new(if call.dry_run {
        format!("would back up and remove {removed} file(s), and back up {saved} more that setup replaces")
    } else {
        format!("{removed} file(s) backed up and removed; {saved} more backed up and left in place until setup replaces them (archive, password)")
    }))
}

pub fn run_setup(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    // The reset index is asked of Consul while a half-done setup may still have it running,
    // before that setup is cleared (and its Consul stopped).
    let mut before: Vec<String> = ensure_reset_file(host, call)?.into_iter().collect();
    before.extend(clear_partial_setup(host, call)?);
    match setup(host, call, true) {
        Ok(outcome) => Ok(with_notes(outcome, &before)),
        Err(failed) => {
            let mut strays = call.facts.get(&STRAY_ACCESSORS)?.unwrap_or_default();
            strays.extend(stray_token(host, call).filter(|a| !strays.contains(a)));
            let put_back = put_back_saved(host, call)?;
            let failed = failed.report(put_back);
            Err(if strays.is_empty() {
                failed
            } else {
                failed.fact(&STRAY_ACCESSORS, &strays)
            })
        }
    }
}

/// The bootstrap token in the archive a failed setup wrote (it opens with the new password), if
/// that is not the run's old one.
fn stray_token(host: &Host<'_>, call: &StepCall) -> Option<String> {
    let credentials = host
        .call(&OpenCredentials {
            known_password: call.new_password.clone(),
            ..OpenCredentials::default()
        })
        .ok()?;
    let member = credentials.member(mesh::ACL_SECRET_MEMBER)?;
    let token = BootstrapToken::parse(member.content.expose()).ok()?;
    let old = call.facts.get(&facts::OLD_ACCESSOR).ok().flatten();
    (old.as_ref() != Some(&token.accessor_id)).then_some(token.accessor_id)
}

pub fn node_setup(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let before = clear_partial_setup(host, call)?;
    Ok(with_notes(setup(host, call, false)?, &before))
}

fn with_notes(mut outcome: Outcome, notes: &[String]) -> Outcome {
    if !notes.is_empty() {
        outcome.detail = format!("{} (first: {})", outcome.detail, notes.join("; "));
    }
    outcome
}

/// A setup of this run that failed half-way (or was killed) left what it wrote (main.json,
/// certificates), which the next one refuses: moved to the run's backup (`restore` still puts
/// back the files from before the run, backed up first). It may have started service-discover
/// too, and Consul keeps the CA and certificate it started with: stopped first, or the next
/// setup's start would find it running (a no-op) and the node would stay on a CA no other node
/// gets (found on the simulated Mesh: a leader killed inside setup after its ACL bootstrap).
fn clear_partial_setup(host: &Host<'_>, call: &StepCall) -> Result<Vec<String>, PluginError> {
    if call.dry_run {
        return Ok(Vec::new());
    }
    // Setup writes main.json before it starts the unit: without one, nothing started it.
    let stopped = if host.stat(MAIN_JSON)?.exists {
        systemctl(host, "stop")?;
        " (service-discover stopped first)"
    } else {
        ""
    };
    let removed = remove_journaled(host, call, &setup_files(host)?)?;
    Ok(if removed == 0 {
        Vec::new()
    } else {
        vec![format!(
            "{removed} file(s) an earlier setup of this run wrote moved to the backup{stopped}"
        )]
    })
}

/// After a failed setup: the archive and the password file from before the run, back where
/// they were (setup may have replaced them before it failed); a line saying so.
fn put_back_saved(host: &Host<'_>, call: &StepCall) -> Result<String, PluginError> {
    if call.dry_run {
        return Ok(String::new());
    }
    let mut put_back = Vec::new();
    for record in typed_records(host, &call.run)? {
        if let JournalRecord::Saved { path, backup, .. } = record {
            if !put_back.contains(&path) {
                host.call(&RestorePath {
                    backup,
                    path: path.clone(),
                })?;
                put_back.push(path);
            }
        }
    }
    Ok(if put_back.is_empty() {
        String::new()
    } else {
        format!(
            "Put back as they were before the run: {}\n",
            put_back.join(", ")
        )
    })
}

/// `service-discover setup IP [--first-instance] --password=...` (its interface takes the
/// password in argv: ours shows it as `<redacted>`).
fn setup(host: &Host<'_>, call: &StepCall, first_instance: bool) -> Result<Outcome, StepError> {
    let ip = if call.dry_run && !call.facts.contains(facts::SETUP_IP.name()) {
        "<this host's address>".to_owned()
    } else {
        call.facts.require(&facts::SETUP_IP)?
    };
    let password = call
        .new_password
        .as_ref()
        .ok_or_else(|| fail("no new password"))?;
    let mut argv = vec![
        ExecArg::from(SERVICE),
        ExecArg::from("setup"),
        ExecArg::from(ip.as_str()),
    ];
    if first_instance {
        argv.push(ExecArg::from("--first-instance"));
    }
    argv.push(ExecArg::Secret {
        secret: format!("--password={}", password.expose()),
    });
    let setup = host.exec(&Exec {
        mutating: true,
        ..Exec::new(argv)
    })?;
    if setup.status != Some(0) {
        return Err(fail(format!(
            "service-discover setup failed (exit {}): {}",
            setup.status.map(|s| s.to_string()).unwrap_or_else(|| "killed".into()),
            setup.stderr.trim()
        ))
        .hint(format!(
            "fix the cause, then `carbonio-mesh {} --resume` (what this setup wrote goes to the run's backup and setup runs again), or `carbonio-mesh secret restore {}` to go back",
            if first_instance { "secret regenerate" } else { "secret rejoin" },
            call.run
        ))
        .into());
    }
    Ok(Outcome::new(if call.dry_run {
        format!("would set service-discover up again on {ip}")
    } else {
        format!("service-discover set up again on {ip}")
    }))
}
