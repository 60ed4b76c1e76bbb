//! `exec`: a new process in a running container, without a daemon. The calling process forks a
//! helper that joins the container's pid namespace and forks the process itself, which the helper
//! moves into the container's cgroup before it joins the other namespaces (cgroup, ipc, uts, net,
//! then mount), becomes the user, and execs. With a terminal, the pty is opened inside the
//! container's own `/dev/pts` (as runc does, so `tty` names it) and its master end is passed back
//! over a socket. The helper waits for the process and exits with its code; it is not in the
//! container's cgroup, so `top` does not list it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::console::{recv, send, seqpacket_pair};
use super::model::Container;
use super::{resources, spawn, user};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What `exec` runs and how (serializable: the daemon hands it to its `__exec` helper process).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExecOptions {
    /// The command; argv[0] is looked up in the container's PATH.
    pub argv: Vec<String>,
    /// `-e KEY=value`, over the container's environment.
    pub env: Vec<String>,
    /// `-w`: working directory (default: the container's, else `/`).
    pub workdir: Option<String>,
    /// `-u user[:group]` (default: the container's user).
    pub user: Option<String>,
    /// `--privileged`: keep every capability.
    pub privileged: bool,
    /// `-i`: the process reads our stdin (without a terminal it gets `/dev/null`).
    pub interactive: bool,
    /// `-t`: a pty inside the container; the master comes back in [`ExecProcess::terminal`].
    pub tty: bool,
    /// The terminal's first size, rows and columns (with `tty`).
    pub size: Option<(u16, u16)>,
    /// `-d`: run in its own session with stdio on `/dev/null`; return once it has been exec'd.
    pub detach: bool,
}

/// A process started by [`Engine::exec_container`].
#[derive(Debug)]
pub struct ExecProcess {
    /// Its PID on the host (for signals).
    pub pid: i32,
    /// The pty's master end, with `tty` (not detached).
    pub terminal: Option<OwnedFd>,
    /// The helper that waits for it (none when detached).
    helper: Option<Pid>,
}

impl ExecProcess {
    /// Wait for the process to end: its exit code, 128+signal if a signal killed it (0 detached).
    pub fn wait(self) -> Result<i32> {
        let Some(helper) = self.helper else {
            return Ok(0);
        };
        exit_code(helper)
    }
}

/// The container's namespaces the process joins after the pid namespace, in order.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Everything the forked processes need, prepared before `fork`.
struct Plan {
    pid_ns: File,
    namespaces: Vec<(File, CloneFlags)>,
    cgroup_procs: Vec<File>,
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    opts: ExecOptions,
}

/// A setup failure before exec: Docker's exit code for it and the message.
type Failure = (i32, String);

impl Engine {
    /// Start `opts.argv` in running container `name`; returns once it has been exec'd, or the
    /// reason it could not be (`Error::StartFailed` with 126 or 127, as Docker's exit codes).
    /// It forks: call it before the calling process starts threads.
    pub fn exec_container(&self, name: &str, opts: &ExecOptions) -> Result<ExecProcess> {
        if opts.argv.is_empty() {
            return Err(Error::Runtime("No exec command specified".into()));
        }
        let c = self.resolve_container(name)?;
        let not_running = || Error::Runtime(format!("container {} is not running", c.id));
        if !c.state.running || c.state.pid <= 0 {
            return Err(not_running());
        }
        // `--link` variables, as PID 1 got them (a link whose container stopped is left out).
        let links = self
            .host_config(&c.id)
            .ok()
            .and_then(|h| super::network::resolve_links(self, &c, &h).ok())
            .map(|l| l.env)
            .unwrap_or_default();
        let plan = plan(&c, opts, &links).ok_or_else(not_running)?;
        start(plan)
    }
}

/// Open PID 1's namespaces and the cgroup, and merge the environment; `None` if PID 1 is gone.
fn plan(c: &Container, opts: &ExecOptions, links: &[String]) -> Option<Plan> {
    let pid1 = c.state.pid;
    let ns = |n: &str| File::open(format!("/proc/{pid1}/ns/{n}"));
    let pid_ns = ns("pid").ok()?;
    let mut namespaces = Vec::new();
    for (name, flag) in NAMESPACES {
        match ns(name) {
            Ok(f) => namespaces.push((f, *flag)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *name == "cgroup" => {}
            Err(_) => return None,
        }
    }
    // The PID could have been reused between reading the record and opening its namespaces.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid1}/cgroup")).ok()?;
    if !cgroups.contains(&c.id) {
        return None;
    }
    let cgroup_procs = resources::open_cgroup(&c.id)
        .map(|cg| cg.dirs())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            OpenOptions::new()
                .write(true)
                .open(d.join("cgroup.procs"))
                .ok()
        })
        .collect();
    let cwd = opts
        .workdir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(c.config.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    Some(Plan {
        pid_ns,
        namespaces,
        cgroup_procs,
        argv: opts.argv.clone(),
        env: environment(c, links, opts),
        cwd,
        user: opts.user.clone().unwrap_or_else(|| c.config.user.clone()),
        opts: opts.clone(),
    })
}

/// Docker's exec environment: PATH, HOSTNAME (and TERM with a terminal), then the container's
/// environment, its `--link` variables, then `-e`; a later `KEY=` replaces an earlier one in place.
fn environment(c: &Container, links: &[String], opts: &ExecOptions) -> Vec<String> {
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("HOSTNAME={}", c.config.hostname),
    ];
    if opts.tty {
        env.push("TERM=xterm".into());
    }
    for e in c.config.env.iter().chain(links).chain(&opts.env) {
        let key = e.split('=').next();
        match env.iter_mut().find(|x| x.split('=').next() == key) {
            Some(old) => old.clone_from(e),
            None => env.push(e.clone()),
        }
    }
    env
}

fn start(plan: Plan) -> Result<ExecProcess> {
    let (ours, theirs) = seqpacket_pair()?;
    let (sync_r, sync_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::Runtime(format!("pipe: {e}")))?;
    let parent = std::process::id() as i32;
    // SAFETY: the CLI is single-threaded here; the child only runs this module's code and exits.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(Error::Runtime(format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop(ours);
            helper(&plan, theirs, sync_r, sync_w, parent)
        }
        Ok(ForkResult::Parent { child }) => {
            drop((theirs, sync_r, sync_w, plan.pid_ns, plan.namespaces));
            let mut pid = 0;
            let mut terminal = None;
            let mut failure = None;
            while let Some((msg, fd)) = recv(&ours) {
                if let Some(n) = msg.strip_prefix("pid ") {
                    pid = n.parse().unwrap_or(0);
                } else if msg == "tty" {
                    terminal = fd;
                } else if let Some(rest) = msg.strip_prefix("error ") {
                    let (code, text) = rest.split_once(' ').unwrap_or(("126", rest));
                    failure = Some((code.parse().unwrap_or(126), text.to_string()));
                }
            }
            if let Some((code, message)) = failure {
                let _ = exit_code(child);
                return Err(Error::StartFailed { code, message });
            }
            if plan.opts.detach {
                exit_code(child)?;
                return Ok(ExecProcess {
                    pid,
                    terminal: None,
                    helper: None,
                });
            }
            if pid == 0 {
                let code = exit_code(child)?;
                return Err(Error::StartFailed {
                    code: 126,
                    message: format!(
                        "the exec helper stopped before starting the process (exit status {code})"
                    ),
                });
            }
            Ok(ExecProcess {
                pid,
                terminal,
                helper: Some(child),
            })
        }
    }
}

/// Wait for `pid`: its exit code, or 128+signal.
fn exit_code(pid: Pid) -> Result<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::Runtime(format!("waiting for the exec process: {e}"))),
        }
    }
}

/// The forked helper: join the pid namespace, fork the process, put it in the cgroup, let it go,
/// and (unless detached) wait for it and exit with its code. Never returns.
fn helper(plan: &Plan, chan: OwnedFd, sync_r: OwnedFd, sync_w: OwnedFd, parent: i32) -> ! {
    if !plan.opts.detach {
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        if nix::unistd::getppid().as_raw() != parent {
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
        // The caller forwards signals to the process; the helper must outlive it to report.
        for sig in [
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ] {
            // SAFETY: ignoring a signal.
            unsafe { libc::signal(sig, libc::SIG_IGN) };
        }
    }
    if let Err(e) = nix::sched::setns(&plan.pid_ns, CloneFlags::CLONE_NEWPID) {
        die(&chan, (126, format!("joining the pid namespace: {e}")));
    }
    // SAFETY: this process is single-threaded (a fork of a single-threaded one).
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => die(&chan, (126, format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop(sync_w);
            let failure = match process(plan, &chan, &sync_r) {
                Ok(never) => match never {},
                Err(f) => f,
            };
            die(&chan, failure)
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(sync_r);
    for f in &plan.cgroup_procs {
        let mut f: &File = f;
        if let Err(e) = f.write_all(child.as_raw().to_string().as_bytes()) {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child, None);
            die(&chan, (126, format!("joining the container's cgroup: {e}")));
        }
    }
    send(&chan, &format!("pid {child}"), None);
    drop(chan);
    let _ = nix::unistd::write(&sync_w, b"g");
    if plan.opts.detach {
        // SAFETY: the process is reparented and runs on; nothing else to do here.
        unsafe { libc::_exit(0) };
    }
    let code = exit_code(child).unwrap_or(126);
    drop(sync_w);
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

/// Report a failure to the caller and leave the forked process with its code.
fn die(chan: &OwnedFd, (code, msg): Failure) -> ! {
    send(chan, &format!("error {code} {msg}"), None);
    // SAFETY: leaving a forked child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// The process in the container, between fork and exec.
fn process(
    plan: &Plan,
    chan: &OwnedFd,
    sync: &OwnedFd,
) -> std::result::Result<std::convert::Infallible, Failure> {
    let setup = |what: &str| {
        let what = what.to_string();
        move |e: nix::errno::Errno| (126, format!("{what}: {e}"))
    };
    let mut b = [0u8; 1];
    if nix::unistd::read(sync, &mut b) != Ok(1) {
        return Err((126, "the exec helper went away".into()));
    }
    for (f, flag) in &plan.namespaces {
        nix::sched::setns(f, *flag).map_err(setup("joining a namespace"))?;
    }
    nix::unistd::chdir("/").map_err(setup("chdir /"))?;
    let opts = &plan.opts;
    if opts.detach {
        nix::unistd::setsid().map_err(setup("setsid"))?;
        let null =
            open_fd(c"/dev/null", libc::O_RDWR).map_err(|e| (126, format!("/dev/null: {e}")))?;
        for fd in 0..3 {
            dup2(null.as_raw_fd(), fd)?;
        }
    } else if opts.tty {
        nix::unistd::setsid().map_err(setup("setsid"))?;
        let slave = open_pty(chan, opts.size)?;
        for fd in 0..3 {
            dup2(slave.as_raw_fd(), fd)?;
        }
    } else if !opts.interactive {
        let null =
            open_fd(c"/dev/null", libc::O_RDONLY).map_err(|e| (126, format!("/dev/null: {e}")))?;
        dup2(null.as_raw_fd(), 0)?;
    }

    let (uid, gid, groups) = user::resolve(Path::new("/"), &plan.user).map_err(|m| (126, m))?;
    let mut env = plan.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(uid)));
    }
    if !opts.privileged {
        for cap in 0..64u32 {
            if !spawn::DEFAULT_CAPS.contains(&cap) {
                // SAFETY: prctl with integer arguments; EINVAL past the last capability is expected.
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            }
        }
    }
    if opts.tty && !opts.detach {
        // The terminal belongs to the user, as runc makes it.
        // SAFETY: changing the owner of an open descriptor.
        unsafe { libc::fchown(0, uid, u32::MAX) };
    }
    let gids: Vec<nix::unistd::Gid> = groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(setup("setgroups"))?;
    nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(setup("setgid"))?;
    nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(setup("setuid"))?;
    nix::unistd::chdir(plan.cwd.as_str()).map_err(|e| {
        (
            126,
            format!(
                "chdir to cwd (\"{}\") set in config.json failed: {}",
                plan.cwd,
                e.desc().to_lowercase()
            ),
        )
    })?;
    if !opts.detach {
        // Set last: credential changes clear it. If the helper died already, stop here.
        // SAFETY: prctl with integer arguments.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(sync),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO);
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(nix::poll::PollFlags::POLLHUP))
        {
            return Err((126, "the exec helper went away".into()));
        }
    }
    spawn::reset_signals();
    Err(spawn::exec_in_path(&plan.argv, &env))
}

/// Open a pty in the container's `/dev/pts`, make its slave our controlling terminal, and send
/// the master to the caller; the slave.
fn open_pty(chan: &OwnedFd, size: Option<(u16, u16)>) -> std::result::Result<OwnedFd, Failure> {
    let err = |what: &str| (126, format!("{what}: {}", std::io::Error::last_os_error()));
    let (master, slave, _) = super::console::open_pty(Path::new("/dev/pts/ptmx"))
        .map_err(|e| (126, format!("opening a terminal in the container: {e}")))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    // SAFETY: we are a session leader without a terminal; this one becomes it.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(err("setting the controlling terminal"));
    }
    if !send(chan, "tty", Some(master.as_raw_fd())) {
        return Err(err("passing the terminal"));
    }
    Ok(slave)
}

/// The home folder of `uid` in the container's `/etc/passwd`, else `/`.
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

fn open_fd(path: &std::ffi::CStr, flags: libc::c_int) -> std::io::Result<OwnedFd> {
    // SAFETY: opening a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened and own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dup2(from: RawFd, to: RawFd) -> std::result::Result<(), Failure> {
    // SAFETY: duplicating an open descriptor onto 0, 1 or 2.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err((126, format!("dup2: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_environment_layers_like_docker() {
        let mut c = Container::for_tests("x", "sh", &[]);
        c.config = crate::container::Config {
            hostname: "aaaaaaaaaaaa".into(),
            env: vec!["PATH=/bin".into(), "A=1".into(), "B=2".into()],
            ..Default::default()
        };
        let opts = ExecOptions {
            env: vec!["A=3".into()],
            tty: true,
            ..Default::default()
        };
        assert_eq!(
            environment(&c, &[], &opts),
            [
                "PATH=/bin",
                "HOSTNAME=aaaaaaaaaaaa",
                "TERM=xterm",
                "A=3",
                "B=2"
            ]
        );
    }

    #[test]
    fn messages_and_descriptors_cross_the_socket() {
        let (a, b) = seqpacket_pair().unwrap();
        let f = File::open("/dev/null").unwrap();
        assert!(send(&a, "pid 42", None));
        assert!(send(&a, "tty", Some(f.as_raw_fd())));
        drop(a);
        assert_eq!(
            recv(&b).map(|(m, fd)| (m, fd.is_some())),
            Some(("pid 42".into(), false))
        );
        let (m, fd) = recv(&b).unwrap();
        assert_eq!(m, "tty");
        assert!(fd.is_some());
        assert!(recv(&b).is_none());
    }
}
