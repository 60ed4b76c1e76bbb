//! `exec` and `top` as the notes use them: commands run inside a running container (its host name,
//! PID 1, environment, user, exit codes, detached, through a terminal), and the container's
//! processes listed with `ps -ef`'s columns.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baleia_tests::*;

/// `run -d ARGS…`; the container's full ID (the root removes it when the test ends).
fn run_d(root: &Root, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = root.ok(&all).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the ID: {id}");
    id
}

/// Run `args` with `input` on stdin.
fn run_with_stdin(root: &Root, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = root
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baleia");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Run `cmd` on a new terminal (its controlling terminal and stdio), typing `input` after
/// `delay`; what the terminal showed and the exit code. Killed after 30 seconds.
fn run_on_terminal(mut cmd: Command, delay: Duration, input: &[u8]) -> (String, Option<i32>) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; the other arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: descriptors openpty just made, owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn on a terminal");
    // Only the child may hold the slave: the reader sees EIO once it and its children are done.
    drop(cmd);
    drop(slave);
    let mut master = std::fs::File::from(master);
    let mut reader = master.try_clone().unwrap();
    let shown = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once every slave end is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    std::thread::sleep(delay);
    master.write_all(input).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(master);
    (text(&shown.join().unwrap()), status.code())
}

/// No overlay mount and no cgroup of container `id` is left on the host.
fn assert_released(id: &str) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "a mount of {id} is left");
    for dir in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = dir.path();
        assert!(
            !p.join("baleia").join(id).exists() && !p.join(id).exists(),
            "a cgroup of {id} is left under {}",
            p.display()
        );
    }
}

#[test]
fn exec_runs_inside_the_running_container() {
    let root = Root::with_lab_images(&["busybox"]);
    let id = run_d(
        &root,
        &["--name", "great_container", "busybox", "sleep", "1000"],
    );

    // Its host name, its PID 1.
    assert_eq!(
        root.ok(&["exec", "great_container", "hostname"]),
        format!("{}\n", &id[..12])
    );
    assert_eq!(
        root.ok(&["exec", "great_container", "cat", "/proc/1/cmdline"]),
        "sleep\u{0}1000\u{0}"
    );
    // Environment, working directory and user.
    assert_eq!(
        root.ok(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "great_container",
            "sh",
            "-c",
            "echo $X; pwd"
        ]),
        "1\n/tmp\n"
    );
    assert_eq!(
        root.ok(&["exec", "-u", "nobody", "great_container", "id", "-u"]),
        "65534\n"
    );
    let env = root.ok(&["exec", "great_container", "env"]);
    assert!(env.contains(&format!("HOSTNAME={}\n", &id[..12])), "{env}");
    assert!(env.contains("PATH=/usr/local/sbin:"), "{env}");

    // Exit codes: the command's own, 127 for a missing command, 126 for a file that is no program.
    assert_eq!(
        root.run(&["exec", "great_container", "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    let o = root.run(&["exec", "great_container", "foo"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        text(&o.stderr).contains(r#"exec: "foo": executable file not found in $PATH"#),
        "{}",
        text(&o.stderr)
    );
    let o = root.run(&["exec", "great_container", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));
    assert_eq!(
        root.run(&["exec", "great_container", "sh", "-c", "kill -9 $$"])
            .status
            .code(),
        Some(137),
        "killed by a signal: 128 + signal"
    );

    // stdin only with -i.
    let o = run_with_stdin(&root, &["exec", "-i", "great_container", "cat"], b"hello\n");
    assert_eq!(text(&o.stdout), "hello\n");
    let o = run_with_stdin(&root, &["exec", "great_container", "cat"], b"hello\n");
    assert_eq!(text(&o.stdout), "", "without -i, stdin is /dev/null");

    // The notes' `docker exec -d great_container touch /etc/new_config_file`.
    assert_eq!(
        root.ok(&[
            "exec",
            "-d",
            "great_container",
            "touch",
            "/etc/new_config_file"
        ]),
        ""
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !root
        .run(&[
            "exec",
            "great_container",
            "test",
            "-e",
            "/etc/new_config_file",
        ])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the detached touch never happened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        root.ok(&["ps"]).contains("great_container"),
        "exec does not stop the container"
    );

    root.ok(&["rm", "-f", "great_container"]);
    assert_released(&id);
}

#[test]
fn exec_and_top_need_a_running_container() {
    let root = Root::with_lab_images(&["busybox"]);
    let id = run_d(&root, &["--name", "done", "busybox", "true"]);
    root.ok(&["wait", "done"]);
    let want = format!("Error: container {id} is not running\n");
    let o = root.run(&["exec", "done", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), want);
    let o = root.run(&["top", "done"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), want);
    assert_eq!(
        text(&root.run(&["exec", "nothere", "true"]).stderr),
        "Error: No such container: nothere\n"
    );
    assert_eq!(
        root.run(&["exec", "done"]).status.code(),
        Some(125),
        "a command is required"
    );
}

#[test]
fn exec_it_bash_gets_a_terminal_and_exit_leaves_the_container_running() {
    let root = Root::with_lab_images(&["debian"]);
    let id = run_d(&root, &["--name", "deb", "debian", "sleep", "1000"]);

    // `docker exec -it CONTAINER /bin/bash`, then `exit`.
    let (shown, code) = run_on_terminal(
        root.cmd(&["exec", "-it", "deb", "/bin/bash"]),
        Duration::from_millis(700),
        b"tty; echo \"cols=$COLUMNS term=$TERM\"; exit\n",
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("/dev/pts/"), "{shown}");
    assert!(shown.contains("term=xterm"), "{shown}");
    assert!(!shown.contains("not a tty"), "{shown}");
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Running}}", "deb"])
            .trim(),
        "true",
        "exiting the exec'd shell does not stop the container"
    );

    // -t alone: the terminal is the container's even if ours is not one; the code comes back.
    let o = root.run(&["exec", "-t", "deb", "sh", "-c", "tty; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stdout).starts_with("/dev/pts/"),
        "{}",
        text(&o.stdout)
    );

    root.ok(&["rm", "-f", "deb"]);
    assert_released(&id);
}

#[test]
fn top_lists_the_containers_processes_like_ps_ef() {
    let root = Root::with_lab_images(&["busybox"]);
    run_d(&root, &["--name", "topped", "busybox", "sleep", "1000"]);
    let pid1 = root
        .ok(&["inspect", "-f", "{{.State.Pid}}", "topped"])
        .trim()
        .to_string();

    let out = root.ok(&["top", "topped"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{out}"
    );
    assert!(
        lines[0].starts_with(&format!("{:<20}PID", "UID")),
        "Docker's 20-wide columns:\n{out}"
    );
    assert_eq!(lines.len(), 2, "only PID 1:\n{out}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "root");
    assert_eq!(row[1], pid1, "host PIDs");
    assert_eq!(row[5], "?");
    assert_eq!(row[7..].join(" "), "sleep 1000");

    // An exec'd process is one of the container's; the CLI's helper is not.
    root.ok(&["exec", "-d", "topped", "sleep", "999"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let out = loop {
        let out = root.ok(&["top", "topped"]);
        if out.contains("sleep 999") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(out.contains("sleep 999"), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");

    // ps options: the host's ps, filtered to the container.
    let out = root.ok(&["top", "topped", "aux"]);
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head.first(), Some(&"USER"), "{out}");
    assert!(head.contains(&"PID") && head.contains(&"COMMAND"), "{out}");
    assert!(
        out.contains("sleep 1000") && out.contains("sleep 999"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
}
