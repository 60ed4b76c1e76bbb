//! Listening and serving: `-H unix:///run/baleia.sock` (root:baleia, 0660, removed on exit) and
//! `-H tcp://127.0.0.1:PORT`, on one tokio runtime, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::errors::DaemonError;
use super::routes;
use super::tls::{TlsFiles, TlsListener};
use crate::engine::Engine;

/// Where the daemon listens (one `-H`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl FromStr for Listen {
    type Err = DaemonError;
    fn from_str(s: &str) -> Result<Listen, DaemonError> {
        let bad = || DaemonError::BadAddress(s.to_string());
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(bad());
            }
            return Ok(Listen::Unix(p.into()));
        }
        if let Some(a) = s.strip_prefix("tcp://") {
            return a.parse().map(Listen::Tcp).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix://{}", p.display()),
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

enum Bound {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener),
    Tls(TlsListener),
}

/// Refuse what would hand root to the network: a TCP address other than loopback unless clients
/// must show a certificate (`tls` with a client CA).
pub fn check_exposure(hosts: &[Listen], tls: Option<&TlsFiles>) -> Result<(), DaemonError> {
    let verified = tls.is_some_and(|t| t.client_ca.is_some());
    match hosts
        .iter()
        .find(|h| matches!(h, Listen::Tcp(a) if !a.ip().is_loopback()))
    {
        Some(h) if !verified => Err(DaemonError::Unprotected(h.to_string())),
        _ => Ok(()),
    }
}

/// Serve the Engine API for `engine` on every address until SIGINT or SIGTERM; then stop taking
/// connections, give open requests a moment, and remove the sockets. TCP addresses speak TLS
/// when `tls` is given. `ready` is called once every address listens.
pub fn serve(
    engine: Engine,
    hosts: &[Listen],
    tls: Option<&TlsFiles>,
    ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    check_exposure(hosts, tls)?;
    let tls = tls.map(TlsFiles::server_config).transpose()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = rt.block_on(async {
        let mut bound = Vec::new();
        for h in hosts {
            match bind(h) {
                Ok(Bound::Tcp(l)) if tls.is_some() => {
                    let config = tls.clone().expect("checked");
                    bound.push(Bound::Tls(TlsListener::new(l, config)))
                }
                Ok(b) => bound.push(b),
                Err(e) => {
                    cleanup(&bound);
                    return Err(e);
                }
            }
        }
        let listen_err = |source| DaemonError::Listen {
            address: "signals".into(),
            source,
        };
        let mut term = signal(SignalKind::terminate()).map_err(listen_err)?;
        let mut int = signal(SignalKind::interrupt()).map_err(listen_err)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = routes::router(engine);
        let mut tasks = tokio::task::JoinSet::new();
        let mut sockets = Vec::new();
        for b in bound {
            let mut stop = stop_rx.clone();
            let app = app.clone();
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            match b {
                Bound::Unix(l, p) => {
                    sockets.push(p);
                    tasks.spawn(async move {
                        axum::serve(l, app).with_graceful_shutdown(shutdown).await
                    });
                }
                Bound::Tcp(l) => {
                    tasks.spawn(async move {
                        axum::serve(l, app).with_graceful_shutdown(shutdown).await
                    });
                }
                Bound::Tls(l) => {
                    tasks.spawn(async move {
                        axum::serve(l, app).with_graceful_shutdown(shutdown).await
                    });
                }
            }
        }
        ready();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop_tx.send(true);
        // Waits and followed logs would hold a graceful shutdown forever: give them a moment.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        for p in &sockets {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    });
    // Blocking work still running (a wait on a container) is abandoned, not awaited.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

fn bind(h: &Listen) -> Result<Bound, DaemonError> {
    let err = |source| DaemonError::Listen {
        address: h.to_string(),
        source,
    };
    match h {
        Listen::Tcp(a) => {
            let l = std::net::TcpListener::bind(a).map_err(err)?;
            l.set_nonblocking(true).map_err(err)?;
            Ok(Bound::Tcp(
                tokio::net::TcpListener::from_std(l).map_err(err)?,
            ))
        }
        Listen::Unix(p) => {
            if p.exists() {
                if std::os::unix::net::UnixStream::connect(p).is_ok() {
                    return Err(DaemonError::InUse(h.to_string()));
                }
                std::fs::remove_file(p).map_err(err)?;
            }
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let l = std::os::unix::net::UnixListener::bind(p).map_err(err)?;
            secure_socket(p).map_err(err)?;
            l.set_nonblocking(true).map_err(err)?;
            Ok(Bound::Unix(
                tokio::net::UnixListener::from_std(l).map_err(err)?,
                p.clone(),
            ))
        }
    }
}

/// root:baleia (or root:root without that group), mode 0660, as Docker's `docker` group.
fn secure_socket(p: &Path) -> std::io::Result<()> {
    let gid = nix::unistd::Group::from_name("baleia")
        .ok()
        .flatten()
        .map(|g| g.gid);
    nix::unistd::chown(p, Some(nix::unistd::Uid::from_raw(0)), gid)
        .map_err(std::io::Error::from)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))
}

fn cleanup(bound: &[Bound]) {
    for b in bound {
        if let Bound::Unix(_, p) = b {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_docker_writes_them() {
        assert_eq!(
            "unix:///run/baleia.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/baleia.sock".into())
        );
        assert_eq!(
            "tcp://127.0.0.1:2375".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        for bad in ["unix://", "tcp://localhost", "fd://", "/run/x.sock"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
        assert_eq!(Listen::Unix("/a.sock".into()).to_string(), "unix:///a.sock");
    }

    #[test]
    fn only_loopback_goes_without_client_certificates() {
        let hosts = |s: &str| vec![s.parse::<Listen>().unwrap()];
        let server_only = TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            client_ca: None,
        };
        let verified = TlsFiles {
            client_ca: Some("ca.pem".into()),
            ..server_only.clone()
        };
        for ok in ["unix:///a.sock", "tcp://127.0.0.1:2375", "tcp://[::1]:2375"] {
            assert!(check_exposure(&hosts(ok), None).is_ok(), "{ok}");
        }
        let open = check_exposure(&hosts("tcp://0.0.0.0:2375"), None).unwrap_err();
        assert!(open.to_string().contains("without TLS"), "{open}");
        assert!(open.to_string().contains("--tlsverify"), "{open}");
        assert!(check_exposure(&hosts("tcp://10.1.2.3:2376"), Some(&server_only)).is_err());
        assert!(check_exposure(&hosts("tcp://0.0.0.0:2376"), Some(&verified)).is_ok());
    }
}
