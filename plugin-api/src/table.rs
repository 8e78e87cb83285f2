//! The column layout of the Consul CLI (ryanuber/columnize v2.1.0, glue of two spaces): every
//! column but the last is padded to its widest cell and columns are joined by two spaces. Like
//! columnize, nothing else is trimmed: an empty last cell leaves the padding and glue before it.

use std::borrow::Cow;

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
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    /// The rendered table, every line ending in `\n`.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        let mut total = 0;
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
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
                    let pad = widths[i] - cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
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
    fn widths_count_characters_not_bytes() {
        let mut table = Table::new(["Nœud", "X"]);
        table.push(["a", "b"]);
        assert_eq!(table.render(), "Nœud  X\na     b\n");
    }

    #[test]
    fn empty_table_renders_nothing() {
        assert_eq!(Table::headless().render(), "");
    }
}
