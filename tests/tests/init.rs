//! `run --init`: baleia-init is PID 1 of the container with the command as its child, and forwards
//! `stop`'s SIGTERM to it (a shell as PID 1 ignores it and waits out the timeout). The init must be
//! the static one `scripts/test.sh` builds (busybox has no libc). Needs root; `Root` removes its
//! containers on drop.

use std::process::Command;
use std::time::{Duration, Instant};

use baleia_tests::{static_init, text, Root};

/// The static init, or a failure saying how to build it.
fn require_static_init() {
    let build = "cargo rustc --release -p baleia-init -- -C target-feature=+crt-static -C strip=symbols (scripts/test.sh does)";
    let init = static_init().unwrap_or_else(|| panic!("no target/release/baleia-init: {build}"));
    let file = Command::new("file")
        .arg("-L")
        .arg(&init)
        .output()
        .expect("file");
    let what = text(&file.stdout);
    assert!(
        what.contains("statically linked") || what.contains("static-pie linked"),
        "{} is not static ({what}): {build}",
        init.display()
    );
}

#[test]
fn init_is_pid_1_and_the_command_its_child() {
    require_static_init();
    let root = Root::with_lab_images(&["busybox"]);
    let out = root.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "ps",
        "-o",
        "pid,ppid,args",
    ]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let pid1 = rows.iter().find(|r| r[0] == "1").expect(&out);
    assert_eq!(pid1[1], "0", "{out}");
    assert!(pid1[2].ends_with("baleia-init"), "{out}");
    let ps = rows
        .iter()
        .find(|r| r[0] != "1" && r[2] == "ps")
        .expect(&out);
    assert_eq!(ps[1], "1", "ps is the init's child: {out}");

    let plain = root.ok(&["run", "--rm", "busybox", "ps", "-o", "pid,args"]);
    assert!(
        plain.lines().any(|l| l.trim() == "1 ps -o pid,args"),
        "{plain}"
    );
}

/// Stop a `sh -c 'sleep 1000'` container with `-t 3`; its exit code and how long `stop` took.
fn stop_timed(root: &Root, init: bool) -> (i32, Duration) {
    let mut args = vec!["run", "-d"];
    if init {
        args.push("--init");
    }
    args.extend(["busybox", "sh", "-c", "sleep 1000"]);
    let id = root.ok(&args);
    let id = id.trim();
    // Let the shell start (and block in sleep) before it is signalled.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    root.ok(&["stop", "-t", "3", id]);
    let took = start.elapsed();
    let code = root.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]);
    (code.trim().parse().expect("exit code"), took)
}

#[test]
fn init_forwards_stop_signal_a_shell_pid_1_ignores() {
    require_static_init();
    let root = Root::with_lab_images(&["busybox"]);
    let (code, took) = stop_timed(&root, true);
    assert_eq!(code, 143, "sh got SIGTERM from the init");
    assert!(took < Duration::from_secs(2), "stop took {took:?}");

    let (code, took) = stop_timed(&root, false);
    assert_eq!(code, 137, "PID 1 ignores SIGTERM: killed after the timeout");
    assert!(took >= Duration::from_secs(3), "stop took {took:?}");
}
