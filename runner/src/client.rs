//! The lab's clients: network namespaces that play another computer (the notes' `curl
//! http://ip-host:8080` made from a machine outside the host). Each is a namespace
//! `blab-<name>-<tag>` whose `eth0` (`10.215.N.2/24`) is the peer of a veth `blab<tag>` on the host
//! (`10.215.N.1/24`), on the first free `10.215.N.0/24` that overlaps no route and no address of
//! the host. Inside: `lo` up and a default route via the host's end. Forwarding is switched on for
//! the host's end of the link only (what lets the client reach published ports), never globally,
//! and a rule of the host's `mangle` table (its `FORWARD` chain, which comes before any the engines
//! write in `filter`) drops whatever comes from the client's link and was not sent to a published
//! port (not DNAT'd): the client reaches the host's addresses and
//! the containers' published ports, as a machine on the host's LAN would, and nothing it sends is
//! ever forwarded off the machine.
//!
//! Everything is removed when [`Clients`] is dropped (on a panic too).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};
use nix::sched::{setns, CloneFlags};

/// Why clients could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An `ip` command failed.
    #[error("`ip {args}` failed: {stderr}")]
    Ip {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// An `iptables` command failed.
    #[error("`iptables {args}` failed: {stderr}")]
    Iptables {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// Every 10.215.N.0/24 overlaps a route or an address of the host.
    #[error("no free 10.215.N.0/24 for client {0}: every one overlaps a route or an address of the host")]
    NoFreeSubnet(String),
    /// A name that cannot be part of a namespace's name.
    #[error("client name {0:?}: use letters, digits and '-' (at most 32)")]
    BadName(String),
    /// Another failure (running `ip`, the lock, sysctl).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ClientError {
    let what = what.into();
    move |source| ClientError::Io { what, source }
}

/// One client: its namespace, and both ends of its link.
#[derive(Debug)]
pub struct Client {
    name: String,
    netns: String,
    host_if: String,
    host_ip: Ipv4Addr,
    ip: Ipv4Addr,
    /// The guard rule is in place (removed on drop).
    guarded: bool,
}

impl Client {
    /// The name the lab gave it (`outside`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its network namespace's name (`blab-outside-1a2b3c`), as `ip netns` knows it.
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// Its network namespace's file, for `setns`.
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }
    /// The host's end of its link (`blab1a2b3c`).
    pub fn host_if(&self) -> &str {
        &self.host_if
    }
    /// The host's address on the link: what the client reaches the host at
    /// (`{{ client("outside").host_ip }}`).
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }
    /// The client's own address (its `eth0`).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }
    /// A command run inside the client (`ip netns exec NS program`): a terminal's shell, `curl`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(program);
        c
    }
    /// Run `f` on a thread of its own inside the client's network namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        in_netns(&self.netns_path(), f)
    }

    fn make(name: &str) -> Result<Client, ClientError> {
        if name.is_empty()
            || name.len() > 32
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ClientError::BadName(name.into()));
        }
        let tag = tag();
        let mut c = Client {
            name: name.into(),
            netns: format!("blab-{name}-{tag}"),
            host_if: format!("blab{tag}"),
            host_ip: Ipv4Addr::UNSPECIFIED,
            ip: Ipv4Addr::UNSPECIFIED,
            guarded: false,
        };
        // From here on, dropping `c` removes whatever was made.
        ip(&["netns", "add", &c.netns])?;
        // The guard before the link: nothing from the client is forwarded unless it was DNAT'd.
        iptables(&c.forward_rule("-I"))?;
        c.guarded = true;
        ip(&[
            "link", "add", &c.host_if, "type", "veth", "peer", "name", "eth0", "netns", &c.netns,
        ])?;
        {
            // Choosing the subnet and taking it are one step for the runners of this machine.
            let _lock = lock()?;
            let n = free_subnet(name)?;
            c.host_ip = Ipv4Addr::new(10, 215, n, 1);
            c.ip = Ipv4Addr::new(10, 215, n, 2);
            ip(&[
                "addr",
                "add",
                &format!("{}/24", c.host_ip),
                "dev",
                &c.host_if,
            ])?;
        }
        let ns = c.netns.clone();
        ip(&["link", "set", &c.host_if, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", c.ip),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &c.host_ip.to_string(),
        ])?;
        let sysctl = format!("/proc/sys/net/ipv4/conf/{}/forwarding", c.host_if);
        std::fs::write(&sysctl, "1").map_err(io_err(format!("writing {sysctl}")))?;
        Ok(c)
    }

    /// `iptables` arguments that insert (`-I`) or delete (`-D`) the client's guard in `mangle`'s
    /// `FORWARD`.
    fn forward_rule<'a>(&'a self, op: &'a str) -> Vec<&'a str> {
        let mut v = vec!["-t", "mangle", op, "FORWARD"];
        if op == "-I" {
            v.push("1");
        }
        v.extend([
            "-i",
            &self.host_if,
            "-m",
            "conntrack",
            "!",
            "--ctstate",
            "DNAT",
            "-m",
            "comment",
            "--comment",
            GUARD_COMMENT,
            "-j",
            "DROP",
        ]);
        v
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Deleting either end of a veth deletes both; the namespace goes with its last user.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        if self.guarded {
            let _ = iptables(&self.forward_rule("-D"));
        }
    }
}

/// The lab's clients, by name; all removed when dropped.
#[derive(Debug, Default)]
pub struct Clients {
    list: Vec<Client>,
}

impl Clients {
    /// No clients (a lab without `clients`).
    pub fn none() -> Clients {
        Clients::default()
    }

    /// Make one client per name. On an error, those already made are removed.
    pub fn create<S: AsRef<str>>(names: &[S]) -> Result<Clients, ClientError> {
        let mut clients = Clients::none();
        for name in names {
            clients.list.push(Client::make(name.as_ref())?);
        }
        Ok(clients)
    }

    /// The client called `name`.
    pub fn get(&self, name: &str) -> Option<&Client> {
        self.list.iter().find(|c| c.name == name)
    }

    /// All of them, in the lab's order.
    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.list.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The addresses of both ends of every client's link (the lab's own, for the port guard).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.list
            .iter()
            .flat_map(|c| [IpAddr::V4(c.host_ip), IpAddr::V4(c.ip)])
            .collect()
    }
}

/// Run `f` on a new thread that has joined the network namespace at `ns` (a `/run/netns/NAME` or a
/// `/proc/PID/ns/net`): sockets it makes live there. The calling thread stays where it is.
pub fn in_netns<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let file = File::open(ns)?;
    std::thread::Builder::new()
        .name("baleia-lab-netns".into())
        .spawn(move || -> io::Result<T> {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            drop(file);
            Ok(f())
        })?
        .join()
        .map_err(|_| io::Error::other("the thread in the namespace panicked"))?
}

fn ip(args: &[&str]) -> Result<String, ClientError> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(io_err("running ip"))?;
    if !o.status.success() {
        return Err(ClientError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The comment that marks a client's guard rule.
const GUARD_COMMENT: &str = "baleia-lab client: published ports only";

/// Remove the guard rules of clients whose link is gone (a runner that was killed before it
/// could drop its clients); the guards of live clients stay.
pub fn sweep_stale_guards() {
    let Ok(o) = Command::new("iptables")
        .args(["-w", "-t", "mangle", "-S", "FORWARD"])
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if !line.contains(GUARD_COMMENT) {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(link) = words
            .iter()
            .position(|w| *w == "-i")
            .and_then(|i| words.get(i + 1))
        else {
            continue;
        };
        if Path::new("/sys/class/net").join(link).exists() {
            continue;
        }
        // `-A FORWARD …` → `-D FORWARD …`; the comment's quotes are shell quoting: drop them.
        let spec = line.replacen("-A FORWARD", "-D FORWARD", 1);
        let mut args: Vec<String> = vec!["-t".into(), "mangle".into()];
        let comment_at = spec.find("--comment ").map(|i| i + "--comment ".len());
        match comment_at {
            Some(at) => {
                args.extend(spec[..at].split_whitespace().map(String::from));
                let rest = &spec[at..];
                let (comment, tail) = match rest.strip_prefix('"') {
                    Some(r) => r.split_once('"').unwrap_or((r, "")),
                    None => rest.split_once(' ').unwrap_or((rest, "")),
                };
                args.push(comment.to_string());
                args.extend(tail.split_whitespace().map(String::from));
            }
            None => args.extend(spec.split_whitespace().map(String::from)),
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = iptables(&refs);
    }
}

fn iptables(args: &[&str]) -> Result<(), ClientError> {
    let o = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(io_err("running iptables"))?;
    if !o.status.success() {
        return Err(ClientError::Iptables {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Six hex digits, different for every client made on this machine at the same time.
fn tag() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut f, &mut b);
    }
    format!("{:02x}{:02x}{:02x}", b[0], b[1], b[2])
}

fn lock() -> Result<Flock<File>, ClientError> {
    let path = "/run/baleia-lab-clients.lock";
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(format!("opening {path}")))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| ClientError::Io {
        what: format!("locking {path}"),
        source: e.into(),
    })
}

/// The N of a 10.215.N.0/24 that overlaps no route (of any table) and no address of the host,
/// starting the search at a random place.
fn free_subnet(client: &str) -> Result<u8, ClientError> {
    let routes = ip(&["-4", "route", "show", "table", "all"])?;
    let addrs = ip(&["-4", "-o", "addr", "show"])?;
    let taken = taken_nets(&routes, &addrs);
    let start = u32::from_str_radix(&tag(), 16).unwrap_or(0);
    (0..250u32)
        .map(|i| ((start + i) % 250 + 1) as u8)
        .find(|&n| {
            let net = u32::from(Ipv4Addr::new(10, 215, n, 0));
            !taken.iter().any(|&(a, len)| overlaps(net, 24, a, len))
        })
        .ok_or_else(|| ClientError::NoFreeSubnet(client.into()))
}

/// The networks of `ip -4 route show table all` and `ip -4 -o addr show` (default routes aside).
fn taken_nets(routes: &str, addrs: &str) -> Vec<(u32, u8)> {
    let mut nets = Vec::new();
    for line in routes.lines() {
        let mut words = line.split_whitespace();
        let mut first = words.next();
        const TYPES: [&str; 10] = [
            "unicast",
            "local",
            "broadcast",
            "multicast",
            "anycast",
            "unreachable",
            "blackhole",
            "prohibit",
            "throw",
            "nat",
        ];
        if first.is_some_and(|w| TYPES.contains(&w)) {
            first = words.next();
        }
        if let Some(net) = first.and_then(parse_net) {
            nets.push(net);
        }
    }
    for line in addrs.lines() {
        let mut words = line.split_whitespace();
        if words.any(|w| w == "inet") {
            if let Some(net) = words.next().and_then(parse_net) {
                nets.push(net);
            }
        }
    }
    nets.retain(|&(_, len)| len > 0);
    nets
}

fn parse_net(s: &str) -> Option<(u32, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse().ok().filter(|&l: &u8| l <= 32)?),
        None => (s, 32),
    };
    Some((u32::from(a.parse::<Ipv4Addr>().ok()?), len))
}

fn overlaps(a: u32, alen: u8, b: u32, blen: u8) -> bool {
    let len = alen.min(blen);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_addresses_are_read_as_networks() {
        let routes = "default via 192.168.1.1 dev eth0\n\
                      10.215.7.0/24 dev blc1 proto kernel scope link src 10.215.7.1\n\
                      local 10.215.9.1 dev blc2 table local proto kernel scope host src 10.215.9.1\n\
                      broadcast 127.255.255.255 dev lo table local\n\
                      172.17.0.0/16 dev baleia0 proto kernel\n";
        let addrs = "2: eth0    inet 10.215.3.5/16 brd 10.215.255.255 scope global eth0\n";
        let nets = taken_nets(routes, addrs);
        let n = |s: &str| parse_net(s).unwrap();
        assert!(nets.contains(&n("10.215.7.0/24")));
        assert!(nets.contains(&n("10.215.9.1")));
        assert!(nets.contains(&n("172.17.0.0/16")));
        assert!(nets.contains(&n("10.215.3.5/16")));
        assert!(!nets.iter().any(|&(_, l)| l == 0), "no default route");
    }

    #[test]
    fn overlap_is_judged_on_the_shorter_prefix() {
        let net = |s: &str| parse_net(s).unwrap();
        let (a, al) = net("10.215.7.0/24");
        let (b, bl) = net("10.215.7.1");
        assert!(overlaps(a, al, b, bl));
        let (b, bl) = net("10.0.0.0/8");
        assert!(overlaps(a, al, b, bl));
        let (b, bl) = net("10.215.8.0/24");
        assert!(!overlaps(a, al, b, bl));
        let (b, bl) = net("10.215.70.0/24");
        assert!(!overlaps(a, al, b, bl));
        assert_eq!(parse_net("10.0.0.0/33"), None);
        assert_eq!(parse_net("default"), None);
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_made() {
        assert!(matches!(Client::make("a b"), Err(ClientError::BadName(_))));
        assert!(matches!(Client::make(""), Err(ClientError::BadName(_))));
    }
}
