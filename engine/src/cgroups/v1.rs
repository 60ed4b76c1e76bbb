//! cgroup v1 (legacy and hybrid hosts): one directory per controller hierarchy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::{CgroupError, Result};
use super::fsutil::{self, keyed_value, read_opt, read_u64_or_zero};
use super::limits::{Limits, CPU_PERIOD_US};
use super::stats::{self, Stats};
use super::Cgroup;

/// The controllers a container joins, when mounted.
pub(crate) const CONTROLLERS: [&str; 8] = [
    "memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer", "devices",
];

/// The files our limits write, in the order we write them.
pub(crate) const LIMIT_FILES: [&str; 6] = [
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "cpu.shares",
    "cpu.cfs_period_us",
    "cpu.cfs_quota_us",
    "pids.max",
];

/// `(controller, mount point)` of the v1 controllers in [`CONTROLLERS`], from mountinfo text.
pub(crate) fn mounts(mountinfo: &str) -> Vec<(String, PathBuf)> {
    CONTROLLERS
        .iter()
        .filter_map(|&controller| {
            let mount = mountinfo.lines().find_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let mut right = right.split_whitespace();
                let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
                (fstype == "cgroup" && options.split(',').any(|o| o == controller))
                    .then(|| left.split_whitespace().nth(4).map(unescape))?
            })?;
            Some((controller.to_string(), mount))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Makes `rel` (and the parents above it) in every mounted hierarchy; cpuset directories get their
/// parent's CPUs and memory nodes so tasks can join. Returns `(controller, dir)`.
pub(crate) fn create(mounts: &[(String, PathBuf)], rel: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut dirs = Vec::new();
    for (controller, mount) in mounts {
        let mut dir = mount.clone();
        for component in rel.components() {
            let above = dir.clone();
            dir.push(component);
            fsutil::mkdir(&dir)?;
            if controller == "cpuset" {
                inherit_cpuset(&above, &dir)?;
            }
        }
        dirs.push((controller.clone(), dir));
    }
    Ok(dirs)
}

/// Copies `cpuset.cpus` and `cpuset.mems` from `parent` into `dir` where `dir`'s are empty.
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = fsutil::read(&dir.join(file))?;
        if own.trim().is_empty() {
            let from = fsutil::read(&parent.join(file))?;
            fsutil::write(&dir.join(file), from.trim())?;
        }
    }
    Ok(())
}

/// Writes `limits` into the cgroup; returns `(file name, path)` of what was written.
pub(crate) fn apply(cg: &Cgroup, limits: &Limits) -> Result<Vec<(String, PathBuf)>> {
    let mut written = Vec::new();
    let mut put = |dir: &Path, file: &str, value: String| -> Result<()> {
        let path = dir.join(file);
        fsutil::write(&path, &value)?;
        written.push((file.to_string(), path));
        Ok(())
    };
    let need = |controller: &str| {
        cg.dir(controller)
            .ok_or_else(|| CgroupError::ControllerMissing(controller.to_string()))
    };

    if let Some(memory) = limits.memory_bytes() {
        let dir = need("memory")?;
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        // Without swap accounting Docker limits memory alone (and warns).
        match limits.memory_swap_total().filter(|_| memsw.exists()) {
            Some(total) => {
                // memsw must stay >= memory at every step: raise memsw first when growing.
                let current = read_u64_or_zero(&dir.join("memory.limit_in_bytes"))?;
                if total < 0 || current < total as u64 {
                    put(dir, "memory.memsw.limit_in_bytes", total.to_string())?;
                    put(dir, "memory.limit_in_bytes", memory.to_string())?;
                } else {
                    put(dir, "memory.limit_in_bytes", memory.to_string())?;
                    put(dir, "memory.memsw.limit_in_bytes", total.to_string())?;
                }
            }
            None => put(dir, "memory.limit_in_bytes", memory.to_string())?,
        }
    }
    if let Some(shares) = limits.cpu_weight_shares() {
        put(need("cpu")?, "cpu.shares", shares.to_string())?;
    }
    if let Some(quota) = limits.cpu_quota_us() {
        let dir = need("cpu")?;
        put(dir, "cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
        put(dir, "cpu.cfs_quota_us", quota.to_string())?;
    }
    if let Some(max) = limits.pids_max() {
        put(need("pids")?, "pids.max", max.to_string())?;
    }
    Ok(written)
}

/// Usage from `cpuacct`, `memory`, `pids` and `blkio`; a controller that is absent reads as 0.
pub(crate) fn stats(cg: &Cgroup) -> Result<Stats> {
    let mut s = stats::host_base();
    if let Some(dir) = cg.dir("cpuacct") {
        s.cpu_usage_ns = read_u64_or_zero(&dir.join("cpuacct.usage"))?;
    }
    if let Some(dir) = cg.dir("memory") {
        let usage = read_u64_or_zero(&dir.join("memory.usage_in_bytes"))?;
        let stat = read_opt(&dir.join("memory.stat"))?.unwrap_or_default();
        let inactive = keyed_value(&stat, "total_inactive_file").unwrap_or(0);
        s.memory_usage = stats::usage_without_cache(usage, inactive);
        let limit = read_u64_or_zero(&dir.join("memory.limit_in_bytes"))?;
        s.memory_limit = stats::effective_memory_limit(Some(limit), s.memory_limit);
    }
    if let Some(dir) = cg.dir("pids") {
        s.pids_current = read_u64_or_zero(&dir.join("pids.current"))?;
        let max = dir.join("pids.max");
        if let Some(text) = read_opt(&max)? {
            s.pids_limit = fsutil::parse_limit(&max, &text)?;
        }
    }
    if let Some(dir) = cg.dir("blkio") {
        (s.blkio_read, s.blkio_write) = blkio_bytes(dir)?;
    }
    Ok(s)
}

/// Bytes read and written: the first non-empty of the CFQ, BFQ and throttle statistics, as runc.
fn blkio_bytes(dir: &Path) -> Result<(u64, u64)> {
    for file in [
        "blkio.io_service_bytes_recursive",
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    ] {
        if let Some(text) = read_opt(&dir.join(file))? {
            if let Some(rw) = parse_blkio(&text) {
                return Ok(rw);
            }
        }
    }
    Ok((0, 0))
}

/// Sums the `Read` and `Write` lines (`8:0 Read 4096`) of a blkio file; `None` if it has none.
pub(crate) fn parse_blkio(text: &str) -> Option<(u64, u64)> {
    let (mut read, mut write, mut any) = (0u64, 0u64, false);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_device, op, value] = fields[..] {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match op {
                "Read" => read = read.saturating_add(value),
                "Write" => write = write.saturating_add(value),
                _ => continue,
            }
            any = true;
        }
    }
    any.then_some((read, write))
}

/// `oom_kill N` of `memory.oom_control` (kernel ≥ 4.13); older kernels: whether the memory
/// (+swap) limit was ever hit (`failcnt`), a heuristic.
pub(crate) fn oom_killed(cg: &Cgroup) -> Result<bool> {
    let Some(dir) = cg.dir("memory") else {
        return Ok(false);
    };
    let control = fsutil::read(&dir.join("memory.oom_control"))?;
    if let Some(kills) = keyed_value(&control, "oom_kill") {
        return Ok(kills > 0);
    }
    let memsw = dir.join("memory.memsw.failcnt");
    let failcnt = if memsw.exists() {
        memsw
    } else {
        dir.join("memory.failcnt")
    };
    Ok(read_u64_or_zero(&failcnt)? > 0)
}

/// Freezes the cgroup (so nothing forks meanwhile), SIGKILLs every process, then thaws it so
/// the signals are delivered. Without the freezer it just kills.
pub(crate) fn kill_all(cg: &Cgroup) -> Result<()> {
    let freezer = cg.dir("freezer").map(|d| d.join("freezer.state"));
    let freezer = freezer.filter(|f| f.exists());
    if let Some(state) = &freezer {
        fsutil::write(state, "FROZEN")?;
        let deadline = Instant::now() + Duration::from_millis(500);
        while fsutil::read(state)?.trim() != "FROZEN" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let killed = signal_all(&cg.pids()?);
    if let Some(state) = &freezer {
        fsutil::write(state, "THAWED")?;
    }
    killed
}

/// SIGKILLs each pid; processes that already exited are fine.
pub(crate) fn signal_all(pids: &[i32]) -> Result<()> {
    for &pid in pids {
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(source) => return Err(CgroupError::Signal { pid, source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_controllers() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw shared:5 - cgroup cgroup rw,pids
34 30 0:30 / /sys/fs/cgroup/name\\040x rw - cgroup cgroup rw,freezer
35 30 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
36 30 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";
        let m = mounts(text);
        let get = |c: &str| m.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
        assert_eq!(get("cpu"), Some("/sys/fs/cgroup/cpu,cpuacct".into()));
        assert_eq!(get("cpuacct"), Some("/sys/fs/cgroup/cpu,cpuacct".into()));
        assert_eq!(get("memory"), Some("/sys/fs/cgroup/memory".into()));
        assert_eq!(get("pids"), Some("/sys/fs/cgroup/pids".into()));
        assert_eq!(get("freezer"), Some("/sys/fs/cgroup/name x".into()));
        assert_eq!(get("blkio"), None);
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn blkio_files() {
        let text = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n\
                    8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n";
        assert_eq!(parse_blkio(text), Some((4097, 8194)));
        assert_eq!(parse_blkio("Total 0\n"), None);
        assert_eq!(parse_blkio(""), None);
    }
}
