//! Diagnostics through tracing, on standard error: warnings by default, `-v` info, `-vv` debug,
//! `-vvv` trace, `-q` errors only; `RUST_LOG` overrides all of it. Colour only on a terminal and
//! never when `NO_COLOR` is set.
//!
//! Without `-v` (and without `RUST_LOG`) a warning is one of the tool's messages, not a log line:
//! `carbonio-mesh: warning: MESSAGE`, the same style as `carbonio-mesh: error: ...`.
//!
//! Log lines quote what came from elsewhere (a node name, a path, a program's words): every
//! field is put on one line by `untrusted::one_line`, so that a carriage return or an escape
//! sequence in it cannot forge another line or rewrite the terminal.

use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
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
    let from_env = EnvFilter::try_from_default_env().ok();
    let plain = verbose == 0 && from_env.is_none();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .fmt_fields(one_line_fields())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_allowed(std::io::stderr().is_terminal()))
        .without_time()
        .with_target(verbose >= 2);
    let _ = if plain {
        builder.event_format(Plain).try_init()
    } else {
        builder.try_init()
    };
}

/// Every field of a log line (the message, then `name=value`), each on one line with its
/// control characters shown, not obeyed.
fn one_line_fields() -> impl for<'writer> FormatFields<'writer> + Send + Sync + 'static {
    debug_fn(
        |writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            let text = format!("{value:?}");
            let text = crate::terminal::untrusted::one_line(&text);
            if field.name() == "message" {
                write!(writer, "{text}")
            } else {
                write!(writer, "{}={text}", field.name())
            }
        },
    )
    .delimited(" ")
}

/// `carbonio-mesh: warning: MESSAGE` (or `error:`): the message alone, without the fields a log
/// line carries (`plugin="secret"`), which `-v` shows.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = Message(String::new());
        event.record(&mut message);
        writeln!(
            writer,
            "carbonio-mesh: {}: {}",
            word_for(*event.metadata().level()),
            crate::terminal::untrusted::one_line(&message.0)
        )
    }
}

fn word_for(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_reads_like_the_tools_other_messages() {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .event_format(Plain)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "plugin", plugin = "secret", "3 Mesh servers: {}", "odd");
        });
        assert_eq!(
            String::from_utf8(out.lock().unwrap().clone()).unwrap(),
            "carbonio-mesh: warning: 3 Mesh servers: odd\n"
        );
    }

    /// Issue 24, item 6: a `-vv` line carried a raw carriage return from what it quoted.
    #[test]
    fn a_log_line_stays_one_line_whatever_it_quotes() {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(one_line_fields())
            .with_writer(move || Sink(sink.clone()))
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(plugin = %"x\ry", "running: echo {}", "forged\rERROR\nnext\u{1b}[2K");
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            text.contains("running: echo forged\\rERROR\\nnext\\x1b[2K plugin=x\\ry"),
            "{text:?}"
        );
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
