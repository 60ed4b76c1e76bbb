//! The client end of an attached container: stdin to the container (raw terminal with `-t`, the
//! Ctrl-P Ctrl-Q detach keys), output to our stdout/stderr, window resizes, and signal proxying.

use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

use baleia_engine::container::protocol::{read_frame, write_frame, Hello, Kind};

/// Signals the CLI passes on to the container's process when there is no terminal (Docker's
/// `--sig-proxy`).
pub const PROXIED_SIGNALS: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// How an attachment ended.
pub enum Ended {
    /// PID 1 exited with this code.
    Exited(i32),
    /// The user pressed the detach keys; the container runs on.
    Detached,
}

/// Docker's default detach keys, Ctrl-P Ctrl-Q, watched for in typed input.
#[derive(Debug, Default)]
pub struct DetachKeys {
    held_ctrl_p: bool,
}

impl DetachKeys {
    /// The input to pass on, and whether the keys were typed (nothing after them is passed). A
    /// Ctrl-P not followed by Ctrl-Q goes through late, with the next key.
    pub fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len() + 1);
        for &b in input {
            if self.held_ctrl_p {
                self.held_ctrl_p = false;
                if b == 0x11 {
                    return (out, true);
                }
                out.push(0x10);
            }
            if b == 0x10 {
                self.held_ctrl_p = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// The terminal size, if stdout is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The hello for an attachment.
pub fn hello(stdin: bool, tty: bool) -> Hello {
    Hello {
        stdin,
        stdout: true,
        stderr: true,
        size: if tty { terminal_size() } else { None },
    }
}

/// Puts the terminal back as it was.
pub struct RawMode(Termios);

/// Put our terminal in raw mode (keys go through as typed) if `wanted` and stdin is a terminal;
/// the guard restores it.
pub fn raw_terminal(wanted: bool) -> Result<Option<RawMode>> {
    if !(wanted && io::stdin().is_terminal()) {
        return Ok(None);
    }
    let saved = termios::tcgetattr(io::stdin())?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(io::stdin(), SetArg::TCSANOW, &raw)?;
    Ok(Some(RawMode(saved)))
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, &self.0);
    }
}

/// Pump an attachment until PID 1 exits or the user detaches. `pid` is PID 1 on the host, for
/// forwarding Ctrl-C & co. when there is no terminal (Docker's `--sig-proxy`).
pub fn run(stream: UnixStream, stdin: bool, tty: bool, pid: i32) -> Result<Ended> {
    let writer = Arc::new(Mutex::new(stream.try_clone()?));
    let detached = Arc::new(AtomicBool::new(false));
    let _raw = raw_terminal(tty && stdin)?;

    // Signals: window changes become resize frames; without a terminal, INT/TERM/etc. go to PID 1.
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    if !tty {
        for s in PROXIED_SIGNALS {
            set.add(s);
        }
    }
    set.thread_block()?;
    {
        let writer = Arc::clone(&writer);
        std::thread::spawn(move || loop {
            let Ok(sig) = set.wait() else { return };
            if sig == Signal::SIGWINCH {
                if let Some((r, c)) = terminal_size() {
                    let mut b = r.to_be_bytes().to_vec();
                    b.extend_from_slice(&c.to_be_bytes());
                    let _ = write_frame(&mut *writer.lock().expect("writer"), Kind::Resize, &b);
                }
            } else {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
        });
    }
    if stdin {
        let writer = Arc::clone(&writer);
        let detached = Arc::clone(&detached);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut keys = DetachKeys::default();
            let mut input = io::stdin().lock();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = write_frame(
                            &mut *writer.lock().expect("writer"),
                            Kind::CloseStdin,
                            &[],
                        );
                        return;
                    }
                    Ok(n) => n,
                };
                let (out, detach) = if tty {
                    keys.scan(&buf[..n])
                } else {
                    (buf[..n].to_vec(), false)
                };
                if detach {
                    detached.store(true, Ordering::SeqCst);
                    let w = writer.lock().expect("writer");
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    return;
                }
                if !out.is_empty()
                    && write_frame(&mut *writer.lock().expect("writer"), Kind::Stdin, &out).is_err()
                {
                    return;
                }
            }
        });
    }
    let mut reader = stream;
    let (mut out, mut err) = (io::stdout(), io::stderr());
    loop {
        match read_frame(&mut reader) {
            Ok(Some((Kind::Stdout, d))) => {
                out.write_all(&d)?;
                out.flush()?;
            }
            Ok(Some((Kind::Stderr, d))) => {
                err.write_all(&d)?;
                err.flush()?;
            }
            Ok(Some((Kind::Exit, d))) if d.len() == 4 => {
                return Ok(Ended::Exited(i32::from_be_bytes([d[0], d[1], d[2], d[3]])))
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) if detached.load(Ordering::SeqCst) => return Ok(Ended::Detached),
            Ok(None) => return Ok(Ended::Exited(-1)),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_p_ctrl_q_detaches_even_across_reads() {
        let mut k = DetachKeys::default();
        assert_eq!(k.scan(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(k.scan(b"a\x10"), (b"a".to_vec(), false));
        assert_eq!(k.scan(b"\x11b"), (Vec::new(), true));
        let mut k = DetachKeys::default();
        assert_eq!(k.scan(b"\x10x"), (b"\x10x".to_vec(), false));
    }
}
