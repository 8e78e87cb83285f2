//! `workflow.steps` (a workflow's steps from the manifests and the configuration, checked) and
//! `step.run` (a step of another plugin, run with this run's host).
//!
//! A plugin providing a step is found, trust-checked and loaded exactly as a plugin named on the
//! command line is (`plugins::open`), once per run, and invoked with the same host context:
//! its changes are recorded under `--dry-run`, confined by `--root`, backed up, audited, and the
//! run's secrets are redacted from whatever it answers. Looking through every other plugin for
//! its steps loads each in a child process instead, as `plugins list` does: a plugin that
//! crashes while loading cannot take the command down.

use std::rc::Rc;

use carbonio_mesh_plugin_api::services::{
    ResolvedWorkflow, RunStep, ServiceErrorKind, ServiceFailure, WorkflowSteps,
};
use carbonio_mesh_plugin_api::step::StepOutcome;
use carbonio_mesh_plugin_api::Request;

use super::{failure, HostContext};
use crate::plugins::discovery;
use crate::plugins::open::{open_plugin, OpenedPlugin};
use crate::services::workflows::{Known, Manifests, PlanError, Resolver};

impl HostContext {
    /// Plugin `name`, loaded once per run.
    fn load_for_steps(&self, name: &str) -> Result<Rc<OpenedPlugin>, String> {
        if let Some(loaded) = self.loaded.borrow().get(name) {
            return Ok(Rc::clone(loaded));
        }
        if !discovery::is_valid_name(name) {
            return Err(format!(
                "'{name}' is not a plugin name (lower-case words joined by dashes)"
            ));
        }
        let loaded = open_plugin(name, &self.search_dirs, &self.policy)
            .map_err(|e| format!("{e} ({})", e.fix()))?
            .ok_or_else(|| {
                format!(
                    "no plugin file {name}.so in {}",
                    discovery::searched(&self.search_dirs)
                )
            })?;
        let loaded = Rc::new(loaded);
        self.loaded
            .borrow_mut()
            .insert(name.to_owned(), Rc::clone(&loaded));
        Ok(loaded)
    }
}

impl Manifests for HostContext {
    fn manifest(&self, name: &str) -> Result<Known, String> {
        let loaded = self.load_for_steps(name)?;
        Ok(Known {
            manifest: loaded.plugin.manifest.clone(),
            file: loaded.file.display().to_string(),
        })
    }

    /// Every other plugin, read as `plugins list` reads them: each loaded in a child process of
    /// its own (`crate::probe`), so that one crashing while it loads takes down its probe, not
    /// the command that only wanted to know its steps.
    fn all(&self) -> Vec<Known> {
        crate::plugins::inventory::inspect(&self.paths, &self.search_dirs, &self.policy)
            .into_iter()
            .filter(|entry| entry.name != self.plugin)
            .filter_map(|entry| {
                Some(Known {
                    manifest: entry.manifest()?,
                    file: entry.path.display().to_string(),
                })
            })
            .collect()
    }
}

fn plan_failure(error: PlanError) -> ServiceFailure {
    ServiceFailure {
        kind: ServiceErrorKind::Failed,
        message: error.message,
        hint: Some(error.hint),
        exit_code: Some(crate::exit::CONFIG),
    }
}

/// The owner of the workflows: the plugin this run was started for.
fn owner(context: &HostContext) -> Result<&Known, ServiceFailure> {
    context.owner.as_ref().ok_or_else(|| {
        failure(
            ServiceErrorKind::Invalid,
            "workflows are resolved for a running plugin only",
        )
    })
}

pub(super) fn resolve(
    context: &HostContext,
    request: WorkflowSteps,
) -> Result<ResolvedWorkflow, ServiceFailure> {
    let resolver = Resolver {
        config: &context.config,
        owner: owner(context)?,
        plugins: context,
    };
    let steps = resolver.resolve(&request.workflow).map_err(plan_failure)?;
    Ok(ResolvedWorkflow {
        steps,
        service_user: context.config.service_user.clone(),
    })
}

/// Who started the run: the admin behind `sudo`, else this process's user.
fn started_by() -> String {
    let uid = nix::unistd::Uid::current();
    if let Some(sudo) = std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()) {
        if uid.is_root() {
            return format!("{sudo} (through sudo)");
        }
    }
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {uid}"))
}

pub(super) fn run(context: &HostContext, request: RunStep) -> Result<StepOutcome, ServiceFailure> {
    let RunStep { plugin, mut call } = request;
    let loaded = context.load_for_steps(&plugin).map_err(|why| {
        failure(
            ServiceErrorKind::Failed,
            format!(
                "step {} comes from plugin {plugin}, which cannot be used: {why}",
                call.step
            ),
        )
    })?;
    // The plan checked this already; a plugin file replaced since is checked again.
    if loaded.plugin.manifest.step_named(&call.step).is_none() {
        return Err(failure(
            ServiceErrorKind::Failed,
            format!(
                "plugin {plugin} ({}) provides no step '{}'",
                loaded.file.display(),
                call.step
            ),
        ));
    }
    if !crate::plugins::loader::api_compatible(
        crate::services::workflows::STEP_CALLS_SINCE,
        &loaded.plugin.manifest.api_version,
    ) {
        return Err(failure(
            ServiceErrorKind::Failed,
            format!(
                "plugin {plugin} was built against plugin-api {}; a step of another plugin needs {} or later",
                loaded.plugin.manifest.api_version,
                crate::services::workflows::STEP_CALLS_SINCE
            ),
        ));
    }
    if let Some(password) = &call.new_password {
        context.add_secret(password.expose());
    }
    call.dry_run = context.dry_run;
    call.started_by = started_by();
    let step = call.step.clone();
    let request = Request {
        dry_run: context.dry_run,
        assume_yes: context.assume_yes,
        step: Some(call),
        ..Request::default()
    };
    tracing::info!(plugin = %plugin, "step {step}");
    let response = loaded
        .crash
        .during(|| loaded.plugin.invoke(&context.handle(), &request))
        .map_err(|error| ServiceFailure {
            kind: ServiceErrorKind::Failed,
            message: context.redact(&error.message),
            hint: error.hint.map(|h| context.redact(&h)),
            exit_code: error.exit_code,
        })?;
    let mut outcome = response.step.ok_or_else(|| {
        failure(
            ServiceErrorKind::Failed,
            format!("plugin {plugin} answered step {step} without its outcome"),
        )
    })?;
    outcome.detail = context.redact(&outcome.detail);
    outcome.report = context.redact(&outcome.report);
    // Facts go to the journal, to later steps and into site commands' words: no secret either.
    let mut facts = serde_json::to_value(&outcome.facts).unwrap_or_default();
    context.redact_json(&mut facts);
    outcome.facts = serde_json::from_value(facts).unwrap_or_default();
    Ok(outcome)
}
