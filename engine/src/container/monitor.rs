//! The monitor: one process per running container (Docker's containerd-shim, podman's conmon). It
//! outlives the CLI that started it; it is PID 1's parent; it owns the terminal or the pipes, writes
//! the json-file log, serves attach/wait/resize on a unix socket, reaps PID 1, and records the exit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use chrono::Utc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::model::{Container, HostConfig};
use super::protocol::{split_frames, write_frame, Hello, Kind};
use super::spawn::{self, Spec, Stdio};
use super::{resources, rootfs, user};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};

/// Run the monitor of container `id`; `ready` is a pipe to the starting CLI, told `ok` once PID 1
/// runs or `error:<code>:<message>` if it could not start. Returns when the container has exited.
/// With `attach_first`, the socket is bound and `listening` sent first; PID 1 starts only once that
/// first client (the `run`/`start -a` CLI) is connected, so it sees every byte of output.
pub fn run(engine: &Engine, id: &str, ready: OwnedFd, attach_first: bool) -> Result<()> {
    let _ = cloexec(ready.as_raw_fd());
    let mut ready = File::from(ready);
    let mut c = engine
        .load_container(id)?
        .ok_or_else(|| Error::NoSuchContainer(id.to_string()))?;
    let host = engine.host_config(id)?;
    match start(engine, &mut c, &host, attach_first.then_some(&mut ready)) {
        Ok((running, first)) => {
            let _ = ready.write_all(b"ok\n");
            drop(ready);
            running.serve(engine, c, &host, first)
        }
        Err((code, msg)) => {
            engine.release_runtime(id)?;
            c.state.status = "created".into();
            c.state.exit_code = code;
            c.state.error = msg.clone();
            engine.save_container(&c)?;
            let _ = writeln!(ready, "error:{code}:{msg}");
            if host.auto_remove {
                engine.delete_container_files(id)?;
            }
            Ok(())
        }
    }
}

/// A started container, from the monitor's side.
struct Running {
    pid: Pid,
    listener: UnixListener,
    signals: SignalFd,
    /// Terminal master, or stdout and stderr pipes.
    outputs: Vec<(OwnedFd, Kind)>,
    /// Where stdin frames go (the terminal master, or the stdin pipe), if stdin is open.
    stdin: Option<OwnedFd>,
    tty: bool,
    log: File,
    partial: [Vec<u8>; 2],
    /// Host ports held for the container.
    _wired: super::network::Wired,
}

type StartError = (i32, String);

fn start(
    engine: &Engine,
    c: &mut Container,
    host: &HostConfig,
    announce: Option<&mut File>,
) -> std::result::Result<(Running, Vec<Client>), StartError> {
    let e125 = |e: Error| (125, e.to_string());
    // The runtime folder may be removed by this root's last other container stopping at this very
    // moment: make it and bind again if so.
    let sock = engine.paths.attach_socket(&c.id);
    let _ = fs::remove_file(&sock);
    let mut tries = 0;
    let listener = loop {
        let runtime = engine.paths.runtime();
        fs::create_dir_all(&runtime).map_err(|e| (125, format!("{}: {e}", runtime.display())))?;
        match UnixListener::bind(&sock) {
            Ok(l) => break l,
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
            Err(e) => return Err((125, format!("{}: {e}", sock.display()))),
        }
    };
    let mut first = Vec::new();
    if let Some(pipe) = announce {
        let _ = pipe.write_all(b"listening\n");
        listener
            .set_nonblocking(false)
            .map_err(|e| (125, e.to_string()))?;
        let (stream, _) = listener
            .accept()
            .map_err(|e| (125, format!("waiting for the client to attach: {e}")))?;
        first.extend(accept_client(stream));
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| (125, e.to_string()))?;

    let rootfs = rootfs::mount_overlay(&engine.paths, &c.id).map_err(e125)?;
    let cgroup = resources::create_cgroup(&c.id, host).map_err(e125)?;
    let user = user::resolve(&rootfs, &c.config.user).map_err(|m| (125, m))?;

    let links = super::network::resolve_links(engine, c, host).map_err(e125)?;
    let (stdio, outputs, stdin, child_ends) =
        open_stdio(&c.config).map_err(|e| (125, format!("stdio: {e}")))?;
    let dir = engine.paths.container(&c.id);
    let spec = Spec {
        rootfs,
        hostname: c.config.hostname.clone(),
        argv: std::iter::once(c.path.clone())
            .chain(c.args.iter().cloned())
            .collect(),
        env: c.config.env.iter().chain(&links.env).cloned().collect(),
        cwd: PathBuf::from(if c.config.working_dir.is_empty() {
            "/"
        } else {
            &c.config.working_dir
        }),
        user,
        readonly: host.readonly_rootfs,
        privileged: host.privileged,
        new_net: host.network_mode != "host",
        etc_files: vec![
            (dir.join("hostname"), "/etc/hostname"),
            (dir.join("hosts"), "/etc/hosts"),
            (dir.join("resolv.conf"), "/etc/resolv.conf"),
        ],
        binds: super::binds::parse_all(&host.binds).map_err(|m| (125, m))?,
        init: if host.init == Some(true) {
            Some(super::init_binary().map_err(|m| (125, m))?)
        } else {
            None
        },
        stdio,
    };

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(|e| (125, e.to_string()))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| (125, e.to_string()))?;

    let (sync_r, sync_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| (125, e.to_string()))?;
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| (125, e.to_string()))?;
    let pid = spawn::clone_child(&spec, sync_r.as_raw_fd(), err_w.as_raw_fd())
        .map_err(|e| (125, format!("clone: {e}")))?;
    drop((sync_r, err_w, child_ends));

    if let Err(e) = cgroup.add_process(pid.as_raw()) {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        return Err((125, format!("joining the cgroup: {e}")));
    }
    let wired = match super::network::connect(engine, c, host, pid.as_raw(), &links) {
        Ok(w) => w,
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err((125, e.to_string()));
        }
    };
    let _ = nix::unistd::write(&sync_w, b"g");
    drop(sync_w);
    let (mut outputs, mut stdin) = (outputs, stdin);
    if c.config.tty {
        // `stdin` holds our end of the console socket until the master arrives on it.
        let chan = stdin.take().expect("console socket");
        if let Some((_, Some(master))) = super::console::recv(&chan) {
            let _ = nix::fcntl::fcntl(
                &master,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            stdin = master.try_clone().ok();
            outputs.push((master, Kind::Stdout));
        }
    }
    let mut msg = String::new();
    let _ = File::from(err_r).read_to_string(&mut msg);
    if !msg.is_empty() {
        let _ = waitpid(pid, None);
        let (code, text) = msg.split_once(':').unwrap_or(("125", &msg));
        return Err((code.parse().unwrap_or(125), text.to_string()));
    }

    c.state.status = "running".into();
    c.state.running = true;
    c.state.pid = pid.as_raw();
    c.state.monitor_pid = std::process::id() as i32;
    c.state.exit_code = 0;
    c.state.error.clear();
    c.state.oom_killed = false;
    c.state.started_at = now();
    c.state.finished_at = super::model::ZERO_TIME.into();
    engine.save_container(c).map_err(e125)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&c.log_path)
        .map_err(|e| (125, format!("{}: {e}", c.log_path)))?;
    let running = Running {
        pid,
        listener,
        signals,
        outputs,
        stdin,
        tty: c.config.tty,
        log,
        partial: [Vec::new(), Vec::new()],
        _wired: wired,
    };
    for cl in &first {
        if let Some((rows, cols)) = cl.hello.size {
            running.resize(rows, cols);
        }
    }
    Ok((running, first))
}

/// PID 1's stdio, our ends of it, and the child's ends (closed after clone).
#[allow(clippy::type_complexity)]
fn open_stdio(
    cfg: &super::model::Config,
) -> nix::Result<(Stdio, Vec<(OwnedFd, Kind)>, Option<OwnedFd>, Vec<OwnedFd>)> {
    if cfg.tty {
        // The terminal is made inside the container; its master arrives on this socket.
        let (ours, theirs) =
            super::console::seqpacket_pair().map_err(|_| nix::errno::Errno::EMFILE)?;
        let stdio = Stdio::Tty(theirs.as_raw_fd());
        return Ok((stdio, vec![], Some(ours), vec![theirs]));
    }
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut child_ends = vec![];
    let (stdin_fd, stdin_ours) = if cfg.open_stdin {
        let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let fd = in_r.as_raw_fd();
        child_ends.push(in_r);
        (Some(fd), Some(in_w))
    } else {
        (None, None)
    };
    let stdio = Stdio::Pipes {
        stdin: stdin_fd,
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
    };
    child_ends.push(out_w);
    child_ends.push(err_w);
    Ok((
        stdio,
        vec![(out_r, Kind::Stdout), (err_r, Kind::Stderr)],
        stdin_ours,
        child_ends,
    ))
}

fn cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: setting FD_CLOEXEC on a descriptor we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Read a client's hello; `None` if it is not a client.
fn accept_client(stream: UnixStream) -> Option<Client> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    reader.read_line(&mut line).ok()?;
    // Frames the client sent right behind its hello (typed input) are already in the buffer.
    let inbuf = reader.buffer().to_vec();
    let hello: Hello = serde_json::from_str(&line).ok()?;
    stream.set_read_timeout(None).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(Client {
        stream,
        hello,
        inbuf,
    })
}

/// A connected client.
struct Client {
    stream: UnixStream,
    hello: Hello,
    inbuf: Vec<u8>,
}

impl Running {
    fn serve(
        mut self,
        engine: &Engine,
        mut c: Container,
        host: &HostConfig,
        first: Vec<Client>,
    ) -> Result<()> {
        let mut clients: Vec<Client> = first;
        clients.retain_mut(|cl| self.handle_frames(cl));
        let mut status: Option<WaitStatus> = None;
        loop {
            if status.is_some() && self.outputs.is_empty() {
                break;
            }
            let mut fds: Vec<PollFd> = Vec::new();
            fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            for (fd, _) in &self.outputs {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            for cl in &clients {
                fds.push(PollFd::new(cl.stream.as_fd(), PollFlags::POLLIN));
            }
            // Once PID 1 is gone, only drain what is left of the output.
            let timeout = if status.is_some() {
                PollTimeout::from(100u16)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(0) if status.is_some() => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)).on("monitor poll"),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let n_out = self.outputs.len();
            if ready[0] {
                while let Ok(Some(_)) = self.signals.read_signal() {}
                if status.is_none() {
                    if let Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) =
                        waitpid(self.pid, Some(WaitPidFlag::WNOHANG))
                    {
                        status = Some(s);
                    }
                }
            }
            if ready[1] {
                while let Ok((stream, _)) = self.listener.accept() {
                    if let Some(cl) = self.accept(stream) {
                        clients.push(cl);
                    }
                }
            }
            // Client input first: pumping output may drop clients and shift their places.
            let mut gone = Vec::new();
            for (i, cl) in clients.iter_mut().enumerate() {
                if ready.get(2 + n_out + i).copied().unwrap_or(false) && !self.client_input(cl) {
                    gone.push(i);
                }
            }
            for i in gone.into_iter().rev() {
                let cl = clients.remove(i);
                if cl.hello.stdin && c.config.stdin_once && !self.tty {
                    self.stdin = None;
                }
            }
            let mut closed = Vec::new();
            for i in 0..n_out {
                if ready[2 + i] && !self.pump(i, &mut clients) {
                    closed.push(i);
                }
            }
            for idx in closed.into_iter().rev() {
                self.outputs.remove(idx);
            }
        }
        let code = match status {
            Some(WaitStatus::Exited(_, code)) => code,
            Some(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
            _ => {
                let s = waitpid(self.pid, None).ok();
                match s {
                    Some(WaitStatus::Exited(_, code)) => code,
                    Some(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
                    _ => 255,
                }
            }
        };
        self.flush_partial();
        // Others may have changed the record meanwhile (`rename`, `network connect`).
        if let Ok(Some(now)) = engine.load_container(&c.id) {
            c = now;
        }
        c.network_settings.clear_runtime();
        c.state.oom_killed = resources::open_cgroup(&c.id)
            .and_then(|cg| cg.oom_killed().ok())
            .unwrap_or(false);
        c.state.status = "exited".into();
        c.state.running = false;
        c.state.pid = 0;
        c.state.monitor_pid = 0;
        c.state.exit_code = code;
        c.state.finished_at = now();
        engine.save_container(&c)?;
        engine.release_runtime(&c.id)?;
        if host.auto_remove {
            engine.delete_container_files(&c.id)?;
        }
        // Last: whoever waits (`run`, `wait`, `stop`) sees everything already done.
        for mut cl in clients {
            let _ = write_blocking(&mut cl.stream, Kind::Exit, &code.to_be_bytes());
        }
        Ok(())
    }

    fn accept(&mut self, stream: UnixStream) -> Option<Client> {
        let mut cl = accept_client(stream)?;
        if let Some((rows, cols)) = cl.hello.size {
            self.resize(rows, cols);
        }
        self.handle_frames(&mut cl).then_some(cl)
    }

    /// Move container output to the log and to attached clients; false when the output closed.
    fn pump(&mut self, idx: usize, clients: &mut Vec<Client>) -> bool {
        let (fd, kind) = (&self.outputs[idx].0, self.outputs[idx].1);
        let mut buf = [0u8; 32 * 1024];
        let n = match nix::unistd::read(fd.as_fd(), &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => return false,
            Ok(n) => n,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return true,
            Err(_) => return false,
        };
        let data = &buf[..n];
        self.log_output(kind, data);
        clients.retain_mut(|cl| {
            let wants = match kind {
                Kind::Stdout => cl.hello.stdout,
                _ => cl.hello.stderr,
            };
            !wants || write_blocking(&mut cl.stream, kind, data).is_ok()
        });
        true
    }

    /// Handle frames from a client; false when it disconnected.
    fn client_input(&mut self, cl: &mut Client) -> bool {
        let mut buf = [0u8; 32 * 1024];
        match cl.stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => cl.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
        self.handle_frames(cl)
    }

    /// Act on the complete frames in a client's buffer; false if they are garbage.
    fn handle_frames(&mut self, cl: &mut Client) -> bool {
        let Ok(frames) = split_frames(&mut cl.inbuf) else {
            return false;
        };
        for (kind, data) in frames {
            match kind {
                Kind::Stdin if cl.hello.stdin => {
                    if let Some(fd) = &self.stdin {
                        let _ = write_all_fd(fd.as_raw_fd(), &data);
                    }
                }
                Kind::Resize if data.len() == 4 => {
                    self.resize(
                        u16::from_be_bytes([data[0], data[1]]),
                        u16::from_be_bytes([data[2], data[3]]),
                    );
                }
                Kind::CloseStdin if !self.tty => self.stdin = None,
                _ => {}
            }
        }
        true
    }

    fn resize(&self, rows: u16, cols: u16) {
        if let (true, Some((fd, _))) = (self.tty, self.outputs.first()) {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ on the pty master with a valid winsize.
            unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        }
    }

    /// Append json-file records, one per line as Docker writes them.
    fn log_output(&mut self, kind: Kind, data: &[u8]) {
        let slot = if kind == Kind::Stderr { 1 } else { 0 };
        self.partial[slot].extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(pos) = self.partial[slot].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial[slot].drain(..=pos).collect();
            out.extend(record(kind, &line));
        }
        if self.partial[slot].len() >= 16 * 1024 {
            let line = std::mem::take(&mut self.partial[slot]);
            out.extend(record(kind, &line));
        }
        let _ = self.log.write_all(&out);
    }

    fn flush_partial(&mut self) {
        for (slot, kind) in [(0, Kind::Stdout), (1, Kind::Stderr)] {
            let line = std::mem::take(&mut self.partial[slot]);
            if !line.is_empty() {
                let _ = self.log.write_all(&record(kind, &line));
            }
        }
    }
}

fn record(kind: Kind, line: &[u8]) -> Vec<u8> {
    let stream = if kind == Kind::Stderr {
        "stderr"
    } else {
        "stdout"
    };
    let v = serde_json::json!({ "log": String::from_utf8_lossy(line), "stream": stream, "time": now() });
    let mut s = serde_json::to_vec(&v).expect("log record");
    s.push(b'\n');
    s
}

fn write_blocking(s: &mut UnixStream, kind: Kind, data: &[u8]) -> io::Result<()> {
    s.set_nonblocking(false)?;
    let r = write_frame(s, kind, data);
    s.set_nonblocking(true)?;
    r
}

fn write_all_fd(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    // SAFETY: borrowing an fd we own for the duration of the writes, without closing it.
    let mut f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    while !data.is_empty() {
        let n = f.write(data)?;
        data = &data[n..];
    }
    Ok(())
}

/// Now, as Docker writes times.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
