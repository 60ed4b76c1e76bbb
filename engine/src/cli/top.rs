//! `top`: the running processes of a container, as Docker prints them.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use tabwriter::TabWriter;

use baleia_engine::container::top::ProcessList;
use baleia_engine::format::table::PADDING;
use baleia_engine::Engine;

/// Docker's `top` writes through `tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`: a wider minimum
/// column than its lists (see `format::table` for why the crate gets `minwidth - padding`).
const TOP_MIN_WIDTH: usize = 20;

/// Arguments of `top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for the host's `ps` (default: `-ef`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

/// `top`.
pub fn top(e: &Engine, a: &TopArgs) -> Result<()> {
    let list = e.top(&a.container, &a.ps_args)?;
    print!("{}", render(&list));
    Ok(())
}

/// Titles and rows, tab-separated, aligned as Docker's `top` aligns them.
pub fn render(list: &ProcessList) -> String {
    let mut text = list.titles.join("\t");
    text.push('\n');
    for row in &list.processes {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    let mut w = TabWriter::new(Vec::new())
        .minwidth(TOP_MIN_WIDTH - PADDING)
        .padding(PADDING)
        .ansi(false);
    w.write_all(text.as_bytes()).expect("writing to a Vec");
    String::from_utf8(w.into_inner().expect("flushing a Vec")).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_twenty_wide_and_the_last_is_not_padded() {
        let list = ProcessList {
            titles: ["UID", "PID", "CMD"].map(String::from).to_vec(),
            processes: vec![["root", "4242", "sleep 1000"].map(String::from).to_vec()],
        };
        assert_eq!(
            render(&list),
            format!(
                "{:<20}{:<20}CMD\n{:<20}{:<20}sleep 1000\n",
                "UID", "PID", "root", "4242"
            )
        );
    }
}
