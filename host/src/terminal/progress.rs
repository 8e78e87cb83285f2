//! What a long command is doing now, for the person watching: workflow steps as they start and
//! end, what a command waits for, Consul retries. Shown on standard error only when it is a
//! terminal and `-q` was not given, so scripts' output stays what it was; otherwise logged at
//! info level (`-v` shows it).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether progress lines go to standard error. One process, one standard error: set once by
/// `run` before the plugin runs, read wherever progress happens (the Consul client included).
static SHOWN: AtomicBool = AtomicBool::new(false);

/// Shows progress from now on when standard error is a terminal and the user did not ask for
/// quiet.
pub fn show_when(stderr_is_terminal: bool, quiet: bool) {
    SHOWN.store(stderr_is_terminal && !quiet, Ordering::Relaxed);
}

/// One progress line (a single line: control characters are shown, not obeyed).
pub fn say(message: &str) {
    let line = crate::terminal::untrusted::one_line(message);
    if SHOWN.load(Ordering::Relaxed) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "carbonio-mesh: {line}");
    } else {
        tracing::info!("{line}");
    }
}
