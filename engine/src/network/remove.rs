//! `network rm` and `network prune`, and `system teardown`'s part: removing bridges and rules.

use super::model::Network;
use super::netlink::Netlink;
use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Remove a network that no running container uses; returns its record.
    pub fn remove_network(&self, name: &str) -> Result<Network> {
        let nl = Netlink::open()?;
        let _lock = self.network_lock()?;
        let n = self.network(name)?;
        if n.is_predefined() {
            return Err(Error::Runtime(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        self.drop_network(&nl, &n)?;
        Ok(n)
    }

    fn drop_network(&self, nl: &Netlink, n: &Network) -> Result<()> {
        self.forget_stale_endpoints(n)?;
        let n = self.network(&n.id)?;
        if !n.containers.is_empty() {
            return Err(Error::Runtime(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.drop_bridge(nl, &n)?;
        self.delete_network_record(&n.id)
    }

    /// Remove every user-defined network no running container uses; returns their names.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let nl = Netlink::open()?;
        let _lock = self.network_lock()?;
        self.sweep_bridges(&nl)?;
        let mut gone = Vec::new();
        for n in self.networks()? {
            if n.is_predefined() {
                continue;
            }
            if self.drop_network(&nl, &n).is_ok() {
                gone.push(n.name);
            }
        }
        Ok(gone)
    }

    /// Make the records and the host agree after a crash: endpoints of containers that no longer
    /// run are dropped, and bridges of networks this root no longer has are removed.
    pub fn reconcile_networks(&self) -> Result<()> {
        let nl = Netlink::open()?;
        let _lock = self.network_lock()?;
        for n in self.read_networks()? {
            self.forget_stale_endpoints(&n)?;
        }
        self.sweep_bridges(&nl)
    }

    /// Give the host back what this root holds on it: stop every container (their veths, ports and
    /// DNS responders go with them), then remove every bridge and iptables rule this root made.
    /// Records stay; the next container start or `network create` makes them again.
    pub fn teardown(&self) -> Result<()> {
        // Everything is tried; the first failure is reported.
        let mut first: Option<crate::error::Error> = None;
        let mut keep = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        for c in self.containers()? {
            if c.state.running {
                keep(self.stop_container(&c.id, Some(0), None).map(|_| ()));
            }
        }
        let nl = Netlink::open()?;
        let _lock = self.network_lock()?;
        for n in self.read_networks()? {
            keep(self.forget_stale_endpoints(&n));
            keep(self.drop_bridge(&nl, &n));
        }
        keep(self.sweep_bridges(&nl));
        first.map_or(Ok(()), Err)
    }
}
