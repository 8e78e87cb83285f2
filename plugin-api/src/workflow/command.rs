//! A step carried out by a site command (`[steps.NAME] exec = [...]`): its words filled in, the
//! new password on its standard input when it asks for it, the facts it declares read from its
//! `NAME=VALUE` lines.

use serde_json::Value;

use crate::services::{Exec, ExecArg, ResolvedStep};
use crate::step::{Facts, Fill, StepCall, StepError, StepOutcome};
use crate::{Host, PluginError};

/// Runs `argv` (the site's command for `step`) for `call`.
pub(super) fn run(
    host: &Host<'_>,
    step: &ResolvedStep,
    argv: &[String],
    call: &StepCall,
) -> Result<StepOutcome, StepError> {
    let fill = Fill {
        run: &call.run,
        facts: Some(&call.facts),
        target: None,
    };
    let password = call.new_password.as_ref();
    let stdin = if step.password_stdin {
        let password =
            password.ok_or_else(|| PluginError::operation("no new password for this step"))?;
        Some(format!("{}\n", password.expose()))
    } else {
        None
    };
    let output = host.exec(&Exec {
        argv: argv.iter().map(|w| ExecArg::from(fill.word(w))).collect(),
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
        ))
        .into());
    }
    Ok(StepOutcome {
        detail: format!("site command: {}", argv.join(" ")),
        // Under --dry-run the command did not run: it printed nothing to record.
        facts: if output.dry_run {
            Facts::new()
        } else {
            provided_facts(step, &output.stdout)?
        },
        ..StepOutcome::default()
    })
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
    let missing: Vec<String> = step
        .provides
        .iter()
        .filter(|p| !found.contains(p))
        .map(|m| format!("{m}=VALUE"))
        .collect();
    if !missing.is_empty() {
        return Err(PluginError::operation(format!(
            "the site command for step {} did not print {}",
            step.name,
            missing.join(", ")
        ))
        .hint("it declares provides = [...]: print each fact on a line of its own, NAME=VALUE"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_facts_are_read_from_name_value_lines_and_a_missing_one_is_named() {
        let step = ResolvedStep {
            name: "ticket".into(),
            provides: vec!["ticket".into(), "urgent".into(), "queue".into()],
            ..ResolvedStep::default()
        };
        let facts =
            provided_facts(&step, "noise\nticket=4711\n urgent=true \nqueue=ops=1\n").unwrap();
        assert_eq!(facts.text("ticket").as_deref(), Some("4711"));
        assert_eq!(facts.text("urgent").as_deref(), Some("true"));
        assert_eq!(facts.text("queue").as_deref(), Some("ops=1"));
        let error = provided_facts(&step, "ticket=1\n").unwrap_err();
        assert!(
            error
                .message
                .ends_with("did not print urgent=VALUE, queue=VALUE"),
            "{}",
            error.message
        );
    }
}
