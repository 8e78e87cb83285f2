//! `carbonio-mesh`: the host binary. It finds, checks and loads plugins, builds the command line
//! from their manifests, and serves their requests for side effects (see `services`).

mod cli;
mod completion;
mod config;
mod consul;
mod crash;
mod credentials;
mod destination;
mod discovery;
mod error;
mod inventory;
mod listeners;
mod loader;
mod logging;
mod manual;
mod paths;
mod probe;
mod progress;
mod redact;
mod run;
mod services;
mod spelling;
mod terminal;
mod trust;
mod untrusted;
mod workflows;

use std::io::Write;
use std::process::ExitCode;

/// An error message longer than this is cut (a command's whole output does not belong in it).
pub const MAX_MESSAGE_BYTES: usize = 4096;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A child started by `probe` to load one plugin for the inventory; never parsed by clap.
    if args.get(1).is_some_and(|arg| arg == probe::CHILD_ARG) {
        return probe::answer_in_child(&args[2..]);
    }
    let outcome = std::panic::catch_unwind(|| run::run(args));
    let Ok(result) = outcome else {
        // The panic message is already on standard error.
        eprintln!("carbonio-mesh: internal error (a bug in carbonio-mesh); nothing more was done");
        return ExitCode::from(error::exit::FAILURE);
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(run::Failure { error, format }) => {
            if format == carbonio_mesh_plugin_api::OutputFormat::Json {
                // Scripts read standard output: the failure is a document there too.
                error::print_document(&error, MAX_MESSAGE_BYTES);
            }
            let mut stderr = std::io::stderr().lock();
            // Messages quote Consul, files and children: cut them short and show, not obey,
            // control characters.
            let message = error.to_string();
            let message = untrusted::excerpt(&message, MAX_MESSAGE_BYTES);
            let _ = writeln!(
                stderr,
                "carbonio-mesh: error: {}",
                untrusted::escape_controls(&message)
            );
            if let Some(hint) = error.hint() {
                let hint = untrusted::excerpt(&hint, MAX_MESSAGE_BYTES);
                let _ = writeln!(stderr, "  fix: {}", untrusted::escape_controls(&hint));
            }
            if let Some(details) = error.details() {
                if tracing::enabled!(tracing::Level::INFO) {
                    let _ = writeln!(stderr, "{details}");
                } else {
                    let _ = writeln!(stderr, "  (run with -v for the full report)");
                }
            }
            ExitCode::from(error.exit_code())
        }
    }
}
