//! Plugin `site-example`: an example of a site's own workflow step.
//!
//! It provides one step, `announce`, meant to go just before `stop-service` in
//! `secret-regenerate`: it tells every admin logged in on the leader (`wall`) and the system
//! journal (`logger`, tag `carbonio-mesh`) that Mesh secret regeneration is starting, who started
//! it and how to follow it. It changes nothing on the system, so it is safe to add; under
//! `--dry-run` it only says what it would announce (the host records the commands instead of
//! running them).
//!
//! The step gets the run's facts and the command's arguments from the host ([`StepCall`]) and
//! answers a [`StepOutcome`]: the host journals it, shows it in the run's table and resumes
//! after it like any built-in step. See README.md for building, installing and enabling it.

use carbonio_mesh_plugin_api::services::Exec;
use carbonio_mesh_plugin_api::step::{facts, StepCall, StepOutcome, StepSpec};
use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response,
};

/// The plugin's name: the file is `site-example.so`, and `[steps.announce] plugin = "..."`.
const PLUGIN: &str = "site-example";
const STEP: &str = "announce";

/// What is announced, from the step's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub run: String,
    pub leader: String,
    pub started_by: String,
    pub dry_run: bool,
}

/// Parse: the announcement this run makes.
pub fn announcement(call: &StepCall) -> Result<Announcement, PluginError> {
    Ok(Announcement {
        run: call.run.clone(),
        leader: call.facts.require(&facts::LEADER_IP)?,
        started_by: call.started_by.clone(),
        dry_run: call.dry_run,
    })
}

/// The text admins read.
pub fn message(announcement: &Announcement) -> String {
    format!(
        "Carbonio Mesh secret regeneration is starting on the Mesh leader {leader} (run {run}, \
started by {who}). service-discover stops for a short while; other nodes are set up again after it.\n\
Follow it: carbonio-mesh secret show {run}   (or: journalctl -t carbonio-mesh)\n",
        leader = announcement.leader,
        run = announcement.run,
        who = announcement.started_by,
    )
}

/// Act: `wall` and `logger`, each given the message on standard input. A failure to announce
/// does not stop the regeneration: it is said in the step's detail.
pub fn announce(host: &Host<'_>, text: &str) -> Result<Vec<String>, PluginError> {
    let mut problems = Vec::new();
    for argv in [
        vec!["wall"],
        vec![
            "logger",
            "--tag",
            "carbonio-mesh",
            "--priority",
            "auth.notice",
        ],
    ] {
        let output = host.exec(&Exec {
            stdin: Some(text.to_owned()),
            // Not a change to the system, but not something a dry run should do either.
            mutating: true,
            ..Exec::new(argv.clone())
        })?;
        if output.status != Some(0) {
            problems.push(format!("{} failed: {}", argv[0], output.stderr.trim()));
        }
    }
    Ok(problems)
}

/// Render: the line in the run's table.
pub fn outcome(announcement: &Announcement, problems: &[String]) -> StepOutcome {
    let verb = if announcement.dry_run {
        "would tell"
    } else {
        "told"
    };
    let mut detail = format!(
        "{verb} the logged-in admins (wall) and the system journal (logger) that run {} started by {} begins",
        announcement.run, announcement.started_by
    );
    if !problems.is_empty() {
        detail.push_str(&format!(
            "; not announced everywhere: {}",
            problems.join("; ")
        ));
    }
    StepOutcome::new(detail)
}

pub struct SiteExample;

impl Plugin for SiteExample {
    fn manifest() -> Manifest {
        let about = "Example site plugin: announces Mesh secret regeneration to the admins";
        Manifest::new(PLUGIN, env!("CARGO_PKG_VERSION"), about).with_step(
            StepSpec::new(
                STEP,
                "tell the logged-in admins and the system journal that regeneration starts, who started it, how to follow it",
            )
            .in_workflow_before("secret-regenerate", "stop-service")
            .needs_fact(&facts::LEADER_IP),
        )
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Err(PluginError::usage(format!(
            "{PLUGIN} provides the workflow step '{STEP}' only"
        ))
        .hint("enable it with [steps.announce] plugin = \"site-example\" in /etc/carbonio-mesh/config.d, then check with `carbonio-mesh secret plan`"))
    }

    fn run_step(host: &Host<'_>, call: &StepCall) -> Result<StepOutcome, PluginError> {
        let announcement = announcement(call)?;
        let problems = announce(host, &message(&announcement))?;
        Ok(outcome(&announcement, &problems))
    }
}

export_plugin!(SiteExample);

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::step::Facts;

    fn call() -> StepCall {
        let mut known = Facts::new();
        known.set(&facts::LEADER_IP, &"10.0.0.1".to_owned());
        StepCall {
            workflow: "secret-regenerate".to_owned(),
            step: STEP.to_owned(),
            run: "2026-12-01T10-15-02Z-3f2a".to_owned(),
            facts: known,
            started_by: "alice (through sudo)".to_owned(),
            ..StepCall::default()
        }
    }

    #[test]
    fn the_message_says_who_where_and_how_to_follow() {
        let text = message(&announcement(&call()).unwrap());
        assert!(text.contains("leader 10.0.0.1"), "{text}");
        assert!(text.contains("started by alice (through sudo)"), "{text}");
        assert!(
            text.contains("carbonio-mesh secret show 2026-12-01T10-15-02Z-3f2a"),
            "{text}"
        );
    }

    #[test]
    fn without_the_leader_fact_it_says_which_step_provides_it() {
        let mut call = call();
        call.facts = Facts::new();
        let error = announcement(&call).unwrap_err();
        assert!(error.message.contains("'leader_ip'"), "{}", error.message);
    }

    #[test]
    fn a_failed_announcement_is_said_but_does_not_fail_the_step() {
        let outcome = outcome(
            &announcement(&call()).unwrap(),
            &["wall failed: no tty".to_owned()],
        );
        assert!(outcome
            .detail
            .contains("not announced everywhere: wall failed: no tty"));
    }
}
