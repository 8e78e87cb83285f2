//! The host services a plugin may call, one request/answer pair each.
//!
//! Every side effect goes through these, so the host can apply `--dry-run`, `--root`, backups
//! before deletion, audit logging and secret redaction in one place. The service name is the
//! [`Service::NAME`] of the request type.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A request type for one host service.
pub trait Service: Serialize {
    /// The service name passed to `call(service, payload)`.
    const NAME: &'static str;
    /// What the service answers.
    type Answer: DeserializeOwned;
}

/// `log`: one line through the host's tracing subscriber (target `plugin::<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
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
    pub message: String,
}

impl Service for Progress {
    const NAME: &'static str = "progress";
    type Answer = Empty;
}

/// An answer with nothing in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// One word of a command line. A secret word is passed to the program but shown as `<redacted>`
/// in logs, errors and dry-run plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExecArg {
    Plain(String),
    Secret { secret: String },
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

    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    pub fn stdin(mut self, stdin: impl Into<String>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    pub fn mutating(mut self) -> Self {
        self.mutating = true;
        self
    }

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
    pub stdout: String,
    pub stderr: String,
    /// `--dry-run` recorded the command instead of running it.
    #[serde(default)]
    pub dry_run: bool,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

impl Service for Exec {
    const NAME: &'static str = "exec";
    type Answer = ExecOutput;
}

/// `fs.read`: a file's content as UTF-8 text. Paths are system paths (`/etc/...`); the host puts
/// them under `--root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFile {
    pub path: String,
    /// Refuse files larger than this (default 16 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    pub content: String,
}

impl Service for ReadFile {
    const NAME: &'static str = "fs.read";
    type Answer = FileContent;
}

/// `fs.write`: replaces a file atomically (temporary file, fsync, rename). An existing file is
/// backed up first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
    /// Permission bits, for example `0o600`.
    pub mode: u32,
    /// Owner user name (default: unchanged / the current user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `fs.write-state` (1.7): writes a file inside service-discover's state directory
/// ([`crate::mesh::STATE_DIR`]), owned by the service user (`[mesh] service_user`), the one way
/// to put a file where that user may then change it. The state directory is opened from its
/// parent, which must pass the trust rules (root's, writable by nobody else), and each directory
/// below it without following a link: a path elsewhere (the data directory main.json names is
/// the service user's to change) or through a link is refused with the fix, so root never writes
/// a file that user owns into `/etc/cron.hourly`. An existing file is backed up first; under
/// `--dry-run` the write is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStateFile {
    pub path: String,
    pub content: String,
    /// Permission bits, for example `0o600`.
    pub mode: u32,
}

impl Service for WriteStateFile {
    const NAME: &'static str = "fs.write-state";
    type Answer = Changed;
}

/// What a change did: where the previous version was saved, and whether it was only planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

impl Service for WriteFile {
    const NAME: &'static str = "fs.write";
    type Answer = Changed;
}

/// `fs.remove`: copies a file or directory into the run's backup directory, then removes it.
/// A path that does not exist is not an error (`existed: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovePath {
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub existed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

impl Service for RemovePath {
    const NAME: &'static str = "fs.remove";
    type Answer = Removed;
}

/// `fs.stat`: whether a path exists and what it is, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPath {
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Other,
}

/// `fs.stat`'s answer; the default is the answer for a path that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<FileType>,
    #[serde(default)]
    pub mode: u32,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub size: u64,
}

impl Service for StatPath {
    const NAME: &'static str = "fs.stat";
    type Answer = Stat;
}

/// `fs.list`: the names in a directory, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListDir {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntries {
    pub names: Vec<String>,
}

impl Service for ListDir {
    const NAME: &'static str = "fs.list";
    type Answer = DirEntries;
}

/// `consul`: one HTTP request to the Consul agent, with the host's address, token, datacenter,
/// `--stale`, TLS, timeouts and retries. Answers with statuses other than 2xx and those in
/// `accept_status` become a [`ServiceFailure`] whose message keeps Consul's own text and says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsulRequest {
    /// `GET`, `PUT` or `DELETE` (1.3).
    pub method: String,
    /// Path segments, each percent-encoded by the host: `["v1", "catalog", "node", name]`.
    pub path: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Error statuses the plugin handles itself (answered, not turned into a failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept_status: Vec<u16>,
    /// Send no token even when one is configured (for endpoints that need none).
    #[serde(default)]
    pub anonymous: bool,
    /// Send this token instead of the configured one (1.3): checking a token from the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<crate::SecretText>,
}

impl ConsulRequest {
    pub fn get(path: &[&str]) -> Self {
        ConsulRequest {
            method: "GET".to_owned(),
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            accept_status: Vec::new(),
            anonymous: false,
            token: None,
        }
    }

    /// A change: `PUT path`.
    pub fn put(path: &[&str]) -> Self {
        ConsulRequest {
            method: "PUT".to_owned(),
            ..ConsulRequest::get(path)
        }
    }

    /// A removal: `DELETE path` (1.3).
    pub fn delete(path: &[&str]) -> Self {
        ConsulRequest {
            method: "DELETE".to_owned(),
            ..ConsulRequest::get(path)
        }
    }

    /// Answers Consul's error statuses (400, 403, 404, 500, 503) instead of failing, for a
    /// plugin that prints them the way the `consul` CLI does ([`ConsulResponse::unexpected`]).
    pub fn accepting_errors(mut self) -> Self {
        self.accept_status.extend([400, 403, 404, 500, 503]);
        self
    }

    /// Sends `token` with this request instead of the configured one.
    pub fn with_token(mut self, token: crate::SecretText) -> Self {
        self.token = Some(token);
        self
    }

    pub fn query(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn accept(mut self, status: u16) -> Self {
        self.accept_status.push(status);
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }
}

/// Consul's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsulResponse {
    pub status: u16,
    /// The body, unparsed, when Consul said it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Box<serde_json::value::RawValue>>,
    /// The body when it is not JSON (error texts are plain text).
    #[serde(default)]
    pub text: String,
    /// `X-Consul-Index` of blocking endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// `X-Consul-Default-ACL-Policy`: `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_acl_policy: Option<String>,
    /// Whether a token was sent.
    #[serde(default)]
    pub token_sent: bool,
}

impl Service for ConsulRequest {
    const NAME: &'static str = "consul";
    type Answer = ConsulResponse;
}

impl ConsulResponse {
    /// The Consul Go client's error for a non-200 answer, as the `consul` CLI prints it after
    /// its own prefix: `Unexpected response code: 500 (agent: No node found with name 'x')`.
    pub fn unexpected(&self) -> String {
        format!("Unexpected response code: {} ({})", self.status, self.text)
    }

    /// Whether this answer came to a request without a token under Consul's `default_policy
    /// deny` (Carbonio's): Consul then leaves out what it may not show, so an empty list means
    /// nothing.
    pub fn anonymous_under_deny(&self) -> bool {
        !self.token_sent && self.default_acl_policy.as_deref() == Some("deny")
    }

    /// The JSON body decoded into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json.as_ref().map_or("null", |raw| raw.get()))
    }
}

/// `audit` (1.3): one line saying who changed what, with what result. The host writes it through
/// tracing (target `carbonio_mesh::audit`) and to the system journal when one is listening.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// What was done: `force-leave`, `deregister`, `reload`, ...
    pub action: String,
    /// What it was done to: a node, a service ID, an agent.
    pub target: String,
    /// `ok`, `failed: ...`, `dry-run`.
    pub result: String,
}

impl Service for Audit {
    const NAME: &'static str = "audit";
    type Answer = Empty;
}

/// `net.resolve`: the addresses of a host name (the system resolver; under `--root`, only the
/// root's `etc/hosts`, so tests never depend on DNS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// IP addresses as text, without duplicates, in resolver order.
    pub addresses: Vec<String>,
}

impl Service for Resolve {
    const NAME: &'static str = "net.resolve";
    type Answer = Addresses;
}

/// `net.local-addresses`: every IP address on this host's network interfaces (not `hostname -i`,
/// which often answers 127.0.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddresses {}

impl Service for LocalAddresses {
    const NAME: &'static str = "net.local-addresses";
    type Answer = Addresses;
}

/// How a host service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceErrorKind {
    /// The request itself is wrong (bad path, unknown service, bad JSON).
    Invalid,
    /// Not found.
    NotFound,
    /// Permission denied, or the host must be root.
    Denied,
    /// The program did not finish in time.
    Timeout,
    /// Anything else (I/O failure, program not startable).
    Failed,
}

/// The error answer of every host service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFailure {
    pub kind: ServiceErrorKind,
    pub message: String,
    /// How to fix it (added in 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The exit code the host documents for this failure, when it has its own (added in 1.3):
    /// a wrong archive password is 7, a damaged archive 8, a bad token file 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

/// Where a passphrase comes from. Unset fields fall through, in this order: `file` (its first
/// line), standard input (its first line), the Mesh password file when readable, then a prompt
/// without echo on the terminal. The passphrase itself never travels in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub stdin: bool,
}

/// `credentials.open` (1.3): decrypts and reads the Mesh credentials archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCredentials {
    /// The archive file (under `--root`); default: the Mesh path ([`crate::mesh::ARCHIVE_PATH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    #[serde(default)]
    pub password: PasswordSource,
    /// A password the plugin already holds (the new one, during a workflow): used first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_password: Option<crate::SecretText>,
}

impl Service for OpenCredentials {
    const NAME: &'static str = "credentials.open";
    type Answer = Credentials;
}

/// The archive's content. Dropping it wipes every member.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The archive file read (as given, without `--root`).
    pub archive: String,
    /// Where the passphrase came from: `--password-file FILE`, `stdin`, the Mesh password file's
    /// path, or `prompt`.
    pub password_source: String,
    /// The armored size on disk.
    pub archive_size: u64,
    pub members: Vec<CredentialsMember>,
}

impl Credentials {
    /// The member called `name` (normalized: no leading `./`).
    pub fn member(&self, name: &str) -> Option<&CredentialsMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialsMember {
    pub name: String,
    pub mode: u32,
    pub size: u64,
    /// The content as UTF-8 text (every Mesh member is text).
    pub content: crate::SecretText,
}

/// `credentials.write` (1.3): encrypts `members` in service-discover's format and replaces the
/// archive atomically (temp file, fsync, rename; mode 0600 root), backing up the old file first.
/// Under `--dry-run` it is recorded, not done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    pub members: Vec<NewMember>,
    /// The new passphrase: `file`, or `stdin`, else asked twice on the terminal. Never the Mesh
    /// password file (that holds the old one). An empty passphrase is refused.
    #[serde(default)]
    pub password: PasswordSource,
    /// Also write the new passphrase to the Mesh password file when it exists (backed up
    /// first, mode 0400 root), so it keeps opening the archive.
    #[serde(default)]
    pub update_password_file: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewMember {
    pub name: String,
    pub content: crate::SecretText,
}

impl Service for WriteCredentials {
    const NAME: &'static str = "credentials.write";
    type Answer = Written;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub archive: String,
    /// Where the previous file was saved (none when there was none, or under `--dry-run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// `prompt.confirm` (1.3): asks a yes/no question on the terminal. `--yes` answers yes without
/// asking; with no terminal and no `--yes` the answer is a `Denied` failure telling the user to
/// pass `--yes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirm {
    /// What will change, one line each, shown before the question.
    pub changes: Vec<String>,
    pub question: String,
}

impl Service for Confirm {
    const NAME: &'static str = "prompt.confirm";
    type Answer = Confirmed;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub yes: bool,
}

/// `workflow.steps` (1.3): a workflow's steps as the configuration resolves them (a step's own
/// name gives that one step).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSteps {
    pub workflow: String,
}

impl Service for WorkflowSteps {
    const NAME: &'static str = "workflow.steps";
    type Answer = ResolvedWorkflow;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedWorkflow {
    pub steps: Vec<ResolvedStep>,
    /// The user service-discover's Consul runs as (`[mesh] service_user`).
    #[serde(default)]
    pub service_user: String,
}

/// `credentials.new-password` (1.3): a new password from `--password-file`, `--password-stdin`,
/// generated (`generate`: 24 random bytes, base64url), or asked twice without echo. Never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    pub password: PasswordSource,
    #[serde(default)]
    pub generate: bool,
}

impl Service for NewPassword {
    const NAME: &'static str = "credentials.new-password";
    type Answer = NewPasswordAnswer;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewPasswordAnswer {
    pub password: crate::SecretText,
    /// `--password-file FILE`, `stdin`, `generated` or `prompt`.
    pub source: String,
}

/// One step and what carries it out: a plugin's step, or a site command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStep {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The plugin file that wins discovery for `plugin` (none: not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    #[serde(default)]
    pub password_stdin: bool,
    /// The configuration file that defined it, or `built-in`.
    pub defined_in: String,
    /// The line of `defined_in` (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What the step does, from its plugin's manifest (added in 1.6; a site command: its argv).
    #[serde(default)]
    pub about: String,
    /// The version of `plugin` (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
    /// What the step needs before it runs (added in 1.6).
    #[serde(default)]
    pub needs: crate::step::StepNeeds,
    /// The facts it records (added in 1.6).
    #[serde(default)]
    pub provides: Vec<String>,
    /// Whether it changes the system (added in 1.6).
    #[serde(default)]
    pub changes_system: bool,
}

/// `step.run` (1.6): runs workflow step `call.step` of another plugin, loaded by the same
/// discovery, trust and version rules as any plugin, with this run's host (dry run, `--root`,
/// redaction, audit). The plugin must declare the step and be built against 1.6 or later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStep {
    pub plugin: String,
    pub call: crate::step::StepCall,
}

impl Service for RunStep {
    const NAME: &'static str = "step.run";
    type Answer = crate::step::StepOutcome;
}

/// `journal.append` (1.3): one record (a JSON object) appended to a run's journal,
/// `/var/lib/carbonio-mesh/runs/RUN/journal.jsonl` (directory 0700, file 0600), fsynced before
/// the answer. Never under `--dry-run`. Records must hold no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalAppend {
    pub run: String,
    pub record: serde_json::Value,
}

impl Service for JournalAppend {
    const NAME: &'static str = "journal.append";
    type Answer = Empty;
}

/// `journal.read` (1.3): a run's records in order (`NotFound` for an unknown run). With no
/// `run`: the names of all runs, oldest first, in `runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRead {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Service for JournalRead {
    const NAME: &'static str = "journal.read";
    type Answer = Journal;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    #[serde(default)]
    pub records: Vec<serde_json::Value>,
    #[serde(default)]
    pub runs: Vec<String>,
}

/// `runs.remove` (1.5): deletes a run for good, with no backup (a backup of the backups would
/// keep the old secrets `secret prune` is there to delete): the run's journal directory under
/// /var/lib/carbonio-mesh/runs and every backup directory the run recorded as its own (since
/// 1.7: the directory directly under the configured `[backup] dir` holding the backup of one of
/// its `removed` records; other strings of the journal, such as node names, count for nothing).
/// Nothing outside those is touched. Under `--dry-run` the removal is recorded, not made;
/// otherwise the host audits it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRun {
    pub run: String,
}

impl Service for RemoveRun {
    const NAME: &'static str = "runs.remove";
    type Answer = RunRemoved;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRemoved {
    /// The journal directory (a system path).
    pub journal: String,
    /// The backup directories removed (system paths), oldest first.
    #[serde(default)]
    pub backups: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `fs.restore` (1.3): copies a backup (a system path, as `fs.remove` answered it) back to
/// `path` with the backup's mode and owner; what is at `path` now is backed up first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePath {
    pub backup: String,
    pub path: String,
}

impl Service for RestorePath {
    const NAME: &'static str = "fs.restore";
    type Answer = Empty;
}

/// `exec.many` (1.3): several programs, at most `parallel` at a time; each answered on its own,
/// in the order given. On a terminal the host prints a progress line as each one finishes
/// (`labels` name them there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecMany {
    pub execs: Vec<Exec>,
    #[serde(default)]
    pub labels: Vec<String>,
    pub parallel: usize,
}

impl Service for ExecMany {
    const NAME: &'static str = "exec.many";
    type Answer = ExecManyAnswer;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecManyAnswer {
    pub results: Vec<ExecResult>,
}

/// One program's answer: its output, or why it could not run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ExecOutput>,
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

/// `input.stdin` (1.3): the rest of standard input as text (after what `--password-stdin`
/// took), at most `max_bytes`. The host owns standard input, so plugins read it through here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStdin {
    pub max_bytes: u64,
}

impl Service for ReadStdin {
    const NAME: &'static str = "input.stdin";
    type Answer = StdinText;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StdinText {
    pub text: crate::SecretText,
}

/// `carbonio.servers` (1.5): Carbonio's servers as LDAP lists them (the `zimbraServer` entries
/// under `cn=servers,cn=zimbra`, what `carbonio prov gas` prints), read by the host bound as
/// service-discover binds (`/opt/zextras/conf/localconfig.xml`: `ldap_url`,
/// `zimbra_ldap_userdn`, `zimbra_ldap_password`). `NotFound` when this host has no
/// localconfig.xml (not a Carbonio node); `Failed` when LDAP cannot be reached or refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarbonioServers {
    /// Only the servers with this service enabled (`zimbraServiceEnabled`), as
    /// `carbonio prov gas SERVICE`; none: every server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Service for CarbonioServers {
    const NAME: &'static str = "carbonio.servers";
    type Answer = ServerList;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerList {
    /// Sorted by hostname.
    pub servers: Vec<CarbonioServer>,
}

impl ServerList {
    pub fn hostnames(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.hostname.clone()).collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarbonioServer {
    /// The entry's `cn`: the server's FQDN.
    pub hostname: String,
    /// `zimbraServiceEnabled`.
    #[serde(default)]
    pub services: Vec<String>,
}

/// `carbonio.ldap-credentials` (1.5): the copy of the Mesh credentials archive service-discover
/// uploaded to LDAP (base64 of the whole file in `carbonioMeshCredentials` on
/// `cn=config,cn=zimbra`), which other nodes download during their setup. Same binding and
/// failures as [`CarbonioServers`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapCredentials {}

impl Service for LdapCredentials {
    const NAME: &'static str = "carbonio.ldap-credentials";
    type Answer = LdapCredentialsCopy;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LdapCredentialsCopy {
    /// The decoded archive (armored text), none when the attribute is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<crate::SecretText>,
    /// The LDAP URL read from.
    pub url: String,
}

/// `net.source-address` (1.5): the local address this host's routing table uses to reach `to`
/// (what `ip route get TO` names as `src`): the address a node is reachable at from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAddress {
    pub to: String,
}

impl Service for SourceAddress {
    const NAME: &'static str = "net.source-address";
    type Answer = Addresses;
}
