//! The `exec` service: run a program directly, never through a shell.
//!
//! Optional user switch (uid, gid, supplementary groups, `HOME`/`USER`/`LOGNAME`), standard input
//! written then closed, a time limit after which the program is killed, and secrets shown as
//! `<redacted>` wherever the command line is logged or recorded.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::services::{
    Exec, ExecArg, ExecMany, ExecManyAnswer, ExecOutput, ExecResult, ServiceErrorKind,
    ServiceFailure,
};
use nix::unistd::{Gid, Uid, User};
use zeroize::Zeroize;

use super::{failure, io_failure, HostContext};

/// Output beyond this is cut, so a runaway program cannot exhaust memory.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

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
    let mut command = Command::new(&program);
    command
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    zeroize_all(&mut argv);
    if let Some(user) = &request.user {
        switch_user(&mut command, user)?;
    }
    Ok(Ok(Prepared {
        command,
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

/// Starts the command, feeds its input, collects its output, kills it when time is up.
fn execute(mut prepared: Prepared) -> Result<ExecOutput, ServiceFailure> {
    let program = prepared.program.clone();
    let mut child = prepared
        .command
        .spawn()
        .map_err(|e| io_failure("run", &program, e))?;
    let stdin_writer = {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let mut input = prepared.stdin.take().unwrap_or_default();
        thread::spawn(move || {
            // A program that exits without reading its input is not an error here.
            let _ = pipe.write_all(input.as_bytes());
            input.zeroize();
        })
    };
    let stdout = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    let status = wait_with_timeout(&mut child, prepared.timeout).map_err(|e| {
        failure(
            ServiceErrorKind::Failed,
            format!("waiting for {program} failed: {e}"),
        )
    })?;
    let _ = stdin_writer.join();
    let (stdout, stderr) = (join_output(stdout), join_output(stderr));
    let Some(status) = status else {
        return Err(failure(
            ServiceErrorKind::Timeout,
            format!(
                "{} did not finish within {} s and was killed",
                prepared.shown,
                prepared.timeout.as_secs_f64()
            ),
        ));
    };
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
                    eprintln!(
                        "[{}/{total}] {label}: {}",
                        done.1,
                        if ok { "done" } else { "FAILED" }
                    );
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

fn zeroize_all(words: &mut [String]) {
    for word in words {
        word.zeroize();
    }
}

/// Makes `command` run as `user`, with that user's groups and environment basics.
fn switch_user(command: &mut Command, user: &str) -> Result<(), ServiceFailure> {
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
    if Uid::effective() != entry.uid {
        if !Uid::effective().is_root() {
            return Err(failure(
                ServiceErrorKind::Denied,
                format!("running a command as {user} needs root"),
            ));
        }
        let name = std::ffi::CString::new(user)
            .map_err(|_| failure(ServiceErrorKind::Invalid, "a user name cannot contain NUL"))?;
        let groups: Vec<Gid> = nix::unistd::getgrouplist(&name, entry.gid).map_err(|e| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot read the groups of {user}: {e}"),
            )
        })?;
        let (uid, gid) = (entry.uid, entry.gid);
        // Groups, then group, then user, all in the child: std's own uid()/gid() would drop root
        // before a pre_exec hook could still call setgroups.
        // SAFETY: only plain system calls on memory prepared before the fork; nothing allocates.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                Ok(())
            });
        }
    }
    command
        .env("HOME", &entry.dir)
        .env("USER", user)
        .env("LOGNAME", user);
    Ok(())
}

fn read_all(pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join_output(handle: thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Waits for the child; kills it and answers `None` when the time is up.
fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::paths::SystemPaths;
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
}
