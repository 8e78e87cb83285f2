//! The steps the leader and every other node share: stop service-discover, back up and remove
//! what setup must write anew, and run `service-discover setup`.

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::{Exec, ExecArg, RemovePath, ServiceErrorKind};
use carbonio_mesh_plugin_api::step::{facts, JournalRecord, StepError, StepOutcome as Outcome};
use carbonio_mesh_plugin_api::workflow::journal;
use carbonio_mesh_plugin_api::{Host, PluginError, StepCall};

use crate::paths::{CONFIG_JSON, LIB_DIR, MAIN_JSON, SERVICE};

fn fail(message: impl Into<String>) -> PluginError {
    PluginError::operation(message)
}

pub fn stop_service(host: &Host<'_>, _call: &StepCall) -> Result<Outcome, StepError> {
    let stop = host.exec(&Exec {
        mutating: true,
        ..Exec::new(["systemctl", "stop", SERVICE])
    })?;
    if stop.status != Some(0) {
        return Err(fail(format!(
            "systemctl stop {SERVICE} failed: {}",
            stop.stderr.trim()
        ))
        .into());
    }
    Ok(Outcome::new(format!("{SERVICE} stopped")))
}

pub fn backup_and_remove(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    let mut paths = vec![
        MAIN_JSON.to_owned(),
        CONFIG_JSON.to_owned(),
        mesh::ARCHIVE_PATH.to_owned(),
        mesh::PASSWORD_PATH.to_owned(),
    ];
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
    let mut removed = 0;
    for path in &paths {
        let answer = host.call(&RemovePath { path: path.clone() })?;
        if answer.existed {
            removed += 1;
            // Recorded at once: a crash after this removal must still let `restore` find it.
            if let Some(backup) = &answer.backup {
                journal(
                    host,
                    &call.run,
                    &JournalRecord::Removed {
                        step: call.step.clone(),
                        path: path.clone(),
                        backup: backup.clone(),
                    },
                )?;
            }
        }
    }
    Ok(Outcome::new(format!(
        "{removed} file(s) backed up and removed"
    )))
}

pub fn run_setup(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    setup(host, call, true)
}

pub fn node_setup(host: &Host<'_>, call: &StepCall) -> Result<Outcome, StepError> {
    setup(host, call, false)
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
        .hint("fix the cause, then `carbonio-mesh secret regenerate --resume`, or `carbonio-mesh secret restore RUN` to go back")
        .into());
    }
    Ok(Outcome::new(format!(
        "service-discover set up again on {ip}"
    )))
}
