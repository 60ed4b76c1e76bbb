//! A lab's named terminals: a bash on a pty per terminal (in a client namespace if the lab says so),
//! typed into as a learner types. A command's end is known without sleeping: the host shell's
//! prompt ends with an invisible marker holding the exit status; inside an interactive container
//! (after `docker run -it …`) the kernel tells: the container's shell is back in its terminal's
//! foreground, asleep reading, and has slept again since the line was typed.

mod attached;
mod handover;
mod page;
pub mod procs;
pub mod screen;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use attached::{takes_value, target, Target};
pub use handover::{HandBack, ESCAPE};
use screen::Screen;

/// How long the screen must stay quiet before an idle container shell counts as done (its
/// prompt may still be on its way through the client).
const SETTLE: Duration = Duration::from_millis(40);

/// How a terminal is made.
#[derive(Debug, Clone)]
pub struct TerminalOptions {
    /// Its name (`t1`).
    pub name: String,
    /// Variables for its shell (the engine's root, …), besides `PATH`.
    pub env: Vec<(String, String)>,
    /// `PATH`, with the backend's `docker` first.
    pub path: OsString,
    /// A network namespace to run in (a lab client), by name.
    pub netns: Option<String>,
    /// Rows and columns.
    pub size: (u16, u16),
    /// The visible prompt (`t1$ `).
    pub prompt: String,
}

/// A failure of a terminal.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// The pty or the shell could not be made.
    #[error("terminal {name}: {source}")]
    Spawn {
        /// The terminal.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// Writing to it failed.
    #[error("terminal {name}: typing failed: {source}")]
    Write {
        /// The terminal.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// The shell ended.
    #[error("terminal {0}: its shell has ended")]
    Closed(String),
    /// The command did not finish in time.
    #[error("terminal {name}: still busy after {seconds:.0} s")]
    Timeout {
        /// The terminal.
        name: String,
        /// How long it waited.
        seconds: f64,
    },
}

/// A position in a terminal's output, to read or wait from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    text: usize,
    prompts: usize,
}

/// Where a typed command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Back at the host shell's prompt, with the command's exit status.
    Host(i32),
    /// At the prompt of an interactive container's shell (host PID of that shell).
    Container(i32),
}

/// A terminal of a lab.
pub struct Terminal {
    name: String,
    master: File,
    child: Child,
    screen: Arc<(Mutex<Screen>, Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// The container shell typed into last, and how often it had slept by then.
    typed_into: Mutex<Option<(i32, u64)>>,
}

impl Terminal {
    /// Start the terminal's shell and wait for its first prompt.
    pub fn spawn(opts: &TerminalOptions) -> Result<Terminal, TerminalError> {
        let spawn_err = |source| TerminalError::Spawn {
            name: opts.name.clone(),
            source,
        };
        let ws = nix::pty::Winsize {
            ws_row: opts.size.0,
            ws_col: opts.size.1,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).map_err(|e| spawn_err(e.into()))?;
        // No other program may inherit the pty (a container's monitor would keep it open, and
        // the shell would never get its hangup when the runner dies).
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .map_err(|e| spawn_err(e.into()))?;
        }
        let inputrc = std::env::temp_dir().join("baleia-lab.inputrc");
        if !inputrc.exists() {
            // No bracketed paste: typed lines arrive as typed.
            std::fs::write(&inputrc, "set enable-bracketed-paste off\n").map_err(spawn_err)?;
        }
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "bash"]);
                c
            }
            None => Command::new("bash"),
        };
        cmd.args(["--noprofile", "--norc", "-i"])
            .env_clear()
            .env("PATH", &opts.path)
            .env(
                "HOME",
                std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
            )
            .env("TERM", "xterm")
            .env(
                "LANG",
                std::env::var_os("LANG").unwrap_or_else(|| "C.UTF-8".into()),
            )
            .env("INPUTRC", &inputrc)
            // The marker closes the prompt, so a command's output and the next prompt are
            // complete when it arrives; bash expands `$?` in the prompt to the last status.
            .env("PS1", format!("{}\\[\\e]777;baleia;$?\\a\\]", opts.prompt))
            .env("HISTFILE", "/dev/null")
            .envs(opts.env.iter().map(|(k, v)| (k, v)));
        let slave = || pty.slave.try_clone().map(Stdio::from);
        cmd.stdin(slave().map_err(spawn_err)?)
            .stdout(slave().map_err(spawn_err)?)
            .stderr(slave().map_err(spawn_err)?);
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(spawn_err)?;
        drop(cmd);
        drop(pty.slave);
        let master = File::from(pty.master);
        let mut source = master.try_clone().map_err(spawn_err)?;
        let screen = Arc::new((Mutex::new(Screen::new()), Condvar::new()));
        let sink = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = source.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sink;
                let mut s = lock.lock().expect("screen");
                if n == 0 {
                    s.closed = true;
                    cv.notify_all();
                    return;
                }
                s.feed(&buf[..n]);
                cv.notify_all();
            }
        });
        let t = Terminal {
            name: opts.name.clone(),
            master,
            child,
            screen,
            reader: Some(reader),
            typed_into: Mutex::new(None),
        };
        let start = Mark {
            text: 0,
            prompts: 0,
        };
        t.wait_done(&start, Duration::from_secs(10), &|_| None)?;
        Ok(t)
    }

    /// The terminal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host PID of its shell.
    pub fn shell_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Here, in its output.
    pub fn mark(&self) -> Mark {
        let mut s = self.screen.0.lock().expect("screen");
        Mark {
            text: s.page.freeze(),
            prompts: s.prompts.len(),
        }
    }

    /// Send bytes as typed (keys, a line).
    pub fn send(
        &self,
        bytes: &[u8],
        resolve: &dyn Fn(&Target) -> Option<i32>,
    ) -> Result<(), TerminalError> {
        // Remember how often the container's shell (if we type into one) has slept so far.
        let inner = self.inner_shell(resolve);
        *self.typed_into.lock().expect("typed") =
            inner.and_then(|s| Some((s.pid, procs::voluntary_switches(s.pid)?)));
        (&self.master)
            .write_all(bytes)
            .map_err(|source| TerminalError::Write {
                name: self.name.clone(),
                source,
            })
    }

    /// Type a command line and press return.
    pub fn type_line(
        &self,
        line: &str,
        resolve: &dyn Fn(&Target) -> Option<i32>,
    ) -> Result<(), TerminalError> {
        let mut b = line.as_bytes().to_vec();
        b.push(b'\r');
        self.send(&b, resolve)
    }

    /// The visible text since `mark`.
    pub fn text_since(&self, mark: &Mark) -> String {
        let s = self.screen.0.lock().expect("screen");
        s.page.text.get(mark.text..).unwrap_or("").to_string()
    }

    /// What the terminal shows on its last line (its prompt, when idle).
    pub fn last_line(&self) -> String {
        let s = self.screen.0.lock().expect("screen");
        s.page.text.rsplit('\n').next().unwrap_or("").to_string()
    }

    /// Every chunk of output with its time (seconds since the terminal started), for recordings.
    pub fn chunks(&self) -> Vec<(f64, String)> {
        self.screen.0.lock().expect("screen").chunks.clone()
    }

    /// The program that waits for the learner's keys behind the foreground command, if any: the
    /// shell of the interactive container a `docker` client is attached to, or a program of the
    /// foreground group reading this terminal itself (a shell started by `nsenter`, say).
    fn inner_shell(&self, resolve: &dyn Fn(&Target) -> Option<i32>) -> Option<procs::Stat> {
        let fg = nix::unistd::tcgetpgrp(self.master.as_fd()).ok()?.as_raw();
        let shell = procs::stat(self.shell_pid())?;
        if fg == shell.pgrp || fg <= 0 {
            return None;
        }
        if let Some(t) = target(&procs::cmdline(fg)) {
            return procs::container_shell(resolve(&t)?);
        }
        let tty = std::fs::read_link(format!("/proc/{}/fd/0", self.shell_pid())).ok()?;
        procs::all()
            .into_iter()
            .filter(|s| s.pgrp == fg && s.tty_nr == shell.tty_nr && procs::reads_tty(s.pid, &tty))
            .max_by_key(|s| s.start)
    }

    /// Wait until the command typed after `since` is done: the host shell's next prompt, or an
    /// interactive container's shell waiting at its prompt. `resolve` finds a container's PID 1.
    pub fn wait_done(
        &self,
        since: &Mark,
        timeout: Duration,
        resolve: &dyn Fn(&Target) -> Option<i32>,
    ) -> Result<Done, TerminalError> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let s = self.screen.0.lock().expect("screen");
                if let Some(code) = s.prompts.get(since.prompts) {
                    return Ok(Done::Host(*code));
                }
                if s.closed {
                    return Err(TerminalError::Closed(self.name.clone()));
                }
            }
            if let Some(inner) = self.inner_shell(resolve) {
                let quiet = self.screen.0.lock().expect("screen").last_output.elapsed() >= SETTLE;
                let slept_since_typing = match *self.typed_into.lock().expect("typed") {
                    Some((pid, n)) if pid == inner.pid => {
                        procs::voluntary_switches(pid).is_some_and(|now| now > n)
                    }
                    _ => true,
                };
                // Read twice: a shell between two reads of one line is asleep only briefly.
                if quiet && slept_since_typing && procs::waits_for_input(&inner) {
                    std::thread::sleep(Duration::from_millis(5));
                    if procs::stat(inner.pid).is_some_and(|s| procs::waits_for_input(&s)) {
                        return Ok(Done::Container(inner.pid));
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TerminalError::Timeout {
                    name: self.name.clone(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            let (lock, cv) = &*self.screen;
            let guard = lock.lock().expect("screen");
            let wait = (deadline - now).min(Duration::from_millis(20));
            let _ = cv.wait_timeout(guard, wait).expect("screen");
        }
    }

    /// Wait until the line typed after `since` has been taken by the host shell: its command is
    /// in the foreground (a client owns the terminal), or it has already ended. Keys sent after
    /// that go to the command, and their effect can be told apart from what came before.
    pub fn wait_started(&self, since: &Mark, timeout: Duration) -> Result<(), TerminalError> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let s = self.screen.0.lock().expect("screen");
                if s.prompts.len() > since.prompts {
                    return Ok(());
                }
                if s.closed {
                    return Err(TerminalError::Closed(self.name.clone()));
                }
            }
            let fg = nix::unistd::tcgetpgrp(self.master.as_fd()).map(|p| p.as_raw());
            let shell = procs::stat(self.shell_pid()).map(|s| s.pgrp);
            if let (Ok(fg), Some(shell)) = (fg, shell) {
                if fg != shell {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(TerminalError::Timeout {
                    name: self.name.clone(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait until the text since `since` satisfies `ok`.
    pub fn wait_text(
        &self,
        since: &Mark,
        timeout: Duration,
        ok: &dyn Fn(&str) -> bool,
    ) -> Result<(), TerminalError> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.screen;
        let mut s = lock.lock().expect("screen");
        loop {
            if ok(s.page.text.get(since.text..).unwrap_or("")) {
                return Ok(());
            }
            if s.closed {
                return Err(TerminalError::Closed(self.name.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TerminalError::Timeout {
                    name: self.name.clone(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            s = cv.wait_timeout(s, deadline - now).expect("screen").0;
        }
    }

    /// End the terminal: hang up its session (every process on it gets SIGHUP), then kill
    /// what is left of its process group.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.shell_pid());
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            // The reader ends when the last holder of the pty's slave is gone.
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.shutdown();
        }
    }
}
