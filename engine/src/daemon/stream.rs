//! Answers streamed from engine work on the blocking pool (pull and push progress, a saved
//! archive): a failure before the first bytes is an ordinary error answer with Docker's status
//! code; once the 200 is out, a failure is told in the body or cuts the answer short.

use std::io::{self, Write};

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::errors::ApiError;

/// What the job sends to its answer.
pub enum Msg {
    /// Bytes of the body.
    Data(Bytes),
    /// The job failed (nothing follows).
    Failed(ApiError),
}

/// How a failure after the first bytes is told: one last chunk of the body (Docker's JSON error
/// message), or `None` to cut the answer short so the client sees it incomplete.
pub type LateError = fn(&ApiError) -> Option<Bytes>;

/// The answer for what `msgs` carries: its failure as an error status if it comes first, else a
/// 200 of `content_type` whose body is every chunk as it arrives.
pub async fn answer(
    msgs: impl Stream<Item = Msg> + Send + 'static,
    content_type: &'static str,
    late: LateError,
) -> Result<Response, ApiError> {
    let mut msgs = Box::pin(msgs);
    let first = match msgs.next().await {
        Some(Msg::Failed(e)) => return Err(e),
        Some(Msg::Data(b)) => Some(b),
        None => None,
    };
    let rest = msgs
        .scan(false, move |failed, m| {
            let item = match m {
                _ if *failed => None,
                Msg::Data(b) => Some(Ok(b)),
                Msg::Failed(e) => {
                    *failed = true;
                    Some(late(&e).ok_or_else(|| io::Error::other(e.message)))
                }
            };
            futures::future::ready(item)
        })
        .boxed();
    let body = futures::stream::iter(first.map(Ok)).chain(rest);
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response())
}

/// The messages of an unbounded channel (progress: the sender may be inside another runtime,
/// where it must not block).
pub fn unbounded() -> (
    mpsc::UnboundedSender<Msg>,
    impl Stream<Item = Msg> + Send + 'static,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let s = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    (tx, s)
}

/// Bytes of one chunk sent by a [`ChunkWriter`].
const CHUNK: usize = 256 << 10;

/// A `Write` on the blocking pool whose bytes become the answer's body, in chunks, through a
/// bounded channel: a slow client slows the writer, a client gone fails its next write.
pub struct ChunkWriter {
    tx: mpsc::Sender<Msg>,
    buf: BytesMut,
}

impl ChunkWriter {
    /// A writer and the stream of its messages (at most a few chunks in flight).
    pub fn new() -> (ChunkWriter, impl Stream<Item = Msg> + Send + 'static) {
        let (tx, rx) = mpsc::channel(4);
        let s =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        let w = ChunkWriter {
            tx,
            buf: BytesMut::with_capacity(CHUNK),
        };
        (w, s)
    }

    /// Report a failure to the answer (nothing more is sent after it).
    pub fn fail(&self, e: ApiError) {
        let _ = self.tx.blocking_send(Msg::Failed(e));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx
            .blocking_send(Msg::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(r: Response) -> Result<Vec<u8>, String> {
        let mut s = r.into_body().into_data_stream();
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_early_failure_is_an_error_answer_and_a_late_one_is_told_in_the_body() {
        rt().block_on(async {
            let msgs = futures::stream::iter([Msg::Failed(ApiError::not_found("no such"))]);
            let e = answer(msgs, "application/json", |_| None)
                .await
                .unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::NOT_FOUND);

            let msgs = futures::stream::iter([
                Msg::Data(Bytes::from_static(b"one\n")),
                Msg::Failed(ApiError::internal("broke")),
                Msg::Data(Bytes::from_static(b"never\n")),
            ]);
            let late: LateError = |e| Some(Bytes::from(format!("error: {}\n", e.message)));
            let r = answer(msgs, "application/json", late).await.unwrap();
            assert_eq!(body_of(r).await.unwrap(), b"one\nerror: broke\n");

            let msgs = futures::stream::iter([
                Msg::Data(Bytes::from_static(b"tar")),
                Msg::Failed(ApiError::internal("broke")),
            ]);
            let r = answer(msgs, "application/x-tar", |_| None).await.unwrap();
            assert!(
                body_of(r).await.is_err(),
                "a cut answer must not look whole"
            );
        });
    }

    #[test]
    fn a_chunk_writer_streams_everything_written_in_order() {
        rt().block_on(async {
            let (mut w, msgs) = ChunkWriter::new();
            let data: Vec<u8> = (0..CHUNK * 3 + 17).map(|i| (i % 251) as u8).collect();
            let expect = data.clone();
            tokio::task::spawn_blocking(move || {
                for piece in data.chunks(1000) {
                    w.write_all(piece).unwrap();
                }
                w.flush().unwrap();
            });
            let r = answer(msgs, "application/x-tar", |_| None).await.unwrap();
            assert_eq!(body_of(r).await.unwrap(), expect);
        });
    }
}
