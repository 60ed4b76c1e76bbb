//! Address management: which subnet a new network gets (the first free one of Docker's pools that
//! overlaps no route of the host), which address a container gets, and its MAC address.

use std::net::Ipv4Addr;

/// Parse `a.b.c.d/len` into the network address and prefix length (host bits must be zero).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let addr: Ipv4Addr = a.parse().ok()?;
    let len: u8 = l.parse().ok()?;
    if len > 32 || u32::from(addr) & !mask(len) != 0 {
        return None;
    }
    Some((addr, len))
}

/// The netmask of a prefix length, as a number.
pub fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

/// Whether two prefixes share an address.
pub fn overlaps(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let m = mask(a.1.min(b.1));
    u32::from(a.0) & m == u32::from(b.0) & m
}

/// Whether `ip` is in `net`.
pub fn contains(net: (Ipv4Addr, u8), ip: Ipv4Addr) -> bool {
    overlaps(net, (ip, 32))
}

/// Docker's default pools, in order: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
fn pools() -> impl Iterator<Item = (Ipv4Addr, u8)> {
    let a = (17..=31).map(|b| (Ipv4Addr::new(172, b, 0, 0), 16));
    let b = (0..16).map(|i| (Ipv4Addr::new(192, 168, i * 16, 0), 20));
    a.chain(b)
}

/// The first pool subnet that overlaps none of `used` (the host's routes, without the default
/// route, and the subnets of this root's other networks).
pub fn free_subnet(used: &[(Ipv4Addr, u8)]) -> Option<(Ipv4Addr, u8)> {
    pools().find(|p| !used.iter().any(|u| u.1 > 0 && overlaps(*p, *u)))
}

/// The first host address of a subnet (the usual gateway).
pub fn first_host(net: (Ipv4Addr, u8)) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.0) + 1)
}

/// The lowest address of `net` that is not its network or broadcast address, not the gateway and not
/// in `taken`, as Docker hands them out (.2, .3, … on a fresh network).
pub fn next_free(net: (Ipv4Addr, u8), gateway: Ipv4Addr, taken: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let base = u32::from(net.0);
    let size = 1u64 << (32 - net.1 as u32);
    (1..size.saturating_sub(1))
        .map(|i| Ipv4Addr::from(base + i as u32))
        .find(|ip| *ip != gateway && !taken.contains(ip))
}

/// Whether `ip` can be a container's on `net`: inside it, and neither its network nor its
/// broadcast address.
pub fn is_host(net: (Ipv4Addr, u8), ip: Ipv4Addr) -> bool {
    let size = 1u64 << (32 - net.1 as u32);
    let offset = u64::from(u32::from(ip).wrapping_sub(u32::from(net.0)));
    contains(net, ip) && offset > 0 && offset + 1 < size
}

/// A MAC address derived from the IPv4 address, as Docker gave them for years: `02:42` then the
/// address's four bytes (`172.17.0.2` → `02:42:ac:11:00:02`).
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `02:42:ac:11:00:02`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> (Ipv4Addr, u8) {
        parse_cidr(s).unwrap()
    }

    #[test]
    fn a_static_address_must_be_a_host_of_the_subnet() {
        let n = net("172.30.0.0/16");
        assert!(is_host(n, Ipv4Addr::new(172, 30, 100, 104)));
        assert!(!is_host(n, Ipv4Addr::new(172, 30, 0, 0)));
        assert!(!is_host(n, Ipv4Addr::new(172, 30, 255, 255)));
        assert!(!is_host(n, Ipv4Addr::new(172, 31, 0, 5)));
        assert!(!is_host(n, Ipv4Addr::new(10, 0, 0, 1)));
    }

    #[test]
    fn cidr_parsing_refuses_host_bits_and_long_prefixes() {
        assert_eq!(net("172.17.0.0/16"), (Ipv4Addr::new(172, 17, 0, 0), 16));
        assert!(parse_cidr("172.17.0.1/16").is_none());
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0.0").is_none());
    }

    #[test]
    fn a_subnet_that_a_route_or_a_network_uses_is_skipped() {
        assert_eq!(free_subnet(&[]), Some(net("172.17.0.0/16")));
        // A real Docker's docker0 beside us, the default route, and a host route inside 172.18.
        let used = [
            net("172.17.0.0/16"),
            (Ipv4Addr::UNSPECIFIED, 0),
            net("172.18.5.0/24"),
        ];
        assert_eq!(free_subnet(&used), Some(net("172.19.0.0/16")));
        // A wide route over all of 172.16/12 sends us to 192.168.
        assert_eq!(
            free_subnet(&[net("172.16.0.0/12"), net("192.168.0.0/24")]),
            Some(net("192.168.16.0/20"))
        );
    }

    #[test]
    fn addresses_are_handed_out_lowest_first_skipping_the_gateway() {
        let n = net("172.17.0.0/16");
        let gw = first_host(n);
        assert_eq!(gw, Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(next_free(n, gw, &[]), Some(Ipv4Addr::new(172, 17, 0, 2)));
        let taken = [Ipv4Addr::new(172, 17, 0, 2)];
        assert_eq!(next_free(n, gw, &taken), Some(Ipv4Addr::new(172, 17, 0, 3)));
        let tiny = net("10.0.0.0/30");
        let all = [Ipv4Addr::new(10, 0, 0, 2)];
        assert_eq!(next_free(tiny, Ipv4Addr::new(10, 0, 0, 1), &all), None);
    }

    #[test]
    fn mac_addresses_follow_the_ip() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(mac), "02:42:ac:11:00:02");
    }
}
