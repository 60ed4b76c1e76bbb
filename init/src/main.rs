//! baleia-init: the tiny PID 1 that `run --init` puts in a container (Docker uses tini). It runs one
//! command, forwards the signals it gets to it, reaps every zombie, and exits with the command's status.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::exit;

use nix::errno::Errno;
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{execvp, fork, getpid, isatty, setpgid, tcsetpgrp, ForkResult, Pid};

const USAGE: &str = "Usage: baleia-init [--] CMD [ARGS...]\n       baleia-init --version";

/// Exit status for a bad command line.
const EXIT_USAGE: i32 = 2;

/// Signals the kernel raises for a fault in this very process: left unblocked, so a bug in the init
/// kills it instead of hanging it.
const FAULTS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGABRT,
];

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Action {
    Version,
    Help,
    Run(Vec<CString>),
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match parse(args) {
        Ok(Action::Version) => println!("baleia-init {}", env!("CARGO_PKG_VERSION")),
        Ok(Action::Help) => println!("{USAGE}"),
        Ok(Action::Run(cmd)) => exit(run(&cmd)),
        Err(msg) => {
            eprintln!("baleia-init: {msg}\n{USAGE}");
            exit(EXIT_USAGE);
        }
    }
}

/// Parse `[--] CMD [ARGS...]`, `--version` or `--help`.
fn parse(args: Vec<OsString>) -> Result<Action, String> {
    let mut args = args.into_iter().peekable();
    match args.peek().map(|a| a.as_bytes()) {
        None => return Err("no command given".into()),
        Some(b"--version" | b"-V") => return Ok(Action::Version),
        Some(b"--help" | b"-h") => return Ok(Action::Help),
        Some(b"--") => {
            args.next();
        }
        Some(a) if a.starts_with(b"-") => {
            return Err(format!("unknown option {}", String::from_utf8_lossy(a)));
        }
        Some(_) => {}
    }
    let cmd: Vec<CString> = args
        .map(|a| CString::new(a.into_vec()).map_err(|_| "argument with a NUL byte".to_string()))
        .collect::<Result<_, _>>()?;
    if cmd.is_empty() {
        return Err("no command given".into());
    }
    Ok(Action::Run(cmd))
}

/// Start `cmd` and supervise it; returns the exit status for the init.
fn run(cmd: &[CString]) -> i32 {
    // Rust's runtime ignores SIGPIPE, and an ignored signal stays ignored across exec.
    // SAFETY: no handler is installed; SIG_DFL is always sound.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let mut mask = SigSet::all();
    for s in FAULTS {
        mask.remove(s);
    }
    let mut original = SigSet::empty();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), Some(&mut original)) {
        return fatal(&format!("cannot block signals: {e}"));
    }
    let signals = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => return fatal(&format!("signalfd: {e}")),
    };
    if getpid() != Pid::from_raw(1) {
        // Not PID 1 (a shared PID namespace): orphans of the command come to us only as a subreaper.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    // SAFETY: single-threaded; the child only makes async-signal-safe calls before exec.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_child(cmd, &original),
        Ok(ForkResult::Parent { child }) => supervise(child, &signals),
        Err(e) => fatal(&format!("fork: {e}")),
    }
}

/// In the child: own process group (the terminal's foreground one), original signal mask, exec.
fn exec_child(cmd: &[CString], original: &SigSet) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if isatty(std::io::stdin()).unwrap_or(false) {
        // SIGTTOU is blocked here, so a background group may take the terminal.
        let _ = tcsetpgrp(std::io::stdin(), getpid());
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(original), None);
    let err = execvp(&cmd[0], cmd).unwrap_err();
    let _ = writeln!(
        std::io::stderr(),
        "baleia-init: exec {} failed: {}",
        cmd[0].to_string_lossy(),
        err.desc()
    );
    // Shell conventions: 127 not found, 126 found but not runnable.
    let status = if err == Errno::ENOENT { 127 } else { 126 };
    // SAFETY: _exit is async-signal-safe and skips the parent's atexit state.
    unsafe { libc::_exit(status) }
}

/// Wait for signals: forward each to `child`, reap on SIGCHLD; return once `child` is gone.
fn supervise(child: Pid, signals: &SignalFd) -> i32 {
    loop {
        // `reap` sweeps every zombie, so when the command is gone nothing is left to reap.
        if let Some(status) = reap(child) {
            return status;
        }
        match signals.read_signal() {
            Ok(Some(info)) => {
                let sig = info.ssi_signo as libc::c_int;
                if sig != libc::SIGCHLD {
                    // ESRCH: the child just died; the next reap sees it.
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(child.as_raw(), sig) };
                }
            }
            Ok(None) | Err(Errno::EINTR) => {}
            Err(e) => return fatal(&format!("reading signals: {e}")),
        }
    }
}

/// Reap every exited child without blocking; the main child's status if it was among them.
fn reap(child: Pid) -> Option<i32> {
    let mut main = None;
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: `st` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        if pid <= 0 {
            return main;
        }
        if pid == child.as_raw() {
            main = if libc::WIFEXITED(st) {
                Some(libc::WEXITSTATUS(st))
            } else if libc::WIFSIGNALED(st) {
                Some(128 + libc::WTERMSIG(st))
            } else {
                main
            };
        }
    }
}

fn fatal(msg: &str) -> i32 {
    eprintln!("baleia-init: {msg}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }
    fn cmd(a: &[&str]) -> Action {
        Action::Run(a.iter().map(|s| CString::new(*s).unwrap()).collect())
    }

    #[test]
    fn command_lines() {
        assert_eq!(parse(args(&["sh", "-c", "x"])), Ok(cmd(&["sh", "-c", "x"])));
        assert_eq!(parse(args(&["--", "sh", "--"])), Ok(cmd(&["sh", "--"])));
        assert_eq!(parse(args(&["--", "--version"])), Ok(cmd(&["--version"])));
        assert_eq!(parse(args(&["--version", "x"])), Ok(Action::Version));
        assert_eq!(parse(args(&["-h"])), Ok(Action::Help));
        assert!(parse(args(&[])).is_err());
        assert!(parse(args(&["--"])).is_err());
        assert!(parse(args(&["-s", "sh"])).unwrap_err().contains("-s"));
    }
}
