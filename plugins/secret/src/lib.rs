//! Plugin `secret`: regenerate Carbonio Mesh's secrets (bootstrap token, CA, gossip key,
//! credentials archive) on the leader as a workflow of named, replaceable, resumable steps.
//!
//! The steps and their providers come from the configuration (`workflow.steps`): a step of this
//! plugin, or a site command. Every step's start and end goes to the run's journal
//! (`journal.append`, fsynced) before the next one starts, so `--resume` continues a run that was
//! killed or failed at the first step not done, and `secret restore RUN` puts back every file the
//! run backed up. Secrets never enter the journal: a resumed run asks for the new password again.

mod nodes;
mod rejoin;
mod runs;
mod steps;

use std::collections::BTreeSet;

use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, JournalAppend, JournalRead, NewPassword, PasswordSource, ReadStdin, RemoveRun,
    ResolvedStep, RestorePath, RunStep, WorkflowSteps,
};
use carbonio_mesh_plugin_api::step::{
    facts, placeholders, Facts, JournalRecord, Placeholder, StepCall, StepOutcome,
};
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, SecretText, Suggest, Table,
};
use serde_json::{json, Value};
use steps::{StepContext, REGENERATE, REJOIN};

/// This plugin's name: its own steps run in-process, another plugin's through `step.run`.
const NAME: &str = "secret";
/// The largest archive a node accepts (on standard input or from `--archive FILE`).
const MAX_ARCHIVE: u64 = 8 << 20;

/// Appends one record to the run's journal.
pub(crate) fn journal(
    host: &Host<'_>,
    run: &str,
    record: &JournalRecord,
) -> Result<(), PluginError> {
    let record = serde_json::to_value(record)
        .map_err(|e| PluginError::internal(format!("cannot encode a journal record: {e}")))?;
    host.call(&JournalAppend {
        run: run.to_owned(),
        record,
    })?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A run's records as written (`runs` and `show` read them in their own terms).
fn records(host: &Host<'_>, run: &str) -> Result<Vec<Value>, PluginError> {
    Ok(host
        .call(&JournalRead {
            run: Some(run.to_owned()),
        })
        .map_err(|e| {
            PluginError::usage(format!("no run '{run}': {}", e.message))
                .hint("`carbonio-mesh secret runs` lists the runs")
        })?
        .records)
}

/// A run's records, typed; records of a later version are [`JournalRecord::Other`].
fn typed_records(host: &Host<'_>, run: &str) -> Result<Vec<JournalRecord>, PluginError> {
    Ok(records(host, run)?
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap_or(JournalRecord::Other))
        .collect())
}

/// The newest run by its start (names of either form), for `--resume` without a name.
fn latest_run(host: &Host<'_>) -> Result<String, PluginError> {
    runs::latest(host)?.ok_or_else(|| {
        PluginError::usage("there is no run to resume")
            .hint("start one: carbonio-mesh secret regenerate")
    })
}

fn workflow_steps(
    host: &Host<'_>,
    workflow: &str,
) -> Result<(Vec<ResolvedStep>, String), PluginError> {
    let workflow = host.call(&WorkflowSteps {
        workflow: workflow.to_owned(),
    })?;
    Ok((workflow.steps, workflow.service_user))
}

/// A site command's word with its `{run}`, `{ip}`, `{leader}` and `{FACT}` filled in (the plan
/// checked that every fact it names is recorded before the command runs).
fn fill(word: &str, known: &Facts, run: &str) -> String {
    let mut filled = word.to_owned();
    for (text, meaning) in placeholders(word) {
        let value = match meaning {
            Placeholder::Run => Some(run.to_owned()),
            Placeholder::Fact(fact) => known.text(fact),
        };
        if let Some(value) = value {
            filled = filled.replace(text, &value);
        }
    }
    filled
}

/// The facts a site command declared (`provides`), from its `NAME=VALUE` output lines: a value
/// that reads as a JSON number or boolean is one, anything else a string.
fn provided_facts(step: &ResolvedStep, stdout: &str) -> Result<Facts, PluginError> {
    let mut found = Facts::new();
    for line in stdout.lines() {
        let Some((name, value)) = line.trim().split_once('=') else {
            continue;
        };
        if step.provides.iter().any(|p| p == name) {
            let value = match serde_json::from_str::<Value>(value) {
                Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
                _ => Value::String(value.to_owned()),
            };
            found.set_raw(name, value);
        }
    }
    let missing: Vec<&str> = step
        .provides
        .iter()
        .filter(|p| !found.contains(p))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(PluginError::operation(format!(
            "the site command for step {} did not print {}",
            step.name,
            missing
                .iter()
                .map(|m| format!("{m}=VALUE"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("it declares provides = [...]: print each fact on a line of its own, NAME=VALUE"));
    }
    Ok(found)
}

/// A step provided by a site command.
fn run_exec_step(
    host: &Host<'_>,
    step: &ResolvedStep,
    argv: &[String],
    facts: &Facts,
    run: &str,
    password: Option<&SecretText>,
) -> Result<StepOutcome, PluginError> {
    let words: Vec<ExecArg> = argv
        .iter()
        .map(|w| ExecArg::from(fill(w, facts, run)))
        .collect();
    let stdin = if step.password_stdin {
        let password =
            password.ok_or_else(|| PluginError::operation("no new password for this step"))?;
        Some(format!("{}\n", password.expose()))
    } else {
        None
    };
    let output = host.exec(&Exec {
        argv: words,
        stdin,
        mutating: true,
        secrets: password
            .map(|p| vec![p.expose().to_owned()])
            .unwrap_or_default(),
        ..Exec::default()
    })?;
    if output.status != Some(0) {
        return Err(PluginError::operation(format!(
            "the site command for step {} failed (exit {}): {}",
            step.name,
            output
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "killed".into()),
            output.stderr.trim()
        )));
    }
    Ok(StepOutcome {
        detail: format!("site command: {}", argv.join(" ")),
        // Under --dry-run the command did not run: it printed nothing to record.
        facts: if output.dry_run {
            Facts::new()
        } else {
            provided_facts(step, &output.stdout)?
        },
        report: String::new(),
    })
}

fn regenerate(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    run_workflow(host, request, REGENERATE)
}

fn rejoin(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let input_stdin = request.flag("input-stdin");
    let password_file = request.value("password-file").is_some();
    let password_stdin = request.flag("password-stdin");
    if input_stdin && request.value("archive").is_some() {
        return Err(PluginError::usage(
            "--archive and --input-stdin both give the new archive: use one of them",
        )
        .hint("--archive FILE for the archive you copied from the leader; --input-stdin is how the leader's `secret regenerate --nodes` sends it"));
    }
    if input_stdin && (password_file || password_stdin) {
        return Err(PluginError::usage(
            "--input-stdin reads the new password from the first line of standard input: --password-file and --password-stdin do not go with it",
        )
        .hint("with --archive FILE, give the password by --password-file or --password-stdin"));
    }
    if password_file && password_stdin {
        return Err(PluginError::usage(
            "--password-file and --password-stdin both give the new password: use one of them",
        ));
    }
    run_workflow(host, request, REJOIN)
}

/// Runs (or resumes) `workflow`: each pending step journaled before the next starts.
fn run_workflow(
    host: &Host<'_>,
    request: &Request,
    workflow: &str,
) -> Result<Response, PluginError> {
    let (steps, service_user) = workflow_steps(host, workflow)?;
    let resume = request.flag("resume");
    let run = match (resume, request.value("run")) {
        (_, Some(run)) => run.to_owned(),
        (true, None) => latest_run(host)?,
        (false, None) => runs::new_run_id(now()),
    };
    let mut facts = Facts::new();
    let mut done = BTreeSet::new();
    if resume {
        for record in typed_records(host, &run)? {
            match record {
                JournalRecord::Finished { .. } => {
                    return Ok(Response::text(format!(
                        "Run {run} already finished; nothing to resume.\n"
                    )))
                }
                JournalRecord::Done {
                    step, facts: new, ..
                } => {
                    done.insert(step);
                    facts.extend(new);
                }
                _ => {}
            }
        }
    }
    let pending: Vec<&ResolvedStep> = steps.iter().filter(|s| !done.contains(&s.name)).collect();
    // `secret rejoin --archive FILE`; a resumed run without it reads the file node-preflight
    // checked again (only its path is in the journal).
    let archive_file = match request.value("archive") {
        Some(path) => Some(rejoin::archive_arg(path)?),
        None => facts
            .get(&facts::ARCHIVE_FILE)?
            .filter(|_| !request.flag("input-stdin")),
    };
    let changes = pending.iter().map(|s| format!("step {}", s.name)).collect();
    let question = if workflow == REJOIN {
        format!(
            "Set this node up again with the new secrets ({} step(s), run {run})?",
            pending.len()
        )
    } else {
        format!(
            "Regenerate the Mesh secrets on this node ({} step(s), run {run})?",
            pending.len()
        )
    };
    if !host.confirm(changes, &question)? {
        return Ok(Response::declined_as(request.format));
    }
    // The new password, asked once for every pending step that declares it needs it; with
    // --nodes it also goes to each node.
    let input_stdin = request.flag("input-stdin");
    let needs_password =
        input_stdin || request.value("nodes").is_some() || pending.iter().any(|s| s.needs.password);
    let new_password = if needs_password {
        Some(host.call(&NewPassword {
            password: PasswordSource {
                file: request.value("password-file").map(str::to_owned),
                stdin: request.flag("password-stdin") || input_stdin,
            },
            generate: request.flag("generate"),
        })?)
    } else {
        None
    };
    // On a node: the leader's new archive follows the password on standard input.
    let new_archive = if input_stdin {
        Some(host.call(&ReadStdin {
            max_bytes: MAX_ARCHIVE,
        })?)
    } else {
        None
    };
    // `secret runs` counts the resumes by these records.
    let opening = if resume {
        JournalRecord::Resumed { at: now() }
    } else {
        JournalRecord::Run {
            workflow: workflow.to_owned(),
            at: now(),
        }
    };
    journal(host, &run, &opening)?;
    let mut lines = Vec::new();
    let mut reports = String::new();
    let mut failure = None;
    // Whether anything may have changed: a resumed run did before; otherwise a step that
    // changes the system (or a site command) has started.
    let mut changed = resume;
    let total = steps.len();
    // `--archive FILE`, read once by the first step that needs it: the bytes checked and
    // compared with LDAP's copy are the bytes installed.
    let archive_read = std::cell::OnceCell::new();
    for (number, step) in steps.iter().enumerate() {
        let number = number + 1;
        if done.contains(&step.name) {
            lines.push(("done", step.name.clone(), "(earlier)".to_owned()));
            continue;
        }
        // Steps may take seconds each (stopping and restarting service-discover, every node):
        // the person at the terminal sees which one is running.
        host.progress(&format!("step {number}/{total} {} ...", step.name));
        changed |= step.changes_system || step.exec.is_some();
        let started = std::time::Instant::now();
        journal(
            host,
            &run,
            &JournalRecord::Start {
                step: step.name.clone(),
                at: now(),
            },
        )?;
        let ctx = StepContext {
            host,
            run: &run,
            dry_run: request.dry_run,
            facts: &facts,
            new_password: new_password.as_ref().map(|p| &p.password),
            service_user: &service_user,
            revoke_old_token: request.flag("revoke-old-token"),
            nodes: request.value("nodes"),
            include_failed: request.flag("include-failed"),
            parallel: request.parsed("parallel")?.unwrap_or(32),
            new_archive: new_archive.as_ref().map(|a| &a.text),
            archive_file: archive_file.as_deref(),
            archive_read: &archive_read,
        };
        let outcome = match (&step.plugin, &step.exec) {
            (Some(plugin), _) if plugin == NAME => steps::run(&step.name, &ctx),
            (Some(plugin), _) => host
                .call(&RunStep {
                    plugin: plugin.clone(),
                    call: StepCall {
                        workflow: workflow.to_owned(),
                        step: step.name.clone(),
                        run: run.clone(),
                        dry_run: request.dry_run,
                        facts: facts.clone(),
                        new_password: ctx.new_password.filter(|_| step.needs.password).cloned(),
                        args: request.args.clone(),
                        started_by: String::new(),
                    },
                })
                .map_err(PluginError::from),
            (None, Some(argv)) => run_exec_step(host, step, argv, &facts, &run, ctx.new_password),
            (None, None) => Err(PluginError::config(format!(
                "step {} has no provider",
                step.name
            ))),
        };
        match outcome {
            Ok(outcome) => {
                journal(
                    host,
                    &run,
                    &JournalRecord::Done {
                        step: step.name.clone(),
                        at: now(),
                        facts: outcome.facts.clone(),
                    },
                )?;
                facts.extend(outcome.facts);
                host.progress(&format!(
                    "step {number}/{total} {} ok ({:.1} s)",
                    step.name,
                    started.elapsed().as_secs_f64()
                ));
                lines.push(("ok", step.name.clone(), outcome.detail));
                reports.push_str(&outcome.report);
            }
            Err(mut error) => {
                journal(
                    host,
                    &run,
                    &JournalRecord::Failed {
                        step: step.name.clone(),
                        at: now(),
                        error: error.message.clone(),
                    },
                )?;
                // A multi-line error carries a report (the per-node table): it goes below the steps.
                if let Some((first, report)) = error.message.clone().split_once('\n') {
                    reports.push_str(report);
                    // The run's name follows on its own line.
                    if !reports.ends_with('\n') {
                        reports.push('\n');
                    }
                    error.message = first.to_owned();
                }
                host.progress(&format!(
                    "step {number}/{total} {} FAILED ({:.1} s)",
                    step.name,
                    started.elapsed().as_secs_f64()
                ));
                lines.push(("FAIL", step.name.clone(), error.message.clone()));
                failure = Some(error);
                break;
            }
        }
    }
    if failure.is_none() {
        journal(host, &run, &JournalRecord::Finished { at: now() })?;
    } else if !changed && !request.dry_run {
        // A preflight refused before anything changed: no run is left to resume or restore.
        host.call(&RemoveRun { run: run.clone() })?;
    }
    let generated = new_password
        .filter(|p| p.source == "generated" && !request.dry_run)
        .map(|p| p.password);
    let command = if workflow == REJOIN {
        "rejoin"
    } else {
        "regenerate"
    };
    let kept = changed || request.dry_run || failure.is_none();
    Ok(render_run(
        request, command, &run, kept, &lines, &reports, failure, generated,
    ))
}

/// What a run prints: the step table (or JSON), the reports below it, the run's name, and on a
/// failure how to go on or back; a generated password once, at the very end.
#[allow(clippy::too_many_arguments)]
fn render_run(
    request: &Request,
    command: &str,
    run: &str,
    kept: bool,
    lines: &[(&str, String, String)],
    reports: &str,
    failure: Option<PluginError>,
    generated: Option<SecretText>,
) -> Response {
    let mut stdout = String::new();
    match request.format {
        OutputFormat::Json => {
            stdout = serde_json::to_string_pretty(&json!({
                // null when nothing was changed and the run was not kept.
                "run": kept.then_some(run),
                "finished": failure.is_none(),
                "steps": lines.iter().map(|(s, n, d)| json!({"step": n, "status": s, "detail": d})).collect::<Vec<_>>(),
            }))
            .unwrap_or_default();
            stdout.push('\n');
        }
        OutputFormat::Human => {
            let mut table = Table::new(["Status", "Step", "Detail"]);
            for (status, name, detail) in lines {
                table.push([*status, name.as_str(), detail.as_str()]);
            }
            stdout.push_str(&table.render());
            stdout.push_str(reports);
            if request.dry_run {
                stdout.push_str("Run: none (dry run: nothing recorded)\n");
            } else if !kept {
                stdout.push_str("Run: none (nothing was changed: not kept)\n");
            } else {
                stdout.push_str(&format!("Run: {run}\n"));
            }
        }
    }
    if let Some(error) = failure {
        // A step failing for a reason the host documents (a wrong archive password: 7, a
        // damaged archive: 8) keeps that code; any other failed step is 5.
        let code = error.exit_code.unwrap_or(5);
        if request.dry_run {
            let stderr = format!(
                "secret {command}: the dry run stops at a step that would fail: {}\n{}",
                error.message,
                error
                    .hint
                    .map(|h| format!("  fix: {h}\n"))
                    .unwrap_or_default()
            );
            return Response::text(stdout)
                .with_stderr(stderr)
                .with_exit_code(code);
        }
        let fix = error
            .hint
            .map(|h| format!("  fix: {h}\n"))
            .unwrap_or_default();
        let stderr = if kept {
            format!(
                "secret {command}: step failed: {}\n{fix}  Continue with: carbonio-mesh secret {command} --resume --run {run}\n  Or go back:    carbonio-mesh secret restore {run}\n",
                error.message,
            )
        } else {
            format!(
                "secret {command}: step failed: {}\n{fix}  Nothing was changed and no run was kept: fix the cause and run the same command again.\n",
                error.message,
            )
        };
        return Response::text(stdout)
            .with_stderr(stderr)
            .with_exit_code(code);
    }
    match generated {
        Some(password) => {
            stdout.push_str(&format!(
                "New password (shown once; service-discover stored it in /var/lib/service-discover/password): {}\n",
                password.expose()
            ));
            Response::text(stdout).revealing(&password)
        }
        None => Response::text(stdout),
    }
}

fn plan(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let workflow = if request.flag("rejoin") {
        REJOIN
    } else {
        REGENERATE
    };
    let (steps, _) = workflow_steps(host, workflow)?;
    if request.format == OutputFormat::Json {
        return Response::json(&steps);
    }
    let mut table = Table::new([
        "#",
        "Step",
        "Provider",
        "From",
        "Needs",
        "Provides",
        "Defined in",
    ]);
    let listed = |items: Vec<&str>| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    let rows: Vec<[String; 7]> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (provider, from) = match (&s.plugin, &s.exec) {
                (Some(p), _) => (
                    format!(
                        "plugin {p} {}",
                        s.plugin_version.as_deref().unwrap_or_default()
                    )
                    .trim_end()
                    .to_owned(),
                    s.plugin_file
                        .clone()
                        .unwrap_or_else(|| "(not found)".into()),
                ),
                (None, Some(argv)) => ("command".to_owned(), argv.join(" ")),
                _ => ("-".to_owned(), "-".to_owned()),
            };
            let mut needs: Vec<&str> = s.needs.facts.iter().map(String::as_str).collect();
            if s.needs.password {
                needs.insert(0, "password");
            }
            let defined_in = match s.line {
                Some(line) => format!("{}:{line}", s.defined_in),
                None => s.defined_in.clone(),
            };
            [
                (i + 1).to_string(),
                s.name.clone(),
                provider,
                from,
                listed(needs),
                listed(s.provides.iter().map(String::as_str).collect()),
                defined_in,
            ]
        })
        .collect();
    for row in &rows {
        table.push(row.iter().map(String::as_str));
    }
    let mut out = table.render();
    // rejoin-nodes's command step: what `--nodes` runs on each node.
    if workflow == REGENERATE {
        let (transport, _) = workflow_steps(host, "transport")?;
        if let Some(step) = transport.first() {
            let words = step.exec.as_deref().unwrap_or_default();
            let at = match step.line {
                Some(line) => format!("{}:{line}", step.defined_in),
                None => step.defined_in.clone(),
            };
            // What `--nodes` would refuse, the plan refuses now.
            carbonio_mesh_plugin_api::fanout::check_transport(words, &at)?;
            let argv = words.join(" ");
            out.push_str(&format!(
                "Transport (how rejoin-nodes reaches each node; {at}): {argv}\n"
            ));
        }
    }
    Ok(Response::text(out))
}

fn restore(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
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
        host.call(&carbonio_mesh_plugin_api::services::RemovePath { path: reset })?;
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

fn password_args(command: CommandSpec) -> CommandSpec {
    command
        .arg(
            ArgSpec::option(
                "password-file",
                "Read the new password from the first line of FILE",
            )
            .value_name("FILE"),
        )
        .arg(ArgSpec::flag(
            "password-stdin",
            "Read the new password from the first line of standard input",
        ))
        .arg(ArgSpec::flag(
            "generate",
            "Generate a strong password and print it once at the end",
        ))
}

pub struct Secret;

impl Plugin for Secret {
    fn manifest() -> Manifest {
        let about =
            "Regenerate the Mesh secrets as a resumable workflow (bootstrap token, CA, archive); list, show and prune the runs";
        let mut manifest = Manifest::new("secret", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("secret", about)
                .subcommand(
                    password_args(CommandSpec::new("regenerate", "Run the secret-regeneration workflow on the Mesh leader").long_about(
                        "Runs the configured steps of the secret-regenerate workflow (see `secret plan`): \
preflight, find-leader, check-on-leader, read-reset-index, write-reset-file, stop-service, backup-and-remove, \
run-setup, verify, check-ldap-copy, revoke-old-token, rejoin-nodes. Each step's start and result go to the run's journal under \
/var/lib/carbonio-mesh/runs; a run that stopped (killed, failed step) continues with --resume. Every file \
removed is backed up first; `secret restore RUN` puts them back. The new password comes from \
--password-file, --password-stdin, --generate, or is asked twice; it is never written to the journal.",
                    ))
                    .arg(ArgSpec::flag("resume", "Continue the newest run (or --run RUN) at its first unfinished step"))
                    .arg(ArgSpec::option("run", "The run to resume").value_name("RUN").suggest(Suggest::Runs))
                                        .arg(ArgSpec::flag("revoke-old-token", "Delete the previous bootstrap token at the end"))
                    .arg(
                        ArgSpec::option("nodes", "Then set up the other nodes again through the transport step: `all` alive members but this host, or a list of node names, hostnames or addresses")
                            .value_name("all|LIST")
                            .suggest(Suggest::Nodes { extra: vec!["all".into()], list: true }),
                    )
                    .arg(ArgSpec::flag("include-failed", "With --nodes all, also try the members Consul lists as failed"))
                    .arg(
                        ArgSpec::option("parallel", "How many nodes at a time")
                            .value_name("N")
                            .default_value("32")
                            .unsigned(1, 64),
                    )
                    .example("sudo carbonio-mesh --dry-run secret regenerate --nodes all --generate", "What regenerating the whole cluster's secrets would do")
                    .example("sudo carbonio-mesh secret regenerate --nodes all --password-file /root/pw", "Regenerate on the leader, then set up every alive node again over ssh")
                    .example("sudo carbonio-mesh secret regenerate --resume", "Continue the newest run where it stopped"),
                )
                .subcommand(
                    CommandSpec::new("rejoin", "On another node: set it up again with the leader's new secrets")
                        .long_about(
                            "Runs the secret-rejoin workflow (see `secret plan --rejoin`): node-preflight, \
stop-service, backup-and-remove, install-archive, node-setup, node-verify. Journaled and resumable like \
regenerate.\n\n\
The new archive comes one of two ways. By hand, as Carbonio's documented procedure does it: copy the leader's \
/etc/zextras/service-discover/cluster-credentials.tar.gpg to the node (scp), then run \
`secret rejoin --archive FILE` with the new password from --password-file, --password-stdin, or asked twice \
without echo on the terminal. Before anything changes, node-preflight checks that FILE is a regular file of at \
most 8 MiB, an armored OpenPGP message, and that it opens with the password: a wrong password stops with exit 7, \
a damaged file with exit 8, and nothing is touched. The archive never goes into the journal: a resumed run \
(--resume) reads FILE again, from the path the journal names or from --archive, so keep the file until the run \
has finished. Or on standard input (--input-stdin): the new password on the first line, the archive after it, \
which is how the leader's `secret regenerate --nodes` calls it through its transport (ssh by default).\n\n\
The node is set up on the bind_addr of /etc/zextras/service-discover/config.json when that is an address of \
this host; else on the local address the routing table uses to reach the Mesh leader (from the local agent's \
/v1/status/leader); if the agent cannot tell, on the host's only non-loopback IPv4 address. With several and \
no answer it stops: write the right address into config.json's bind_addr.",
                        )
                        .arg(
                            ArgSpec::option("archive", "The new archive, copied from the leader (read again by --resume)")
                                .value_name("FILE"),
                        )
                        .arg(
                            ArgSpec::option("password-file", "With --archive: read the new password from the first line of FILE")
                                .value_name("FILE"),
                        )
                        .arg(ArgSpec::flag("password-stdin", "With --archive: read the new password from the first line of standard input"))
                        .arg(ArgSpec::flag("input-stdin", "Read the new password (first line) and the new archive (the rest) from standard input"))
                        .arg(ArgSpec::flag("resume", "Continue the newest run (or --run RUN) at its first unfinished step"))
                        .arg(ArgSpec::option("run", "The run to resume").value_name("RUN").suggest(Suggest::Runs))
                        .example("sudo carbonio-mesh secret rejoin --archive /root/cluster-credentials.tar.gpg --password-file /root/pw", "On a node, with the archive copied by hand from the leader")
                        .example("sudo carbonio-mesh secret rejoin --resume", "Continue after fixing what stopped it"),
                )
                .subcommand(
                    CommandSpec::new("plan", "Print the workflow's steps, the plugin or command providing each, and where that is configured")
                        .arg(ArgSpec::flag("rejoin", "The nodes' workflow (secret rejoin) instead of the leader's"))
                        .example("carbonio-mesh secret plan", "The leader's steps and who provides each")
                        .example("carbonio-mesh secret plan --rejoin", "The steps each other node runs")
                        .read_only(),
                )
                .subcommand(
                    CommandSpec::new("restore", "Put back the files a run backed up, and start service-discover")
                        .arg(ArgSpec::positional("run", "The run, as `secret regenerate` printed it").value_name("RUN").required().suggest(Suggest::Runs))
                        .example("sudo carbonio-mesh secret restore 2026-12-01T10-15-02Z-3f2a", "Put back what that run removed, and start service-discover"),
                )
                .subcommand(
                    CommandSpec::new("runs", "List the runs, oldest first, with their state (finished, failed at STEP, in progress or interrupted, resumed, restored)")
                        .long_about(
                            "Lists every run journaled under /var/lib/carbonio-mesh/runs, oldest first by its start: its name (UTC start time, then four random hex digits, as in 2026-12-01T10-15-02Z-3f2a; runs of earlier versions are named UNIX-SECONDS-PID), the workflow, the start, and the state: finished, failed at STEP, in progress or interrupted at STEP (the journal cannot tell a running run from a killed one), how often it was resumed, and whether `secret restore` put its files back.",
                        )
                        .example("sudo carbonio-mesh secret runs", "Every run and its state")
                        .example("sudo carbonio-mesh secret runs --format json", "The same for scripts")
                        .read_only(),
                )
                .subcommand(
                    CommandSpec::new("show", "Show one run: its steps with status and detail, the files it removed and where their backups are")
                        .arg(ArgSpec::positional("run", "The run, as `secret regenerate` or `secret runs` printed it").value_name("RUN").required().suggest(Suggest::Runs))
                        .example("sudo carbonio-mesh secret show 2026-12-01T10-15-02Z-3f2a", "Its steps, and where the backups of what it removed are")
                        .read_only(),
                )
                .subcommand(
                    CommandSpec::new("prune", "Delete old runs for good: their journals and backups (which hold the old secrets)")
                        .long_about(
                            "Keeps the newest N runs (--keep, default 10) and every run that is neither finished nor restored (it may still be resumed or restored; --include-unfinished removes those too), and deletes the others: each run's journal directory under /var/lib/carbonio-mesh/runs and the backup directories under /var/backups/carbonio-mesh ([backup] dir) its journal names. The backups hold the previous secrets (the old archive, certificates and password file), so nothing is backed up first: the removal is final and audited. Asks for confirmation on a terminal; --yes confirms, --dry-run shows what would go.",
                        )
                        .arg(
                            ArgSpec::option("keep", "How many of the newest runs to keep")
                                .value_name("N")
                                .default_value(runs::DEFAULT_KEEP)
                                .unsigned(0, 1_000_000),
                        )
                        .arg(ArgSpec::flag("include-unfinished", "Also delete old runs that are neither finished nor restored"))
                        .example("sudo carbonio-mesh --dry-run secret prune", "Which runs (and old secrets) would be deleted")
                        .example("sudo carbonio-mesh secret prune --keep 3 --yes", "Keep the newest three, without asking"),
                ),
        );
        manifest = manifest
            .workflow(
                REGENERATE,
                "regenerate the Mesh secrets on the leader (secret regenerate)",
            )
            .workflow(
                REJOIN,
                "set a node up again with the leader's new secrets (secret rejoin)",
            )
            .plan(REGENERATE, "carbonio-mesh secret plan")
            .plan(REJOIN, "carbonio-mesh secret plan --rejoin");
        for (spec, _) in steps::steps() {
            manifest = manifest.with_step(spec);
        }
        manifest
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "regenerate" => regenerate(host, request),
            "rejoin" => rejoin(host, request),
            "plan" => plan(host, request),
            "restore" => restore(host, request),
            "runs" => runs::list(host, request),
            "show" => runs::show(host, request),
            "prune" => runs::prune(host, request),
            "" => Err(PluginError::usage(
                "secret needs a subcommand: regenerate, rejoin, plan, restore, runs, show, prune",
            )),
            other => Err(PluginError::usage(format!(
                "unknown secret command '{other}'"
            ))),
        }
    }
}

export_plugin!(Secret);
