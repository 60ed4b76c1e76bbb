//! Tar-split: what it takes to rebuild a layer tar byte for byte from its unpacked `diff` folder.
//!
//! While a layer is extracted, every byte of the tar stream that is not regular-file content
//! (headers, pax records, padding, the end-of-archive blocks) is kept as a raw segment, and each file's
//! content is kept as a reference (path, size). `save` replays the segments, reading file content back
//! from `diff/`, so the layer's digest (its diff ID) is reproduced without storing the tar twice.
//! Docker does the same with its `tar-split.json.gz`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

const RAW: u8 = b'R';
const FILE: u8 = b'F';

/// One piece of a layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes written as they are.
    Raw(Vec<u8>),
    /// `size` bytes of content read from `diff/<path>`.
    File { path: PathBuf, size: u64 },
}

/// Records the raw parts of a tar stream as it is read (see module docs).
#[derive(Clone, Default)]
pub struct Recording {
    inner: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    raw: Vec<u8>,
    paused: bool,
    segments: Vec<Segment>,
}

impl Recording {
    /// Wrap the tar stream's reader: bytes read through it are recorded unless a file is being copied.
    pub fn reader<R: Read>(&self, inner: R) -> RecordingReader<R> {
        RecordingReader {
            inner,
            rec: self.clone(),
        }
    }
    /// Mark the start of a regular file's content: what follows is not recorded.
    pub fn begin_file(&self) {
        let mut s = self.inner.borrow_mut();
        s.flush_raw();
        s.paused = true;
    }
    /// Mark the end of a regular file's content, naming where it was extracted.
    pub fn end_file(&self, path: PathBuf, size: u64) {
        let mut s = self.inner.borrow_mut();
        s.paused = false;
        if size > 0 {
            s.segments.push(Segment::File { path, size });
        }
    }
    /// All segments recorded so far.
    pub fn finish(&self) -> Vec<Segment> {
        let mut s = self.inner.borrow_mut();
        s.flush_raw();
        std::mem::take(&mut s.segments)
    }
}

impl State {
    fn flush_raw(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        match self.segments.last_mut() {
            Some(Segment::Raw(prev)) => prev.extend_from_slice(&raw),
            _ => self.segments.push(Segment::Raw(raw)),
        }
    }
}

/// Reader half of a [`Recording`].
pub struct RecordingReader<R> {
    inner: R,
    rec: Recording,
}

impl<R: Read> Read for RecordingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.rec.inner.borrow_mut();
        if !s.paused {
            s.raw.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// Write segments to `path` (gzip; a layer of thousands of files keeps a few hundred kB).
pub fn write(path: &Path, segments: &[Segment]) -> io::Result<()> {
    let mut w = GzEncoder::new(
        BufWriter::new(File::create(path)?),
        flate2::Compression::fast(),
    );
    for seg in segments {
        match seg {
            Segment::Raw(bytes) => {
                w.write_all(&[RAW])?;
                w.write_all(&(bytes.len() as u64).to_le_bytes())?;
                w.write_all(bytes)?;
            }
            Segment::File { path, size } => {
                let p = path.as_os_str().as_bytes();
                w.write_all(&[FILE])?;
                w.write_all(&size.to_le_bytes())?;
                w.write_all(&(p.len() as u64).to_le_bytes())?;
                w.write_all(p)?;
            }
        }
    }
    w.finish()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

/// Read segments written by [`write`].
pub fn read(path: &Path) -> io::Result<Vec<Segment>> {
    let mut r = GzDecoder::new(BufReader::new(File::open(path)?));
    let mut out = Vec::new();
    let mut tag = [0u8; 1];
    loop {
        match r.read(&mut tag)? {
            0 => return Ok(out),
            _ => match tag[0] {
                RAW => {
                    let n = read_u64(&mut r)?;
                    let mut bytes = vec![0; checked_len(n)?];
                    r.read_exact(&mut bytes)?;
                    out.push(Segment::Raw(bytes));
                }
                FILE => {
                    let size = read_u64(&mut r)?;
                    let n = read_u64(&mut r)?;
                    let mut p = vec![0; checked_len(n)?];
                    r.read_exact(&mut p)?;
                    let path = PathBuf::from(OsString::from_vec(p));
                    out.push(Segment::File { path, size });
                }
                t => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("tar-split: unknown record {t:#x}"),
                    ))
                }
            },
        }
    }
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn checked_len(n: u64) -> io::Result<usize> {
    if n > 1 << 30 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "tar-split: record too large",
        ));
    }
    Ok(n as usize)
}

/// Replays segments as a tar stream, reading file content from `diff`.
pub struct Replay {
    diff: PathBuf,
    segments: std::vec::IntoIter<Segment>,
    current: Option<Box<dyn Read>>,
}

impl Replay {
    /// A reader producing the original layer tar.
    pub fn new(diff: PathBuf, segments: Vec<Segment>) -> Self {
        Replay {
            diff,
            segments: segments.into_iter(),
            current: None,
        }
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(cur) = &mut self.current {
                let n = cur.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            match self.segments.next() {
                None => return Ok(0),
                Some(Segment::Raw(bytes)) => self.current = Some(Box::new(io::Cursor::new(bytes))),
                Some(Segment::File { path, size }) => {
                    let full = self.diff.join(&path);
                    let f = File::open(&full).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", full.display()))
                    })?;
                    let len = f.metadata()?.len();
                    if len != size {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "{}: layer content changed ({len} bytes, expected {size})",
                                full.display()
                            ),
                        ));
                    }
                    self.current = Some(Box::new(f.take(size)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let segs = vec![
            Segment::Raw(vec![1, 2, 3]),
            Segment::File {
                path: "etc/hostname".into(),
                size: 5,
            },
            Segment::Raw(vec![0; 1024]),
        ];
        let p = dir.path().join("ts");
        write(&p, &segs).unwrap();
        assert_eq!(read(&p).unwrap(), segs);
    }

    #[test]
    fn replay_refuses_changed_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"abcdef").unwrap();
        let mut r = Replay::new(
            dir.path().into(),
            vec![Segment::File {
                path: "f".into(),
                size: 3,
            }],
        );
        let err = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
        assert!(err.to_string().contains("layer content changed"), "{err}");
    }
}
