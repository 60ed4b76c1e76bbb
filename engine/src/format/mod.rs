//! Output formatting shared by the `baleia` CLI: Docker's `--format` Go templates, aligned
//! tables like Docker's tabwriter, go-units sizes and durations, and Docker's progress bar.

pub mod bar;
pub mod table;
pub mod template;
pub mod units;

pub use bar::progress_bar;
pub use table::Table;
pub use template::{render, render_header, Format, Template, TemplateError};
pub use units::{bytes_size, human_duration, human_size, parse_ram, UnitsError};
