//! `network connect` and `network disconnect`: a container joins or leaves a network, at once if it
//! runs (a new `ethN` appears in it, or goes), else from its next start.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};

use super::endpoint::Join;
use super::netlink::Netlink;
use crate::container::model::{EndpointIpamConfig, EndpointSettings};
use crate::container::store::monitor_alive;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};

impl Engine {
    /// Connect container `container` to network `network`, with `aliases` on it, at address
    /// `ip` if given (else the lowest free one).
    pub fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
        ip: Option<Ipv4Addr>,
    ) -> Result<()> {
        let n = self.network(network)?;
        let c = self.resolve_container(container)?;
        let host = self.host_config(&c.id)?;
        if n.driver != "bridge"
            || !matches!(self.network(&host.network_mode), Ok(m) if m.driver == "bridge")
        {
            return Err(Error::InvalidParameter(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if n.is_default_bridge() && !aliases.is_empty() {
            return Err(Error::InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if ip.is_some() && n.is_default_bridge() {
            return Err(Error::InvalidParameter(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if c.network_settings.networks.contains_key(&n.name) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.bare_name(),
                n.name
            )));
        }
        let mut settings = EndpointSettings {
            network_id: n.id.clone(),
            aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
            ipam_config: ip.map(|ip| EndpointIpamConfig {
                ipv4_address: ip.to_string(),
            }),
            ..Default::default()
        };
        if c.state.running && monitor_alive(c.state.monitor_pid, &c.id) {
            let path = format!("/proc/{}/ns/net", c.state.pid);
            let netns: OwnedFd = File::open(&path).at(&path)?.into();
            let ifname = format!("eth{}", c.network_settings.networks.len());
            let nl = Netlink::open()?;
            let (joined, _) = self.join_network(
                &nl,
                &n.name,
                &Join {
                    container_id: &c.id,
                    container_name: c.bare_name(),
                    aliases,
                    netns: netns.as_fd(),
                    ifname: &ifname,
                    default_route: false,
                    ip,
                },
            )?;
            settings = joined;
        }
        self.update_networks(&c.id, |nets| {
            nets.insert(n.name.clone(), settings.clone());
        })
    }

    /// Disconnect container `container` from network `network`.
    pub fn disconnect_network(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let n = self.network(network)?;
        let c = match self.resolve_container(container) {
            Ok(c) => c,
            Err(e) if force => {
                // `-f`: drop an endpoint whose container is gone.
                let _lock = self.network_lock()?;
                let mut n = self.network(&n.id)?;
                let before = n.containers.len();
                n.containers.retain(|_, ep| ep.name != container);
                if n.containers.len() == before {
                    return Err(e);
                }
                return self.save_network(&n);
            }
            Err(e) => return Err(e),
        };
        if !c.network_settings.networks.contains_key(&n.name) {
            return Err(Error::Runtime(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        }
        if n.driver != "bridge" {
            return Err(Error::InvalidParameter(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if n.containers.contains_key(&c.id) {
            self.leave_network(&Netlink::open()?, &n.id, &c.id)?;
        }
        self.update_networks(&c.id, |nets| {
            nets.remove(&n.name);
        })
    }

    fn update_networks(
        &self,
        id: &str,
        change: impl FnOnce(&mut std::collections::BTreeMap<String, EndpointSettings>),
    ) -> Result<()> {
        let _lock = self.lock(crate::lock::Mode::Exclusive)?;
        let mut c = self
            .load_container(id)?
            .ok_or_else(|| Error::NoSuchContainer(id.to_string()))?;
        change(&mut c.network_settings.networks);
        self.save_container(&c)
    }

    /// What `network inspect` shows: the record without baleia's own fields.
    pub fn inspect_network(&self, n: &super::Network) -> serde_json::Value {
        let mut v = serde_json::to_value(n).expect("network record");
        if let Some(cs) = v.get_mut("Containers").and_then(|c| c.as_object_mut()) {
            for ep in cs.values_mut() {
                if let Some(o) = ep.as_object_mut() {
                    o.remove("Aliases");
                }
            }
        }
        v
    }
}
