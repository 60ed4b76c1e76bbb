//! cgroup v2 (unified hierarchy): one directory; controllers enabled from the root down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::fsutil::{self, keyed_value, nested_sum, read_opt, read_u64_or_zero};
use super::limits::{Limits, CPU_PERIOD_US};
use super::stats::{self, Stats};
use super::v1::signal_all;
use super::Cgroup;

/// The controllers enabled for containers, when the kernel offers them.
pub(crate) const CONTROLLERS: [&str; 5] = ["cpuset", "cpu", "io", "memory", "pids"];

/// The files our limits write, in the order we write them.
pub(crate) const LIMIT_FILES: [&str; 5] = [
    "memory.max",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "pids.max",
];

/// Makes `root/rel`, enabling [`CONTROLLERS`] in `cgroup.subtree_control` of the root and of
/// every directory above the leaf, and checks the controllers `limits` need are there.
pub(crate) fn create(root: &Path, rel: &Path, limits: &Limits) -> Result<Vec<(String, PathBuf)>> {
    let mut failures = BTreeMap::new();
    let mut dir = root.to_path_buf();
    for component in rel.components() {
        enable_controllers(&dir, &mut failures)?;
        dir.push(component);
        fsutil::mkdir(&dir)?;
    }
    let available = fsutil::read(&dir.join("cgroup.controllers"))?;
    for needed in needed_controllers(limits) {
        if !available.split_whitespace().any(|c| c == needed) {
            let _ = std::fs::remove_dir(&dir);
            return Err(match failures.remove(needed) {
                Some(e) => e,
                None => CgroupError::ControllerMissing(needed.to_string()),
            });
        }
    }
    Ok(vec![(String::new(), dir)])
}

/// The controllers a set of limits writes to.
fn needed_controllers(limits: &Limits) -> Vec<&'static str> {
    let mut needed = Vec::new();
    if limits.memory_bytes().is_some() || limits.swap_only().is_some() {
        needed.push("memory");
    }
    if limits.cpu_weight().is_some() || limits.cpu_quota_us().is_some() {
        needed.push("cpu");
    }
    if limits.pids_max().is_some() {
        needed.push("pids");
    }
    needed
}

/// Enables in `dir/cgroup.subtree_control` those of [`CONTROLLERS`] that `dir` has and has not
/// enabled yet: all at once, else one by one, remembering why a controller failed.
fn enable_controllers(
    dir: &Path,
    failures: &mut BTreeMap<&'static str, CgroupError>,
) -> Result<()> {
    let available = fsutil::read(&dir.join("cgroup.controllers"))?;
    let enabled = fsutil::read(&dir.join("cgroup.subtree_control"))?;
    let has = |text: &str, c: &str| text.split_whitespace().any(|w| w == c);
    let wanted: Vec<&'static str> = CONTROLLERS
        .into_iter()
        .filter(|c| has(&available, c) && !has(&enabled, c))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let control = dir.join("cgroup.subtree_control");
    let all: Vec<String> = wanted.iter().map(|c| format!("+{c}")).collect();
    if fsutil::write(&control, &all.join(" ")).is_ok() {
        return Ok(());
    }
    for controller in wanted {
        if let Err(e) = fsutil::write(&control, &format!("+{controller}")) {
            failures.entry(controller).or_insert(e);
        }
    }
    Ok(())
}

/// Writes `limits` into the cgroup; returns `(file name, path)` of what was written.
pub(crate) fn apply(cg: &Cgroup, limits: &Limits) -> Result<Vec<(String, PathBuf)>> {
    let Some(dir) = cg.dir("") else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    let mut put = |file: &str, value: String| -> Result<()> {
        let path = dir.join(file);
        fsutil::write(&path, &value)?;
        written.push((file.to_string(), path));
        Ok(())
    };
    if let Some(memory) = limits.memory_bytes() {
        put("memory.max", memory.to_string())?;
    }
    // memory.swap.max is missing without swap accounting; Docker then limits memory alone.
    if let Some(swap) = limits
        .swap_only()
        .filter(|_| dir.join("memory.swap.max").exists())
    {
        put("memory.swap.max", max_or(swap))?;
    }
    if let Some(weight) = limits.cpu_weight() {
        put("cpu.weight", weight.to_string())?;
    }
    if let Some(quota) = limits.cpu_quota_us() {
        put("cpu.max", format!("{quota} {CPU_PERIOD_US}"))?;
    }
    if let Some(max) = limits.pids_max() {
        put("pids.max", max.to_string())?;
    }
    Ok(written)
}

/// A limit as v2 writes it: negative is `max`.
pub(crate) fn max_or(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// Usage from `cpu.stat`, `memory.*`, `pids.*` and `io.stat`; absent files read as 0.
pub(crate) fn stats(cg: &Cgroup) -> Result<Stats> {
    let mut s = stats::host_base();
    let Some(dir) = cg.dir("") else {
        return Ok(s);
    };
    // cpu.stat exists even without the cpu controller (usage_usec is always accounted).
    let cpu = read_opt(&dir.join("cpu.stat"))?.unwrap_or_default();
    s.cpu_usage_ns = keyed_value(&cpu, "usage_usec")
        .unwrap_or(0)
        .saturating_mul(1000);
    let usage = read_u64_or_zero(&dir.join("memory.current"))?;
    let stat = read_opt(&dir.join("memory.stat"))?.unwrap_or_default();
    let inactive = keyed_value(&stat, "inactive_file").unwrap_or(0);
    s.memory_usage = stats::usage_without_cache(usage, inactive);
    let max = dir.join("memory.max");
    if let Some(text) = read_opt(&max)? {
        let limit = fsutil::parse_limit(&max, &text)?;
        s.memory_limit = stats::effective_memory_limit(limit, s.memory_limit);
    }
    s.pids_current = read_u64_or_zero(&dir.join("pids.current"))?;
    let max = dir.join("pids.max");
    if let Some(text) = read_opt(&max)? {
        s.pids_limit = fsutil::parse_limit(&max, &text)?;
    }
    let io = read_opt(&dir.join("io.stat"))?.unwrap_or_default();
    s.blkio_read = nested_sum(&io, "rbytes");
    s.blkio_write = nested_sum(&io, "wbytes");
    Ok(s)
}

/// `oom_kill` of `memory.events` (which counts the cgroup's descendants too).
pub(crate) fn oom_killed(cg: &Cgroup) -> Result<bool> {
    let Some(dir) = cg.dir("") else {
        return Ok(false);
    };
    let events = read_opt(&dir.join("memory.events"))?.unwrap_or_default();
    Ok(keyed_value(&events, "oom_kill").unwrap_or(0) > 0)
}

/// Writes `1` to `cgroup.kill` (kernel ≥ 5.14); older kernels: freeze, SIGKILL each, thaw.
pub(crate) fn kill_all(cg: &Cgroup) -> Result<()> {
    let Some(dir) = cg.dir("") else {
        return Ok(());
    };
    let kill = dir.join("cgroup.kill");
    if kill.exists() {
        return fsutil::write(&kill, "1");
    }
    let freeze = dir.join("cgroup.freeze");
    let freeze = freeze.exists().then_some(freeze);
    if let Some(freeze) = &freeze {
        fsutil::write(freeze, "1")?;
        let events = dir.join("cgroup.events");
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            let text = read_opt(&events)?.unwrap_or_default();
            if keyed_value(&text, "frozen") != Some(0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let killed = signal_all(&cg.pids()?);
    if let Some(freeze) = &freeze {
        fsutil::write(freeze, "0")?;
    }
    killed
}
