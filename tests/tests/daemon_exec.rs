//! `baleia daemon` driven by the real docker CLI for `exec` (pipes, stdin, a terminal, detached,
//! exit codes and Docker's wording), `stats --no-stream`, and `network connect|disconnect`.

use std::process::Command;
use std::time::{Duration, Instant};

use baleia_tests::daemon::Daemon;
use baleia_tests::*;

/// Bridges, rules and helper processes of a root that must be gone once it is dropped.
struct Leftovers {
    names: Vec<String>,
    root_path: String,
}

impl Leftovers {
    fn of(root: &Root) -> Leftovers {
        Leftovers {
            names: vec![root.bridge()],
            root_path: root.path().display().to_string(),
        }
    }

    /// Also watch the bridge of network `id`.
    fn network(&mut self, id: &str) {
        self.names.push(format!("br-{}", &id.trim()[..12]));
    }

    /// Assert that nothing of the root is left: links, iptables rules, processes.
    fn assert_gone(&self) {
        let links = text(
            &Command::new("ip")
                .args(["-o", "link"])
                .output()
                .unwrap()
                .stdout,
        );
        let rules = text(&Command::new("iptables-save").output().unwrap().stdout);
        for n in &self.names {
            assert!(!links.contains(n.as_str()), "{n} is left:\n{links}");
            assert!(!rules.contains(n.as_str()), "rules of {n} are left");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_mentioning(&self.root_path);
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "processes are left: {left:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Command lines of processes that name `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

/// `docker run -d ARGS…`; the container's full ID.
fn run_d(d: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = d.ok(&all).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the ID: {id}");
    id
}

fn running(d: &Daemon, name: &str) -> bool {
    d.ok(&["inspect", "-f", "{{.State.Running}}", name]).trim() == "true"
}

/// Wait (10 s at most) until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn docker_exec_runs_commands_with_their_output_input_and_exit_codes() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let left = Leftovers::of(&root);
    let d = Daemon::start(&root);
    let id = run_d(&d, &["--name", "exec-pipes", "busybox", "sleep", "300"]);

    assert_eq!(
        d.ok(&["exec", "exec-pipes", "cat", "/etc/hostname"]),
        format!("{}\n", &id[..12])
    );
    // stdout and stderr apart, and the exit code.
    let o = d.docker(&[
        "exec",
        "exec-pipes",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        ("out\n".into(), "err\n".into())
    );
    // A command that cannot be run: 127 (not found) or 126 (not a program), in Docker's words.
    let o = d.docker(&["exec", "exec-pipes", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    let shown = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        shown.contains(
            "OCI runtime exec failed: exec failed: unable to start container process: \
             exec: \"nosuchcmd\": executable file not found in $PATH: unknown"
        ),
        "{shown}"
    );
    let o = d.docker(&["exec", "exec-pipes", "/etc/hostname"]);
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("permission denied"), "{o:?}");

    // Environment, working directory and user.
    assert_eq!(
        d.ok(&["exec", "-e", "A=b", "exec-pipes", "sh", "-c", "echo $A"]),
        "b\n"
    );
    assert_eq!(
        d.ok(&[
            "exec",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "exec-pipes",
            "sh",
            "-c",
            "pwd; id -u"
        ]),
        "/tmp\n1000\n"
    );
    // stdin, up to its end.
    let o = d.docker_with_input(&["exec", "-i", "exec-pipes", "cat"], b"hello\nworld\n");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "hello\nworld\n");
    // Without -i the process reads nothing.
    let o = d.docker_with_input(&["exec", "exec-pipes", "cat"], b"ignored\n");
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), String::new()));

    // Detached: the command runs on after the CLI returned.
    let o = d.docker(&[
        "exec",
        "-d",
        "exec-pipes",
        "sh",
        "-c",
        "sleep 0.5; touch /tmp/x",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "");
    eventually("the detached exec touches /tmp/x", || {
        d.docker(&["exec", "exec-pipes", "test", "-e", "/tmp/x"])
            .status
            .success()
    });

    // Not running, or not there: Docker's errors.
    d.ok(&["create", "--name", "exec-created", "busybox", "true"]);
    let o = d.docker(&["exec", "exec-created", "true"]);
    assert!(!o.status.success());
    let cid = d.ok(&["inspect", "-f", "{{.Id}}", "exec-created"]);
    assert!(
        text(&o.stderr).contains(&format!("container {} is not running", cid.trim())),
        "{}",
        text(&o.stderr)
    );
    let o = d.docker(&["exec", "exec-nosuch", "true"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("No such container: exec-nosuch"),
        "{}",
        text(&o.stderr)
    );
    assert!(running(&d, "exec-pipes"));
    drop(d);
    drop(root);
    left.assert_gone();
}

#[test]
fn docker_exec_it_gives_a_terminal_that_a_leaving_client_hangs_up() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let left = Leftovers::of(&root);
    let d = Daemon::start(&root);
    run_d(&d, &["--name", "exec-tty", "busybox", "sleep", "300"]);

    // -t without a terminal on our side: raw output, \r\n from the terminal's line discipline.
    let o = d.docker(&["exec", "-t", "exec-tty", "echo", "hi"]);
    assert_eq!(text(&o.stdout), "hi\r\n", "{}", text(&o.stderr));

    // An interactive shell: its terminal is a /dev/pts device of the container, sized as ours
    // and resized with it; `exit 5` ends the CLI with 5.
    let mut t = PtySession::spawn(
        d.command(&["exec", "-it", "exec-tty", "sh"]),
        Some((24, 80)),
    );
    t.expect("# ");
    t.send(b"tty; stty size\n");
    t.expect("/dev/pts/");
    t.expect("24 80");
    t.resize(31, 97);
    std::thread::sleep(Duration::from_millis(500));
    t.send(b"stty size\n");
    t.expect("31 97");
    t.send(b"exit 5\n");
    let (shown, code) = t.finish();
    assert_eq!(code, 5, "{shown}");

    // A client killed mid-session: the shell hangs up, the container runs on.
    let mut t = PtySession::spawn(
        d.command(&["exec", "-it", "exec-tty", "sh"]),
        Some((24, 80)),
    );
    t.expect("# ");
    t.send(b"echo $$ > /tmp/shell.pid\n");
    t.expect("# ");
    let pid = d.ok(&["exec", "exec-tty", "cat", "/tmp/shell.pid"]);
    let pid = pid.trim().to_string();
    assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
    t.kill();
    let _ = t.finish();
    eventually("the abandoned shell ends", || {
        !d.docker(&["exec", "exec-tty", "kill", "-0", &pid])
            .status
            .success()
    });
    assert!(running(&d, "exec-tty"), "the container runs on");
    assert_eq!(d.ok(&["exec", "exec-tty", "echo", "still"]), "still\n");
    drop(d);
    drop(root);
    left.assert_gone();
}

#[test]
fn docker_stats_no_stream_shows_the_limits_and_usage() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let left = Leftovers::of(&root);
    let d = Daemon::start(&root);
    run_d(
        &d,
        &[
            "--name",
            "stats-box",
            "--memory",
            "64m",
            "busybox",
            "sleep",
            "300",
        ],
    );
    let table = d.ok(&["stats", "--no-stream", "stats-box"]);
    assert!(
        table.starts_with("CONTAINER ID   NAME        CPU %     MEM USAGE / LIMIT"),
        "{table}"
    );
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(row.contains("stats-box"), "{table}");
    assert!(row.contains(" / 64MiB"), "{table}");

    let pids: u64 = d
        .ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "stats-box"])
        .trim()
        .parse()
        .unwrap();
    assert!(pids >= 1, "{pids}");

    // Traffic with the gateway (an address the engine made) shows in NET I/O.
    let gw = d.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "stats-box"]);
    d.ok(&["exec", "stats-box", "ping", "-c", "2", "-W", "2", gw.trim()]);
    let net = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.NetIO}}",
        "stats-box",
    ]);
    let (rx, tx) = net.trim().split_once(" / ").unwrap();
    assert!(rx != "0B" && tx != "0B", "{net}");

    // A busy process shows in CPU % (the daemon compares two samples a second apart).
    d.ok(&[
        "exec",
        "-d",
        "stats-box",
        "timeout",
        "8",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let cpu = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}}",
        "stats-box",
    ]);
    let cpu: f64 = cpu.trim().trim_end_matches('%').parse().unwrap();
    assert!(cpu > 5.0, "a busy loop shows {cpu}% CPU");

    // The streaming API: a document a second while it runs.
    let o = Command::new("curl")
        .args(["-s", "--max-time", "3", "--unix-socket"])
        .arg(&d.socket)
        .arg("http://localhost/v1.48/containers/stats-box/stats")
        .output()
        .unwrap();
    let docs: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!docs.is_empty(), "{o:?}");
    assert_eq!(docs[0]["name"], "/stats-box");
    assert_eq!(docs[0]["memory_stats"]["limit"], 64 << 20);
    drop(d);
    drop(root);
    left.assert_gone();
}

#[test]
fn docker_network_connect_and_disconnect() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let mut left = Leftovers::of(&root);
    let d = Daemon::start(&root);
    let net = d.ok(&["network", "create", "conn-net"]);
    left.network(&net);
    run_d(&d, &["--name", "conn-a", "busybox", "sleep", "300"]);
    run_d(
        &d,
        &[
            "--name",
            "conn-b",
            "--network",
            "conn-net",
            "busybox",
            "sleep",
            "300",
        ],
    );

    d.ok(&["network", "connect", "--alias", "web", "conn-net", "conn-a"]);
    let ip = d.ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"conn-net\").IPAddress}}",
        "conn-a",
    ]);
    let ip = ip.trim().to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip:?}");
    assert!(d
        .ok(&["exec", "conn-a", "ip", "-o", "-4", "addr"])
        .contains(&format!("eth1    inet {ip}/")));
    // Another container on the network finds it by name and by alias.
    for name in ["conn-a", "web"] {
        let o = d.docker(&["exec", "conn-b", "ping", "-c", "1", "-W", "2", name]);
        assert!(o.status.success(), "ping {name}: {}", text(&o.stdout));
        assert!(
            text(&o.stdout).contains(&format!("({ip})")),
            "{}",
            text(&o.stdout)
        );
    }

    // Docker's errors: connected already (403), unknown network or container (404).
    let o = d.docker(&["network", "connect", "conn-net", "conn-a"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("endpoint with name conn-a already exists in network conn-net"),
        "{}",
        text(&o.stderr)
    );
    let o = d.docker(&["network", "connect", "conn-nosuchnet", "conn-a"]);
    assert!(
        text(&o.stderr).contains("network conn-nosuchnet not found"),
        "{}",
        text(&o.stderr)
    );
    let o = d.docker(&["network", "connect", "conn-net", "conn-nosuch"]);
    assert!(
        text(&o.stderr).contains("No such container: conn-nosuch"),
        "{}",
        text(&o.stderr)
    );

    // A static address (IPAMConfig.IPv4Address), from the network's own subnet.
    let subnet = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "conn-net",
    ]);
    let (base, _) = subnet.trim().split_once('/').unwrap();
    let mut octets: Vec<&str> = base.split('.').collect();
    octets[3] = "200";
    let fixed = octets.join(".");
    run_d(&d, &["--name", "conn-c", "busybox", "sleep", "300"]);
    d.ok(&["network", "connect", "--ip", &fixed, "conn-net", "conn-c"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{(index .NetworkSettings.Networks \"conn-net\").IPAddress}}",
            "conn-c",
        ])
        .trim(),
        fixed
    );
    let o = d.docker(&["exec", "conn-b", "ping", "-c", "1", "-W", "2", "conn-c"]);
    assert!(text(&o.stdout).contains(&format!("({fixed})")), "{o:?}");
    // The address is the container's for every start.
    d.ok(&["restart", "-t", "0", "conn-c"]);
    let ips = d.ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"conn-net\").IPAddress}} \
         {{(index .NetworkSettings.Networks \"conn-net\").IPAMConfig.IPv4Address}}",
        "conn-c",
    ]);
    assert_eq!(ips.split_whitespace().collect::<Vec<_>>(), [&fixed, &fixed]);
    let o = d.docker(&[
        "network",
        "connect",
        "--ip",
        "10.255.255.7",
        "conn-net",
        "conn-b",
    ]);
    assert!(!o.status.success());

    // Disconnected: the interface and the name are gone.
    d.ok(&["network", "disconnect", "conn-net", "conn-a"]);
    let nets = d.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        "conn-a",
    ]);
    assert!(!nets.contains("conn-net"), "{nets}");
    assert!(!d
        .ok(&["exec", "conn-a", "ip", "-o", "link"])
        .contains("eth1"));
    let o = d.docker(&["exec", "conn-b", "ping", "-c", "1", "-W", "1", "web"]);
    assert!(!o.status.success(), "{}", text(&o.stdout));
    let o = d.docker(&["network", "disconnect", "conn-net", "conn-a"]);
    assert!(
        text(&o.stderr).contains("is not connected to network conn-net"),
        "{}",
        text(&o.stderr)
    );
    drop(d);
    drop(root);
    left.assert_gone();
}
