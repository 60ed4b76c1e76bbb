//! `exec`: run a command in a running container. The CLI process itself enters the container
//! (through the engine's `exec_container`); with `-t` it pumps the pty the engine opened inside
//! the container, with our terminal in raw mode, forwarding window size changes.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Result;
use clap::Args;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};

use super::attach::terminal_size;
use super::Reported;
use baleia_engine::container::exec::{ExecOptions, ExecProcess};
use baleia_engine::{Engine, Error};

/// Flags of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Command and arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// `exec`: exits with the command's exit code.
pub fn exec(e: &Engine, a: &ExecArgs) -> Result<()> {
    let env = super::containers::environment(&a.env, &a.env_file)?;
    let tty = a.tty && !a.detach;
    let opts = ExecOptions {
        argv: a.command.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        privileged: a.privileged,
        interactive: a.interactive,
        tty,
        size: if tty { terminal_size() } else { None },
        detach: a.detach,
    };
    let mut process = match e.exec_container(&a.container, &opts) {
        Err(Error::StartFailed { code, message }) => {
            eprintln!("Error: {message}");
            return Err(Reported(code).into());
        }
        r => r?,
    };
    if a.detach {
        return Ok(());
    }
    let code = match process.terminal.take() {
        Some(master) => pump_terminal(process, master, a.interactive)?,
        None => wait_forwarding_signals(process)?,
    };
    if code != 0 {
        return Err(Reported(code).into());
    }
    Ok(())
}

/// Without a terminal: stdio is the process's own; signals sent to us (not those the terminal
/// sends to the whole foreground group, which it gets itself) go to it.
fn wait_forwarding_signals(process: ExecProcess) -> Result<i32> {
    let mut set = SigSet::empty();
    for s in super::attach::PROXIED_SIGNALS {
        set.add(s);
    }
    set.thread_block()?;
    let pid = process.pid;
    std::thread::spawn(move || loop {
        // SAFETY: siginfo_t is plain data; sigwaitinfo fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for signals of a set blocked in every thread.
        let sig = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if sig < 0 {
            continue;
        }
        if info.si_code != libc::SI_KERNEL {
            // SAFETY: sending a signal to a PID.
            unsafe { libc::kill(pid, sig) };
        }
    });
    Ok(process.wait()?)
}

/// With `-t`: copy the pty's output to our stdout, our stdin to it (with `-i`), and window size
/// changes, until the process has exited and its output is drained.
fn pump_terminal(process: ExecProcess, master: OwnedFd, stdin: bool) -> Result<i32> {
    let _raw = super::attach::raw_terminal(stdin)?;
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    set.thread_block()?;
    let master = std::fs::File::from(master);
    {
        let m = master.try_clone()?;
        std::thread::spawn(move || loop {
            if set.wait().is_err() {
                return;
            }
            if let Some((rows, cols)) = terminal_size() {
                let ws = libc::winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ reads a winsize.
                unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
            }
        });
    }
    if stdin {
        let mut m = master.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut input = io::stdin().lock();
            while let Ok(n) = input.read(&mut buf) {
                if n == 0 || m.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    let (wake_r, wake_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let waiter = std::thread::spawn(move || {
        let code = process.wait();
        drop(wake_w);
        code
    });
    let mut out = io::stdout().lock();
    let mut buf = [0u8; 8192];
    let mut reader = &master;
    loop {
        let mut fds = [
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake_r.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r?,
        };
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let (output, exited) = (ready(0), ready(1));
        if output {
            match reader.read(&mut buf) {
                Ok(n) if n > 0 => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                    continue;
                }
                // EIO: every slave end is closed.
                _ => break,
            }
        }
        if exited {
            // The process is gone but something may hold the terminal: take what is there.
            nix::fcntl::fcntl(
                &master,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )?;
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
            }
            out.flush()?;
            break;
        }
    }
    let code = waiter
        .join()
        .map_err(|_| anyhow::anyhow!("the exec waiter panicked"))??;
    Ok(code)
}
