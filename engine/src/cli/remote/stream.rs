//! Attached streams over the API: the upgraded attach connection (raw with a terminal, Docker's
//! 8-byte multiplexed frames without), stdin with the Ctrl-P Ctrl-Q detach keys, window sizes,
//! signals passed on, and the exit code from a `wait` sent before the start.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use anyhow::Result;
use hyper::Method;
use nix::sys::signal::{SigSet, Signal};

use super::super::attach::{raw_terminal, terminal_size, DetachKeys, PROXIED_SIGNALS};
use super::enc;
use baleia_engine::client::{Client, RawStream};

/// Output of an attachment or of `logs`: straight through with a terminal, else demultiplexed
/// from Docker's frames (stream byte, three zeros, big-endian length) to stdout and stderr.
pub struct Output {
    tty: bool,
    pending: Vec<u8>,
}

impl Output {
    /// Output for a container with (`tty`) or without a terminal.
    pub fn new(tty: bool) -> Output {
        Output {
            tty,
            pending: Vec::new(),
        }
    }

    /// Write what can be written of `data` (a frame may span reads).
    pub fn feed(&mut self, data: &[u8]) {
        let (mut out, mut err) = (io::stdout(), io::stderr());
        if self.tty {
            let _ = out.write_all(data).and_then(|_| out.flush());
            return;
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= 8 {
            let len = u32::from_be_bytes([
                self.pending[4],
                self.pending[5],
                self.pending[6],
                self.pending[7],
            ]) as usize;
            if self.pending.len() < 8 + len {
                break;
            }
            let frame: Vec<u8> = self.pending.drain(..8 + len).collect();
            let _ = match frame[0] {
                2 => err.write_all(&frame[8..]).and_then(|_| err.flush()),
                _ => out.write_all(&frame[8..]).and_then(|_| out.flush()),
            };
        }
    }
}

/// Attach to container `id`, ask for its exit (`condition`: `next-exit` or `removed`), call
/// `start`, and pump the streams until the container ends (its exit code) or the user detaches
/// (`None`).
pub fn attached(
    c: &Client,
    id: &str,
    stdin: bool,
    tty: bool,
    condition: &str,
    start: impl FnOnce() -> Result<()>,
) -> Result<Option<i64>> {
    let path = format!(
        "/containers/{}/attach?stream=1&stdin={}&stdout=1&stderr=1",
        enc(id),
        stdin as u8
    );
    let conn = c.upgrade(&path, None)?;
    let waited = c.send(
        Method::POST,
        &format!("/containers/{}/wait?condition={condition}", enc(id)),
        None,
    )?;
    start()?;
    let resize_path = format!("/containers/{}/resize", enc(id));
    let kill_path = format!("/containers/{}/kill", enc(id));
    if !pump(c, conn, stdin, tty, &resize_path, Some(&kill_path))? {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&c.read_all(waited)?)?;
    if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
        anyhow::bail!("{m}");
    }
    Ok(Some(v["StatusCode"].as_i64().unwrap_or(-1)))
}

/// Pump an upgraded stream until it ends: stdin (with the detach keys on a terminal) to it, its
/// output to ours; window changes go to `resize_path`, and without a terminal INT/TERM/… to
/// `kill_path`. Whether it ended on its own (`false`: the user detached).
pub fn pump(
    c: &Client,
    mut conn: RawStream,
    stdin: bool,
    tty: bool,
    resize_path: &str,
    kill_path: Option<&str>,
) -> Result<bool> {
    if tty {
        resize(c, resize_path);
    }
    let _raw = raw_terminal(tty && stdin)?;
    pass_signals(c, resize_path, kill_path, tty)?;
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if stdin {
        let mut writer = conn.try_clone()?;
        let detached = detached.clone();
        std::thread::spawn(move || {
            let mut keys = DetachKeys::default();
            let mut buf = [0u8; 8192];
            let mut input = io::stdin().lock();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = writer.shutdown(Shutdown::Write);
                        return;
                    }
                    Ok(n) => n,
                };
                let (data, detach) = if tty {
                    keys.scan(&buf[..n])
                } else {
                    (buf[..n].to_vec(), false)
                };
                if detach {
                    detached.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
                if writer.write_all(&data).is_err() {
                    return;
                }
            }
        });
    }
    let mut out = Output::new(tty);
    let mut buf = [0u8; 32 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.feed(&buf[..n]),
        }
    }
    Ok(!detached.load(std::sync::atomic::Ordering::SeqCst))
}

/// Tell the daemon our terminal's size at `path` (errors do not matter: the session goes on).
fn resize(c: &Client, path: &str) {
    if let Some((h, w)) = terminal_size() {
        let _ = c.send(Method::POST, &format!("{path}?h={h}&w={w}"), None);
    }
}

/// A thread that turns window changes (terminal) or INT/TERM/… (no terminal, Docker's
/// `--sig-proxy`) into API calls on their own connection.
fn pass_signals(c: &Client, resize_path: &str, kill_path: Option<&str>, tty: bool) -> Result<()> {
    let mut set = SigSet::empty();
    if tty {
        set.add(Signal::SIGWINCH);
    } else if kill_path.is_some() {
        for s in PROXIED_SIGNALS {
            set.add(s);
        }
    } else {
        return Ok(());
    }
    set.thread_block()?;
    let host = c.host().clone();
    let resize_path = resize_path.to_string();
    let kill_path = kill_path.map(str::to_string);
    std::thread::spawn(move || {
        let Ok(c) = Client::new(host) else { return };
        loop {
            let Ok(sig) = set.wait() else { return };
            if sig == Signal::SIGWINCH {
                resize(&c, &resize_path);
            } else if let Some(k) = &kill_path {
                let _ = c.send(Method::POST, &format!("{k}?signal={}", sig.as_str()), None);
            }
        }
    });
    Ok(())
}
