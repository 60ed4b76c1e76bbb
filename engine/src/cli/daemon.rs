//! `baleia daemon`: serve the Docker Engine API so the `docker` CLI (or any client) drives baleia.

use anyhow::Result;
use clap::Args;

use baleia_engine::daemon::{self, Listen};
use baleia_engine::Engine;

/// Flags of `daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Where to listen: unix:///path/to.sock or tcp://127.0.0.1:PORT (repeatable).
    #[arg(
        short = 'H',
        long = "host",
        value_name = "ADDRESS",
        default_value = "unix:///run/baleia.sock"
    )]
    pub hosts: Vec<String>,
}

/// `daemon`: listen until SIGINT or SIGTERM.
pub fn daemon(e: Engine, a: &DaemonArgs) -> Result<()> {
    let hosts = a
        .hosts
        .iter()
        .map(|h| h.parse::<Listen>())
        .collect::<Result<Vec<_>, _>>()?;
    for h in &hosts {
        if let Listen::Tcp(addr) = h {
            if !addr.ip().is_loopback() {
                eprintln!("WARNING: API is accessible on {h} without encryption or authentication: anyone who can reach it is root on this host.");
            }
        }
    }
    let listed: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    daemon::serve(e, &hosts, || {
        eprintln!("API listen on {}", listed.join(", "));
    })?;
    Ok(())
}
