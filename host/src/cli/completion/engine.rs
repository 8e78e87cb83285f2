//! What TAB offers after the words typed so far: a walk through the same clap tree the command
//! line is parsed with (the plugins' commands built from their manifests, as `run` builds
//! them), so completion never offers what the parser would refuse.
//!
//! The rules an admin expects, which clap_complete's static scripts did not follow: an empty
//! word offers the commands of the level reached (or its next positional's values), never its
//! flags; flags only once the word starts with `-`; the host's `--dry-run`/`--yes` only where
//! the command takes them; an option's values from its possible values, from what its
//! manifest suggests (filled by `live`), or files.

use carbonio_mesh_plugin_api::{ArgSpec, CommandSpec, Suggest};
use clap::{Arg, Command};

use crate::cli::command as cli;

/// What the shell should do with the current word.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Offer these words (each replaces the whole current word), with a description.
    Words(Vec<Candidate>),
    /// Offer the values of a live source, then these words; `prefix` goes before each value
    /// (`--nodes=srv1,` when completing the second element of a list).
    Live {
        source: Suggest,
        prefix: String,
        partial: String,
    },
    /// Let the shell complete a file name (`dirs_only`: a directory).
    Files { dirs_only: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub word: String,
    pub about: String,
}

impl Candidate {
    fn new(word: impl Into<String>, about: impl Into<String>) -> Self {
        Candidate {
            word: word.into(),
            about: about.into(),
        }
    }
}

/// The tree completion walks: the built-in commands and every plugin's, as parsed.
pub fn tree(specs: &[CommandSpec]) -> Command {
    let mut top = cli::base_command().allow_external_subcommands(false);
    for spec in specs {
        top = top.subcommand(cli::plugin_command(spec));
    }
    top
}

/// One level of the walk: its clap command and, inside a plugin, its manifest spec.
struct Level<'a> {
    command: &'a Command,
    spec: Option<&'a CommandSpec>,
    /// The built-in command path (`["generate", "man"]`), empty inside a plugin.
    built_in: Vec<&'a str>,
    /// How many positional words this level has taken.
    positionals: usize,
}

impl<'a> Level<'a> {
    /// The options this level takes: its own, and the host's where clap would take them
    /// (a plugin's levels declare the host's options themselves; the built-ins get them as
    /// clap globals, `--dry-run` only where they write something).
    fn options(&self) -> Vec<Arg> {
        let mut options: Vec<Arg> = self
            .command
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set())
            .cloned()
            .collect();
        if self.spec.is_none() && !self.built_in.is_empty() {
            options.extend(cli::built_in_host_args(&self.built_in));
        }
        options
    }

    fn option(&self, long: &str) -> Option<Arg> {
        self.options()
            .into_iter()
            .find(|a| a.get_long() == Some(long))
    }

    fn short_option(&self, short: char) -> Option<Arg> {
        self.options()
            .into_iter()
            .find(|a| a.get_short() == Some(short))
    }

    fn arg_spec(&self, id: &str) -> Option<&'a ArgSpec> {
        self.spec?.args.iter().find(|a| a.name == id)
    }

    /// The positional the next word fills (a multiple one keeps taking words).
    fn next_positional(&self) -> Option<&'a Arg> {
        let positionals: Vec<&Arg> = self.command.get_positionals().collect();
        positionals.get(self.positionals).copied().or_else(|| {
            positionals
                .last()
                .copied()
                .filter(|a| a.get_num_args().is_some_and(|n| n.max_values() > 1))
        })
    }

    /// The level `word` leads to: a built-in command, a plugin's command (at the top), or one
    /// of a plugin's subcommands.
    fn descend(&self, word: &'a str, specs: &'a [CommandSpec]) -> Option<Level<'a>> {
        let command = self
            .command
            .get_subcommands()
            .find(|c| c.get_name() == word)?;
        let (spec, built_in) = match self.spec {
            Some(spec) => (spec.subcommands.iter().find(|s| s.name == word), Vec::new()),
            None if self.built_in.is_empty() => match specs.iter().find(|s| s.name == word) {
                Some(plugin) => (Some(plugin), Vec::new()),
                None => (None, vec![word]),
            },
            None => (None, [&self.built_in[..], &[word]].concat()),
        };
        Some(Level {
            command,
            spec,
            built_in,
            positionals: 0,
        })
    }

    /// The option whose value the word after `word` (an option or a group of short ones) is.
    fn option_wanting_value(&self, word: &str) -> Option<Arg> {
        if let Some(long) = word.strip_prefix("--") {
            return if long.contains('=') {
                None
            } else {
                self.option(long).filter(takes_value)
            };
        }
        // `-vq`: flags; `-xVALUE`: a value attached; only a last short option taking a value
        // takes the next word.
        for (at, short) in word.char_indices().skip(1) {
            let arg = self.short_option(short)?;
            if takes_value(&arg) {
                return (at + short.len_utf8() == word.len()).then_some(arg);
            }
        }
        None
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// What to offer for `words` (the words typed after the program name, the last being the one
/// completed, possibly empty), in `top` (see [`tree`]) with the plugins' `specs`.
pub fn complete(top: &Command, specs: &[CommandSpec], words: &[String]) -> Answer {
    let Some((current, typed)) = words.split_last() else {
        return Answer::Words(Vec::new());
    };
    let mut level = Level {
        command: top,
        spec: None,
        built_in: Vec::new(),
        positionals: 0,
    };
    // The value of this option is what is being completed (`--node <TAB>`).
    let mut pending: Option<(Arg, Option<&ArgSpec>)> = None;
    let mut after_dashes = false;
    for word in typed {
        if pending.take().is_some() {
            continue;
        }
        if !after_dashes && word == "--" {
            after_dashes = true;
        } else if after_dashes || word == "-" || !word.starts_with('-') {
            match level.descend(word, specs) {
                Some(next) => level = next,
                None => level.positionals += 1,
            }
        } else {
            pending = level.option_wanting_value(word).map(|arg| {
                let spec = level.arg_spec(arg.get_id().as_str());
                (arg, spec)
            });
        }
    }
    if let Some((arg, spec)) = pending {
        return values(&arg, spec, "", current);
    }
    if !after_dashes && current.starts_with("--") {
        if let Some((name, value)) = current[2..].split_once('=') {
            return match level.option(name).filter(takes_value) {
                Some(arg) => values(
                    &arg,
                    level.arg_spec(arg.get_id().as_str()),
                    &format!("--{name}="),
                    value,
                ),
                None => Answer::Words(Vec::new()),
            };
        }
    }
    if !after_dashes && current.starts_with('-') {
        return Answer::Words(flags(&level, current));
    }
    let subcommands: Vec<Candidate> = level
        .command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| Candidate::new(c.get_name(), about(c.get_about())))
        .collect();
    if !subcommands.is_empty() {
        return Answer::Words(starting_with(subcommands, current));
    }
    match level.next_positional() {
        Some(arg) => values(arg, level.arg_spec(arg.get_id().as_str()), "", current),
        // Nothing but options here: offer them rather than nothing.
        None if current.is_empty() => Answer::Words(flags(&level, current)),
        None => Answer::Words(Vec::new()),
    }
}

fn about(text: Option<&clap::builder::StyledStr>) -> String {
    text.map(|t| t.to_string())
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn starting_with(candidates: Vec<Candidate>, current: &str) -> Vec<Candidate> {
    candidates
        .into_iter()
        .filter(|c| c.word.starts_with(current))
        .collect()
}

/// The long options of `level` (and `--help`), those starting with `current`.
fn flags(level: &Level<'_>, current: &str) -> Vec<Candidate> {
    let mut flags: Vec<Candidate> = level
        .options()
        .iter()
        .filter_map(|a| {
            Some(Candidate::new(
                format!("--{}", a.get_long()?),
                about(a.get_help()),
            ))
        })
        .collect();
    if !flags.iter().any(|f| f.word == "--help") {
        flags.push(Candidate::new("--help", "Print help"));
    }
    starting_with(flags, current)
}

/// The values `arg` takes, those starting with `partial`, each after `prefix`.
fn values(arg: &Arg, spec: Option<&ArgSpec>, prefix: &str, partial: &str) -> Answer {
    if let Some(source) = spec.and_then(|s| s.suggest.clone()) {
        return Answer::Live {
            source,
            prefix: prefix.to_owned(),
            partial: partial.to_owned(),
        };
    }
    let possible: Vec<Candidate> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| Candidate::new(format!("{prefix}{}", v.get_name()), about(v.get_help())))
        .collect();
    if !possible.is_empty() {
        return Answer::Words(starting_with(possible, &format!("{prefix}{partial}")));
    }
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.as_str());
    match value_name {
        Some("FILE" | "PATH") if prefix.is_empty() => Answer::Files { dirs_only: false },
        Some("DIR") if prefix.is_empty() => Answer::Files { dirs_only: true },
        _ => Answer::Words(Vec::new()),
    }
}
