//! `log` and `progress`: a plugin's log lines and the progress lines of a long command.

use serde::{Deserialize, Serialize};

use super::{Empty, Service};

/// `log`: one line through the host's tracing subscriber (target `plugin::<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// How important.
    pub level: LogLevel,
    /// The line.
    pub message: String,
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Shown always, even with `-q`.
    Error,
    /// Shown by default.
    Warn,
    /// Shown with `-v`.
    Info,
    /// Shown with `-vv`.
    Debug,
    /// Shown with `-vvv`.
    Trace,
}

impl Service for Log {
    const NAME: &'static str = "log";
    type Answer = Empty;
}

/// `progress` (1.5): one line saying what a long command is doing now (a workflow step starting
/// or ending, what it waits for). The host shows it on standard error, as
/// `carbonio-mesh: MESSAGE`, only when standard error is a terminal and `-q` was not given; it is
/// logged at info level (`-v`) otherwise, so scripts' output stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The line.
    pub message: String,
}

impl Service for Progress {
    const NAME: &'static str = "progress";
    type Answer = Empty;
}
