//! Observations: what the kernel did behind a lab step, drawn as tables (comfy-table) and kept as
//! JSON for recordings. Each one reads the backend (`docker inspect`), `/proc`, `/sys`, netlink,
//! `iptables-save` or the wire, so it shows the same facts for the built-in engine and a real Docker.
//!
//! One moment: [`namespaces()`], [`processes()`], [`layers()`], [`cgroups()`], [`links()`],
//! [`files()`]. Around a step: [`IptablesSnapshot`] before and after, then [`iptables_diff`];
//! [`Capture::start`] before and [`Capture::stop`] after. [`now`] picks the one a `show:` entry asks for.

pub mod capture;
pub mod cgroups;
pub mod files;
pub mod iptables;
pub mod layers;
pub mod links;
pub mod namespaces;
pub mod processes;

use std::path::{Path, PathBuf};

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use serde_json::Value;

use crate::backend::{Backend, BackendError, Kind};
use crate::lab::model::Show;

pub use capture::{decode, matches_only, Capture, CaptureError, Decoded, LinkType, Only, Proto};
pub use cgroups::cgroups;
pub use files::{files, select, SelectError};
pub use iptables::{iptables_diff, IptablesSnapshot, RuleChange};
pub use layers::layers;
pub use links::links;
pub use namespaces::namespaces;
pub use processes::processes;

/// Why an observation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The backend could not be asked.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend knows no such object.
    #[error("no such {kind}: {name}")]
    NotFound {
        /// `container` or `image`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The container has no process to look at.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// `inspect` lacked a field the observation needs.
    #[error("{name}: inspect has no {field}")]
    Missing {
        /// The object.
        name: String,
        /// The field, e.g. `GraphDriver.Data`.
        field: &'static str,
    },
    /// Reading a file or folder failed.
    #[error("reading {path}: {source}")]
    Io {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A helper program (iptables-save, …) failed.
    #[error("{program}: {message}")]
    Command {
        /// The program.
        program: String,
        /// Its complaint.
        message: String,
    },
    /// A netlink request failed.
    #[error("netlink: {0}")]
    Netlink(String),
    /// A packet capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A `select` expression was wrong or did not match.
    #[error(transparent)]
    Select(#[from] SelectError),
}

impl ObserveError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ObserveError {
        ObserveError::Io {
            path: path.into(),
            source,
        }
    }
}

/// How a table row stands out when drawn in colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mark {
    /// An ordinary row.
    #[default]
    Plain,
    /// A row that tells the lesson (a namespace that differs, a shared layer).
    Notable,
    /// Something the step added (green).
    Added,
    /// Something the step removed (red).
    Removed,
}

/// One row of an observation's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its cells, one per header column.
    pub cells: Vec<String>,
    /// How it is drawn in colour.
    pub mark: Mark,
}

impl Row {
    /// A row of `cells` drawn with `mark`.
    pub fn new(cells: Vec<String>, mark: Mark) -> Row {
        Row { cells, mark }
    }
}

/// What an observation found: a titled table and/or text lines, and the same facts as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What is shown: `namespaces of baleia (PID 4242) and of the host`.
    pub title: String,
    /// The table's column names (empty: no table).
    pub header: Vec<String>,
    /// The table's rows.
    pub rows: Vec<Row>,
    /// Text shown after the table (decoded packets, a file's content).
    pub lines: Vec<String>,
    /// Short remarks under it (`memory.max: 67108864 = 64 MiB, from docker run -m`).
    pub notes: Vec<String>,
    /// The same facts as JSON, for recordings and checks.
    pub data: Value,
}

impl Observation {
    /// An observation titled `title` with `header` columns and nothing yet in it.
    pub fn new(title: impl Into<String>, header: &[&str], data: Value) -> Observation {
        Observation {
            title: title.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            lines: Vec::new(),
            notes: Vec::new(),
            data,
        }
    }

    /// The rows' cells under column `name` (for tests and checks).
    pub fn column(&self, name: &str) -> Vec<&str> {
        let Some(i) = self.header.iter().position(|h| h == name) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter_map(|r| r.cells.get(i).map(String::as_str))
            .collect()
    }

    /// The first row whose first cell is `key`.
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.cells.first().is_some_and(|c| c == key))
    }

    /// The table as comfy-table draws it: UTF-8 borders; with `color`, a bold header and coloured
    /// marks (ANSI even off a terminal), without it no escape codes at all.
    pub fn table(&self, color: bool) -> Option<Table> {
        if self.header.is_empty() {
            return None;
        }
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        if color {
            t.enforce_styling()
                .set_content_arrangement(ContentArrangement::Dynamic);
            t.set_header(
                self.header
                    .iter()
                    .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
            );
        } else {
            t.force_no_tty()
                .set_content_arrangement(ContentArrangement::Disabled);
            t.set_header(self.header.iter().map(Cell::new));
        }
        for r in &self.rows {
            let color_of = match r.mark {
                Mark::Plain => None,
                Mark::Notable => Some(Color::Yellow),
                Mark::Added => Some(Color::Green),
                Mark::Removed => Some(Color::Red),
            };
            t.add_row(r.cells.iter().map(|c| match (color, color_of) {
                (true, Some(fg)) => Cell::new(c).fg(fg),
                _ => Cell::new(c),
            }));
        }
        Some(t)
    }

    /// The whole observation as text: title, table, lines, notes. Without `color` (NO_COLOR, a
    /// recording) it has no ANSI escape codes.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        if color {
            out.push_str(&format!("\x1b[1m{}\x1b[0m\n", self.title));
        } else {
            out.push_str(&self.title);
            out.push('\n');
        }
        if let Some(t) = self.table(color) {
            out.push_str(&t.to_string());
            out.push('\n');
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str("  ");
            out.push_str(n);
            out.push('\n');
        }
        out
    }
}

/// The observation a `show:` entry asks for at one moment (namespaces, processes, layers,
/// cgroups, links, files); None for those made around a step (iptables, capture) or an empty one.
pub fn now(backend: &Backend, show: &Show) -> Option<Result<Observation, ObserveError>> {
    if let Some(c) = &show.namespaces {
        return Some(namespaces(backend, c));
    }
    if let Some(c) = &show.processes {
        return Some(processes(backend, c));
    }
    if let Some(n) = &show.layers {
        return Some(layers(backend, n));
    }
    if let Some(c) = &show.cgroups {
        return Some(cgroups(backend, c));
    }
    if show.links == Some(true) {
        return Some(links());
    }
    if let Some(f) = &show.files {
        return Some(files(backend, f));
    }
    None
}

/// Whether colour is wanted: not when `NO_COLOR` is set (to anything but the empty string).
pub fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `docker container inspect NAME` if it is a container (one with a `State`: some engines fall
/// back to an image of that name).
pub(crate) fn find_container(backend: &Backend, name: &str) -> Result<Option<Value>, ObserveError> {
    Ok(backend
        .inspect(Kind::Container, name)?
        .filter(|c| c.get("State").is_some_and(Value::is_object)))
}

/// `docker container inspect NAME`, which must exist.
pub(crate) fn inspect_container(backend: &Backend, name: &str) -> Result<Value, ObserveError> {
    find_container(backend, name)?.ok_or_else(|| ObserveError::NotFound {
        kind: "container",
        name: name.into(),
    })
}

/// The host PID of a running container's first process.
pub(crate) fn container_pid(name: &str, c: &Value) -> Result<u32, ObserveError> {
    let pid = c.pointer("/State/Pid").and_then(Value::as_u64).unwrap_or(0);
    let running = c
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(pid > 0);
    if pid == 0 || !running {
        return Err(ObserveError::NotRunning(name.into()));
    }
    Ok(pid as u32)
}

/// A container's name without Docker's leading slash.
pub(crate) fn short_name(c: &Value, fallback: &str) -> String {
    c.get("Name")
        .and_then(Value::as_str)
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// Read a small text file.
pub(crate) fn read_text(path: &Path) -> Result<String, ObserveError> {
    std::fs::read_to_string(path).map_err(|e| ObserveError::io(path, e))
}

/// Bytes as a learner reads them: `64 MiB`, `2.1 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Observation {
        let mut o = Observation::new("t", &["type", "differs"], json!([]));
        o.rows
            .push(Row::new(vec!["net".into(), "yes".into()], Mark::Notable));
        o.rows
            .push(Row::new(vec!["user".into(), "no".into()], Mark::Plain));
        o.lines.push("a line".into());
        o
    }

    #[test]
    fn render_without_color_has_no_escapes() {
        let text = sample().render(false);
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("net") && text.contains("a line"), "{text}");
        assert!(text.starts_with("t\n"));
    }

    #[test]
    fn render_with_color_marks_rows() {
        let text = sample().render(true);
        assert!(text.contains("\x1b["), "{text:?}");
    }

    #[test]
    fn columns_and_rows() {
        let o = sample();
        assert_eq!(o.column("differs"), ["yes", "no"]);
        assert_eq!(o.row("user").unwrap().cells[1], "no");
        assert!(o.column("nope").is_empty());
    }

    #[test]
    fn show_entries_made_now_or_around_a_step() {
        let b = Backend::external(Path::new("/nonexistent/docker"));
        let around = [
            Show {
                iptables: Some(true),
                ..Show::default()
            },
            Show {
                capture: Some(crate::lab::model::CaptureSpec::default()),
                ..Show::default()
            },
            Show::default(),
        ];
        for s in around {
            assert!(now(&b, &s).is_none(), "{s:?}");
        }
        let ns = Show {
            namespaces: Some("web".into()),
            ..Show::default()
        };
        assert!(matches!(now(&b, &ns), Some(Err(ObserveError::Backend(_)))));
        let links = Show {
            links: Some(true),
            ..Show::default()
        };
        assert!(now(&b, &links)
            .unwrap()
            .unwrap()
            .title
            .starts_with("bridges and veths"));
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
