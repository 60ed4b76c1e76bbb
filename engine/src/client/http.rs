//! Requests to the daemon with hyper, one connection each (a wait and an attach run side by side):
//! the API version agreed through `/_ping` as the docker CLI does, Docker's error answers turned
//! into [`ClientError::Api`], bodies read whole, line by line, or chunk by chunk.

use std::cell::OnceCell;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::error::ClientError;
use super::host::Host;
use super::raw::RawStream;
use crate::daemon::API_VERSION;

/// A client of one daemon; its requests run on a private single-threaded runtime.
pub struct Client {
    host: Host,
    rt: tokio::runtime::Runtime,
    version: OnceCell<String>,
}

/// An answer whose status was fine and whose body is still to be read.
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    body: Incoming,
}

type Result<T> = std::result::Result<T, ClientError>;

/// A request body: bytes at hand, or a stream read from a file or stdin.
type Body = BoxBody<Bytes, std::io::Error>;

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// A body that streams `reader` in 1 MiB chunks from a thread (a tar to `load`).
fn streamed(mut reader: impl std::io::Read + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<hyper::body::Frame<Bytes>>>(4);
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; 1 << 20];
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx
                    .blocking_send(Ok(hyper::body::Frame::data(Bytes::from(buf))))
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    let frames =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    BodyExt::boxed(StreamBody::new(frames))
}

fn http_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Http(e.to_string())
}

impl Client {
    /// A client of the daemon at `host` (nothing is sent yet).
    pub fn new(host: Host) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        Ok(Client {
            host,
            rt,
            version: OnceCell::new(),
        })
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version used: ours, or the daemon's if it is older (asked once, on `/_ping`).
    pub fn api_version(&self) -> Result<&str> {
        if let Some(v) = self.version.get() {
            return Ok(v);
        }
        let res = self
            .rt
            .block_on(self.exchange(self.request(Method::GET, "/_ping", None)?))?;
        let theirs = res
            .headers()
            .get("Api-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(API_VERSION)
            .to_string();
        let agreed = if older(&theirs, API_VERSION) {
            theirs
        } else {
            API_VERSION.to_string()
        };
        Ok(self.version.get_or_init(|| agreed))
    }

    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Request<Body>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "docker")
            .header("User-Agent", concat!("baleia/", env!("CARGO_PKG_VERSION")));
        let payload = match body {
            Some(v) => {
                b = b.header(CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        b.body(full(payload)).map_err(http_err)
    }

    /// Connect and send one request; the connection lives on in a task (for upgrades too).
    async fn exchange(&self, req: Request<Body>) -> Result<Response<Incoming>> {
        let connect_err = |source: std::io::Error| {
            let host = self.host.to_string();
            if source.kind() == std::io::ErrorKind::PermissionDenied {
                ClientError::Permission { host, source }
            } else {
                ClientError::Connect { host, source }
            }
        };
        match &self.host {
            Host::Unix(p) => send_on(UnixStream::connect(p).await.map_err(connect_err)?, req).await,
            Host::Tcp(a) => send_on(TcpStream::connect(a).await.map_err(connect_err)?, req).await,
        }
    }

    /// [`Client::exchange`], with an error status turned into [`ClientError::Api`].
    async fn exchange_ok(&self, req: Request<Body>) -> Result<Response<Incoming>> {
        let res = self.exchange(req).await?;
        let status = res.status().as_u16();
        if status >= 400 {
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(http_err)?
                .to_bytes();
            return Err(api_error(status, &body));
        }
        Ok(res)
    }

    /// Send `method path` (under `/vX.Y`) with an optional JSON body; an error status becomes
    /// [`ClientError::Api`] with Docker's message.
    pub fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer> {
        let path = format!("/v{}{path}", self.api_version()?);
        let req = self.request(method, &path, body)?;
        self.finish(req)
    }

    /// Send a prepared request; an error status becomes [`ClientError::Api`].
    fn finish(&self, req: Request<Body>) -> Result<Answer> {
        self.rt.block_on(async {
            let res = self.exchange_ok(req).await?;
            let status = res.status().as_u16();
            Ok(Answer {
                status,
                body: res.into_body(),
            })
        })
    }

    /// Send `reader`'s bytes as the body (`content_type`), streamed, not held in memory.
    pub fn send_stream(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        reader: impl std::io::Read + Send + 'static,
    ) -> Result<Answer> {
        let path = format!("/v{}{path}", self.api_version()?);
        let mut req = self.request(method, &path, None)?;
        *req.body_mut() = streamed(reader);
        req.headers_mut()
            .insert(CONTENT_TYPE, content_type.parse().map_err(http_err)?);
        self.finish(req)
    }

    /// Send and read the whole JSON answer (`null` for an empty body).
    pub fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let answer = self.send(method, path, body)?;
        let bytes = self.read_all(answer)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Read an answer's whole body.
    pub fn read_all(&self, answer: Answer) -> Result<Bytes> {
        self.rt
            .block_on(async { Ok(answer.body.collect().await.map_err(http_err)?.to_bytes()) })
    }

    /// Hand each chunk of the body to `f` as it arrives.
    pub fn each_chunk(&self, answer: Answer, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut body = answer.body;
        self.rt.block_on(async {
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame.map_err(http_err)?.data_ref() {
                    f(data)?;
                }
            }
            Ok(())
        })
    }

    /// Hand each JSON line of a streamed body (pull and push progress) to `f` as it arrives.
    pub fn each_json_line(
        &self,
        answer: Answer,
        mut f: impl FnMut(Value) -> Result<()>,
    ) -> Result<()> {
        let mut pending = Vec::new();
        self.each_chunk(answer, |data| {
            pending.extend_from_slice(data);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    f(serde_json::from_slice(&line)?)?;
                }
            }
            Ok(())
        })?;
        if !pending.iter().all(u8::is_ascii_whitespace) {
            f(serde_json::from_slice(&pending)?)?;
        }
        Ok(())
    }

    /// `POST path` asking to upgrade the connection to a raw stream (`attach`, exec `start`).
    pub fn upgrade(&self, path: &str, body: Option<&Value>) -> Result<RawStream> {
        let path = format!("/v{}{path}", self.api_version()?);
        let mut req = self.request(Method::POST, &path, body)?;
        req.headers_mut()
            .insert(CONNECTION, "Upgrade".parse().expect("header"));
        req.headers_mut()
            .insert(UPGRADE, "tcp".parse().expect("header"));
        self.rt.block_on(async {
            let res = self.exchange_ok(req).await?;
            let status = res.status().as_u16();
            if status != 101 {
                return Err(ClientError::Http(format!(
                    "the daemon did not upgrade the connection ({status})"
                )));
            }
            let up = hyper::upgrade::on(res).await.map_err(http_err)?;
            let up = match up.downcast::<TokioIo<UnixStream>>() {
                Ok(parts) => {
                    let s = parts.io.into_inner().into_std().map_err(http_err)?;
                    s.set_nonblocking(false).map_err(http_err)?;
                    return Ok(RawStream::unix(s, parts.read_buf.to_vec()));
                }
                Err(up) => up,
            };
            match up.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    let s = parts.io.into_inner().into_std().map_err(http_err)?;
                    s.set_nonblocking(false).map_err(http_err)?;
                    Ok(RawStream::tcp(s, parts.read_buf.to_vec()))
                }
                Err(_) => Err(ClientError::Http(
                    "an upgraded connection of an unknown kind".into(),
                )),
            }
        })
    }
}

async fn send_on<IO>(io: IO, req: Request<Body>) -> Result<Response<Incoming>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http_err)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    tx.send_request(req).await.map_err(http_err)
}

/// Docker's `{"message": …}`, or the body's text.
fn api_error(status: u16, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    ClientError::Api { status, message }
}

/// Whether API version `a` is older than `b` (`1.41` < `1.48`).
fn older(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> (u32, u32) {
        let (x, y) = v.split_once('.').unwrap_or((v, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    parse(a) < parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(older("1.41", "1.48"));
        assert!(older("1.9", "1.10"));
        assert!(!older("1.48", "1.48"));
        assert!(!older("1.51", "1.48"));
    }

    #[test]
    fn error_answers_carry_dockers_message() {
        let e = api_error(404, br#"{"message":"No such container: x"}"#);
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: x"
        );
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            api_error(500, b"oops\n").to_string(),
            "Error response from daemon: oops"
        );
    }
}
