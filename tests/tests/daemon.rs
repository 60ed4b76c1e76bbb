//! `baleia daemon`: the real docker CLI (`docker`, API 1.50 client) drives baleia through the
//! Docker Engine API on a unix socket: version, info, images, networks, the container life cycle,
//! logs, Docker's error wording, and containers that outlive a daemon restart.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baleia_tests::daemon::Daemon;
use baleia_tests::*;

fn docker_installed() {
    require("docker");
}

#[test]
fn docker_cli_reads_version_info_images_and_networks() {
    docker_installed();
    let root = Root::with_lab_images(&["busybox"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&root, &[&tcp]);
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&d.socket).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o660);
        assert_eq!(m.uid(), 0);
    }
    // The same API on loopback TCP.
    let o = Command::new("docker")
        .args(["-H", &tcp, "version", "--format", "{{.Server.APIVersion}}"])
        .env("DOCKER_CONFIG", &d.config)
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), "1.48", "{}", text(&o.stderr));
    let v = d.ok(&["version"]);
    assert!(v.contains("Server: Baleia Engine"), "{v}");
    // The server's part (20.10 clients add "(minimum version 1.24)").
    let server = v.split("Server:").nth(1).unwrap_or_default();
    assert!(
        server
            .lines()
            .any(|l| l.trim_start().starts_with("API version:") && l.contains(" 1.48")),
        "{v}"
    );
    let info = d.ok(&["info", "--format", "{{.Images}} {{.Driver}} {{.OSType}}"]);
    assert_eq!(info.trim(), "1 overlay2 linux");
    assert!(d.ok(&["info"]).contains("Server Version: 0.1.0"));

    let images = d.ok(&["images"]);
    assert!(
        images.starts_with("REPOSITORY   TAG       IMAGE ID"),
        "{images}"
    );
    assert!(images.contains("busybox      latest"), "{images}");
    d.ok(&["tag", "busybox", "example/box:1"]);
    assert!(d
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .contains("example/box:1"));
    assert!(d.ok(&["history", "busybox"]).contains("<missing>"));
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "example/box:1"]),
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
    );
    assert_eq!(
        d.ok(&["rmi", "example/box:1"]).trim(),
        "Untagged: example/box:1"
    );

    let id = d.ok(&["network", "create", "daemonnet"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ls = d.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID     NAME"), "{ls}");
    assert!(
        ls.contains(&format!("{}   daemonnet   bridge    local", &id[..12])),
        "{ls}"
    );
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}}",
            "daemonnet"
        ])
        .trim(),
        "daemonnet bridge"
    );
    assert_eq!(d.ok(&["network", "rm", "daemonnet"]).trim(), "daemonnet");
    assert!(!d.ok(&["network", "ls"]).contains("daemonnet"));

    // Docker's wording and exit code for what is not there.
    for args in [
        &["stop", "nosuch"][..],
        &["inspect", "--type", "container", "nosuch"],
    ] {
        let o = d.docker(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            text(&o.stderr).contains("No such container: nosuch"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    let o = d.docker(&["stop", "nosuch"]);
    assert_eq!(
        text(&o.stderr).trim(),
        "Error response from daemon: No such container: nosuch"
    );
    let o = d.docker(&["network", "rm", "nosuchnet"]);
    assert!(!o.status.success());
    // Docker's daemon wording; 20.10 clients turn any 404 here into their own line.
    let err = text(&o.stderr);
    assert!(
        err.contains("Error response from daemon: network nosuchnet not found")
            || err.trim() == "Error: No such network: nosuchnet",
        "{err}"
    );
}

#[test]
fn docker_cli_runs_containers_that_outlive_the_daemon() {
    docker_installed();
    let root = Root::with_lab_images(&["busybox"]);
    let mut d = Daemon::start(&root);

    let id = d.ok(&["create", "--name", "made", "busybox", "sleep", "300"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(d.ok(&["start", "made"]).trim(), "made");
    let ps = d.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(
        ps.contains("\"sleep 300\"") && ps.contains("Up ") && ps.contains("made"),
        "{ps}"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "made"])
            .trim(),
        "true"
    );
    // The daemon and the CLI see the same store.
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.Id}}", "made"]).trim(),
        id.trim()
    );
    let started = Instant::now();
    assert_eq!(d.ok(&["stop", "-t", "1", "made"]).trim(), "made");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "made"]).trim(),
        "exited"
    );
    let o = d.docker(&["kill", "made"]);
    assert!(
        text(&o.stderr).contains("is not running"),
        "{}",
        text(&o.stderr)
    );
    d.ok(&["rename", "made", "renamed"]);
    assert_eq!(d.ok(&["rm", "renamed"]).trim(), "renamed");
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    let id = d.ok(&["run", "-d", "--name", "detached", "busybox", "sleep", "300"]);
    assert_eq!(d.ok(&["ps", "-q"]).trim(), &id.trim()[..12]);
    let top = d.ok(&["top", "detached"]);
    assert!(top.starts_with("UID") && top.contains("sleep 300"), "{top}");
    let o = d.docker(&["rm", "detached"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("container is running"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(d.ok(&["rm", "-f", "detached"]).trim(), "detached");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo hi; echo oops >&2; exit 3",
    ]);
    assert_eq!(d.ok(&["wait", "talker"]).trim(), "3");
    let o = d.docker(&["logs", "talker"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "hi\n");
    assert_eq!(text(&o.stderr), "oops\n");
    let o = d.docker(&["logs", "--tail", "1", "talker"]);
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        (String::new(), "oops\n".into())
    );
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("talker Exited (3)"), "{ps}");
    // Following a running container's log ends when it exits.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.3; done",
    ]);
    assert_eq!(d.ok(&["logs", "-f", "counter"]), "1\n2\n3\n");
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:"), "{pruned}");

    // Attached runs: output on the right streams, the exit code, stdin, --rm, start -a.
    let o = d.docker(&[
        "run",
        "--name",
        "attached",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        ("out\n".into(), "err\n".into())
    );
    let o = d.docker(&["start", "-a", "attached"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), "out\n");
    d.ok(&["rm", "attached"]);
    let o = d.docker(&["run", "--rm", "busybox", "true"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = d.docker_with_input(
        &["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"],
        b"hello\n",
    );
    assert_eq!(text(&o.stdout), "HELLO\n", "{}", text(&o.stderr));
    assert_eq!(d.ok(&["ps", "-aq"]), "", "--rm containers are gone");
    // A terminal: raw output, and the client's size (the CLI resizes after the start).
    let o = d.docker(&["run", "-t", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(text(&o.stdout), "hi\r\n", "{}", text(&o.stderr));
    let (shown, code) = pty_run_sized(
        d.command(&[
            "run",
            "-it",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 0.5; stty size",
        ]),
        Some((31, 97)),
        &[],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("31 97"), "{shown:?}");

    // A container keeps running across a daemon restart.
    let id = d.ok(&["run", "-d", "--name", "lasting", "busybox", "sleep", "300"]);
    assert!(d.stop(), "the daemon stops on SIGTERM");
    assert!(!d.socket.exists(), "the socket is removed on exit");
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Running}}", "lasting"])
            .trim(),
        "true"
    );
    drop(d);
    let d = Daemon::start(&root);
    assert_eq!(d.ok(&["ps", "-q", "--no-trunc"]).trim(), id.trim());
    d.ok(&["rm", "-f", "lasting"]);
}

#[test]
fn a_client_that_leaves_mid_attach_never_stops_the_container() {
    docker_installed();
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]);
    // `docker attach`, killed (no goodbye) once it has shown output.
    let mut client = d
        .command(&["attach", "--no-stdin", "ticker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = client.stdout.take().unwrap();
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"tick\n");
    client.kill().unwrap();
    client.wait().unwrap();
    drop(out);
    // An attached `run -i` whose client is killed while the command runs.
    let mut session = d
        .command(&[
            "run",
            "-i",
            "--name",
            "session",
            "busybox",
            "sh",
            "-c",
            "echo ready; sleep 60",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(session.stdout.as_mut().unwrap(), &mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    session.kill().unwrap();
    session.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let logs_before = d.ok(&["logs", "ticker"]).lines().count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "running"
    );
    assert!(
        d.ok(&["logs", "ticker"]).lines().count() > logs_before,
        "ticker stopped ticking"
    );
    // The killed `run -i` client leaves its shell's stdin closed, as with Docker: the shell
    // ends on that EOF by itself, and nothing else is touched.
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "running"
    );
    d.ok(&["rm", "-f", "ticker", "session"]);
}
