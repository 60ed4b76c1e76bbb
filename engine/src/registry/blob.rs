//! Downloading blobs: small ones (configs) into memory, layers streamed into the layer store, each
//! hashed on the way and checked against its digest and size.
//!
//! A layer's bytes go from the HTTP stream (on the runtime thread, which hashes them) through a
//! bounded channel to a thread of its own that sniffs the compression, decompresses and unpacks
//! into staging (`LayerStore::stage`, which computes the diff ID). No file holds the whole blob.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::Client;
use tokio::sync::{mpsc, oneshot};

use super::error::{Context, RegistryError};
use super::progress::Reporter;
use crate::archive::compression::{self, Kind};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::layer::{LayerStore, StagedLayer, Staging};

/// Largest config or other in-memory blob accepted.
const MAX_SMALL_BLOB: u64 = 64 << 20;
/// Chunks in flight between the download and the unpacking thread.
const CHANNEL_DEPTH: usize = 16;
/// Report download progress every this many bytes.
const REPORT_EVERY: u64 = 512 << 10;

/// Fetch a small blob (a config) whole, checking its digest and size.
pub(super) async fn fetch_small(
    client: &Client,
    reference: &oci_client::Reference,
    digest: &Digest,
    size: u64,
    what: &str,
    cx: &Context<'_>,
) -> Result<Vec<u8>> {
    if size > MAX_SMALL_BLOB {
        return Err(RegistryError::Other(format!("{what} is too large ({size} bytes)")).into());
    }
    let d = digest.to_string();
    let mut stream = client
        .pull_blob_stream(reference, d.as_str())
        .await
        .map_err(|e| RegistryError::from_oci(e, cx))?;
    let mut out = Vec::with_capacity(size as usize);
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) if (out.len() + c.len()) as u64 <= size => out.extend_from_slice(&c),
            Ok(c) => {
                return Err(RegistryError::SizeMismatch {
                    what: what.to_string(),
                    declared: size,
                    actual: (out.len() + c.len()) as u64,
                }
                .into())
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    check(what, digest, size, &Digest::of(&out), out.len() as u64)?;
    if let Some(e) = failure {
        return Err(Error::Stream {
            what: what.to_string(),
            source: e,
        });
    }
    Ok(out)
}

/// One layer to download.
pub(super) struct LayerJob {
    /// Its compressed digest (what the registry names it by).
    pub digest: Digest,
    /// Its size in the manifest.
    pub size: u64,
    /// The diff ID the config says it has.
    pub diff_id: Digest,
    /// `layer sha256:…`, for errors.
    pub what: String,
}

/// Where layers are unpacked, shared with the unpacking threads.
#[derive(Clone)]
pub(super) struct Unpacker {
    /// The store whose `stage` unpacks.
    pub layers: LayerStore,
    /// The pull's staging folder.
    pub staging: Arc<Staging>,
    /// Unpacking threads started, joined by the pull before it returns.
    pub threads: Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

enum Chunk {
    Data(Bytes),
    End,
}

/// Download one layer, unpacking it into staging as it arrives; checked against its digest, size
/// and diff ID.
pub(super) async fn fetch_layer(
    client: &Client,
    reference: &oci_client::Reference,
    job: &LayerJob,
    unpacker: &Unpacker,
    report: &Reporter<'_>,
    cx: &Context<'_>,
) -> Result<StagedLayer> {
    let id = job.digest.short();
    let d = job.digest.to_string();
    let mut stream = client
        .pull_blob_stream(reference, d.as_str())
        .await
        .map_err(|e| RegistryError::from_oci(e, cx))?;
    let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
    let (done_tx, done_rx) = oneshot::channel();
    {
        let u = unpacker.clone();
        let what = job.what.clone();
        let handle = std::thread::spawn(move || {
            let _ = done_tx.send(unpack(&u, ChannelReader::new(rx), &what));
        });
        unpacker.threads.lock().expect("threads lock").push(handle);
    }
    let mut hasher = Hasher::default();
    let mut forwarding = true;
    let mut reported = 0u64;
    let mut failure = None;
    report.layer(&id, "Downloading", 0, job.size);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        hasher.update(&chunk);
        if hasher.len() > job.size {
            return Err(RegistryError::SizeMismatch {
                what: job.what.clone(),
                declared: job.size,
                actual: hasher.len(),
            }
            .into());
        }
        // If the unpacker stopped early (an error), keep hashing: its error is reported below.
        if forwarding && tx.send(Chunk::Data(chunk)).await.is_err() {
            forwarding = false;
        }
        if hasher.len() - reported >= REPORT_EVERY || hasher.len() == job.size {
            reported = hasher.len();
            report.layer(&id, "Downloading", reported, job.size);
        }
    }
    report.layer(&id, "Verifying Checksum", 0, 0);
    let (n, actual) = (hasher.len(), hasher.finish());
    check(&job.what, &job.digest, job.size, &actual, n)?;
    if let Some(e) = failure {
        return Err(Error::Stream {
            what: job.what.clone(),
            source: e,
        });
    }
    let _ = tx.send(Chunk::End).await;
    drop(tx);
    report.layer(&id, "Download complete", 0, 0);
    let staged = done_rx
        .await
        .map_err(|_| RegistryError::Other(format!("{}: unpacking stopped", job.what)))??;
    crate::layer::verify(
        &format!("{} (uncompressed)", job.what),
        &job.diff_id,
        &staged.diff,
    )?;
    Ok(staged)
}

/// Digest and size of a downloaded blob against its descriptor.
fn check(what: &str, want: &Digest, size: u64, got: &Digest, n: u64) -> Result<()> {
    if got != want {
        return Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: want.to_string(),
            actual: got.to_string(),
        }
        .into());
    }
    if n != size {
        return Err(RegistryError::SizeMismatch {
            what: what.to_string(),
            declared: size,
            actual: n,
        }
        .into());
    }
    Ok(())
}

/// On the unpacking thread: recognise the compression, unpack into staging, read to the end.
fn unpack(u: &Unpacker, mut input: ChannelReader, what: &str) -> Result<StagedLayer> {
    let head = compression::read_head(&mut input, compression::SNIFF_LEN).on(what)?;
    let kind = compression::sniff(&head);
    if kind == Kind::Other {
        return Err(RegistryError::UnsupportedMediaType {
            what: what.to_string(),
            media_type: "not a tar stream (nor gzip or zstd)".into(),
        }
        .into());
    }
    let mut blob = io::Cursor::new(head).chain(input);
    let staged = {
        let tar = compression::decompress(kind, &mut blob).on(what)?;
        u.layers.stage(&u.staging, tar, what)?
    };
    io::copy(&mut blob, &mut io::sink()).on(what)?;
    Ok(staged)
}

/// A blocking reader over the chunks a download sends; a download that stops without saying it
/// ended reads as an error, never as a short stream.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    ended: bool,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Chunk>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.current = b,
                Some(Chunk::End) => self.ended = true,
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "download interrupted",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
