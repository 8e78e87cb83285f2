//! One invocation of `carbonio-mesh`: parse, then either print help, run a built-in command, or
//! load exactly one plugin and run its command.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use carbonio_mesh_plugin_api::{OutputFormat, Response, Warning};

use crate::cli::command::{self as cli, Globals};
use crate::cli::error::HostError;
use crate::cli::{completion, logging, manual, spelling};
use crate::config::paths::SystemPaths;
use crate::config::settings as config;
use crate::consul::client::{ConsulClient, ConsulSettings};
use crate::consul::credentials::MeshFiles;
use crate::exit;
use crate::plugins::discovery::{self, SearchDir};
use crate::plugins::inventory;
use crate::plugins::open::{self, OpenedPlugin};
use crate::plugins::trust::TrustPolicy;
use crate::services::HostContext;
use crate::terminal::{progress, untrusted};

/// Prints a clap error or help text and gives its exit code (0 for help, 2 for usage errors).
/// Help and version are clap's; a usage error is said the way every other error is: on
/// standard error, and with `format` JSON (read from the words clap refused) also as the error
/// document on standard output.
fn clap_exit(error: clap::Error, format: Option<OutputFormat>) -> u8 {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
        }
        _ => {
            let rendered = error.render().to_string();
            if format == Some(OutputFormat::Json) {
                let failure = crate::cli::error::clap_usage(&rendered);
                crate::cli::error::print_document(&failure, crate::cli::error::MAX_MESSAGE_BYTES);
            }
            eprint!("{}", crate::cli::error::usage_message(&rendered));
        }
    }
    error.exit_code() as u8
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`carbonio-mesh members | head -1`) is not an error worth reporting.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// A response's standard output (`stdout`, then its JSON document and a newline), secrets
/// redacted but those in `shown`, controls escaped. A document alone (every `--format json`
/// answer) is checked where it lies: a 2.4 MB member list is not copied when nothing in it
/// needs changing.
fn print_stdout(context: &HostContext, response: &Response, shown: &[&str], colour: bool) {
    let (text, end) = match &response.stdout_json {
        Some(document) if response.stdout.is_empty() => (Cow::Borrowed(document.as_str()), "\n"),
        _ => (response.stdout_text(), ""),
    };
    let text = context.redact_except(&text, shown);
    // A plugin colours only when the request said the terminal takes colour.
    let text = if colour {
        untrusted::escape_controls_keeping_colours(&text)
    } else {
        untrusted::escape_controls(&text)
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(end.as_bytes()))
        .and_then(|()| stdout.flush());
}

/// A run that failed, and the output format the user asked for (an error is a JSON document on
/// standard output with `--format json`, see `main`).
#[derive(Debug)]
pub struct Failure {
    /// Boxed: it travels once, at the end of a run.
    pub error: Box<HostError>,
    pub format: OutputFormat,
}

pub fn run(args: Vec<OsString>) -> Result<u8, Failure> {
    let format = Cell::new(OutputFormat::Human);
    dispatch(args, &format).map_err(|error| Failure {
        error: Box::new(error),
        format: format.get(),
    })
}

/// `format` is set to the output format once the whole command line is understood.
fn dispatch(args: Vec<OsString>, format: &Cell<OutputFormat>) -> Result<u8, HostError> {
    // Consul's `-http-addr=URL` before the plugin name; the plugin's words are left for later.
    let base = cli::base_command();
    let args: Vec<OsString> = args
        .split_first()
        .map(|(program, rest)| {
            std::iter::once(program.clone())
                .chain(spelling::rewrite(&base, rest))
                .collect()
        })
        .unwrap_or_default();
    let matches = match base.try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => return Ok(clap_exit(error, cli::format_in(&args))),
    };
    let globals = cli::globals_from(&matches);
    // Known this early only when given before the plugin name; the plugin's own level can
    // change it once its command line is parsed.
    format.set(globals.format);
    let external: Vec<OsString> = match matches.subcommand() {
        Some((_, sub)) => sub
            .get_many::<OsString>("")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // The host's options among the plugin's words, in clap's spelling: enough to find the
    // plugin and set up logging; the whole line is rewritten again once the plugin is known.
    let host_words = spelling::rewrite(&cli::host_only_command(), &external);
    let (more_verbose, quiet) = cli::verbosity_in(&host_words);
    logging::init(
        globals.verbose.saturating_add(more_verbose),
        globals.quiet || quiet,
    );
    progress::show_when(std::io::stderr().is_terminal(), globals.quiet || quiet);

    // Where plugins are looked for depends on `--root` and `--plugin-dir`, which may also come
    // after the plugin name: read them from there before anything is loaded.
    let early = cli::early_options(&host_words).or(&globals);
    for (name, value) in [("--root", &early.root), ("--plugin-dir", &early.plugin_dir)] {
        if value.as_ref().is_some_and(|v| v.as_os_str().is_empty()) {
            return Err(HostError::Usage {
                message: format!("{name} needs a directory, not an empty value"),
                hint: format!("give {name} DIR"),
            });
        }
    }
    let paths = SystemPaths::new(early.root.clone());
    let plugin_dir = early.plugin_dir.as_deref().map(absolute).transpose()?;
    let dirs = discovery::search_dirs(&paths, plugin_dir.as_deref());
    let policy = TrustPolicy::for_current_user();

    match matches.subcommand() {
        _ if matches.get_flag("help") => {
            print(&top_help(&paths, &dirs, &policy));
            Ok(exit::OK)
        }
        // With --format json, a script that forgot the command gets the usage error document.
        None if globals.format == OutputFormat::Json => Err(HostError::Usage {
            message: "no command given".to_owned(),
            hint: format!(
                "name one: `carbonio-mesh --help` lists the commands and the plugins found in {}",
                discovery::searched(&dirs)
            ),
        }),
        None => {
            eprint!("{}", top_help(&paths, &dirs, &policy));
            Ok(exit::USAGE)
        }
        Some(("plugins", sub)) => {
            let entries = inventory::inspect(&paths, &dirs, &policy);
            match sub.subcommand_name() {
                Some("check") => {
                    let (report, fine) = inventory::check(&entries, globals.format);
                    print(&report);
                    Ok(if fine { exit::OK } else { exit::PLUGIN })
                }
                _ => {
                    print(&inventory::list(&entries, globals.format));
                    Ok(exit::OK)
                }
            }
        }
        Some(("generate", sub)) => generate(sub, &paths, &dirs, &policy, globals.dry_run),
        // `help` alone is `--help`; `help COMMAND...` is `COMMAND... --help`, the options given
        // before `help` kept (they may say where the plugins are).
        Some(("help", _)) if external.is_empty() => {
            print(&top_help(&paths, &dirs, &policy));
            Ok(exit::OK)
        }
        Some(("help", _)) => {
            let name_at = args.len() - external.len() - 1;
            let mut again = args[..name_at].to_vec();
            again.extend(external);
            again.push("--help".into());
            dispatch(again, format)
        }
        Some((name, _)) => run_plugin(name, external, globals, &early, &dirs, &policy, format),
    }
}

/// `generate man DIR` / `generate completion SHELL`: from the same clap tree the commands are
/// parsed with, every plugin found included (a refused plugin is left out, with a warning).
fn generate(
    matches: &clap::ArgMatches,
    paths: &SystemPaths,
    dirs: &[SearchDir],
    policy: &TrustPolicy,
    dry_run: bool,
) -> Result<u8, HostError> {
    let mut specs = Vec::new();
    let mut exit_codes = Vec::new();
    for entry in inventory::inspect(paths, dirs, policy) {
        match entry.command {
            Some(spec) => {
                exit_codes.extend(
                    entry
                        .exit_codes
                        .into_iter()
                        .map(|c| (entry.name.clone(), c)),
                );
                specs.push(spec)
            }
            None if entry.status == "masked" => {}
            // A warning like any other: `-q` silences it.
            None => tracing::warn!("plugin {} left out: {}", entry.name, entry.status),
        }
    }
    let command = cli::full_command(&specs);
    match matches.subcommand() {
        Some(("man", sub)) => {
            let dir = sub.get_one::<std::path::PathBuf>("dir").expect("required");
            let pages = manual::generate_to(command, dir, dry_run, &exit_codes).map_err(|e| {
                HostError::Usage {
                    message: format!("cannot write man pages into {}: {e}", dir.display()),
                    hint: "give a writable directory".to_owned(),
                }
            })?;
            if dry_run {
                // The plan on standard error, as every command's dry run.
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "Dry run: nothing was changed. This command would:");
                for page in pages {
                    let page = untrusted::escape_controls(&page.display().to_string()).into_owned();
                    let _ = writeln!(stderr, "  - write {page}");
                }
            }
            Ok(exit::OK)
        }
        Some(("completion", sub)) => {
            let shell = sub
                .get_one::<String>("shell")
                .map_or("bash", String::as_str);
            print(completion::script(shell));
            Ok(exit::OK)
        }
        _ => unreachable!("clap requires a generate subcommand"),
    }
}

/// `--plugin-dir` as an absolute path (the trust check walks it from `/`).
fn absolute(dir: &std::path::Path) -> Result<std::path::PathBuf, HostError> {
    std::path::absolute(dir).map_err(|e| HostError::Usage {
        message: format!("--plugin-dir {}: {e}", dir.display()),
        hint: "give an existing directory".to_owned(),
    })
}

fn top_help(paths: &SystemPaths, dirs: &[SearchDir], policy: &TrustPolicy) -> String {
    let plugins: Vec<(String, String)> = inventory::inspect(paths, dirs, policy)
        .into_iter()
        .filter(|entry| entry.status != "masked")
        .map(|entry| {
            let about = match entry.description {
                Some(description) => description,
                None => "(refused: see `carbonio-mesh plugins check`)".to_owned(),
            };
            (entry.name, about)
        })
        .collect();
    let mut help = cli::full_help(&plugins);
    if plugins.is_empty() {
        help.push_str("\nNo plugins found in: ");
        help.push_str(&discovery::searched(dirs));
        help.push('\n');
    }
    help
}

fn run_plugin(
    name: &str,
    args: Vec<OsString>,
    globals: Globals,
    early: &cli::EarlyOptions,
    dirs: &[SearchDir],
    policy: &TrustPolicy,
    format: &Cell<OutputFormat>,
) -> Result<u8, HostError> {
    let unknown = || HostError::Usage {
        message: format!("'{name}' is not a carbonio-mesh command"),
        hint: format!(
            "`carbonio-mesh --help` lists the plugins found in {}",
            discovery::searched(dirs)
        ),
    };
    if !discovery::is_valid_name(name) {
        return Err(unknown());
    }
    let Some(OpenedPlugin {
        plugin,
        file: winner,
        crash,
    }) = open::open_plugin(name, dirs, policy)?
    else {
        return Err(unknown());
    };

    let command = cli::plugin_command(&plugin.manifest.command);
    let words = spelling::rewrite(&command, &args);
    let matches = match command
        .try_get_matches_from(std::iter::once(OsString::from(name)).chain(words.iter().cloned()))
    {
        Ok(matches) => matches,
        // The plugin's words override what was given before its name, as in a full parse.
        Err(error) => {
            return Ok(clap_exit(
                error,
                cli::format_in(&words).or(Some(globals.format)),
            ))
        }
    };
    let (mut request, levels) = cli::request_from(&plugin.manifest.command, &matches);
    // Every host option counts wherever it was given: before the plugin name, at the plugin's
    // level, at an intermediate command or at the leaf. Nothing below uses a value read earlier.
    let globals = globals.resolve(levels);
    format.set(globals.format);
    cli::check_found_early(early, &globals).map_err(|message| HostError::Usage {
        message,
        hint: "give --root and --plugin-dir once, as `--root DIR` or `--root=DIR`".to_owned(),
    })?;
    let paths = SystemPaths::new(globals.root.clone());
    let config = config::load(&paths, policy)?;

    request.format = globals.format;
    request.dry_run = globals.dry_run;
    request.assume_yes = globals.yes;
    request.quiet = globals.quiet;
    request.interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    request.color = logging::color_allowed(std::io::stdout().is_terminal());

    let mesh = MeshFiles::under(&paths);
    let settings =
        ConsulSettings::resolve(&globals.consul, Some(mesh))?.trusting(&config.service_user);
    let address_password = settings.userinfo_password();
    let consul = ConsulClient::new(settings);
    let context = HostContext::new(name, paths, config, globals.dry_run, consul)
        .assume_yes(globals.yes)
        .search_dirs(dirs, *policy)
        .running(plugin.manifest.clone(), &winner);
    // A password in CONSUL_HTTP_ADDR is a secret like any other, wherever an echo puts it.
    if let Some(password) = address_password {
        context.add_secret(&password);
    }
    let handle = context.handle();
    let outcome = crash.during(|| plugin.invoke(&handle, &request));
    let plan = context.take_plan();
    // With --format json a dry run that printed nothing still answers with one document.
    let plan_document = globals.dry_run
        && globals.format == OutputFormat::Json
        && outcome
            .as_ref()
            .is_ok_and(|r| r.stdout.is_empty() && r.stdout_json.is_none());
    if plan_document {
        let changes: Vec<String> = plan.iter().map(|c| context.redact(c)).collect();
        let document = serde_json::json!({ "dry_run": true, "changes": changes });
        print(&format!("{document:#}\n"));
    }
    if globals.dry_run && !plan.is_empty() {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "Dry run: nothing was changed. This command would:");
        for change in &plan {
            // Again at the end: a secret may have been learnt after the change was recorded.
            let change = context.redact(change);
            let _ = writeln!(stderr, "  - {}", untrusted::escape_controls(&change));
        }
    }
    match outcome {
        Ok(response) => {
            // Standard output is the command's product: only the secrets it shows on purpose
            // (`credentials token`) pass; standard error never shows one.
            let shown: Vec<&str> = response.reveal.iter().map(|s| s.expose()).collect();
            print_stdout(&context, &response, &shown, request.color);
            if !response.stderr.is_empty() {
                let stderr = context.redact(&response.stderr);
                eprint!("{}", untrusted::escape_controls(&stderr));
            }
            if !globals.quiet {
                warn(&context, &response);
            }
            Ok(response.exit_code)
        }
        Err(error) => {
            let error = carbonio_mesh_plugin_api::PluginError {
                message: context.redact(&error.message),
                hint: error.hint.map(|hint| context.redact(&hint)),
                ..error
            };
            Err(HostError::Plugin {
                plugin: name.to_owned(),
                error,
            })
        }
    }
}

/// The response's warnings on standard error, as `carbonio-mesh: warning: ...` and its fix.
fn warn(context: &HostContext, response: &Response) {
    let mut stderr = std::io::stderr().lock();
    for Warning { message, fix } in &response.warnings {
        let message = context.redact(message);
        let _ = writeln!(
            stderr,
            "carbonio-mesh: warning: {}",
            untrusted::one_line(&message)
        );
        if let Some(fix) = fix {
            let fix = context.redact(fix);
            let _ = writeln!(stderr, "  fix: {}", untrusted::one_line(&fix));
        }
    }
}
