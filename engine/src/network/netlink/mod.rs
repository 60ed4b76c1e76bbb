//! Links through rtnetlink: bridges, veth pairs, addresses, routes.
//!
//! A small synchronous facade: each [`Netlink`] owns one netlink socket, bound to the network
//! namespace it was made in, and a current-thread tokio runtime that drives it only while a call
//! runs (no background thread, no sleeps, no processes).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use netlink_packet_route::AddressFamily;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, TokioSocket};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::runtime::Runtime;

#[cfg(test)]
mod tests;

/// A netlink operation failed: what was being done (naming the interface) and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {error}")]
pub struct NetlinkError {
    op: String,
    error: io::Error,
}

impl NetlinkError {
    fn new(op: impl Into<String>, error: io::Error) -> NetlinkError {
        NetlinkError {
            op: op.into(),
            error,
        }
    }

    fn errno(op: impl Into<String>, errno: i32) -> NetlinkError {
        NetlinkError::new(op, io::Error::from_raw_os_error(errno))
    }

    /// What was being done, e.g. "creating bridge br-1234".
    pub fn operation(&self) -> &str {
        &self.op
    }

    /// The errno the kernel answered (e.g. `libc::EEXIST`), if the failure carries one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

/// The kernel's errno in an rtnetlink error, if it is one.
fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

/// Attach the operation to an rtnetlink result.
trait Op<T> {
    fn op(self, op: impl FnOnce() -> String) -> Result<T, NetlinkError>;
}

impl<T> Op<T> for Result<T, rtnetlink::Error> {
    fn op(self, op: impl FnOnce() -> String) -> Result<T, NetlinkError> {
        self.map_err(|e| {
            let error = match e {
                rtnetlink::Error::NetlinkError(m) => m.to_io(),
                other => io::Error::other(other.to_string()),
            };
            NetlinkError::new(op(), error)
        })
    }
}

/// What [`Netlink::add_veth`] makes: a veth pair from a bridge to an interface in a namespace.
#[derive(Debug, Clone, Copy)]
pub struct VethSpec<'a> {
    /// Host end, e.g. "veth1a2b3c4" (at most 15 bytes), enslaved to `bridge` and set up.
    pub host_name: &'a str,
    /// Bridge the host end joins.
    pub bridge: &'a str,
    /// The container's network namespace (an fd of /proc/PID/ns/net).
    pub netns: BorrowedFd<'a>,
    /// Name of the namespace end, e.g. "eth0"; must not exist there yet.
    pub ifname: &'a str,
    /// MAC address of the namespace end.
    pub mac: [u8; 6],
    /// IPv4 address of the namespace end.
    pub addr: Ipv4Addr,
    /// Prefix length of `addr`.
    pub prefix: u8,
    /// Default route via this gateway (the bridge address); None for a second interface.
    pub gateway: Option<Ipv4Addr>,
}

/// A netlink connection bound to one network namespace, driven by a current-thread tokio runtime.
pub struct Netlink {
    // Dropped before the runtime, which then cancels the connection task.
    handle: Handle,
    rt: Runtime,
}

impl Netlink {
    /// Connect in the caller's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let socket = Socket::new(NETLINK_ROUTE)
            .map_err(|e| NetlinkError::new("opening netlink socket", e))?;
        // SAFETY: the fd was just taken out of `socket`, which no longer owns it.
        Netlink::from_fd(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
    }

    /// Connect inside the namespace `netns` (an fd of /proc/PID/ns/net): the socket is made on a
    /// short-lived thread that setns()es into it, so the caller's thread never changes namespace.
    pub fn open_in(netns: BorrowedFd) -> Result<Netlink, NetlinkError> {
        Netlink::open_in_after(netns, || Ok(()))
    }

    /// [`Netlink::open_in`], running `first` inside the namespace on the same thread (for the
    /// namespace's own `/proc/sys/net`).
    fn open_in_after(
        netns: BorrowedFd,
        first: impl FnOnce() -> io::Result<()> + Send,
    ) -> Result<Netlink, NetlinkError> {
        let made = std::thread::scope(|s| {
            s.spawn(move || -> io::Result<OwnedFd> {
                nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                first()?;
                let socket = Socket::new(NETLINK_ROUTE)?;
                // SAFETY: the fd was just taken out of `socket`, which no longer owns it.
                Ok(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        });
        let fd = made.map_err(|e| NetlinkError::new("opening netlink socket in namespace", e))?;
        Netlink::from_fd(fd)
    }

    fn from_fd(fd: OwnedFd) -> Result<Netlink, NetlinkError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| NetlinkError::new("starting the netlink runtime", e))?;
        let socket = {
            // Registering the fd with the IO driver needs the runtime's context.
            let _context = rt.enter();
            // SAFETY: `fd` is an open netlink socket that we own and hand over.
            unsafe { TokioSocket::from_raw_fd(fd.into_raw_fd()) }
        };
        let (connection, handle, _unsolicited) = rtnetlink::from_socket(socket);
        rt.spawn(connection);
        Ok(Netlink { handle, rt })
    }

    fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Index of the link named `name`, None if absent.
    pub fn link_index(&self, name: &str) -> Result<Option<u32>, NetlinkError> {
        self.run(link_index(&self.handle, name))
    }

    /// Create bridge `name`, up, with `addr/prefix`, a fixed random MAC and ifalias `alias` (e.g.
    /// "baleia:<roothash>:<network id>", for finding it again); EEXIST if it exists.
    pub fn create_bridge(
        &self,
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
        alias: &str,
    ) -> Result<(), NetlinkError> {
        let op = || format!("creating bridge {name}");
        let h = &self.handle;
        self.run(async {
            // An explicit (random, locally administered) MAC: otherwise the bridge takes its
            // lowest port's, which changes as containers come and go and stales their ARP caches.
            let mut mac: [u8; 6] = rand::random();
            mac[0] = (mac[0] & 0xfe) | 0x02;
            // IFLA_IFALIAS is ignored on RTM_NEWLINK, hence the separate set below.
            h.link()
                .add(LinkBridge::new(name).address(mac.to_vec()).build())
                .execute()
                .await
                .op(op)?;
            let made = async {
                let index = link_index(h, name)
                    .await?
                    .ok_or_else(|| NetlinkError::errno(op(), libc::ENODEV))?;
                h.link()
                    .set(LinkUnspec::new_with_index(index).alias(alias).build())
                    .execute()
                    .await
                    .op(|| format!("setting alias of bridge {name}"))?;
                h.address()
                    .add(index, IpAddr::V4(addr), prefix)
                    .execute()
                    .await
                    .op(|| format!("adding address {addr}/{prefix} to bridge {name}"))
            }
            .await;
            if made.is_err() {
                let _ = delete_link(h, name).await;
            }
            made
        })
    }

    /// Delete link `name` (for a veth, both ends); Ok(false) if it did not exist.
    pub fn delete_link(&self, name: &str) -> Result<bool, NetlinkError> {
        self.run(delete_link(&self.handle, name))
    }

    /// (name, alias) of every link whose ifalias starts with `prefix`.
    pub fn links_with_alias(&self, prefix: &str) -> Result<Vec<(String, String)>, NetlinkError> {
        let links: Vec<LinkMessage> = self
            .run(self.handle.link().get().execute().try_collect())
            .op(|| "listing links".to_string())?;
        let mut found = Vec::new();
        for link in links {
            let (mut name, mut alias) = (None, None);
            for attr in link.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n),
                    LinkAttribute::IfAlias(a) => alias = Some(a),
                    _ => {}
                }
            }
            if let (Some(name), Some(alias)) = (name, alias) {
                if alias.starts_with(prefix) {
                    found.push((name, alias));
                }
            }
        }
        Ok(found)
    }

    /// The ifalias of link `name`: None if there is no such link, `Some("")` if it has none.
    pub fn alias_of(&self, name: &str) -> Result<Option<String>, NetlinkError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        let link = match self.run(links.try_next()) {
            Ok(l) => l,
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => None,
            Err(e) => return Err(e).op(|| format!("looking up link {name}")),
        };
        Ok(link.map(|l| {
            l.attributes
                .into_iter()
                .find_map(|a| match a {
                    LinkAttribute::IfAlias(a) => Some(a),
                    _ => None,
                })
                .unwrap_or_default()
        }))
    }

    /// IPv4 destinations (network, prefix len) of the main routing table's routes, for choosing
    /// subnets that overlap none (the default route is 0.0.0.0/0: callers skip prefix 0).
    pub fn routes_v4(&self) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<_> = self
            .run(self.handle.route().get(query).execute().try_collect())
            .op(|| "listing routes".to_string())?;
        let mut found = Vec::new();
        for route in routes {
            if route.header.address_family != AddressFamily::Inet {
                continue;
            }
            let mut table = u32::from(route.header.table);
            let mut dst = Ipv4Addr::UNSPECIFIED;
            for attr in &route.attributes {
                match attr {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = *a,
                    _ => {}
                }
            }
            if table == u32::from(RouteHeader::RT_TABLE_MAIN) {
                found.push((dst, route.header.destination_prefix_length));
            }
        }
        Ok(found)
    }

    /// IPv4 addresses (address, prefix len) of link `name`.
    pub fn addrs_v4(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let h = &self.handle;
        self.run(async {
            let Some(index) = link_index(h, name).await? else {
                return Err(NetlinkError::errno(
                    format!("listing addresses of {name}"),
                    libc::ENODEV,
                ));
            };
            let addrs: Vec<_> = h
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .op(|| format!("listing addresses of {name}"))?;
            let mut found = Vec::new();
            for a in addrs {
                let (mut local, mut address) = (None, None);
                for attr in &a.attributes {
                    match attr {
                        AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
                        AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
                        _ => {}
                    }
                }
                if let Some(ip) = local.or(address) {
                    found.push((ip, a.header.prefix_len));
                }
            }
            Ok(found)
        })
    }

    /// Wire a container: a veth pair whose host end `spec.host_name` is enslaved to `spec.bridge`
    /// and up, and whose other end is created directly inside `spec.netns` as `spec.ifname` with
    /// `spec.mac`; then, in the namespace: `addr/prefix`, the interface up, and a default
    /// route via `spec.gateway` if Some. On failure the pair is deleted before returning.
    pub fn add_veth(&self, spec: &VethSpec) -> Result<(), NetlinkError> {
        let op = || format!("creating veth {} on bridge {}", spec.host_name, spec.bridge);
        let bridge = self
            .link_index(spec.bridge)?
            .ok_or_else(|| NetlinkError::errno(op(), libc::ENODEV))?;
        // The peer is made in the namespace (IFLA_NET_NS_FD) with its name and MAC. It cannot be
        // set up here: the kernel opens it before pairing it (ENOTCONN), so that is done below.
        let peer = LinkUnspec::new_with_name(spec.ifname)
            .address(spec.mac.to_vec())
            .setns_by_fd(spec.netns.as_raw_fd())
            .build();
        let pair = LinkVeth::new(spec.host_name, spec.ifname)
            .controller(bridge)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        self.run(self.handle.link().add(pair).execute()).op(op)?;
        let configured = configure_peer(spec);
        if configured.is_err() {
            // Deleting the host end deletes its peer too.
            let _ = self.delete_link(spec.host_name);
        }
        configured
    }
}

/// Inside the namespace: interface up, address, default route (PID 1 brings its `lo` up).
fn configure_peer(spec: &VethSpec) -> Result<(), NetlinkError> {
    // An IPv4 network: no IPv6 link-local chatter from the container (Docker does the same).
    let ifname = spec.ifname;
    let ns = Netlink::open_in_after(spec.netns, move || {
        let p = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
        match std::fs::write(p, "1") {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    })?;
    let h = &ns.handle;
    let ifname = spec.ifname;
    ns.run(async {
        let index = link_index(h, ifname).await?.ok_or_else(|| {
            NetlinkError::errno(format!("finding {ifname} in namespace"), libc::ENODEV)
        })?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .op(|| format!("setting {ifname} up"))?;
        h.address()
            .add(index, IpAddr::V4(spec.addr), spec.prefix)
            .execute()
            .await
            .op(|| format!("adding address {}/{} to {ifname}", spec.addr, spec.prefix))?;
        if let Some(gateway) = spec.gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gateway)
                .output_interface(index)
                .build();
            h.route()
                .add(route)
                .execute()
                .await
                .op(|| format!("adding default route via {gateway} dev {ifname}"))?;
        }
        Ok(())
    })
}

async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>, NetlinkError> {
    let mut links = h.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e).op(|| format!("looking up link {name}")),
    }
}

async fn delete_link(h: &Handle, name: &str) -> Result<bool, NetlinkError> {
    let message = LinkUnspec::new_with_name(name).build();
    match h.link().del_with_message(message).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(e).op(|| format!("deleting link {name}")),
    }
}

/// Write a per-interface sysctl, /proc/sys/net/ipv4/conf/<ifname>/<key> (e.g. forwarding,
/// route_localnet), in the caller's network namespace.
pub fn set_ipv4_conf(ifname: &str, key: &str, value: &str) -> io::Result<()> {
    let bad = |s: &str| s.is_empty() || s.contains('/') || s == "." || s == "..";
    if bad(ifname) || bad(key) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl name {ifname}/{key}"),
        ));
    }
    std::fs::write(format!("/proc/sys/net/ipv4/conf/{ifname}/{key}"), value)
}
