//! Questions on the controlling terminal (`/dev/tty`), never on standard input or output: those
//! may be pipes carrying data (`--password-stdin`, `$(carbonio-mesh credentials token)`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};
use zeroize::Zeroizing;

/// The controlling terminal, when there is one.
fn tty() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open("/dev/tty")
}

/// Whether a question can be asked at all.
pub fn available() -> bool {
    tty().is_ok()
}

/// Puts the terminal's echo back when dropped, even on an early return.
struct EchoOff<'a> {
    tty: &'a File,
    saved: Termios,
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.saved);
    }
}

/// Reads one line (without its newline) from `source`, byte by byte so nothing after the line is
/// consumed, into memory that is wiped when dropped.
pub fn read_line(mut source: impl Read) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match source.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if line.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the line is too long",
            ));
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Asks for a secret with echo off.
pub fn read_hidden(prompt: &str) -> io::Result<Zeroizing<Vec<u8>>> {
    let tty = tty()?;
    let saved = termios::tcgetattr(&tty).map_err(io::Error::from)?;
    let mut silent = saved.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    silent.local_flags.insert(LocalFlags::ECHONL);
    // Echo goes off before the prompt shows: whatever is typed once it is visible stays hidden.
    termios::tcsetattr(&tty, SetArg::TCSAFLUSH, &silent).map_err(io::Error::from)?;
    let _restore = EchoOff { tty: &tty, saved };
    (&tty).write_all(prompt.as_bytes())?;
    read_line(&tty)
}

/// Shows `changes` and asks `question`; true only for an explicit yes.
pub fn confirm(changes: &[String], question: &str) -> io::Result<bool> {
    let mut tty = tty()?;
    tty.write_all(confirmation(changes, question).as_bytes())?;
    let answer = read_line(&tty)?;
    let answer = String::from_utf8_lossy(&answer).trim().to_ascii_lowercase();
    Ok(matches!(answer.as_str(), "y" | "yes"))
}

/// The list of changes and the question, as shown: each item on its own line with control
/// characters shown, not obeyed (the items quote node names and paths from elsewhere, which
/// could otherwise rewrite or hide what the admin agrees to).
fn confirmation(changes: &[String], question: &str) -> String {
    let mut text = String::new();
    for change in changes {
        text.push_str("  - ");
        text.push_str(&crate::terminal::untrusted::one_line(change));
        text.push('\n');
    }
    text.push_str(&crate::terminal::untrusted::one_line(question));
    text.push_str(" [y/N] ");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stops_at_the_newline_and_leaves_the_rest() {
        let mut input: &[u8] = b"first secret\r\nsecond\n";
        assert_eq!(&read_line(&mut input).unwrap()[..], b"first secret");
        assert_eq!(input, b"second\n");
        let mut last: &[u8] = b"no newline";
        assert_eq!(&read_line(&mut last).unwrap()[..], b"no newline");
    }

    #[test]
    fn a_change_cannot_forge_another_line_of_the_list() {
        let shown = confirmation(
            &["force-leave evil\r\u{1b}[1A  - nothing\nreally".to_owned()],
            "Go?",
        );
        assert_eq!(
            shown,
            "  - force-leave evil\\r\\x1b[1A  - nothing\\nreally\nGo? [y/N] "
        );
    }
}
