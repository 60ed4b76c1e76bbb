//! `network create`: a record, and for a bridge network its bridge `br-<12 hex of the ID>` with its
//! address and rules, made at once (so `brctl show` lists it before any container joins).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::ipam;
use super::model::{Network, BRIDGE_NAME};
use super::netlink::Netlink;
use super::store::{blank_network, ipam_config};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What `network create` is told.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// Name.
    pub name: String,
    /// `-d`: only `bridge` makes new networks.
    pub driver: Option<String>,
    /// `--subnet 172.30.0.0/16`.
    pub subnet: Option<String>,
    /// `--gateway 172.30.0.1`.
    pub gateway: Option<String>,
    /// `--internal`: no traffic to or from outside.
    pub internal: bool,
    /// `--label KEY=VALUE`.
    pub labels: BTreeMap<String, String>,
    /// `-o com.docker.network.bridge.name=NAME` and other driver options.
    pub options: BTreeMap<String, String>,
}

impl Engine {
    /// Create a network; returns its record.
    pub fn create_network(&self, o: &NetworkOptions) -> Result<Network> {
        let driver = o.driver.as_deref().unwrap_or("bridge");
        match driver {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::Runtime(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => {
                return Err(Error::Runtime(format!(
                    "plugin \"{other}\" not found (baleia has the bridge, host and null drivers)"
                )))
            }
        }
        if !crate::names::valid_name(&o.name) {
            return Err(Error::Runtime(format!(
                "invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                o.name
            )));
        }
        let nl = Netlink::open()?;
        let _lock = self.network_lock()?;
        self.sweep_bridges(&nl)?;
        let existing = self.networks()?;
        if existing.iter().any(|n| n.name == o.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                o.name
            )));
        }
        let mut n = blank_network(&o.name, "bridge");
        n.internal = o.internal;
        n.labels = o.labels.clone();
        n.options = o.options.clone();
        let bridge = n
            .options
            .entry(BRIDGE_NAME.to_string())
            .or_insert_with(|| format!("br-{}", &n.id[..12]))
            .clone();
        if bridge.len() > 15 {
            return Err(Error::Runtime(format!(
                "bridge name {bridge:?} is longer than 15 characters"
            )));
        }
        if existing.iter().any(|x| x.bridge() == Some(bridge.as_str())) {
            return Err(Error::Conflict(format!(
                "bridge name {bridge} is used by another network"
            )));
        }
        let _host = super::bridge::host_lock()?;
        let subnet = match &o.subnet {
            Some(s) => {
                let net = ipam::parse_cidr(s)
                    .filter(|(_, len)| (8..=30).contains(len))
                    .ok_or_else(|| Error::Runtime(format!("invalid subnet {s}: give a network address such as 172.30.0.0/16 (prefix 8 to 30)")))?;
                let mut used: Vec<(Ipv4Addr, u8)> = nl.routes_v4()?;
                used.extend(
                    existing
                        .iter()
                        .filter_map(|x| x.subnet().map(|s| (s.0, s.1))),
                );
                if used.iter().any(|u| u.1 > 0 && ipam::overlaps(net, *u)) {
                    return Err(Error::Runtime(
                        "invalid pool request: Pool overlaps with other one on this address space"
                            .into(),
                    ));
                }
                net
            }
            None => {
                if o.gateway.is_some() {
                    return Err(Error::Runtime(
                        "invalid pool request: a gateway needs a --subnet to be in".into(),
                    ));
                }
                self.choose_subnet(&existing)?
            }
        };
        let gateway = match &o.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::Runtime(format!("invalid gateway address {g}")))?;
                if !ipam::contains(subnet, ip) || ip == subnet.0 {
                    return Err(Error::Runtime(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => ipam::first_host(subnet),
        };
        n.ipam.config = vec![ipam_config(subnet, gateway)];
        drop(_host);
        self.ensure_bridge(&nl, &mut n)?;
        if let Err(e) = self.save_network(&n) {
            let _ = self.drop_bridge(&nl, &n);
            return Err(e);
        }
        Ok(n)
    }
}
