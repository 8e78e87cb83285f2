//! Fixture plugin `ok`: a well-behaved plugin whose commands drive each host service, so the
//! end-to-end tests can observe the host's behaviour (dry-run, backups, redaction, exit codes).

use carbonio_mesh_plugin_api::services::Exec;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, ErrorKind, Host, Manifest, OutputFormat, Plugin,
    PluginError, Request, Response,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("ok", "0.1.0", "Fixture plugin that behaves").command(
            CommandSpec::new("ok", "Fixture plugin that behaves")
                .subcommand(
                    CommandSpec::new("echo", "Print TEXT")
                        .arg(ArgSpec::option("text", "What to print").default_value("hello")),
                )
                .subcommand(
                    CommandSpec::new("exec", "Run ARGV through the host")
                        .arg(
                            ArgSpec::positional("argv", "Program and arguments")
                                .multiple()
                                .required(),
                        )
                        .arg(ArgSpec::option("user", "Run as USER"))
                        .arg(ArgSpec::option("stdin", "Feed this to the program"))
                        .arg(ArgSpec::option(
                            "secret",
                            "Append this as a secret argument",
                        ))
                        .arg(ArgSpec::option("timeout-ms", "Time limit"))
                        .arg(ArgSpec::flag("mutating", "The program changes something")),
                )
                .subcommand(
                    CommandSpec::new("write", "Write CONTENT to PATH (mode 0600)")
                        .arg(ArgSpec::option("path", "System path").required())
                        .arg(ArgSpec::option("content", "Text").required()),
                )
                .subcommand(
                    CommandSpec::new("remove", "Remove PATH")
                        .arg(ArgSpec::option("path", "System path").required()),
                )
                .subcommand(
                    CommandSpec::new("read", "Print the text of PATH")
                        .arg(ArgSpec::option("path", "System path").required()),
                )
                .subcommand(
                    CommandSpec::new("stat", "Print what PATH is")
                        .arg(ArgSpec::option("path", "System path").required()),
                )
                .subcommand(
                    CommandSpec::new("fail", "Fail with KIND")
                        .arg(
                            ArgSpec::option("kind", "Error kind")
                                .possible_values(&["usage", "config", "operation"])
                                .required(),
                        )
                        .arg(
                            ArgSpec::option("message", "Error message").default_value("it failed"),
                        ),
                )
                .subcommand(
                    CommandSpec::new("log", "Log MESSAGE at info level")
                        .arg(ArgSpec::option("message", "Text").required())
                        .arg(ArgSpec::flag("warn", "At warn level instead")),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "echo" => {
                let text = request.value("text").unwrap_or_default();
                match request.format {
                    OutputFormat::Json => Response::json(&serde_json::json!({ "text": text })),
                    OutputFormat::Human => Ok(Response::text(format!("{text}\n"))),
                }
            }
            "exec" => {
                let mut exec = Exec::new(request.values("argv"));
                if let Some(user) = request.value("user") {
                    exec = exec.user(user);
                }
                if let Some(stdin) = request.value("stdin") {
                    exec = exec.stdin(stdin);
                }
                if let Some(secret) = request.value("secret") {
                    exec = exec.secret_arg(secret);
                }
                if let Some(ms) = request.value("timeout-ms") {
                    exec = exec.timeout_ms(
                        ms.parse()
                            .map_err(|_| PluginError::usage("--timeout-ms takes milliseconds"))?,
                    );
                }
                if request.flag("mutating") {
                    exec = exec.mutating();
                }
                let output = host.exec(&exec)?;
                let status = output
                    .status
                    .map_or_else(|| "signal".to_owned(), |s| s.to_string());
                match request.format {
                    // The program's output inside a JSON answer: the host must redact it there
                    // too (raw and JSON-escaped).
                    OutputFormat::Json => Response::json(&serde_json::json!({
                        "stdout": output.stdout,
                        "status": status,
                    })),
                    OutputFormat::Human => Ok(Response::text(format!(
                        "{}status {status}\n",
                        output.stdout
                    ))),
                }
            }
            "write" => {
                let path = request.value("path").unwrap_or_default();
                let changed =
                    host.write_file(path, request.value("content").unwrap_or_default(), 0o600)?;
                Ok(Response::text(format!(
                    "wrote {path} backup={:?} dry_run={}\n",
                    changed.backup, changed.dry_run
                )))
            }
            "remove" => {
                let path = request.value("path").unwrap_or_default();
                let removed = host.remove(path)?;
                Ok(Response::text(format!(
                    "removed {path} existed={} backup={:?} dry_run={}\n",
                    removed.existed, removed.backup, removed.dry_run
                )))
            }
            "read" => {
                let path = request.value("path").unwrap_or_default();
                Ok(Response::text(host.read_file(path)?))
            }
            "stat" => {
                let path = request.value("path").unwrap_or_default();
                let stat = host.stat(path)?;
                Ok(Response::text(format!(
                    "{path} exists={} type={:?} size={}\n",
                    stat.exists, stat.file_type, stat.size
                )))
            }
            "fail" => {
                let kind = match request.value("kind") {
                    Some("usage") => ErrorKind::Usage,
                    Some("config") => ErrorKind::Config,
                    _ => ErrorKind::Operation,
                };
                Err(
                    PluginError::new(kind, request.value("message").unwrap_or_default())
                        .hint("the fixture's hint"),
                )
            }
            "log" => {
                let message = request.value("message").unwrap_or_default();
                if request.flag("warn") {
                    host.warn(message);
                } else {
                    host.info(message);
                }
                Ok(Response::text("logged\n"))
            }
            other => Err(PluginError::usage(format!("unknown command '{other}'"))),
        }
    }
}

export_plugin!(Fixture);
