//! Docker's resource flags as cgroup values: validation, defaults and unit conversions.

use serde::{Deserialize, Serialize};

use super::error::{CgroupError, Result};

/// Docker's smallest memory limit (`-m`): 6 MiB.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period Docker pairs with `--cpus`: 100 ms, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest CFS quota the kernel accepts, in microseconds.
pub const MIN_CPU_QUOTA_US: u64 = 1_000;
/// Smallest and largest `cpu.shares` the kernel accepts (Docker clamps to these).
pub const CPU_SHARES_RANGE: (u64, u64) = (2, 262_144);

/// The resource limits of one container; `None` (and Docker's "unset" `0`) leaves a limit off.
#[derive(Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `-m/--memory`: memory limit in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`: memory plus swap in bytes; `-1` for unlimited swap.
    pub memory_swap: Option<i64>,
    /// `--cpu-shares`: relative CPU weight (v1 `cpu.shares`, default 1024).
    pub cpu_shares: Option<u64>,
    /// `--cpus` in billionths of a CPU (Docker's `NanoCpus`).
    pub nano_cpus: Option<i64>,
    /// `--pids-limit`: most processes at once; `0` or `-1` for unlimited.
    pub pids_limit: Option<i64>,
}

impl Limits {
    /// Whether no limit is set at all.
    pub fn is_empty(&self) -> bool {
        self.memory_bytes().is_none()
            && self.memory_swap_total().is_none()
            && self.cpu_weight_shares().is_none()
            && self.cpu_quota_us().is_none()
            && self.pids_max().is_none()
    }

    /// Refuses what Docker's daemon refuses, with its messages.
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(CgroupError::InvalidLimit(m));
        let memory = self.memory.unwrap_or(0);
        let swap = self.memory_swap.unwrap_or(0);
        if memory < 0 {
            return invalid(format!("invalid memory limit {memory}"));
        }
        if memory > 0 && memory < MIN_MEMORY {
            return invalid("Minimum memory limit allowed is 6MB".into());
        }
        if memory == 0 && swap > 0 {
            return invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            );
        }
        if memory > 0 && swap > 0 && swap < memory {
            return invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            );
        }
        if swap < -1 {
            return invalid(format!("invalid memory-swap limit {swap}"));
        }
        let nano = self.nano_cpus.unwrap_or(0);
        let ncpu = std::thread::available_parallelism().map_or(1, usize::from) as i64;
        let too_small = nano > 0 && nano_cpus_to_quota(nano) < MIN_CPU_QUOTA_US;
        if nano < 0 || nano > ncpu * 1_000_000_000 || too_small {
            return invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            ));
        }
        Ok(())
    }

    /// The memory limit in bytes, if one is set.
    pub fn memory_bytes(&self) -> Option<i64> {
        self.memory.filter(|&m| m > 0)
    }

    /// Memory plus swap (v1 `memory.memsw.limit_in_bytes`) by Docker's rule: the given value
    /// (`-1` unlimited); unset with `--memory` set means twice the memory.
    pub fn memory_swap_total(&self) -> Option<i64> {
        match (self.memory_bytes(), self.memory_swap.filter(|&s| s != 0)) {
            (_, Some(swap)) => Some(swap),
            (Some(memory), None) => Some(memory.saturating_mul(2)),
            (None, None) => None,
        }
    }

    /// The swap part alone (v2 `memory.swap.max`, converted as runc does); `-1` is unlimited.
    pub fn swap_only(&self) -> Option<i64> {
        let total = self.memory_swap_total()?;
        match self.memory_bytes() {
            _ if total < 0 => Some(-1),
            Some(memory) => Some(total.saturating_sub(memory).max(0)),
            None => None,
        }
    }

    /// `--cpu-shares` clamped to what the kernel accepts, if set.
    pub fn cpu_weight_shares(&self) -> Option<u64> {
        let (min, max) = CPU_SHARES_RANGE;
        self.cpu_shares
            .filter(|&s| s > 0)
            .map(|s| s.clamp(min, max))
    }

    /// The v2 `cpu.weight` for `--cpu-shares`, if set.
    pub fn cpu_weight(&self) -> Option<u64> {
        self.cpu_weight_shares().map(cpu_shares_to_weight)
    }

    /// The CFS quota in microseconds per [`CPU_PERIOD_US`] for `--cpus`, if set.
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.nano_cpus.filter(|&n| n > 0).map(nano_cpus_to_quota)
    }

    /// The `pids.max` value for `--pids-limit`, if limited.
    pub fn pids_max(&self) -> Option<u64> {
        self.pids_limit.filter(|&p| p > 0).map(|p| p as u64)
    }
}

/// runc's conversion of v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000).
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let (min, max) = CPU_SHARES_RANGE;
    let shares = shares.clamp(min, max);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Docker's `--cpus` to CFS quota: `nano_cpus * period / 1e9` microseconds.
pub fn nano_cpus_to_quota(nano_cpus: i64) -> u64 {
    (nano_cpus.max(0) as u128 * CPU_PERIOD_US as u128 / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(512), 20);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn cpus_to_quota() {
        assert_eq!(nano_cpus_to_quota(1_500_000_000), 150_000);
        assert_eq!(nano_cpus_to_quota(500_000_000), 50_000);
        assert_eq!(nano_cpus_to_quota(10_000_000), 1_000);
        let l = Limits {
            nano_cpus: Some(250_000_000),
            ..Limits::default()
        };
        assert_eq!(l.cpu_quota_us(), Some(25_000));
    }

    #[test]
    fn swap_defaults_follow_docker() {
        let only_memory = Limits {
            memory: Some(32 * MIB),
            ..Limits::default()
        };
        assert_eq!(only_memory.memory_swap_total(), Some(64 * MIB));
        assert_eq!(only_memory.swap_only(), Some(32 * MIB));

        let unlimited = Limits {
            memory: Some(32 * MIB),
            memory_swap: Some(-1),
            ..Limits::default()
        };
        assert_eq!(unlimited.memory_swap_total(), Some(-1));
        assert_eq!(unlimited.swap_only(), Some(-1));

        let explicit = Limits {
            memory: Some(32 * MIB),
            memory_swap: Some(48 * MIB),
            ..Limits::default()
        };
        assert_eq!(explicit.swap_only(), Some(16 * MIB));

        let no_swap = Limits {
            memory: Some(32 * MIB),
            memory_swap: Some(32 * MIB),
            ..Limits::default()
        };
        assert_eq!(no_swap.swap_only(), Some(0));
        assert!(Limits::default().is_empty());
        assert_eq!(Limits::default().memory_swap_total(), None);
    }

    #[test]
    fn validation_messages() {
        let l = |memory, memory_swap, nano_cpus| Limits {
            memory,
            memory_swap,
            nano_cpus,
            ..Limits::default()
        };
        let msg = |l: Limits| l.validate().unwrap_err().to_string();
        assert_eq!(
            msg(l(Some(MIB), None, None)),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(msg(l(None, Some(64 * MIB), None)).starts_with("You should always set"));
        assert!(msg(l(Some(64 * MIB), Some(32 * MIB), None)).starts_with("Minimum memoryswap"));
        assert!(msg(l(None, None, Some(-1))).starts_with("Range of CPUs is from 0.01 to"));
        assert!(msg(l(None, None, Some(1_000_000))).starts_with("Range of CPUs"));
        assert!(msg(l(None, None, Some(1_000_000_000_000))).starts_with("Range of CPUs"));
        l(Some(64 * MIB), Some(-1), Some(10_000_000))
            .validate()
            .unwrap();
        l(None, Some(-1), None).validate().unwrap();
    }
}
