//! Resource usage of a cgroup in the shape `docker stats` needs, and its percentages.

use serde::Serialize;

/// One sample of a container's resource usage (and the host figures to compare it with).
#[derive(Default, Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// CPU time used by the cgroup, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// CPU time of the whole host (`/proc/stat`), in nanoseconds, like Docker's `system_cpu_usage`.
    pub system_cpu_usage_ns: u64,
    /// Online CPUs of the host (`cpuN` lines of `/proc/stat`).
    pub online_cpus: u32,
    /// Memory in use without the inactive page cache, as `docker stats` shows it.
    pub memory_usage: u64,
    /// The memory limit in bytes; the host's total when the cgroup is unlimited.
    pub memory_limit: u64,
    /// Processes (tasks) in the cgroup now.
    pub pids_current: u64,
    /// `pids.max`, or `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// Bytes read from block devices.
    pub blkio_read: u64,
    /// Bytes written to block devices.
    pub blkio_write: u64,
}

/// `docker stats` CPU %: the cgroup's share of host CPU time between two samples, times CPUs.
pub fn cpu_percent(prev: &Stats, cur: &Stats) -> f64 {
    let cpu_delta = cur.cpu_usage_ns.saturating_sub(prev.cpu_usage_ns) as f64;
    let system_delta = cur
        .system_cpu_usage_ns
        .saturating_sub(prev.system_cpu_usage_ns) as f64;
    if cpu_delta <= 0.0 || system_delta <= 0.0 {
        return 0.0;
    }
    cpu_delta / system_delta * f64::from(cur.online_cpus.max(1)) * 100.0
}

/// `docker stats` MEM %: usage over limit, in percent (0 when the limit is unknown).
pub fn memory_percent(s: &Stats) -> f64 {
    if s.memory_limit == 0 {
        return 0.0;
    }
    s.memory_usage as f64 / s.memory_limit as f64 * 100.0
}

/// Usage minus inactive file cache, as the Docker CLI computes it: unchanged when the cache
/// figure is not below the usage.
pub(crate) fn usage_without_cache(usage: u64, inactive_file: u64) -> u64 {
    if inactive_file < usage {
        usage - inactive_file
    } else {
        usage
    }
}

/// Host CPU time in nanoseconds and online CPU count, from `/proc/stat` text.
/// Like Docker: the first seven fields of the `cpu` line (user … softirq), in clock ticks.
pub(crate) fn parse_proc_stat(text: &str, ticks_per_second: u64) -> (u64, u32) {
    let mut total_ns = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: u64 = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
                total_ns = (ticks as u128 * 1_000_000_000 / ticks_per_second.max(1) as u128) as u64;
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total_ns, cpus)
}

/// Host CPU time (ns) and online CPUs now; zeros when `/proc/stat` cannot be read.
pub(crate) fn host_cpu() -> (u64, u32) {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as u64 } else { 100 };
    std::fs::read_to_string("/proc/stat")
        .map(|text| parse_proc_stat(&text, ticks))
        .unwrap_or((0, 0))
}

/// `MemTotal` of `/proc/meminfo` in bytes (0 if unreadable).
pub(crate) fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// The limit `docker stats` shows: the cgroup's, capped at the host's memory.
pub(crate) fn effective_memory_limit(limit: Option<u64>, host: u64) -> u64 {
    match limit {
        Some(l) if host == 0 || l < host => l,
        _ => host,
    }
}

/// A reading with the host's side filled in (CPU time, CPUs, memory as the unlimited limit); each
/// cgroup version then adds its own figures.
pub(crate) fn host_base() -> Stats {
    let (system_cpu_usage_ns, online_cpus) = host_cpu();
    Stats {
        system_cpu_usage_ns,
        online_cpus,
        memory_limit: host_memory(),
        ..Stats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat() {
        let text = "cpu  100 5 50 1000 10 1 2 7 0 0\n\
                    cpu0 50 2 25 500 5 0 1 3 0 0\n\
                    cpu1 50 3 25 500 5 1 1 4 0 0\n\
                    intr 12345\nctxt 99\n";
        let (ns, cpus) = parse_proc_stat(text, 100);
        assert_eq!(ns, 1168 * 10_000_000);
        assert_eq!(cpus, 2);
    }

    #[test]
    fn percentages() {
        let prev = Stats {
            cpu_usage_ns: 1_000,
            system_cpu_usage_ns: 10_000,
            online_cpus: 4,
            ..Stats::default()
        };
        let cur = Stats {
            cpu_usage_ns: 1_500,
            system_cpu_usage_ns: 12_000,
            online_cpus: 4,
            memory_usage: 25,
            memory_limit: 100,
            ..Stats::default()
        };
        assert!((cpu_percent(&prev, &cur) - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&cur, &prev), 0.0);
        assert!((memory_percent(&cur) - 25.0).abs() < 1e-9);
        assert_eq!(memory_percent(&Stats::default()), 0.0);
    }

    #[test]
    fn cache_and_limits() {
        assert_eq!(usage_without_cache(100, 30), 70);
        assert_eq!(usage_without_cache(10, 30), 10);
        assert_eq!(effective_memory_limit(None, 1000), 1000);
        assert_eq!(effective_memory_limit(Some(u64::MAX), 1000), 1000);
        assert_eq!(effective_memory_limit(Some(300), 1000), 300);
        assert_eq!(effective_memory_limit(Some(300), 0), 300);
    }
}
