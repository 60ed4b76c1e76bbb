//! `links`: the host's bridges and veths through rtnetlink: which bridge each veth sits on, the
//! index of its peer (in a container's namespace), MAC, addresses, up or down.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use serde_json::json;

use super::{Mark, Observation, ObserveError, Row};

/// One network interface as netlink describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// `bridge`, `veth`, `loopback`, `device` (no kind: a NIC), or the kind's name.
    pub kind: String,
    /// The index of the bridge it is a port of.
    pub master: Option<u32>,
    /// For a veth: its peer's index (in `peer_netns` when set, else here).
    pub peer: Option<u32>,
    /// For a veth whose peer is in another namespace: that namespace's id as seen from here.
    pub peer_netns: Option<i32>,
    /// Administratively up (`ip link set up`).
    pub up: bool,
    /// The operational state: `up`, `down`, `lowerlayerdown`, `unknown`, ….
    pub state: String,
    /// Its MAC address.
    pub mac: Option<String>,
    /// Its addresses, `172.17.0.1/16`.
    pub addrs: Vec<String>,
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn link_of(msg: &LinkMessage) -> Link {
    let mut l = Link {
        index: msg.header.index,
        name: String::new(),
        kind: String::new(),
        master: None,
        peer: None,
        peer_netns: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        state: "unknown".into(),
        mac: None,
        addrs: Vec::new(),
    };
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Controller(m) => l.master = Some(*m),
            LinkAttribute::Link(p) => l.peer = Some(*p),
            LinkAttribute::LinkNetNsId(n) => l.peer_netns = Some(*n),
            LinkAttribute::Address(b) if b.len() == 6 => l.mac = Some(mac_text(b)),
            LinkAttribute::OperState(s) => {
                l.state = match s {
                    State::Up => "up".into(),
                    State::Down => "down".into(),
                    State::LowerLayerDown => "lowerlayerdown".into(),
                    State::Dormant => "dormant".into(),
                    State::NotPresent => "notpresent".into(),
                    State::Testing => "testing".into(),
                    _ => "unknown".into(),
                }
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = match k {
                            InfoKind::Bridge => "bridge".into(),
                            InfoKind::Veth => "veth".into(),
                            other => other.to_string(),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    if l.kind.is_empty() {
        l.kind = if msg.header.flags.contains(LinkFlags::Loopback) {
            "loopback".into()
        } else {
            "device".into()
        };
    }
    if l.kind != "veth" {
        // IFLA_LINK means "peer" only for a veth.
        l.peer = None;
        l.peer_netns = None;
    }
    l
}

/// Every link of the caller's network namespace, with its addresses, by index.
pub fn list_links() -> Result<Vec<Link>, ObserveError> {
    let nl = |e: &dyn std::fmt::Display| ObserveError::Netlink(e.to_string());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| nl(&e))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| nl(&e))?;
        let task = tokio::spawn(conn);
        let links: Vec<LinkMessage> = handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl(&e))?;
        let addrs: Vec<_> = handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl(&e))?;
        task.abort();
        let mut by_index: BTreeMap<u32, Link> =
            links.iter().map(|m| (m.header.index, link_of(m))).collect();
        for a in addrs {
            let (mut local, mut address) = (None, None);
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip) = local.or(address) else {
                continue;
            };
            if let Some(l) = by_index.get_mut(&a.header.index) {
                let text = format!("{ip}/{}", a.header.prefix_len);
                // IPv4 first, as `ip addr` lists them.
                if matches!(ip, IpAddr::V4(_)) {
                    let at = l.addrs.iter().take_while(|x| !x.contains(':')).count();
                    l.addrs.insert(at, text);
                } else {
                    l.addrs.push(text);
                }
            }
        }
        Ok(by_index.into_values().collect())
    })
}

/// The bridges and veths among `all`, each bridge followed by its ports, as a table.
pub fn links_table(all: &[Link]) -> Observation {
    let name_of = |i: u32| all.iter().find(|l| l.index == i).map(|l| l.name.clone());
    let mut obs = Observation::new(
        "bridges and veths (host network namespace)",
        &[
            "link",
            "kind",
            "on bridge",
            "peer",
            "state",
            "MAC",
            "addresses",
        ],
        json!(null),
    );
    let mut shown: Vec<&Link> = Vec::new();
    for b in all.iter().filter(|l| l.kind == "bridge") {
        shown.push(b);
        shown.extend(all.iter().filter(|l| l.master == Some(b.index)));
    }
    let loose: Vec<&Link> = all
        .iter()
        .filter(|l| l.kind == "veth" && !shown.iter().any(|s| s.index == l.index))
        .collect();
    shown.extend(loose);
    for l in &shown {
        let peer = match (l.peer, l.peer_netns) {
            (Some(p), Some(ns)) => format!("ifindex {p} in netns {ns}"),
            (Some(p), None) => name_of(p).unwrap_or_else(|| format!("ifindex {p}")),
            _ => "-".into(),
        };
        let bridge = l
            .master
            .map(|m| name_of(m).unwrap_or_else(|| format!("ifindex {m}")))
            .unwrap_or_else(|| "-".into());
        let state = if l.up {
            format!("UP ({})", l.state)
        } else {
            "DOWN".into()
        };
        obs.rows.push(Row::new(
            vec![
                if l.kind == "bridge" {
                    l.name.clone()
                } else {
                    format!("  {}", l.name)
                },
                l.kind.clone(),
                bridge,
                peer,
                state,
                l.mac.clone().unwrap_or_else(|| "-".into()),
                if l.addrs.is_empty() {
                    "-".into()
                } else {
                    l.addrs.join(", ")
                },
            ],
            if l.kind == "bridge" {
                Mark::Notable
            } else {
                Mark::Plain
            },
        ));
    }
    obs.notes.push(
        "a veth is a cable with two ends: one here on the bridge, its peer (eth0) in the container's namespace"
            .into(),
    );
    obs.data = json!(shown
        .iter()
        .map(|l| json!({
            "index": l.index, "name": l.name, "kind": l.kind,
            "master": l.master.and_then(name_of), "peer_index": l.peer, "peer_netns": l.peer_netns,
            "up": l.up, "state": l.state, "mac": l.mac, "addresses": l.addrs,
        }))
        .collect::<Vec<_>>());
    obs
}

/// The host's bridges and veths now.
pub fn links() -> Result<Observation, ObserveError> {
    Ok(links_table(&list_links()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, kind: &str, master: Option<u32>, peer: Option<u32>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.into(),
            master,
            peer,
            peer_netns: peer.map(|_| 0),
            up: true,
            state: "up".into(),
            mac: Some("02:42:ac:11:00:01".into()),
            addrs: Vec::new(),
        }
    }

    #[test]
    fn bridges_then_their_ports() {
        let mut br = link(3, "baleia0", "bridge", None, None);
        br.addrs.push("172.17.0.1/16".into());
        let all = vec![
            link(1, "lo", "loopback", None, None),
            link(7, "veth1", "veth", Some(3), Some(2)),
            link(8, "vethx", "veth", None, Some(2)),
            br,
            link(2, "eth0", "device", None, None),
        ];
        let o = links_table(&all);
        assert_eq!(o.column("link"), ["baleia0", "  veth1", "  vethx"]);
        assert_eq!(o.column("on bridge"), ["-", "baleia0", "-"]);
        assert_eq!(o.column("peer")[1], "ifindex 2 in netns 0");
        assert_eq!(o.column("addresses")[0], "172.17.0.1/16");
    }

    #[test]
    fn loopback_is_listed_but_not_shown() {
        let all = list_links().expect("netlink");
        assert!(
            all.iter().any(|l| l.name == "lo" && l.kind == "loopback"),
            "{all:?}"
        );
        let lo = all.iter().find(|l| l.name == "lo").unwrap();
        assert!(lo.addrs.iter().any(|a| a == "127.0.0.1/8"), "{lo:?}");
        assert!(!links_table(&all).column("link").contains(&"lo"));
    }

    #[test]
    fn macs() {
        assert_eq!(mac_text(&[2, 0x42, 0xac, 0x11, 0, 2]), "02:42:ac:11:00:02");
    }
}
