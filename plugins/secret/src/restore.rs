//! `secret restore RUN`: the files a run backed up put back, and service-discover started.

use carbonio_mesh_plugin_api::services::{Exec, RemovePath, RestorePath};
use carbonio_mesh_plugin_api::step::{facts, JournalRecord};
use carbonio_mesh_plugin_api::workflow::{journal, now, typed_records};
use carbonio_mesh_plugin_api::{Host, PluginError, Request, Response};

pub fn restore(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let run = request
        .value("run")
        .ok_or_else(|| PluginError::usage("name the run to restore"))?;
    let journal_records = typed_records(host, run)?;
    let removed: Vec<(String, String)> = journal_records
        .iter()
        .filter_map(|r| match r {
            JournalRecord::Removed { path, backup, .. } => Some((path.clone(), backup.clone())),
            _ => None,
        })
        .collect();
    if removed.is_empty() {
        return Ok(Response::text("")
            .with_stderr(format!("Run {run} removed no file; nothing to restore.\n")));
    }
    let mut changes: Vec<String> = removed
        .iter()
        .map(|(p, b)| format!("put back {p} from {b}"))
        .collect();
    changes.push("start service-discover".to_owned());
    if !host.confirm(changes, &format!("Restore the files of run {run}?"))? {
        return Ok(Response::declined_as(request.format));
    }
    // Files setup wrote in between are replaced (and themselves backed up by the host).
    let reset = journal_records.iter().find_map(|r| match r {
        JournalRecord::Done { facts: found, .. } => found.get(&facts::RESET_FILE).ok().flatten(),
        _ => None,
    });
    if let Some(reset) = reset {
        host.call(&RemovePath { path: reset })?;
    }
    for (path, backup) in &removed {
        host.call(&RestorePath {
            backup: backup.clone(),
            path: path.clone(),
        })?;
    }
    let start = host.exec(&Exec {
        mutating: true,
        ..Exec::new(["systemctl", "start", "service-discover"])
    })?;
    journal(
        host,
        run,
        &JournalRecord::Restored {
            at: now(),
            files: removed.len(),
        },
    )?;
    host.audit(
        "secret restore",
        run,
        if start.status == Some(0) {
            "ok"
        } else {
            "files restored; start failed"
        },
    );
    let mut out = format!("Restored {} file(s) of run {run}.\n", removed.len());
    if start.status != Some(0) {
        out.push_str(&format!(
            "systemctl start service-discover failed: {}\n",
            start.stderr.trim()
        ));
        return Ok(Response::text(out).with_exit_code(5));
    }
    Ok(Response::text(out))
}
