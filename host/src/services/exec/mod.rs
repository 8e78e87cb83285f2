//! The `exec` service: run a program directly, never through a shell.
//!
//! Optional user switch (uid, gid, supplementary groups), standard input written then closed, a
//! time limit, and secrets shown as `<redacted>` wherever the command line is logged or recorded.
//!
//! Every program the host runs is built by [`child::contained`] and watched by
//! [`running::Running`] (nothing else
//! in the host starts a process), so every one of them is contained:
//!
//! - **A clean environment.** Nothing of ours reaches it (a `CONSUL_HTTP_TOKEN` root exported, for
//!   one) but `PATH` (ours without relative or empty entries; [`child::DEFAULT_PATH`] when nothing is
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
//!   SIGTERM, then SIGKILL once the program itself has exited or [`running::KILL_GRACE`] has passed; output
//!   still held open after that (by something that left the group with `setsid`) is waited for
//!   [`PIPE_GRACE`] at most, then given up.
//! - **It dies with carbonio-mesh.** The child asks for SIGKILL when its parent dies
//!   (`PR_SET_PDEATHSIG`), after the user switch since a change of credentials clears it, and
//!   exits at once if carbonio-mesh died before that. The kernel sends it when the *thread* that
//!   started the child ends, not the process: each child is reaped on the thread that started it
//!   (see [`run_many`]). The program's own children do not inherit it (fork clears it), nor does a
//!   set-user-ID program run as another user: those are covered by the group kill at the time
//!   limit, not by carbonio-mesh's death.

use std::io;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, ExecMany, ExecManyAnswer, ExecOutput, ExecResult, ServiceErrorKind,
    ServiceFailure,
};
use zeroize::Zeroize;

use super::{failure, io_failure, HostContext};
use child::{contained, Identity};
use running::{poll_until, Pipes, Running};

mod child;
mod running;

/// After the kill, how long output still held open is waited for.
const PIPE_GRACE: Duration = Duration::from_secs(1);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;
    use child::INHERITED;
    use nix::unistd::{Uid, User};

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
