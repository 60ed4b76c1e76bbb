//! The `baleia __exec CONTAINER` helper: a fresh, single-threaded process the daemon starts for
//! each exec, since the engine's `exec_container` forks and hands the new process its caller's
//! stdio (impossible inside the daemon's threads). Its stdin/stdout/stderr are the daemon's pipes
//! (or `/dev/null`); descriptor 3 is the control socket it reports on (see [`Report`]).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::ExecError;
use super::report::Report;
use crate::container::console::send;
use crate::container::exec::ExecOptions;
use crate::engine::Engine;
use crate::error::Error;

/// The helper's control socket.
pub const CONTROL_FD: RawFd = 3;
/// The environment variable carrying the [`ExecOptions`] as JSON.
pub const OPTIONS_ENV: &str = "BALEIA_EXEC_OPTIONS";

/// Run the exec the daemon asked for in `container`, report it, and wait for it; the process's
/// exit code (Docker's 126/127 when it could not be started).
pub fn helper_main(engine: &Engine, container: &str) -> Result<i32, ExecError> {
    // SAFETY: the daemon set up descriptor 3 for this process as its control socket.
    let control = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
    let json = std::env::var(OPTIONS_ENV).map_err(|_| ExecError::NoOptions(OPTIONS_ENV))?;
    let opts: ExecOptions = serde_json::from_str(&json).map_err(ExecError::BadOptions)?;
    let tell = |r: Report, fd: Option<RawFd>| {
        // A daemon that went away reads nothing; the process runs on regardless.
        send(&control, &r.encode(), fd);
    };
    let mut process = match engine.exec_container(container, &opts) {
        Ok(p) => p,
        Err(Error::StartFailed { code, message }) => {
            tell(Report::Failed { code, message }, None);
            return Ok(code);
        }
        Err(e) => {
            let message = e.to_string();
            tell(Report::Failed { code: 126, message }, None);
            return Ok(126);
        }
    };
    tell(Report::Started(process.pid), None);
    if let Some(master) = process.terminal.take() {
        // Only the daemon keeps the master: when it lets go, the terminal hangs up.
        tell(Report::Terminal, Some(master.as_raw_fd()));
    }
    release_stdio()?;
    let code = process.wait()?;
    tell(Report::Exited(code), None);
    Ok(code)
}

/// Put `/dev/null` on our stdio, so only the process holds the daemon's pipes and their end
/// comes with its own.
fn release_stdio() -> Result<(), ExecError> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|source| ExecError::Descriptors {
            what: "opening /dev/null",
            source,
        })?;
    for fd in 0..3 {
        // SAFETY: duplicating an open descriptor onto one of ours.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(ExecError::Descriptors {
                what: "releasing stdio",
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}
