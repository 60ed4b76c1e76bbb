//! The daemon's address as the docker CLI reads `-H` and `DOCKER_HOST`: `unix:///path`,
//! `tcp://host:port`, or a bare `host:port` (TCP, as in the notes' `export DOCKER_HOST="ip:porta"`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::error::ClientError;

/// Docker's port for plain TCP when an address gives none.
const DEFAULT_TCP_PORT: u16 = 2375;

/// Where a daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket.
    Unix(PathBuf),
    /// A TCP `host:port` (a name or an address).
    Tcp(String),
}

impl FromStr for Host {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Host, ClientError> {
        let bad = || ClientError::BadHost(s.to_string());
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix://") {
            return if p.is_empty() {
                Err(bad())
            } else {
                Ok(Host::Unix(p.into()))
            };
        }
        let addr = match s.split_once("://") {
            Some(("tcp" | "http", rest)) => rest,
            Some(_) => return Err(bad()),
            None => s,
        };
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') {
            return Err(bad());
        }
        // `host:port`, `[v6]:port`, or a host alone (Docker's default port).
        let has_port = match addr.rsplit_once(':') {
            Some((h, p)) => {
                if p.parse::<u16>().is_err() || h.is_empty() {
                    return Err(bad());
                }
                true
            }
            None => false,
        };
        if addr.starts_with('[') && !addr.contains("]:") {
            return Err(bad());
        }
        Ok(Host::Tcp(if has_port {
            addr.to_string()
        } else {
            format!("{addr}:{DEFAULT_TCP_PORT}")
        }))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_the_docker_cli_reads_them() {
        let h = |s: &str| s.parse::<Host>().unwrap();
        assert_eq!(
            h("unix:///run/baleia.sock"),
            Host::Unix("/run/baleia.sock".into())
        );
        assert_eq!(
            h("tcp://127.0.0.1:2375"),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(h("127.0.0.1:4243"), Host::Tcp("127.0.0.1:4243".into()));
        assert_eq!(h("localhost"), Host::Tcp("localhost:2375".into()));
        assert_eq!(h("tcp://[::1]:2375/"), Host::Tcp("[::1]:2375".into()));
        assert_eq!(
            h("tcp://127.0.0.1:2375").to_string(),
            "tcp://127.0.0.1:2375"
        );
        for bad in [
            "unix://",
            "ssh://me@box",
            "tcp://",
            "127.0.0.1:port",
            "tcp://a:1/x",
            ":80",
        ] {
            assert!(bad.parse::<Host>().is_err(), "{bad}");
        }
    }
}
