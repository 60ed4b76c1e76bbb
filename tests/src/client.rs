//! A client network namespace wired to the host by a veth pair: the "other machine" from which the
//! notes' `curl http://ip-host:8080` is made. Its link's subnet overlaps no route of the host; the
//! client only ever talks to the host's address on that link.

use std::process::{Command, Output};

/// A namespace `blc-XXXX` with `eth0` at `.2`, linked to the host's `blcXXXX` at `.1`; removed
/// (with the veth pair) when dropped.
pub struct ClientNs {
    /// Namespace name.
    pub name: String,
    /// The host's end of the link.
    pub host_if: String,
    /// The host's address on the link (what the client connects to).
    pub host_ip: String,
    /// The client's address.
    pub client_ip: String,
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("run ip")
}

fn must(args: &[&str]) {
    let o = ip(args);
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl ClientNs {
    /// Make the namespace and its link, on the first free 10.215.N.0/24.
    pub fn new() -> ClientNs {
        let routes = String::from_utf8_lossy(&ip(&["-4", "route", "show", "table", "all"]).stdout)
            .into_owned();
        let addrs = String::from_utf8_lossy(&ip(&["-4", "-o", "addr"]).stdout).into_owned();
        let tag = format!("{:04x}", rand_u16());
        let n = (0..=255u16)
            .map(|i| (u16::from_str_radix(&tag, 16).unwrap() as usize + i as usize) % 250 + 1)
            .find(|n| {
                let net = format!("10.215.{n}.");
                !routes.contains(&net) && !addrs.contains(&net)
            })
            .expect("a free 10.215.N.0/24");
        let c = ClientNs {
            name: format!("blc-{tag}"),
            host_if: format!("blc{tag}"),
            host_ip: format!("10.215.{n}.1"),
            client_ip: format!("10.215.{n}.2"),
        };
        must(&["netns", "add", &c.name]);
        let peer = format!("blp{tag}");
        must(&[
            "link", "add", &c.host_if, "type", "veth", "peer", "name", &peer,
        ]);
        must(&["link", "set", &peer, "netns", &c.name]);
        must(&["-n", &c.name, "link", "set", &peer, "name", "eth0"]);
        must(&[
            "addr",
            "add",
            &format!("{}/24", c.host_ip),
            "dev",
            &c.host_if,
        ]);
        must(&["link", "set", &c.host_if, "up"]);
        must(&[
            "-n",
            &c.name,
            "addr",
            "add",
            &format!("{}/24", c.client_ip),
            "dev",
            "eth0",
        ]);
        must(&["-n", &c.name, "link", "set", "eth0", "up"]);
        must(&["-n", &c.name, "link", "set", "lo", "up"]);
        must(&["-n", &c.name, "route", "add", "default", "via", &c.host_ip]);
        // Forwarding on this link only: the host's global setting stays as it is.
        std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/forwarding", c.host_if),
            "1",
        )
        .expect("forwarding on the client link");
        c
    }

    /// Run a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
}

impl Default for ClientNs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ClientNs {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    u16::from_be_bytes(b)
}
