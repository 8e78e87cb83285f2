//! The column layout of the Consul CLI (ryanuber/columnize, glue of two spaces): every column
//! but the last is padded to its widest cell and columns are joined by two spaces. Like
//! columnize, nothing else is trimmed: an empty last cell leaves the padding and glue before it.
//!
//! Cells hold names from Consul and LDAP: each is put on one line by
//! [`crate::untrusted::one_line`] (a newline in a node name would forge rows, an escape
//! sequence rewrite the screen). Cells without control characters are kept as they are, so
//! tables stay byte for byte what the Consul CLI prints.

use std::borrow::Cow;

use crate::consul::version::{AgentVersion, LONG_DENIALS};

/// How columnize measures a cell. Consul up to 1.11 vendors ryanuber/columnize v2.1.0, which
/// takes a column's width in bytes while Go's `%-Ns` pads to N characters, so a row with
/// non-ASCII text gets more padding than its neighbours; from 1.12 (v2.1.2, "Calculate string
/// width based on runes") widths are characters and such rows line up. ASCII tables are the
/// same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Widths {
    /// A cell's width is its length in bytes (Consul up to 1.11).
    Bytes,
    /// A cell's width is its number of characters (Consul 1.12 and later).
    Chars,
}

impl Widths {
    /// The measure of the CLI of `version`.
    pub fn of(version: &AgentVersion) -> Widths {
        if version.has(&LONG_DENIALS) {
            Widths::Chars
        } else {
            Widths::Bytes
        }
    }

    fn measure(self, cell: &str) -> usize {
        match self {
            Widths::Bytes => cell.len(),
            Widths::Chars => cell.chars().count(),
        }
    }
}

/// Rows of cells rendered like `consul members` or `consul catalog nodes`. Cells may borrow
/// (`&str`) or own (`String`) their text: a 5,000-row table need not copy every cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table<'a> {
    rows: Vec<Vec<Cow<'a, str>>>,
}

impl<'a> Table<'a> {
    /// A table whose first row is `header`.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'a, str>>,
    {
        let mut table = Table::default();
        table.push(header);
        table
    }

    /// A table without a header row.
    pub fn headless() -> Self {
        Table::default()
    }

    /// Adds a row (as many cells as the header has).
    pub fn push<I, S>(&mut self, row: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'a, str>>,
    {
        self.rows.push(
            row.into_iter()
                .map(|cell| one_line_cell(cell.into()))
                .collect(),
        );
    }

    /// Whether every cell is ASCII (then [`Widths`] makes no difference).
    pub fn is_ascii(&self) -> bool {
        self.rows.iter().flatten().all(|cell| cell.is_ascii())
    }

    /// The rendered table as Consul 1.12 and later print it, every line ending in `\n`.
    pub fn render(&self) -> String {
        self.render_as(Widths::Chars)
    }

    /// The rendered table, columns measured as `widths` says, every line ending in `\n`.
    pub fn render_as(&self, measure: Widths) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        let mut total = 0;
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(measure.measure(cell));
            }
        }
        for row in &self.rows {
            total += widths.iter().take(row.len()).sum::<usize>() + 2 * row.len() + 1;
        }
        let mut out = String::with_capacity(total);
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                if i + 1 < row.len() {
                    // Go's fmt pads to a width in characters, whatever the width was measured in.
                    let pad = widths[i] - cell.chars().count();
                    push_spaces(&mut out, pad);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// `count` spaces, copied in blocks (not pushed a character at a time: a 5,000-row table pads
/// 40,000 cells).
fn push_spaces(out: &mut String, mut count: usize) {
    const SPACES: &str = "                                                                ";
    while count > 0 {
        let block = count.min(SPACES.len());
        out.push_str(&SPACES[..block]);
        count -= block;
    }
}

/// `cell` on one line (see the module documentation); borrowed cells stay borrowed when clean.
fn one_line_cell(cell: Cow<'_, str>) -> Cow<'_, str> {
    let escaped = match crate::untrusted::one_line(&cell) {
        Cow::Borrowed(_) => None,
        Cow::Owned(escaped) => Some(escaped),
    };
    escaped.map_or(cell, Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_consul_members_layout() {
        let mut table = Table::new(["Node", "Address", "Status"]);
        table.push(["srv1.example.com", "192.168.56.101:8301", "alive"]);
        table.push(["proxy.example.com", "192.168.56.111:8301", "failed"]);
        assert_eq!(
            table.render(),
            "Node               Address              Status\n\
             srv1.example.com   192.168.56.101:8301  alive\n\
             proxy.example.com  192.168.56.111:8301  failed\n"
        );
    }

    #[test]
    fn an_empty_last_cell_keeps_padding_and_glue_like_columnize() {
        let mut table = Table::headless();
        table.push(["carbonio-proxy", "http,https"]);
        table.push(["consul", ""]);
        assert_eq!(
            table.render(),
            "carbonio-proxy  http,https\nconsul          \n"
        );
    }

    #[test]
    fn widths_count_characters_from_1_12_and_bytes_before() {
        let mut table = Table::new(["Nœud", "X"]);
        table.push(["a", "b"]);
        assert!(!table.is_ascii());
        assert_eq!(table.render(), "Nœud  X\na     b\n");
        // columnize v2.1.0: the column is 5 bytes wide, `Nœud` is 4 characters.
        assert_eq!(table.render_as(Widths::Bytes), "Nœud   X\na      b\n");
        let of = |v: &str| Widths::of(&AgentVersion::parse(v).unwrap());
        assert_eq!(
            (of("1.9.3"), of("1.10.12"), of("1.19.1"), of("1.21.4")),
            (Widths::Bytes, Widths::Bytes, Widths::Chars, Widths::Chars)
        );
    }

    #[test]
    fn wide_padding_is_exact() {
        let mut out = String::new();
        push_spaces(&mut out, 150);
        assert_eq!(out, " ".repeat(150));
    }

    #[test]
    fn a_node_name_cannot_forge_rows_or_rewrite_the_screen() {
        // Issue 24, item 6: a newline in a node name forged rows of doctor's table.
        let mut table = Table::new(["Node", "Status"]);
        table.push(["evil\nserver-x  ok\u{1b}[2J\r", "fail"]);
        let text = table.render();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            text.contains("evil\\nserver-x  ok\\x1b[2J\\r  fail"),
            "{text}"
        );
    }

    #[test]
    fn empty_table_renders_nothing() {
        assert_eq!(Table::headless().render(), "");
    }
}
