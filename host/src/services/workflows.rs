//! A workflow's steps, from the plugins' manifests and the site's configuration, checked before
//! anything runs.
//!
//! The plugin running a workflow declares it and its own steps, each with its default place;
//! `[steps.NAME]` tables replace a step's provider (another plugin's step, or a command), add a
//! step (`before`/`after`, or the place its plugin's manifest gives) or move one;
//! `[workflows] NAME = [...]` restates the order. This module knows no step by name: every
//! name comes from a manifest or the configuration. What it refuses, it names with the file and
//! line that said it: an unknown step or workflow, a plugin that provides no such step, a step
//! whose needed fact no earlier step records, a `before`/`after` naming no step.

use std::collections::{BTreeMap, BTreeSet};

use carbonio_mesh_plugin_api::services::ResolvedStep;
use carbonio_mesh_plugin_api::step::{facts, placeholders, Placeholder, StepNeeds, StepSpec};
use carbonio_mesh_plugin_api::Manifest;

use crate::config::settings::{Config, Place, StepConfig, StepProvider};

/// The first plugin-api minor whose plugins can run a step for another plugin.
pub const STEP_CALLS_SINCE: &str = "1.6.0";

/// A plugin's manifest and the file it was loaded from.
#[derive(Debug, Clone)]
pub struct Known {
    pub manifest: Manifest,
    pub file: String,
}

/// Where the manifests of other plugins come from (the host loads them; tests give them).
pub trait Manifests {
    /// Plugin `name`, found, trusted and loaded; or why not.
    fn manifest(&self, name: &str) -> Result<Known, String>;
    /// Every plugin found that loads (to tell a step of another plugin from a misspelling).
    fn all(&self) -> Vec<Known>;
}

/// A workflow that cannot run as configured: what is wrong (with file and line) and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub message: String,
    pub hint: String,
}

fn refuse(message: String, hint: impl Into<String>) -> PlanError {
    PlanError {
        message,
        hint: hint.into(),
    }
}

/// Where a step goes: before or after another.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    End,
    Before(String),
    After(String),
}

/// `[steps.NAME]`'s `before`/`after`, if it applies to `workflow`.
fn configured_anchor(step: &StepConfig, workflow: &str) -> Option<Anchor> {
    if step.workflow.as_deref().is_some_and(|w| w != workflow) {
        return None;
    }
    match (&step.before, &step.after) {
        (Some(before), _) => Some(Anchor::Before(before.clone())),
        (_, Some(after)) => Some(Anchor::After(after.clone())),
        _ => None,
    }
}

/// The place a plugin's step declares for itself in `workflow`.
fn declared_anchor(spec: &StepSpec, workflow: &str) -> Option<Anchor> {
    let place = spec.workflows.iter().find(|p| p.workflow == workflow)?;
    Some(match (&place.before, &place.after) {
        (Some(before), _) => Anchor::Before(before.clone()),
        (_, Some(after)) => Anchor::After(after.clone()),
        _ => Anchor::End,
    })
}

/// A workflow's step names in order, built one insertion at a time. Several steps placed
/// after the same step keep the order they were placed in.
#[derive(Debug, Default)]
struct Order {
    names: Vec<String>,
    placed_after: BTreeMap<String, Vec<String>>,
}

impl Order {
    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Puts `name` at `anchor`; `Err(anchor's step)` when the workflow has no such step.
    fn place(&mut self, name: &str, anchor: &Anchor) -> Result<(), String> {
        // A missing anchor leaves the step where it was.
        if let Anchor::Before(step) | Anchor::After(step) = anchor {
            if self.position(step).is_none() {
                return Err(step.clone());
            }
        }
        if let Some(at) = self.position(name) {
            self.names.remove(at);
        }
        match anchor {
            Anchor::End => self.names.push(name.to_owned()),
            Anchor::Before(step) => {
                let at = self.position(step).ok_or_else(|| step.clone())?;
                self.names.insert(at, name.to_owned());
            }
            Anchor::After(step) => {
                let mut at = self.position(step).ok_or_else(|| step.clone())?;
                for earlier in self.placed_after.get(step).into_iter().flatten() {
                    at = at.max(self.position(earlier).unwrap_or(0));
                }
                self.names.insert(at + 1, name.to_owned());
                self.placed_after
                    .entry(step.clone())
                    .or_default()
                    .push(name.to_owned());
            }
        }
        Ok(())
    }
}

/// A workflow's step names in order, and the table that placed each step a table placed.
struct Ordered {
    names: Vec<String>,
    placed_by: BTreeMap<String, Place>,
}

/// Resolves workflows for the plugin running them (`owner`).
pub struct Resolver<'a> {
    pub config: &'a Config,
    pub owner: &'a Known,
    pub plugins: &'a dyn Manifests,
}

impl Resolver<'_> {
    fn owns(&self, workflow: &str) -> bool {
        self.owner
            .manifest
            .workflows
            .iter()
            .any(|w| w.name == workflow)
    }

    /// The command line that shows the steps of `workflow` (of the owner's first workflow when
    /// it runs no such workflow), quoted for a message: its manifest says which; a plugin that
    /// says nothing gets `plugins list --format json`, which lists every plugin's steps.
    fn plan_command(&self, workflow: &str) -> String {
        let workflows = &self.owner.manifest.workflows;
        let spec = workflows
            .iter()
            .find(|w| w.name == workflow)
            .or(workflows.first());
        match spec.and_then(|w| w.plan.as_deref()) {
            Some(plan) => format!("`{plan}`"),
            None => "`carbonio-mesh plugins list --format json`".to_owned(),
        }
    }

    fn workflow_names(&self) -> String {
        let names: Vec<&str> = self
            .owner
            .manifest
            .workflows
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        if names.is_empty() {
            format!("plugin {} runs no workflow", self.owner.manifest.name)
        } else {
            format!("the workflows are {}", names.join(", "))
        }
    }

    /// The manifest of plugin `name` (the owner's own without loading anything).
    fn known(&self, name: &str) -> Result<Known, String> {
        if name == self.owner.manifest.name {
            Ok(self.owner.clone())
        } else {
            self.plugins.manifest(name)
        }
    }

    /// `workflow`'s steps with their providers, checked; or, for a command step's name (the
    /// transport), that one step.
    pub fn resolve(&self, workflow: &str) -> Result<Vec<ResolvedStep>, PlanError> {
        if !self.owns(workflow) {
            if let Some(step) = self.command_step(workflow)? {
                return Ok(vec![step]);
            }
            return Err(refuse(
                format!(
                    "there is no workflow '{workflow}': {}",
                    self.workflow_names()
                ),
                format!("{} shows the steps", self.plan_command(workflow)),
            ));
        }
        for (name, restated) in &self.config.workflows {
            if !self.owns(name) {
                return Err(refuse(
                    format!(
                        "{}: there is no workflow '{name}'; {}",
                        restated.defined_in,
                        self.workflow_names()
                    ),
                    "fix the name in [workflows], or remove the line",
                ));
            }
        }
        let order = self.order(workflow, true)?;
        let mut steps = order
            .names
            .iter()
            .map(|name| self.provider(workflow, name))
            .collect::<Result<Vec<_>, _>>()?;
        // A command's `{NAME}` is a fact only if a step records NAME (or it is `{ip}` or
        // `{leader}`): a shell's `${var}` in a site command stays the shell's.
        let recorded: BTreeSet<String> = steps
            .iter()
            .flat_map(|s| s.provides.iter().cloned())
            .chain([
                facts::SETUP_IP.name().to_owned(),
                facts::LEADER_IP.name().to_owned(),
            ])
            .collect();
        for step in steps.iter_mut().filter(|s| s.exec.is_some()) {
            step.needs.facts.retain(|f| recorded.contains(f));
        }
        self.check_facts(workflow, &steps, &order)?;
        self.check_every_table_is_used(workflow, &order)?;
        Ok(steps)
    }

    /// The step names of `workflow`, in order, and which table placed which step. With
    /// `load`, a step of another plugin without a configured place goes where its manifest says
    /// (which loads the plugin); without, it is left out (the other checks of the tables need
    /// no plugin: a node need not have a plugin meant for the leader's workflow).
    fn order(&self, workflow: &str, load: bool) -> Result<Ordered, PlanError> {
        let mut order = Order::default();
        match self.config.workflows.get(workflow) {
            Some(restated) => {
                for name in &restated.steps {
                    if order.position(name).is_some() {
                        return Err(refuse(
                            format!(
                                "{}: workflows.{workflow} names step '{name}' twice",
                                restated.defined_in
                            ),
                            "name each step once",
                        ));
                    }
                    order.names.push(name.clone());
                }
            }
            None => {
                for spec in &self.owner.manifest.steps {
                    if let Some(anchor) = declared_anchor(spec, workflow) {
                        order.place(&spec.name, &anchor).map_err(|missing| {
                            refuse(
                                format!(
                                    "plugin {} places step '{}' next to '{missing}', which {workflow} does not have",
                                    self.owner.manifest.name, spec.name
                                ),
                                "this is a bug in the plugin: report it to its author",
                            )
                        })?;
                    }
                }
            }
        }
        // The tables that place a step here: (name, table, where, whether the table said so).
        let mut pending = Vec::new();
        for (name, table) in &self.config.steps {
            let for_here = table.workflow.as_deref().is_none_or(|w| w == workflow);
            let configured = configured_anchor(table, workflow);
            let anchor = match (&configured, &table.provider) {
                (Some(anchor), _) => Some(anchor.clone()),
                // A step of another plugin, not yet in the workflow: where its manifest says.
                (None, Some(StepProvider::Plugin(plugin)))
                    if load
                        && for_here
                        && order.position(name).is_none()
                        && *plugin != self.owner.manifest.name =>
                {
                    let known = self.plugin_of(name, plugin, table)?;
                    known
                        .manifest
                        .step_named(name)
                        .and_then(|spec| declared_anchor(spec, workflow))
                }
                _ => None,
            };
            if let Some(anchor) = anchor {
                pending.push((name, table, anchor, configured.is_some()));
            }
        }
        // In passes, so that a chain (b after a, c after b) works whichever is written first.
        let mut placed_by = BTreeMap::new();
        loop {
            let before = pending.len();
            pending.retain(|(name, table, anchor, _)| match order.place(name, anchor) {
                Ok(()) => {
                    placed_by.insert((*name).clone(), table.defined_in.clone());
                    false
                }
                Err(_) => true,
            });
            if pending.len() == before {
                break;
            }
        }
        for (name, table, anchor, configured) in pending {
            // A `before`/`after` meant for the other workflow is not an error here; one that
            // places the step in no workflow is (`check_every_table_is_used`).
            if table.workflow.as_deref() == Some(workflow) || !configured {
                let (Anchor::Before(missing) | Anchor::After(missing)) = anchor else {
                    continue;
                };
                return Err(refuse(
                    format!(
                        "{}: steps.{name} goes next to '{missing}', but {workflow} has no such step; its steps are {}",
                        table.defined_in,
                        order.names.join(", ")
                    ),
                    "name one of those steps in before = \"STEP\" or after = \"STEP\"",
                ));
            }
        }
        Ok(Ordered {
            names: order.names,
            placed_by,
        })
    }

    /// Plugin `plugin` (named by `[steps.NAME]`), which must declare step `name`.
    fn plugin_of(&self, name: &str, plugin: &str, table: &StepConfig) -> Result<Known, PlanError> {
        let known = self.known(plugin).map_err(|why| {
            refuse(
                format!(
                    "{}: steps.{name} comes from plugin '{plugin}', which cannot be used: {why}",
                    table.defined_in
                ),
                "`carbonio-mesh plugins check` shows why; install the plugin or fix the name",
            )
        })?;
        if known.manifest.step_named(name).is_none() {
            let provided: Vec<&str> = known
                .manifest
                .steps
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(refuse(
                format!(
                    "{}: plugin {plugin} ({}) provides no step '{name}'{}",
                    table.defined_in,
                    known.file,
                    if provided.is_empty() {
                        String::new()
                    } else {
                        format!("; it provides {}", provided.join(", "))
                    }
                ),
                "fix the step's name, or the plugin's",
            ));
        }
        if plugin != self.owner.manifest.name
            && !crate::plugins::loader::api_compatible(
                STEP_CALLS_SINCE,
                &known.manifest.api_version,
            )
        {
            return Err(refuse(
                format!(
                    "{}: plugin {plugin} was built against plugin-api {}; a step of another plugin needs {STEP_CALLS_SINCE} or later",
                    table.defined_in, known.manifest.api_version
                ),
                format!("rebuild {plugin} against carbonio-mesh-plugin-api {STEP_CALLS_SINCE} or later"),
            ));
        }
        Ok(known)
    }

    /// What carries out step `name` of `workflow`.
    fn provider(&self, workflow: &str, name: &str) -> Result<ResolvedStep, PlanError> {
        let table = self.config.step(name);
        let place = table.map(|t| &t.defined_in);
        match table.and_then(|t| t.provider.as_ref()) {
            Some(StepProvider::Exec {
                argv,
                password_stdin,
                provides,
            }) => Ok(command(name, argv, *password_stdin, provides, place)),
            Some(StepProvider::Plugin(plugin)) => {
                let known = self.plugin_of(name, plugin, table.expect("a provider has a table"))?;
                let spec = known
                    .manifest
                    .step_named(name)
                    .expect("checked by plugin_of");
                self.not_a_command_step(workflow, spec, place)?;
                Ok(from_spec(spec, &known, place))
            }
            None => match self.owner.manifest.step_named(name) {
                Some(spec) => {
                    self.not_a_command_step(workflow, spec, place)?;
                    Ok(from_spec(spec, self.owner, place))
                }
                None if place.is_some() => Err(refuse(
                    format!(
                        "{}: steps.{name} places a step that no plugin provides",
                        place.expect("checked")
                    ),
                    format!("to add a step, give [steps.{name}] plugin = \"NAME\" or exec = [...]; to move one, fix its name ({} lists them)", self.plan_command(workflow)),
                )),
                None => {
                    let said = self
                        .config
                        .workflows
                        .get(workflow)
                        .map(|w| format!("{}: ", w.defined_in))
                        .unwrap_or_default();
                    Err(refuse(
                        format!("{said}workflow {workflow} names step '{name}', which no plugin provides and no [steps.{name}] configures"),
                        format!("add [steps.{name}] with plugin = \"NAME\" or exec = [...], or remove it from the list"),
                    ))
                }
            },
        }
    }

    /// A command step (the transport) is run by the step that uses it, never as a step of a
    /// workflow.
    fn not_a_command_step(
        &self,
        workflow: &str,
        spec: &StepSpec,
        place: Option<&Place>,
    ) -> Result<(), PlanError> {
        if spec.command.is_none() {
            return Ok(());
        }
        let place = place
            .or(self.config.workflows.get(workflow).map(|w| &w.defined_in))
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        Err(refuse(
            format!(
                "{place}{} is a command step ({}), not a step of {workflow}",
                spec.name, spec.about
            ),
            format!(
                "remove it from {workflow}; configure the command itself with [steps.{}] exec = [...]",
                spec.name
            ),
        ))
    }

    /// A command step by name (`transport`): the site's command, else the owner's default.
    fn command_step(&self, name: &str) -> Result<Option<ResolvedStep>, PlanError> {
        let table = self.config.step(name);
        if let Some(StepConfig {
            provider:
                Some(StepProvider::Exec {
                    argv,
                    password_stdin,
                    provides,
                }),
            defined_in,
            ..
        }) = table
        {
            return Ok(Some(command(
                name,
                argv,
                *password_stdin,
                provides,
                Some(defined_in),
            )));
        }
        let Some(spec) = self.owner.manifest.step_named(name) else {
            return Ok(None);
        };
        let Some(default) = &spec.command else {
            return Ok(None);
        };
        if let Some(table) = table.filter(|t| t.provider.is_some()) {
            return Err(refuse(
                format!(
                    "{}: steps.{name} is a command step: only exec = [...] replaces it",
                    table.defined_in
                ),
                format!("give [steps.{name}] exec = [\"program\", \"arg\", ...]"),
            ));
        }
        let mut step = command(name, &default.argv, default.password_stdin, &[], None);
        step.about = spec.about.clone();
        Ok(Some(step))
    }

    /// Every needed fact is recorded by an earlier step.
    fn check_facts(
        &self,
        workflow: &str,
        steps: &[ResolvedStep],
        order: &Ordered,
    ) -> Result<(), PlanError> {
        let mut recorded = BTreeSet::new();
        for (at, step) in steps.iter().enumerate() {
            for fact in &step.needs.facts {
                if !recorded.contains(fact.as_str()) {
                    return Err(self.missing_fact(workflow, steps, at, fact, order));
                }
            }
            recorded.extend(step.provides.iter().map(String::as_str));
        }
        Ok(())
    }

    /// The error for step `at` needing `fact`: names the table that took it away — the one
    /// that moved the step recording it behind, or replaced that step — when there is one.
    fn missing_fact(
        &self,
        workflow: &str,
        steps: &[ResolvedStep],
        at: usize,
        fact: &str,
        order: &Ordered,
    ) -> PlanError {
        let step = &steps[at];
        let needing = format!(
            "step {} needs the fact '{fact}', which no step before it in {workflow} records",
            step.name
        );
        // The step recording it comes later: a table moved one of the two.
        if let Some(later) = steps[at..]
            .iter()
            .find(|s| s.provides.iter().any(|p| p == fact))
        {
            let moved = [&step.name, &later.name]
                .into_iter()
                .find_map(|name| order.placed_by.get(name).map(|place| (name, place)));
            if let Some((name, place)) = moved {
                return refuse(
                    format!(
                        "{place}: steps.{name} moves a step so that {needing} ({} records it later)",
                        later.name
                    ),
                    format!(
                        "place {} after {}, or remove the before/after",
                        step.name, later.name
                    ),
                );
            }
        }
        // A step the owner declares as recording it, replaced by a command that does not.
        let replaced = steps.iter().find(|s| {
            s.exec.is_some()
                && self
                    .owner
                    .manifest
                    .step_named(&s.name)
                    .is_some_and(|spec| spec.provides.iter().any(|p| p == fact))
        });
        match replaced.and_then(|s| self.config.step(&s.name).map(|t| (s, t))) {
            Some((replaced, table)) => refuse(
                format!(
                    "{}: steps.{} replaces a step that records '{fact}' by a command that does not: {needing}",
                    table.defined_in, replaced.name
                ),
                format!(
                    "add provides = [\"{fact}\"] to [steps.{}] (the command prints {fact}=VALUE), or remove the replacement",
                    replaced.name
                ),
            ),
            None => {
                let place = self
                    .config
                    .step(&step.name)
                    .map(|t| t.defined_in.to_string())
                    .or_else(|| {
                        self.config
                            .workflows
                            .get(workflow)
                            .map(|w| w.defined_in.to_string())
                    });
                refuse(
                    format!("{}{needing}", place.map(|p| format!("{p}: ")).unwrap_or_default()),
                    format!("put a step that records '{fact}' before {} ({} shows what each step records)", step.name, self.plan_command(workflow)),
                )
            }
        }
    }

    /// Every `[steps.NAME]` means something: it is a step of some workflow, a command step, or
    /// a command step of another plugin; its `before`/`after` placed it in some workflow; its
    /// `workflow` is one a plugin runs. A misspelling would otherwise be silently ignored.
    fn check_every_table_is_used(
        &self,
        workflow: &str,
        current: &Ordered,
    ) -> Result<(), PlanError> {
        let mut used: BTreeSet<String> = current.names.iter().cloned().collect();
        let mut placed: BTreeSet<String> = current.placed_by.keys().cloned().collect();
        for other in &self.owner.manifest.workflows {
            if other.name != workflow {
                let order = self.order(&other.name, false)?;
                used.extend(order.names);
                placed.extend(order.placed_by.into_keys());
            }
        }
        used.extend(self.owner.manifest.steps.iter().map(|s| s.name.clone()));
        let mut others: Option<Vec<Known>> = None;
        for (name, table) in &self.config.steps {
            let at = &table.defined_in;
            if let Some(only) = &table.workflow {
                if !self.owns(only) {
                    let others = others.get_or_insert_with(|| self.plugins.all());
                    let runs_it = others
                        .iter()
                        .any(|k| k.manifest.workflows.iter().any(|w| w.name == *only));
                    if !runs_it {
                        return Err(refuse(
                            format!(
                                "{at}: steps.{name} names workflow '{only}', which no plugin runs; {}",
                                self.workflow_names()
                            ),
                            "fix the name in workflow = \"...\", or remove it",
                        ));
                    }
                    continue;
                }
                if only != workflow {
                    // Checked when that workflow is resolved.
                    continue;
                }
            }
            if let Some(anchor) = table.before.as_ref().or(table.after.as_ref()) {
                if !placed.contains(name) {
                    return Err(refuse(
                        format!("{at}: steps.{name} goes next to '{anchor}', which no workflow has"),
                        format!("{} lists the steps; name one of them in before = \"STEP\" or after = \"STEP\"", self.plan_command(workflow)),
                    ));
                }
            }
            if used.contains(name) {
                continue;
            }
            if let Some(StepProvider::Plugin(plugin)) = &table.provider {
                let known = self.plugin_of(name, plugin, table)?;
                let spec = known
                    .manifest
                    .step_named(name)
                    .expect("checked by plugin_of");
                if spec.workflows.iter().any(|p| self.owns(&p.workflow)) {
                    continue;
                }
                return Err(refuse(
                    format!(
                        "{at}: plugin {plugin} gives step '{name}' no place in a workflow ({})",
                        self.workflow_names()
                    ),
                    format!("give [steps.{name}] a place: before = \"STEP\" or after = \"STEP\""),
                ));
            }
            // Another plugin's command step (doctor's transport) is configured here too.
            let others = others.get_or_insert_with(|| self.plugins.all());
            let command_elsewhere = others.iter().any(|k| {
                k.manifest
                    .step_named(name)
                    .is_some_and(|spec| spec.command.is_some())
            });
            if command_elsewhere {
                continue;
            }
            return Err(refuse(
                format!("{at}: no workflow has a step '{name}'"),
                format!("{} lists the steps; to add a new step give before = \"STEP\" or after = \"STEP\"", self.plan_command(workflow)),
            ));
        }
        Ok(())
    }
}

/// A site command as a step: it needs the facts its placeholders name.
fn command(
    name: &str,
    argv: &[String],
    password_stdin: bool,
    provides: &[String],
    place: Option<&Place>,
) -> ResolvedStep {
    let mut needs = StepNeeds {
        password: password_stdin,
        facts: Vec::new(),
    };
    for word in argv {
        for (_, meaning) in placeholders(word) {
            if let Placeholder::Fact(fact) = meaning {
                if !needs.facts.iter().any(|f| f == fact) {
                    needs.facts.push(fact.to_owned());
                }
            }
        }
    }
    ResolvedStep {
        name: name.to_owned(),
        exec: Some(argv.to_vec()),
        password_stdin,
        about: argv.join(" "),
        needs,
        provides: provides.to_vec(),
        changes_system: true,
        ..defined(place)
    }
}

/// A plugin's step as declared in its manifest.
fn from_spec(spec: &StepSpec, known: &Known, place: Option<&Place>) -> ResolvedStep {
    ResolvedStep {
        name: spec.name.clone(),
        plugin: Some(known.manifest.name.clone()),
        plugin_file: Some(known.file.clone()),
        plugin_version: Some(known.manifest.version.clone()),
        about: spec.about.clone(),
        needs: spec.needs.clone(),
        provides: spec.provides.clone(),
        changes_system: spec.changes_system,
        ..defined(place)
    }
}

fn defined(place: Option<&Place>) -> ResolvedStep {
    match place {
        Some(place) => ResolvedStep {
            defined_in: place.path.display().to_string(),
            line: Some(place.line),
            ..ResolvedStep::default()
        },
        None => ResolvedStep {
            defined_in: "built-in".to_owned(),
            ..ResolvedStep::default()
        },
    }
}

#[cfg(test)]
mod tests;
