//! What a plugin is and offers: its manifest and its command tree, from which the host builds the command line.

use serde::{Deserialize, Serialize};

use super::ArgSpec;
use crate::step::{StepSpec, WorkflowSpec};

/// The plugin-api version this copy of the crate is; compiled into every plugin's manifest.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a plugin is and which commands it offers. The host builds the command line from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name: the first word after `carbonio-mesh` and the file name `<name>.so`.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The plugin-api version the plugin was built with. Filled in by `export_plugin!`.
    pub api_version: String,
    /// One line for `carbonio-mesh --help`.
    pub description: String,
    /// The plugin's command: its name equals the plugin name; it has flags, subcommands or both.
    pub command: CommandSpec,
    /// Workflow steps this plugin provides (added in 1.1; what they need, provide and where they
    /// go since 1.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// Workflows this plugin runs (added in 1.6): their steps are the steps, of any plugin,
    /// that declare a place in them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<WorkflowSpec>,
    /// The exit statuses this plugin's commands give with a meaning of their own (added in
    /// 1.7): the man pages' EXIT STATUS lists them under the plugin's name, so that the host
    /// names no plugin's codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<ExitCodeSpec>,
}

/// An exit status a plugin gives, and what it means (`6`: "another host is the leader").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitCodeSpec {
    /// The exit status.
    pub code: u8,
    /// One sentence, for the man pages.
    pub meaning: String,
}

impl Manifest {
    /// A manifest whose command is named after the plugin and has no flags yet.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Manifest {
            name: name.to_owned(),
            version: version.to_owned(),
            api_version: API_VERSION.to_owned(),
            description: description.to_owned(),
            command: CommandSpec::new(name, description),
            steps: Vec::new(),
            workflows: Vec::new(),
            exit_codes: Vec::new(),
        }
    }

    /// Replaces the plugin's command (its name is forced to the plugin's name).
    pub fn command(mut self, mut command: CommandSpec) -> Self {
        command.name = self.name.clone();
        self.command = command;
        self
    }

    /// Declares a workflow step this plugin provides, by name only (as 1.1 to 1.5 did).
    pub fn step(self, name: &str, about: &str) -> Self {
        self.with_step(StepSpec::new(name, about))
    }

    /// Declares a workflow step this plugin provides (see [`crate::step`]).
    pub fn with_step(mut self, step: StepSpec) -> Self {
        self.steps.push(step);
        self
    }

    /// Declares a workflow this plugin runs.
    pub fn workflow(mut self, name: &str, about: &str) -> Self {
        self.workflows.push(WorkflowSpec {
            name: name.to_owned(),
            about: about.to_owned(),
            plan: None,
        });
        self
    }

    /// The command line that shows `workflow` as the configuration resolves it
    /// (`carbonio-mesh secret plan`), which the host names in its messages about that workflow.
    /// A workflow not declared yet is left alone.
    pub fn plan(mut self, workflow: &str, command: &str) -> Self {
        if let Some(spec) = self.workflows.iter_mut().find(|w| w.name == workflow) {
            spec.plan = Some(command.to_owned());
        }
        self
    }

    /// Declares an exit status of this plugin's commands and its meaning, for the man pages.
    pub fn exit_code(mut self, code: u8, meaning: &str) -> Self {
        self.exit_codes.push(ExitCodeSpec {
            code,
            meaning: meaning.to_owned(),
        });
        self
    }

    /// The step this plugin declares under `name`.
    pub fn step_named(&self, name: &str) -> Option<&StepSpec> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// One command or subcommand, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The command's name (a word of the command line).
    pub name: String,
    /// One line for help.
    pub about: String,
    /// Longer help shown by `--help` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_about: Option<String>,
    /// Its arguments, in help order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgSpec>,
    /// Its subcommands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcommands: Vec<CommandSpec>,
    /// Command lines shown under "Examples" in `--help` and the man page (1.5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Example>,
    /// Whether the command (or one below it) changes something (1.5). `Some(false)`: read-only,
    /// its help leaves out `--dry-run` and `--yes`. None (older plugins): taken as changing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<bool>,
}

/// One example: a whole command line (`carbonio-mesh members --status failed`) and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The whole command line, `carbonio-mesh ...`.
    pub command: String,
    /// What it does, one line.
    pub about: String,
}

impl CommandSpec {
    /// A command named `name` with no arguments yet.
    pub fn new(name: &str, about: &str) -> Self {
        CommandSpec {
            name: name.to_owned(),
            about: about.to_owned(),
            long_about: None,
            args: Vec::new(),
            subcommands: Vec::new(),
            examples: Vec::new(),
            changes: None,
        }
    }

    /// Adds an example: `command` as typed (starting with `carbonio-mesh`), `about` one line.
    pub fn example(mut self, command: &str, about: &str) -> Self {
        self.examples.push(Example {
            command: command.to_owned(),
            about: about.to_owned(),
        });
        self
    }

    /// Marks the command as read-only: `--dry-run` and `--yes` mean nothing to it.
    pub fn read_only(mut self) -> Self {
        self.changes = Some(false);
        self
    }

    /// Whether this command or one below it may change something (unknown counts as yes).
    pub fn may_change(&self) -> bool {
        self.changes != Some(false) || self.subcommands.iter().any(CommandSpec::may_change)
    }

    /// Longer help, shown by `--help`.
    pub fn long_about(mut self, text: &str) -> Self {
        self.long_about = Some(text.to_owned());
        self
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: ArgSpec) -> Self {
        self.args.push(arg);
        self
    }

    /// Adds a subcommand.
    pub fn subcommand(mut self, command: CommandSpec) -> Self {
        self.subcommands.push(command);
        self
    }
}
