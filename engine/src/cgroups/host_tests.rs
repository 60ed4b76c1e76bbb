//! Tests on the host's real cgroups (root only; skipped otherwise).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

const MIB: i64 = 1024 * 1024;

/// A unique test parent (`baleia-test-<random>`) in every hierarchy; dropping it kills what is
/// left in it and removes it, so failing tests leave nothing behind.
struct TestParent {
    name: String,
    layout: Layout,
}

impl TestParent {
    /// `None` (test skipped) unless root on a host with memory, cpu and pids controllers.
    fn new() -> Option<TestParent> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let layout = Layout::detect().ok()?;
        let usable = match &layout {
            Layout::V1(mounts) => ["memory", "cpu", "cpuacct", "pids"]
                .iter()
                .all(|c| mounts.iter().any(|(m, _)| m == c)),
            Layout::V2(root) => fs::read_to_string(root.join("cgroup.controllers"))
                .map(|c| ["memory", "cpu", "pids"].iter().all(|x| c.contains(x)))
                .unwrap_or(false),
        };
        if !usable {
            eprintln!("skipped: cgroup controllers missing");
            return None;
        }
        let name = format!("baleia-test-{:08x}", rand::random::<u32>());
        Some(TestParent { name, layout })
    }

    fn create(&self, name: &str, limits: &Limits) -> Cgroup {
        Cgroup::create_at(&self.layout, &self.name, name, limits).expect("create cgroup")
    }

    fn roots(&self) -> Vec<PathBuf> {
        match &self.layout {
            Layout::V1(mounts) => mounts.iter().map(|(_, m)| m.join(&self.name)).collect(),
            Layout::V2(root) => vec![root.join(&self.name)],
        }
    }
}

impl Drop for TestParent {
    fn drop(&mut self) {
        for root in self.roots() {
            if let Ok(pids) = fsutil::procs_recursive(&root) {
                let _ = v1::signal_all(&pids);
            }
            let _ = fsutil::rmdir_tree(&root, Instant::now() + Duration::from_secs(2));
        }
    }
}

/// A shell that waits for a line on stdin before running `script`, so it can join a cgroup
/// before doing anything.
fn held_shell(script: &str) -> (Child, ChildStdin) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

fn release(stdin: &mut ChildStdin) {
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
}

/// Waits for `child` to exit, killing it after `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

#[test]
fn memory_limit_oom_kills() {
    let Some(parent) = TestParent::new() else {
        return;
    };
    let limits = Limits {
        memory: Some(32 * MIB),
        pids_limit: Some(16),
        ..Limits::default()
    };
    let cg = parent.create("oom", &limits);
    assert!(!cg.oom_killed().unwrap());
    // `tail` buffers the newline-free /dev/zero without end: it must hit the limit.
    let (mut child, mut stdin) = held_shell("exec tail /dev/zero");
    cg.add_process(child.id() as i32).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![child.id() as i32]);
    release(&mut stdin);
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.signal(), Some(libc::SIGKILL), "status {status:?}");
    assert!(cg.oom_killed().unwrap());
    cg.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
    assert!(Cgroup::open_at(&parent.layout, &parent.name, "oom")
        .unwrap()
        .is_none());
}

#[test]
fn pids_limit_stops_forks() {
    let Some(parent) = TestParent::new() else {
        return;
    };
    let limits = Limits {
        pids_limit: Some(16),
        ..Limits::default()
    };
    let cg = parent.create("pids", &limits);
    // The shell exits after the loop; the sleeps that could be forked stay in the cgroup.
    let script = "i=0; while [ $i -lt 40 ]; do sleep 60 >/dev/null 2>&1 & i=$((i+1)); done";
    let (mut child, mut stdin) = held_shell(script);
    cg.add_process(child.id() as i32).unwrap();
    release(&mut stdin);
    wait_bounded(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.to_lowercase().contains("fork"), "stderr: {stderr}");
    let pids = cg.pids().unwrap();
    assert!(!pids.is_empty() && pids.len() <= 16, "pids: {pids:?}");
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids_limit, Some(16));
    assert_eq!(stats.pids_current, pids.len() as u64);

    cg.kill_all().unwrap();
    cg.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
}

#[test]
fn stats_of_a_running_process() {
    let Some(parent) = TestParent::new() else {
        return;
    };
    let limits = Limits {
        memory: Some(64 * MIB),
        pids_limit: Some(8),
        ..Limits::default()
    };
    let cg = parent.create("stats", &limits);
    let before = cg.stats().unwrap();
    assert_eq!(before.pids_current, 0);
    let script = "x=$(head -c 2000000 /dev/zero | tr '\\0' a); i=0; \
                  while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; read y";
    let (mut child, mut stdin) = held_shell(script);
    cg.add_process(child.id() as i32).unwrap();
    release(&mut stdin);
    assert_eq!(read_line(&mut child).trim(), "ready");
    let after = cg.stats().unwrap();
    assert!(after.cpu_usage_ns > before.cpu_usage_ns, "{after:?}");
    assert!(after.memory_usage > 0, "{after:?}");
    assert_eq!(after.memory_limit, 64 * MIB as u64);
    assert_eq!(after.pids_current, 1);
    assert_eq!(after.pids_limit, Some(8));
    assert!(after.online_cpus >= 1);
    assert!(after.system_cpu_usage_ns > before.system_cpu_usage_ns);
    let cpu = cpu_percent(&before, &after);
    assert!(cpu.is_finite() && cpu > 0.0, "cpu {cpu}");
    let mem = memory_percent(&after);
    assert!(mem > 0.0 && mem <= 100.0, "mem {mem}");

    cg.kill_all().unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
}

#[test]
fn limit_files_hold_the_values() {
    let Some(parent) = TestParent::new() else {
        return;
    };
    let limits = Limits {
        memory: Some(64 * MIB),
        memory_swap: Some(96 * MIB),
        cpu_shares: Some(512),
        nano_cpus: Some(1_500_000_000).filter(|_| num_cpus() >= 2),
        pids_limit: Some(100),
    };
    let cg = parent.create("files", &limits);
    let files: Vec<(String, String)> = cg
        .limit_files()
        .into_iter()
        .map(|(name, path, content)| {
            assert!(path.exists());
            (name, content)
        })
        .collect();
    let get = |n: &str| files.iter().find(|(f, _)| f == n).map(|(_, c)| c.as_str());
    let quota = limits.nano_cpus.map(|_| "150000");
    match cg.version() {
        CgroupVersion::V1 => {
            assert_eq!(get("memory.limit_in_bytes"), Some("67108864"));
            let memsw = cg
                .dir("memory")
                .unwrap()
                .join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                assert_eq!(get("memory.memsw.limit_in_bytes"), Some("100663296"));
            }
            assert_eq!(get("cpu.shares"), Some("512"));
            assert_eq!(get("cpu.cfs_quota_us"), quota);
            assert_eq!(get("cpu.cfs_period_us"), quota.map(|_| "100000"));
            let cpuset = cg.dir("cpuset").map(|d| d.join("cpuset.cpus"));
            if let Some(cpus) = cpuset {
                assert!(!fs::read_to_string(cpus).unwrap().trim().is_empty());
            }
        }
        CgroupVersion::V2 => {
            assert_eq!(get("memory.max"), Some("67108864"));
            assert_eq!(get("cpu.weight"), Some("20"));
            assert_eq!(get("cpu.max"), quota.map(|_| "150000 100000"));
        }
    }
    assert_eq!(get("pids.max"), Some("100"));

    let opened = Cgroup::open_at(&parent.layout, &parent.name, "files")
        .unwrap()
        .expect("opened");
    assert_eq!(opened.dirs(), cg.dirs());
    assert_eq!(opened.name(), format!("{}/files", parent.name));
    assert!(opened
        .limit_files()
        .iter()
        .any(|(n, _, c)| n == "pids.max" && c == "100"));
    // An empty cgroup is removed at once; removing again is fine.
    opened.remove().unwrap();
    cg.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
    // The parent stays.
    assert!(parent.roots().iter().all(|d| d.is_dir()));
}

#[test]
fn refuses_bad_names_and_limits() {
    let layout = Layout::V2(PathBuf::from("/nonexistent"));
    for (parent, name) in [
        ("baleia", ""),
        ("baleia", "../x"),
        ("/abs", "x"),
        ("b", "a/"),
    ] {
        let err = Cgroup::create_at(&layout, parent, name, &Limits::default()).unwrap_err();
        assert!(matches!(err, CgroupError::InvalidName(_)), "{err}");
    }
    let tiny = Limits {
        memory: Some(MIB),
        ..Limits::default()
    };
    let err = Cgroup::create_at(&layout, "baleia", "x", &tiny).unwrap_err();
    assert!(matches!(err, CgroupError::InvalidLimit(_)), "{err}");
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
