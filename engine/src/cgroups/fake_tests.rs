//! Tests on fake hierarchies in temporary directories: the v2 code paths a v1 host cannot
//! exercise, and v1 statistics from sample file contents.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

const MIB: i64 = 1024 * 1024;

/// Makes `dir` with the given files, as the kernel would show a cgroup directory.
fn fake_dir(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
}

const V2_FILES: [&str; 15] = [
    "cgroup.procs",
    "cgroup.kill",
    "memory.max",
    "memory.swap.max",
    "memory.current",
    "memory.stat",
    "memory.events",
    "cpu.weight",
    "cpu.max",
    "cpu.stat",
    "pids.max",
    "pids.current",
    "io.stat",
    "cgroup.subtree_control",
    "cgroup.freeze",
];

#[test]
fn fake_v2_create_limits_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let all = "cpuset cpu io memory pids hugetlb";
    fake_dir(
        root,
        &[("cgroup.controllers", all), ("cgroup.subtree_control", "")],
    );
    fake_dir(
        &root.join("baleia"),
        &[
            ("cgroup.controllers", all),
            ("cgroup.subtree_control", "cpu"),
        ],
    );
    let leaf = root.join("baleia/c1");
    let empty: Vec<(&str, &str)> = V2_FILES.iter().map(|f| (*f, "")).collect();
    fake_dir(&leaf, &empty);
    fake_dir(&leaf, &[("cgroup.controllers", all)]);

    let limits = Limits {
        memory: Some(32 * MIB),
        cpu_shares: Some(512),
        nano_cpus: Some(500_000_000),
        pids_limit: Some(16),
        ..Limits::default()
    };
    let cg = Cgroup::create_at(&Layout::V2(root.to_path_buf()), "baleia", "c1", &limits).unwrap();
    assert_eq!(cg.version(), CgroupVersion::V2);
    assert_eq!(cg.dirs(), vec![leaf.clone()]);
    assert_eq!(cg.name(), "baleia/c1");
    let read = |p: PathBuf| fs::read_to_string(p).unwrap();
    assert_eq!(
        read(root.join("cgroup.subtree_control")),
        "+cpuset +cpu +io +memory +pids"
    );
    assert_eq!(
        read(root.join("baleia/cgroup.subtree_control")),
        "+cpuset +io +memory +pids"
    );
    let files: Vec<(String, String)> = cg
        .limit_files()
        .into_iter()
        .map(|(n, _, c)| (n, c))
        .collect();
    let expect = [
        ("memory.max", "33554432"),
        ("memory.swap.max", "33554432"),
        ("cpu.weight", "20"),
        ("cpu.max", "50000 100000"),
        ("pids.max", "16"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect();
    assert_eq!(files, expect);

    fake_dir(
        &leaf,
        &[
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
            ),
            ("memory.current", "10485760\n"),
            (
                "memory.stat",
                "anon 4194304\nfile 6291456\ninactive_file 2097152\n",
            ),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("pids.current", "3\n"),
            (
                "io.stat",
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
            ("cgroup.procs", "12\n13\n"),
        ],
    );
    fake_dir(&leaf.join("inner"), &[("cgroup.procs", "14\n")]);
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu_usage_ns, 1_500_000);
    assert_eq!(s.memory_usage, 8 * MIB as u64);
    assert_eq!(s.memory_limit, 32 * MIB as u64);
    assert_eq!((s.pids_current, s.pids_limit), (3, Some(16)));
    assert_eq!((s.blkio_read, s.blkio_write), (4096, 8192));
    assert!(cg.oom_killed().unwrap());
    assert_eq!(cg.pids().unwrap(), vec![12, 13, 14]);
    cg.kill_all().unwrap();
    assert_eq!(read(leaf.join("cgroup.kill")), "1");

    fs::write(leaf.join("memory.max"), "max\n").unwrap();
    fs::write(leaf.join("pids.max"), "max\n").unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.memory_limit, stats::host_memory());
    assert_eq!(s.pids_limit, None);

    let opened = Cgroup::open_at(&Layout::V2(root.to_path_buf()), "baleia", "c1")
        .unwrap()
        .unwrap();
    assert_eq!(opened.limit_files().len(), 5);
    assert!(
        Cgroup::open_at(&Layout::V2(root.to_path_buf()), "baleia", "nope")
            .unwrap()
            .is_none()
    );
}

#[test]
fn fake_v2_missing_controller() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let some = "cpu memory";
    fake_dir(
        root,
        &[("cgroup.controllers", some), ("cgroup.subtree_control", "")],
    );
    fake_dir(
        &root.join("p"),
        &[("cgroup.controllers", some), ("cgroup.subtree_control", "")],
    );
    fake_dir(&root.join("p/c"), &[("cgroup.controllers", some)]);
    let limits = Limits {
        pids_limit: Some(5),
        ..Limits::default()
    };
    let err = Cgroup::create_at(&Layout::V2(root.to_path_buf()), "p", "c", &limits).unwrap_err();
    assert!(
        matches!(err, CgroupError::ControllerMissing(ref c) if c == "pids"),
        "{err}"
    );
}

#[test]
fn fake_v1_stats_and_oom_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let mounts: Vec<(String, PathBuf)> = ["memory", "cpuacct", "pids", "blkio"]
        .iter()
        .map(|c| (c.to_string(), tmp.path().join(c)))
        .collect();
    for (_, m) in &mounts {
        fake_dir(&m.join("p/c"), &[("cgroup.procs", "")]);
    }
    let cg = Cgroup::open_at(&Layout::V1(mounts.clone()), "p", "c")
        .unwrap()
        .unwrap();
    assert_eq!(cg.version(), CgroupVersion::V1);
    assert_eq!(cg.dirs().len(), 4);
    let memory = tmp.path().join("memory/p/c");
    fake_dir(
        &memory,
        &[
            ("memory.usage_in_bytes", "10485760\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            (
                "memory.stat",
                "cache 100\ninactive_file 1\ntotal_inactive_file 1048576\n",
            ),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"),
            ("memory.failcnt", "2\n"),
        ],
    );
    fake_dir(
        &tmp.path().join("cpuacct/p/c"),
        &[("cpuacct.usage", "123456\n")],
    );
    fake_dir(
        &tmp.path().join("pids/p/c"),
        &[("pids.current", "2\n"), ("pids.max", "max\n")],
    );
    let blkio = "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n";
    fake_dir(
        &tmp.path().join("blkio/p/c"),
        &[
            ("blkio.bfq.io_service_bytes_recursive", "Total 0\n"),
            ("blkio.throttle.io_service_bytes_recursive", blkio),
        ],
    );
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu_usage_ns, 123_456);
    assert_eq!(s.memory_usage, 9 * MIB as u64);
    assert_eq!(s.memory_limit, stats::host_memory());
    assert_eq!((s.pids_current, s.pids_limit), (2, None));
    assert_eq!((s.blkio_read, s.blkio_write), (10, 20));
    // No `oom_kill` line (kernel < 4.13): failcnt decides.
    assert!(cg.oom_killed().unwrap());
    fs::write(
        memory.join("memory.oom_control"),
        "under_oom 0\noom_kill 0\n",
    )
    .unwrap();
    assert!(!cg.oom_killed().unwrap());
}

#[test]
fn container_names() {
    assert_eq!(container_id("baleia/abc"), "abc");
    assert_eq!(container_id("abc"), "abc");
    assert_eq!(container_id("baleiax/abc"), "baleiax/abc");
}
