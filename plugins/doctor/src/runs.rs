//! `unfinished-run`: the newest workflow run on this node (a secret regeneration, a rejoin)
//! neither finished nor gone back from. A run killed half-way (`kill -9`, a reboot) leaves the
//! node between two states: its files, unit and keys are the run's business until it is
//! resumed or restored, so every other fix waits for that one. Read through the host's journal
//! service (what `secret runs` reads), never the files; [`unfinished`] is pure. The commands
//! that resume and go back from a run are the ones its run record names: doctor knows no
//! workflow.

use carbonio_mesh_plugin_api::step::JournalRecord;
use carbonio_mesh_plugin_api::workflow;
use carbonio_mesh_plugin_api::Host;

use crate::report::{Check, Status};

const NAME: &str = "unfinished-run";

/// A run that is neither finished nor restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub run: String,
    /// The command that runs its workflow (`secret regenerate`).
    pub command: String,
    /// The command that goes back from it (`secret restore`), if any.
    pub restore: Option<String>,
    /// The step it failed at, or the one it started and never ended (killed there); none
    /// between two steps.
    pub step: Option<String>,
    /// How many steps it had done.
    pub done: usize,
    /// It failed at `step` (else it was interrupted, or runs now).
    pub failed: bool,
    pub started: Option<u64>,
}

impl Unfinished {
    /// How to go on with it.
    pub fn resume(&self) -> String {
        format!("carbonio-mesh {} --resume --run {}", self.command, self.run)
    }
}

/// The run's state from its records (read as the workflow engine reads them): `None` when it
/// finished or was restored, or is no run of ours (no run record).
pub fn unfinished(run: &str, records: &[JournalRecord]) -> Option<Unfinished> {
    let state = workflow::RunState::read(records);
    if state.finished || state.restored {
        return None;
    }
    let workflow = state.workflow?;
    Some(Unfinished {
        run: run.to_owned(),
        // Journals from before the run record named its commands: a workflow is named after
        // its command's words joined by a dash (`secret-regenerate`), and none named a way back.
        command: state
            .command
            .unwrap_or_else(|| workflow.replacen('-', " ", 1)),
        restore: state.restore,
        step: state.last_step,
        done: state.done.len(),
        failed: state.failed,
        started: state.started_at,
    })
}

/// The check from the newest run (`Ok(None)`: none, or it ended).
pub fn run_check(scope: &str, newest: Result<Option<Unfinished>, String>) -> Check {
    let run = match newest {
        Ok(None) => return Check::new(NAME, scope, Status::Ok, "no unfinished run on this node"),
        Ok(Some(run)) => run,
        Err(why) => {
            return Check::new(
                NAME,
                scope,
                Status::Unknown,
                format!("not checked: cannot read the runs' journals: {why}"),
            )
            .fix("carbonio-mesh secret runs")
        }
    };
    let at = match (&run.step, run.failed) {
        (Some(step), true) => format!("failed at step {step}"),
        (Some(step), false) => format!("stopped at step {step} (killed, or running now)"),
        (None, _) if run.done > 0 => {
            "stopped between two steps (killed, or running now)".to_owned()
        }
        (None, _) => "stopped before its first step ended".to_owned(),
    };
    let started = run
        .started
        .map(|at| format!(", started {}", workflow::rfc3339(at)))
        .unwrap_or_default();
    let mut fix = format!("finish it: {}", run.resume());
    if let Some(restore) = &run.restore {
        fix.push_str(&format!(
            " (or go back: carbonio-mesh {restore} {})",
            run.run
        ));
    }
    Check::new(
        NAME,
        scope,
        Status::Fail,
        format!(
            "run {} of {} {at}{started}: this node is half-way through it",
            run.run, run.command
        ),
    )
    .fix(fix)
}

/// The newest run on this node, unfinished or not, read through the journal service.
pub fn newest(host: &Host<'_>) -> Result<Option<Unfinished>, String> {
    let Some(run) = workflow::latest_run(host).map_err(|e| e.message)? else {
        return Ok(None);
    };
    let records = workflow::typed_records(host, &run).map_err(|e| e.message)?;
    Ok(unfinished(&run, &records))
}

/// Every other check of this node and of the cluster that is not ok waits for the run: its fix
/// says to finish the run first (what the check found may be the run's half-done work).
pub fn defer_fixes(checks: &mut [Check], run: &Unfinished) {
    for check in checks.iter_mut().filter(|c| c.name != NAME && !c.passed()) {
        let first = format!("first finish run {}: {}", run.run, run.resume());
        check.check.fix = Some(match check.check.fix.take() {
            Some(fix) => format!("{first}; then, if it is still needed: {fix}"),
            None => first,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(step: &str) -> JournalRecord {
        JournalRecord::Start {
            step: step.into(),
            at: 2,
        }
    }

    fn done(step: &str) -> JournalRecord {
        JournalRecord::Done {
            step: step.into(),
            at: 2,
            facts: Default::default(),
        }
    }

    fn run_record() -> JournalRecord {
        JournalRecord::Run {
            workflow: "secret-regenerate".into(),
            at: 1_800_000_000,
            args: Default::default(),
            facts: Default::default(),
            command: Some("secret regenerate".into()),
            restore: Some("secret restore".into()),
        }
    }

    #[test]
    fn a_killed_run_is_named_with_its_resume_and_an_ended_one_is_not() {
        let killed = [run_record(), start("preflight"), start("stop-service")];
        let found = unfinished("R1", &killed).unwrap();
        assert_eq!(
            (found.step.as_deref(), found.failed),
            (Some("stop-service"), false)
        );
        let check = run_check("srv", Ok(Some(found)));
        assert_eq!(check.status, Status::Fail);
        assert_eq!(
            check.detail,
            "run R1 of secret regenerate stopped at step stop-service (killed, or running now), started 2027-01-15T08:00:00Z: this node is half-way through it"
        );
        assert_eq!(
            check.fix.as_deref(),
            Some("finish it: carbonio-mesh secret regenerate --resume --run R1 (or go back: carbonio-mesh secret restore R1)")
        );
        let between = [run_record(), start("preflight"), done("preflight")];
        let check = run_check("srv", Ok(unfinished("R1", &between)));
        assert!(
            check.detail.contains("stopped between two steps"),
            "{}",
            check.detail
        );
        let mut finished = killed.to_vec();
        finished.push(JournalRecord::Finished { at: 3 });
        assert_eq!(unfinished("R1", &finished), None);
        let mut restored = killed.to_vec();
        restored.push(JournalRecord::Restored { at: 3, files: 2 });
        assert_eq!(unfinished("R1", &restored), None);
        assert_eq!(run_check("srv", Ok(None)).status, Status::Ok);
    }

    #[test]
    fn the_commands_are_the_run_records_and_an_older_journal_offers_no_way_back() {
        let record = |command: Option<&str>, restore: Option<&str>| JournalRecord::Run {
            workflow: "site-rotate".into(),
            at: 1_800_000_000,
            args: Default::default(),
            facts: Default::default(),
            command: command.map(str::to_owned),
            restore: restore.map(str::to_owned),
        };
        let named = unfinished("R3", &[record(Some("site rotate-keys"), None), start("a")]);
        let fix = run_check("srv", Ok(named)).fix.clone().unwrap();
        assert_eq!(
            fix,
            "finish it: carbonio-mesh site rotate-keys --resume --run R3"
        );
        let older = unfinished("R4", &[record(None, None), start("a")]).unwrap();
        assert_eq!(older.command, "site rotate");
        assert_eq!(older.restore, None);
    }

    #[test]
    fn other_fixes_wait_for_the_run() {
        let run = unfinished("R2", &[run_record(), start("run-setup")]).unwrap();
        let mut checks = vec![
            Check::new("service", "srv", Status::Fail, "inactive").fix("systemctl start x"),
            Check::new("archive", "srv", Status::Ok, "opens"),
            run_check("srv", Ok(Some(run.clone()))),
        ];
        defer_fixes(&mut checks, &run);
        assert_eq!(
            checks[0].fix.as_deref(),
            Some("first finish run R2: carbonio-mesh secret regenerate --resume --run R2; then, if it is still needed: systemctl start x")
        );
        assert_eq!(checks[1].fix, None);
        assert!(checks[2].fix.as_deref().unwrap().starts_with("finish it: "));
    }
}
