//! Published ports: parsing `-p [IP:][HOST:]CONTAINER[/PROTO]` (ranges too) into Docker's
//! `PortBindings`, and showing them as `ps` (`0.0.0.0:8080->80/tcp`) and `port` do.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::container::model::PortBinding;

/// Port bindings by container port (`80/tcp`), as `HostConfig.PortBindings` holds them.
pub type PortMap = BTreeMap<String, Vec<PortBinding>>;

/// Add the bindings of one `-p` value to `map`; an error says what is wrong with it.
pub fn parse_publish(spec: &str, map: &mut PortMap) -> Result<(), String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    if rest.starts_with('[') {
        return Err(format!("invalid ip address: {rest}: IPv6 is not supported"));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(format!("invalid port format for --publish: {spec}")),
    };
    if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        return Err(format!("invalid ip address: {ip}"));
    }
    let (c_lo, c_hi) =
        range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let hosts: Vec<String> = if host.is_empty() {
        vec![String::new(); (c_hi - c_lo + 1) as usize]
    } else {
        let (h_lo, h_hi) = range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?;
        if c_lo == c_hi && h_hi > h_lo {
            // `8080-8090:80`: the first free port of the range, chosen at start.
            vec![host.to_string()]
        } else if h_hi - h_lo != c_hi - c_lo {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ));
        } else {
            (h_lo..=h_hi).map(|p| p.to_string()).collect()
        }
    };
    for (port, host_port) in (c_lo..=c_hi).zip(hosts) {
        map.entry(format!("{port}/{proto}"))
            .or_default()
            .push(PortBinding {
                host_ip: ip.to_string(),
                host_port,
            });
    }
    Ok(())
}

/// `80` or `8080-8081`, ports 1–65535.
pub fn range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = s.parse().ok()?;
            (p, p)
        }
    };
    (lo > 0 && hi >= lo).then_some((lo, hi))
}

/// Split `80/tcp` into port and protocol.
pub fn split_port(key: &str) -> Option<(u16, &str)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((p.parse().ok()?, proto))
}

/// The PORTS column of `ps`: published ports as `0.0.0.0:8080->80/tcp`, exposed ones as `80/tcp`,
/// sorted by container port.
pub fn ps_column(ports: &BTreeMap<String, Option<Vec<PortBinding>>>) -> String {
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| split_port(k).map(|(p, proto)| (p, proto.to_string())));
    let mut out = Vec::new();
    for k in keys {
        match &ports[k] {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    out.push(format!("{}:{}->{k}", host_ip(b), b.host_port));
                }
            }
            _ => out.push(k.clone()),
        }
    }
    out.join(", ")
}

/// The address a binding listens on (`0.0.0.0` when none was given).
pub fn host_ip(b: &PortBinding) -> &str {
    if b.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &b.host_ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PortMap, String> {
        let mut m = PortMap::new();
        parse_publish(s, &mut m).map(|_| m)
    }

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn the_forms_docker_accepts() {
        assert_eq!(parse("8080:80").unwrap()["80/tcp"], vec![b("", "8080")]);
        assert_eq!(parse("80").unwrap()["80/tcp"], vec![b("", "")]);
        assert_eq!(
            parse("127.0.0.1:8080:80/udp").unwrap()["80/udp"],
            vec![b("127.0.0.1", "8080")]
        );
        assert_eq!(
            parse("127.0.0.1::80").unwrap()["80/tcp"],
            vec![b("127.0.0.1", "")]
        );
        let r = parse("8080-8081:80-81").unwrap();
        assert_eq!(r["80/tcp"], vec![b("", "8080")]);
        assert_eq!(r["81/tcp"], vec![b("", "8081")]);
        assert_eq!(
            parse("8080-8090:80").unwrap()["80/tcp"],
            vec![b("", "8080-8090")]
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert_eq!(parse("8080:abc").unwrap_err(), "invalid containerPort: abc");
        assert_eq!(parse("x:80").unwrap_err(), "invalid hostPort: x");
        assert_eq!(
            parse("1.2.3:8080:80").unwrap_err(),
            "invalid ip address: 1.2.3"
        );
        assert!(parse("8080:80/icmp").unwrap_err().contains("proto"));
        assert!(parse("8080-8082:80-81").is_err());
        assert!(parse("0:80").is_err());
        assert!(parse("70000:80").is_err());
    }

    #[test]
    fn the_ps_column() {
        let mut ports = BTreeMap::new();
        ports.insert("80/tcp".to_string(), Some(vec![b("", "8080")]));
        ports.insert("443/tcp".to_string(), None);
        ports.insert("53/udp".to_string(), Some(vec![b("127.0.0.1", "5353")]));
        assert_eq!(
            ps_column(&ports),
            "127.0.0.1:5353->53/udp, 0.0.0.0:8080->80/tcp, 443/tcp"
        );
    }
}
