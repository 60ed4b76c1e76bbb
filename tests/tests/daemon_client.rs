//! The `baleia` CLI as a client (`-H ADDRESS`, `DOCKER_HOST`, the notes' `export
//! DOCKER_HOST="ip:porta"`): the same commands and output, through a `baleia daemon` over a unix
//! socket or loopback TCP. The client's own state root is empty, so anything it shows came from
//! the daemon.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use baleia_tests::daemon::Daemon;
use baleia_tests::registry::free_port;
use baleia_tests::*;

/// A `baleia` client of `host`, whose own root is an empty folder.
struct ClientCli<'a> {
    root: &'a Root,
    host: String,
}

impl ClientCli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.root.cmd(args);
        let empty = self.root.scratch().join("client-root");
        c.env("DOCKER_HOST", &self.host).env("BALEIA_ROOT", empty);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run baleia")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "baleia {args:?} against {} failed ({}):\n{}{}",
            self.host,
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    fn with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn the_baleia_cli_drives_a_daemon_through_docker_host() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let port = free_port();
    let d = Daemon::start_with(&root, &[&format!("tcp://127.0.0.1:{port}")]);
    let cli = ClientCli {
        root: &root,
        host: format!("unix://{}", d.socket.display()),
    };

    let v = cli.ok(&["version"]);
    assert!(v.contains("Server: Baleia Engine\n"), "{v}");
    assert!(v.contains("  API version:      1.48"), "{v}");
    assert_eq!(
        cli.ok(&["info", "--format", "{{.Images}} {{.OSType}}"])
            .trim(),
        "1 linux"
    );
    assert!(cli.ok(&["info"]).contains(" Images: 1\n"));
    let images = cli.ok(&["images"]);
    assert!(
        images.starts_with("REPOSITORY   TAG       IMAGE ID"),
        "{images}"
    );
    assert!(images.contains("busybox      latest"), "{images}");
    assert_eq!(
        cli.ok(&["images", "-q"]).trim(),
        d.ok(&["images", "-q"]).trim(),
        "the same image IDs as the docker CLI sees"
    );

    // The notes' life cycle, through the daemon.
    let id = cli.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 60",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ps = cli.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("talker") && ps.contains("Up "),
        "{ps}"
    );
    assert!(d.ok(&["ps", "--format", "{{.Names}}"]).contains("talker"));
    assert_eq!(
        cli.ok(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "talker"])
            .trim(),
        "running /talker"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logs = loop {
        let o = cli.run(&["logs", "talker"]);
        if text(&o.stderr).contains("err") || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(text(&logs.stdout), "out\n");
    assert_eq!(text(&logs.stderr), "err\n");
    // Inside the running container: exec (plain, exit code, stdin, a terminal) and top.
    assert_eq!(
        cli.ok(&["exec", "talker", "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    let o = cli.run(&["exec", "talker", "sh", "-c", "echo x >&2; exit 3"]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(3), "x\n".to_string())
    );
    let o = cli.with_input(
        &[
            "exec",
            "-i",
            "-e",
            "WHO=client",
            "talker",
            "sh",
            "-c",
            "echo $WHO; cat",
        ],
        b"typed\n",
    );
    assert_eq!(text(&o.stdout), "client\ntyped\n", "{}", text(&o.stderr));
    cli.ok(&["exec", "-d", "talker", "touch", "/tmp/made-by-exec-d"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cli
        .run(&["exec", "talker", "test", "-e", "/tmp/made-by-exec-d"])
        .status
        .code()
        != Some(0)
    {
        assert!(std::time::Instant::now() < deadline, "exec -d never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut c = cli.cmd(&["exec", "-it", "talker", "sh"]);
    c.stdin(Stdio::null());
    let (screen, code) = pty_run(c, &[("# ", b"tty; exit 4\r")]);
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert_eq!(code, 4, "{screen}");
    let top = cli.ok(&["top", "talker"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 60"), "{top}");
    assert_eq!(cli.ok(&["stop", "-t", "1", "talker"]).trim(), "talker");
    let all = cli.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(all.contains("talker exited"), "{all}");
    assert_eq!(cli.ok(&["rm", "talker"]).trim(), "talker");

    // Attached runs: output, exit codes, stdin, --rm.
    assert_eq!(
        cli.ok(&["run", "--rm", "busybox", "echo", "hello from the daemon"]),
        "hello from the daemon\n"
    );
    let o = cli.run(&[
        "run",
        "--name",
        "three",
        "busybox",
        "sh",
        "-c",
        "echo bye; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "bye\n");
    assert_eq!(cli.ok(&["wait", "three"]).trim(), "3");
    cli.ok(&["rm", "three"]);
    let o = cli.with_input(
        &["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"],
        b"piped in\n",
    );
    assert_eq!(text(&o.stdout), "PIPED IN\n", "{}", text(&o.stderr));
    assert_eq!(cli.ok(&["ps", "-aq"]).trim(), "", "--rm left a container");

    // A terminal: PID 1 is the shell, and Ctrl-D ends it.
    let mut c = cli.cmd(&["run", "-it", "--rm", "--name", "term", "busybox", "sh"]);
    c.stdin(Stdio::null());
    let (screen, code) = pty_run(c, &[("# ", b"echo pid=$$; tty\r"), ("pid=1", b"exit 7\r")]);
    assert!(screen.contains("/dev/pts/0"), "{screen}");
    assert_eq!(code, 7, "{screen}");

    // save and load stream through the daemon: the same image comes back.
    let id_before = cli.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    let tar = root.scratch().join("bb.tar");
    cli.ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    assert!(text(&listing.stdout).contains("manifest.json"));
    assert!(cli
        .ok(&["rmi", "busybox"])
        .contains("Untagged: busybox:latest"));
    assert_eq!(cli.ok(&["images", "-q"]).trim(), "");
    assert_eq!(
        cli.ok(&["load", "-i", tar.to_str().unwrap()]),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(cli.ok(&["inspect", "-f", "{{.Id}}", "busybox"]), id_before);
    let o = cli.with_input(&["load"], b"this is not a tar archive");
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).starts_with("Error response from daemon: "),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(cli.ok(&["images", "-q"]).trim().lines().count(), 1);

    // Networks.
    let net = cli.ok(&["network", "create", "clientnet"]);
    assert_eq!(net.trim().len(), 64);
    let ls = cli.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID     NAME"), "{ls}");
    assert!(
        ls.contains(&format!("{}   clientnet   bridge    local", &net[..12])),
        "{ls}"
    );
    assert_eq!(
        cli.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}}",
            "clientnet"
        ])
        .trim(),
        "clientnet bridge"
    );
    assert_eq!(cli.ok(&["network", "rm", "clientnet"]).trim(), "clientnet");

    // The notes' form: a bare ip:port in DOCKER_HOST, and -H on the command line.
    let tcp = ClientCli {
        root: &root,
        host: format!("127.0.0.1:{port}"),
    };
    assert_eq!(tcp.ok(&["info", "--format", "{{.Images}}"]).trim(), "1");
    let o = root
        .cmd(&[
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "images",
            "--format",
            "{{.Repository}}",
        ])
        .env("BALEIA_ROOT", root.scratch().join("client-root"))
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), "busybox", "{}", text(&o.stderr));
}

#[test]
fn client_errors_read_as_the_docker_cli_writes_them() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let cli = ClientCli {
        root: &root,
        host: format!("unix://{}", d.socket.display()),
    };
    let o = cli.run(&["rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
    let o = cli.run(&["run", "--pull", "never", "nosuchimage"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).contains("No such image: nosuchimage"),
        "{}",
        text(&o.stderr)
    );
    cli.ok(&["run", "-d", "--name", "taken", "busybox", "sleep", "30"]);
    let o = cli.run(&["run", "-d", "--name", "taken", "busybox", "true"]);
    assert!(
        text(&o.stderr).contains("is already in use"),
        "{}",
        text(&o.stderr)
    );
    cli.ok(&["rm", "-f", "taken"]);
    // Commands without a client path yet say so, and do nothing.
    let o = cli.run(&["commit", "nosuch"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("works only without a daemon"),
        "{}",
        text(&o.stderr)
    );

    // No daemon at the address.
    let gone = root.scratch().join("nobody.sock");
    let o = root
        .cmd(&["ps"])
        .env("DOCKER_HOST", format!("unix://{}", gone.display()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        format!(
            "Cannot connect to the Docker daemon at unix://{}. Is the docker daemon running?\n",
            gone.display()
        )
    );
    let o = root
        .cmd(&["ps"])
        .env("DOCKER_HOST", "ssh://me@box")
        .output()
        .unwrap();
    assert!(text(&o.stderr).contains("unable to parse docker host `ssh://me@box`"));
    // A user who may not open the socket (root:root, 0660) is told so, as Docker tells.
    let o = root
        .cmd(&["ps"])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env_remove("BALEIA_ROOT")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with(&format!(
            "permission denied while trying to connect to the daemon socket at unix://{}: connect: ",
            d.socket.display()
        )),
        "{}",
        text(&o.stderr)
    );
    // `daemon` never becomes a client, even with DOCKER_HOST set.
    let o = root
        .cmd(&["daemon", "-H", "tcp://0.0.0.0:1"])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .output()
        .unwrap();
    assert!(
        text(&o.stderr).contains("refusing to listen"),
        "{}",
        text(&o.stderr)
    );
}
