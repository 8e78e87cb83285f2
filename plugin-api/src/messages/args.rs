//! A command's arguments: how each is declared (kind, value kind) and the value the user gave.

use serde::{Deserialize, Serialize};

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
    /// The id in [`Request::args`](super::Request::args) and the long flag name (`--name`).
    pub name: String,
    /// Flag, option or positional.
    pub kind: ArgKind,
    /// One line for help.
    pub help: String,
    /// A one-letter spelling (`-v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<char>,
    /// The value's name in help (`FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_name: Option<String>,
    /// Must be given.
    #[serde(default)]
    pub required: bool,
    /// May be given several times (options) or take several words (positionals).
    #[serde(default)]
    pub multiple: bool,
    /// The value when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The only values accepted, when the list is closed.
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
    Values {
        /// The words offered.
        values: Vec<String>,
    },
    /// The cluster's nodes: node names and hostnames (the members and Carbonio's server
    /// list), then `extra` words (`all`). `list`: a comma-separated list (`--nodes A,B`).
    Nodes {
        /// Words offered besides the nodes (`all`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra: Vec<String>,
        /// The value is a comma-separated list of them.
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
    /// of seconds). The plugin reads it with [`Request::parsed`](super::Request::parsed).
    Unsigned {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
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

    /// A switch `--name`, without a value.
    pub fn flag(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Flag, help)
    }

    /// An option `--name VALUE`.
    pub fn option(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Option, help)
    }

    /// A positional argument `NAME`.
    pub fn positional(name: &str, help: &str) -> Self {
        Self::new(name, ArgKind::Positional, help)
    }

    /// Adds the one-letter spelling `-c`.
    pub fn short(mut self, short: char) -> Self {
        self.short = Some(short);
        self
    }

    /// Names the value in help (`--file FILE`).
    pub fn value_name(mut self, value_name: &str) -> Self {
        self.value_name = Some(value_name.to_owned());
        self
    }

    /// Makes the argument required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Lets the option be given several times (a positional: take several words).
    pub fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }

    /// The value when the argument is not given.
    pub fn default_value(mut self, value: &str) -> Self {
        self.default = Some(value.to_owned());
        self
    }

    /// The only values accepted (help and completion list them).
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
    /// A flag: given or not.
    Flag(bool),
    /// One value.
    One(String),
    /// Several values, in the order given.
    Many(Vec<String>),
}
