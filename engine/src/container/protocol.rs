//! The monitor's socket protocol. A client connects to `attach_socket(id)`, sends one JSON line (a
//! [`Hello`]) saying what it wants, then both sides exchange frames: a kind byte, a big-endian u32
//! length, and the payload.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// What a client asks for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hello {
    /// Send stdin frames to the container.
    pub stdin: bool,
    /// Receive the container's stdout.
    pub stdout: bool,
    /// Receive the container's stderr.
    pub stderr: bool,
    /// Terminal size to set first, `(rows, cols)`.
    pub size: Option<(u16, u16)>,
}

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → monitor: bytes for the container's stdin.
    Stdin = 0,
    /// Monitor → client: the container's stdout.
    Stdout = 1,
    /// Monitor → client: the container's stderr.
    Stderr = 2,
    /// Client → monitor: new terminal size (rows u16, cols u16).
    Resize = 3,
    /// Monitor → client: PID 1 exited with this code (i32); the last frame.
    Exit = 4,
    /// Client → monitor: no more stdin.
    CloseStdin = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Stdin,
            1 => Kind::Stdout,
            2 => Kind::Stderr,
            3 => Kind::Resize,
            4 => Kind::Exit,
            5 => Kind::CloseStdin,
            _ => return None,
        })
    }
}

/// Largest payload accepted.
pub const MAX_FRAME: usize = 1 << 20;

/// Write one frame.
pub fn write_frame(w: &mut impl Write, kind: Kind, data: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + data.len());
    buf.push(kind as u8);
    buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

/// Read one frame (blocking); `None` at end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(Kind, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let kind = Kind::from_u8(head[0])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown frame kind"))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut data = vec![0; len];
    r.read_exact(&mut data)?;
    Ok(Some((kind, data)))
}

/// Take complete frames off the front of a buffer filled by non-blocking reads.
pub fn split_frames(buf: &mut Vec<u8>) -> io::Result<Vec<(Kind, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 5 {
        let kind = Kind::from_u8(buf[at])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown frame kind"))?;
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            ));
        }
        if buf.len() - at - 5 < len {
            break;
        }
        out.push((kind, buf[at + 5..at + 5 + len].to_vec()));
        at += 5 + len;
    }
    buf.drain(..at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_whole_and_in_pieces() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Kind::Stdout, b"hello").unwrap();
        write_frame(&mut wire, Kind::Exit, &7i32.to_be_bytes()).unwrap();
        let mut r = &wire[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((Kind::Stdout, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((Kind::Exit, 7i32.to_be_bytes().to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let mut buf = wire[..7].to_vec();
        assert_eq!(split_frames(&mut buf).unwrap(), vec![]);
        buf.extend_from_slice(&wire[7..]);
        assert_eq!(split_frames(&mut buf).unwrap().len(), 2);
        assert!(buf.is_empty());
    }
}
