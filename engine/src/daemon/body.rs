//! A request body as a synchronous reader, for engine work on the blocking pool (`load`, `import`
//! read their tar from it as it arrives, never holding it all in memory).

use std::io::{self, Read};

use axum::body::Body;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The reading end: blocks (on the blocking pool only) until the next chunk arrives.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// A reader of `body`, and the task that feeds it. The task reads the body to its end even when
/// the reader stops early (a malformed archive), so the client can finish sending and read the
/// answer: await it before answering with an error.
pub fn reader(body: Body) -> (BodyReader, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8);
    let feed = tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        let mut reading = true;
        while let Some(c) = chunks.next().await {
            let item = c.map_err(io::Error::other);
            let failed = item.is_err();
            if reading && tx.send(item).await.is_err() {
                reading = false;
            }
            if failed {
                break;
            }
        }
    });
    let r = BodyReader {
        rx,
        current: Bytes::new(),
    };
    (r, feed)
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_reads_whole_and_is_drained_when_the_reader_stops() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let parts: Vec<Result<Bytes, io::Error>> =
                (0..50u8).map(|i| Ok(Bytes::from(vec![i; 1000]))).collect();
            let (mut r, feed) = reader(Body::from_stream(futures::stream::iter(parts)));
            let all = tokio::task::spawn_blocking(move || {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                v
            })
            .await
            .unwrap();
            feed.await.unwrap();
            assert_eq!(all.len(), 50_000);
            assert_eq!(all[49_999], 49);

            let parts: Vec<Result<Bytes, io::Error>> =
                (0..50u8).map(|i| Ok(Bytes::from(vec![i; 1000]))).collect();
            let (mut r, feed) = reader(Body::from_stream(futures::stream::iter(parts)));
            tokio::task::spawn_blocking(move || {
                let mut first = [0u8; 10];
                r.read_exact(&mut first).unwrap();
            })
            .await
            .unwrap();
            // The reader is gone after 10 bytes; the rest of the body is still consumed.
            tokio::time::timeout(std::time::Duration::from_secs(5), feed)
                .await
                .expect("the body is drained")
                .unwrap();
        });
    }
}
