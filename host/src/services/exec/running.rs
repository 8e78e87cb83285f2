//! A started child watched to its end: its process group signalled only while it is unreaped,
//! its input fed and its output collected on threads of their own, pauses that grow while it
//! is waited for.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use zeroize::Zeroize;

/// Output beyond this is cut, so a runaway program cannot exhaust memory.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

/// Between SIGTERM and SIGKILL at the time limit: time for the program to clean up.
const KILL_GRACE: Duration = Duration::from_secs(3);

/// A started program, leader of its own process group. The group is signalled only while the
/// program is unreaped: until then its pid, which is the group's id, cannot be reused, so a
/// signal never reaches a stranger. Dropped unreaped (an error on the way), it is killed and
/// reaped with its group.
pub(super) struct Running {
    pub(super) child: Child,
    reaped: bool,
}

impl Running {
    pub(super) fn start(command: &mut Command) -> io::Result<Running> {
        Ok(Running {
            child: command.spawn()?,
            reaped: false,
        })
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Whether the program has exited; it stays unreaped.
    pub(super) fn exited(&self) -> io::Result<bool> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let status = waitid(Id::Pid(self.group()), flags)?;
        Ok(!matches!(status, WaitStatus::StillAlive))
    }

    /// SIGTERM to the whole group, then SIGKILL once the program has exited (what it started may
    /// ignore SIGTERM) or [`KILL_GRACE`] has passed.
    pub(super) fn kill_group(&self) {
        let _ = killpg(self.group(), Signal::SIGTERM);
        let _ = poll_until(Instant::now() + KILL_GRACE, || self.exited());
        let _ = killpg(self.group(), Signal::SIGKILL);
    }

    pub(super) fn reap(mut self) -> io::Result<ExitStatus> {
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
pub(super) struct Pipes {
    input: JoinHandle<()>,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Pipes {
    pub(super) fn start(child: &mut Child, input: Option<String>) -> Pipes {
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
    pub(super) fn closed_by(&self, deadline: Instant) -> bool {
        let closed = || {
            Ok(self.input.is_finished() && self.stdout.is_finished() && self.stderr.is_finished())
        };
        matches!(poll_until(deadline, closed), Ok(true))
    }

    /// The output collected. A thread still blocked (its pipe held by something that left the
    /// group) is left to end when that lets go; what it reads is lost.
    pub(super) fn output(self) -> (String, String) {
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
pub(super) fn poll_until(
    deadline: Instant,
    mut done: impl FnMut() -> io::Result<bool>,
) -> io::Result<bool> {
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
