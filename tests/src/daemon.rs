//! A `baleia daemon` for tests, driven by the real `docker` CLI through `DOCKER_HOST`.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{text, Root};

/// A `baleia daemon` on a socket in the root's scratch folder; stopped (SIGTERM, then SIGKILL)
/// and its socket removed when dropped.
pub struct Daemon {
    child: Child,
    /// The unix socket it listens on.
    pub socket: PathBuf,
    /// The docker client's config folder (`DOCKER_CONFIG`).
    pub config: PathBuf,
}

impl Daemon {
    /// Start on the root's scratch socket.
    pub fn start(root: &Root) -> Daemon {
        Daemon::start_with(root, &[])
    }

    /// Start with more `-H` addresses besides the socket.
    pub fn start_with(root: &Root, more: &[&str]) -> Daemon {
        let flags: Vec<&str> = more.iter().flat_map(|h| ["-H", h]).collect();
        Daemon::start_args(root, &flags)
    }

    /// Start with more `daemon` arguments (`-H tcp://…`, `--tlsverify`, …) after the socket's.
    pub fn start_args(root: &Root, extra: &[&str]) -> Daemon {
        let socket = root.scratch().join("baleia.sock");
        let log = std::fs::File::create(root.scratch().join("daemon.log")).unwrap();
        let unix = format!("unix://{}", socket.display());
        let mut args = vec!["daemon", "-H", unix.as_str()];
        args.extend(extra);
        let child = root
            .cmd(&args)
            // The daemon and what it starts (monitors, exec helpers) stay local whatever
            // DOCKER_HOST says: one that leads nowhere proves it in every daemon test.
            .env("DOCKER_HOST", "unix:///nonexistent/baleia-test.sock")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start baleia daemon");
        let mut d = Daemon {
            child,
            socket,
            config: root.scratch().join("docker"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&d.socket).is_err() {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!(
                    "the daemon exited ({status}): {}",
                    std::fs::read_to_string(root.scratch().join("daemon.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the daemon never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Run `docker` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// A `docker` command for this daemon.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .args(args);
        c
    }

    /// Run `docker` with `input` on its stdin.
    pub fn docker_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Run `docker`, insist on success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({}):\n{}{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    /// Stop with SIGTERM (as a service manager would); whether it left on its own.
    pub fn stop(&mut self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}
