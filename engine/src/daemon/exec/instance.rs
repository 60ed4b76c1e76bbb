//! Exec instances, kept in the daemon's memory as dockerd keeps them: what `exec create` asked
//! for, and what became of it (`GET /exec/{id}/json`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::daemon::errors::ApiError;

/// How long a finished exec stays inspectable (the CLI reads its exit code right after the end).
const KEEP_FINISHED: Duration = Duration::from_secs(300);

/// What `POST /containers/{id}/exec` asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    /// The container's full ID.
    pub container_id: String,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// `KEY=value` over the container's environment.
    pub env: Vec<String>,
    /// Working directory, if not the container's.
    pub workdir: Option<String>,
    /// `user[:group]`, if not the container's.
    pub user: Option<String>,
    /// Every capability.
    pub privileged: bool,
    /// A terminal.
    pub tty: bool,
    /// The client sends stdin.
    pub attach_stdin: bool,
    /// The client reads stdout.
    pub attach_stdout: bool,
    /// The client reads stderr.
    pub attach_stderr: bool,
    /// The detach sequence (the CLI applies it; kept for `inspect`).
    pub detach_keys: String,
    /// The terminal's first size, rows and columns.
    pub console_size: Option<(u16, u16)>,
}

/// One exec instance.
#[derive(Debug)]
pub struct Exec {
    /// 64 hex characters.
    pub id: String,
    /// What it runs.
    pub config: ExecConfig,
    state: Mutex<ExecState>,
}

#[derive(Debug, Default)]
struct ExecState {
    begun: bool,
    running: bool,
    pid: i32,
    exit_code: Option<i32>,
    ended: Option<Instant>,
    terminal: Option<Arc<OwnedFd>>,
    size: Option<(u16, u16)>,
}

impl Exec {
    fn state(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().expect("exec state")
    }

    /// Mark it started; a second start is Docker's 409.
    pub fn begin(&self) -> Result<(), ApiError> {
        let mut s = self.state();
        let message = if s.exit_code.is_some() {
            format!("Error: Exec command {} has already run", self.id)
        } else if s.begun {
            format!("Error: Exec command {} is already running", self.id)
        } else {
            s.begun = true;
            return Ok(());
        };
        Err(ApiError {
            status: StatusCode::CONFLICT,
            message,
        })
    }

    /// The process runs as `pid`.
    pub fn started(&self, pid: i32) {
        let mut s = self.state();
        if s.exit_code.is_none() {
            s.running = true;
            s.pid = pid;
        }
    }

    /// Its terminal's master end, for `resize`; a size asked for earlier is applied now.
    pub fn set_terminal(&self, master: Arc<OwnedFd>) {
        let mut s = self.state();
        if let Some((rows, cols)) = s.size {
            set_size(&master, rows, cols);
        }
        s.terminal = Some(master);
    }

    /// Resize its terminal (or remember the size until it has one).
    pub fn resize(&self, rows: u16, cols: u16) {
        let mut s = self.state();
        s.size = Some((rows, cols));
        if let Some(m) = &s.terminal {
            set_size(m, rows, cols);
        }
    }

    /// Let go of the terminal (the client left): once the relay lets go too, it hangs up.
    pub fn release_terminal(&self) {
        self.state().terminal = None;
    }

    /// The process ended (or never started) with `code`.
    pub fn finish(&self, code: i32) {
        let mut s = self.state();
        s.begun = true;
        s.running = false;
        s.exit_code = Some(code);
        s.ended = Some(Instant::now());
        s.terminal = None;
    }

    /// Its exit code, once it has one.
    pub fn exit_code(&self) -> Option<i32> {
        self.state().exit_code
    }

    /// `GET /exec/{id}/json`, in Docker's shape.
    pub fn inspect(&self) -> Value {
        let s = self.state();
        let c = &self.config;
        let mut process = json!({
            "tty": c.tty,
            "entrypoint": c.argv.first().cloned().unwrap_or_default(),
            "arguments": c.argv.iter().skip(1).collect::<Vec<_>>(),
        });
        if c.privileged {
            process["privileged"] = json!(true);
        }
        if let Some(u) = c.user.as_ref().filter(|u| !u.is_empty()) {
            process["user"] = json!(u);
        }
        json!({
            "ID": self.id,
            "Running": s.running,
            "ExitCode": s.exit_code,
            "ProcessConfig": process,
            "OpenStdin": c.attach_stdin,
            "OpenStderr": c.attach_stderr,
            "OpenStdout": c.attach_stdout,
            "CanRemove": false,
            "ContainerID": c.container_id,
            "DetachKeys": c.detach_keys,
            "Pid": s.pid,
        })
    }
}

/// `TIOCSWINSZ` on a terminal's master end (the process gets SIGWINCH).
fn set_size(master: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// Every exec instance of this daemon, by ID.
#[derive(Debug, Clone, Default)]
pub struct Execs(Arc<Mutex<HashMap<String, Arc<Exec>>>>);

impl Execs {
    /// Register a new instance (and forget those that ended long ago).
    pub fn add(&self, config: ExecConfig) -> Arc<Exec> {
        let exec = Arc::new(Exec {
            id: crate::layer::random_hex(32),
            config,
            state: Mutex::default(),
        });
        let mut all = self.0.lock().expect("exec instances");
        all.retain(|_, e| e.state().ended.is_none_or(|t| t.elapsed() <= KEEP_FINISHED));
        all.insert(exec.id.clone(), Arc::clone(&exec));
        exec
    }

    /// The instance `id`, or Docker's 404.
    pub fn get(&self, id: &str) -> Result<Arc<Exec>, ApiError> {
        self.0
            .lock()
            .expect("exec instances")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_starts_once_and_reports_its_end() {
        let execs = Execs::default();
        let e = execs.add(ExecConfig {
            container_id: "c".repeat(64),
            argv: vec!["sh".into(), "-c".into(), "exit 3".into()],
            attach_stdout: true,
            ..Default::default()
        });
        assert_eq!(e.id.len(), 64);
        assert!(Arc::ptr_eq(&execs.get(&e.id).unwrap(), &e));
        assert_eq!(execs.get("nope").unwrap_err().status, StatusCode::NOT_FOUND);
        let v = e.inspect();
        assert_eq!(
            (v["Running"].clone(), v["ExitCode"].clone()),
            (json!(false), Value::Null)
        );
        assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
        assert_eq!(v["ProcessConfig"]["arguments"], json!(["-c", "exit 3"]));
        e.begin().unwrap();
        assert!(e
            .begin()
            .unwrap_err()
            .message
            .contains("is already running"));
        e.started(99);
        assert_eq!(
            (e.inspect()["Running"].clone(), e.inspect()["Pid"].clone()),
            (json!(true), json!(99))
        );
        e.finish(3);
        let v = e.inspect();
        assert_eq!(
            (v["Running"].clone(), v["ExitCode"].clone()),
            (json!(false), json!(3))
        );
        assert!(e.begin().unwrap_err().message.contains("has already run"));
    }

    #[test]
    fn a_size_asked_before_the_terminal_is_applied_to_it() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let master = pty.master;
        let e = Execs::default().add(ExecConfig::default());
        e.resize(31, 97);
        let master = Arc::new(master);
        e.set_terminal(Arc::clone(&master));
        // SAFETY: winsize is plain data; zero is a valid value.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ fills a winsize.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!((ws.ws_row, ws.ws_col), (31, 97));
        e.finish(0);
        assert_eq!(
            Arc::strong_count(&master),
            1,
            "a finished exec lets go of its terminal"
        );
    }
}
