//! The container life cycle of the notes, on real namespaces, overlay and cgroups: run, logs,
//! detached loops, stop/kill/start/restart, rm, names, --rm, stdin, terminals, limits, and a
//! monitor killed with SIGKILL.

use baleia_tests::*;
use std::time::{Duration, Instant};

fn state(root: &Root, name: &str, field: &str) -> String {
    root.ok(&["inspect", "-f", &format!("{{{{.State.{field}}}}}"), name])
        .trim()
        .to_string()
}

#[test]
fn run_streams_output_and_returns_the_exit_code() {
    let root = Root::with_lab_images(&["busybox"]);
    let o = root.run(&[
        "run",
        "--name",
        "t1",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), "out\n");
    assert_eq!(text(&o.stderr), "err\n");
    assert_eq!(root.ok(&["logs", "t1"]), "out\n");
    let ps = root.ok(&["ps", "-a"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(ps.contains("Exited (3)") && ps.contains("t1"), "{ps}");
    assert_eq!(root.ok(&["ps", "-q"]), "", "nothing running");
    assert_eq!(root.ok(&["ps", "-aq"]).trim().len(), 12);
}

#[test]
fn pid1_is_the_command_in_its_own_namespaces() {
    let root = Root::with_lab_images(&["busybox"]);
    let out = root.ok(&[
        "run",
        "--name",
        "ns",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /proc/1/comm; ls /sys/class/net | tr '\\n' ' '; echo; cat /etc/hostname",
    ]);
    let id = root.ok(&["inspect", "-f", "{{.Id}}", "ns"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], &id[..12], "host name is the short ID");
    assert_eq!(lines[1], "sh", "the command is PID 1");
    assert_eq!(
        lines[2].trim(),
        "eth0 lo",
        "the default bridge: eth0 and loopback"
    );
    assert_eq!(lines[3], &id[..12]);
    // --network host sees the host's links (other tests' veths come and go: look for the uplink).
    let route = std::process::Command::new("ip")
        .args(["route", "show", "default"])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    let uplink = route.split_whitespace().skip_while(|w| *w != "dev").nth(1);
    let steady: Vec<&str> = std::iter::once("lo").chain(uplink).collect();
    let seen = root.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    for n in &steady {
        assert!(seen.lines().any(|l| l == *n), "{n} in {seen}");
    }
    // On the host's network the container takes the host's name, as with Docker.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let named = root.ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]);
    assert_eq!(named.trim(), host);
}

#[test]
fn detached_loop_logs_then_stop_waits_and_kills_pid1() {
    let root = Root::with_lab_images(&["debian"]);
    let id = root.ok(&[
        "run",
        "-d",
        "--name=baleia",
        "debian",
        "/bin/bash",
        "-c",
        "while true; do echo baleia: $(id -u); sleep 0.2; done",
    ]);
    assert_eq!(id.trim().len(), 64, "run -d prints the full ID");
    assert_eq!(state(&root, "baleia", "Status"), "running");
    let pid: i32 = state(&root, "baleia", "Pid").parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !root
        .ok(&["logs", "--tail", "1", "baleia"])
        .starts_with("baleia: 0")
    {
        assert!(Instant::now() < deadline, "the loop never logged");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(root.ok(&["ps"]).contains("Up "));
    // bash as PID 1 has no TERM handler: the kernel ignores TERM, stop waits -t then kills.
    let t = Instant::now();
    root.ok(&["stop", "-t", "1", "baleia"]);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "stop waited the timeout"
    );
    assert_eq!(state(&root, "baleia", "ExitCode"), "137");
    assert!(root.ok(&["ps", "-a"]).contains("Exited (137)"));
    // start again, then kill -s with a signal PID 1 ignores, then the default KILL.
    root.ok(&["start", "baleia"]);
    assert_eq!(state(&root, "baleia", "Running"), "true");
    root.ok(&["kill", "-s", "SIGTERM", "baleia"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        state(&root, "baleia", "Running"),
        "true",
        "TERM is ignored by a PID 1 without handler"
    );
    assert_eq!(root.ok(&["kill", "baleia"]), "baleia\n");
    assert_eq!(root.ok(&["wait", "baleia"]), "137\n");
    root.ok(&["rm", "baleia"]);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_pid1_that_handles_term_stops_at_once() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    // Until the trap is set, PID 1 has no handler and the kernel would drop the TERM.
    let deadline = Instant::now() + Duration::from_secs(10);
    while root.ok(&["logs", "polite"]) != "ready\n" {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    root.ok(&["stop", "polite"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(state(&root, "polite", "ExitCode"), "0");
    root.ok(&["restart", "-t", "1", "polite"]);
    assert_eq!(state(&root, "polite", "Running"), "true");
}

#[test]
fn rm_names_and_rename_follow_dockers_rules() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    let err = root.fails(&["rm", "busy"]);
    assert!(err.contains("cannot remove container \"/busy\": container is running: stop the container before removing or force remove"), "{err}");
    let err = root.fails(&["run", "--name", "busy", "busybox", "true"]);
    assert!(
        err.contains("The container name \"/busy\" is already in use by container"),
        "{err}"
    );
    root.ok(&["rename", "busy", "quiet"]);
    assert!(root
        .fails(&["inspect", "busy"])
        .contains("No such object: busy"));
    assert_eq!(root.ok(&["rm", "-f", "quiet"]), "quiet\n");
    // A random name is adjective_surname.
    root.ok(&["run", "busybox", "true"]);
    let name = root.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let parts: Vec<&str> = name.trim().split('_').collect();
    assert!(
        parts.len() >= 2 && parts.iter().all(|p| !p.is_empty()),
        "{name}"
    );
    // IDs by unique prefix, as the notes use 4 characters.
    let id = root.ok(&["ps", "-aq"]);
    root.ok(&["rm", &id[..4]]);
    assert!(root
        .fails(&["rm", "nope"])
        .contains("No such container: nope"));
    assert!(root
        .fails(&["run", "--name", "x y", "busybox", "true"])
        .contains("Invalid container name (x y)"));
}

#[test]
fn rm_flag_removes_the_container_when_it_exits() {
    let root = Root::with_lab_images(&["busybox"]);
    let o = root.run(&[
        "run", "--rm", "--name", "nmap", "busybox", "sh", "-c", "exit 2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        root.ok(&["ps", "-aq"]),
        "",
        "--rm removed it before run returned"
    );
    assert_eq!(
        std::fs::read_dir(root.path().join("containers"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn stdin_is_closed_without_i_and_piped_with_i() {
    let root = Root::with_lab_images(&["debian", "busybox"]);
    // `run debian bash` without -it: bash reads EOF and exits at once, as the notes show.
    let t = Instant::now();
    let o = root.run(&["run", "debian", "bash"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    let mut child = root
        .cmd(&["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"baleia\n").unwrap();
    drop(child.stdin.take());
    assert_eq!(text(&child.wait_with_output().unwrap().stdout), "BALEIA\n");
    // create, then start -ai.
    let id = root.ok(&["create", "-i", "busybox", "cat"]);
    let mut child = root
        .cmd(&["start", "-ai", id.trim()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"from start -ai\n").unwrap();
    drop(child.stdin.take());
    assert_eq!(
        text(&child.wait_with_output().unwrap().stdout),
        "from start -ai\n"
    );
}

#[test]
fn interactive_terminal_detach_and_attach() {
    let root = Root::with_lab_images(&["debian"]);
    let (shown, code) = root.run_in_pty(
        &["run", "-it", "--name", "great_container", "debian", "bash"],
        &[
            ("# ", b"ps -ef\r"),
            ("ps -ef\r\n", b""),
            ("# ", b"\x10\x11"),
        ],
    );
    assert_eq!(code, 0, "detached: {shown}");
    assert!(shown.contains("root@") && shown.contains("bash"), "{shown}");
    let ps1 = shown
        .lines()
        .find(|l| l.contains(" 1 ") && l.trim_end().ends_with("bash"))
        .unwrap_or_default();
    assert!(!ps1.is_empty(), "bash is PID 1: {shown}");
    assert!(
        ps1.contains("pts/0"),
        "its terminal is the container's own pts/0, as in Docker: {shown}"
    );
    assert_eq!(
        state(&root, "great_container", "Running"),
        "true",
        "Ctrl-P Ctrl-Q leaves it running"
    );
    let (shown, code) = root.run_in_pty(
        &["attach", "great_container"],
        &[("", b"echo back-in; exit 7\r")],
    );
    assert!(shown.contains("back-in"), "{shown}");
    assert_eq!(code, 7);
    assert_eq!(state(&root, "great_container", "ExitCode"), "7");
}

#[test]
fn flags_env_workdir_user_hostname_volumes_readonly_entrypoint() {
    let root = Root::with_lab_images(&["busybox"]);
    let host_dir = root.scratch().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("from-host"), "hello from the host\n").unwrap();
    let env_file = root.scratch().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n").unwrap();
    let vol = format!("{}:/data", host_dir.display());
    let out = root.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=ola",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "baleia-host",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $FROM_FILE; pwd; id -u; hostname; cat /data/from-host",
    ]);
    assert_eq!(
        out,
        "ola yes\n/tmp\n65534\nbaleia-host\nhello from the host\n"
    );
    root.ok(&[
        "run",
        "--rm",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "echo written > /data/back",
    ]);
    assert_eq!(
        std::fs::read_to_string(host_dir.join("back")).unwrap(),
        "written\n"
    );
    let ro = root.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(ro.status.code(), Some(0));
    assert!(
        text(&ro.stderr).contains("Read-only file system"),
        "{}",
        text(&ro.stderr)
    );
    let ro_vol = format!("{}:/data:ro", host_dir.display());
    assert!(!root
        .run(&["run", "--rm", "-v", &ro_vol, "busybox", "touch", "/data/y"])
        .status
        .success());
    assert_eq!(
        root.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "entrypoint"
        ]),
        "via entrypoint\n"
    );
    let o = root.run(&["run", "--rm", "busybox", "no-such-program"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        text(&o.stderr).contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{}",
        text(&o.stderr)
    );
    assert!(root
        .fails(&["run", "nosuchimage"])
        .contains("Unable to find image 'nosuchimage:latest' locally"));
}

#[test]
fn memory_and_pids_limits_are_enforced() {
    let root = Root::with_lab_images(&["busybox"]);
    let o = root.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "busybox",
        "sh",
        "-c",
        "tail /dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137), "killed by the OOM killer");
    assert_eq!(state(&root, "hog", "OOMKilled"), "true");
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "hog"])
            .trim(),
        "33554432"
    );
    let out = root.ok(&[
        "run",
        "--rm",
        "--pids-limit",
        "8",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 20); do sleep 2 & done 2>&1 | head -1; wait",
    ]);
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "shares",
        "--cpu-shares",
        "256",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = root.ok(&["inspect", "-f", "{{.Id}}", "shares"]);
    let cg = format!("/sys/fs/cgroup/cpu/baleia/{}", id.trim());
    if std::path::Path::new("/sys/fs/cgroup/cpu").exists() {
        assert_eq!(
            std::fs::read_to_string(format!("{cg}/cpu.shares"))
                .unwrap()
                .trim(),
            "256"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{cg}/cpu.cfs_quota_us"))
                .unwrap()
                .trim(),
            "50000"
        );
    }
    root.ok(&["rm", "-f", "shares"]);
    assert!(
        !std::path::Path::new(&cg).exists(),
        "cgroup removed with the container"
    );
}

#[test]
fn nsenter_enters_the_container_by_its_pid() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "1000"]);
    let pid = state(&root, "target", "Pid");
    let id = root.ok(&["inspect", "-f", "{{.Id}}", "target"]);
    let o = std::process::Command::new("nsenter")
        .args(["-m", "-u", "-n", "-p", "-i", "-t", &pid, "hostname"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), &id[..12]);
}

#[test]
fn a_killed_monitor_is_reconciled_by_the_next_command() {
    let root = Root::with_lab_images(&["busybox"]);
    let id = root
        .ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let pid1 = state(&root, "orphan", "Pid");
    let merged = root.path().join("overlay2").join(&id).join("merged");
    assert!(std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .contains(merged.to_str().unwrap()));
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| text(&c).contains("__monitor") && text(&c).contains(&id))
                .unwrap_or(false)
        })
        .expect("monitor process");
    let mpid: i32 = monitor.file_name().to_string_lossy().parse().unwrap();
    // SAFETY: sending SIGKILL to a process we found by its command line.
    unsafe { libc::kill(mpid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid1}")).exists() {
        assert!(Instant::now() < deadline, "PID 1 outlived its monitor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ps = root.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("orphan Exited (137)"), "{ps}");
    assert!(
        !std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .contains(merged.to_str().unwrap()),
        "overlay unmounted"
    );
    assert!(
        !std::path::Path::new(&format!("/sys/fs/cgroup/memory/baleia/{id}")).exists(),
        "cgroup removed"
    );
    root.ok(&["start", "orphan"]);
    assert_eq!(state(&root, "orphan", "Running"), "true");
}

#[test]
fn concurrent_runs_on_one_root() {
    let root = Root::with_lab_images(&["busybox"]);
    let children: Vec<_> = (0..6)
        .map(|i| {
            root.cmd(&[
                "run",
                "--name",
                &format!("c{i}"),
                "busybox",
                "sh",
                "-c",
                &format!("echo {i}"),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert_eq!(text(&o.stdout), format!("{i}\n"));
    }
    assert_eq!(root.ok(&["ps", "-a", "-q"]).lines().count(), 6);
    root.ok(&["container", "prune", "-f"]);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
}

#[test]
fn the_terminal_size_follows_the_clients() {
    let root = Root::with_lab_images(&["busybox"]);
    let (shown, code) = root.run_in_pty_sized(
        &["run", "-it", "--rm", "busybox", "sh"],
        40,
        100,
        &[("# ", b"stty size; exit\r")],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("40 100"),
        "the container's terminal has the client's size: {shown}"
    );
    // Resizing the window mid-session reaches the container (SIGWINCH → resize frame → TIOCSWINSZ).
    let mut s = PtySession::spawn(
        root.cmd(&["run", "-it", "--rm", "busybox", "sh"]),
        Some((24, 80)),
    );
    s.expect("# ");
    s.resize(30, 90);
    let mut resized = false;
    for _ in 0..10 {
        s.send(b"stty size\r");
        if s.wait_for("30 90", Duration::from_millis(500)) {
            resized = true;
            break;
        }
    }
    assert!(
        resized,
        "the container never saw the new size: {}",
        s.shown()
    );
    s.send(b"exit\r");
    assert_eq!(s.finish().1, 0);
}

#[test]
fn logs_follow_and_timestamps_and_ps_selections() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line $i; sleep 0.3; done",
    ]);
    // -f streams until the container exits, then returns.
    let t = Instant::now();
    assert_eq!(
        root.ok(&["logs", "-f", "counter"]),
        "line 1\nline 2\nline 3\n"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    let stamped = root.ok(&["logs", "-t", "--tail", "1", "counter"]);
    let (time, rest) = stamped.split_once(' ').unwrap();
    assert!(baleia_engine_time(time), "{stamped}");
    assert_eq!(rest, "line 3\n");
    root.ok(&["run", "--name", "second", "busybox", "true"]);
    root.ok(&["run", "-d", "--name", "third", "busybox", "sleep", "100"]);
    assert_eq!(root.ok(&["ps", "-l", "--format", "{{.Names}}"]), "third\n");
    assert_eq!(
        root.ok(&["ps", "-n", "2", "--format", "{{.Names}}"]),
        "third\nsecond\n"
    );
    assert_eq!(
        root.ok(&["ps", "-a", "-f", "status=exited", "--format", "{{.Names}}"]),
        "second\ncounter\n"
    );
    assert_eq!(
        root.ok(&["container", "ls", "--format", "{{.Names}} {{.Status}}"])
            .split(' ')
            .next(),
        Some("third")
    );
    assert_eq!(root.ok(&["ps", "--no-trunc", "-q"]).trim().len(), 64);
    assert_eq!(root.ok(&["container", "list", "-aq"]).lines().count(), 3);
}

fn baleia_engine_time(s: &str) -> bool {
    s.len() >= 20 && s.contains('T') && s.ends_with('Z')
}

#[test]
fn privileged_keeps_every_capability_and_default_drops_some() {
    let root = Root::with_lab_images(&["busybox"]);
    let caps = |extra: &[&str]| -> String {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", "grep CapBnd /proc/self/status"]);
        root.ok(&args)
    };
    let default = caps(&[]);
    let privileged = caps(&["--privileged"]);
    assert!(
        default.contains("00000000a80425fb"),
        "Docker's default bounding set: {default}"
    );
    assert_ne!(default, privileged);
}

#[test]
fn a_docker_symlink_behaves_the_same() {
    let root = Root::with_lab_images(&["busybox"]);
    let link = root.scratch().join("docker");
    std::os::unix::fs::symlink(baleia_bin(), &link).unwrap();
    let docker = |args: &[&str]| {
        std::process::Command::new(&link)
            .env("BALEIA_ROOT", root.path())
            .env("BALEIA_CONFIG", root.config_file())
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(
        text(&docker(&["run", "--rm", "busybox", "echo", "via docker"]).stdout),
        "via docker\n"
    );
    let o = docker(&["ps", "--bogus"]);
    assert!(
        text(&o.stderr).contains("See 'docker ps --help'."),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn memory_swap_is_the_memory_plus_swap_limit() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "swap",
        "-m",
        "32m",
        "--memory-swap",
        "64m",
        "busybox",
        "sleep",
        "100",
    ]);
    let id = root.ok(&["inspect", "-f", "{{.Id}}", "swap"]);
    let memsw = format!(
        "/sys/fs/cgroup/memory/baleia/{}/memory.memsw.limit_in_bytes",
        id.trim()
    );
    if std::path::Path::new(&memsw).exists() {
        assert_eq!(std::fs::read_to_string(&memsw).unwrap().trim(), "67108864");
    }
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.HostConfig.MemorySwap}}", "swap"])
            .trim(),
        "67108864"
    );
}

#[test]
fn info_counts_containers_by_state() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "100"]);
    root.ok(&["run", "--name", "done", "busybox", "true"]);
    let info = root.ok(&["info"]);
    assert!(
        info.contains(" Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n"),
        "{info}"
    );
    assert_eq!(
        root.ok(&[
            "info",
            "-f",
            "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}}"
        ])
        .trim(),
        "2 1 1"
    );
}

#[test]
fn stop_with_a_signal_sends_that_one_instead_of_term() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 4' USR1; echo ready; while true; do sleep 0.1; done",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while root.ok(&["logs", "usr1"]) != "ready\n" {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    root.ok(&["stop", "-s", "USR1", "-t", "5", "usr1"]);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "USR1 stopped it, no timeout: {:?}",
        t.elapsed()
    );
    assert_eq!(state(&root, "usr1", "ExitCode"), "4");
}

#[test]
fn container_inspect_looks_at_containers_only_and_a_closed_pipe_ends_quietly() {
    let root = Root::with_lab_images(&["busybox"]);
    let err = root.fails(&["container", "inspect", "busybox"]);
    assert!(err.contains("No such container: busybox"), "{err}");
    assert!(root
        .ok(&["inspect", "-f", "{{.Id}}", "busybox"])
        .starts_with("sha256:"));
    // `baleia image inspect … | head -c 1`: no panic when the reader goes away (200 copies:
    // more than a pipe holds, so the writer meets the closed pipe).
    let many = vec!["busybox"; 200].join(" ");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} image inspect {many} | head -c 1 >/dev/null",
            baleia_bin().display()
        ))
        .env("BALEIA_ROOT", root.path())
        .env("BALEIA_CONFIG", root.config_file())
        .output()
        .unwrap();
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}
