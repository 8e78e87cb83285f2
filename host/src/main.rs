//! `carbonio-mesh`: the host binary. It finds, checks and loads plugins, builds the command line
//! from their manifests, and serves their requests for side effects (see `services`).

mod cli;
mod config;
mod consul;
mod exit;
mod listeners;
mod plugins;
mod services;
mod sock_diag;
mod terminal;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A child started by `probe` to load one plugin for the inventory; never parsed by clap.
    if args
        .get(1)
        .is_some_and(|arg| arg == plugins::probe::CHILD_ARG)
    {
        return plugins::probe::answer_in_child(&args[2..]);
    }
    // A shell's TAB (the completion scripts call it): never parsed by clap, never fails loudly.
    if args.get(1).is_some_and(|arg| arg == cli::completion::ENTRY) {
        return cli::completion::answer(&args[2..]);
    }
    let outcome = std::panic::catch_unwind(|| cli::run::run(args));
    let Ok(result) = outcome else {
        // The panic message is already on standard error.
        eprintln!("carbonio-mesh: internal error (a bug in carbonio-mesh); nothing more was done");
        return ExitCode::from(exit::FAILURE);
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(cli::run::Failure { error, format }) => {
            ExitCode::from(cli::error::report(&error, format))
        }
    }
}
