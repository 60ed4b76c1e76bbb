//! The daemon's side of the `__exec` helper: start it with the exec's options and pipes, then
//! follow its reports on a thread of its own, keeping the [`Exec`] up to date for `inspect`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::error::ExecError;
use super::helper::{CONTROL_FD, OPTIONS_ENV};
use super::instance::Exec;
use super::report::Report;
use crate::container::console::{recv, seqpacket_pair};
use crate::container::exec::ExecOptions;
use crate::container::lifecycle::baleia_program;
use crate::engine::Engine;

/// Which of the process's streams the daemon relays (the others are `/dev/null`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// A pipe to its stdin.
    pub stdin: bool,
    /// A pipe from its stdout.
    pub stdout: bool,
    /// A pipe from its stderr.
    pub stderr: bool,
}

/// The pipes of a started helper, as asked for in [`Attach`].
#[derive(Debug, Default)]
pub struct Pipes {
    /// The process's stdin.
    pub stdin: Option<ChildStdin>,
    /// The process's stdout.
    pub stdout: Option<ChildStdout>,
    /// The process's stderr.
    pub stderr: Option<ChildStderr>,
}

/// A running helper and the daemon's end of its control socket.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    control: OwnedFd,
}

/// What the relay of an attached exec hears from the helper.
#[derive(Debug)]
pub enum Event {
    /// The process runs.
    Started,
    /// Its terminal's master end.
    Terminal(Arc<OwnedFd>),
    /// It could not be started, in the runtime's words.
    Failed(String),
    /// It ended (the exit code is in the [`Exec`] already).
    Exited,
}

/// Start the helper for `opts` in container `container_id` (`baleia --root R __exec ID`).
pub fn launch(
    engine: &Engine,
    container_id: &str,
    opts: &ExecOptions,
    attach: Attach,
) -> Result<(Helper, Pipes), ExecError> {
    let program = baleia_program()?;
    let (ours, theirs) = seqpacket_pair()?;
    let json = serde_json::to_string(opts).map_err(ExecError::BadOptions)?;
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    let mut cmd = Command::new(&program);
    cmd.arg("--root")
        .arg(engine.paths.root())
        .arg("__exec")
        .arg(container_id)
        .env(OPTIONS_ENV, json)
        .stdin(pipe(attach.stdin))
        .stdout(pipe(attach.stdout))
        .stderr(pipe(attach.stderr));
    let fd = theirs.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let moved = if fd == CONTROL_FD {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, CONTROL_FD)
            };
            // Its own session: a Ctrl-C meant for the daemon's terminal does not reach execs.
            if moved < 0 || libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|source| ExecError::Spawn { program, source })?;
    drop(theirs);
    let pipes = Pipes {
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
    };
    Ok((
        Helper {
            child,
            control: ours,
        },
        pipes,
    ))
}

impl Helper {
    /// Follow the reports on a thread: record them in `exec`, pass them to `events` (ignored if
    /// nobody listens), and reap the helper. A helper that ends without a word ends the exec
    /// with its own exit status.
    pub fn follow(self, exec: Arc<Exec>, events: UnboundedSender<Event>) -> Result<(), ExecError> {
        let Helper { mut child, control } = self;
        let thread = std::thread::Builder::new()
            .name("exec-reports".into())
            .spawn(move || {
                let mut ended = false;
                while let Some((text, fd)) = recv(&control) {
                    let event = match Report::decode(&text) {
                        Some(Report::Started(pid)) => {
                            exec.started(pid);
                            Event::Started
                        }
                        Some(Report::Terminal) => {
                            let Some(fd) = fd else { continue };
                            let fd = Arc::new(fd);
                            exec.set_terminal(Arc::clone(&fd));
                            Event::Terminal(fd)
                        }
                        Some(Report::Failed { code, message }) => {
                            exec.finish(code);
                            ended = true;
                            Event::Failed(message)
                        }
                        Some(Report::Exited(code)) => {
                            exec.finish(code);
                            ended = true;
                            Event::Exited
                        }
                        None => continue,
                    };
                    let _ = events.send(event);
                }
                let status = child.wait();
                if !ended {
                    use std::os::unix::process::ExitStatusExt;
                    let code = status
                        .ok()
                        .and_then(|s| s.code().or(s.signal().map(|n| 128 + n)))
                        .unwrap_or(126);
                    exec.finish(code);
                    let _ = events.send(Event::Exited);
                }
            });
        thread.map(drop).map_err(|source| ExecError::Descriptors {
            what: "starting the exec report thread",
            source,
        })
    }
}
