//! Diagnostics through tracing, on standard error: warnings by default, `-v` info, `-vv` debug,
//! `-vvv` trace, `-q` errors only; `RUST_LOG` overrides all of it. Colour only on a terminal and
//! never when `NO_COLOR` is set.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Whether colour may be used on `stream`.
pub fn color_allowed(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_allowed(std::io::stderr().is_terminal()))
        .without_time()
        .with_target(verbose >= 2)
        .try_init();
}
