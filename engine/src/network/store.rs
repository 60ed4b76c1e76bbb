//! Network records: `network/<id>.json` under the state root, one per network, in Docker's inspect
//! shape. `bridge`, `host` and `none` are made on first use. Changes happen under `network/.lock`.

use std::collections::BTreeMap;
use std::fs;

use chrono::Utc;

use super::ipam;
use super::model::{ConfigFrom, Ipam, IpamConfig, Network, BRIDGE_NAME, DEFAULT_BRIDGE};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image::repositories::write_atomic;
use crate::layer::random_hex;
use crate::lock::{Lock, Mode};

impl Engine {
    /// Hold this root's network lock (records and addresses change under it); the predefined
    /// networks exist once it is held.
    pub fn network_lock(&self) -> Result<Lock> {
        self.networks()?;
        self.raw_network_lock()
    }

    fn raw_network_lock(&self) -> Result<Lock> {
        let dir = self.paths.networks_dir();
        fs::create_dir_all(&dir).at(&dir)?;
        Lock::acquire(&dir.join(".lock"), Mode::Exclusive)
    }

    /// Every network, predefined ones first, then by name.
    pub fn networks(&self) -> Result<Vec<Network>> {
        let mut all = self.read_networks()?;
        if ["bridge", "host", "none"]
            .iter()
            .any(|n| !all.iter().any(|x| x.name == *n))
        {
            let _lock = self.raw_network_lock()?;
            all = self.read_networks()?;
            for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
                if !all.iter().any(|x| x.name == name) {
                    let n = self.predefined(name, driver, &all)?;
                    self.save_network(&n)?;
                    all.push(n);
                }
            }
        }
        let rank = |n: &Network| match n.name.as_str() {
            "bridge" => 0,
            "host" => 1,
            "none" => 2,
            _ => 3,
        };
        all.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.name.cmp(&b.name)));
        Ok(all)
    }

    /// The records on disk, as they are.
    pub(crate) fn read_networks(&self) -> Result<Vec<Network>> {
        let dir = self.paths.networks_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&dir),
        };
        let mut out = Vec::new();
        for e in entries {
            let path = e.at(&dir)?.path();
            if path.extension().is_some_and(|x| x == "json") {
                let bytes = fs::read(&path).at(&path)?;
                out.push(
                    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                        what: path.display().to_string(),
                        source,
                    })?,
                );
            }
        }
        Ok(out)
    }

    /// Find a network by full name, full ID, or a unique ID prefix, as Docker does.
    pub fn network(&self, name: &str) -> Result<Network> {
        let all = self.networks()?;
        if let Some(n) = all.iter().find(|n| n.name == name || n.id == name) {
            return Ok(n.clone());
        }
        let matches: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(name)).collect();
        match matches.as_slice() {
            [one] if !name.is_empty() => Ok((*one).clone()),
            [_, _, ..] => Err(Error::Runtime(format!(
                "network {name} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
            _ => Err(Error::NoSuchNetwork(name.to_string())),
        }
    }

    /// Write a network's record.
    pub fn save_network(&self, n: &Network) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(n).expect("network record");
        write_atomic(&self.paths.network(&n.id), &bytes)
    }

    /// Remove a network's record.
    pub(crate) fn delete_network_record(&self, id: &str) -> Result<()> {
        let p = self.paths.network(id);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(&p),
            _ => Ok(()),
        }
    }

    fn predefined(&self, name: &str, driver: &str, others: &[Network]) -> Result<Network> {
        let mut n = blank_network(name, driver);
        if name == "bridge" {
            n.options = [
                (DEFAULT_BRIDGE, "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                (BRIDGE_NAME, self.config.bridge.as_str()),
                ("com.docker.network.driver.mtu", "1500"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let subnet = self.choose_subnet(others)?;
            n.ipam.config = vec![ipam_config(subnet, ipam::first_host(subnet))];
        }
        Ok(n)
    }

    /// The first free subnet: overlapping no route of the host and no other network of this root.
    pub(crate) fn choose_subnet(&self, others: &[Network]) -> Result<(std::net::Ipv4Addr, u8)> {
        let mut used = super::netlink::Netlink::open()?.routes_v4()?;
        used.extend(others.iter().filter_map(|o| o.subnet().map(|s| (s.0, s.1))));
        ipam::free_subnet(&used).ok_or_else(|| {
            Error::Runtime(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
    }
}

/// A network with Docker's defaults and a fresh ID.
pub(crate) fn blank_network(name: &str, driver: &str) -> Network {
    Network {
        name: name.to_string(),
        id: random_hex(32),
        created: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        scope: "local".into(),
        driver: driver.to_string(),
        enable_ipv4: driver == "bridge",
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: Vec::new(),
        },
        internal: false,
        attachable: false,
        ingress: false,
        config_from: ConfigFrom::default(),
        config_only: false,
        containers: BTreeMap::new(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
    }
}

/// `{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}`.
pub(crate) fn ipam_config(
    subnet: (std::net::Ipv4Addr, u8),
    gateway: std::net::Ipv4Addr,
) -> IpamConfig {
    IpamConfig {
        subnet: format!("{}/{}", subnet.0, subnet.1),
        gateway: gateway.to_string(),
    }
}
