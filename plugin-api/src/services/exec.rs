//! `exec` and `exec.many`: programs run directly, never through a shell, one or many at a time.

use serde::{Deserialize, Serialize};

use super::{Service, ServiceFailure};

/// One word of a command line. A secret word is passed to the program but shown as `<redacted>`
/// in logs, errors and dry-run plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExecArg {
    /// A word shown as it is.
    Plain(String),
    /// A word passed on but shown as `<redacted>`.
    Secret {
        /// The word, passed to the program and shown nowhere.
        secret: String,
    },
}

impl From<&str> for ExecArg {
    fn from(value: &str) -> Self {
        ExecArg::Plain(value.to_owned())
    }
}

impl From<String> for ExecArg {
    fn from(value: String) -> Self {
        ExecArg::Plain(value)
    }
}

/// `exec`: runs a program directly (never through a shell).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    /// Program and arguments; the program is looked up in `PATH` when it has no `/`.
    pub argv: Vec<ExecArg>,
    /// Run as this user (the host must be root); its groups, `HOME`, `USER` and `LOGNAME` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Written to the program's standard input, then closed. Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Kill the program after this many milliseconds (default: the configured `exec.timeout_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The program changes something: under `--dry-run` it is recorded, not run.
    #[serde(default)]
    pub mutating: bool,
    /// Other secret strings (not in argv) to hide from logs and from output quoted in errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

impl Exec {
    /// A read-only command.
    pub fn new<I, A>(argv: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<ExecArg>,
    {
        Exec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Exec::default()
        }
    }

    /// Runs it as `user` (uid, gid and groups switched, a new session without a terminal).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// Writes `stdin` to its standard input, then closes it.
    pub fn stdin(mut self, stdin: impl Into<String>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// Kills it (its whole process group) after `timeout_ms` milliseconds.
    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Marks it as changing the system: recorded, not run, under `--dry-run`.
    pub fn mutating(mut self) -> Self {
        self.mutating = true;
        self
    }

    /// Adds a word that is passed on but never shown (`<redacted>` in logs and plans).
    pub fn secret_arg(mut self, secret: impl Into<String>) -> Self {
        self.argv.push(ExecArg::Secret {
            secret: secret.into(),
        });
        self
    }
}

/// What a program did. A non-zero exit is an answer, not an error: the plugin decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// The exit status, or `None` when a signal ended the program.
    pub status: Option<i32>,
    /// Its standard output, as text.
    pub stdout: String,
    /// Its standard error, as text.
    pub stderr: String,
    /// `--dry-run` recorded the command instead of running it.
    #[serde(default)]
    pub dry_run: bool,
}

impl ExecOutput {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

impl Service for Exec {
    const NAME: &'static str = "exec";
    type Answer = ExecOutput;
}

/// `exec.many` (1.3): several programs, at most `parallel` at a time; each answered on its own,
/// in the order given. On a terminal the host prints a progress line as each one finishes
/// (`labels` name them there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMany {
    /// The programs, in order.
    pub execs: Vec<Exec>,
    /// A label per program for the progress lines (its node, ...).
    #[serde(default)]
    pub labels: Vec<String>,
    /// At most this many at a time.
    pub parallel: usize,
}

impl Service for ExecMany {
    const NAME: &'static str = "exec.many";
    type Answer = ExecManyAnswer;
}

/// [`ExecMany`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecManyAnswer {
    /// One result per program, in the order given.
    pub results: Vec<ExecResult>,
}

/// One program's answer: its output, or why it could not run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    /// What the program did, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ExecOutput>,
    /// Why it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ServiceFailure>,
}

impl From<Result<ExecOutput, ServiceFailure>> for ExecResult {
    fn from(result: Result<ExecOutput, ServiceFailure>) -> Self {
        match result {
            Ok(output) => ExecResult {
                output: Some(output),
                error: None,
            },
            Err(error) => ExecResult {
                output: None,
                error: Some(error),
            },
        }
    }
}
