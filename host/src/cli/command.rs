//! The command line: the host's own options, and each plugin's command tree built from its
//! manifest. Nothing here does any work; `main` and `run` decide what happens.

use std::ffi::OsString;
use std::path::PathBuf;

use carbonio_mesh_plugin_api::{
    ArgKind, ArgSpec, ArgValue, CommandSpec, OutputFormat, Request, ValueKind,
};

use crate::consul::client::ConsulFlags;
use clap::{builder::PossibleValuesParser, Arg, ArgAction, ArgMatches, Command};

const ABOUT: &str = "Operate Carbonio Mesh (Consul as service-discover): leader, catalog, members, credentials, secret regeneration";

/// The host's own options: accepted before the plugin name and at every level after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    pub plugin_dir: Option<PathBuf>,
    pub root: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
    pub format: OutputFormat,
    pub dry_run: bool,
    pub yes: bool,
    pub consul: ConsulFlags,
}

/// The host's options, declared once: the top level takes them as clap globals, every level of a
/// plugin's command tree takes them again, and the names a plugin may not use come from here.
fn host_args() -> Vec<Arg> {
    vec![
        Arg::new("plugin-dir")
            .long("plugin-dir")
            .env("CARBONIO_MESH_PLUGIN_DIR")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Look for plugins in DIR first (before the site and vendor directories)"),
        Arg::new("root")
            .long("root")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Treat DIR as / for every system path (tests, rescue work)"),
        Arg::new("format")
            .long("format")
            .value_name("FORMAT")
            .value_parser(["human", "json"])
            .help("Output format [default: human]"),
        Arg::new("dry-run")
            .long("dry-run")
            .action(ArgAction::SetTrue)
            .help("Show what would change; change nothing"),
        Arg::new("yes")
            .long("yes")
            .short('y')
            .action(ArgAction::SetTrue)
            .help("Do not ask for confirmation"),
        Arg::new("verbose")
            .long("verbose")
            .short('v')
            .action(ArgAction::Count)
            .help("Say more on standard error (-vv, -vvv for more)"),
        Arg::new("quiet")
            .long("quiet")
            .short('q')
            .action(ArgAction::SetTrue)
            .help("Only print errors on standard error"),
        Arg::new("http-addr")
            .long("http-addr")
            .value_name("URL")
            .help("Consul agent address [env: CONSUL_HTTP_ADDR] [default: http://127.0.0.1:8500]")
            .help_heading("Consul"),
        Arg::new("token")
            .long("token")
            .value_name("TOKEN")
            .help("Consul ACL token; prefer --token-file, argv is visible to all [env: CONSUL_HTTP_TOKEN]")
            .help_heading("Consul"),
        Arg::new("token-file")
            .long("token-file")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("File whose first line is the Consul ACL token [env: CONSUL_HTTP_TOKEN_FILE]")
            .help_heading("Consul"),
        Arg::new("datacenter")
            .long("datacenter")
            .value_name("DC")
            .help("Ask about datacenter DC (?dc=)")
            .help_heading("Consul"),
        Arg::new("timeout")
            .long("timeout")
            .value_name("SECONDS")
            .value_parser(clap::value_parser!(u64).range(1..=3600))
            .help("Give up on a Consul request after SECONDS (connection included) [default: 10]")
            .help_heading("Consul"),
        Arg::new("stale")
            .long("stale")
            .action(ArgAction::SetTrue)
            .help("Let any server answer reads, even without a leader")
            .help_heading("Consul"),
    ]
}

/// Only the host's options: what can be known of a plugin's command line before the plugin
/// (whose manifest declares the rest) is loaded.
pub fn host_only_command() -> Command {
    Command::new("carbonio-mesh").args(host_args())
}

/// Long and short option names a plugin may not declare: every host option, plus clap's
/// `--help`/`-h` and `--version`/`-V`.
pub fn reserved_names() -> (Vec<String>, Vec<char>) {
    let args = host_args();
    let mut long: Vec<String> = args
        .iter()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    long.extend(["help".to_owned(), "version".to_owned()]);
    let mut short: Vec<char> = args.iter().filter_map(Arg::get_short).collect();
    short.extend(['h', 'V']);
    (long, short)
}

/// The host options that decide where plugins are found (`--root`, `--plugin-dir`), read from a
/// plugin's raw arguments before the plugin is loaded: its manifest, which says how to parse the
/// rest, is not known yet. Once the whole line is parsed, [`check_found_early`] makes sure
/// clap read the same values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarlyOptions {
    pub root: Option<PathBuf>,
    pub plugin_dir: Option<PathBuf>,
}

/// Scans `args` (everything after the plugin name) for `--root`/`--plugin-dir`, as `--opt VALUE`
/// or `--opt=VALUE`, stopping at `--`. A word starting with `--` is never an option's value
/// (clap takes no hyphen values here), so any `--root` seen is the host's.
pub fn early_options(args: &[OsString]) -> EarlyOptions {
    let mut found = EarlyOptions::default();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(text) = word.to_str() else { continue };
        if text == "--" {
            break;
        }
        for (name, slot) in [
            ("--root", &mut found.root),
            ("--plugin-dir", &mut found.plugin_dir),
        ] {
            if text == name {
                if let Some(value) = words.next() {
                    *slot = Some(PathBuf::from(value));
                }
            } else if let Some(value) = text.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                *slot = Some(PathBuf::from(value));
            }
        }
    }
    found
}

/// The `--format` given last in `args` (`--format json` or `--format=json`, before any `--`),
/// read from the words themselves: when clap refuses a command line there are no matches to
/// read it from, and a script that asked for JSON must still get a document.
pub fn format_in(args: &[OsString]) -> Option<OutputFormat> {
    let mut found = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(text) = word.to_str() else { continue };
        if text == "--" {
            break;
        }
        let value = if text == "--format" {
            words.next().and_then(|v| v.to_str())
        } else {
            text.strip_prefix("--format=")
        };
        match value {
            Some("json") => found = Some(OutputFormat::Json),
            Some("human") => found = Some(OutputFormat::Human),
            // A bad value is the usage error itself; it asks for no format.
            _ => {}
        }
    }
    found
}

impl EarlyOptions {
    /// These, falling back to the values given before the plugin name.
    pub fn or(self, before: &Globals) -> EarlyOptions {
        EarlyOptions {
            root: self.root.or_else(|| before.root.clone()),
            plugin_dir: self.plugin_dir.or_else(|| before.plugin_dir.clone()),
        }
    }
}

/// After the full parse: the plugin was found with the `--root`/`--plugin-dir` read early; if
/// clap read them differently, the run would mix two roots, so it stops.
pub fn check_found_early(early: &EarlyOptions, globals: &Globals) -> Result<(), String> {
    for (name, early, parsed) in [
        ("--root", &early.root, &globals.root),
        ("--plugin-dir", &early.plugin_dir, &globals.plugin_dir),
    ] {
        if early != parsed {
            return Err(format!(
                "{name} could not be read unambiguously from the command line"
            ));
        }
    }
    Ok(())
}

/// A built-in command, where `--help`/`-h` work as everywhere: the top level's `--help` is ours
/// (it lists the plugins found), and clap carries that choice down to every subcommand.
fn built_in(name: &'static str, about: &'static str) -> Command {
    Command::new(name).about(about).arg(
        Arg::new("help")
            .long("help")
            .short('h')
            .action(ArgAction::Help)
            .help("Print help"),
    )
}

/// `carbonio-mesh` with its own options, the built-in `plugins` command, and any other word
/// accepted as a plugin name. `--help` is ours so that it can list the plugins found.
pub fn base_command() -> Command {
    Command::new("carbonio-mesh")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .allow_external_subcommands(true)
        .external_subcommand_value_parser(clap::value_parser!(OsString))
        .args(host_args().into_iter().map(|arg| arg.global(true)))
        .arg(
            Arg::new("help")
                .long("help")
                .short('h')
                .action(ArgAction::SetTrue)
                .help("Print help"),
        )
        .subcommand(
            built_in("plugins", "List and check the plugins this host finds")
                .subcommand_required(true)
                .subcommand(
                    built_in("list", "Every plugin found, its version, origin and status"),
                )
                                .subcommand(
                    built_in("check", "Exit 4 when any plugin is refused, naming each refusal and its fix"),
                ),
        )
        .subcommand(
            built_in("generate", "Write man pages or a shell completion for the whole command line, plugins included")
                .subcommand_required(true)
                .subcommand(
                    built_in("man", "Write carbonio-mesh.1 and one page per command into DIR")
                        .arg(
                            Arg::new("dir")
                                .value_name("DIR")
                                .required(true)
                                .value_parser(clap::value_parser!(PathBuf)),
                        ),
                )
                .subcommand(
                    built_in("completion", "Print the completion script for SHELL")
                        .arg(
                            Arg::new("shell")
                                .value_name("SHELL")
                                .required(true)
                                .value_parser(["bash", "zsh", "fish"]),
                        ),
                ),
        )
}

/// The top-level help, with one line for each plugin found: `(name, description)`.
pub fn full_help(plugins: &[(String, String)]) -> String {
    let mut command = base_command();
    for (name, about) in plugins {
        command = command.subcommand(Command::new(name.clone()).about(about.clone()));
    }
    command.render_help().to_string()
}

/// Reads the host's options from any level of the parsed command line.
pub fn globals_from(matches: &ArgMatches) -> Globals {
    Globals {
        plugin_dir: matches.get_one::<PathBuf>("plugin-dir").cloned(),
        root: matches.get_one::<PathBuf>("root").cloned(),
        verbose: matches.get_count("verbose"),
        quiet: matches.get_flag("quiet"),
        format: match matches.get_one::<String>("format").map(String::as_str) {
            Some("json") => OutputFormat::Json,
            _ => OutputFormat::Human,
        },
        // Not defined at the levels of a read-only command.
        dry_run: matches
            .try_get_one::<bool>("dry-run")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false),
        yes: matches
            .try_get_one::<bool>("yes")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false),
        consul: ConsulFlags {
            http_addr: matches.get_one::<String>("http-addr").cloned(),
            token: matches.get_one::<String>("token").cloned(),
            token_file: matches.get_one::<PathBuf>("token-file").cloned(),
            datacenter: matches.get_one::<String>("datacenter").cloned(),
            stale: matches.get_flag("stale"),
            timeout: matches
                .get_one::<u64>("timeout")
                .map(|s| std::time::Duration::from_secs(*s)),
        },
    }
}

impl Globals {
    /// The options as given at every level of a plugin's command line, in order: the values
    /// before the plugin name (`self`), then the plugin's level, each intermediate one, the leaf.
    pub fn resolve<'m>(self, levels: impl IntoIterator<Item = &'m ArgMatches>) -> Self {
        levels.into_iter().fold(self, Globals::merge)
    }

    /// Options given at a later level add to (and override) those given before it.
    pub fn merge(mut self, later: &ArgMatches) -> Self {
        let given =
            |id: &str| later.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let after = globals_from(later);
        if given("format") {
            self.format = after.format;
        }
        if given("root") {
            self.root = after.root;
        }
        if given("plugin-dir") {
            self.plugin_dir = after.plugin_dir;
        }
        self.verbose = self.verbose.saturating_add(after.verbose);
        self.quiet |= after.quiet;
        self.dry_run |= after.dry_run;
        self.yes |= after.yes;
        for (id, value, later) in [
            (
                "http-addr",
                &mut self.consul.http_addr,
                after.consul.http_addr,
            ),
            ("token", &mut self.consul.token, after.consul.token),
            (
                "datacenter",
                &mut self.consul.datacenter,
                after.consul.datacenter,
            ),
        ] {
            if given(id) {
                *value = later;
            }
        }
        if given("token-file") {
            self.consul.token_file = after.consul.token_file;
        }
        if given("timeout") {
            self.consul.timeout = after.consul.timeout;
        }
        self.consul.stale |= after.consul.stale;
        self
    }
}

/// Counts `-v`/`--verbose`/`-q` in a plugin's raw arguments, so that logging is set up before
/// the plugin (whose manifest defines how to parse the rest) is loaded.
pub fn verbosity_in(args: &[OsString]) -> (u8, bool) {
    let (mut verbose, mut quiet) = (0u8, false);
    for arg in args.iter().filter_map(|a| a.to_str()) {
        if arg == "--" {
            break;
        }
        match arg {
            "--verbose" => verbose = verbose.saturating_add(1),
            "--quiet" => quiet = true,
            short if short.starts_with('-') && !short.starts_with("--") && short.len() > 1 => {
                let letters = &short[1..];
                if letters.bytes().all(|b| b == b'v') {
                    verbose = verbose.saturating_add(letters.len() as u8);
                } else if letters == "q" {
                    quiet = true;
                }
            }
            _ => {}
        }
    }
    (verbose, quiet)
}

/// Checks a value against the kind its plugin declared (see `ArgSpec::value_kind`), so a bad one
/// is a usage error naming the option and what it accepts before the plugin runs. The plugin
/// still receives the text, as every older plugin does, and parses it once.
#[derive(Clone)]
struct KindParser(ValueKind);

impl clap::builder::TypedValueParser for KindParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = value.to_string_lossy();
        self.0
            .check(&text)
            .map(|()| text.clone().into_owned())
            .map_err(|why| {
                let name = arg.map_or_else(|| "...".to_owned(), ToString::to_string);
                // Formatted against the command, like clap's own errors: usage line and `--help`.
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("invalid value '{text}' for '{name}': {why}"),
                )
                .format(&mut cmd.clone())
            })
    }
}

fn arg_from(spec: &ArgSpec) -> Arg {
    let mut arg = Arg::new(spec.name.clone()).help(spec.help.clone());
    match spec.kind {
        ArgKind::Flag => arg = arg.long(spec.name.clone()).action(ArgAction::SetTrue),
        ArgKind::Option | ArgKind::Positional => {
            if spec.kind == ArgKind::Option {
                arg = arg.long(spec.name.clone());
            }
            arg = arg.action(if spec.multiple {
                ArgAction::Append
            } else {
                ArgAction::Set
            });
            if spec.kind == ArgKind::Positional && spec.multiple {
                arg = arg.num_args(1..);
            }
            if let Some(value_name) = &spec.value_name {
                arg = arg.value_name(value_name.clone());
            }
            if let Some(default) = &spec.default {
                arg = arg.default_value(default.clone());
            }
            if !spec.possible_values.is_empty() {
                arg = arg.value_parser(PossibleValuesParser::new(spec.possible_values.clone()));
            } else if let Some(kind) = spec.value_kind {
                arg = arg.value_parser(KindParser(kind));
            }
            arg = arg.required(spec.required);
        }
    }
    if let Some(short) = spec.short {
        arg = arg.short(short);
    }
    arg
}

/// A command from its spec; the host's options are added at every level unless they come from
/// a parent (the whole tree `generate` builds declares them once, as globals).
/// The "Examples" text of `--help` (and the man page's EXAMPLES section).
fn examples_text(spec: &CommandSpec) -> Option<String> {
    if spec.examples.is_empty() {
        return None;
    }
    let mut text = String::from("Examples:\n");
    for example in &spec.examples {
        text.push_str(&format!("  {}\n      {}\n", example.command, example.about));
    }
    Some(text.trim_end().to_owned())
}

/// The host options a command's help lists: `--dry-run` and `--yes` only where something may
/// change (a read-only command still parses them when given before its name).
fn host_args_for(spec: &CommandSpec) -> Vec<Arg> {
    let changes = spec.may_change();
    host_args()
        .into_iter()
        .filter(|arg| changes || !matches!(arg.get_id().as_str(), "dry-run" | "yes"))
        .collect()
}

fn command_from(spec: &CommandSpec, with_globals: bool) -> Command {
    let mut command = Command::new(spec.name.clone()).about(spec.about.clone());
    if let Some(long_about) = &spec.long_about {
        command = command.long_about(long_about.clone());
    }
    if let Some(examples) = examples_text(spec) {
        command = command.after_help(examples);
    }
    command = command.args(spec.args.iter().map(arg_from));
    if !spec.subcommands.is_empty() {
        command = command.subcommand_required(spec.args.is_empty());
        command = command.subcommands(
            spec.subcommands
                .iter()
                .map(|s| command_from(s, with_globals)),
        );
    }
    if with_globals {
        command = command.args(host_args_for(spec));
    }
    command
}

/// The host options a built-in command (`["generate", "man"]`) takes: all but `--yes`, and
/// `--dry-run` only where it would write something.
pub(crate) fn built_in_host_args(path: &[&str]) -> Vec<Arg> {
    let writes = path == ["generate", "man"];
    host_args()
        .into_iter()
        .filter(|a| a.get_id() != "yes" && (writes || a.get_id() != "dry-run"))
        .collect()
}

/// Gives every leaf of a built-in command its host options.
fn with_built_in_host_args(command: Command, path: &mut Vec<String>) -> Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    if names.is_empty() {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        return command.args(built_in_host_args(&words));
    }
    names.into_iter().fold(command, |command, name| {
        path.push(name.clone());
        let command = command.mut_subcommand(&name, |sub| with_built_in_host_args(sub, path));
        path.pop();
        command
    })
}

/// The whole command line, plugins included, each command with the host options it takes
/// (`--dry-run` and `--yes` only where something may change): what the man pages describe.
pub fn full_command(plugins: &[CommandSpec]) -> Command {
    let mut command = base_command()
        .allow_external_subcommands(false)
        .mut_args(|arg| arg.global(false));
    command = with_built_in_host_args(command, &mut Vec::new());
    for spec in plugins {
        command = command.subcommand(command_from(spec, true));
    }
    command
}

/// A plugin's command tree: `carbonio-mesh <plugin> ...`.
pub fn plugin_command(spec: &CommandSpec) -> Command {
    command_from(spec, true)
        .bin_name(format!("carbonio-mesh {}", spec.name))
        .disable_help_subcommand(true)
}

/// The request for the command the user chose, and the matches at each level from the plugin's
/// down to the chosen command's (where the host's options may also have been given).
pub fn request_from<'m>(
    spec: &CommandSpec,
    matches: &'m ArgMatches,
) -> (Request, Vec<&'m ArgMatches>) {
    let mut request = Request::default();
    let (mut spec, mut matches) = (spec, matches);
    let mut levels = vec![matches];
    loop {
        for arg in &spec.args {
            let value = match arg.kind {
                ArgKind::Flag => Some(ArgValue::Flag(matches.get_flag(&arg.name))),
                ArgKind::Option | ArgKind::Positional => {
                    let values: Option<Vec<String>> = matches
                        .get_many::<String>(&arg.name)
                        .map(|v| v.cloned().collect());
                    match values {
                        Some(values) if arg.multiple => Some(ArgValue::Many(values)),
                        Some(mut values) => values.pop().map(ArgValue::One),
                        None => None,
                    }
                }
            };
            if let Some(value) = value {
                request.args.insert(arg.name.clone(), value);
            }
        }
        let Some((name, sub_matches)) = matches.subcommand() else {
            break;
        };
        let Some(sub_spec) = spec.subcommands.iter().find(|s| s.name == name) else {
            break;
        };
        request.command.push(name.to_owned());
        spec = sub_spec;
        matches = sub_matches;
        levels.push(matches);
    }
    (request, levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn catalog() -> CommandSpec {
        CommandSpec::new("catalog", "Catalog")
            .subcommand(
                CommandSpec::new("nodes", "Nodes")
                    .arg(ArgSpec::flag("detailed", "More"))
                    .arg(
                        ArgSpec::option("service", "Only nodes with SERVICE").value_name("SERVICE"),
                    ),
            )
            .subcommand(
                CommandSpec::new("services", "Services")
                    .arg(ArgSpec::option("id", "IDs").multiple()),
            )
    }

    fn parse(args: &[&str]) -> Result<ArgMatches, clap::Error> {
        plugin_command(&catalog()).try_get_matches_from(args)
    }

    #[test]
    fn a_request_carries_the_subcommand_path_and_values() {
        let matches = parse(&[
            "catalog",
            "nodes",
            "--detailed",
            "--service",
            "web",
            "--format",
            "json",
        ])
        .unwrap();
        let (request, levels) = request_from(&catalog(), &matches);
        assert_eq!(request.command, ["nodes"]);
        assert!(request.flag("detailed"));
        assert_eq!(request.value("service"), Some("web"));
        assert_eq!(
            Globals::default().resolve(levels).format,
            OutputFormat::Json
        );
        let matches = parse(&["catalog", "services", "--id", "a", "--id", "b"]).unwrap();
        assert_eq!(
            request_from(&catalog(), &matches).0.values("id"),
            ["a", "b"]
        );
    }

    #[test]
    fn bad_usage_is_a_clap_error_with_exit_2() {
        let error = parse(&["catalog", "nodes", "--nope"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let error = parse(&["catalog"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn a_value_kind_refuses_a_bad_value_naming_the_option_and_what_it_takes() {
        let spec = CommandSpec::new("secret", "Secret").arg(
            ArgSpec::option("parallel", "How many")
                .value_name("N")
                .default_value("32")
                .unsigned(1, 256),
        );
        let parse = |args: &[&str]| plugin_command(&spec).try_get_matches_from(args);
        for bad in ["abc", "0", "257", "-1"] {
            let error = parse(&["secret", &format!("--parallel={bad}")]).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad}");
            let text = error.render().to_string();
            assert!(
                text.starts_with(&format!(
                    "error: invalid value '{bad}' for '--parallel <N>': expected a whole number from 1 to 256\n"
                )),
                "{text}"
            );
            assert!(text.contains("Usage: carbonio-mesh secret"), "{text}");
        }
        let matches = parse(&["secret", "--parallel", "16"]).unwrap();
        assert_eq!(
            request_from(&spec, &matches).0.value("parallel"),
            Some("16")
        );
        // The default passes through the same check.
        let matches = parse(&["secret"]).unwrap();
        assert_eq!(
            request_from(&spec, &matches).0.value("parallel"),
            Some("32")
        );
    }

    #[test]
    fn verbosity_is_found_in_raw_arguments() {
        let args: Vec<OsString> = ["nodes", "-vv", "--verbose", "--", "-v"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(verbosity_in(&args), (3, false));
        let args: Vec<OsString> = ["-q"].iter().map(OsString::from).collect();
        assert_eq!(verbosity_in(&args), (0, true));
    }

    #[test]
    fn host_options_count_at_every_level() {
        let matches = parse(&[
            "catalog",
            "--dry-run",
            "--root",
            "/r",
            "nodes",
            "--yes",
            "--datacenter",
            "dc2",
        ])
        .unwrap();
        let (_, levels) = request_from(&catalog(), &matches);
        assert_eq!(levels.len(), 2);
        let globals = Globals::default().resolve(levels);
        assert!(globals.dry_run && globals.yes);
        assert_eq!(globals.root.as_deref(), Some(Path::new("/r")));
        assert_eq!(globals.consul.datacenter.as_deref(), Some("dc2"));
    }

    #[test]
    fn root_and_plugin_dir_are_found_before_parsing() {
        let args: Vec<OsString> = [
            "nodes",
            "--root=/a",
            "--plugin-dir",
            "/p",
            "--root",
            "/b",
            "--",
            "--root",
            "/c",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let early = early_options(&args);
        assert_eq!(early.root.as_deref(), Some(Path::new("/b")));
        assert_eq!(early.plugin_dir.as_deref(), Some(Path::new("/p")));
        let before = Globals {
            root: Some(PathBuf::from("/before")),
            ..Globals::default()
        };
        assert_eq!(
            early_options(&[]).or(&before).root.as_deref(),
            Some(Path::new("/before"))
        );
        let mismatch = Globals {
            root: Some(PathBuf::from("/elsewhere")),
            plugin_dir: Some(PathBuf::from("/p")),
            ..Globals::default()
        };
        assert!(check_found_early(&early, &mismatch).is_err());
    }

    #[test]
    fn the_format_is_read_from_the_words_when_clap_refuses_them() {
        let words = |list: &[&str]| -> Vec<OsString> { list.iter().map(OsString::from).collect() };
        assert_eq!(format_in(&words(&["members", "--nope"])), None);
        assert_eq!(
            format_in(&words(&["--format", "json", "members", "--nope"])),
            Some(OutputFormat::Json)
        );
        assert_eq!(
            format_in(&words(&["members", "--format=json", "--status"])),
            Some(OutputFormat::Json)
        );
        // The last one wins, as in clap's reading; nothing after `--` is an option.
        assert_eq!(
            format_in(&words(&["--format=json", "members", "--format", "human"])),
            Some(OutputFormat::Human)
        );
        assert_eq!(format_in(&words(&["x", "--", "--format", "json"])), None);
        assert_eq!(format_in(&words(&["--format", "yaml"])), None);
    }

    #[test]
    fn later_globals_override_earlier_ones() {
        let base = base_command()
            .try_get_matches_from(["carbonio-mesh", "--format", "json", "-v", "x"])
            .unwrap();
        let leaf = parse(&["catalog", "nodes", "--format", "human", "--dry-run"]).unwrap();
        let (_, levels) = request_from(&catalog(), &leaf);
        let merged = globals_from(&base).resolve(levels);
        assert_eq!(
            (merged.format, merged.verbose, merged.dry_run),
            (OutputFormat::Human, 1, true)
        );
    }
}
