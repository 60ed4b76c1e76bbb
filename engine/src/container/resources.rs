//! The container's cgroup: limits from `-m`, `--memory-swap`, `--cpu-shares`, `--cpus`, `--pids-limit`.

use super::model::HostConfig;
use crate::cgroups::{Cgroup, Limits};
use crate::error::{Error, Result};

/// Parent of every container's cgroup.
pub const PARENT: &str = "baleia";

/// The cgroup limits a host config asks for.
pub fn limits(h: &HostConfig) -> Limits {
    Limits {
        memory: (h.memory > 0).then_some(h.memory),
        memory_swap: (h.memory_swap != 0).then_some(h.memory_swap),
        cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
        nano_cpus: (h.nano_cpus > 0).then_some(h.nano_cpus),
        pids_limit: h.pids_limit.filter(|p| *p > 0),
    }
}

/// Create the container's cgroup with its limits.
pub fn create_cgroup(id: &str, h: &HostConfig) -> Result<Cgroup> {
    Cgroup::create(&format!("{PARENT}/{id}"), &limits(h))
        .map_err(|e| Error::Runtime(format!("cgroup: {e}")))
}

/// The container's cgroup, if it exists.
pub fn open_cgroup(id: &str) -> Option<Cgroup> {
    Cgroup::open(&format!("{PARENT}/{id}")).ok().flatten()
}

/// Remove the container's cgroup (killing what is left in it); nothing if it is gone.
pub fn remove_cgroup(id: &str) {
    if let Some(cg) = open_cgroup(id) {
        let _ = cg.kill_all();
        let _ = cg.remove();
    }
}
