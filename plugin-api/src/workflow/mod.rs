//! The workflow engine: runs, or resumes, one of a plugin's workflows step by step (added in
//! 1.7; it ran inside the `secret` plugin before).
//!
//! A plugin declares its workflows and steps in its manifest (see [`crate::step`]); its command
//! hands the engine a [`Workflow`]: the workflow's name, the steps it carries out itself
//! ([`Builtin`], each given the same [`StepCall`] as a step of another plugin), and the few
//! things only it knows (what it decides before the first step, the scope the confirmation
//! states, what must not outlive a run). The engine does the rest, the same way for every
//! plugin:
//!
//! - the steps as the configuration resolves them (`workflow.steps`): the plugin's own, another
//!   plugin's (`step.run`), or a site command (its placeholders filled by [`crate::step::Fill`],
//!   the facts it declares read back);
//! - the journal: the run's arguments and first decisions, each step's start and end (and each
//!   node's result, [`drive`]) appended and fsynced before the next one starts;
//! - resume rules: `--resume` continues at the first step not done, with the arguments and
//!   decisions the run started with (a differing argument is named and ignored), and never
//!   makes or asks for a new password once a step took one;
//! - the new password: asked once, before the first step, only when a step needs it;
//! - the confirmation, progress lines, and what the run prints ([`render`]).

mod command;
mod nodes;
mod render;
mod state;

use std::collections::{BTreeMap, BTreeSet};

pub use nodes::{drive, Driven, ExecFor, NodeGroup, Pace};
pub use render::node_table;
pub use state::{
    journal, latest_run, new_run_id, now, records, rfc3339, runs_by_start, typed_records,
    JournaledStep, RunBackup, RunState, StepProgress,
};

use crate::services::WorkflowSteps;
use crate::services::{
    LockRun, NewPassword, NewPasswordAnswer, PasswordSource, RemoveRun, ResolvedStep,
    ResolvedWorkflow, RunStep,
};
use crate::step::{Facts, JournalRecord, StepCall, StepError, StepOutcome, StepSpec};
use crate::{ArgValue, Args, Host, PluginError, Request, Response, SecretText};
use render::{Ended, Line};

/// What carries out a step the running plugin provides.
pub type StepFn = fn(&Host<'_>, &StepCall) -> Result<StepOutcome, StepError>;

/// A step the running plugin carries out itself: its declaration and its function.
pub struct Builtin {
    /// What the step is, where it goes, what it needs and records.
    pub spec: StepSpec,
    /// What carries it out.
    pub run: StepFn,
}

/// What a plugin's command tells the engine about the workflow it runs.
pub struct Workflow<'a> {
    /// The workflow (`secret-regenerate`).
    pub name: &'a str,
    /// The command running it, as typed after `carbonio-mesh` (`secret regenerate`).
    pub command: &'a str,
    /// The command that goes back from a run (`secret restore`), named when a step fails.
    pub restore: Option<&'a str>,
    /// The running plugin: its own steps run in-process, another plugin's through `step.run`.
    pub plugin: &'a str,
    /// The running plugin's own steps.
    pub builtins: &'a [Builtin],
    /// What the run does, for the confirmation (`Regenerate the Mesh secrets`).
    pub action: &'a str,
    /// Where the action applies (`on this node and 4 other nodes: ...`), from the run's
    /// arguments and first decisions.
    pub scope: fn(&Host<'_>, &StepCall) -> String,
    /// A new run's decisions before its first step (the nodes): journaled with the run, kept
    /// by `--resume`. Read-only: nothing has been confirmed yet.
    pub prepare: fn(&Host<'_>, &StepCall) -> Result<Facts, PluginError>,
    /// Whether the run needs a new password besides its steps' declarations (`--nodes`).
    pub needs_password: fn(&StepCall) -> bool,
    /// Where the password a step took is kept (service-discover's password file): a resumed
    /// run reads it back there instead of making or asking for another.
    pub kept_password: Option<&'a str>,
    /// Runs once the steps stop, finished or not (not under `--dry-run`): what must not outlive
    /// a run (the ACL reset file).
    pub cleanup: Option<fn(&Host<'_>, &StepCall)>,
}

/// What the command read itself before the run: the password and the rest of standard input
/// (`secret rejoin --input-stdin`).
#[derive(Default)]
pub struct Given {
    /// The new password, read with the input.
    pub password: Option<NewPasswordAnswer>,
    /// The rest of standard input (an archive), for the plugin's own steps.
    pub input: Option<SecretText>,
}

/// Arguments of one invocation, never kept for a resumed run.
const PER_INVOCATION: &[&str] = &["resume", "run", "password-stdin", "input-stdin"];
/// Where the new password comes from: a resumed run takes them from its own command line when
/// it names one.
const PASSWORD_SOURCES: &[&str] = &["password-file", "password-stdin", "generate"];

/// Runs (or, with `--resume`, continues) `workflow` for `request`.
pub fn run(
    host: &Host<'_>,
    request: &Request,
    workflow: &Workflow<'_>,
    given: Given,
) -> Result<Response, PluginError> {
    let resolved = host.call(&WorkflowSteps {
        workflow: workflow.name.to_owned(),
    })?;
    let (run, earlier, started_at) = which_run(host, request, workflow)?;
    if earlier.as_ref().is_some_and(|s| s.finished) {
        return Ok(Response::text(format!(
            "Run {run} already finished; nothing to resume.\n"
        )));
    }
    // One run at a time on a node: refused here, before anything is decided or asked.
    let stale = lock(host, &run, workflow.name)?;
    let mut started = start(
        host,
        request,
        workflow,
        run,
        earlier,
        &resolved,
        given.input,
    )?;
    started.warnings.extend(stale);
    let call = &mut started.call;
    let pending: Vec<&ResolvedStep> = resolved
        .steps
        .iter()
        .filter(|s| !started.done.contains(&s.name))
        .collect();
    if !confirm(host, workflow, call, &pending)? {
        return Ok(Response::declined_as(request.format));
    }
    let steps = &resolved.steps;
    let password = password(host, workflow, call, steps, &started.done, given.password)?;
    call.new_password = password.as_ref().map(|p| p.password.clone());
    journal(
        host,
        &call.run,
        &opening_record(workflow, call, started.opening.clone(), started_at),
    )?;
    let (lines, failure) = run_steps(host, workflow, steps, &started.done, call)?;
    if failure.is_none() {
        journal(host, &call.run, &JournalRecord::Finished { at: now() })?;
    }
    // A run that failed before anything could have changed is not kept: there is nothing to
    // resume or restore, and the same command is the way on.
    let kept = failure.is_none()
        || call.dry_run
        || started.opening.is_none()
        || may_have_changed(steps, &lines);
    if !kept {
        host.call(&RemoveRun {
            run: call.run.clone(),
        })?;
    }
    if let (Some(cleanup), false) = (workflow.cleanup, call.dry_run) {
        cleanup(host, call);
    }
    // A generated password a step took is in use: shown whatever became of the run.
    let generated = password
        .filter(|p| p.source == "generated" && !call.dry_run)
        .filter(|_| failure.is_none() || password_taken(steps, &lines))
        .map(|p| (p.password, workflow.kept_password));
    let response = render::render(Ended {
        format: request.format,
        dry_run: call.dry_run,
        command: workflow.command,
        restore: workflow.restore,
        run: &call.run,
        kept,
        lines,
        failure,
        generated,
    });
    Ok(started
        .warnings
        .into_iter()
        .fold(response, |r, w| r.with_warning(w, None)))
}

/// Takes the node's run lock for `run` (a second run, or a restore, is refused naming the one
/// running); a warning when it names a run whose process is gone.
pub fn lock(host: &Host<'_>, run: &str, what: &str) -> Result<Option<String>, PluginError> {
    let locked = host.call(&LockRun {
        run: run.to_owned(),
        workflow: what.to_owned(),
    })?;
    Ok(locked.stale.map(|stale| {
        format!(
            "the run lock named {stale}, whose process is gone (killed?): taken over; `carbonio-mesh secret show RUN` tells how far that run got"
        )
    }))
}

/// A run about to start its first pending step.
struct Started {
    call: StepCall,
    /// The steps an earlier attempt did.
    done: BTreeSet<String>,
    /// A new run's decisions before its first step (journaled with it).
    opening: Option<Facts>,
    warnings: Vec<String>,
}

/// The step call the run starts from: its arguments, and the facts a resumed run's journal
/// holds or a new run's `prepare` decides.
fn start(
    host: &Host<'_>,
    request: &Request,
    workflow: &Workflow<'_>,
    run: String,
    earlier: Option<RunState>,
    resolved: &ResolvedWorkflow,
    input: Option<SecretText>,
) -> Result<Started, PluginError> {
    let mut warnings = Vec::new();
    let mut call = StepCall {
        workflow: workflow.name.to_owned(),
        dry_run: request.dry_run,
        args: arguments(request, &run, earlier.as_ref(), &mut warnings),
        run,
        service_user: resolved.service_user.clone(),
        input,
        ..StepCall::default()
    };
    let (done, opening) = match earlier {
        Some(state) => {
            call.facts = state.facts;
            (state.done, None)
        }
        None => {
            let facts = (workflow.prepare)(host, &call)?;
            call.facts = facts.clone();
            (BTreeSet::new(), Some(facts))
        }
    };
    Ok(Started {
        call,
        done,
        opening,
        warnings,
    })
}

/// The run: a new one, or with `--resume` the one named by `--run` (else the newest) and what
/// its journal says so far; and when it started (a new run's name holds that second, which
/// its first record repeats).
fn which_run(
    host: &Host<'_>,
    request: &Request,
    workflow: &Workflow<'_>,
) -> Result<(String, Option<RunState>, u64), PluginError> {
    let resume = request.flag("resume");
    let started_at = now();
    let run = match (resume, request.value("run")) {
        (_, Some(run)) => run.to_owned(),
        (true, None) => latest_run(host)?.ok_or_else(|| {
            PluginError::usage("there is no run to resume")
                .hint(format!("start one: carbonio-mesh {}", workflow.command))
        })?,
        (false, None) => new_run_id(started_at),
    };
    if !resume {
        return Ok((run, None, started_at));
    }
    let state = RunState::load(host, &run)?;
    if let Some(other) = state.workflow.as_deref().filter(|w| *w != workflow.name) {
        return Err(PluginError::usage(format!(
            "run {run} is a {other} run, not {}",
            workflow.name
        ))
        .hint("resume it with the command that started it (`carbonio-mesh secret runs` lists the runs)"));
    }
    Ok((run, Some(state), started_at))
}

/// The arguments the run goes on with: a new run's own; a resumed run's as it started (an
/// argument given again with another value is named in a warning and ignored), except where
/// the new password comes from.
fn arguments(
    request: &Request,
    run: &str,
    earlier: Option<&RunState>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, ArgValue> {
    let Some(kept) = earlier.map(|s| &s.args).filter(|a| !a.is_empty()) else {
        return request.args.clone();
    };
    let mut args = kept.clone();
    let names_a_source = PASSWORD_SOURCES.iter().any(|n| given(request.args.get(*n)));
    for name in PER_INVOCATION.iter().chain(PASSWORD_SOURCES) {
        if names_a_source || PER_INVOCATION.contains(name) {
            args.remove(*name);
        }
    }
    for (name, value) in &request.args {
        if PER_INVOCATION.contains(&name.as_str()) || PASSWORD_SOURCES.contains(&name.as_str()) {
            if names_a_source || PER_INVOCATION.contains(&name.as_str()) {
                args.insert(name.clone(), value.clone());
            }
            continue;
        }
        let before = kept.get(name);
        if before != Some(value) && (given(Some(value)) || given(before)) {
            warnings.push(format!(
                "--{name}{} ignored: run {run} started with {}, and --resume keeps what a run started with (start a new run to change it)",
                shown(Some(value)),
                match before {
                    Some(v) if given(Some(v)) => format!("--{name}{}", shown(Some(v))),
                    _ => format!("no --{name}"),
                }
            ));
        }
    }
    args
}

/// Whether an argument was given (a flag set, any value).
fn given(value: Option<&ArgValue>) -> bool {
    !matches!(value, None | Some(ArgValue::Flag(false)))
}

fn shown(value: Option<&ArgValue>) -> String {
    match value {
        Some(ArgValue::One(v)) => format!(" {v}"),
        Some(ArgValue::Many(v)) => format!(" {}", v.join(",")),
        _ => String::new(),
    }
}

fn confirm(
    host: &Host<'_>,
    workflow: &Workflow<'_>,
    call: &StepCall,
    pending: &[&ResolvedStep],
) -> Result<bool, PluginError> {
    let changes = pending.iter().map(|s| format!("step {}", s.name)).collect();
    let scope = (workflow.scope)(host, call);
    let question = format!(
        "{}{}{} ({} step(s), run {})?",
        workflow.action,
        if scope.is_empty() { "" } else { " " },
        scope,
        pending.len(),
        call.run
    );
    Ok(host.confirm(changes, &question)?)
}

/// The run's new password: the one the command read, else (when a step left needs one) from
/// the run's password source; a resumed run whose steps already took one reads it back where
/// it is kept rather than making or asking for another.
fn password(
    host: &Host<'_>,
    workflow: &Workflow<'_>,
    call: &StepCall,
    steps: &[ResolvedStep],
    done: &BTreeSet<String>,
    given: Option<NewPasswordAnswer>,
) -> Result<Option<NewPasswordAnswer>, PluginError> {
    if given.is_some() {
        return Ok(given);
    }
    let pending = steps.iter().filter(|s| !done.contains(&s.name));
    let needed = (workflow.needs_password)(call) || pending.clone().any(|s| s.needs.password);
    if !needed {
        return Ok(None);
    }
    let taken = steps
        .iter()
        .any(|s| s.needs.password && done.contains(&s.name));
    let file = call.value("password-file").map(str::to_owned);
    let stdin = call.flag("password-stdin");
    if let (true, None, false, Some(kept)) = (taken, &file, stdin, workflow.kept_password) {
        if let Ok(text) = host.read_file(kept) {
            return Ok(Some(NewPasswordAnswer {
                password: SecretText::new(text.trim_end_matches('\n')),
                source: kept.to_owned(),
            }));
        }
    }
    Ok(Some(host.call(&NewPassword {
        password: PasswordSource {
            file,
            stdin,
            ..PasswordSource::default()
        },
        generate: call.flag("generate") && !taken,
    })?))
}

/// `run` for a new run (with its arguments and first decisions, `at` the second it started,
/// which its name holds), `resumed` otherwise.
fn opening_record(
    workflow: &Workflow<'_>,
    call: &StepCall,
    opening: Option<Facts>,
    started_at: u64,
) -> JournalRecord {
    match opening {
        Some(facts) => JournalRecord::Run {
            workflow: workflow.name.to_owned(),
            at: started_at,
            args: call
                .args
                .iter()
                .filter(|(name, _)| !PER_INVOCATION.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            facts,
            command: Some(workflow.command.to_owned()),
            restore: workflow.restore.map(str::to_owned),
        },
        None => JournalRecord::Resumed { at: now() },
    }
}

/// Every step not done yet, each journaled before the next; the lines of the run's table and,
/// if a step failed, why.
fn run_steps(
    host: &Host<'_>,
    workflow: &Workflow<'_>,
    steps: &[ResolvedStep],
    done: &BTreeSet<String>,
    call: &mut StepCall,
) -> Result<(Vec<Line>, Option<PluginError>), PluginError> {
    let mut lines = Vec::new();
    for (number, step) in steps.iter().enumerate() {
        if done.contains(&step.name) {
            let outcome = StepOutcome::new("(earlier)");
            lines.push(line(&step.name, "done", outcome));
            continue;
        }
        // Steps may take seconds each (stopping and restarting service-discover, every node):
        // the person at the terminal sees which one is running.
        let counter = format!("step {}/{} {}", number + 1, steps.len(), step.name);
        host.progress(&format!("{counter} ..."));
        let started = std::time::Instant::now();
        let record = JournalRecord::Start {
            step: step.name.clone(),
            at: now(),
        };
        journal(host, &call.run, &record)?;
        call.step = step.name.clone();
        let result = run_step(host, workflow, step, call);
        let took = format!("{:.1} s", started.elapsed().as_secs_f64());
        match result {
            Ok(outcome) => {
                step_done(host, call, outcome.facts.clone())?;
                host.progress(&format!("{counter} ok ({took})"));
                lines.push(line(&step.name, "ok", outcome));
            }
            Err(failed) => {
                let error = step_failed(host, call, &failed)?;
                host.progress(&format!("{counter} FAILED ({took})"));
                let outcome = StepOutcome {
                    detail: error.message.clone(),
                    nodes: failed.nodes,
                    report: failed.report,
                    ..StepOutcome::default()
                };
                lines.push(line(&step.name, "FAIL", outcome));
                return Ok((lines, Some(error)));
            }
        }
    }
    Ok((lines, None))
}

/// The step done, journaled with what it recorded; later steps see its facts.
fn step_done(host: &Host<'_>, call: &mut StepCall, facts: Facts) -> Result<(), PluginError> {
    let record = JournalRecord::Done {
        step: call.step.clone(),
        at: now(),
        facts: facts.clone(),
    };
    journal(host, &call.run, &record)?;
    call.facts.extend(facts);
    Ok(())
}

/// The step failed, journaled with its nodes and report (`secret show` tells them from there).
fn step_failed(
    host: &Host<'_>,
    call: &StepCall,
    failed: &StepError,
) -> Result<PluginError, PluginError> {
    let mut recorded = failed.error.message.clone();
    if !failed.nodes.is_empty() || !failed.report.is_empty() {
        recorded.push('\n');
        if !failed.nodes.is_empty() {
            recorded.push_str(&node_table(&failed.nodes));
        }
        recorded.push_str(&failed.report);
    }
    let record = JournalRecord::Failed {
        step: call.step.clone(),
        at: now(),
        error: recorded,
        facts: failed.facts.clone(),
    };
    journal(host, &call.run, &record)?;
    Ok((*failed.error).clone())
}

fn line(step: &str, status: &'static str, outcome: StepOutcome) -> Line {
    Line {
        step: step.to_owned(),
        status,
        detail: outcome.detail,
        nodes: outcome.nodes,
        report: outcome.report,
    }
}

/// Whether a step run now may have changed the system: one that says it does, or a site command.
fn may_have_changed(steps: &[ResolvedStep], lines: &[Line]) -> bool {
    lines.iter().filter(|l| l.status != "done").any(|l| {
        steps
            .iter()
            .find(|s| s.name == l.step)
            .is_some_and(|s| s.changes_system || s.exec.is_some())
    })
}

/// Whether a step that takes the password is done by now (a generated password is then in use
/// and must be shown, whatever became of the run).
fn password_taken(steps: &[ResolvedStep], lines: &[Line]) -> bool {
    steps.iter().any(|s| {
        s.needs.password
            && lines
                .iter()
                .any(|l| l.step == s.name && (l.status == "ok" || l.status == "done"))
    })
}

/// Carries out one step with its provider.
fn run_step(
    host: &Host<'_>,
    workflow: &Workflow<'_>,
    step: &ResolvedStep,
    call: &StepCall,
) -> Result<StepOutcome, StepError> {
    match (&step.plugin, &step.exec) {
        (Some(plugin), _) if plugin == workflow.plugin => {
            builtin(workflow, &step.name)?(host, call)
        }
        (Some(plugin), _) => {
            let call = StepCall {
                new_password: call.new_password.clone().filter(|_| step.needs.password),
                input: None,
                ..call.clone()
            };
            Ok(host.call(&RunStep {
                plugin: plugin.clone(),
                call,
            })?)
        }
        (None, Some(argv)) => command::run(host, step, argv, call),
        (None, None) => {
            Err(PluginError::config(format!("step {} has no provider", step.name)).into())
        }
    }
}

/// The running plugin's own step `name`.
fn builtin(workflow: &Workflow<'_>, name: &str) -> Result<StepFn, PluginError> {
    workflow
        .builtins
        .iter()
        .find(|b| b.spec.name == name)
        .map(|b| b.run)
        .ok_or_else(|| {
            PluginError::config(format!(
                "the {} plugin provides no step '{name}'",
                workflow.plugin
            ))
            .hint("`carbonio-mesh secret plan` shows the steps and their providers; fix [steps] in the configuration")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(args: &[(&str, ArgValue)]) -> Request {
        Request {
            args: args
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn a_resumed_run_keeps_its_arguments_and_names_one_given_otherwise() {
        let one = |v: &str| ArgValue::One(v.to_owned());
        let state = RunState {
            args: request(&[
                ("nodes", one("all")),
                ("parallel", one("32")),
                ("generate", ArgValue::Flag(true)),
                ("revoke-old-token", ArgValue::Flag(true)),
            ])
            .args,
            ..RunState::default()
        };
        // `--resume` alone: everything as the run started.
        let mut warnings = Vec::new();
        let args = arguments(
            &request(&[("resume", ArgValue::Flag(true)), ("parallel", one("32"))]),
            "r1",
            Some(&state),
            &mut warnings,
        );
        assert_eq!(args.get("nodes"), Some(&one("all")));
        assert_eq!(args.get("generate"), Some(&ArgValue::Flag(true)));
        assert_eq!(args.get("resume"), Some(&ArgValue::Flag(true)));
        assert!(warnings.is_empty(), "{warnings:?}");
        // Another node list: named and ignored; a password file replaces --generate.
        let args = arguments(
            &request(&[
                ("nodes", one("mail.example.com")),
                ("password-file", one("/root/pw")),
            ]),
            "r1",
            Some(&state),
            &mut warnings,
        );
        assert_eq!(args.get("nodes"), Some(&one("all")));
        assert_eq!(args.get("generate"), None);
        assert_eq!(args.get("password-file"), Some(&one("/root/pw")));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("--nodes mail.example.com ignored: run r1 started with --nodes all"),
            "{}",
            warnings[0]
        );
        // A journal of before 1.7 kept no arguments: the command line's.
        let old = RunState::default();
        let given = request(&[("nodes", one("all"))]);
        assert_eq!(
            arguments(&given, "r1", Some(&old), &mut warnings),
            given.args
        );
    }
}
