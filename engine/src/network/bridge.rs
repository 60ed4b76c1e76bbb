//! The bridge behind a bridge network: made when the network is created (or, for the default
//! `bridge`, when a container first needs it, and again after a reboot), with its address, the
//! sysctls it needs and its iptables rules; removed with the network or by `system teardown`.

use std::net::Ipv4Addr;
use std::path::Path;

use super::firewall::Firewall;
use super::ipam;
use super::model::Network;
use super::netlink::{self, Netlink};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::lock::{Lock, Mode};

/// Host-wide lock over choosing subnets and making bridges, shared by every state root.
const HOST_LOCK: &str = "/run/baleia/network.lock";

/// Hold the host-wide network lock.
pub(crate) fn host_lock() -> Result<Lock> {
    let p = Path::new(HOST_LOCK);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.into(),
            source: e,
        })?;
    }
    Lock::acquire(p, Mode::Exclusive)
}

impl Engine {
    /// The ifalias that marks a bridge as this root's network `id`.
    pub(crate) fn bridge_alias(&self, id: &str) -> String {
        format!("{}{id}", self.alias_prefix())
    }

    /// The ifalias prefix of this root's bridges.
    pub(crate) fn alias_prefix(&self) -> String {
        format!("baleia:{}:", self.paths.root_key())
    }

    /// Make sure network `n`'s bridge exists, making it if not (a new default bridge may get a
    /// different subnet if a route now covers its old one). Call under the root's network lock.
    pub(crate) fn ensure_bridge(&self, nl: &Netlink, n: &mut Network) -> Result<()> {
        let Some(br) = n.bridge().map(String::from) else {
            return Ok(());
        };
        let ours = self.bridge_alias(&n.id);
        let present = |nl: &Netlink| -> Result<bool> {
            match nl.alias_of(&br)? {
                Some(a) if a == ours => Ok(true),
                Some(a) => Err(taken(&br, &a)),
                None => Ok(false),
            }
        };
        if present(nl)? {
            return Ok(());
        }
        let _host = host_lock()?;
        if present(nl)? {
            // Made meanwhile by another command on this root.
            return Ok(());
        }
        let (net, len, gw) = n
            .subnet()
            .ok_or_else(|| Error::Corrupt(format!("network {} has no subnet", n.name)))?;
        let routes = nl.routes_v4()?;
        if routes
            .iter()
            .any(|r| r.1 > 0 && ipam::overlaps((net, len), *r))
        {
            if !n.is_default_bridge() {
                return Err(overlap(net, len));
            }
            let others: Vec<Network> = self
                .read_networks()?
                .into_iter()
                .filter(|o| o.id != n.id)
                .collect();
            let s = self.choose_subnet(&others)?;
            n.ipam.config = vec![super::store::ipam_config(s, ipam::first_host(s))];
            self.save_network(n)?;
        }
        let (net, len, gw) = n.subnet().unwrap_or((net, len, gw));
        self.make_bridge(nl, n, &br, (net, len), gw)
    }

    /// Create bridge `br` for `n`, its sysctls and its rules; nothing is left if a step fails.
    fn make_bridge(
        &self,
        nl: &Netlink,
        n: &Network,
        br: &str,
        subnet: (Ipv4Addr, u8),
        gw: Ipv4Addr,
    ) -> Result<()> {
        nl.create_bridge(br, gw, subnet.1, &self.bridge_alias(&n.id))?;
        let rest = (|| -> Result<()> {
            // Forwarding from the bridge (containers out), and 127.0.0.1 → published ports.
            for (key, value) in [("forwarding", "1"), ("route_localnet", "1")] {
                netlink::set_ipv4_conf(br, key, value).map_err(|e| Error::Io {
                    path: format!("/proc/sys/net/ipv4/conf/{br}/{key}").into(),
                    source: e,
                })?;
            }
            if self.config.ip_forward {
                let p = "/proc/sys/net/ipv4/ip_forward";
                std::fs::write(p, "1").map_err(|e| Error::Io {
                    path: p.into(),
                    source: e,
                })?;
            }
            Firewall::new()?.add_network(br, subnet, n.internal)?;
            Ok(())
        })();
        if rest.is_err() {
            let _ = nl.delete_link(br);
        }
        rest
    }

    /// Remove network `n`'s bridge and rules (nothing if it has none).
    pub(crate) fn drop_bridge(&self, nl: &Netlink, n: &Network) -> Result<()> {
        let Some(br) = n.bridge() else {
            return Ok(());
        };
        let Some((net, len, _)) = n.subnet() else {
            return Ok(());
        };
        let _host = host_lock()?;
        let alias = nl
            .links_with_alias(&self.bridge_alias(&n.id))?
            .into_iter()
            .any(|(name, _)| name == br);
        if alias {
            nl.delete_link(br)?;
        }
        Firewall::new()?.remove_network(br, (net, len))?;
        Ok(())
    }

    /// Remove bridges and rules this root made for networks it no longer has (a crash between
    /// making a bridge and writing its record, or a record removed by hand).
    pub(crate) fn sweep_bridges(&self, nl: &Netlink) -> Result<()> {
        let prefix = self.alias_prefix();
        let stale: Vec<(String, String)> = nl
            .links_with_alias(&prefix)?
            .into_iter()
            .filter(|(_, alias)| {
                let id = &alias[prefix.len()..];
                !self.paths.network(id).exists()
            })
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let _host = host_lock()?;
        let fw = Firewall::new()?;
        let ruled = fw.bridges()?;
        for (name, _) in stale {
            nl.delete_link(&name)?;
            if ruled.contains(&name) {
                // The subnet went with the record: the rules go by bridge name (its containers' port
                // rules went when they stopped).
                fw.remove_network(&name, (Ipv4Addr::UNSPECIFIED, 32))?;
            }
        }
        Ok(())
    }
}

fn taken(br: &str, alias: &str) -> Error {
    let who = if alias.starts_with("baleia:") {
        "another baleia state root"
    } else {
        "something else on this host"
    };
    Error::Runtime(format!(
        "bridge {br} is used by {who}: set another \"bridge\" name in {}",
        crate::config::Config::path().display()
    ))
}

fn overlap(net: Ipv4Addr, len: u8) -> Error {
    Error::Runtime(format!(
        "invalid pool request: Pool overlaps with other one on this address space ({net}/{len} is routed on this host)"
    ))
}
