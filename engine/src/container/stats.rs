//! `stats`: what a container uses — its cgroup's CPU time, memory, block I/O and processes, and the
//! traffic of its network namespace — in the figures `docker stats` shows. CPU % compares two
//! samples (Docker's `precpu_stats`), so a caller samples, waits, and samples again.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::Container;
use super::resources;
use crate::cgroups::{self, Stats};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One sample of a container's usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// The cgroup's figures; `None` for a container that is not running (it has no cgroup).
    pub cgroup: Option<Stats>,
    /// Bytes received on the container's interfaces other than `lo`.
    pub net_rx: u64,
    /// Bytes sent on the container's interfaces other than `lo`.
    pub net_tx: u64,
    /// Each interface but `lo` (`eth0`, …), as Docker's stats API lists them.
    pub interfaces: BTreeMap<String, NetCounters>,
}

/// One interface's counters, from `/proc/<pid>/net/dev`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on sending.
    pub tx_dropped: u64,
}

/// What `stats` shows for a container, computed from two samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Share of the host's CPU time between the samples, times the number of CPUs (100 = one CPU).
    pub cpu_percent: f64,
    /// Memory in use, without the inactive page cache.
    pub memory_usage: u64,
    /// The memory limit (`-m`), or the host's memory when unlimited; 0 when not running.
    pub memory_limit: u64,
    /// `memory_usage` over `memory_limit`, in percent.
    pub memory_percent: f64,
    /// Bytes received (all interfaces but `lo`).
    pub net_rx: u64,
    /// Bytes sent (all interfaces but `lo`).
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
    /// Processes in the container.
    pub pids: u64,
}

impl Engine {
    /// Sample a container's usage now. A container that is not running (or whose cgroup is already
    /// gone) gives an empty sample; an unreadable cgroup is an error.
    pub fn sample_stats(&self, c: &Container) -> Result<Sample> {
        if !c.state.running || c.state.pid <= 0 {
            return Ok(Sample::default());
        }
        let Some(cg) = resources::open_cgroup(&c.id) else {
            return Ok(Sample::default());
        };
        let stats = cg
            .stats()
            .map_err(|e| Error::Runtime(format!("stats of {}: {e}", c.short_id())))?;
        // With --network host the counters are the host's: Docker shows none for such containers.
        let own_net = self
            .host_config(&c.id)
            .map(|h| h.network_mode != "host")
            .unwrap_or(true);
        let interfaces = if own_net {
            std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid))
                .map(|t| net_dev_interfaces(&t))
                .unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let (net_rx, net_tx) = sum_traffic(&interfaces);
        Ok(Sample {
            cgroup: Some(stats),
            net_rx,
            net_tx,
            interfaces,
        })
    }
}

/// The usage `stats` shows: CPU % from the two samples, the rest from the later one.
pub fn usage(prev: &Sample, cur: &Sample) -> Usage {
    let Some(s) = &cur.cgroup else {
        return Usage::default();
    };
    Usage {
        cpu_percent: prev
            .cgroup
            .as_ref()
            .map_or(0.0, |p| cgroups::cpu_percent(p, s)),
        memory_usage: s.memory_usage,
        memory_limit: s.memory_limit,
        memory_percent: cgroups::memory_percent(s),
        net_rx: cur.net_rx,
        net_tx: cur.net_tx,
        block_read: s.blkio_read,
        block_write: s.blkio_write,
        pids: s.pids_current,
    }
}

/// Bytes received and sent over every interface but `lo`, from `/proc/<pid>/net/dev` text.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    sum_traffic(&net_dev_interfaces(text))
}

fn sum_traffic(interfaces: &BTreeMap<String, NetCounters>) -> (u64, u64) {
    interfaces.values().fold((0u64, 0u64), |(rx, tx), n| {
        (rx.saturating_add(n.rx_bytes), tx.saturating_add(n.tx_bytes))
    })
}

/// Each interface but `lo` and its counters, from `/proc/<pid>/net/dev` text.
pub fn net_dev_interfaces(text: &str) -> BTreeMap<String, NetCounters> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue; // The two header lines.
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes …
        if f.len() >= 12 {
            out.insert(
                name.to_string(),
                NetCounters {
                    rx_bytes: f[0],
                    rx_packets: f[1],
                    rx_errors: f[2],
                    rx_dropped: f[3],
                    tx_bytes: f[8],
                    tx_packets: f[9],
                    tx_errors: f[10],
                    tx_dropped: f[11],
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_sums_every_interface_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
 lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0\n  \
 eth0:    1200      10    0    0    0     0          0         0      648       8    0    0    0     0       0          0\n  \
 eth1:      34       1    0    0    0     0          0         0       2       1    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), (1234, 650));
        assert_eq!(parse_net_dev(""), (0, 0));
        let each = net_dev_interfaces(text);
        assert_eq!(each.keys().collect::<Vec<_>>(), ["eth0", "eth1"]);
        assert_eq!(
            (
                each["eth0"].rx_packets,
                each["eth0"].tx_bytes,
                each["eth0"].tx_packets
            ),
            (10, 648, 8)
        );
    }

    #[test]
    fn usage_of_a_stopped_container_is_zero() {
        assert_eq!(
            usage(&Sample::default(), &Sample::default()),
            Usage::default()
        );
        let cur = Sample {
            cgroup: Some(Stats {
                memory_usage: 1 << 20,
                memory_limit: 64 << 20,
                pids_current: 1,
                ..Stats::default()
            }),
            net_rx: 5,
            net_tx: 7,
            ..Sample::default()
        };
        let u = usage(&Sample::default(), &cur);
        assert_eq!(
            (u.memory_limit, u.pids, u.net_rx, u.net_tx),
            (64 << 20, 1, 5, 7)
        );
        assert_eq!(u.cpu_percent, 0.0);
    }
}
