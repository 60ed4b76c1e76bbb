//! The connection after an HTTP upgrade (attach, exec start): a plain blocking socket, with the
//! bytes the HTTP layer had already read put in front.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

/// A raw, bidirectional stream to the daemon.
#[derive(Debug)]
pub struct RawStream {
    conn: Conn,
    early: Vec<u8>,
}

#[derive(Debug)]
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl RawStream {
    pub(super) fn unix(s: UnixStream, early: Vec<u8>) -> RawStream {
        RawStream {
            conn: Conn::Unix(s),
            early,
        }
    }

    pub(super) fn tcp(s: TcpStream, early: Vec<u8>) -> RawStream {
        RawStream {
            conn: Conn::Tcp(s),
            early,
        }
    }

    /// A second handle on the same connection (for writing from another thread).
    pub fn try_clone(&self) -> io::Result<RawStream> {
        let conn = match &self.conn {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        };
        Ok(RawStream {
            conn,
            early: Vec::new(),
        })
    }

    /// Close our sending half (the container's stdin ends) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.conn {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.early.is_empty() {
            let n = buf.len().min(self.early.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            return Ok(n);
        }
        match &mut self.conn {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.conn {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
