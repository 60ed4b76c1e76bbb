//! start, stop, kill, wait, rm, prune, rename: what the CLI asks of a container. Waiting is done on
//! the monitor's socket (it sends the exit code as PID 1 is reaped), never by polling.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::model::Container;
use super::protocol::{read_frame, Hello, Kind};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::lock::Mode;

/// Docker's default grace period before `stop` kills.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;

impl Engine {
    /// Start a created or exited container: spawn its monitor and wait until PID 1 runs (or failed).
    /// With `attach`, the returned stream is connected before PID 1 starts, so no output is missed.
    pub fn start_container(
        &self,
        name: &str,
        attach: Option<&Hello>,
    ) -> Result<(Container, Option<UnixStream>)> {
        let c = self.resolve_container(name)?;
        if c.state.running {
            let stream = attach.map(|h| self.attach(&c, h)).transpose()?;
            return Ok((c, stream));
        }
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::Runtime(format!("pipe: {e}")))?;
        let log_path = self.paths.container(&c.id).join("monitor.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .at(&log_path)?;
        let exe = baleia_program()?;
        let mut cmd = Command::new(&exe);
        cmd.arg("--root")
            .arg(self.paths.root())
            .arg("__monitor")
            .arg(&c.id);
        if attach.is_some() {
            cmd.arg("--attach");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let ready_fd = ready_w.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(ready_fd, 3) < 0 || libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The monitor keeps nothing of ours (a terminal, a socket) but fd 3.
                libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Runtime(format!("starting the monitor {}: {e}", exe.display())))?;
        drop(ready_w);
        let _ = child.wait();
        let mut ready = BufReader::new(std::fs::File::from(ready_r));
        let mut line = String::new();
        let _ = ready.read_line(&mut line);
        let mut stream = None;
        if let (Some(h), true) = (attach, line.starts_with("listening")) {
            stream = Some(self.attach(&c, h)?);
            line.clear();
            let _ = ready.read_line(&mut line);
        }
        match line.trim_end().strip_prefix("error:") {
            None if line.starts_with("ok") => Ok((self.resolve_container(&c.id)?, stream)),
            None => Err(Error::Runtime(format!(
                "the monitor of {} stopped before starting it (see {})",
                c.short_id(),
                log_path.display()
            ))),
            Some(rest) => {
                let (code, msg) = rest.split_once(':').unwrap_or(("125", rest));
                Err(Error::StartFailed {
                    code: code.parse().unwrap_or(125),
                    message: msg.to_string(),
                })
            }
        }
    }

    /// Connect to a running container's monitor as `hello` says.
    pub fn attach(&self, c: &Container, hello: &Hello) -> Result<UnixStream> {
        let path = self.paths.attach_socket(&c.id);
        let mut s = UnixStream::connect(&path).map_err(|_| {
            Error::Conflict("You cannot attach to a stopped container, start it first".into())
        })?;
        writeln!(s, "{}", serde_json::to_string(hello).expect("hello")).on("attaching")?;
        Ok(s)
    }

    /// Send `signal` to PID 1 (`kill -s`).
    pub fn kill_container(&self, name: &str, signal: &str) -> Result<Container> {
        let c = self.resolve_container(name)?;
        let sig = parse_signal(signal)?;
        if !c.state.running {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {name}: container {} is not running",
                c.id
            )));
        }
        let _ = kill(Pid::from_raw(c.state.pid), sig);
        Ok(c)
    }

    /// Stop: the stop signal (SIGTERM unless the image says otherwise), then SIGKILL after `timeout`.
    /// `signal` (`stop -s`) replaces the image's stop signal.
    pub fn stop_container(
        &self,
        name: &str,
        timeout: Option<u64>,
        signal: Option<&str>,
    ) -> Result<Container> {
        let c = self.resolve_container(name)?;
        if !c.state.running {
            return Ok(c);
        }
        let sig = signal
            .or(c.config.stop_signal.as_deref())
            .map(parse_signal)
            .transpose()?
            .unwrap_or(Signal::SIGTERM);
        let _ = kill(Pid::from_raw(c.state.pid), sig);
        let t = timeout.unwrap_or(DEFAULT_STOP_TIMEOUT);
        if self.wait_exit(&c, Some(Duration::from_secs(t)))?.is_none() {
            let _ = kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
            self.wait_exit(&c, None)?;
        }
        self.resolve_container(&c.id)
    }

    /// Block until the container is not running; its exit code.
    pub fn wait_container(&self, name: &str) -> Result<i32> {
        let c = self.resolve_container(name)?;
        let code = if c.state.running {
            self.wait_exit(&c, None)?
        } else {
            None
        };
        // A `--rm` container's record is gone by now: its code is the one the monitor sent.
        Ok(self
            .resolve_container(&c.id)
            .map(|c| c.state.exit_code)
            .unwrap_or(code.unwrap_or(c.state.exit_code)))
    }

    /// Wait on the monitor's socket for PID 1's exit; `None` if `timeout` passed first.
    pub fn wait_exit(&self, c: &Container, timeout: Option<Duration>) -> Result<Option<i32>> {
        let Ok(mut s) = UnixStream::connect(self.paths.attach_socket(&c.id)) else {
            return Ok(Some(
                self.load_container(&c.id)?
                    .map(|c| c.state.exit_code)
                    .unwrap_or(0),
            ));
        };
        let hello = serde_json::to_string(&Hello::default()).expect("hello");
        let _ = writeln!(s, "{hello}");
        // A zero timeout (`stop -t 0`) means "don't wait", which the socket spells as 1 ms.
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        s.set_read_timeout(timeout).on("monitor socket")?;
        loop {
            match read_frame(&mut s) {
                Ok(Some((Kind::Exit, code))) if code.len() == 4 => {
                    return Ok(Some(i32::from_be_bytes([
                        code[0], code[1], code[2], code[3],
                    ])))
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Ok(Some(
                        self.load_container(&c.id)?
                            .map(|c| c.state.exit_code)
                            .unwrap_or(0),
                    ))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                // The monitor finished and closed on us: the container has exited.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return Ok(Some(
                        self.load_container(&c.id)?
                            .map(|c| c.state.exit_code)
                            .unwrap_or(0),
                    ))
                }
                Err(e) => return Err(e).on("monitor socket"),
            }
        }
    }

    /// Remove a container (`rm`; `force` kills a running one first).
    pub fn remove_container(&self, name: &str, force: bool) -> Result<()> {
        let c = self.resolve_container(name)?;
        if c.state.running {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            let _ = kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
            self.wait_exit(&c, None)?;
        }
        let _lock = self.lock(Mode::Exclusive)?;
        if self.load_container(&c.id)?.is_some() {
            self.delete_container_files(&c.id)?;
        }
        Ok(())
    }

    /// Remove every stopped container; their IDs and the bytes their layers held.
    pub fn prune_containers(&self) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for c in self.containers()? {
            if !c.state.running {
                bytes += du(&self.paths.overlay_layer(&c.id).join("diff"));
                self.remove_container(&c.id, false)?;
                removed.push(c.id);
            }
        }
        Ok((removed, bytes))
    }

    /// Give a container a new name.
    pub fn rename_container(&self, name: &str, new: &str) -> Result<()> {
        if !crate::names::valid_name(new) {
            return Err(Error::Runtime(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _lock = self.lock(Mode::Exclusive)?;
        let mut c = self.resolve_container(name)?;
        if let Some(other) = self.container_named(new)? {
            return Err(Error::Conflict(format!(
                "Error when allocating new name: The container name \"/{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        c.name = format!("/{}", new.trim_start_matches('/'));
        self.save_container(&c)?;
        // Its endpoints answer to the new name at once (embedded DNS, `network inspect`).
        let _net = self.network_lock()?;
        for mut n in self.read_networks()? {
            if let Some(ep) = n.containers.get_mut(&c.id) {
                ep.name = c.bare_name().to_string();
                self.save_network(&n)?;
            }
        }
        Ok(())
    }
}

/// The `baleia` executable that helper processes (`__monitor`, `__exec`) run: `BALEIA_EXE`, else
/// this one.
pub(crate) fn baleia_program() -> Result<std::path::PathBuf> {
    if let Ok(p) = std::env::var("BALEIA_EXE") {
        return Ok(p.into());
    }
    std::env::current_exe().on("finding the baleia executable")
}

/// `TERM`, `SIGTERM`, `15` → the signal.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::Runtime(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Bytes of file content under `p`.
pub fn du(p: &std::path::Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    for e in rd.flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => total += du(&e.path()),
            Ok(m) if m.is_file() => total += m.len(),
            _ => {}
        }
    }
    total
}
