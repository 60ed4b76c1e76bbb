//! `baleia-lab` as a learner and CI use it: a lab runs and passes; labs whose checks must fail do
//! fail, naming the file, the line and the hint; Ctrl-C and a killed runner leave nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use baleia_tests::{baleia_bin, text, workspace, Root};

/// The runner on a private engine root and private state folders.
struct Runner {
    root: Root,
}

impl Runner {
    fn new() -> Runner {
        Runner { root: Root::new() }
    }

    fn cmd(&self, labs: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_baleia-lab"));
        let scratch = self.root.scratch();
        c.arg("--labs")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests")
                    .join(labs),
            )
            .args(args)
            .env("BALEIA_BIN", baleia_bin())
            .env("BALEIA_ROOT", self.root.path())
            .env("BALEIA_CONFIG", self.root.config_file())
            .env("BALEIA_LAB_HOME", scratch.join("home"))
            .env("BALEIA_LAB_RUN", scratch.join("run"))
            .env("BALEIA_LAB_BUILD", workspace().join("labs/images/build.sh"))
            .env("NO_COLOR", "1")
            .env("LANG", "en_US.UTF-8")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, labs: &str, args: &[&str]) -> Output {
        self.cmd(labs, args).output().expect("run baleia-lab")
    }

    fn baleia(&self, args: &[&str]) -> String {
        self.root.ok(args)
    }

    fn state(&self) -> PathBuf {
        self.root.scratch().join("run")
    }
}

/// Network namespaces of lab clients on the host.
fn lab_netns(client: &str) -> Vec<String> {
    let o = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let prefix = format!("blab-{client}-");
    text(&o.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_lab_runs_narrated_and_passes_and_list_marks_it() {
    let r = Runner::new();
    let o = r.run("labs", &["run", "lifecycle"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.starts_with("lifecycle — A container from inside\n"),
        "{out}"
    );
    assert!(
        out.contains("t1$ docker run -it --name baleia busybox sh\n"),
        "{out}"
    );
    assert!(out.contains("/ # echo pid=$$\npid=1\n"), "{out}");
    assert!(
        out.contains("✓ container baleia is exited, exit code 137"),
        "{out}"
    );
    assert!(out.ends_with("✓ lifecycle passed\n"), "{out}");
    // In Portuguese, and marked as passed.
    let o = r.cmd("labs", &["--lang", "pt", "list"]).output().unwrap();
    assert!(
        text(&o.stdout).contains(
            "✓ lifecycle      Um contêiner por dentro
"
        ),
        "{}",
        text(&o.stdout)
    );
    // Everything it made is gone, the name it gave busybox too; the lab images stay for the next run.
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
    let names = r.baleia(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(names.contains("busybox:latest"), "{names}");
    assert!(!names.contains("lab-made"), "{names}");
}

#[test]
fn every_observation_and_check_is_recorded_with_casts_and_captures() {
    let r = Runner::new();
    let out = r.root.scratch().join("rec");
    let o = r.run(
        "labs",
        &["record", "kernel", "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("kernel.json")).unwrap()).unwrap();
    let steps = t["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9);
    let kinds = |key: &str| -> Vec<String> {
        let mut k: Vec<String> = steps
            .iter()
            .flat_map(|s| s[key].as_array().cloned().unwrap_or_default())
            .map(|x| x["kind"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    assert_eq!(
        kinds("observations"),
        [
            "capture",
            "cgroups",
            "files",
            "iptables",
            "layers",
            "links",
            "namespaces",
            "processes"
        ]
    );
    assert_eq!(
        kinds("checks"),
        [
            "container",
            "exit",
            "file",
            "image",
            "iptables",
            "network",
            "output",
            "packet",
            "port",
            "regex",
            "resolves"
        ]
    );
    assert!(steps.iter().all(|s| s["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| c["passed"] == true)));
    // What the learner saw: the ping's reply, with the echo request on the bridge.
    let ping = &steps[3];
    assert!(ping["output"]
        .as_str()
        .unwrap()
        .contains("2 packets transmitted, 2 packets received"));
    let capture = ping["observations"][0]["text"].as_str().unwrap();
    assert!(capture.contains("ICMP echo request"), "{capture}");
    // The namespaces table says which differ.
    let ns = steps[1]["observations"][0]["text"].as_str().unwrap();
    assert!(ns.contains("│ pid") && ns.contains("yes"), "{ns}");
    // One asciicast per terminal, and the capture as tshark reads it.
    for term in ["t1", "t2"] {
        let cast = std::fs::read_to_string(out.join(format!("kernel.{term}.cast"))).unwrap();
        let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
        assert_eq!(header["version"], 2);
        assert!(cast.lines().count() > 2);
    }
    let pcap = out.join("kernel.step4-bridge.pcap");
    let o = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .output()
        .expect("tshark");
    let shown = text(&o.stdout);
    assert!(shown.matches("Echo (ping) request").count() >= 2, "{shown}");
    // And nothing of the lab is left.
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
    assert!(!r.baleia(&["network", "ls"]).contains("neotech"));
    assert!(lab_netns("outside").is_empty());
    assert!(!r.state().join("kernel.captures").exists());
}

#[test]
fn the_same_lab_passes_with_another_docker_cli() {
    baleia_tests::require("docker");
    // The real docker CLI, as the lab's `docker`, talking to a `baleia daemon`.
    let r = Runner::new();
    r.root.load_lab_images(&["busybox"]);
    let d = baleia_tests::daemon::Daemon::start(&r.root);
    let docker = Command::new("sh")
        .args(["-c", "command -v docker"])
        .output()
        .unwrap();
    let docker = text(&docker.stdout).trim().to_string();
    let o = r
        .cmd(
            "labs",
            &["--docker", &docker, "check", "lifecycle", "kernel", "steps"],
        )
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env("DOCKER_CONFIG", &d.config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).ends_with("3 passed, 0 failed\n"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "", "the labs left containers behind");
    assert!(!d.ok(&["network", "ls"]).contains("neotech"));
}

#[test]
fn every_kind_of_step_works() {
    // background, wait for output and for a state, ids in templates, ctrl-c, enter, ctrl-d.
    let r = Runner::new();
    let o = r.run("labs", &["check", "steps"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
}

#[test]
fn labs_whose_checks_fail_fail_with_file_line_and_hint() {
    let r = Runner::new();
    let o = r.run(
        "failing",
        &["check", "wrong-state", "wrong-output", "wait-never"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/failing/wrong-state.yaml");
    assert!(
        err.contains(&format!(
            "✗ {}:9: step 2: container check: ",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("137"), "{err}");
    assert!(
        err.contains("hint: Use docker kill baleia: the exit code will be 137."),
        "{err}"
    );
    assert!(
        err.contains("wrong-output.yaml:11: step 2: output check: "),
        "{err}"
    );
    let out = text(&o.stdout);
    assert!(out.contains("✗ wrong-state"), "{out}");
    assert!(out.ends_with("0 passed, 3 failed\n"), "{out}");
    assert!(
        err.contains("wait-never.yaml:5: step 1: the terminal never showed \"never printed\""),
        "{err}"
    );
    // A failed lab cleans up too.
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
    // The JSON report says the same.
    let o = r.run("failing", &["check", "--json", "wrong-output"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["passed"], false);
    assert_eq!(v[0]["failure"]["step"], 1);
    assert_eq!(v[0]["failure"]["line"], 11);
}

#[test]
fn a_broken_lab_file_is_named_with_its_line() {
    let r = Runner::new();
    let dir = r.root.scratch().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "id: bad\ntitle: {pt: Mau, en: Bad}\nsource: [x]\nsteps:\n  - run: echo\n    check:\n      - contain: x\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_baleia-lab"))
        .arg("--labs")
        .arg(&dir)
        .arg("lint")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        format!(
            "baleia-lab: {}:7: step 1: unknown check \"contain\"\n",
            dir.join("bad.yaml").display()
        )
    );
}

#[test]
fn walk_hands_the_exercise_to_the_learner_and_checks_it() {
    let r = Runner::new();
    let mut c = r.cmd("labs", &["walk", "lifecycle"]);
    c.stdin(Stdio::null());
    let (screen, code) = baleia_tests::pty_run(
        c,
        &[
            // A wrong try first: the check does not pass, the terminal stays the learner's.
            (
                "(type in the terminal; Ctrl-] for a hint)",
                b"docker ps -q\r",
            ),
            ("docker ps -q", b"\x1d"),
            ("hint: docker kill baleia", b"docker kill baleia\r"),
            ("Done!", b""),
        ],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Exercise: Stop the container baleia with kill."),
        "{screen}"
    );
    assert!(screen.contains("✓ lifecycle passed"), "{screen}");
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
}

/// Run the slow lab until its long step, then stop the runner with `signal`.
/// Start the `slow` lab, interrupt it in its long step with `signal`; the host link of its client.
fn interrupt_slow_lab(r: &Runner, signal: nix::sys::signal::Signal) -> String {
    let mut child = r
        .cmd("interrupt", &["check", "slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the lab is inside its long step: the container, the network and the client
    // namespace exist, and a `sleep 600` runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sleeping = Command::new("pgrep")
            .args(["-f", "^sleep 600$"])
            .output()
            .unwrap();
        if sleeping.status.success() && r.baleia(&["ps", "-q"]).lines().count() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lab never reached its long step"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let netns = lab_netns("far");
    assert_eq!(netns.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    // The client's namespace is `blab-far-TAG`, its host link `blabTAG`.
    format!("blab{}", netns[0].rsplit('-').next().unwrap())
}

#[test]
fn ctrl_c_and_a_killed_runner_leave_nothing_behind() {
    let r = Runner::new();
    // Ctrl-C: the runner cleans up itself.
    let link = interrupt_slow_lab(&r, nix::sys::signal::Signal::SIGINT);
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
    assert!(!r.baleia(&["network", "ls"]).contains("slownet"));
    assert!(lab_netns("far").is_empty(), "{:?}", lab_netns("far"));
    assert!(!Command::new("pgrep")
        .args(["-f", "^sleep 600$"])
        .status()
        .unwrap()
        .success());
    assert!(!guard_left(&link), "Ctrl-C left a client's guard rule");
    assert!(!hub_of(&r, "slow"), "Ctrl-C left the stand-in Docker Hub");
    // SIGKILL: nothing can clean up then; the next run does, before it starts.
    let killed = interrupt_slow_lab(&r, nix::sys::signal::Signal::SIGKILL);
    assert!(r.state().join("slow.inventory.json").exists());
    // Its terminals' shells get their hangup and end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while shells_of(&r.root) > 0 {
        assert!(
            Instant::now() < deadline,
            "a killed runner's shells live on"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stand-in Docker Hub dies with the runner.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hub_of(&r, "slow") {
        assert!(
            Instant::now() < deadline,
            "a killed runner's Docker Hub lives on"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("pkill").args(["-f", "^sleep 600$"]).status();
    let o = r.run("labs", &["check", "lifecycle"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The stale run of `slow` is only cleaned by `slow` itself: run its cleanup by starting it
    // and interrupting it again, then check everything is gone.
    let again = interrupt_slow_lab(&r, nix::sys::signal::Signal::SIGINT);
    assert_eq!(r.baleia(&["ps", "-aq"]), "");
    assert!(!r.baleia(&["network", "ls"]).contains("slownet"));
    assert!(lab_netns("far").is_empty(), "{:?}", lab_netns("far"));
    assert!(!r.state().join("slow.inventory.json").exists());
    assert!(
        !guard_left(&killed),
        "a killed runner's guard rule was left"
    );
    assert!(!guard_left(&again), "Ctrl-C left a client's guard rule");
    assert_eq!(shells_of(&r.root), 0);
}

/// Whether the stand-in Docker Hub of `lab` (a docker-registry serving its config) runs.
fn hub_of(r: &Runner, lab: &str) -> bool {
    let config = r.state().join(format!("{lab}.hub.yml"));
    Command::new("pgrep")
        .args(["-f", &format!("docker-registry serve {}", config.display())])
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_lab_pulls_and_searches_through_its_stand_in_docker_hub() {
    let r = Runner::new();
    let o = r.run("hub", &["run", "pull"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains("Status: Downloaded newer image for busybox:latest\n"),
        "{out}"
    );
    assert!(!hub_of(&r, "pull"), "the Docker Hub outlived its lab");
    // The image it pulled back is the one it had: nothing new is left, busybox stays.
    assert!(r.baleia(&["images"]).contains("busybox"));
    // A Docker daemon's mirrors are its own: such a lab refuses --docker, saying why, before
    // loading anything into that Docker; `check` goes on with the other labs and says it skipped it.
    let o = r.run("hub", &["--docker", "/bin/false", "run", "pull"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("run it without --docker"),
        "{}",
        text(&o.stderr)
    );
    let o = r.run("hub", &["--docker", "/bin/false", "check", "--all"]);
    assert_eq!(
        text(&o.stdout),
        "- pull skipped: it pulls from a stand-in Docker Hub only the built-in engine can use\n\
         0 passed, 0 failed, 1 skipped\n"
    );
}

#[test]
fn a_lab_asks_no_name_server_outside_the_machine() {
    // The engine's own settings name an outside server (a documentation address: only read here).
    let r = Runner::new();
    let mut settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.root.config_file()).unwrap()).unwrap();
    settings["dns"] = serde_json::json!(["192.0.2.53"]);
    let path = r.root.scratch().join("outside-dns.json");
    std::fs::write(&path, settings.to_string()).unwrap();
    let o = r
        .cmd("dns", &["run", "names"])
        .env("BALEIA_CONFIG", &path)
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("nameserver 127.0.0.1\n"), "{out}");
    assert!(!out.contains("192.0.2.53"), "{out}");
    // The lab's settings file goes with the lab.
    assert!(!r.state().join("names.daemon.json").exists());
}

/// Lab shells (bash) working on `root`.
fn shells_of(root: &Root) -> usize {
    let needle = format!("BALEIA_ROOT={}", root.path().display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "bash")
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|b| b.split(|c| *c == 0).any(|v| v == needle.as_bytes()))
        })
        .count()
}

/// Whether the guard rule of the lab client linked by `link` is in the host's mangle table (other
/// tests' clients have theirs at the same time).
fn guard_left(link: &str) -> bool {
    let rules = Command::new("iptables")
        .args(["-t", "mangle", "-S", "FORWARD"])
        .output()
        .unwrap();
    text(&rules.stdout)
        .lines()
        .any(|l| l.contains("baleia-lab client") && l.contains(&format!("-i {link} ")))
}
