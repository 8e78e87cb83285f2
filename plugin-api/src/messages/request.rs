//! One command to run, as the host parsed it, and the output format asked for.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ArgValue, PluginError};
use crate::step::StepCall;

/// `--format`: human text (matching the Consul CLI where one exists) or JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Text for people, matching the Consul CLI where one exists.
    #[default]
    Human,
    /// One JSON document on standard output.
    Json,
}

/// One command to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The subcommand path below the plugin's command (`["nodes"]` for `catalog nodes`).
    #[serde(default)]
    pub command: Vec<String>,
    /// The arguments the user gave or that have defaults, by [`ArgSpec::name`](super::ArgSpec::name).
    #[serde(default)]
    pub args: BTreeMap<String, ArgValue>,
    /// `--format`: what the output must be.
    #[serde(default)]
    pub format: OutputFormat,
    /// `--dry-run`: the host records changes instead of making them.
    #[serde(default)]
    pub dry_run: bool,
    /// `--yes`: the user confirmed in advance.
    #[serde(default)]
    pub assume_yes: bool,
    /// Standard input and error are a terminal (prompts and progress are possible).
    #[serde(default)]
    pub interactive: bool,
    /// Colour is allowed (a terminal, and `NO_COLOR` unset).
    #[serde(default)]
    pub color: bool,
    /// `-q` (added in 1.7): the admin asked for silence; a command whose answer is its exit
    /// status (`leader -q`) prints nothing. Warnings are left out by the host either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiet: bool,
    /// Run this workflow step instead of a command (added in 1.6; sent only to plugins built
    /// against 1.6 or later that declare the step): answered by [`crate::Plugin::run_step`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepCall>,
}

impl Request {
    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.args.get(name), Some(ArgValue::Flag(true)))
    }

    /// The value of a single-valued option or positional.
    pub fn value(&self, name: &str) -> Option<&str> {
        match self.args.get(name)? {
            ArgValue::One(value) => Some(value),
            ArgValue::Many(values) => values.last().map(String::as_str),
            ArgValue::Flag(_) => None,
        }
    }

    /// The value of a single-valued option or positional, parsed as `T`: none when absent, a
    /// usage error naming the option when it does not parse. Declare the option with a
    /// [`ValueKind`](super::ValueKind) and the host refuses a bad value before the plugin runs; this is the one
    /// place the plugin turns the text into its type.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, PluginError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let Some(text) = self.value(name) else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|e| {
            PluginError::usage(format!("invalid value '{text}' for --{name}: {e}"))
                .hint(format!("`--help` says what --{name} takes"))
        })
    }

    /// Every value of an option or positional (empty when absent).
    pub fn values(&self, name: &str) -> Vec<&str> {
        match self.args.get(name) {
            Some(ArgValue::One(value)) => vec![value.as_str()],
            Some(ArgValue::Many(values)) => values.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The subcommand path joined by spaces (`""` for the plugin's own command).
    pub fn command_path(&self) -> String {
        self.command.join(" ")
    }
}
