//! Text that came from elsewhere (Consul, LDAP, a child program) on its way to a terminal.
//!
//! A node name holding `ESC ] ...` could retitle the admin's terminal, rewrite what is on the
//! screen, or hide a line; a 20 MB error body would scroll everything else away. So everything
//! the host prints goes through [`escape_controls`] (control characters shown as `\x1b`, `\r`...;
//! only newline and tab kept, and colour codes when colour is on), and echoed bodies through
//! [`excerpt`].

use std::borrow::Cow;
use std::fmt::Write;

/// How much of a body an error message echoes.
pub const ECHOED_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes (on a character boundary), saying how much was left out.
pub fn excerpt(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}... ({} more bytes)",
        &text[..end],
        text.len() - end
    ))
}

fn is_control(c: char) -> bool {
    c != '\n' && c != '\t' && (c.is_control())
}

/// The length of the SGR colour sequence (`ESC [ digits;... m`) at the start of `rest`, if any.
fn sgr_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix("\u{1b}[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

/// `text` with every control character but newline and tab written as an escape (`\x1b`);
/// with `keep_colour`, SGR colour sequences are kept as they are.
pub fn escape_controls(text: &str, keep_colour: bool) -> Cow<'_, str> {
    // Fast path for the common case (a 5,000-member table): C0 controls and DEL are single
    // bytes, and every C1 control starts with the byte 0xC2 in UTF-8.
    let suspicious = |b: &u8| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f || *b == 0xc2;
    if !text.as_bytes().iter().any(suspicious) || !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' && keep_colour {
            if let Some(len) = sgr_len(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        match c {
            '\r' => out.push_str("\\r"),
            c if is_control(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        let hostile = "node\u{1b}]0;pwned\u{7}\r\u{1b}[2Jx\u{9b}y";
        assert_eq!(
            escape_controls(hostile, false),
            "node\\x1b]0;pwned\\x07\\r\\x1b[2Jx\\x9by"
        );
        assert_eq!(escape_controls("a\tb\nc", false), "a\tb\nc");
        assert!(matches!(
            escape_controls("plain table\n", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("\u{1b}[1;31mred\u{1b}[0m \u{1b}[2J", true),
            "\u{1b}[1;31mred\u{1b}[0m \\x1b[2J"
        );
    }

    #[test]
    fn long_bodies_are_cut_with_a_count() {
        let body = "é".repeat(1000);
        let cut = excerpt(&body, 1001);
        assert!(cut.ends_with("... (1000 more bytes)"), "{cut}");
        assert_eq!(excerpt("short", 10), "short");
    }
}
