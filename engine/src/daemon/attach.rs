//! `POST /containers/{id}/attach`: an HTTP upgrade (`101 UPGRADED`) after which the connection
//! carries the container's output (Docker's 8-byte frames without a terminal, raw with one) and
//! the client's stdin. Attaching to a created container waits for its start, so the monitor holds
//! PID 1 until the client is there and no output is missed (`docker run`, `docker start -a`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::errors::ApiError;
use super::routes::{blocking, flag, AppState};
use crate::container::protocol::{Hello, Kind};

/// Clients attached to containers that have not started yet: what they asked for, and where
/// `start` hands them the monitor's stream.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<HashMap<String, Waiting>>>);

type Waiting = (Hello, oneshot::Sender<std::os::unix::net::UnixStream>);

impl Pending {
    /// The client waiting for `id` to start, if any.
    pub fn take(&self, id: &str) -> Option<Waiting> {
        self.0.lock().expect("pending attaches").remove(id)
    }
    fn put(&self, id: String, w: Waiting) {
        self.0.lock().expect("pending attaches").insert(id, w);
    }
}

/// Query of `attach`.
#[derive(Debug, Deserialize)]
pub struct AttachQuery {
    stdin: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
pub async fn attach(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AttachQuery>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let e = s.engine.clone();
    let c = blocking(move || Ok(e.resolve_container(&id)?)).await?;
    let hello = Hello {
        stdin: flag(&q.stdin) && c.config.open_stdin,
        stdout: flag(&q.stdout),
        stderr: flag(&q.stderr),
        size: None,
    };
    let Some(upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(ApiError::bad_request(
            "attach needs an upgraded connection (Upgrade: tcp)",
        ));
    };
    let tty = c.config.tty;
    let stream_rx = if c.state.running {
        let (tx, rx) = oneshot::channel();
        let e = s.engine.clone();
        let h = hello.clone();
        let stream = blocking(move || Ok(e.attach(&c, &h)?)).await?;
        let _ = tx.send(stream);
        rx
    } else {
        let (tx, rx) = oneshot::channel();
        s.pending.put(c.id.clone(), (hello.clone(), tx));
        rx
    };
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let Ok(stream) = stream_rx.await else { return };
        let _ = pump(TokioIo::new(upgraded), stream, hello.stdin, tty).await;
    });
    Ok(crate::daemon::stdcopy::upgraded(tty))
}

/// Carry frames between the monitor and the client until PID 1 exits (or the client leaves).
async fn pump(
    client: TokioIo<hyper::upgrade::Upgraded>,
    monitor: std::os::unix::net::UnixStream,
    stdin: bool,
    tty: bool,
) -> std::io::Result<()> {
    monitor.set_nonblocking(true)?;
    let monitor = tokio::net::UnixStream::from_std(monitor)?;
    let (mut mon_r, mut mon_w) = monitor.into_split();
    let (mut cli_r, mut cli_w) = tokio::io::split(client);
    let input = async move {
        if !stdin {
            return std::future::pending::<()>().await;
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = cli_r.read(&mut buf).await.unwrap_or(0);
            let (kind, data) = if n == 0 {
                (Kind::CloseStdin, &buf[..0])
            } else {
                (Kind::Stdin, &buf[..n])
            };
            let mut f = Vec::with_capacity(5 + data.len());
            let _ = crate::container::protocol::write_frame(&mut f, kind, data);
            if mon_w.write_all(&f).await.is_err() || n == 0 {
                return std::future::pending::<()>().await;
            }
        }
    };
    let output = async move {
        loop {
            let mut head = [0u8; 5];
            if mon_r.read_exact(&mut head).await.is_err() {
                break;
            }
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            if len > crate::container::protocol::MAX_FRAME {
                break;
            }
            let mut data = vec![0u8; len];
            if mon_r.read_exact(&mut data).await.is_err() {
                break;
            }
            let stream = match head[0] {
                x if x == Kind::Stdout as u8 => 1u8,
                x if x == Kind::Stderr as u8 => 2,
                x if x == Kind::Exit as u8 => break,
                _ => continue,
            };
            let out = if tty {
                data
            } else {
                crate::daemon::stdcopy::frame(stream, &data)
            };
            if cli_w.write_all(&out).await.is_err() {
                break;
            }
        }
        let _ = cli_w.shutdown().await;
    };
    tokio::select! {
        _ = input => {}
        _ = output => {}
    }
    Ok(())
}

/// Query of a `resize` (of a container's terminal or an exec's).
#[derive(Debug, Deserialize)]
pub struct ResizeQuery {
    h: Option<u16>,
    w: Option<u16>,
}

impl ResizeQuery {
    /// Rows and columns, both required.
    pub fn size(&self) -> Result<(u16, u16), ApiError> {
        match (self.h, self.w) {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(ApiError::bad_request("resize needs h and w")),
        }
    }
}

/// `POST /containers/{id}/resize?h=&w=`: set the terminal's size (a client that says only that).
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> Result<StatusCode, ApiError> {
    let (h, w) = q.size()?;
    let e = s.engine.clone();
    blocking(move || {
        let c = e.resolve_container(&id)?;
        if !c.state.running {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                message: format!("Container {} is not running", c.id),
            });
        }
        let hello = Hello {
            size: Some((h, w)),
            ..Hello::default()
        };
        drop(e.attach(&c, &hello)?);
        Ok(StatusCode::OK)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn a_pending_attach_is_taken_once() {
        let p = Pending::default();
        let (tx, _rx) = tokio::sync::oneshot::channel();
        p.put("abc".into(), (Default::default(), tx));
        assert!(p.take("abc").is_some());
        assert!(p.take("abc").is_none());
    }
}
