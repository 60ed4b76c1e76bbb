//! Root-only tests: they make bridges, veth pairs and namespaces named `baleia9…`/`bltest…` and
//! remove them (a `Fixture` deletes them on drop, even after a panic). Packets go only to
//! addresses the tests assign.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

fn hex4() -> String {
    format!("{:04x}", rand::random::<u16>())
}

fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn ip_ok(args: &[&str]) -> String {
    let (ok, text) = ip(args);
    assert!(ok, "ip {args:?}: {text}");
    text
}

/// Destinations of `ip -4 route show table main`, parsed independently of the module.
fn ip_routes() -> Vec<(Ipv4Addr, u8)> {
    ip_ok(&["-4", "route", "show", "table", "main"])
        .lines()
        .filter_map(|line| {
            let dst = line.split_whitespace().next()?;
            if dst == "default" {
                return Some((Ipv4Addr::UNSPECIFIED, 0));
            }
            let (addr, len) = dst.split_once('/').unwrap_or((dst, "32"));
            Some((addr.parse().ok()?, len.parse().ok()?))
        })
        .collect()
}

fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(a.0) & mask == u32::from(b.0) & mask
}

/// A 10.213.x.0/24 that overlaps no non-default route of the host.
fn free_subnet() -> u8 {
    let routes = ip_routes();
    loop {
        let x = rand::random::<u8>().max(1);
        let net = (Ipv4Addr::new(10, 213, x, 0), 24);
        if !routes.iter().any(|r| r.1 > 0 && overlaps(*r, net)) {
            return x;
        }
    }
}

/// Links and namespaces a test made; all deleted (with `ip`) on drop.
#[derive(Default)]
struct Fixture {
    links: Vec<String>,
    netns: Vec<(String, Option<File>)>,
}

impl Fixture {
    fn link(&mut self, name: &str) -> String {
        self.links.push(name.to_string());
        name.to_string()
    }

    /// A fresh namespace `bltest-xxxx`, kept open (see `netns_fd`).
    fn netns(&mut self) -> String {
        let name = format!("bltest-{}", hex4());
        ip_ok(&["netns", "add", &name]);
        self.netns.push((name.clone(), None));
        let file = File::open(format!("/var/run/netns/{name}")).expect("opening netns");
        self.netns.last_mut().unwrap().1 = Some(file);
        name
    }

    fn netns_fd(&self, name: &str) -> BorrowedFd<'_> {
        let (_, file) = self.netns.iter().find(|(n, _)| n == name).unwrap();
        file.as_ref().unwrap().as_fd()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for link in &self.links {
            let _ = ip(&["link", "del", link]);
        }
        for (name, file) in self.netns.drain(..) {
            drop(file);
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

fn mac(last: u8) -> [u8; 6] {
    [0x02, 0x42, 0x0a, 0xd5, 0x00, last]
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Connect over TCP from namespace `netns` to a listener on `addr` in ours (both test-made).
fn tcp_reaches(netns: BorrowedFd, addr: Ipv4Addr) -> bool {
    let listener =
        TcpListener::bind(SocketAddrV4::new(addr, 0)).expect("binding on bridge address");
    let port = listener.local_addr().unwrap().port();
    let connected = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let target = SocketAddrV4::new(addr, port).into();
            TcpStream::connect_timeout(&target, Duration::from_secs(3)).is_ok()
        })
        .join()
        .unwrap()
    });
    connected && listener.accept().is_ok()
}

#[test]
fn bridge_alias_lookup_and_delete() {
    let mut fx = Fixture::default();
    let x = free_subnet();
    let tag = hex4();
    let br = fx.link(&format!("baleia9{tag}"));
    let alias = format!("baleia:bltest{tag}:net1");
    let nl = Netlink::open().unwrap();

    assert_eq!(nl.link_index(&br).unwrap(), None);
    nl.create_bridge(&br, Ipv4Addr::new(10, 213, x, 1), 24, &alias)
        .unwrap();
    assert!(nl.link_index(&br).unwrap().is_some());
    assert_eq!(
        nl.links_with_alias(&format!("baleia:bltest{tag}:"))
            .unwrap(),
        vec![(br.clone(), alias.clone())]
    );
    assert_eq!(
        nl.addrs_v4(&br).unwrap(),
        vec![(Ipv4Addr::new(10, 213, x, 1), 24)]
    );
    let shown = ip_ok(&["-o", "link", "show", &br]);
    assert!(shown.contains(",UP") || shown.contains("<UP"), "{shown}");
    assert!(ip_ok(&["-d", "link", "show", &br]).contains(&alias));

    let err = nl
        .create_bridge(&br, Ipv4Addr::new(10, 213, x, 1), 24, &alias)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    assert!(
        err.to_string()
            .starts_with(&format!("creating bridge {br}: ")),
        "{err}"
    );

    assert!(nl.delete_link(&br).unwrap());
    assert!(!nl.delete_link(&br).unwrap());
    assert_eq!(nl.link_index(&br).unwrap(), None);
    assert!(nl
        .links_with_alias(&format!("baleia:bltest{tag}:"))
        .unwrap()
        .is_empty());
}

#[test]
fn add_veth_wires_eth0_then_eth1() {
    let mut fx = Fixture::default();
    let (x, y) = (free_subnet(), free_subnet());
    let tag = hex4();
    let (br0, br1) = (
        fx.link(&format!("baleia9{tag}a")),
        fx.link(&format!("baleia9{tag}b")),
    );
    let (host0, host1) = (
        fx.link(&format!("bltest{tag}a")),
        fx.link(&format!("bltest{tag}b")),
    );
    let ns = fx.netns();
    let nl = Netlink::open().unwrap();
    let (gw0, gw1) = (Ipv4Addr::new(10, 213, x, 1), Ipv4Addr::new(10, 213, y, 1));
    nl.create_bridge(&br0, gw0, 24, "bltest").unwrap();
    nl.create_bridge(&br1, gw1, 24, "bltest").unwrap();
    let netns = fx.netns_fd(&ns);
    let bridge_mac = || {
        ip_ok(&["-o", "link", "show", &br0])
            .split("link/ether ")
            .nth(1)
            .unwrap()[..17]
            .to_string()
    };
    let mac_before = bridge_mac();

    let spec = VethSpec {
        host_name: &host0,
        bridge: &br0,
        netns,
        ifname: "eth0",
        mac: mac(2),
        addr: Ipv4Addr::new(10, 213, x, 2),
        prefix: 24,
        gateway: Some(gw0),
    };
    nl.add_veth(&spec).unwrap();

    let eth0 = ip_ok(&["-n", &ns, "addr", "show", "eth0"]);
    assert!(eth0.contains(&format!("inet 10.213.{x}.2/24")), "{eth0}");
    assert!(eth0.contains(&mac_text(mac(2))), "{eth0}");
    assert!(eth0.contains("state UP") || eth0.contains(",UP"), "{eth0}");
    let routes = ip_ok(&["-n", &ns, "-4", "route"]);
    assert!(
        routes.contains(&format!("default via {gw0} dev eth0")),
        "{routes}"
    );
    let ports = ip_ok(&["link", "show", "master", &br0]);
    assert!(ports.contains(&host0), "{ports}");
    assert!(ip_ok(&["-o", "link", "show", &host0]).contains(",UP"));
    assert!(tcp_reaches(netns, gw0), "no TCP from {ns} to {gw0}");
    assert_eq!(bridge_mac(), mac_before, "the bridge took its port's MAC");
    let inside = Netlink::open_in(netns).unwrap();
    assert_eq!(
        inside.addrs_v4("eth0").unwrap(),
        vec![(Ipv4Addr::new(10, 213, x, 2), 24)]
    );
    assert_eq!(inside.link_index(&host0).unwrap(), None);

    // A second interface (`network connect`): no default route.
    let spec1 = VethSpec {
        host_name: &host1,
        bridge: &br1,
        ifname: "eth1",
        mac: mac(3),
        addr: Ipv4Addr::new(10, 213, y, 2),
        gateway: None,
        ..spec
    };
    nl.add_veth(&spec1).unwrap();
    let eth1 = ip_ok(&["-n", &ns, "addr", "show", "eth1"]);
    assert!(eth1.contains(&format!("inet 10.213.{y}.2/24")), "{eth1}");
    let routes = ip_ok(&["-n", &ns, "-4", "route"]);
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    assert!(
        routes.contains(&format!("10.213.{y}.0/24 dev eth1")),
        "{routes}"
    );
    assert!(ip_ok(&["link", "show", "master", &br1]).contains(&host1));
    assert!(tcp_reaches(netns, gw1), "no TCP from {ns} to {gw1}");

    // Deleting the host end removes the namespace end.
    assert!(nl.delete_link(&host0).unwrap());
    assert_eq!(inside.link_index("eth0").unwrap(), None);
}

#[test]
fn add_veth_failures_leave_nothing() {
    let mut fx = Fixture::default();
    let x = free_subnet();
    let tag = hex4();
    let br = fx.link(&format!("baleia9{tag}"));
    let host = fx.link(&format!("bltest{tag}"));
    let ns = fx.netns();
    let nl = Netlink::open().unwrap();
    let netns = fx.netns_fd(&ns);
    let gw = Ipv4Addr::new(10, 213, x, 1);
    let spec = VethSpec {
        host_name: &host,
        bridge: &br,
        netns,
        ifname: "eth0",
        mac: mac(2),
        addr: Ipv4Addr::new(10, 213, x, 2),
        prefix: 24,
        gateway: Some(gw),
    };
    let no_veth = || {
        assert_eq!(nl.link_index(&host).unwrap(), None);
        assert!(!ip(&["-n", &ns, "link", "show", "eth0"]).0);
    };

    // No such bridge.
    let err = nl.add_veth(&spec).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
    no_veth();

    // Made, then the route fails (gateway off the subnet): the pair is deleted.
    nl.create_bridge(&br, gw, 24, "bltest").unwrap();
    let off = VethSpec {
        gateway: Some(Ipv4Addr::new(10, 213, x.wrapping_add(1), 1)),
        ..spec
    };
    let err = nl.add_veth(&off).unwrap_err();
    assert!(
        err.to_string().starts_with("adding default route via"),
        "{err}"
    );
    no_veth();
    assert!(ip_ok(&["link", "show", "master", &br]).trim().is_empty());

    // The namespace already has the interface name: nothing made on the host.
    ip_ok(&["-n", &ns, "link", "add", "eth0", "type", "bridge"]);
    let err = nl.add_veth(&spec).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
    assert_eq!(nl.link_index(&host).unwrap(), None);
    ip_ok(&["-n", &ns, "link", "del", "eth0"]);

    // And the same spec works afterwards.
    nl.add_veth(&spec).unwrap();
    assert!(nl.link_index(&host).unwrap().is_some());
}

#[test]
fn routes_v4_matches_ip_route() {
    let nl = Netlink::open().unwrap();
    let ours = nl.routes_v4().unwrap();
    let theirs = ip_routes();
    assert!(!theirs.is_empty());
    for route in &theirs {
        assert!(ours.contains(route), "{route:?} missing from {ours:?}");
    }
    assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
}

#[test]
fn set_ipv4_conf_rejects_paths() {
    assert!(set_ipv4_conf("../all", "forwarding", "1").is_err());
    assert!(set_ipv4_conf("lo", "..", "1").is_err());
}

#[test]
fn set_ipv4_conf_writes() {
    let mut fx = Fixture::default();
    let tag = hex4();
    let br = fx.link(&format!("baleia9{tag}"));
    let nl = Netlink::open().unwrap();
    nl.create_bridge(&br, Ipv4Addr::new(10, 213, free_subnet(), 1), 24, "bltest")
        .unwrap();
    let path = format!("/proc/sys/net/ipv4/conf/{br}/route_localnet");
    set_ipv4_conf(&br, "route_localnet", "1").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "1");
    set_ipv4_conf(&br, "route_localnet", "0").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "0");
}

/// Times `open` + `add_veth` into fresh namespaces (run with --nocapture to see the numbers).
#[test]
fn add_veth_timing() {
    const N: usize = 10;
    let mut fx = Fixture::default();
    let x = free_subnet();
    let tag = hex4();
    let br = fx.link(&format!("baleia9{tag}"));
    let gw = Ipv4Addr::new(10, 213, x, 1);
    let t = Instant::now();
    Netlink::open()
        .unwrap()
        .create_bridge(&br, gw, 24, "bltest")
        .unwrap();
    let bridge_time = t.elapsed();
    let names: Vec<String> = (0..N).map(|_| fx.netns()).collect();
    let hosts: Vec<String> = (0..N)
        .map(|i| fx.link(&format!("bltest{tag}{i:x}")))
        .collect();
    let mut times = Vec::new();
    for i in 0..N {
        let spec = VethSpec {
            host_name: &hosts[i],
            bridge: &br,
            netns: fx.netns_fd(&names[i]),
            ifname: "eth0",
            mac: mac(10 + i as u8),
            addr: Ipv4Addr::new(10, 213, x, 10 + i as u8),
            prefix: 24,
            gateway: Some(gw),
        };
        let t = Instant::now();
        Netlink::open().unwrap().add_veth(&spec).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "create_bridge {bridge_time:?}; open+add_veth x{N}: min {:?} median {:?} max {:?}",
        times[0],
        times[N / 2],
        times[N - 1]
    );
    assert!(times[N / 2] < Duration::from_millis(50), "{times:?}");
}
