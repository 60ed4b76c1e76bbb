//! Endpoints: a running container's place on a network — an address from the network's subnet and
//! a veth pair from the network's bridge into the container's network namespace.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use super::ipam;
use super::model::{veth_name, Endpoint};
use super::netlink::{Netlink, VethSpec};
use crate::container::model::{EndpointIpamConfig, EndpointSettings};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::layer::random_hex;

/// A container joining a network.
#[derive(Debug, Clone, Copy)]
pub struct Join<'a> {
    /// Container ID.
    pub container_id: &'a str,
    /// Container name (without the slash).
    pub container_name: &'a str,
    /// `--network-alias` names.
    pub aliases: &'a [String],
    /// The container's network namespace.
    pub netns: BorrowedFd<'a>,
    /// Interface name inside (`eth0`, `eth1`, …).
    pub ifname: &'a str,
    /// Route everything through this network's gateway (the container's first network).
    pub default_route: bool,
    /// The address asked for (`--ip`); else the lowest free one.
    pub ip: Option<Ipv4Addr>,
}

impl Engine {
    /// Give a running container an address on network `name` and wire it; returns what inspect
    /// shows under `.NetworkSettings.Networks.NAME`, and the network's bridge.
    pub fn join_network(
        &self,
        nl: &Netlink,
        name: &str,
        j: &Join,
    ) -> Result<(EndpointSettings, String)> {
        let _lock = self.network_lock()?;
        let mut n = self.network(name)?;
        let Some(bridge) = n.bridge().map(String::from) else {
            return Err(Error::Runtime(format!(
                "network {} has no bridge to join",
                n.name
            )));
        };
        if n.containers.contains_key(j.container_id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                j.container_name, n.name
            )));
        }
        self.ensure_bridge(nl, &mut n)?;
        let (net, len, gateway) = n
            .subnet()
            .ok_or_else(|| Error::Corrupt(format!("network {} has no subnet", n.name)))?;
        let taken: Vec<Ipv4Addr> = n.containers.values().filter_map(Endpoint::ip).collect();
        let ip = match j.ip {
            Some(ip) if !ipam::is_host((net, len), ip) => {
                return Err(Error::InvalidParameter(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )))
            }
            Some(ip) if ip == gateway || taken.contains(&ip) => {
                return Err(Error::Forbidden("Address already in use".into()))
            }
            Some(ip) => ip,
            None => ipam::next_free((net, len), gateway, &taken).ok_or_else(|| {
                Error::Runtime(format!(
                    "no available IPv4 addresses on this network's address pools: {} ({})",
                    n.name, n.id
                ))
            })?,
        };
        let mac = ipam::mac_for(ip);
        let endpoint_id = random_hex(32);
        nl.add_veth(&VethSpec {
            host_name: &veth_name(&endpoint_id),
            bridge: &bridge,
            netns: j.netns,
            ifname: j.ifname,
            mac,
            addr: ip,
            prefix: len,
            gateway: j.default_route.then_some(gateway),
        })?;
        n.containers.insert(
            j.container_id.to_string(),
            Endpoint {
                name: j.container_name.to_string(),
                endpoint_id: endpoint_id.clone(),
                mac_address: ipam::format_mac(mac),
                ipv4_address: format!("{ip}/{len}"),
                ipv6_address: String::new(),
                aliases: j.aliases.to_vec(),
            },
        );
        if let Err(e) = self.save_network(&n) {
            let _ = nl.delete_link(&veth_name(&endpoint_id));
            return Err(e);
        }
        let mut dns_names = vec![
            j.container_name.to_string(),
            j.container_id[..12].to_string(),
        ];
        dns_names.extend(j.aliases.iter().cloned());
        let settings = EndpointSettings {
            links: None,
            aliases: (!j.aliases.is_empty()).then(|| j.aliases.to_vec()),
            mac_address: ipam::format_mac(mac),
            network_id: n.id.clone(),
            endpoint_id,
            gateway: gateway.to_string(),
            ip_address: ip.to_string(),
            ip_prefix_len: len,
            dns_names: (!n.is_default_bridge()).then_some(dns_names),
            ipam_config: j.ip.map(|ip| EndpointIpamConfig {
                ipv4_address: ip.to_string(),
            }),
        };
        Ok((settings, bridge))
    }

    /// Take running container `container_id` off network `network_id`: its record, its address
    /// and its veth pair (`network disconnect`).
    pub fn leave_network(&self, nl: &Netlink, network_id: &str, container_id: &str) -> Result<()> {
        if let Some(ep) = self.drop_endpoint(network_id, container_id)? {
            nl.delete_link(&ep.veth())?;
        }
        Ok(())
    }

    /// Take a container whose PID 1 is gone off every network: records and addresses. Its veth
    /// pairs are not deleted here: they go with its network namespace, which the kernel tears down
    /// on its own once the last process in it is gone (deleting them by hand would wait for that).
    pub fn leave_all_networks(&self, container_id: &str) -> Result<()> {
        for n in self.read_networks()? {
            if n.containers.contains_key(container_id) {
                self.drop_endpoint(&n.id, container_id)?;
            }
        }
        Ok(())
    }

    fn drop_endpoint(&self, network_id: &str, container_id: &str) -> Result<Option<Endpoint>> {
        let _lock = self.network_lock()?;
        let Ok(mut n) = self.network(network_id) else {
            return Ok(None);
        };
        let ep = n.containers.remove(container_id);
        if ep.is_some() {
            self.save_network(&n)?;
        }
        Ok(ep)
    }

    /// Drop endpoints of containers that are no longer running (a killed monitor, a reboot).
    /// Call under the network lock.
    pub(crate) fn forget_stale_endpoints(&self, n: &super::Network) -> Result<()> {
        let stale: Vec<String> = n
            .containers
            .keys()
            .filter(|id| {
                !matches!(self.load_container(id), Ok(Some(c)) if c.state.running
                    && crate::container::store::monitor_alive(c.state.monitor_pid, &c.id))
            })
            .cloned()
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let mut n = n.clone();
        for id in stale {
            if let Some(ep) = n.containers.remove(&id) {
                if let Ok(nl) = Netlink::open() {
                    let _ = nl.delete_link(&ep.veth());
                }
            }
        }
        self.save_network(&n)
    }
}
