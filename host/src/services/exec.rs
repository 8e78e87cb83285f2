//! The `exec` service: run a program directly, never through a shell.
//!
//! Optional user switch (uid, gid, supplementary groups), standard input written then closed, a
//! time limit, and secrets shown as `<redacted>` wherever the command line is logged or recorded.
//!
//! Every program the host runs is built by [`contained`] and watched by [`Running`] (nothing else
//! in the host starts a process), so every one of them is contained:
//!
//! - **A clean environment.** Nothing of ours reaches it (a `CONSUL_HTTP_TOKEN` root exported, for
//!   one) but `PATH` (ours without relative or empty entries; [`DEFAULT_PATH`] when nothing is
//!   left), `LANG`, `LANGUAGE`, `LC_*`, `TERM`, `TZ`, and the variables `CARBONIO_MESH_CHILD_ENV`
//!   names. `HOME`, `USER` and `LOGNAME` are those of the user it runs as.
//! - **Found where only root can write.** An absolute path, or a bare name found in a `PATH`
//!   directory that root owns and nobody else may write; never a relative path (`bin/x`), which
//!   would be found from the current directory (see `program`).
//! - **No terminal for another user's program.** One run as another user starts in a session of
//!   its own, without a controlling terminal (its standard input is a pipe): it can neither read
//!   root's terminal nor push keystrokes into it (`TIOCSTI`) for root's shell to run.
//! - **Its own process group, killed at the time limit.** The limit covers the program and
//!   everything it started that still holds its output. At the limit the whole group gets
//!   SIGTERM, then SIGKILL once the program itself has exited or [`KILL_GRACE`] has passed; output
//!   still held open after that (by something that left the group with `setsid`) is waited for
//!   [`PIPE_GRACE`] at most, then given up.
//! - **It dies with carbonio-mesh.** The child asks for SIGKILL when its parent dies
//!   (`PR_SET_PDEATHSIG`), after the user switch since a change of credentials clears it, and
//!   exits at once if carbonio-mesh died before that. The kernel sends it when the *thread* that
//!   started the child ends, not the process: each child is reaped on the thread that started it
//!   (see [`run_many`]). The program's own children do not inherit it (fork clears it), nor does a
//!   set-user-ID program run as another user: those are covered by the group kill at the time
//!   limit, not by carbonio-mesh's death.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, ExecMany, ExecManyAnswer, ExecOutput, ExecResult, ServiceErrorKind,
    ServiceFailure,
};
use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid, User};
use zeroize::Zeroize;

use super::{failure, io_failure, HostContext};

/// Output beyond this is cut, so a runaway program cannot exhaust memory.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

/// Between SIGTERM and SIGKILL at the time limit: time for the program to clean up.
const KILL_GRACE: Duration = Duration::from_secs(3);

/// After the kill, how long output still held open is waited for.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// The children's `PATH` when ours has no absolute entry.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of ours every child inherits, with `LC_*`: how to talk to the operator, nothing more.
const INHERITED: [&str; 4] = ["LANG", "LANGUAGE", "TERM", "TZ"];

/// Names (separated by blanks or commas) of further variables of ours that children inherit: the
/// one way to hand a program something from our environment. The test stand-ins' settings travel
/// this way.
const CHILD_ENV: &str = "CARBONIO_MESH_CHILD_ENV";

/// A command ready to start: everything that needs the context (secrets, dry run, user switch)
/// is done, so it can run on another thread.
struct Prepared {
    command: Command,
    program: String,
    shown: String,
    stdin: Option<String>,
    timeout: Duration,
    plugin: String,
}

/// Registers the request's secrets and builds the command; under `--dry-run` a mutating
/// request is recorded and answered at once (`Err` carries that answer).
fn prepare(
    context: &HostContext,
    mut request: Exec,
) -> Result<Result<Prepared, ExecOutput>, ServiceFailure> {
    let mut argv: Vec<String> = Vec::with_capacity(request.argv.len());
    for arg in request.argv.drain(..) {
        match arg {
            ExecArg::Plain(word) => argv.push(word),
            ExecArg::Secret { secret } => {
                context.add_secret(&secret);
                // `--password=VALUE`: the program may echo the value alone.
                if let Some((_, value)) = secret.split_once('=').filter(|_| secret.starts_with('-'))
                {
                    context.add_secret(value);
                }
                argv.push(secret);
            }
        }
    }
    for secret in &request.secrets {
        context.add_secret(secret);
    }
    let shown = context.redact(&argv.join(" "));
    let Some(program) = argv.first().cloned() else {
        return Err(failure(
            ServiceErrorKind::Invalid,
            "exec needs a program to run",
        ));
    };
    let user_note = request
        .user
        .as_deref()
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    super::program::check_word(&program)?;
    if request.mutating && context.dry_run {
        context.record(format!("run{user_note}: {shown}"));
        zeroize_all(&mut argv);
        return Ok(Err(ExecOutput {
            status: Some(0),
            dry_run: true,
            ..ExecOutput::default()
        }));
    }
    tracing::debug!(plugin = %context.plugin, "running{user_note}: {shown}");
    let command = Identity::of(request.user.as_deref())
        .and_then(|identity| contained(&argv, identity, std::env::vars_os()));
    // Before anything can return: the words may hold secrets.
    zeroize_all(&mut argv);
    Ok(Ok(Prepared {
        command: command?,
        program,
        shown,
        stdin: request.stdin.take(),
        timeout: request
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(context.config.exec_timeout),
        plugin: context.plugin.clone(),
    }))
}

/// Starts the command, feeds its input, collects its output, kills its whole group when time is
/// up.
fn execute(mut prepared: Prepared) -> Result<ExecOutput, ServiceFailure> {
    let program = prepared.program.clone();
    let mut running =
        Running::start(&mut prepared.command).map_err(|e| io_failure("run", &program, e))?;
    let deadline = Instant::now() + prepared.timeout;
    let pipes = Pipes::start(&mut running.child, prepared.stdin.take());
    let waiting = |e: io::Error| {
        failure(
            ServiceErrorKind::Failed,
            format!("waiting for {program} failed: {e}"),
        )
    };
    // Finished: the program has exited and nothing it started still holds its output.
    let finished =
        poll_until(deadline, || running.exited()).map_err(waiting)? && pipes.closed_by(deadline);
    if !finished {
        running.kill_group();
        // The group let go of the pipes as it died; whatever else holds them is not waited for
        // beyond the grace (see Pipes::output).
        pipes.closed_by(Instant::now() + PIPE_GRACE);
    }
    let status = running.reap().map_err(waiting)?;
    let (stdout, stderr) = pipes.output();
    if !finished {
        return Err(failure(
            ServiceErrorKind::Timeout,
            format!(
                "{} did not finish within {} s and was killed",
                prepared.shown,
                prepared.timeout.as_secs_f64()
            ),
        ));
    }
    tracing::debug!(plugin = %prepared.plugin, "{program} exited with {status}");
    Ok(ExecOutput {
        status: status.code(),
        stdout,
        stderr,
        dry_run: false,
    })
}

pub(super) fn run(context: &HostContext, request: Exec) -> Result<ExecOutput, ServiceFailure> {
    match prepare(context, request)? {
        Ok(prepared) => execute(prepared),
        Err(dry_run) => Ok(dry_run),
    }
}

/// `exec.many`: several programs, at most `parallel` at a time, each answered on its own; a
/// progress line per finished program on a terminal.
pub(super) fn run_many(
    context: &HostContext,
    request: ExecMany,
) -> Result<ExecManyAnswer, ServiceFailure> {
    let total = request.execs.len();
    let labels = request.labels;
    let mut results: Vec<Option<ExecResult>> = (0..total).map(|_| None).collect();
    let mut queue = std::collections::VecDeque::new();
    for (index, exec) in request.execs.into_iter().enumerate() {
        match prepare(context, exec) {
            Ok(Ok(prepared)) => queue.push_back((index, prepared)),
            Ok(Err(dry_run)) => results[index] = Some(ExecResult::from(Ok(dry_run))),
            Err(error) => results[index] = Some(ExecResult::from(Err(error))),
        }
    }
    let queue = std::sync::Mutex::new(queue);
    let finished = std::sync::Mutex::new((results, 0usize));
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()) && total > 1;
    let workers = request.parallel.clamp(1, 64).min(total.max(1));
    thread::scope(|scope| {
        for _ in 0..workers {
            // A child's parent-death signal fires when the thread that started it ends, and these
            // workers end with the scope: execute() reaps each child (or kills and reaps it)
            // before it returns, so none outlives its worker and none is killed by its worker's
            // end.
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((index, prepared)) = next else { break };
                let outcome = execute(prepared);
                let ok = matches!(&outcome, Ok(o) if o.status == Some(0));
                let mut done = finished.lock().unwrap_or_else(|e| e.into_inner());
                done.0[index] = Some(ExecResult::from(outcome));
                done.1 += 1;
                if progress {
                    let label = labels.get(index).map(String::as_str).unwrap_or("");
                    eprintln!("{}", progress_line(done.1, total, label, ok));
                }
            });
        }
    });
    let (results, _) = finished.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(ExecManyAnswer {
        results: results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    ExecResult::from(Err(failure(ServiceErrorKind::Failed, "not run")))
                })
            })
            .collect(),
    })
}

/// `[N/TOTAL] LABEL: done|FAILED`, the label (a node's name, from elsewhere) on one line with
/// its control characters shown.
fn progress_line(done: usize, total: usize, label: &str, ok: bool) -> String {
    format!(
        "[{done}/{total}] {}: {}",
        crate::terminal::untrusted::one_line(label),
        if ok { "done" } else { "FAILED" }
    )
}

fn zeroize_all(words: &mut [String]) {
    for word in words {
        word.zeroize();
    }
}

/// Who a program runs as.
struct Identity {
    /// Its `USER` and `LOGNAME`.
    name: String,
    home: PathBuf,
    /// Credentials the child takes before exec; `None`: ours.
    switch: Option<Credentials>,
}

struct Credentials {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

impl Identity {
    /// `user` with its groups (switching needs root unless it is us), or the user we are.
    fn of(user: Option<&str>) -> Result<Identity, ServiceFailure> {
        let Some(user) = user else {
            return Identity::ours();
        };
        let entry = User::from_name(user)
            .map_err(|e| {
                failure(
                    ServiceErrorKind::Failed,
                    format!("cannot look up user {user}: {e}"),
                )
            })?
            .ok_or_else(|| {
                failure(
                    ServiceErrorKind::NotFound,
                    format!("there is no user '{user}' on this system"),
                )
            })?;
        let switch = if Uid::effective() == entry.uid {
            None
        } else {
            if !Uid::effective().is_root() {
                return Err(failure(
                    ServiceErrorKind::Denied,
                    format!("running a command as {user} needs root"),
                ));
            }
            let name = std::ffi::CString::new(user).map_err(|_| {
                failure(ServiceErrorKind::Invalid, "a user name cannot contain NUL")
            })?;
            let groups = nix::unistd::getgrouplist(&name, entry.gid).map_err(|e| {
                failure(
                    ServiceErrorKind::Failed,
                    format!("cannot read the groups of {user}: {e}"),
                )
            })?;
            Some(Credentials {
                uid: entry.uid,
                gid: entry.gid,
                groups,
            })
        };
        Ok(Identity {
            name: user.to_owned(),
            home: entry.dir,
            switch,
        })
    }

    /// The user we are; without a passwd entry, our uid as the name and `/` as the home.
    fn ours() -> Result<Identity, ServiceFailure> {
        let uid = Uid::effective();
        let entry = User::from_uid(uid).map_err(|e| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot look up user {uid}: {e}"),
            )
        })?;
        let (name, home) = match entry {
            Some(entry) => (entry.name, entry.dir),
            None => (uid.to_string(), PathBuf::from("/")),
        };
        Ok(Identity {
            name,
            home,
            switch: None,
        })
    }
}

/// The environment a program starts with, built from `ours` (the caller passes
/// `std::env::vars_os()`; tests pass their own rather than change the process's).
fn child_environment(
    ours: impl IntoIterator<Item = (OsString, OsString)>,
    identity: &Identity,
) -> BTreeMap<OsString, OsString> {
    let ours: BTreeMap<OsString, OsString> = ours.into_iter().collect();
    let listed: Vec<&str> = ours
        .get(OsStr::new(CHILD_ENV))
        .and_then(|names| names.to_str())
        .map(|names| {
            names
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut env: BTreeMap<OsString, OsString> = ours
        .iter()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                INHERITED.contains(&name) || name.starts_with("LC_") || listed.contains(&name)
            })
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    env.insert("PATH".into(), search_path(ours.get(OsStr::new("PATH"))));
    // Last, so that nothing listed can make a program believe it runs as someone else.
    env.insert("HOME".into(), identity.home.clone().into_os_string());
    env.insert("USER".into(), identity.name.clone().into());
    env.insert("LOGNAME".into(), identity.name.clone().into());
    env
}

/// Our `PATH` without relative or empty entries, which would make the lookup depend on the
/// working directory; [`DEFAULT_PATH`] when nothing is left.
///
/// Ours rather than a fixed one, because it is safe to pass on: root chose it, it found
/// carbonio-mesh itself, a root shell would find the same programs through it (and `sudo` has
/// already replaced it with its `secure_path`), and it holds no secret. Site commands and the test
/// stand-ins are found through it.
fn search_path(ours: Option<&OsString>) -> OsString {
    let entries: Vec<&[u8]> = ours
        .map(|path| {
            path.as_bytes()
                .split(|&byte| byte == b':')
                .filter(|entry| entry.starts_with(b"/"))
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        DEFAULT_PATH.into()
    } else {
        OsString::from_vec(entries.join(&b':'))
    }
}

/// `argv` as a contained command (see the module documentation): the one place where a child's
/// program file, environment, session, process group, credentials and parent-death signal are
/// set.
fn contained(
    argv: &[String],
    identity: Identity,
    ours: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Command, ServiceFailure> {
    let env = child_environment(ours, &identity);
    let search_path = env.get(OsStr::new("PATH")).cloned().unwrap_or_default();
    // The file found is the file run (no second lookup by exec); argv[0] stays the word given.
    let mut command = Command::new(super::program::locate(&argv[0], &search_path)?);
    command
        .arg0(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = nix::unistd::getpid();
    let switch = identity.switch;
    if switch.is_none() {
        // Its own group (whose id is its pid), killed whole at the time limit. A Ctrl-C at the
        // terminal then reaches only carbonio-mesh, whose death ends the child. (Another user's
        // program gets a session of its own below, which is such a group too.)
        command.process_group(0);
    }
    // SAFETY: between fork and exec: only plain system calls on memory prepared before the fork;
    // nothing allocates (an io::Error from an errno does not).
    unsafe {
        command.pre_exec(move || {
            if let Some(credentials) = &switch {
                // A session of its own, without a controlling terminal: /dev/tty opens nothing
                // and TIOCSTI has no terminal to push keystrokes into. Its id is the pid, so the
                // group kill at the time limit reaches it as any other child's group.
                nix::unistd::setsid()?;
                // Groups, then group, then user, all here: std's own uid()/gid() would drop root
                // before this hook could still call setgroups.
                nix::unistd::setgroups(&credentials.groups)?;
                nix::unistd::setgid(credentials.gid)?;
                nix::unistd::setuid(credentials.uid)?;
            }
            // After the switch: a change of credentials clears the parent-death signal.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // carbonio-mesh may have died before that line, and then nothing would end us.
            if nix::unistd::getppid() != parent {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }
    Ok(command)
}

/// A started program, leader of its own process group. The group is signalled only while the
/// program is unreaped: until then its pid, which is the group's id, cannot be reused, so a
/// signal never reaches a stranger. Dropped unreaped (an error on the way), it is killed and
/// reaped with its group.
struct Running {
    child: Child,
    reaped: bool,
}

impl Running {
    fn start(command: &mut Command) -> io::Result<Running> {
        Ok(Running {
            child: command.spawn()?,
            reaped: false,
        })
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Whether the program has exited; it stays unreaped.
    fn exited(&self) -> io::Result<bool> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let status = waitid(Id::Pid(self.group()), flags)?;
        Ok(!matches!(status, WaitStatus::StillAlive))
    }

    /// SIGTERM to the whole group, then SIGKILL once the program has exited (what it started may
    /// ignore SIGTERM) or [`KILL_GRACE`] has passed.
    fn kill_group(&self) {
        let _ = killpg(self.group(), Signal::SIGTERM);
        let _ = poll_until(Instant::now() + KILL_GRACE, || self.exited());
        let _ = killpg(self.group(), Signal::SIGKILL);
    }

    fn reap(mut self) -> io::Result<ExitStatus> {
        // Whatever wait answers, the group is never signalled again.
        self.reaped = true;
        self.child.wait()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = killpg(self.group(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// The threads feeding a program's input and collecting its output.
struct Pipes {
    input: JoinHandle<()>,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Pipes {
    fn start(child: &mut Child, input: Option<String>) -> Pipes {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let mut input = input.unwrap_or_default();
        Pipes {
            input: thread::spawn(move || {
                // A program that exits without reading its input is not an error here.
                let _ = pipe.write_all(input.as_bytes());
                input.zeroize();
            }),
            stdout: read_all(child.stdout.take().expect("stdout is piped")),
            stderr: read_all(child.stderr.take().expect("stderr is piped")),
        }
    }

    /// Whether every holder of the program's pipes has let go of them by `deadline`.
    fn closed_by(&self, deadline: Instant) -> bool {
        let closed = || {
            Ok(self.input.is_finished() && self.stdout.is_finished() && self.stderr.is_finished())
        };
        matches!(poll_until(deadline, closed), Ok(true))
    }

    /// The output collected. A thread still blocked (its pipe held by something that left the
    /// group) is left to end when that lets go; what it reads is lost.
    fn output(self) -> (String, String) {
        let collected = |reader: JoinHandle<String>| {
            if reader.is_finished() {
                reader.join().unwrap_or_default()
            } else {
                String::new()
            }
        };
        (collected(self.stdout), collected(self.stderr))
    }
}

fn read_all(pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Asks `done` with growing pauses (1 ms up to 50 ms) until it says yes or `deadline` passes;
/// whether it said yes.
fn poll_until(deadline: Instant, mut done: impl FnMut() -> io::Result<bool>) -> io::Result<bool> {
    let mut pause = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;

    fn context(dry_run: bool) -> HostContext {
        HostContext::new(
            "test",
            SystemPaths::new(None),
            Config::default(),
            dry_run,
            test_consul(),
        )
    }

    #[test]
    fn runs_without_a_shell_and_feeds_stdin() {
        let output = run(
            &context(false),
            Exec::new(["cat"]).stdin("a; echo injected"),
        )
        .unwrap();
        assert_eq!(output.stdout, "a; echo injected");
        assert!(output.success());
        let output = run(
            &context(false),
            Exec::new(["sh", "-c", "echo err >&2; exit 3"]),
        )
        .unwrap();
        assert_eq!((output.status, output.stderr.as_str()), (Some(3), "err\n"));
    }

    #[test]
    fn a_progress_line_shows_the_label_escaped() {
        assert_eq!(
            progress_line(2, 5, "mail\r[5/5] srv9: done\u{1b}[K", false),
            "[2/5] mail\\r[5/5] srv9: done\\x1b[K: FAILED"
        );
    }

    #[test]
    fn a_slow_program_is_killed_at_the_deadline() {
        let started = Instant::now();
        let error = run(&context(false), Exec::new(["sleep", "5"]).timeout_ms(100)).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Timeout);
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let error = run(&context(false), Exec::new(["/nonexistent/program"])).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::NotFound);
    }

    #[test]
    fn dry_run_records_mutating_commands_with_secrets_redacted() {
        let context = context(true);
        let request = Exec::new(["service-discover", "setup", "--first-instance"])
            .secret_arg("--password=hunter2")
            .mutating();
        let output = run(&context, request).unwrap();
        assert!(output.dry_run);
        assert_eq!(
            context.take_plan(),
            ["run: service-discover setup --first-instance <redacted>"]
        );
        // A read-only command still runs under --dry-run.
        assert_eq!(
            run(&context, Exec::new(["echo", "hi"])).unwrap().stdout,
            "hi\n"
        );
    }

    #[test]
    fn runs_as_another_user() {
        if !Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let output = run(&context(false), Exec::new(["id", "-u"]).user("nobody")).unwrap();
        assert_eq!(
            output.stdout.trim(),
            User::from_name("nobody").unwrap().unwrap().uid.to_string()
        );
        let error = run(&context(false), Exec::new(["id"]).user("no-such-user-here")).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::NotFound);
    }

    /// The names in `env`'s output.
    fn names(env_output: &str) -> Vec<&str> {
        env_output
            .lines()
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn a_child_sees_none_of_our_variables_beyond_the_listed_ones() {
        // cargo runs tests with CARGO_MANIFEST_DIR (and more) set: none of it may reach a child.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let output = run(&context(false), Exec::new(["env"])).unwrap();
        let names = names(&output.stdout);
        for name in ["PATH", "HOME", "USER", "LOGNAME"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let unexpected: Vec<&&str> = names
            .iter()
            .filter(|n| !INHERITED.contains(n) && !n.starts_with("LC_"))
            .filter(|n| !["PATH", "HOME", "USER", "LOGNAME"].contains(n))
            .collect();
        assert!(unexpected.is_empty(), "leaked: {unexpected:?}");
    }

    #[test]
    fn a_child_environment_holds_only_what_is_listed() {
        let identity = Identity {
            name: "nobody".into(),
            home: "/nonexistent".into(),
            switch: None,
        };
        let ours = [
            ("CONSUL_HTTP_TOKEN", "secret-token"),
            ("PATH", "/opt/site/bin:.::relative/bin:/usr/bin"),
            ("HOME", "/root"),
            ("USER", "root"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "de_DE.UTF-8"),
            ("TERM", "xterm"),
            ("SITE_SETTING", "kept"),
            ("OTHER_SETTING", "dropped"),
            (CHILD_ENV, "SITE_SETTING, USER"),
        ]
        .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        let env = child_environment(ours, &identity);
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(name, value)| (name.to_str().unwrap(), value.to_str().unwrap()))
            .collect();
        assert_eq!(
            env,
            [
                ("HOME", "/nonexistent"),
                ("LANG", "C.UTF-8"),
                ("LC_TIME", "de_DE.UTF-8"),
                ("LOGNAME", "nobody"),
                ("PATH", "/opt/site/bin:/usr/bin"),
                ("SITE_SETTING", "kept"),
                ("TERM", "xterm"),
                ("USER", "nobody"),
            ]
        );
        // No usable PATH of ours: the fixed default.
        let env = child_environment([("PATH".into(), ".:bin".into())], &identity);
        assert_eq!(env[OsStr::new("PATH")], DEFAULT_PATH);
    }

    /// Whether process `pid` has ended (gone, or a zombie nobody reaped yet), waiting up to 2 s.
    fn ended(pid: i32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(") ")
                        .map(|(_, rest)| rest.starts_with('Z'))
                });
            if state.unwrap_or(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `script` (with `{pid}` standing for a file it writes a descendant's pid to) under a
    /// one-second limit; answers the error, the time taken and that pid.
    fn timed_out(script: &str) -> (ServiceFailure, Duration, i32) {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = script.replace("{pid}", &pid_file.display().to_string());
        let started = Instant::now();
        let error = run(
            &context(false),
            Exec::new(["sh", "-c", &script]).timeout_ms(1000),
        )
        .unwrap_err();
        let took = started.elapsed();
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (error, took, pid)
    }

    #[test]
    fn at_the_deadline_the_whole_process_group_is_killed() {
        for script in [
            // A grandchild in the foreground: `; true` keeps sh from exec'ing it.
            "sh -c 'echo $$ > {pid}; exec sleep 25'; true",
            // A grandchild in the background, waited for.
            "sleep 25 & echo $! > {pid}; wait",
            // A grandchild left behind holding the output after sh exited: the output is not
            // over, so neither is the program.
            "sleep 25 & echo $! > {pid}",
        ] {
            let (error, took, pid) = timed_out(script);
            assert_eq!(error.kind, ServiceErrorKind::Timeout, "{script}: {error:?}");
            assert!(
                error.message.contains("did not finish within 1 s"),
                "{script}: {}",
                error.message
            );
            assert!(took < Duration::from_secs(6), "{script}: took {took:?}");
            assert!(
                ended(pid),
                "{script}: the grandchild {pid} is still running"
            );
        }
    }

    #[test]
    fn output_held_by_a_program_that_left_the_group_is_not_waited_for() {
        // setsid: a new session, out of reach of the group kill, holding stdout and stderr.
        let (error, took, pid) = timed_out("setsid sh -c 'echo $$ > {pid}; exec sleep 25' & wait");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        assert_eq!(error.kind, ServiceErrorKind::Timeout, "{error:?}");
        assert!(took < Duration::from_secs(6), "took {took:?}");
    }

    /// Starts `request` on a thread that ends without waiting for it: the child must die with
    /// that thread (PR_SET_PDEATHSIG follows the thread that forked, not the process).
    fn dies_with_the_thread_that_started_it(request: Exec) {
        let Ok(prepared) = prepare(&context(false), request).unwrap() else {
            panic!("not a dry run");
        };
        let mut child = thread::spawn(move || {
            let mut prepared = prepared;
            prepared.command.spawn().unwrap()
        })
        .join()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child outlived the thread that started it");
            }
            thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(nix::libc::SIGKILL));
    }

    #[test]
    fn a_child_dies_with_the_thread_that_started_it() {
        dies_with_the_thread_that_started_it(Exec::new(["sleep", "25"]));
    }

    #[test]
    fn a_child_run_as_another_user_dies_with_the_thread_that_started_it_too() {
        // The kernel clears the parent-death signal when the credentials change: it must be set
        // after the switch.
        if !Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        dies_with_the_thread_that_started_it(Exec::new(["sleep", "25"]).user("nobody"));
    }
}
