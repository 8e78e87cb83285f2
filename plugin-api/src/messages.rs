//! The JSON messages between host and plugin: the manifest, a request, a response, an error.
//!
//! They evolve only by adding optional fields (`#[serde(default)]`), never by renaming or removing,
//! within a major version.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::step::{StepCall, StepOutcome, StepSpec, WorkflowSpec};
use crate::SecretText;

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
}

impl Manifest {
    /// A manifest whose command is named after the plugin and has no flags yet.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Manifest {
            name: name.to_owned(),
            version: version.to_owned(),
            api_version: crate::API_VERSION.to_owned(),
            description: description.to_owned(),
            command: CommandSpec::new(name, description),
            steps: Vec::new(),
            workflows: Vec::new(),
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
    pub name: String,
    /// One line for help.
    pub about: String,
    /// Longer help shown by `--help` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_about: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgSpec>,
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
    pub command: String,
    pub about: String,
}

impl CommandSpec {
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

    pub fn long_about(mut self, text: &str) -> Self {
        self.long_about = Some(text.to_owned());
        self
    }

    pub fn arg(mut self, arg: ArgSpec) -> Self {
        self.args.push(arg);
        self
    }

    pub fn subcommand(mut self, command: CommandSpec) -> Self {
        self.subcommands.push(command);
        self
    }
}

/// How an argument is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgKind {
    /// `--name`, no value.
    Flag,
    /// `--name VALUE`.
    Option,
    /// A bare word, in declaration order.
    Positional,
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgSpec {
    /// The id in [`Request::args`] and the long flag name (`--name`).
    pub name: String,
    pub kind: ArgKind,
    pub help: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_name: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// May be given several times (options) or take several words (positionals).
    #[serde(default)]
    pub multiple: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible_values: Vec<String>,
    /// What the value must be (added in 1.6): the host checks every value against it before the
    /// plugin runs, so a bad one is a usage error (exit 2) naming the option and what it
    /// accepts. None (every older plugin): any text, checked by the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_kind: Option<ValueKind>,
    /// What shell completion offers for the value (added in 1.7): the host fills it from the
    /// live cluster or this host's runs when the admin presses TAB. None: the possible values, or
    /// files for a `FILE`/`DIR`/`PATH` value name, or nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggest: Option<Suggest>,
}

/// Where shell completion finds the values of an option or positional (see
/// [`ArgSpec::suggest`]). Only a hint: the host never refuses a value for not being offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Suggest {
    /// These words (a value the plugin matches itself, such as `members --status REGEX`).
    Values { values: Vec<String> },
    /// The cluster's nodes: node names and hostnames (the members and Carbonio's server
    /// list), then `extra` words (`all`). `list`: a comma-separated list (`--nodes A,B`).
    Nodes {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra: Vec<String>,
        #[serde(default)]
        list: bool,
    },
    /// The runs journaled on this host (`secret show RUN`).
    Runs,
}

/// The kinds of value the host checks for an option or positional (see [`ArgSpec::value_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ValueKind {
    /// A whole number from `min` to `max`, both included, written in decimal (a count, a number
    /// of seconds). The plugin reads it with [`Request::parsed`].
    Unsigned { min: u64, max: u64 },
}

impl ValueKind {
    /// What the kind accepts, for messages: `a whole number from 1 to 256`.
    pub fn describe(&self) -> String {
        match self {
            ValueKind::Unsigned { min, max } => format!("a whole number from {min} to {max}"),
        }
    }

    /// `value` checked against the kind: the reason it is refused, if it is.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self {
            ValueKind::Unsigned { min, max } => {
                // u64's parser takes a leading `+`; Consul's and our documentation never write one.
                let number = value
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .filter(|n| (min..=max).contains(&n));
                match number {
                    Some(_) => Ok(()),
                    None => Err(format!("expected {}", self.describe())),
                }
            }
        }
    }
}

impl ArgSpec {
    fn new(name: &str, kind: ArgKind, help: &str) -> Self {
        ArgSpec {
            name: name.to_owned(),
            kind,
            help: help.to_owned(),
            short: None,
            value_name: None,
            required: false,
            multiple: false,
            default: None,
            possible_values: Vec::new(),
            value_kind: None,
            suggest: None,
        }
    }

    pub fn flag(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Flag, help)
    }

    pub fn option(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Option, help)
    }

    pub fn positional(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Positional, help)
    }

    pub fn short(mut self, short: char) -> Self {
        self.short = Some(short);
        self
    }

    pub fn value_name(mut self, value_name: &str) -> Self {
        self.value_name = Some(value_name.to_owned());
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }

    pub fn default_value(mut self, value: &str) -> Self {
        self.default = Some(value.to_owned());
        self
    }

    pub fn possible_values(mut self, values: &[&str]) -> Self {
        self.possible_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// The value must be a whole number from `min` to `max` (see [`ValueKind::Unsigned`]).
    pub fn unsigned(mut self, min: u64, max: u64) -> Self {
        self.value_kind = Some(ValueKind::Unsigned { min, max });
        self
    }

    /// What shell completion offers for the value (see [`Suggest`]).
    pub fn suggest(mut self, suggest: Suggest) -> Self {
        self.suggest = Some(suggest);
        self
    }
}

/// The value of one argument as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArgValue {
    Flag(bool),
    One(String),
    Many(Vec<String>),
}

/// `--format`: human text (matching the Consul CLI where one exists) or JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

/// One command to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The subcommand path below the plugin's command (`["nodes"]` for `catalog nodes`).
    #[serde(default)]
    pub command: Vec<String>,
    /// The arguments the user gave or that have defaults, by [`ArgSpec::name`].
    #[serde(default)]
    pub args: BTreeMap<String, ArgValue>,
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
    /// [`ValueKind`] and the host refuses a bad value before the plugin runs; this is the one
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

/// What a command produced.
///
/// The host prints it with every secret the run has seen (passwords, tokens, keys) replaced by
/// `<redacted>`, except the ones listed in `reveal`, which may appear on standard output only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Printed to standard output, secrets redacted.
    #[serde(default)]
    pub stdout: String,
    /// Printed to standard error, secrets redacted (added in 1.2), for messages the Consul CLI
    /// prints there.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// The process exit status; 0 unless the command defines others (`members` exits 2 on no match).
    #[serde(default)]
    pub exit_code: u8,
    /// Secrets this answer prints on purpose on standard output (added in 1.4): the token of
    /// `credentials token`, a generated password shown once. Never shown on standard error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reveal: Vec<SecretText>,
    /// Warnings for standard error (added in 1.5): the host prints each as
    /// `carbonio-mesh: warning: ...` with its fix, and leaves them out with `-q`. Standard output
    /// stays the command's product, byte for byte.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The outcome of the step a [`Request::step`] asked for (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepOutcome>,
    /// A JSON document for standard output (added in 1.6), printed after `stdout` and followed
    /// by a newline, secrets redacted like `stdout`. It crosses the boundary as JSON inside the
    /// response, not as a string: a 2.4 MB `members --format json` answer is then neither
    /// escaped by the plugin nor unescaped by the host. [`Response::json`] fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_json: Option<JsonDocument>,
}

/// One JSON value, kept as the text it was written as (see [`Response::stdout_json`]).
///
/// Built only by serde_json: by [`JsonDocument::pretty`] in a plugin, or by reading it as a
/// `RawValue` in the host, so the text is always one well-formed JSON value.
#[derive(Debug, Clone)]
pub struct JsonDocument {
    /// The document from byte `start` on. Before it, a document a plugin wrote holds
    /// [`JsonDocument::ANSWER_PREFIX`]: the plugin's answer is then finished in this buffer,
    /// without copying the document (see `export::encode_response`).
    buffer: String,
    start: usize,
}

impl JsonDocument {
    /// How a plugin's answer starts when it carries a document.
    pub(crate) const ANSWER_PREFIX: &'static str = r#"{"stdout_json":"#;

    /// `value` pretty-printed (two-space indent, as every `--format json` answer is).
    pub fn pretty<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        Self::pretty_sized(value, 0)
    }

    /// [`JsonDocument::pretty`] written into a buffer made for about `expected` bytes. A large
    /// document written into a growing buffer is copied, and its memory touched afresh, at each
    /// doubling: 2.4 MB of members went through 128 KB, 256 KB, ... 4 MB.
    pub fn pretty_sized<T: Serialize>(
        value: &T,
        expected: usize,
    ) -> Result<Self, serde_json::Error> {
        let mut buffer = Vec::with_capacity(Self::ANSWER_PREFIX.len() + expected.max(128));
        buffer.extend_from_slice(Self::ANSWER_PREFIX.as_bytes());
        serde_json::to_writer_pretty(&mut buffer, value)?;
        // serde_json writes UTF-8, and its own output is not scanned again (checking a 2.4 MB
        // member list as JSON took 3 ms).
        let buffer = String::from_utf8(buffer).map_err(serde::ser::Error::custom)?;
        Ok(JsonDocument {
            buffer,
            start: Self::ANSWER_PREFIX.len(),
        })
    }

    /// The document's text, exactly as written.
    pub fn as_str(&self) -> &str {
        &self.buffer[self.start..]
    }

    /// The buffer, [`JsonDocument::ANSWER_PREFIX`] then the document, when this document was
    /// written by [`JsonDocument::pretty`].
    pub(crate) fn into_answer_start(self) -> Result<String, Self> {
        if self.buffer.get(..self.start) == Some(Self::ANSWER_PREFIX) {
            Ok(self.buffer)
        } else {
            Err(self)
        }
    }
}

impl Serialize for JsonDocument {
    /// As the JSON it is, not as a string. The plugin's own answer does not come this way (its
    /// document is spliced in, see `export::encode_response`); this serves any other encoder.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::value::RawValue::from_string(self.as_str().to_owned())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked while read (serde_json finds where the value ends), then kept without a copy.
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(|raw| JsonDocument {
            buffer: Box::<str>::from(raw).into_string(),
            start: 0,
        })
    }
}

impl PartialEq for JsonDocument {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonDocument {}

/// A warning a command gives alongside its answer (see [`Response::with_warning`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The exit status of a declined confirmation (see [`Response::declined`]); the host documents it.
pub const EXIT_DECLINED: u8 = 9;

impl Response {
    pub fn text(stdout: impl Into<String>) -> Self {
        Response {
            stdout: stdout.into(),
            stderr: String::new(),
            exit_code: 0,
            reveal: Vec::new(),
            warnings: Vec::new(),
            step: None,
            stdout_json: None,
        }
    }

    /// Lets `secret` appear in standard output: the user asked for it.
    pub fn revealing(mut self, secret: &SecretText) -> Self {
        self.reveal.push(secret.clone());
        self
    }

    /// `value` as pretty JSON followed by a newline, for `--format json` (in
    /// [`Response::stdout_json`]; a host before 1.6 does not load a plugin built with this).
    pub fn json<T: Serialize>(value: &T) -> Result<Self, PluginError> {
        Self::json_sized(value, 0)
    }

    /// [`Response::json`] for a large answer of about `expected` bytes (see
    /// [`JsonDocument::pretty_sized`]); a wrong guess costs time, not correctness.
    pub fn json_sized<T: Serialize>(value: &T, expected: usize) -> Result<Self, PluginError> {
        let document = JsonDocument::pretty_sized(value, expected)
            .map_err(|e| PluginError::internal(format!("cannot encode the JSON answer: {e}")))?;
        Ok(Response {
            stdout_json: Some(document),
            ..Response::text("")
        })
    }

    /// Everything this response prints on standard output: `stdout`, then the JSON document
    /// and its newline. Borrowed when there is only one of them.
    pub fn stdout_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.stdout_json {
            None => std::borrow::Cow::Borrowed(&self.stdout),
            Some(document) => {
                let mut text =
                    String::with_capacity(self.stdout.len() + document.as_str().len() + 1);
                text.push_str(&self.stdout);
                text.push_str(document.as_str());
                text.push('\n');
                std::borrow::Cow::Owned(text)
            }
        }
    }

    /// The user said no to a confirmation: `Nothing changed.` on standard error (with
    /// `--format json`, `{"declined": true}` on standard output), exit [`EXIT_DECLINED`].
    pub fn declined_as(format: OutputFormat) -> Self {
        let response = match format {
            OutputFormat::Json => {
                Response::text("{\n  \"declined\": true,\n  \"changed\": false\n}\n")
            }
            OutputFormat::Human => Response::text(""),
        };
        response
            .with_stderr("Nothing changed.\n")
            .with_exit_code(EXIT_DECLINED)
    }

    /// [`Response::declined_as`] for a human reader.
    pub fn declined() -> Self {
        Response::declined_as(OutputFormat::Human)
    }

    /// Adds a warning the host prints on standard error unless `-q` was given.
    pub fn with_warning(mut self, message: impl Into<String>, fix: Option<String>) -> Self {
        self.warnings.push(Warning {
            message: message.into(),
            fix,
        });
        self
    }

    pub fn with_exit_code(mut self, exit_code: u8) -> Self {
        self.exit_code = exit_code;
        self
    }

    /// Adds a message for standard error.
    pub fn with_stderr(mut self, stderr: impl Into<String>) -> Self {
        self.stderr = stderr.into();
        self
    }
}

/// What kind of failure an error is; the host maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The user's arguments are wrong (exit 2).
    Usage,
    /// The configuration is wrong (exit 3).
    Config,
    /// The operation failed: Consul refused, a command failed, a file is missing (exit 5).
    Operation,
    /// A bug in the plugin (exit 4, like a plugin that fails to load).
    Internal,
}

/// An error a plugin reports. `message` says what was wrong; `hint` says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// A specific exit status (above 5) for errors that scripts must tell apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
            hint: None,
            exit_code: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn operation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Operation, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_exit_code(mut self, exit_code: u8) -> Self {
        self.exit_code = Some(exit_code);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1_0_manifest_without_steps_still_parses() {
        let json = r#"{"name":"old","version":"0.1.0","api_version":"1.0.0","description":"d",
            "command":{"name":"old","about":"d"}}"#;
        let manifest: Manifest = serde_json::from_str(json).unwrap();
        assert!(manifest.steps.is_empty());
        assert!(manifest.command.args.is_empty());
    }

    #[test]
    fn unknown_fields_from_a_newer_minor_are_ignored() {
        let json = r#"{"command":["x"],"args":{},"format":"json","some_field_from_1_9":true}"#;
        let request: Request = serde_json::from_str(json).unwrap();
        assert_eq!(request.format, OutputFormat::Json);
    }

    #[test]
    fn arg_values_round_trip_untagged() {
        let mut request = Request::default();
        request.args.insert("detailed".into(), ArgValue::Flag(true));
        request
            .args
            .insert("service".into(), ArgValue::One("web".into()));
        request
            .args
            .insert("id".into(), ArgValue::Many(vec!["a".into(), "b".into()]));
        let back: Request =
            serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert!(back.flag("detailed"));
        assert!(!back.flag("missing"));
        assert_eq!(back.value("service"), Some("web"));
        assert_eq!(back.values("id"), ["a", "b"]);
    }

    #[test]
    fn a_1_5_argument_without_a_value_kind_still_parses() {
        let json = r#"{"name":"parallel","kind":"option","help":"h","default":"32"}"#;
        let arg: ArgSpec = serde_json::from_str(json).unwrap();
        assert_eq!(arg.value_kind, None);
        let arg = ArgSpec::option("parallel", "h").unsigned(1, 256);
        let json = serde_json::to_string(&arg).unwrap();
        assert!(
            json.contains(r#""value_kind":{"type":"unsigned","min":1,"max":256}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ArgSpec>(&json).unwrap(), arg);
    }

    #[test]
    fn an_unsigned_kind_takes_decimal_numbers_in_its_range_only() {
        let kind = ValueKind::Unsigned { min: 1, max: 256 };
        for good in ["1", "32", "256", "0032"] {
            assert_eq!(kind.check(good), Ok(()), "{good}");
        }
        for bad in [
            "0",
            "257",
            "abc",
            "",
            "-1",
            "+5",
            "1.5",
            " 3",
            "99999999999999999999999",
        ] {
            assert_eq!(
                kind.check(bad),
                Err("expected a whole number from 1 to 256".to_owned()),
                "{bad}"
            );
        }
    }

    #[test]
    fn parsed_reads_a_typed_value_or_names_the_option() {
        let mut request = Request::default();
        assert_eq!(request.parsed::<u64>("parallel"), Ok(None));
        request
            .args
            .insert("parallel".into(), ArgValue::One("16".into()));
        assert_eq!(request.parsed::<usize>("parallel"), Ok(Some(16)));
        request
            .args
            .insert("parallel".into(), ArgValue::One("abc".into()));
        let error = request.parsed::<usize>("parallel").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage);
        assert_eq!(
            error.message,
            "invalid value 'abc' for --parallel: invalid digit found in string"
        );
    }

    #[test]
    fn a_json_answer_crosses_as_json_and_prints_as_before() {
        let value = serde_json::json!([{"name": "a \"quoted\"\nname", "tags": {"k": "v"}}]);
        let response = Response::json(&value).unwrap();
        // What a 1.5 plugin printed, byte for byte.
        let mut before = serde_json::to_string_pretty(&value).unwrap();
        before.push('\n');
        assert_eq!(response.stdout_text(), before);
        let wire = serde_json::to_string(&response).unwrap();
        assert!(
            wire.contains(
                r#""stdout_json":[
  {
    "name""#
            ),
            "{wire}"
        );
        let back: Response = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, response);
        assert_eq!(back.stdout_text(), before);
        // A 1.5 plugin's answer: no document, its text as it was.
        let old: Response = serde_json::from_str(r#"{"stdout":"x\n","exit_code":0}"#).unwrap();
        assert_eq!((old.stdout_json, old.stdout.as_str()), (None, "x\n"));
    }

    #[test]
    fn command_is_renamed_after_the_plugin() {
        let manifest =
            Manifest::new("members", "1.0.0", "d").command(CommandSpec::new("other", "x"));
        assert_eq!(manifest.command.name, "members");
        assert_eq!(manifest.api_version, crate::API_VERSION);
    }
}
