//! `stats`: a live table of containers' resource usage, refreshed every second (or once with
//! `--no-stream`), with Docker's columns and units.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use super::output::print_list;
use baleia_engine::container::stats::{usage, Sample, Usage};
use baleia_engine::container::Container;
use baleia_engine::format::units::{bytes_size, human_size};
use baleia_engine::Engine;

/// Flags of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template).
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Containers (default: every running one).
    #[arg(value_name = "CONTAINER")]
    pub names: Vec<String>,
}

const STATS_HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Time between two samples, and between two frames.
const INTERVAL: Duration = Duration::from_secs(1);

/// A container shown, as the user named it (or its short ID).
struct Target {
    shown: String,
    container: Container,
    prev: Option<std::result::Result<Sample, String>>,
}

/// `stats`.
pub fn stats(e: &Engine, a: &StatsArgs) -> Result<()> {
    let named = !a.names.is_empty();
    let mut targets: Vec<Target> = Vec::new();
    if named {
        for n in &a.names {
            targets.push(Target {
                shown: n.clone(),
                container: e.resolve_container(n)?,
                prev: None,
            });
        }
    }
    let terminal = std::io::stdout().is_terminal();
    loop {
        if named {
            for t in &mut targets {
                if let Ok(c) = e.resolve_container(&t.container.id) {
                    t.container = c;
                }
            }
        } else {
            refresh_all(e, a.all, &mut targets)?;
        }
        let first: Vec<_> = targets
            .iter()
            .map(|t| t.prev.clone().unwrap_or_else(|| sample(e, &t.container)))
            .collect();
        std::thread::sleep(INTERVAL);
        let mut rows = Vec::new();
        for (t, prev) in targets.iter_mut().zip(first) {
            let cur = sample(e, &t.container);
            let shown = match (&prev, &cur) {
                (Ok(p), Ok(c)) => Some(usage(p, c)),
                _ => None,
            };
            rows.push(row(t, shown.as_ref(), a.no_trunc));
            t.prev = Some(cur);
        }
        if !a.no_stream && terminal {
            print!("\x1b[2J\x1b[H");
        }
        print_list(a.format.as_deref(), DEFAULT_FORMAT, STATS_HEADERS, &rows)?;
        std::io::stdout().flush()?;
        if a.no_stream {
            return Ok(());
        }
        if named
            && targets.iter().all(|t| {
                !e.resolve_container(&t.container.id)
                    .is_ok_and(|c| c.state.running)
            })
        {
            return Ok(());
        }
    }
}

/// Without names: every running container (every one with `-a`), keeping the samples of those
/// already shown.
fn refresh_all(e: &Engine, all: bool, targets: &mut Vec<Target>) -> Result<()> {
    let now: Vec<Container> = e
        .containers()?
        .into_iter()
        .filter(|c| all || c.state.running)
        .collect();
    let mut old = std::mem::take(targets);
    for c in now {
        let prev = old
            .iter_mut()
            .find(|t| t.container.id == c.id)
            .and_then(|t| t.prev.take());
        targets.push(Target {
            shown: c.short_id().to_string(),
            container: c,
            prev,
        });
    }
    Ok(())
}

fn sample(e: &Engine, c: &Container) -> std::result::Result<Sample, String> {
    e.sample_stats(c).map_err(|err| err.to_string())
}

/// One row; `None` when the figures could not be read (Docker's `--`).
fn row(t: &Target, u: Option<&Usage>, no_trunc: bool) -> Value {
    let c = &t.container;
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.short_id().to_string()
    };
    let percent = |p: f64| format!("{p:.2}%");
    match u {
        Some(u) => json!({
            "Container": t.shown,
            "ID": id,
            "Name": c.bare_name(),
            "CPUPerc": percent(u.cpu_percent),
            "MemUsage": format!("{} / {}", bytes_size(u.memory_usage), bytes_size(u.memory_limit)),
            "MemPerc": percent(u.memory_percent),
            "NetIO": format!("{} / {}", human_size(u.net_rx), human_size(u.net_tx)),
            "BlockIO": format!("{} / {}", human_size(u.block_read), human_size(u.block_write)),
            "PIDs": u.pids.to_string(),
        }),
        None => json!({
            "Container": t.shown,
            "ID": id,
            "Name": c.bare_name(),
            "CPUPerc": "--",
            "MemUsage": "-- / --",
            "MemPerc": "--",
            "NetIO": "--",
            "BlockIO": "--",
            "PIDs": "--",
        }),
    }
}
