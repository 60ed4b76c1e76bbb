//! The text of the rules: a network's, a published port's, and which rules belong to whom.

use super::*;

/// A network's rules, in the order they are appended.
pub(super) fn network_rules(bridge: &str, subnet: (Ipv4Addr, u8), internal: bool) -> Vec<Rule> {
    use Table::{Filter, Nat};
    let br = bridge;
    let mut rules = Vec::new();
    if internal {
        rules.push(Rule::new(
            Filter,
            CHAIN_FORWARD,
            format!("-i {br} ! -o {br} -j DROP"),
        ));
        rules.push(Rule::new(
            Filter,
            CHAIN_FORWARD,
            format!("! -i {br} -o {br} -j DROP"),
        ));
    }
    rules.extend([
        Rule::new(
            Filter,
            CHAIN_FORWARD,
            format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ),
        Rule::new(Filter, CHAIN_FORWARD, format!("-o {br} -j {CHAIN_BALEIA}")),
        Rule::new(Filter, CHAIN_FORWARD, format!("-i {br} -j ACCEPT")),
        Rule::new(Filter, CHAIN_BALEIA, format!("! -i {br} -o {br} -j DROP")),
        Rule::new(
            Filter,
            CHAIN_ISOLATION_1,
            format!("-i {br} ! -o {br} -j {CHAIN_ISOLATION_2}"),
        ),
        Rule::new(Filter, CHAIN_ISOLATION_2, format!("-o {br} -j DROP")),
        Rule::new(Nat, CHAIN_BALEIA, format!("-i {br} -j RETURN")),
    ]);
    if !internal {
        rules.push(Rule::new(
            Nat,
            CHAIN_POSTROUTING,
            format!("-s {} ! -o {br} -j MASQUERADE", cidr(subnet)),
        ));
    }
    rules.push(Rule::new(
        Nat,
        CHAIN_POSTROUTING,
        format!("-s 127.0.0.0/8 -o {br} -j MASQUERADE"),
    ));
    rules
}

/// The three rules of each published port: filter accept, nat DNAT, nat hairpin MASQUERADE.
pub(super) fn port_rules(
    bridge: &str,
    container: Ipv4Addr,
    ports: &[PortRule],
) -> Result<Vec<Rule>, FirewallError> {
    let br = bridge;
    let c = container;
    let mut rules = Vec::new();
    for port in ports {
        if port.host_port == 0 || port.container_port == 0 {
            return Err(FirewallError::Invalid(format!("port 0 in {port:?}")));
        }
        let p = port.proto.as_str();
        let (host, cport) = (port.host_port, port.container_port);
        let dest = match port.host_ip {
            Some(ip) => format!("-d {ip}/32 "),
            None => String::new(),
        };
        rules.push(Rule::new(
            Table::Filter,
            CHAIN_BALEIA,
            format!("-d {c}/32 ! -i {br} -o {br} -p {p} -m {p} --dport {cport} -j ACCEPT"),
        ));
        rules.push(Rule::new(
            Table::Nat,
            CHAIN_BALEIA,
            format!(
                "{dest}! -i {br} -p {p} -m {p} --dport {host} -j DNAT --to-destination {c}:{cport}"
            ),
        ));
        rules.push(Rule::new(
            Table::Nat,
            CHAIN_POSTROUTING,
            format!("-s {c}/32 -d {c}/32 -p {p} -m {p} --dport {cport} -j MASQUERADE"),
        ));
    }
    Ok(rules)
}

/// Whether a rule of our chains belongs to this network: it names the bridge as an interface,
/// or it is the hairpin MASQUERADE of a container address in the subnet.
pub(super) fn belongs_to(spec: &str, bridge: &str, subnet: (Ipv4Addr, u8)) -> bool {
    let tokens: Vec<&str> = spec.split_whitespace().collect();
    let value = |flag: &str| {
        tokens
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].to_string())
    };
    if tokens
        .windows(2)
        .any(|w| (w[0] == "-i" || w[0] == "-o") && w[1] == bridge)
    {
        return true;
    }
    match (value("-s"), value("-d")) {
        (Some(s), Some(d)) if s == d && target(spec) == Some("MASQUERADE") => s
            .strip_suffix("/32")
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            .is_some_and(|ip| crate::network::ipam::contains(subnet, ip)),
        _ => false,
    }
}

/// Rules we put in our chains whatever the networks.
pub(super) fn is_base_rule(table: Table, chain: &str, spec: &str) -> bool {
    table == Table::Filter
        && ((chain == CHAIN_USER) || (chain == CHAIN_FORWARD && spec == FORWARD_TO_ISOLATION))
}

/// The `-j`/`-g` target of a rule.
pub(super) fn target(spec: &str) -> Option<&str> {
    let tokens: Vec<&str> = spec.split_whitespace().collect();
    tokens
        .windows(2)
        .find(|w| w[0] == "-j" || w[0] == "-g")
        .map(|w| w[1])
}

/// `a.b.c.d/n` with the host bits cleared, as `iptables -S` prints it.
pub(super) fn cidr((net, prefix): (Ipv4Addr, u8)) -> String {
    let masked = Ipv4Addr::from(u32::from(net) & crate::network::ipam::mask(prefix));
    format!("{masked}/{prefix}")
}

pub(super) fn check_subnet((net, prefix): (Ipv4Addr, u8)) -> Result<(Ipv4Addr, u8), FirewallError> {
    if prefix == 0 || prefix > 32 {
        return Err(FirewallError::Invalid(format!(
            "subnet prefix /{prefix} (want 1 to 32)"
        )));
    }
    Ok((
        Ipv4Addr::from(u32::from(net) & crate::network::ipam::mask(prefix)),
        prefix,
    ))
}

/// Interface names go into rule text: keep them to what a Linux link name can safely be.
pub(super) fn check_bridge(bridge: &str) -> Result<(), FirewallError> {
    let ok = !bridge.is_empty()
        && bridge.len() <= 15
        && !bridge.starts_with('-')
        && bridge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FirewallError::Invalid(format!("bridge name {bridge:?}")))
    }
}
