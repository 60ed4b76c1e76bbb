//! Column alignment exactly like the Docker CLI's tables (`docker images`, `docker ps`, …).
//!
//! Docker writes tab-separated lines through `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`:
//! Go's elastic tabstops with minwidth 10, padding 3, space padding. Cells are tab-*terminated*:
//! the text after a line's last tab belongs to no column and is never padded, and a column
//! only spans a contiguous run of lines that have a cell in it. Each column is as wide as
//! `max(minwidth, widest cell + padding)`; widths count terminal columns (East Asian wide = 2),
//! like the `go-runewidth`-based fork Docker uses.

use std::io::Write;

use tabwriter::TabWriter;

/// Go tabwriter `minwidth` used by the Docker CLI.
pub const MIN_WIDTH: usize = 10;
/// Go tabwriter `padding` used by the Docker CLI.
pub const PADDING: usize = 3;

/// Aligns tab-separated `text` the way Docker's table writer does; newlines end rows.
///
/// The `tabwriter` crate computes `max(minwidth, cell) + padding` where Go computes
/// `max(minwidth, cell + padding)`, so the crate gets `MIN_WIDTH - PADDING` to match Go.
pub fn align(text: &str) -> String {
    let mut writer = TabWriter::new(Vec::with_capacity(text.len() * 2))
        .minwidth(MIN_WIDTH - PADDING)
        .padding(PADDING)
        .ansi(false);
    writer
        .write_all(text.as_bytes())
        .expect("writing to a Vec cannot fail");
    let bytes = writer
        .into_inner()
        .expect("flushing into a Vec cannot fail");
    String::from_utf8(bytes).expect("tabwriter only re-emits UTF-8 input and spaces")
}

/// A table built row by row and rendered with Docker's column alignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    text: String,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a row of cells (joined with tabs, like a Docker `table` template's `\t`).
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut first = true;
        for cell in cells {
            if !first {
                self.text.push('\t');
            }
            first = false;
            self.text.push_str(cell.as_ref());
        }
        self.text.push('\n');
        self
    }

    /// Appends one already tab-separated line, e.g. the output of a `table` format template.
    pub fn line(&mut self, line: &str) -> &mut Self {
        self.text.push_str(line);
        self.text.push('\n');
        self
    }

    /// Renders all rows aligned, each ending in a newline.
    pub fn render(&self) -> String {
        align(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_images_table_spacing() {
        let mut table = Table::new();
        table
            .row(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])
            .row([
                "hello-world",
                "latest",
                "d2c94e258dcb",
                "7 months ago",
                "13.3kB",
            ]);
        assert_eq!(
            table.render(),
            "REPOSITORY    TAG       IMAGE ID       CREATED        SIZE\n\
             hello-world   latest    d2c94e258dcb   7 months ago   13.3kB\n"
        );
    }

    #[test]
    fn minwidth_applies_to_cell_plus_padding() {
        // "abcdefg" (7) + 3 = 10 = minwidth; "abcdefgh" (8) + 3 = 11 > minwidth.
        assert_eq!(align("abcdefg\tx\n"), "abcdefg   x\n");
        assert_eq!(align("abcdefgh\tx\n"), "abcdefgh   x\n");
        assert_eq!(align("a\tx\n"), "a         x\n");
    }

    #[test]
    fn last_cell_is_not_padded_and_trailing_tab_pads() {
        assert_eq!(align("a\tlast\n"), "a         last\n");
        // A trailing tab terminates the cell, so it is padded like any column cell.
        assert_eq!(align("a\t\n"), "a         \n");
    }

    #[test]
    fn docker_ps_with_empty_cells() {
        let text = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n\
                    4c01db0b339c\tubuntu:22.04\t\"bash\"\t17 seconds ago\tUp 16 seconds\t\tvigilant_mirzakhani\n";
        assert_eq!(
            align(text),
            "CONTAINER ID   IMAGE          COMMAND   CREATED          STATUS          PORTS     NAMES\n\
             4c01db0b339c   ubuntu:22.04   \"bash\"    17 seconds ago   Up 16 seconds             vigilant_mirzakhani\n"
        );
    }

    #[test]
    fn columns_only_span_contiguous_lines() {
        // The middle line has no tab: it ends the first column block, so the widths of the
        // first and last line are computed independently (Go's elastic tabstops).
        let text = "a\tb\nno tabs here at all\nlonger-cell-here\tc\n";
        assert_eq!(
            align(text),
            "a         b\nno tabs here at all\nlonger-cell-here   c\n"
        );
    }

    #[test]
    fn ragged_rows_share_columns_they_have_in_common() {
        let text = "x\tyy\tz\nxxxxxxxxxxxx\tw\n";
        // Column 0 spans both lines (width 12 + 3); column 1 is tab-terminated on line 1 only.
        assert_eq!(
            align(text),
            format!(
                "x{}yy{}z\nxxxxxxxxxxxx{}w\n",
                " ".repeat(14),
                " ".repeat(8),
                " ".repeat(3)
            )
        );
    }

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(align("日本語\tx\nab\ty\n"), "日本語    x\nab        y\n");
    }

    #[test]
    fn text_without_trailing_newline_is_kept_as_is() {
        assert_eq!(align("a\tb"), "a         b");
        assert_eq!(align(""), "");
    }
}
