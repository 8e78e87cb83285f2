//! Text that came from elsewhere (Consul, LDAP, a file, a child program) on its way to a
//! terminal: the one escaping function every place uses where such text is shown, the host's
//! messages, confirmation lists, progress and log lines as well as the plugins' table cells.
//!
//! A node name holding `ESC ] ...` could retitle the admin's terminal, rewrite what is on the
//! screen or hide a line; a carriage return or a newline inside a name could forge a line of a
//! confirmation list, a log or a table. [`escape_controls`] shows every control character but
//! newline and tab as an escape (`\x1b`, `\r`); [`one_line`] escapes newlines too, for text that
//! must stay on its line (a log line, a table cell, an item of a list).

use std::borrow::Cow;
use std::fmt::Write;

fn is_control(c: char) -> bool {
    c != '\n' && c != '\t' && c.is_control()
}

/// `text` with every control character but newline and tab written as an escape (`\x1b`).
/// Colour codes too: a node named `x\x1b[8m` would hide the rest of a table; where the host
/// shows a plugin's colours (a terminal, no `NO_COLOR`) it uses [`escape_controls_keeping_colours`].
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    // Fast path for the common case (a 5,000-member table): C0 controls and DEL are single
    // bytes, and every C1 control starts with the byte 0xC2 in UTF-8.
    if !may_hold_controls(text.as_bytes()) || !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if is_control(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `bytes` hold a byte a control character starts with. Without early exit inside each
/// 64-byte block (`|` and `&`, not `||` and `&&`), so that the compiler can test a block's bytes
/// at once: a 2.4 MB `--format json` answer is scanned in a fraction of a millisecond.
fn may_hold_controls(bytes: &[u8]) -> bool {
    bytes.chunks(64).any(|block| {
        block.iter().fold(false, |found, &b| {
            found | ((b < 0x20) & (b != b'\n') & (b != b'\t')) | (b == 0x7f) | (b == 0xc2)
        })
    })
}

/// The select graphic renditions a plugin may colour its output with, when the admin's terminal
/// takes colour: reset, bold, and the eight foreground colours. Nothing that hides text
/// (conceal, a foreground equal to the background is not expressible with these alone), moves
/// the cursor or talks to the terminal.
const ALLOWED_COLOURS: [&str; 10] = [
    "\x1b[0m", "\x1b[1m", "\x1b[30m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m",
    "\x1b[36m", "\x1b[37m",
];

/// [`escape_controls`], but the colour codes of [`ALLOWED_COLOURS`] pass as they are: what the
/// host uses for a plugin's standard output when colour is on (doctor's `OK`/`WARN`/`FAIL`).
/// Untrusted text inside a plugin's output has been put through [`one_line`] by the plugin
/// already, so a hostile name's codes arrive escaped; this is the second line of defence, and
/// at worst such a name is coloured.
pub fn escape_controls_keeping_colours(text: &str) -> Cow<'_, str> {
    if !text.contains('\x1b') {
        return escape_controls(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&escape_controls(&rest[..at]));
        let tail = &rest[at..];
        match ALLOWED_COLOURS.iter().find(|code| tail.starts_with(*code)) {
            Some(code) => {
                out.push_str(code);
                rest = &tail[code.len()..];
            }
            None => {
                out.push_str("\\x1b");
                rest = &tail[1..];
            }
        }
    }
    out.push_str(&escape_controls(rest));
    Cow::Owned(out)
}

/// `text` on one line: controls escaped, and line breaks too (`\n`), so that it cannot forge
/// another line of a log, a list or a table. Tabs are kept.
pub fn one_line(text: &str) -> Cow<'_, str> {
    match escape_controls(text) {
        Cow::Borrowed(clean) if !clean.contains('\n') => Cow::Borrowed(clean),
        escaped => Cow::Owned(escaped.replace('\n', "\\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        let hostile = "node\u{1b}]0;pwned\u{7}\r\u{1b}[8mx\u{9b}y";
        assert_eq!(
            escape_controls(hostile),
            "node\\x1b]0;pwned\\x07\\r\\x1b[8mx\\x9by"
        );
        assert_eq!(escape_controls("a\tb\nc"), "a\tb\nc");
        assert!(matches!(
            escape_controls("plain table é\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(one_line("forged\nERROR x\r"), "forged\\nERROR x\\r");
        assert!(matches!(one_line("plain é"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_plain_colours_pass_when_colour_is_on() {
        let painted = "\u{1b}[32mok\u{1b}[0m \u{1b}[31mFAIL\u{1b}[0m";
        assert_eq!(escape_controls_keeping_colours(painted), painted);
        // Conceal, cursor moves, titles and a lone ESC stay escaped.
        assert_eq!(
            escape_controls_keeping_colours("a\u{1b}[8mb\u{1b}[2Jc\u{1b}]0;t\u{7}\u{1b}"),
            "a\\x1b[8mb\\x1b[2Jc\\x1b]0;t\\x07\\x1b"
        );
        assert!(matches!(
            escape_controls_keeping_colours("no colour\n"),
            Cow::Borrowed(_)
        ));
    }
}
