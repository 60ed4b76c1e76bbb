//! cgroup v2 for real: this host (and CI) is cgroup v1 or hybrid, so a Debian kernel boots under
//! qemu with an initramfs (tests/vm/build.sh) whose /init (tests/vm/init) mounts a pure cgroup v2
//! hierarchy with the memory, pids, cpu and io controllers, loads the busybox lab image into the
//! `baleia` under test and checks the OOM killer (137, `OOMKilled`), `--pids-limit`, the
//! `cpu.max`/`memory.max`/`cpu.weight` files, `stats` and the removal of the cgroup. Each check prints
//! `CHECK <name> ok|FAIL <detail>`; every one must be ok.
//!
//! Needs qemu-system-x86 (and cpio, busybox-static, the kernel package from apt). The guest has no
//! network (`-nic none`). TCG by default (about 15 s; nested KVM hung at boot on the dev host);
//! `BALEIA_VM_ACCEL=kvm` to use KVM. `BALEIA_VM_TIMEOUT` (seconds, default 300) bounds the VM.

use baleia_tests::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";
const CHECKS: &[&str] = &[
    "load",
    "info_cgroup_version",
    "oom_exit_137",
    "oom_killed_flag",
    "pids_limit",
    "run_detached",
    "cgroup_dir",
    "cpu_max",
    "memory_max",
    "cpu_weight",
    "cgroup_procs",
    "stats_limit",
    "rm_removes_cgroup",
];

#[test]
fn cgroup_v2_limits_in_a_vm() {
    assert!(
        Command::new(QEMU).arg("--version").output().is_ok_and(|o| o.status.success()),
        "{QEMU} cannot run: install it (apt-get install -y qemu-system-x86) to run the cgroup v2 VM test"
    );

    // Kernel + initramfs, in a folder removed at the end.
    let assets = tempfile::tempdir().expect("tempdir");
    let o = Command::new("bash")
        .arg(workspace().join("tests/vm/build.sh"))
        .arg(assets.path())
        .env("BALEIA", baleia_bin())
        .output()
        .expect("run tests/vm/build.sh");
    assert!(
        o.status.success(),
        "tests/vm/build.sh could not build the VM (kernel, busybox-static, cpio?):\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    let accel = std::env::var("BALEIA_VM_ACCEL").unwrap_or_else(|_| "tcg".into());
    let mut qemu = Command::new(QEMU);
    qemu.args(["-accel", &accel]);
    if accel == "kvm" {
        qemu.args(["-cpu", "host"]);
    }
    qemu.args([
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
    ])
    .args(["-m", "1024", "-smp", "2", "-nic", "none"])
    .arg("-kernel")
    .arg(assets.path().join("vmlinuz"))
    .arg("-initrd")
    .arg(assets.path().join("initrd.gz"))
    .args(["-append", "console=ttyS0 quiet panic=-1"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // 5 minutes unless BALEIA_VM_TIMEOUT (seconds) says otherwise; qemu is killed when it runs out.
    let timeout = Duration::from_secs(
        std::env::var("BALEIA_VM_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300),
    );
    let started = Instant::now();
    let mut child = qemu.spawn().expect("start qemu");

    // The console, gathered by a thread so the pipe never fills.
    let console = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let console = Arc::clone(&console);
        let mut out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                console.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait qemu") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    reader.join().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let console = text(&console.lock().unwrap()).replace('\r', "");
    eprintln!(
        "--- VM console ({:.1?}) ---\n{console}\n--- end ---",
        started.elapsed()
    );

    let status = status.unwrap_or_else(|| {
        panic!(
            "the VM did not power off within {timeout:?} (killed); console above; qemu: {stderr}"
        )
    });
    assert!(status.success(), "qemu failed ({status}): {stderr}");

    let checks: Vec<(String, String)> = console
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CHECK "))
        .map(|l| match l.split_once(' ') {
            Some((name, rest)) => (name.to_string(), rest.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, r)| r != "ok")
        .map(|(n, r)| format!("{n}: {r}"))
        .collect();
    assert!(
        failed.is_empty(),
        "checks failed in the VM:\n{}",
        failed.join("\n")
    );
    for want in CHECKS {
        assert!(
            checks.iter().any(|(n, _)| n == want),
            "check {want} did not report (console above)"
        );
    }
    assert!(
        console.lines().any(|l| l.trim() == "ALL DONE"),
        "the VM did not finish its checks (console above)"
    );
}
