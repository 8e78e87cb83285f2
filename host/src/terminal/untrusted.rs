//! Text that came from elsewhere (Consul, LDAP, a child program) on its way to a terminal.
//!
//! A node name holding `ESC ] ...` could retitle the admin's terminal, rewrite what is on the
//! screen, or hide a line; a 20 MB error body would scroll everything else away. So everything
//! the host prints goes through [`escape_controls`] (control characters shown as `\x1b`, `\r`...;
//! only newline and tab kept), every line that must stay one line (log lines, progress lines,
//! the items a confirmation lists) through [`one_line`], and echoed bodies through [`excerpt`].
//! The escaping functions are plugin-api's (`carbonio_mesh_plugin_api::untrusted`), so that
//! plugins' table cells are escaped by the same code.

use std::borrow::Cow;

pub use carbonio_mesh_plugin_api::untrusted::{
    escape_controls, escape_controls_keeping_colours, one_line,
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_with_a_count() {
        let body = "é".repeat(1000);
        let cut = excerpt(&body, 1001);
        assert!(cut.ends_with("... (1000 more bytes)"), "{cut}");
        assert_eq!(excerpt("short", 10), "short");
    }
}
