//! Naming the plugin when it crashes the process while a command runs.
//!
//! `run` loads its one plugin in-process (speed), so a plugin that segfaults or aborts takes the
//! host with it, and a bare "Segmentation fault" names nobody. While a [`CrashReport`] is armed,
//! the fatal signals first write one pre-formatted line naming the plugin and its file to
//! standard error, then get their default action back and are raised again, so the exit status
//! still says which signal it was (and a core is dumped where that is configured).
//!
//! A signal handler may only do async-signal-safe things: no allocation, no locks, no `std::io`.
//! Every message is therefore formatted before the plugin is called, and the handler only looks
//! one up and hands it to write(2).

use std::marker::PhantomData;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use nix::libc::{self, c_int};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The signals a crashing plugin dies of.
const FATAL: [Signal; 5] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGILL,
    Signal::SIGFPE,
];

/// One message per signal in [`FATAL`], in the same order.
type Messages = [Box<[u8]>; FATAL.len()];

/// The messages of the armed report, or null. Only [`Armed`] sets it, and it points into the
/// report that `Armed` borrows, so it is valid whenever it is not null.
static ARMED: AtomicPtr<Messages> = AtomicPtr::new(ptr::null_mut());

/// What to say if plugin `name` from `path` crashes the process.
pub struct CrashReport {
    messages: Messages,
}

impl CrashReport {
    pub fn new(name: &str, path: &Path) -> Self {
        CrashReport {
            messages: FATAL.map(|signal| {
                format!(
                    "carbonio-mesh: error: plugin '{name}' ({}) crashed with {}; nothing more was done by carbonio-mesh\n  fix: this is a bug in the plugin: report it to its author; remove or mask the plugin meanwhile\n",
                    path.display(),
                    signal.as_str()
                )
                .into_bytes()
                .into_boxed_slice()
            }),
        }
    }

    /// Runs `work` (loading the plugin, calling it) with the report armed. Outside such calls the
    /// default behaviour is back, so a crash in the host's own code is not blamed on the plugin.
    pub fn during<T>(&self, work: impl FnOnce() -> T) -> T {
        let _armed = Armed::arm(self);
        work()
    }
}

/// The report installed as the fatal signals' handler; the previous handlers come back on drop
/// (std's own SIGSEGV/SIGBUS handler reports stack overflows).
struct Armed<'a> {
    previous: Vec<(Signal, SigAction)>,
    /// The report armed before this one (a plugin loaded for its step while the running plugin
    /// is armed): it is armed again on drop.
    outer: *mut Messages,
    _report: PhantomData<&'a CrashReport>,
}

impl<'a> Armed<'a> {
    fn arm(report: &'a CrashReport) -> Self {
        let outer = ARMED.swap(ptr::from_ref(&report.messages).cast_mut(), Ordering::AcqRel);
        // SA_ONSTACK: a stack overflow in the plugin is reported too, from the alternate signal
        // stack std sets up for each thread.
        let action = SigAction::new(
            SigHandler::Handler(report_and_die),
            SaFlags::SA_ONSTACK,
            SigSet::empty(),
        );
        let previous = FATAL
            .iter()
            .filter_map(|&signal| {
                // SAFETY: the handler only calls async-signal-safe functions (see below).
                unsafe { sigaction(signal, &action) }
                    .ok()
                    .map(|old| (signal, old))
            })
            .collect();
        Armed {
            previous,
            outer,
            _report: PhantomData,
        }
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: puts back the handler that was there before `arm`.
            let _ = unsafe { sigaction(*signal, old) };
        }
        // The outer `Armed` outlives this one (they nest on one thread), so its report is alive.
        ARMED.store(self.outer, Ordering::Release);
    }
}

/// The handler: the message for `signal`, then death by the same signal.
extern "C" fn report_and_die(signal: c_int) {
    let messages = ARMED.load(Ordering::Acquire);
    // SAFETY: not null means an `Armed` is alive and borrows the report this points into.
    if let Some(messages) = unsafe { messages.as_ref() } {
        if let Some(at) = FATAL.iter().position(|&s| s as c_int == signal) {
            write_all(libc::STDERR_FILENO, &messages[at]);
        }
    }
    // SAFETY: signal(2) and raise(3) are async-signal-safe. The signal is blocked while this
    // handler runs, so the raised one is delivered, with the default action, as it returns; a
    // faulting instruction would fault again anyway.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// write(2) until done; a handler has nowhere to report a failure to.
fn write_all(fd: c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice; write(2) is async-signal-safe.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match written {
            n if n > 0 => bytes = &bytes[n as usize..],
            -1 if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_names_the_plugin_the_file_and_its_signal() {
        let report = CrashReport::new("members", Path::new("/usr/lib/p/members.so"));
        let text = String::from_utf8(report.messages[0].to_vec()).unwrap();
        assert!(
            text.starts_with(
                "carbonio-mesh: error: plugin 'members' (/usr/lib/p/members.so) crashed with SIGSEGV;"
            ),
            "{text}"
        );
        assert!(text.ends_with("meanwhile\n"), "{text}");
        let abort = String::from_utf8(report.messages[2].to_vec()).unwrap();
        assert!(abort.contains("crashed with SIGABRT;"), "{abort}");
    }

    /// The handler installed for `signal` now, left as it is.
    fn handler_of(signal: Signal) -> libc::sighandler_t {
        let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only reads the current one.
        unsafe { libc::sigaction(signal as c_int, ptr::null(), current.as_mut_ptr()) };
        // SAFETY: zeroed is a valid sigaction, and sigaction(2) filled it in.
        unsafe { current.assume_init() }.sa_sigaction
    }

    #[test]
    fn the_report_is_armed_only_during_the_work() {
        let before = handler_of(Signal::SIGFPE);
        let report = CrashReport::new("p", Path::new("/p.so"));
        report.during(|| {
            assert_eq!(
                handler_of(Signal::SIGFPE),
                report_and_die as extern "C" fn(c_int) as libc::sighandler_t
            );
            assert!(!ARMED.load(Ordering::Acquire).is_null());
        });
        assert_eq!(handler_of(Signal::SIGFPE), before);
        assert!(ARMED.load(Ordering::Acquire).is_null());
    }
}
