//! Moving an attached exec's bytes between the client's upgraded connection and the process:
//! its pipes (stdout and stderr as Docker's 8-byte frames) or its terminal's master end (raw).
//! The stream ends only once the exec's exit code is recorded, since the CLI reads it right after.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::unix::pipe;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::daemon::stdcopy::frame;

use super::instance::Exec;
use super::launch::{Event, Pipes};

/// The client's side: an upgraded HTTP connection.
pub type Client = TokioIo<hyper::upgrade::Upgraded>;

/// How long output may still come once the process has ended (a background child of it can
/// hold the pipes open forever).
const DRAIN: Duration = Duration::from_secs(1);

/// Docker's words for a process that could not be started.
pub fn start_failure(message: &str) -> String {
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"
    )
}

/// Without a terminal: the client's bytes to stdin (its half-close closes it), stdout and
/// stderr to the client as frames, until the process has ended and its output is drained, or
/// the client has gone (then the pipes close: the process reads EOF and may get SIGPIPE).
pub async fn pipes(client: Client, p: Pipes, mut events: UnboundedReceiver<Event>) {
    let (mut cli_r, mut cli_w) = tokio::io::split(client);
    let stdin = p
        .stdin
        .and_then(|s| pipe::Sender::from_owned_fd(OwnedFd::from(s)).ok());
    let receiver = |fd: Option<OwnedFd>| fd.and_then(|fd| pipe::Receiver::from_owned_fd(fd).ok());
    let mut out = receiver(p.stdout.map(OwnedFd::from));
    let mut err = receiver(p.stderr.map(OwnedFd::from));
    let input = async move {
        if let Some(mut stdin) = stdin {
            let _ = tokio::io::copy(&mut cli_r, &mut stdin).await;
        }
        std::future::pending::<()>().await
    };
    let output = async {
        enum Got {
            Out(io::Result<usize>),
            Err(io::Result<usize>),
            Event(Option<Event>),
            Late,
        }
        let (mut bo, mut be) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
        let mut deadline: Option<Instant> = None;
        while deadline.is_none() || out.is_some() || err.is_some() {
            let got = tokio::select! {
                r = read_some(&mut out, &mut bo) => Got::Out(r),
                r = read_some(&mut err, &mut be) => Got::Err(r),
                ev = events.recv(), if deadline.is_none() => Got::Event(ev),
                _ = sleep_until(deadline) => Got::Late,
            };
            let (stream, r, buf) = match got {
                Got::Out(r) => (1u8, r, &bo),
                Got::Err(r) => (2u8, r, &be),
                Got::Event(Some(Event::Failed(message))) => {
                    let text = format!("{}\r\n", start_failure(&message));
                    if cli_w.write_all(&frame(1, text.as_bytes())).await.is_err() {
                        return;
                    }
                    deadline = Some(Instant::now() + DRAIN);
                    continue;
                }
                Got::Event(Some(Event::Exited) | None) => {
                    deadline = Some(Instant::now() + DRAIN);
                    continue;
                }
                Got::Event(Some(_)) => continue,
                Got::Late => break,
            };
            match r {
                Ok(n) if n > 0 => {
                    if cli_w.write_all(&frame(stream, &buf[..n])).await.is_err() {
                        return;
                    }
                }
                _ if stream == 1 => out = None,
                _ => err = None,
            }
        }
        // Only here once the exit code is recorded: the client may read it now.
        let _ = cli_w.shutdown().await;
    };
    tokio::select! {
        _ = input => {}
        _ = output => {}
    }
}

async fn read_some(r: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A terminal's master end shared with the [`Exec`] (which resizes it).
struct Master(Arc<OwnedFd>);

impl AsRawFd for Master {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// With a terminal: the client's bytes to it, its output raw to the client, until the process
/// has ended. A client that leaves (its connection closes) hangs the terminal up.
pub async fn terminal(
    client: Client,
    exec: Arc<Exec>,
    stdin: bool,
    mut events: UnboundedReceiver<Event>,
) {
    let (cli_r, mut cli_w) = tokio::io::split(client);
    let master = loop {
        match events.recv().await {
            Some(Event::Terminal(m)) => break m,
            Some(Event::Started) => continue,
            Some(Event::Failed(message)) => {
                let text = format!("{}\r\n", start_failure(&message));
                let _ = cli_w.write_all(text.as_bytes()).await;
                let _ = cli_w.shutdown().await;
                return;
            }
            Some(Event::Exited) | None => {
                let _ = cli_w.shutdown().await;
                return;
            }
        }
    };
    // SAFETY: setting O_NONBLOCK on a descriptor we hold.
    unsafe {
        let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    // SAFETY: `Master` owns (a share of) the descriptor, open until it is dropped.
    let Ok(master) = (unsafe { AsyncFd::register(Master(master)) }) else {
        exec.release_terminal();
        let _ = cli_w.shutdown().await;
        return;
    };
    let ended = tokio::select! {
        _ = type_in(cli_r, &master, stdin) => false,
        ended = show(&mut cli_w, &master, &mut events) => ended,
    };
    if !ended {
        // The client left: let go of the terminal so it hangs up (the container stays).
        exec.release_terminal();
    }
    drop(master);
    let _ = cli_w.shutdown().await;
}

/// The client's keystrokes to the terminal; returns when the client has gone.
async fn type_in(mut cli_r: ReadHalf<Client>, master: &AsyncFd<Master>, stdin: bool) {
    if !stdin {
        return std::future::pending().await;
    }
    let mut buf = vec![0u8; 8192];
    loop {
        match cli_r.read(&mut buf).await {
            Ok(n) if n > 0 => {
                if write_all(master, &buf[..n]).await.is_err() {
                    return std::future::pending().await;
                }
            }
            _ => return,
        }
    }
}

/// The terminal's output to the client until the process has ended (true) or the client has
/// gone (false).
async fn show(
    cli_w: &mut WriteHalf<Client>,
    master: &AsyncFd<Master>,
    events: &mut UnboundedReceiver<Event>,
) -> bool {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let got = tokio::select! {
            r = read(master, &mut buf) => Some(r),
            ev = events.recv() => match ev {
                Some(Event::Exited | Event::Failed(_)) | None => None,
                Some(_) => continue,
            },
        };
        match got {
            Some(Ok(n)) if n > 0 => {
                if cli_w.write_all(&buf[..n]).await.is_err() {
                    return false;
                }
            }
            Some(_) => {
                // EIO: no process holds the terminal any more; the exit code follows.
                while let Some(ev) = events.recv().await {
                    if matches!(ev, Event::Exited | Event::Failed(_)) {
                        break;
                    }
                }
                return true;
            }
            None => {
                // Ended: take what the terminal still holds.
                while let Ok(n) = raw_read(master.as_raw_fd(), &mut buf) {
                    if n == 0 || cli_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                return true;
            }
        }
    }
}

async fn read(fd: &AsyncFd<Master>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut ready = fd.readable().await?;
        if let Ok(r) = ready.try_io(|f| raw_read(f.as_raw_fd(), buf)) {
            return r;
        }
    }
}

async fn write_all(fd: &AsyncFd<Master>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut ready = fd.writable().await?;
        if let Ok(r) = ready.try_io(|f| {
            // SAFETY: writing from a live buffer to an open descriptor.
            let n = unsafe { libc::write(f.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }) {
            data = &data[r?..];
        }
    }
    Ok(())
}

fn raw_read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reading into a live buffer from an open descriptor.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_failures_read_as_docker_writes_them() {
        assert_eq!(
            start_failure("exec: \"x\": executable file not found in $PATH"),
            "OCI runtime exec failed: exec failed: unable to start container process: \
             exec: \"x\": executable file not found in $PATH: unknown"
        );
    }
}
