//! `workflow.steps` and `step.run`: a workflow's resolved steps, and a step of another plugin.

use serde::{Deserialize, Serialize};

use super::Service;

/// `workflow.steps` (1.3): a workflow's steps as the configuration resolves them (a step's own
/// name gives that one step).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSteps {
    /// The workflow's name (or a command step's name, for that one step).
    pub workflow: String,
}

impl Service for WorkflowSteps {
    const NAME: &'static str = "workflow.steps";
    type Answer = ResolvedWorkflow;
}

/// [`WorkflowSteps`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedWorkflow {
    /// The steps, in order.
    pub steps: Vec<ResolvedStep>,
    /// The user service-discover's Consul runs as (`[mesh] service_user`).
    #[serde(default)]
    pub service_user: String,
}

/// One step and what carries it out: a plugin's step, or a site command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStep {
    /// The step's name.
    pub name: String,
    /// The plugin providing it, when a plugin does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The plugin file that wins discovery for `plugin` (none: not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_file: Option<String>,
    /// The site command providing it, when a command does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// The command takes the new password on standard input.
    #[serde(default)]
    pub password_stdin: bool,
    /// The configuration file that defined it, or `built-in`.
    pub defined_in: String,
    /// The line of `defined_in` (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What the step does, from its plugin's manifest (added in 1.6; a site command: its argv).
    #[serde(default)]
    pub about: String,
    /// The version of `plugin` (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
    /// What the step needs before it runs (added in 1.6).
    #[serde(default)]
    pub needs: crate::step::StepNeeds,
    /// The facts it records (added in 1.6).
    #[serde(default)]
    pub provides: Vec<String>,
    /// Whether it changes the system (added in 1.6).
    #[serde(default)]
    pub changes_system: bool,
}

/// `step.run` (1.6): runs workflow step `call.step` of another plugin, loaded by the same
/// discovery, trust and version rules as any plugin, with this run's host (dry run, `--root`,
/// redaction, audit). The plugin must declare the step and be built against 1.6 or later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStep {
    /// The plugin providing the step.
    pub plugin: String,
    /// What the step is given.
    pub call: crate::step::StepCall,
}

impl Service for RunStep {
    const NAME: &'static str = "step.run";
    type Answer = crate::step::StepOutcome;
}
