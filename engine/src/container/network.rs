//! A container's networking, done by its monitor between `clone` and PID 1's first instruction:
//! `lo` up, one veth per network, `/etc/hosts` and `/etc/resolv.conf`, `--link` entries and
//! variables, published ports (host ports held by the monitor, DNAT rules), and the embedded DNS
//! responder of user-defined networks. `release` undoes it when the container stops.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{Container, HostConfig, NetworkSettings, PortBinding};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image::repositories::write_atomic;
use crate::network::dns::{Names, Responder};
use crate::network::endpoint::Join;
use crate::network::firewall::{Firewall, PortRule, Proto};
use crate::network::netlink::Netlink;
use crate::network::ports::{self, split_port};

/// The loopback part of every `/etc/hosts`.
pub(crate) const LOOPBACK_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// What the embedded DNS listens on inside the container.
const EMBEDDED_DNS: &str = "127.0.0.11";

/// What `--link`s add to the linking container.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// Docker's link variables (`CONTEINER1_PORT_80_TCP_ADDR=…`).
    pub env: Vec<String>,
    /// `/etc/hosts` lines (`172.17.0.2\tconteiner1 3f2a…`).
    pub hosts: Vec<String>,
}

/// What must stay alive while the container runs: the host ports it holds.
#[derive(Debug, Default)]
pub(crate) struct Wired {
    _reserved: Vec<OwnedFd>,
}

/// What was set up on the host that the container's end does not take away by itself.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Undo {
    bridge: String,
    ip: Option<Ipv4Addr>,
    ports: Vec<(Option<Ipv4Addr>, u16, u16, String)>,
}

impl Undo {
    /// The iptables rules of the published ports.
    fn rules(&self) -> Vec<PortRule> {
        self.ports
            .iter()
            .map(|(host_ip, host_port, container_port, proto)| PortRule {
                host_ip: *host_ip,
                host_port: *host_port,
                container_port: *container_port,
                proto: if proto == "udp" {
                    Proto::Udp
                } else {
                    Proto::Tcp
                },
            })
            .collect()
    }
}

/// Resolve `--link`s: every linked container must be running on the default bridge.
pub(crate) fn resolve_links(engine: &Engine, c: &Container, host: &HostConfig) -> Result<Links> {
    let mut out = Links::default();
    for link in &host.links {
        let (target, alias_path) = link.split_once(':').unwrap_or((link, link));
        let alias = alias_path.rsplit('/').next().unwrap_or(alias_path);
        let other = engine.resolve_container(target.trim_start_matches('/'))?;
        if !other.state.running {
            return Err(Error::Runtime(format!(
                "Cannot link to a non running container: {} AS {}",
                other.name, alias_path
            )));
        }
        let ip = other.network_settings.ip_address.clone();
        if ip.is_empty() {
            return Err(Error::Runtime(format!(
                "Cannot link to {}: it is not on the default bridge",
                other.name
            )));
        }
        let mut names = vec![alias.to_string(), other.short_id().to_string()];
        if other.bare_name() != alias {
            names.push(other.bare_name().to_string());
        }
        out.hosts.push(format!("{ip}\t{}", names.join(" ")));
        out.env
            .extend(link_env(alias, &format!("{}/{alias}", c.name), &ip, &other));
    }
    Ok(out)
}

/// Docker's link variables for `alias` pointing at `other` at `ip`.
fn link_env(alias: &str, name: &str, ip: &str, other: &Container) -> Vec<String> {
    let prefix: String = alias
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut env = vec![format!("{prefix}_NAME={name}")];
    let mut exposed: Vec<(u16, String)> = other
        .config
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(k, _)| split_port(k).map(|(p, proto)| (p, proto.to_string())))
        .collect();
    exposed.sort();
    if let Some((p, proto)) = exposed.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{p}"));
    }
    for (p, proto) in &exposed {
        let key = format!("{prefix}_PORT_{p}_{}", proto.to_uppercase());
        env.push(format!("{key}={proto}://{ip}:{p}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={p}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    for e in &other.config.env {
        if let Some((k, v)) = e.split_once('=') {
            if !matches!(k, "PATH" | "HOME" | "HOSTNAME") {
                env.push(format!("{prefix}_ENV_{k}={v}"));
            }
        }
    }
    env
}

/// Wire container `c`, whose PID 1 is `pid` (cloned, not yet running): called by its monitor.
/// Fills `c.network_settings`; on error, nothing is left on the host.
pub(crate) fn connect(
    engine: &Engine,
    c: &mut Container,
    host: &HostConfig,
    pid: i32,
    links: &Links,
) -> Result<Wired> {
    if host.network_mode == "host" {
        return Ok(Wired::default());
    }
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns: OwnedFd = File::open(&ns_path).at(&ns_path)?.into();
    let result = wire(engine, c, host, &netns, links);
    if result.is_err() {
        let _ = release(engine, &c.id);
        c.network_settings.clear_runtime();
    } else {
        c.network_settings.sandbox_key = ns_path;
        c.network_settings.sandbox_id = c.id.clone();
    }
    result
}

fn wire(
    engine: &Engine,
    c: &mut Container,
    host: &HostConfig,
    netns: &OwnedFd,
    links: &Links,
) -> Result<Wired> {
    if host.network_mode == "none" {
        // Only `lo`, which PID 1 brought up itself.
        return Ok(Wired::default());
    }
    // Host ports first: one that is taken fails the start before anything is made.
    let bindings = port_bindings(c, host);
    let mut wired = Wired::default();
    let mut reserved = Vec::new();
    let mut shown = std::collections::BTreeMap::new();
    for k in c.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        shown.insert(k.clone(), None);
    }
    for (key, list) in &bindings {
        let Some((cport, proto)) = split_port(key) else {
            continue;
        };
        let mut got = Vec::new();
        for b in list {
            let (fd, host_ip, hport) = reserve(b, proto, &c.name, &c.id)?;
            wired._reserved.push(fd);
            reserved.push((host_ip, hport, cport, proto.to_string()));
            got.push(PortBinding {
                host_ip: host_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                host_port: hport.to_string(),
            });
        }
        shown.insert(key.clone(), Some(got));
    }
    let nl = Netlink::open()?;
    // The container's own network first: it gets eth0 and the default route.
    let mut names: Vec<String> = c.network_settings.networks.keys().cloned().collect();
    names.sort_by_key(|n| *n != host.network_mode);
    let mut first: Option<(String, Ipv4Addr, u8)> = None;
    let mut user_networks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let asked = &c.network_settings.networks[name];
        let aliases = asked.aliases.clone().unwrap_or_default();
        let ip = asked.static_ip();
        let (settings, bridge) = engine.join_network(
            &nl,
            name,
            &Join {
                container_id: &c.id,
                container_name: c.bare_name(),
                aliases: &aliases,
                netns: netns.as_fd(),
                ifname: &format!("eth{i}"),
                default_route: i == 0,
                ip,
            },
        )?;
        let ip: Ipv4Addr = settings.ip_address.parse().expect("an address we gave");
        if first.is_none() {
            first = Some((bridge, ip, settings.ip_prefix_len));
        }
        let network = engine.network(&settings.network_id)?;
        if network.is_default_bridge() {
            let s = &mut c.network_settings;
            s.endpoint_id = settings.endpoint_id.clone();
            s.gateway = settings.gateway.clone();
            s.ip_address = settings.ip_address.clone();
            s.ip_prefix_len = settings.ip_prefix_len;
            s.mac_address = settings.mac_address.clone();
        } else {
            user_networks.push(network.id.clone());
        }
        c.network_settings.networks.insert(name.clone(), settings);
    }
    let Some((bridge, ip, _)) = first else {
        return Ok(Wired::default());
    };

    let mut hosts = String::from(LOOPBACK_HOSTS);
    hosts.push_str(&format!("{ip}\t{}\n", c.config.hostname));
    for l in &links.hosts {
        hosts.push_str(l);
        hosts.push('\n');
    }
    fs::write(&c.hosts_path, hosts).at(&c.hosts_path)?;
    let upstream = upstream_servers(engine, host);
    let resolv = if user_networks.is_empty() {
        resolv_conf(&upstream, false)
    } else {
        resolv_conf(&[EMBEDDED_DNS.to_string()], true)
    };
    fs::write(&c.resolv_conf_path, resolv).at(&c.resolv_conf_path)?;

    let undo = Undo {
        bridge: bridge.clone(),
        ip: Some(ip),
        ports: reserved,
    };
    if !undo.ports.is_empty() {
        // Written first, so that a crash between the two still finds the rules to remove.
        write_atomic(
            &engine.paths.network_undo(&c.id),
            &serde_json::to_vec(&undo).expect("undo"),
        )?;
        Firewall::new()?.publish(&bridge, ip, &undo.rules())?;
    }
    c.network_settings.ports = shown;

    if !user_networks.is_empty() {
        let names = Arc::new(Members {
            engine: engine.clone(),
            container_id: c.id.clone(),
        });
        let upstream = upstream
            .iter()
            .filter_map(|s| s.parse::<Ipv4Addr>().ok())
            .map(|ip| SocketAddr::from((ip, 53)))
            .collect();
        let ns = netns.try_clone().on("network namespace")?;
        Responder::new(names, upstream)
            .spawn_in(ns)
            .on("starting the embedded DNS at 127.0.0.11")?;
    }
    Ok(wired)
}

/// Bindings to publish: `-p`, and with `-P` every exposed port not bound yet.
fn port_bindings(c: &Container, host: &HostConfig) -> ports::PortMap {
    let mut b = host.port_bindings.clone();
    if host.publish_all_ports {
        for k in c.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
            b.entry(k.clone())
                .or_insert_with(|| vec![PortBinding::default()]);
        }
    }
    b
}

/// Hold host port `b` (bound, never listening: traffic goes to the container through DNAT), so no
/// other program or container can take it; a free one if none was given.
fn reserve(
    b: &PortBinding,
    proto: &str,
    name: &str,
    id: &str,
) -> Result<(OwnedFd, Option<Ipv4Addr>, u16)> {
    use nix::sys::socket::{
        bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let host_ip: Option<Ipv4Addr> = match b.host_ip.as_str() {
        "" | "0.0.0.0" => None,
        s => Some(
            s.parse()
                .map_err(|_| Error::Runtime(format!("invalid host IP {s}")))?,
        ),
    };
    let candidates: Vec<u16> = match b.host_port.as_str() {
        "" => vec![0],
        s => {
            let (lo, hi) =
                ports::range(s).ok_or_else(|| Error::Runtime(format!("invalid host port {s}")))?;
            (lo..=hi).collect()
        }
    };
    let ty = if proto == "udp" {
        SockType::Datagram
    } else {
        SockType::Stream
    };
    let shown = format!("{}:{}", ports::host_ip(b), b.host_port);
    for port in &candidates {
        let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| Error::Runtime(format!("reserving {shown}: {e}")))?;
        let addr = SockaddrIn::from(std::net::SocketAddrV4::new(
            host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            *port,
        ));
        match bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
            Ok(()) => {
                let got: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))
                    .map_err(|e| Error::Runtime(format!("reserving {shown}: {e}")))?;
                return Ok((fd, host_ip, got.port()));
            }
            Err(nix::errno::Errno::EADDRINUSE) => continue,
            Err(e) => return Err(Error::Runtime(format!("reserving {shown}: {e}"))),
        }
    }
    Err(Error::Runtime(format!(
        "driver failed programming external connectivity on endpoint {} ({}): Bind for {shown} failed: port is already allocated",
        name.trim_start_matches('/'),
        id
    )))
}

/// Name servers for the container: `--dns`, else daemon.json's `dns`, else the host's (without
/// loopback ones, which a container cannot reach).
fn upstream_servers(engine: &Engine, host: &HostConfig) -> Vec<String> {
    if !host.dns.is_empty() {
        return host.dns.clone();
    }
    if !engine.config.dns.is_empty() {
        return engine.config.dns.clone();
    }
    fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.starts_with("127.") && s != "::1")
        .collect()
}

/// `/etc/resolv.conf` as made at create: the host's own with `--network host`, else the name servers
/// of `upstream_servers` (a user-defined network's container gets 127.0.0.11 at start).
pub(crate) fn initial_resolv_conf(engine: &Engine, host: &HostConfig) -> String {
    if host.network_mode == "host" {
        return fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    resolv_conf(&upstream_servers(engine, host), false)
}

/// A resolv.conf with `servers`, and the host's `search` and `options` lines.
pub(crate) fn resolv_conf(servers: &[String], embedded: bool) -> String {
    let mut out: String = servers
        .iter()
        .map(|s| format!("nameserver {s}\n"))
        .collect();
    for l in fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
    {
        if l.starts_with("search") || (l.starts_with("options") && !embedded) {
            out.push_str(l);
            out.push('\n');
        }
    }
    if embedded {
        out.push_str("options ndots:0\n");
    }
    out
}

/// Undo a container's networking once its PID 1 is gone: its published ports' rules and its
/// endpoints (its veths go with its namespace). Safe to call more than once, and after a crash.
pub(crate) fn release(engine: &Engine, id: &str) -> Result<()> {
    let undo_path = engine.paths.network_undo(id);
    if let Ok(bytes) = fs::read(&undo_path) {
        if let Ok(undo) = serde_json::from_slice::<Undo>(&bytes) {
            if let (Some(ip), false) = (undo.ip, undo.ports.is_empty()) {
                Firewall::new()?.unpublish(&undo.bridge, ip, &undo.rules())?;
            }
        }
        let _ = fs::remove_file(&undo_path);
    }
    engine.leave_all_networks(id)
}

/// The names a container's embedded DNS answers: every member of the user-defined networks the
/// container is on now (`network connect` and `disconnect` count at once).
struct Members {
    engine: Engine,
    container_id: String,
}

impl Members {
    fn networks(&self) -> Vec<crate::network::Network> {
        let Ok(Some(c)) = self.engine.load_container(&self.container_id) else {
            return Vec::new();
        };
        c.network_settings
            .networks
            .values()
            .filter_map(|e| self.engine.network(&e.network_id).ok())
            .filter(|n| n.driver == "bridge" && !n.is_default_bridge())
            .collect()
    }
}

impl Names for Members {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let mut found = Vec::new();
        for n in self.networks() {
            for (cid, ep) in &n.containers {
                let hit = ep.name.eq_ignore_ascii_case(name)
                    || (name.len() >= 12 && cid.starts_with(name))
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                if let (true, Some(ip)) = (hit, ep.ip()) {
                    found.push(ip);
                }
            }
        }
        (!found.is_empty()).then_some(found)
    }

    fn reverse(&self, addr: Ipv4Addr) -> Option<String> {
        self.networks().into_iter().find_map(|n| {
            n.containers
                .values()
                .find(|ep| ep.ip() == Some(addr))
                .map(|ep| format!("{}.{}", ep.name, n.name))
        })
    }
}

impl NetworkSettings {
    /// Forget what only holds while running (addresses, endpoints, published ports).
    pub fn clear_runtime(&mut self) {
        self.sandbox_id.clear();
        self.sandbox_key.clear();
        self.ports.clear();
        self.endpoint_id.clear();
        self.gateway.clear();
        self.ip_address.clear();
        self.ip_prefix_len = 0;
        self.mac_address.clear();
        for e in self.networks.values_mut() {
            e.endpoint_id.clear();
            e.gateway.clear();
            e.ip_address.clear();
            e.ip_prefix_len = 0;
            e.mac_address.clear();
            e.dns_names = None;
        }
    }
}
