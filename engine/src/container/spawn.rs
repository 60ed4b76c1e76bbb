//! Making PID 1: `clone` into new pid, mount, uts, ipc (and net) namespaces; in the child, wait for
//! the monitor (which puts it in its cgroup), then set up the root filesystem (`/proc`, `/sys`,
//! `/dev`, `/dev/pts`, `/dev/shm`, the hosts files, bind mounts), `pivot_root` into it, drop
//! capabilities to Docker's default set, become the user, and exec. A failure before exec is written
//! to an error pipe that exec closes, so the monitor tells "started" from "could not start".

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// A bind mount from the host.
#[derive(Debug, Clone)]
pub struct Bind {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub target: PathBuf,
    /// Read-only.
    pub readonly: bool,
}

/// Where PID 1's stdin, stdout and stderr come from.
#[derive(Debug, Clone, Copy)]
pub enum Stdio {
    /// A terminal, made in the container's own devpts: the master goes to the monitor over this
    /// socket (see `console`), the slave becomes stdio and the controlling terminal.
    Tty(RawFd),
    /// Pipes (stdin may be /dev/null).
    Pipes {
        stdin: Option<RawFd>,
        stdout: RawFd,
        stderr: RawFd,
    },
}

/// Everything the child needs, computed before `clone`.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The mounted overlay.
    pub rootfs: PathBuf,
    /// Host name.
    pub hostname: String,
    /// argv (argv[0] is looked up in PATH inside the container).
    pub argv: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: PathBuf,
    /// uid, gid, supplementary groups.
    pub user: (u32, u32, Vec<u32>),
    /// Read-only root filesystem.
    pub readonly: bool,
    /// All capabilities, no masked paths.
    pub privileged: bool,
    /// New network namespace (false for `--network host`).
    pub new_net: bool,
    /// Host files bound over `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`.
    pub etc_files: Vec<(PathBuf, &'static str)>,
    /// `-v` binds.
    pub binds: Vec<Bind>,
    /// Host path of the init binary to bind at `/sbin/baleia-init` (`--init`).
    pub init: Option<PathBuf>,
    /// Where PID 1's stdio comes from.
    pub stdio: Stdio,
}

/// Docker's default capability set; every other one leaves the bounding set.
pub(crate) const DEFAULT_CAPS: &[u32] = &[0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
// CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
// NET_BIND_SERVICE 10, NET_RAW 13, SYS_CHROOT 18, MKNOD 27, AUDIT_WRITE 29, SETFCAP 31.

/// Paths Docker masks (`/dev/null` over files, an empty read-only tmpfs over folders).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Paths Docker makes read-only.
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Clone PID 1. It blocks until a byte arrives on `sync`; its setup errors arrive on `errors`.
pub fn clone_child(spec: &Spec, sync: RawFd, errors: RawFd) -> nix::Result<nix::unistd::Pid> {
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.new_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let mut stack = vec![0u8; 1 << 20];
    let child = Box::new(|| child_main(spec, sync, errors));
    // SAFETY: the monitor is single-threaded; the child only uses its copy of memory and execs or exits.
    unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
}

/// An error before exec: Docker's exit code for it (125 setup, 126 not executable, 127 not found).
struct SetupError(i32, String);

fn child_main(spec: &Spec, sync: RawFd, errors: RawFd) -> isize {
    let result = setup_and_exec(spec, sync);
    let SetupError(code, msg) = match result {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let line = format!("{code}:{msg}");
    // SAFETY: writing a buffer to an open pipe.
    unsafe { libc::write(errors, line.as_ptr().cast(), line.len()) };
    code as isize
}

/// Bring the new network namespace's `lo` up (every network mode has it up, as in Docker), with the
/// classic interface-flags ioctl: no netlink needed for one flag.
fn loopback_up() -> nix::Result<()> {
    // SAFETY: a datagram socket, two ioctls on a zeroed ifreq naming "lo", and its close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(nix::errno::Errno::last());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = nix::errno::Errno::last();
        libc::close(fd);
        if rc < 0 {
            return Err(err);
        }
    }
    Ok(())
}

fn fail(ctx: &str) -> impl FnOnce(nix::errno::Errno) -> SetupError + '_ {
    move |e| SetupError(125, format!("{ctx}: {e}"))
}

fn setup_and_exec(spec: &Spec, sync: RawFd) -> Result<std::convert::Infallible, SetupError> {
    if spec.new_net {
        // While the monitor puts us in the cgroup and wires the network.
        loopback_up().map_err(fail("bringing lo up"))?;
    }
    let mut b = [0u8; 1];
    // SAFETY: reading one byte from an open pipe.
    if unsafe { libc::read(sync, b.as_mut_ptr().cast(), 1) } != 1 {
        return Err(SetupError(125, "the monitor went away before start".into()));
    }
    // The monitor blocks SIGCHLD and Rust ignores SIGPIPE: PID 1 starts with neither.
    reset_signals();
    // Its own cgroup namespace, rooted at the cgroup the monitor just put it in.
    let _ = nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP);
    nix::unistd::setsid().map_err(fail("setsid"))?;
    stdio(spec.stdio)?;
    // PID 1 starts with stdin, stdout and stderr only (the error pipe closes at exec).
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only flags descriptors.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };

    let root = &spec.rootfs;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(fail("making / private"))?;
    mount(
        Some(root.as_path()),
        root.as_path(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail("binding the rootfs"))?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_at(root, "/proc", "proc", nosuid, None)?;
    if spec.new_net {
        mount_at(root, "/sys", "sysfs", nosuid | MsFlags::MS_RDONLY, None)?;
    } else {
        let sys = inside(root, "/sys");
        mkdir_p(&sys)?;
        mount(
            Some("/sys"),
            &sys,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(fail("binding /sys"))?;
    }
    dev(root, spec)?;
    for (src, dst) in &spec.etc_files {
        bind(src, &inside(root, dst), false)?;
    }
    for b in &spec.binds {
        bind(
            &b.source,
            &inside(root, &b.target.to_string_lossy()),
            b.readonly,
        )?;
    }
    if let Some(init) = &spec.init {
        bind(init, &inside(root, "/sbin/baleia-init"), true)?;
    }
    mkdir_p(&inside(root, &spec.cwd.to_string_lossy()))?;

    nix::unistd::chdir(root.as_path()).map_err(fail("chdir to the rootfs"))?;
    nix::unistd::pivot_root(".", ".").map_err(fail("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(fail("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(fail("chdir /"))?;

    if !spec.privileged {
        for p in READONLY {
            let _ = mount(
                Some(*p),
                *p,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .and_then(|_| {
                mount(
                    None::<&str>,
                    *p,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
                    None::<&str>,
                )
            });
        }
        for p in MASKED {
            let path = Path::new(p);
            if path.is_dir() {
                let _ = mount(
                    Some("tmpfs"),
                    path,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None::<&str>,
                );
            } else if path.exists() {
                let _ = mount(
                    Some("/dev/null"),
                    path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                );
            }
        }
    }
    if spec.readonly {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(fail("read-only /"))?;
    }
    nix::unistd::sethostname(&spec.hostname).map_err(fail("sethostname"))?;
    if !spec.privileged {
        for cap in 0..64u32 {
            if !DEFAULT_CAPS.contains(&cap) {
                // SAFETY: prctl with integer arguments; EINVAL past the last capability is expected.
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            }
        }
    }
    let (uid, gid, groups) = &spec.user;
    let gids: Vec<nix::unistd::Gid> = groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(fail("setgroups"))?;
    nix::unistd::setgid(nix::unistd::Gid::from_raw(*gid)).map_err(fail("setgid"))?;
    nix::unistd::setuid(nix::unistd::Uid::from_raw(*uid)).map_err(fail("setuid"))?;
    nix::unistd::chdir(spec.cwd.as_path())
        .map_err(|e| SetupError(125, format!("chdir to {}: {e}", spec.cwd.display())))?;
    // If the monitor dies, so does the container (set last: credential changes clear it).
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
    exec(spec)
}

/// Unblock every signal and give each its default disposition (what a new program should get).
pub(crate) fn reset_signals() {
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: resetting a signal's disposition to the default.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

fn exec(spec: &Spec) -> Result<std::convert::Infallible, SetupError> {
    let (code, msg) = exec_in_path(&spec.argv, &spec.env);
    Err(SetupError(code, msg))
}

/// Exec `argv` (argv[0] looked up in `env`'s PATH, as execvp does) with `env`; returns only on
/// failure, with Docker's exit code (126 not executable, 127 not found) and message.
pub(crate) fn exec_in_path(argv: &[String], env: &[String]) -> (i32, String) {
    match exec_lookup(argv, env) {
        Ok(never) => match never {},
        Err(SetupError(code, msg)) => (code, msg),
    }
}

fn exec_lookup(argv: &[String], env: &[String]) -> Result<std::convert::Infallible, SetupError> {
    let prog = &argv[0];
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let candidates: Vec<PathBuf> = if prog.contains('/') {
        vec![PathBuf::from(prog)]
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(d).join(prog))
            .filter(|p| p.is_file())
            .collect()
    };
    let Some(path) = candidates.first() else {
        return Err(SetupError(
            127,
            format!("exec: \"{prog}\": executable file not found in $PATH"),
        ));
    };
    let c = |s: &str| CString::new(s).map_err(|_| SetupError(125, format!("NUL byte in {s:?}")));
    let cargv = argv.iter().map(|a| c(a)).collect::<Result<Vec<_>, _>>()?;
    let cenv = env.iter().map(|e| c(e)).collect::<Result<Vec<_>, _>>()?;
    let cpath = c(&path.to_string_lossy())?;
    let e = nix::unistd::execve(&cpath, &cargv, &cenv).unwrap_err();
    let code = if e == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    Err(SetupError(
        code,
        format!("exec: \"{}\": {}", path.display(), e.desc().to_lowercase()),
    ))
}

fn stdio(s: Stdio) -> Result<(), SetupError> {
    let dup = |from: RawFd, to: RawFd| -> Result<(), SetupError> {
        // SAFETY: duplicating open descriptors onto 0, 1, 2.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(SetupError(
                125,
                format!("dup2: {}", std::io::Error::last_os_error()),
            ));
        }
        Ok(())
    };
    match s {
        // The terminal is made once the container's devpts exists (see `dev`).
        Stdio::Tty(_) => {}
        Stdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            let null;
            let stdin = match stdin {
                Some(fd) => fd,
                None => {
                    // SAFETY: opening /dev/null read-only.
                    null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
                    null
                }
            };
            dup(stdin, 0)?;
            dup(stdout, 1)?;
            dup(stderr, 2)?;
        }
    }
    Ok(())
}

/// `/dev`: a tmpfs with the usual nodes, `/dev/pts` (a new instance), `/dev/shm`, `/dev/mqueue`.
fn dev(root: &Path, spec: &Spec) -> Result<(), SetupError> {
    let dev = inside(root, "/dev");
    mkdir_p(&dev)?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .map_err(fail("mounting /dev"))?;
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let p = CString::new(dev.join(name).as_os_str().as_encoded_bytes()).expect("path");
        // `dev` is a fresh tmpfs: nothing in it can be a link out.
        // SAFETY: creating a device node at a valid path.
        if unsafe {
            libc::mknod(
                p.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major, minor),
            )
        } != 0
        {
            return Err(SetupError(
                125,
                format!("mknod /dev/{name}: {}", std::io::Error::last_os_error()),
            ));
        }
        // SAFETY: as above; mknod is subject to the umask.
        unsafe { libc::chmod(p.as_ptr(), 0o666) };
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| SetupError(125, format!("/dev/{link}: {e}")))?;
    }
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_at(
        root,
        "/dev/pts",
        "devpts",
        nosuid_noexec,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    mount_at(
        root,
        "/dev/shm",
        "tmpfs",
        nosuid_noexec | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )?;
    mount_at(
        root,
        "/dev/mqueue",
        "mqueue",
        nosuid_noexec | MsFlags::MS_NODEV,
        None,
    )?;
    if let Stdio::Tty(sock) = spec.stdio {
        terminal(&dev, sock)?;
    }
    Ok(())
}

/// A pty of the container's devpts becomes PID 1's terminal (controlling terminal, stdio,
/// `/dev/console`); its master goes to the monitor over `sock`.
fn terminal(dev: &Path, sock: RawFd) -> Result<(), SetupError> {
    let e = |what: &str, err: std::io::Error| SetupError(125, format!("{what}: {err}"));
    let (master, slave, n) = super::console::open_pty(&dev.join("pts/ptmx"))
        .map_err(|err| e("opening a terminal in the container", err))?;
    // SAFETY: we are a session leader (setsid) without a terminal; this one becomes it.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(e(
            "setting the controlling terminal",
            std::io::Error::last_os_error(),
        ));
    }
    for fd in 0..3 {
        // SAFETY: duplicating an open descriptor onto 0, 1, 2.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(e("dup2", std::io::Error::last_os_error()));
        }
    }
    bind(&dev.join(format!("pts/{n}")), &dev.join("console"), false)?;
    // SAFETY: the socket is the monitor's, borrowed for one send; it is not closed here.
    let sock = std::mem::ManuallyDrop::new(unsafe { std::os::fd::OwnedFd::from_raw_fd(sock) });
    if !super::console::send(&sock, "tty", Some(master.as_raw_fd())) {
        return Err(e(
            "passing the terminal to the monitor",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `p` inside `root`, resolving symlinks as the container would see them: absolute targets and
/// `..` stay inside `root`, so nothing made or mounted for the container can land on the host
/// (an image whose `/etc` links to `/host/etc` gets its hosts file in its own tree).
pub(crate) fn inside(root: &Path, p: &str) -> PathBuf {
    let mut out = root.to_path_buf();
    let mut pending: Vec<std::ffi::OsString> =
        Path::new(p).iter().map(|c| c.to_os_string()).collect();
    pending.reverse();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == "/" || c == "." || c.is_empty() {
            continue;
        }
        if c == ".." {
            if out != root {
                out.pop();
            }
            continue;
        }
        let next = out.join(&c);
        match std::fs::read_link(&next) {
            Ok(target) if links < 40 => {
                links += 1;
                if target.is_absolute() {
                    out = root.to_path_buf();
                }
                pending.extend(
                    target
                        .iter()
                        .map(|c| c.to_os_string())
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev(),
                );
            }
            _ => out = next,
        }
    }
    out
}

fn mkdir_p(p: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(p).map_err(|e| SetupError(125, format!("mkdir {}: {e}", p.display())))
}

fn mount_at(
    root: &Path,
    at: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SetupError> {
    let target = inside(root, at);
    mkdir_p(&target)?;
    mount(Some(fstype), &target, Some(fstype), flags, data)
        .map_err(|e| SetupError(125, format!("mounting {fstype} on {at}: {e}")))
}

/// Bind `src` over `target` (made as a file or folder like `src`), read-only if asked.
fn bind(src: &Path, target: &Path, readonly: bool) -> Result<(), SetupError> {
    // Callers resolve `target` with `inside`, so it has no symlink left to follow.
    let is_dir = src.is_dir();
    if !target.exists() {
        if is_dir {
            mkdir_p(target)?;
        } else {
            if let Some(parent) = target.parent() {
                mkdir_p(parent)?;
            }
            std::fs::write(target, b"")
                .map_err(|e| SetupError(125, format!("creating {}: {e}", target.display())))?;
        }
    }
    let what = format!("bind mount {} on {}", src.display(), target.display());
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| SetupError(125, format!("{what}: {e}")))?;
    if readonly {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| SetupError(125, format!("{what} read-only: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_the_rootfs_never_leave_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::os::unix::fs::symlink("/usr/sbin", root.join("sbin")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("hostetc")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("usr/up")).unwrap();
        assert_eq!(
            inside(root, "/sbin/baleia-init"),
            root.join("usr/sbin/baleia-init")
        );
        assert_eq!(inside(root, "/hostetc/hosts"), root.join("etc/hosts"));
        assert_eq!(inside(root, "/usr/up/etc/passwd"), root.join("etc/passwd"));
        assert_eq!(inside(root, "/../../x"), root.join("x"));
    }
}
