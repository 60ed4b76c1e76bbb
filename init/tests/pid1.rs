//! baleia-init as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`, as root): exit
//! statuses, signal forwarding, and reaping of orphaned zombies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = env!("CARGO_BIN_EXE_baleia-init");

/// `unshare` running `pid1 ARGS...` as PID 1 of a fresh PID namespace with its own /proc.
fn namespace(pid1: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc"]).args(pid1);
    c
}

/// baleia-init as PID 1 running `sh -c script`.
fn init_sh(script: &str) -> Command {
    namespace(&[INIT, "--", "sh", "-c", script])
}

/// The PID (in our namespace) of the process whose parent is `parent`.
fn child_of(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            if after.split(' ').nth(1) == Some(&parent.to_string()) {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no child of {parent} appeared");
}

/// Wait for `unshare` to end; past the deadline, kill the namespace (SIGKILL to its PID 1) and fail.
fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                std::io::Read::read_to_string(&mut o, &mut out).unwrap();
            }
            let code = status
                .code()
                .unwrap_or_else(|| panic!("unshare: {status}; {out}"));
            return (code, out);
        }
        if Instant::now() > deadline {
            let init = child_of(child.id());
            // SAFETY: plain integers.
            unsafe { libc::kill(init as i32, libc::SIGKILL) };
            let _ = child.wait();
            panic!("baleia-init did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run and return (exit status, stdout).
fn run(mut cmd: Command) -> (i32, String) {
    let child = cmd.stdout(Stdio::piped()).spawn().expect("unshare");
    finish(child, Duration::from_secs(30))
}

#[test]
fn the_commands_exit_status_is_the_inits() {
    assert_eq!(run(init_sh("exit 7")).0, 7);
    assert_eq!(run(init_sh("true")).0, 0);
    let (code, out) = run(init_sh("echo $$; exit 0"));
    assert_eq!((code, out.trim()), (0, "2"), "the command is PID 2");
}

#[test]
fn a_command_killed_by_a_signal_gives_128_plus_the_signal() {
    assert_eq!(run(init_sh("kill -KILL $$")).0, 137);
    assert_eq!(run(init_sh("kill -USR1 $$")).0, 128 + libc::SIGUSR1);
}

#[test]
fn a_command_that_cannot_start_gives_127() {
    assert_eq!(run(namespace(&[INIT, "no-such-command-anywhere"])).0, 127);
}

#[test]
fn usage_and_version() {
    let v = Command::new(INIT).arg("--version").output().unwrap();
    assert!(v.status.success());
    let expected = format!("baleia-init {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&v.stdout), expected);
    let none = Command::new(INIT).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("Usage: baleia-init"));
}

/// A shell that says "ready" once its trap is set, then idles in `wait` (where traps run at once).
const IDLE: &str = "echo ready; while :; do sleep 1 & wait $!; done";

/// Start `script` under baleia-init, wait for its "ready", send `sig` to the init, return the status.
fn signal_init(script: &str, sig: libc::c_int) -> i32 {
    let mut child = init_sh(script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let init = child_of(child.id());
    // SAFETY: plain integers.
    assert_eq!(unsafe { libc::kill(init as i32, sig) }, 0);
    finish(child, Duration::from_secs(30)).0
}

#[test]
fn signals_sent_to_the_init_reach_the_command() {
    for (sig, name, code) in [
        (libc::SIGTERM, "TERM", 3),
        (libc::SIGINT, "INT", 4),
        (libc::SIGHUP, "HUP", 5),
        (libc::SIGUSR1, "USR1", 6),
        (libc::SIGUSR2, "USR2", 7),
        (libc::SIGWINCH, "WINCH", 8),
    ] {
        let script = format!("trap 'exit {code}' {name}; {IDLE}");
        assert_eq!(signal_init(&script, sig), code, "SIG{name} not forwarded");
    }
}

#[test]
fn an_untrapped_forwarded_sigterm_kills_the_command_and_gives_143() {
    // Also shows the command starts with signals unblocked, though the init blocks them.
    assert_eq!(signal_init(IDLE, libc::SIGTERM), 128 + libc::SIGTERM);
}

#[test]
fn signals_sent_to_pid_1_from_inside_the_namespace_are_forwarded() {
    // The kernel drops signals to a namespace's init that has no handler unless it blocks them.
    let script = format!("trap 'exit 9' USR1; kill -USR1 1; {IDLE}");
    // The signal may arrive before or after the script prints "ready": the exit code tells.
    let (code, _out) = run(init_sh(&script));
    assert_eq!(code, 9, "USR1 from inside the namespace was not forwarded");
}

/// Orphans a few children (their parent execs `sleep` and never waits for them, so they are zombies
/// when it exits and is reaped by this shell), then waits up to `$1` × 50 ms for every one of them to be
/// gone and no zombie to be left in the namespace. Exits 1 listing what was left.
const ORPHANS: &str = r#"
orphans=$(sh -c 'for i in 1 2 3 4 5; do sleep 0.1 >/dev/null & echo $!; done; exec sleep 0.4')
[ -n "$orphans" ] || exit 2
i=0
while [ "$i" -lt "$1" ]; do
    left=""
    for p in $orphans; do [ -e /proc/$p ] && left="$left $p"; done
    for f in /proc/[0-9]*/stat; do
        case "$(sed 's/.*) //' "$f" 2>/dev/null | cut -c1)" in Z) left="$left $f:Z";; esac
    done
    [ -z "$left" ] && exit 0
    sleep 0.05
    i=$((i + 1))
done
echo "left:$left"
exit 1
"#;

#[test]
fn orphaned_zombies_are_reaped() {
    let (code, out) = run(namespace(&[INIT, "--", "sh", "-c", ORPHANS, "sh", "200"]));
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn the_zombie_check_fails_under_a_pid_1_that_does_not_reap() {
    // Perl's system() waits for its own child only: the orphans stay zombies of PID 1.
    let perl = "exit(system('sh', '-c', $ARGV[0], 'sh', '20') >> 8)";
    let (code, out) = run(namespace(&["perl", "-e", perl, ORPHANS]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.matches(":Z").count(), 5, "five zombies expected: {out}");
}
