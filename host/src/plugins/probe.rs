//! Loading plugins for the inventory (`plugins list|check`, `--help`, `generate`) in a child
//! process, so that a plugin that crashes the process that loads it (a segfault in its ELF
//! constructor, an `abort()` in its manifest) takes down only its own probe, and the listing names
//! it instead of dying with it.
//!
//! The child is this binary again (`/proc/self/exe`, so a binary replaced since it started is not
//! what runs), given a hidden first argument, a clean environment, `/dev/null` as standard input,
//! its own process group and a deadline. It repeats the trust checks itself (the parent has
//! already refused what fails them, without spawning anything), loads the file, and answers with
//! the manifest facts as one JSON value on its standard output.
//!
//! Running a command never goes through here: `run` loads its one plugin in-process, as fast as
//! before, and `crate::plugins::crash` names the plugin if it crashes there.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use carbonio_mesh_plugin_api::Manifest;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::exit;
use crate::plugins::loader;
use crate::plugins::trust::{self, Opened, TrustPolicy};

/// The hidden first argument that makes `carbonio-mesh` a probe: `__probe-plugin NAME PATH`.
/// It cannot be a plugin's name (those are lower-case words joined by dashes).
pub const CHILD_ARG: &str = "__probe-plugin";

/// How long one probe may take. Loading a plugin takes about a millisecond; this is for a plugin
/// that hangs while loading, and is generous so that a busy machine never makes a plugin look
/// hung.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the probe found out about one plugin file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probed {
    /// It loaded: its manifest, which the inventory shows and `generate` needs.
    Loaded(Box<Manifest>),
    /// It became a mask (emptied or replaced by a link to /dev/null) after the parent looked.
    Masked,
    /// It may not or cannot be used: the status shown, and how to fix it.
    Refused { status: String, fix: String },
}

/// What one probe found, and whether it says something lasting about the file: a child that
/// could not be started, or was killed at the deadline, says nothing a later run could reuse.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub probed: Probed,
    pub lasting: bool,
}

/// Probes each `(name, path)` (files that passed the parent's trust checks) in a child of its
/// own, a few at a time, and gives the results in the same order.
pub fn probe_all(plugins: &[(&str, &Path)]) -> Vec<Probe> {
    // The probes are independent; running them side by side hides most of the process starts.
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, plugins.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Probe>> = vec![None; plugins.len()];
    std::thread::scope(|scope| {
        let worker = || {
            let mut done = Vec::new();
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, path)) = plugins.get(at) else {
                    return done;
                };
                done.push((at, probe(name, path)));
            }
        };
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        for handle in handles {
            for (at, probed) in handle.join().expect("a probe worker does not panic") {
                results[at] = Some(probed);
            }
        }
    });
    results
        .into_iter()
        .map(|probed| probed.expect("every plugin is probed once"))
        .collect()
}

/// A command for a child that inherits nothing but its arguments and answers on a pipe, in a
/// process group of its own so that a timeout kills whatever it started too.
fn child_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    command
}

fn probe(name: &str, path: &Path) -> Probe {
    let spawned = child_command("/proc/self/exe")
        .arg(CHILD_ARG)
        .arg(name)
        .arg(path)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            return Probe {
                probed: Probed::Refused {
                    status: format!("cannot be probed: starting /proc/self/exe failed: {error}"),
                    fix: "carbonio-mesh loads plugins for listing in a copy of itself: check that /proc is mounted".to_owned(),
                },
                lasting: false,
            }
        }
    };
    let ended = collect(&mut child, Instant::now() + TIMEOUT);
    // Only a child that ended by itself (answering or not, crashing or not) judged the file.
    let lasting = matches!(ended, Ok(Some(_)));
    let probed = verdict(path, ended);
    let understood =
        !matches!(&probed, Probed::Refused { status, .. } if status.starts_with(NOT_UNDERSTOOD));
    Probe {
        probed,
        lasting: lasting && understood,
    }
}

/// How a verdict begins when the child's answer could not be read (a bug, never kept).
const NOT_UNDERSTOOD: &str = "the probe's answer is not understood";

/// How a child ended: its status and everything it wrote, or `None` when it was killed at the
/// deadline.
type Ended = io::Result<Option<(ExitStatus, Vec<u8>)>>;

/// Reads the child's answer and reaps it; at `deadline`, kills its process group instead.
fn collect(child: &mut Child, deadline: Instant) -> Ended {
    let mut stdout = child.stdout.take().expect("the child's stdout is piped");
    let mut answer = Vec::new();
    if read_until(&mut stdout, &mut answer, deadline)? {
        if let Some(status) = wait_until(child, deadline)? {
            return Ok(Some((status, answer)));
        }
    }
    // The child is not reaped yet, so its process group id cannot have been reused.
    let group = Pid::from_raw(child.id() as i32);
    if killpg(group, Signal::SIGKILL).is_err() {
        child.kill()?;
    }
    child.wait()?;
    Ok(None)
}

/// Reads `pipe` to its end; `false` if `deadline` came first.
fn read_until(pipe: &mut ChildStdout, into: &mut Vec<u8>, deadline: Instant) -> io::Result<bool> {
    let mut buffer = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // Rounded up: poll counts whole milliseconds, and 0 would not wait at all.
        let timeout = PollTimeout::try_from(left.as_millis() + 1).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)], timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
        match pipe.read(&mut buffer) {
            Ok(0) => return Ok(true),
            Ok(n) => into.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Reaps the child, or gives `None` at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    // The answer is complete, so the child is already exiting: usually the first nap suffices.
    // The naps grow so that a child hanging in its exit handlers does not keep us spinning.
    let mut nap = Duration::from_micros(50);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}

/// What the inventory says about a probe that ended as `ended`.
fn verdict(path: &Path, ended: Ended) -> Probed {
    let report = "report this to the plugin's author; remove or mask the plugin meanwhile";
    let refused = |status: String, fix: String| Probed::Refused { status, fix };
    let (status, answer) = match ended {
        Ok(Some(ended)) => ended,
        Ok(None) => {
            return refused(
                format!("did not load within {} s (killed)", TIMEOUT.as_secs()),
                format!("{} hangs when loaded: {report}", path.display()),
            )
        }
        Err(error) => {
            return refused(
                format!("cannot be probed: {error}"),
                "try again; if it persists, report it to carbonio-mesh's maintainers".to_owned(),
            )
        }
    };
    // Before the answer: a plugin that answered and then crashed while the process exited would
    // crash every command too.
    if let Some(signal) = status.signal() {
        return refused(
            format!("crashed (signal {signal})"),
            format!(
                "{} crashes the process that loads it: {report}",
                path.display()
            ),
        );
    }
    // A plugin may also end the process itself (exit() in a constructor), even with status 0.
    if let Some(code) = status.code().filter(|&code| code != 0 || answer.is_empty()) {
        return refused(
            format!("the probe exited with status {code} without an answer"),
            format!(
                "{} ends the process that loads it: {report}",
                path.display()
            ),
        );
    }
    serde_json::from_slice(&answer).unwrap_or_else(|error| {
        refused(
            format!("{NOT_UNDERSTOOD}: {error}"),
            "this is a bug in carbonio-mesh: report it".to_owned(),
        )
    })
}

/// The child: `carbonio-mesh __probe-plugin NAME PATH` (the arguments after [`CHILD_ARG`]).
pub fn answer_in_child(args: &[OsString]) -> ExitCode {
    // Its own process group keeps a terminal's Ctrl-C from reaching the child; this makes it
    // die with the parent instead of lingering.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let [name, path] = args else {
        eprintln!("carbonio-mesh: internal error: {CHILD_ARG} takes NAME PATH");
        return ExitCode::from(exit::USAGE);
    };
    let Some(name) = name.to_str() else {
        eprintln!("carbonio-mesh: internal error: the plugin name is not UTF-8");
        return ExitCode::from(exit::USAGE);
    };
    let written = answer_channel().and_then(|mut answer| {
        let probed = probe_here(name, Path::new(path));
        let json = serde_json::to_vec(&probed).expect("a probe answer always encodes");
        answer.write_all(&json)
    });
    match written {
        Ok(()) => ExitCode::from(exit::OK),
        Err(_) => ExitCode::from(exit::FAILURE),
    }
}

/// Standard output, moved to a descriptor of its own, with /dev/null put in its place: whatever
/// the plugin prints while it loads cannot corrupt the answer.
fn answer_channel() -> io::Result<File> {
    let answer = io::stdout().as_fd().try_clone_to_owned()?;
    let null = File::options().write(true).open("/dev/null")?;
    nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1)?;
    Ok(File::from(answer))
}

/// The trust checks again (the file may have changed since the parent looked), then the load.
fn probe_here(name: &str, path: &Path) -> Probed {
    let file = match trust::open_trusted(&TrustPolicy::for_current_user(), path) {
        Ok(Opened::Trusted(file)) => file,
        Ok(Opened::Masked) => return Probed::Masked,
        Err(refusal) => {
            return Probed::Refused {
                status: refusal.to_string(),
                fix: refusal.fix(),
            }
        }
    };
    match loader::load(file, name) {
        Ok(plugin) => Probed::Loaded(Box::new(plugin.manifest)),
        Err(error) => Probed::Refused {
            status: error.to_string(),
            fix: error.fix(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::StepSpec;

    fn shell(script: &str) -> Child {
        child_command("sh").arg("-c").arg(script).spawn().unwrap()
    }

    fn ended_by(script: &str, within: Duration) -> Probed {
        let mut child = shell(script);
        verdict(
            Path::new("/p/x.so"),
            collect(&mut child, Instant::now() + within),
        )
    }

    #[test]
    fn a_child_killed_by_a_signal_is_a_crash_naming_the_file() {
        let Probed::Refused { status, fix } = ended_by("kill -SEGV $$", TIMEOUT) else {
            panic!("not refused")
        };
        assert_eq!(status, "crashed (signal 11)");
        assert!(fix.starts_with("/p/x.so crashes the process"), "{fix}");
    }

    /// Whether process `pid` is still running (a killed one may linger as a zombie until its new
    /// parent reaps it).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    }

    #[test]
    fn a_hung_child_and_what_it_started_are_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let started = Instant::now();
        // The background sleep holds the pipe open too, as a daemon started by a plugin would.
        let probed = ended_by(
            &format!("sleep 30 & echo $! > {}; sleep 30", pid_file.display()),
            Duration::from_millis(300),
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let Probed::Refused { status, .. } = probed else {
            panic!("not refused")
        };
        assert_eq!(status, "did not load within 5 s (killed)");
        let pid = std::fs::read_to_string(pid_file).unwrap();
        let pid = pid.trim();
        let gone_by = Instant::now() + Duration::from_secs(5);
        while running(pid) && Instant::now() < gone_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pid), "the background process {pid} survived");
    }

    #[test]
    fn an_answer_is_read_whole_and_an_exit_without_one_is_reported() {
        let loaded = Probed::Loaded(Box::new(
            Manifest::new("x", "1.2.3", "d")
                .with_step(StepSpec::new("s", "a step"))
                .exit_code(6, "six"),
        ));
        let json = serde_json::to_string(&loaded).unwrap();
        assert_eq!(ended_by(&format!("echo '{json}'"), TIMEOUT), loaded);
        for (script, code) in [("exit 3", 3), ("exit 0", 0)] {
            let Probed::Refused { status, fix } = ended_by(script, TIMEOUT) else {
                panic!("{script}: not refused")
            };
            assert_eq!(
                status,
                format!("the probe exited with status {code} without an answer")
            );
            assert!(fix.starts_with("/p/x.so ends the process"), "{fix}");
        }
    }
}
