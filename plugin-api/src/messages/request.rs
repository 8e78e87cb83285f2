//! One command to run, as the host parsed it, and the output format asked for.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ArgValue, Args, PluginError};
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

impl Args for Request {
    fn args(&self) -> &BTreeMap<String, ArgValue> {
        &self.args
    }
}

impl Request {
    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        Args::flag(self, name)
    }

    /// The value of a single-valued option or positional.
    pub fn value(&self, name: &str) -> Option<&str> {
        Args::value(self, name)
    }

    /// [`Args::parsed`].
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, PluginError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Args::parsed(self, name)
    }

    /// Every value of an option or positional (empty when absent).
    pub fn values(&self, name: &str) -> Vec<&str> {
        Args::values(self, name)
    }

    /// The subcommand path joined by spaces (`""` for the plugin's own command).
    pub fn command_path(&self) -> String {
        self.command.join(" ")
    }
}
