//! A network as Docker shows it in `network inspect`, which is also how it is kept in
//! `network/<id>.json`. `Containers` holds the endpoints of running containers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Docker's option key for a bridge network's interface name.
pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Docker's option key marking the default bridge.
pub const DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// One network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// Name (`bridge`, `host`, `none` or the user's).
    pub name: String,
    /// 64 hex characters.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// IPv4 addresses are given.
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// IPv6 is not supported.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No traffic to or from outside the network.
    pub internal: bool,
    /// Containers may connect by hand (always true for local bridges).
    pub attachable: bool,
    /// Swarm only.
    pub ingress: bool,
    /// Swarm only.
    pub config_from: ConfigFrom,
    /// Swarm only.
    pub config_only: bool,
    /// Endpoints of running containers, by container ID.
    pub containers: BTreeMap<String, Endpoint>,
    /// Driver options (`com.docker.network.bridge.name`…).
    pub options: BTreeMap<String, String>,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
}

/// Address management of a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// Always `default`.
    pub driver: String,
    /// IPAM driver options.
    pub options: BTreeMap<String, String>,
    /// Subnets (one, for a bridge; none for host and null).
    pub config: Vec<IpamConfig>,
}

/// One subnet and its gateway.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// `172.18.0.0/16`.
    pub subnet: String,
    /// `172.18.0.1`.
    pub gateway: String,
}

/// Swarm's `--config-from`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFrom {
    /// Always empty.
    pub network: String,
}

/// A running container's place on a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// Container name, without the slash.
    #[serde(rename = "Name")]
    pub name: String,
    /// 64 hex characters; the host end of its veth is `veth` + its first 7.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// `02:42:ac:11:00:02`.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// `172.17.0.2/16`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Always empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
    /// Names it answers to besides its name and short ID (`--network-alias`); baleia's, not in
    /// Docker's inspect, so it is left out of what `network inspect` prints.
    #[serde(rename = "Aliases", default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl Endpoint {
    /// Its IPv4 address, without the prefix.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.ipv4_address.split('/').next()?.parse().ok()
    }
    /// The host end of its veth pair.
    pub fn veth(&self) -> String {
        veth_name(&self.endpoint_id)
    }
}

/// The host end of the veth pair of endpoint `endpoint_id`: `veth` and 7 hex characters, as Docker's.
pub fn veth_name(endpoint_id: &str) -> String {
    format!("veth{}", &endpoint_id[..7])
}

impl Network {
    /// The bridge interface of a bridge network.
    pub fn bridge(&self) -> Option<&str> {
        self.options.get(BRIDGE_NAME).map(String::as_str)
    }
    /// The default bridge network (`bridge`).
    pub fn is_default_bridge(&self) -> bool {
        self.options.get(DEFAULT_BRIDGE).map(String::as_str) == Some("true")
    }
    /// One of `bridge`, `host`, `none`, which cannot be removed.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
    /// Subnet and gateway, if it has addresses.
    pub fn subnet(&self) -> Option<(Ipv4Addr, u8, Ipv4Addr)> {
        let c = self.ipam.config.first()?;
        let (net, len) = crate::network::ipam::parse_cidr(&c.subnet)?;
        Some((net, len, c.gateway.parse().ok()?))
    }
    /// The short ID (12 hex).
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}
