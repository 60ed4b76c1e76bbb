//! `baleia daemon`: serve the Docker Engine API so the `docker` CLI (or any client) drives baleia.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use baleia_engine::daemon::{self, Listen, TlsFiles};
use baleia_engine::Engine;

/// Flags of `daemon` (dockerd's names).
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Where to listen: unix:///path/to.sock or tcp://HOST:PORT (repeatable; an address other
    /// than loopback needs --tlsverify).
    #[arg(
        short = 'H',
        long = "host",
        value_name = "ADDRESS",
        default_value = "unix:///run/baleia.sock"
    )]
    pub hosts: Vec<String>,
    /// Use TLS on TCP addresses (implied by --tlsverify).
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and accept only clients with a certificate signed by --tlscacert.
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA.
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file.
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file.
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

impl DaemonArgs {
    /// The certificate files, if TLS was asked for (dockerd's defaults: `~/.docker/*.pem`).
    fn tls_files(&self) -> Option<TlsFiles> {
        if !(self.tls || self.tlsverify) {
            return None;
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let or_default = |p: &Option<PathBuf>, name: &str| {
            p.clone().unwrap_or_else(|| home.join(".docker").join(name))
        };
        Some(TlsFiles {
            cert: or_default(&self.tlscert, "cert.pem"),
            key: or_default(&self.tlskey, "key.pem"),
            client_ca: self
                .tlsverify
                .then(|| or_default(&self.tlscacert, "ca.pem")),
        })
    }
}

/// `daemon`: listen until SIGINT or SIGTERM.
pub fn daemon(e: Engine, a: &DaemonArgs) -> Result<()> {
    let hosts = a
        .hosts
        .iter()
        .map(|h| h.parse::<Listen>())
        .collect::<Result<Vec<_>, _>>()?;
    let tls = a.tls_files();
    let listed: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    daemon::serve(e, &hosts, tls.as_ref(), || {
        eprintln!("API listen on {}", listed.join(", "));
    })?;
    Ok(())
}
