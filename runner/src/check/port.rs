//! `port:` checks: a TCP port answers, from the host or from one of the lab's clients; with
//! `answer`, an HTTP `GET` (of `/`, or of `path`) whose answer must match a pattern.
//!
//! The address is guarded: only loopback, the networks of the backend (its bridges' subnets, where
//! its containers and gateways live) and the lab's client links may be connected to. Anything else
//! is refused before a socket is made, so no packet ever leaves for an address the lab did not
//! create.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use super::{error, pattern, unmet, Context, Failure};
use crate::backend::{Backend, BackendError};
use crate::client::Clients;
use crate::lab::model::PortCheck;

/// How long a connection may take.
const CONNECT: Duration = Duration::from_secs(2);
/// How long an HTTP answer may take.
const ANSWER: Duration = Duration::from_secs(3);
/// The most of an HTTP answer that is read.
const MAX_ANSWER: u64 = 64 << 10;

/// Whether `addr` may be connected to: it is loopback, or inside one of `own` (address, prefix
/// length).
pub fn allowed(addr: IpAddr, own: &[(IpAddr, u8)]) -> bool {
    let addr = addr.to_canonical();
    addr.is_loopback() || own.iter().any(|&(net, len)| contains(net, len, addr))
}

fn contains(net: IpAddr, len: u8, addr: IpAddr) -> bool {
    match (net.to_canonical(), addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The lab's own addresses: the subnets of the backend's networks and the addresses of the lab's
/// client links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddresses {
    /// Networks (address, prefix length); a single address has the full length.
    pub nets: Vec<(IpAddr, u8)>,
}

impl OwnAddresses {
    /// Ask the backend for its networks' subnets (`docker network inspect`), and add the clients'.
    pub fn gather(backend: &Backend, clients: &Clients) -> Result<OwnAddresses, BackendError> {
        let ids = backend.ok(&["network", "ls", "-q"])?;
        let mut args = vec!["network", "inspect"];
        args.extend(ids.split_whitespace());
        let mut own = OwnAddresses::default();
        if args.len() > 2 {
            let out = backend.ok(&args)?;
            let nets: Value = serde_json::from_str(&out).map_err(|source| BackendError::Json {
                args: args.join(" "),
                source,
            })?;
            own.nets = subnets(&nets);
        }
        for a in clients.addresses() {
            own.nets.push((a, if a.is_ipv4() { 32 } else { 128 }));
        }
        Ok(own)
    }

    /// Whether `addr` may be connected to (see [`allowed`]).
    pub fn allows(&self, addr: IpAddr) -> bool {
        allowed(addr, &self.nets)
    }

    /// The networks, for a message: `172.17.0.0/16, 10.215.3.1/32`.
    pub fn describe(&self) -> String {
        if self.nets.is_empty() {
            return "none".into();
        }
        let v: Vec<String> = self.nets.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        v.join(", ")
    }
}

/// The `IPAM.Config[].Subnet`s of `docker network inspect`'s answer.
fn subnets(nets: &Value) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    for n in nets.as_array().into_iter().flatten() {
        for c in n["IPAM"]["Config"].as_array().into_iter().flatten() {
            if let Some(net) = c["Subnet"].as_str().and_then(parse_cidr) {
                out.push(net);
            }
        }
    }
    out
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/')?;
    let a: IpAddr = a.parse().ok()?;
    let l: u8 = l.parse().ok()?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    (l <= max).then_some((a, l))
}

/// The address of a check (`localhost` is 127.0.0.1; names are not looked up).
pub(super) fn parse_host(host: &str) -> Option<IpAddr> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    h.parse().ok()
}

/// Refuse an address that is not the lab's: an error naming what is allowed.
pub(super) fn guard(addr: IpAddr, ctx: &Context, what: &str) -> Result<(), Failure> {
    if addr.to_canonical().is_loopback() {
        return Ok(());
    }
    let own = OwnAddresses::gather(ctx.backend, ctx.clients)?;
    if own.allows(addr) {
        return Ok(());
    }
    error(format!(
        "refusing to {what} {addr}: only loopback and the lab's own addresses are reached \
         (its networks and clients: {})",
        own.describe()
    ))
}

pub(super) fn port(c: &PortCheck, ctx: &Context) -> Result<(), Failure> {
    let Some(addr) = parse_host(&c.host) else {
        return error(format!(
            "port check: {:?} is not an IP address (names are not looked up)",
            c.host
        ));
    };
    guard(addr, ctx, "connect to")?;
    let target = SocketAddr::new(addr, c.port);
    let host = c.host.trim().to_string();
    let path = c.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return error(format!(
            "port check: path {path:?} must start with / and hold no spaces"
        ));
    }
    let get = c.answer.is_some().then(|| path.clone());
    let probe = move || probe(target, &host, get.as_deref());
    let (result, place) = match &c.from {
        None => (probe(), String::new()),
        Some(name) => {
            let Some(client) = ctx.clients.get(name) else {
                return error(format!(
                    "port check from {name:?}: the lab has no such client"
                ));
            };
            let r = client
                .run(probe)
                .map_err(|e| Failure::Error(format!("entering client {name}: {e}")))?;
            (r, format!(" from client {name}"))
        }
    };
    let answer = match result {
        Ok(a) => a,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return unmet(format!(
                "nothing listens on {target}{place} (connection refused)"
            ))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            return unmet(format!("{target} does not answer{place} (timed out)"))
        }
        Err(e) => return unmet(format!("{target} does not answer{place}: {e}")),
    };
    let Some(want) = &c.answer else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&answer);
    match pattern::first_difference(want, &text) {
        None => Ok(()),
        Some(d) => {
            let first = text.lines().next().unwrap_or("").trim_end();
            unmet(format!(
                "the answer of {target}{place} to GET {path} ({first:?}) does not match: {d}"
            ))
        }
    }
}

/// Connect; with a path, send `GET path` and read the answer (to its end or the most we read).
fn probe(target: SocketAddr, host: &str, get: Option<&str>) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&target, CONNECT)?;
    let Some(path) = get else {
        return Ok(Vec::new());
    };
    s.set_read_timeout(Some(ANSWER))?;
    s.set_write_timeout(Some(ANSWER))?;
    let host = if target.is_ipv6() && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}:{}\r\nUser-Agent: baleia-lab\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.port()
    )?;
    let mut out = Vec::new();
    match s.take(MAX_ANSWER).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // What came before a stall or a reset is the answer.
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_loopback_and_the_labs_networks_are_allowed() {
        let own = vec![(ip("172.17.0.0"), 16), (ip("10.215.3.1"), 32)];
        assert!(allowed(ip("127.0.0.1"), &own));
        assert!(allowed(ip("127.3.2.1"), &own));
        assert!(allowed(ip("::1"), &own));
        assert!(allowed(ip("::ffff:127.0.0.1"), &own));
        assert!(allowed(ip("172.17.0.2"), &own));
        assert!(allowed(ip("172.17.255.255"), &own));
        assert!(allowed(ip("10.215.3.1"), &own));
        assert!(allowed(ip("::ffff:172.17.0.2"), &own));
        assert!(!allowed(ip("10.215.3.2"), &own));
        assert!(!allowed(ip("172.18.0.2"), &own));
        assert!(!allowed(ip("203.0.113.8"), &own));
        assert!(!allowed(ip("0.0.0.0"), &own));
        assert!(!allowed(ip("192.168.1.1"), &own));
        assert!(!allowed(ip("2001:db8::1"), &own));
        assert!(!allowed(ip("203.0.113.8"), &[]));
        let v6 = vec![(ip("fd00:1::"), 64)];
        assert!(allowed(ip("fd00:1::5"), &v6));
        assert!(!allowed(ip("fd00:2::5"), &v6));
        // A zero-length prefix would be the whole internet; it is what it says.
        assert!(allowed(ip("203.0.113.8"), &[(ip("0.0.0.0"), 0)]));
    }

    #[test]
    fn subnets_are_read_from_network_inspect() {
        let nets = json!([
            {"Name": "bridge", "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}},
            {"Name": "host", "IPAM": {"Config": []}},
            {"Name": "none", "IPAM": {"Config": null}},
            {"Name": "v6", "IPAM": {"Config": [{"Subnet": "fd00:1::/64"}, {"Subnet": "bad"}]}}
        ]);
        assert_eq!(
            subnets(&nets),
            vec![(ip("172.17.0.0"), 16), (ip("fd00:1::"), 64)]
        );
        let own = OwnAddresses {
            nets: subnets(&nets),
        };
        assert_eq!(own.describe(), "172.17.0.0/16, fd00:1::/64");
        assert!(own.allows(ip("172.17.0.9")));
        assert!(!own.allows(ip("172.18.0.9")));
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
    }

    #[test]
    fn hosts_are_addresses_or_localhost() {
        assert_eq!(parse_host("localhost"), Some(ip("127.0.0.1")));
        assert_eq!(parse_host(" 10.215.3.1 "), Some(ip("10.215.3.1")));
        assert_eq!(parse_host("[::1]"), Some(ip("::1")));
        assert_eq!(parse_host("example.com"), None);
    }

    #[test]
    fn a_local_port_answers_and_a_closed_one_does_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"GET /v2/_catalog HTTP/1.0\r\n"));
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n")
                .unwrap();
        });
        let got = probe(addr, "127.0.0.1", Some("/v2/_catalog")).unwrap();
        server.join().unwrap();
        let text = String::from_utf8(got).unwrap();
        assert!(
            pattern::matches("HTTP/1.[..] 200 OK\n...\nhello", &text),
            "{text}"
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = probe(closed, "127.0.0.1", None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
