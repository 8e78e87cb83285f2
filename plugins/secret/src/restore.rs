//! `secret restore RUN`: the files a run backed up put back, and service-discover restarted (it
//! may be running already with what setup wrote: a start would leave it so).
//!
//! Parse (the run's journal into a [`Restore`]), act (put the files back, restart) and render
//! are separate functions.

use std::collections::BTreeSet;

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::services::{Exec, FileType, RemovePath, RestorePath};
use carbonio_mesh_plugin_api::step::{facts, JournalRecord, NodeResult};
use carbonio_mesh_plugin_api::workflow::{journal, lock, now, typed_records};
use carbonio_mesh_plugin_api::{Host, PluginError, Request, Response};

use crate::paths::SERVICE;

/// What going back from a run means, read from its journal.
#[derive(Debug, Default, PartialEq, Eq)]
struct Restore {
    /// Each file the run removed or replaced, with its first backup (the one from before the
    /// run: a resumed run may have backed up what a failed setup left there too).
    files: Vec<(String, String)>,
    /// The ACL reset file the run wrote, if any: never put back, removed if still there.
    reset_file: Option<String>,
    /// Nodes the run set up again (rejoin-nodes): they keep the new secrets.
    nodes: Vec<String>,
    /// Mesh servers the run made leave raft and stop (shrink-raft) and did not set up again:
    /// still on the old secrets, stopped, out of the leader's raft configuration.
    left: Vec<String>,
    /// The leader's setup ran: LDAP may hold the new archive.
    setup_ran: bool,
    /// And finished: LDAP holds it (service-discover uploads it last, so a setup that failed
    /// most likely did not get there).
    setup_done: bool,
}

/// The steps whose node results restore reads: the other servers leaving raft, the other
/// nodes set up again.
const SHRINK_RAFT: &str = "shrink-raft";
const REJOIN_NODES: &str = "rejoin-nodes";
const RUN_SETUP: &str = "run-setup";

fn parse(records: &[JournalRecord]) -> Restore {
    let mut restore = Restore::default();
    let mut seen = BTreeSet::new();
    for record in records {
        match record {
            JournalRecord::Removed { path, backup, .. }
            | JournalRecord::Saved { path, backup, .. }
                if seen.insert(path.clone()) =>
            {
                restore.files.push((path.clone(), backup.clone()));
            }
            JournalRecord::Done {
                step, facts: found, ..
            } => {
                if let Ok(Some(reset)) = found.get(&facts::RESET_FILE) {
                    restore.reset_file = Some(reset);
                }
                restore.setup_done |= step == RUN_SETUP;
            }
            JournalRecord::Start { step, .. } if step == RUN_SETUP => restore.setup_ran = true,
            // Other steps drive nodes too (check-setup's checks change nothing there).
            JournalRecord::Node {
                step,
                node,
                result: NodeResult::Ok,
                ..
            } => {
                let list = match step.as_str() {
                    REJOIN_NODES => &mut restore.nodes,
                    SHRINK_RAFT => &mut restore.left,
                    _ => continue,
                };
                if !list.contains(node) {
                    list.push(node.clone());
                }
            }
            _ => {}
        }
    }
    // A server that left and was set up again later is among the nodes.
    restore.left.retain(|n| !restore.nodes.contains(n));
    restore
}

pub fn restore(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let run = request
        .value("run")
        .ok_or_else(|| PluginError::usage("name the run to restore"))?;
    let restore = parse(&typed_records(host, run)?);
    let stale = lock(host, run, "secret restore")?;
    if restore.files.is_empty() {
        return Ok(Response::text("")
            .with_stderr(format!("Run {run} removed no file; nothing to restore.\n")));
    }
    let mut changes: Vec<String> = restore
        .files
        .iter()
        .map(|(p, b)| format!("put back {p} from {b}"))
        .collect();
    changes.push(format!("restart {SERVICE}"));
    changes.extend(not_undone(&restore));
    if !host.confirm(changes, &format!("Restore the files of run {run}?"))? {
        return Ok(Response::declined_as(request.format));
    }
    let (files, restarted) = act(host, run, &restore)?;
    let response = render(request.dry_run, run, files, &restore, restarted);
    Ok(match stale {
        Some(stale) => response.with_warning(stale, None),
        None => response,
    })
}

/// What restore does not undo, and how the admin does: the nodes and LDAP that keep the new
/// secrets, the servers that left raft and stay stopped.
fn not_undone(restore: &Restore) -> Vec<String> {
    let mut kept = Vec::new();
    if !restore.nodes.is_empty() {
        kept.push(format!(
            "the nodes this run set up again keep the new secrets: {} (set each up again with the old archive: carbonio-mesh secret rejoin --archive FILE)",
            restore.nodes.join(", ")
        ));
    }
    if !restore.left.is_empty() {
        kept.push(format!(
            "the Mesh servers that left raft in this run are stopped, on the old secrets: {} (start each again: systemctl start {SERVICE} there; it joins again and the leader makes it a voter: carbonio-mesh doctor shows the voters)",
            restore.left.join(", ")
        ));
    }
    if restore.setup_ran {
        let upload = mesh::ldap_upload_command("LDAP_MASTER_URL", mesh::ARCHIVE_PATH);
        kept.push(if restore.setup_done {
            format!("LDAP keeps the archive the new setup uploaded, which nodes set up later download: upload the old one again as setup does ({upload})")
        } else {
            format!("LDAP may keep the archive of the setup that failed (setup uploads it last, so most likely it does not), which nodes set up later download: if it does, upload the old one again as setup does ({upload})")
        });
    }
    kept
}

/// Removes a leftover reset file, puts every file back, restarts the unit; whether the restart
/// worked (its error otherwise).
fn act(
    host: &Host<'_>,
    run: &str,
    restore: &Restore,
) -> Result<(usize, Result<(), String>), PluginError> {
    // Whoever can write it could mint a management token: it never outlives a run.
    if let Some(reset) = &restore.reset_file {
        host.call(&RemovePath {
            path: reset.clone(),
        })?;
    }
    // Files setup wrote in between are replaced (and themselves backed up by the host). A
    // directory (a node's Consul state) is not put back: the node rejoins and gets it anew.
    let mut put_back = 0;
    for (path, backup) in &restore.files {
        let stat = host.stat(backup)?;
        if stat.file_type == Some(FileType::Directory) {
            continue;
        }
        host.call(&RestorePath {
            backup: backup.clone(),
            path: path.clone(),
        })?;
        put_back += 1;
    }
    let restart = host.exec(&Exec {
        mutating: true,
        ..Exec::new(["systemctl", "restart", SERVICE])
    })?;
    journal(
        host,
        run,
        &JournalRecord::Restored {
            at: now(),
            files: put_back,
        },
    )?;
    let result = if restart.status == Some(0) {
        Ok(())
    } else {
        Err(restart.stderr.trim().to_owned())
    };
    let outcome = if result.is_ok() {
        "ok"
    } else {
        "files restored; restart failed"
    };
    host.audit("secret restore", run, outcome);
    Ok((put_back, result))
}

fn render(
    dry_run: bool,
    run: &str,
    files: usize,
    restore: &Restore,
    restarted: Result<(), String>,
) -> Response {
    let mut out = if dry_run {
        format!("Would restore {files} file(s) of run {run} and restart {SERVICE}.\n")
    } else {
        format!("Restored {files} file(s) of run {run} and restarted {SERVICE}.\n")
    };
    for kept in not_undone(restore) {
        out.push_str(&format!("Note: {kept}\n"));
    }
    match restarted {
        Ok(()) => Response::text(out),
        Err(error) => {
            out.push_str(&format!("systemctl restart {SERVICE} failed: {error}\n"));
            Response::text(out).with_exit_code(5)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_backup_of_each_file_comes_back_and_what_keeps_the_new_secrets_is_named() {
        let records: Vec<JournalRecord> = [
            json!({"event": "run", "workflow": "secret-regenerate", "at": 1}),
            json!({"step": "check-setup", "event": "node", "node": "agent-proxy-example-com", "host": null, "address": "10.0.0.4", "result": "ok", "detail": "checked"}),
            json!({"step": "shrink-raft", "event": "node", "node": "server-srv3-example-com", "host": null, "address": "10.0.0.5", "result": "ok", "detail": "left raft and stopped"}),
            json!({"step": "shrink-raft", "event": "node", "node": "server-srv2-example-com", "host": null, "address": "10.0.0.2", "result": "ok", "detail": "left raft and stopped"}),
            json!({"step": "write-reset-file", "event": "done", "at": 2, "facts": {"reset_file": "/d/acl-bootstrap-reset"}}),
            json!({"step": "backup-and-remove", "event": "removed", "path": "/etc/main.json", "backup": "/b/1/etc/main.json"}),
            json!({"step": "run-setup", "event": "start", "at": 3}),
            json!({"step": "run-setup", "event": "removed", "path": "/etc/main.json", "backup": "/b/2/etc/main.json"}),
            json!({"step": "run-setup", "event": "done", "at": 4}),
            json!({"step": "rejoin-nodes", "event": "node", "node": "server-srv2-example-com", "host": null, "address": "10.0.0.2", "result": "ok", "detail": "set up"}),
            json!({"step": "rejoin-nodes", "event": "node", "node": "agent-mail-example-com", "host": null, "address": "10.0.0.3", "result": "failed", "detail": "down"}),
        ]
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
        let restore = parse(&records);
        assert_eq!(
            restore.files,
            [("/etc/main.json".to_owned(), "/b/1/etc/main.json".to_owned())]
        );
        assert_eq!(
            restore.reset_file.as_deref(),
            Some("/d/acl-bootstrap-reset")
        );
        // check-setup's node changed nothing; srv2 left raft and was set up again, srv3 only
        // left.
        assert_eq!(restore.nodes, ["server-srv2-example-com"]);
        assert_eq!(restore.left, ["server-srv3-example-com"]);
        let kept = not_undone(&restore);
        assert!(kept[0].contains("server-srv2-example-com"), "{kept:?}");
        assert!(
            kept[1].contains("left raft") && kept[1].contains("server-srv3-example-com (start"),
            "{kept:?}"
        );
        assert!(kept[2].starts_with("LDAP keeps"), "{kept:?}");
    }

    #[test]
    fn a_setup_that_failed_most_likely_left_ldap_as_it_was() {
        let records: Vec<JournalRecord> = [
            json!({"step": "run-setup", "event": "start", "at": 3}),
            json!({"step": "run-setup", "event": "failed", "at": 4, "error": "setup failed"}),
        ]
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
        let kept = not_undone(&parse(&records));
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].starts_with("LDAP may keep"), "{kept:?}");
    }
}
