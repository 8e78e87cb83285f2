//! Consul's spelling of options, as admins paste it from Consul's documentation: Go's flag
//! package takes `-name`, `-name=value` and `-name value` for long options, and `-name=true`
//! or `-name=false` for booleans. Before clap parses a command line, each such word is turned
//! into clap's `--name[=value]` when, and only when, it cannot mean anything else there.
//!
//! The decision comes from the clap tree alone (the host's options and the options a plugin's
//! manifest declares for the command reached so far), so it holds for every plugin alike and no
//! command needs to be listed: a word is rewritten only if `name` is a long option of the
//! command reached so far and the word is not a valid cluster of that command's short options
//! (`-v`, `-vv`, `-q`, `-h` stay what they are). Values of options and everything after `--`
//! are never touched.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

/// `args` (without the program name) with Consul's spellings in clap's, for `command`.
pub fn rewrite(command: &Command, args: &[OsString]) -> Vec<OsString> {
    let mut command = command.clone();
    // Built, the tree also holds clap's own `--help`/`--version`.
    command.build();
    let mut at = &command;
    let mut out = Vec::with_capacity(args.len());
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(text) = word.to_str() else {
            out.push(word.clone());
            continue;
        };
        if text == "--" {
            out.push(word.clone());
            out.extend(words.by_ref().cloned());
            break;
        }
        let Some(body) = text.strip_prefix('-').filter(|b| !b.is_empty()) else {
            // A subcommand, a positional value, or the name of a command clap does not know
            // (the top level's plugin name: its options are rewritten once it is loaded).
            if let Some(sub) = at.find_subcommand(text) {
                at = sub;
            } else if at.is_allow_external_subcommands_set() {
                out.push(word.clone());
                out.extend(words.by_ref().cloned());
                break;
            }
            out.push(word.clone());
            continue;
        };
        let (single, body) = match body.strip_prefix('-') {
            Some(long) => (false, long),
            None => (true, body),
        };
        if single {
            if let Some(wants_value) = short_cluster(at, body) {
                out.push(word.clone());
                if wants_value {
                    out.extend(words.next().cloned());
                }
                continue;
            }
        }
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(arg) = long_arg(at, name) else {
            // Unknown: as `--name`, so that clap's error names the whole word (and suggests a
            // close option), not its first letter as a short option.
            let looks_like_a_name = name.starts_with(|c: char| c.is_ascii_alphabetic());
            out.push(if single && looks_like_a_name {
                format!("-{text}").into()
            } else {
                word.clone()
            });
            continue;
        };
        if takes_value(arg) {
            out.push(if single {
                format!("-{text}").into()
            } else {
                word.clone()
            });
            if value.is_none() {
                // `-token-file FILE`: FILE is the value, whatever it looks like.
                out.extend(words.next().cloned());
            }
            continue;
        }
        match value.map(go_bool) {
            None | Some(Some(true)) => out.push(format!("--{name}").into()),
            // `-stale=false`: Go's way to say the flag is not set.
            Some(Some(false)) => {}
            // Not a boolean: clap says the flag takes no value.
            Some(None) => out.push(format!("--{body}").into()),
        }
    }
    out
}

/// Whether `letters` (after one `-`) is a valid cluster of `command`'s short options, and if so
/// whether its last option still waits for its value in the next word.
fn short_cluster(command: &Command, letters: &str) -> Option<bool> {
    for (at, letter) in letters.char_indices() {
        let arg = command
            .get_arguments()
            .find(|a| a.get_short() == Some(letter))?;
        if takes_value(arg) {
            return Some(at + letter.len_utf8() == letters.len());
        }
    }
    Some(false)
}

fn long_arg<'c>(command: &'c Command, name: &str) -> Option<&'c Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(name) && !a.is_positional())
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
}

/// Go's `strconv.ParseBool`, which the flag package uses for `-flag=VALUE`.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Command {
        Command::new("catalog")
            .arg(
                Arg::new("verbose")
                    .long("verbose")
                    .short('v')
                    .action(ArgAction::Count),
            )
            .arg(
                Arg::new("yes")
                    .long("yes")
                    .short('y')
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("token-file").long("token-file"))
            .subcommand(
                Command::new("services")
                    .arg(Arg::new("node").long("node"))
                    .arg(Arg::new("tags").long("tags").action(ArgAction::SetTrue))
                    .arg(
                        Arg::new("verbose")
                            .long("verbose")
                            .short('v')
                            .action(ArgAction::Count),
                    )
                    // Both `-s VALUE` and `--sort VALUE`: `-sort` is `-s ort`.
                    .arg(Arg::new("sort").long("sort").short('s')),
            )
    }

    fn rewritten(args: &[&str]) -> Vec<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        rewrite(&tree(), &args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn consuls_spellings_become_claps() {
        assert_eq!(
            rewritten(&["-token-file=/t", "services", "-node", "x", "-tags"]),
            ["--token-file=/t", "services", "--node", "x", "--tags"]
        );
        assert_eq!(
            rewritten(&["services", "-tags=true", "-node=x", "--tags=1"]),
            ["services", "--tags", "--node=x", "--tags"]
        );
        assert_eq!(rewritten(&["services", "-tags=false"]), ["services"]);
        assert_eq!(
            rewritten(&["services", "-tags=maybe"]),
            ["services", "--tags=maybe"]
        );
        // `-yes` is no cluster: `-y` then an unknown `-e`.
        assert_eq!(rewritten(&["-yes", "-verbose"]), ["--yes", "--verbose"]);
        assert_eq!(rewritten(&["-help"]), ["--help"]);
    }

    #[test]
    fn short_options_values_and_the_end_of_options_stay() {
        assert_eq!(
            rewritten(&["-v", "-vv", "-vy", "-h"]),
            ["-v", "-vv", "-vy", "-h"]
        );
        // A valid group of short options keeps clap's meaning, even when it spells a long name.
        assert_eq!(
            rewritten(&["services", "-s", "-node", "-sfoo", "-sort"]),
            ["services", "-s", "-node", "-sfoo", "-sort"]
        );
        assert_eq!(
            rewritten(&["--token-file", "-tags", "services", "-node", "-tags"]),
            ["--token-file", "-tags", "services", "--node", "-tags"]
        );
        assert_eq!(
            rewritten(&["services", "--", "-tags", "-node"]),
            ["services", "--", "-tags", "-node"]
        );
        // `-tags` is not an option of `catalog` itself: clap will say so, naming it whole.
        assert_eq!(rewritten(&["-tags", "services"]), ["--tags", "services"]);
    }

    #[test]
    fn unknown_names_reach_clap_whole() {
        assert_eq!(rewritten(&["-nope", "-5", "-"]), ["--nope", "-5", "-"]);
    }

    #[test]
    fn the_top_level_stops_at_a_name_it_does_not_know() {
        let top = Command::new("carbonio-mesh")
            .allow_external_subcommands(true)
            .arg(Arg::new("http-addr").long("http-addr"));
        let args: Vec<OsString> = ["-http-addr=h", "members", "-detailed"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            rewrite(&top, &args),
            ["--http-addr=h", "members", "-detailed"].map(OsString::from)
        );
    }
}
