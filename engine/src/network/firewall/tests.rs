//! These change the host's iptables for real (root only; skipped otherwise). The chains are
//! shared, so the tests run one at a time, and a guard removes what each one made.

use super::*;
use std::process::Child;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A firewall when the test can really run (root, iptables installed).
fn firewall() -> Option<Firewall> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root");
        return None;
    }
    match Firewall::new() {
        Ok(fw) => Some(fw),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn save() -> String {
    run("iptables-save", &[])
}

fn baleia_lines() -> usize {
    save().lines().filter(|l| l.contains("BALEIA")).count()
}

/// `iptables -t <table> -S <chain>` (empty when the chain is missing).
fn rules(table: &str, chain: &str) -> Vec<String> {
    let out = Command::new("iptables")
        .args(["--wait", "-t", table, "-S", chain])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A "))
        .map(str::to_string)
        .collect()
}

/// Every `-S` line of both tables that mentions BALEIA or `word`.
fn snapshot(word: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for table in ["filter", "nat"] {
        let out = run("iptables", &["--wait", "-t", table, "-S"]);
        lines.extend(
            out.lines()
                .filter(|l| l.contains("BALEIA") || l.contains(word))
                .map(|l| format!("{table} {l}")),
        );
    }
    lines
}

fn hex4() -> String {
    format!("{:04x}", rand::random::<u16>())
}

/// A third octet for 10.213.x/10.214.x that no host address uses yet.
fn free_octet() -> u8 {
    let addrs = run("ip", &["-4", "-o", "addr"]);
    loop {
        let x = rand::random::<u8>() % 250 + 1;
        if !addrs.contains(&format!("10.214.{x}.")) && !addrs.contains(&format!("10.213.{x}.")) {
            return x;
        }
    }
}

/// Networks a test added; removed again on drop, even on panic.
struct Nets {
    fw: Firewall,
    nets: Vec<(String, (Ipv4Addr, u8))>,
    clean_before: bool,
}

impl Nets {
    fn new(fw: Firewall) -> Nets {
        Nets {
            fw,
            nets: Vec::new(),
            clean_before: baleia_lines() == 0,
        }
    }

    fn add(&mut self, internal: bool) -> (String, (Ipv4Addr, u8)) {
        let bridge = format!("bltfw{}", hex4());
        let subnet = (Ipv4Addr::new(10, 214, free_octet(), 0), 24);
        self.nets.push((bridge.clone(), subnet));
        let t = Instant::now();
        self.fw.add_network(&bridge, subnet, internal).unwrap();
        eprintln!("add_network({bridge}): {:?}", t.elapsed());
        (bridge, subnet)
    }

    /// When the host had no BALEIA rules before the test and no other engine's network is
    /// there now, nothing of BALEIA may be left.
    fn assert_clean(&self) {
        if !self.clean_before {
            eprintln!("BALEIA chains existed before the test: cleanliness not checked");
            return;
        }
        if baleia_lines() == 0 {
            return;
        }
        let mine: Vec<&String> = self.nets.iter().map(|(b, _)| b).collect();
        let others: Vec<String> = self
            .fw
            .bridges()
            .unwrap()
            .into_iter()
            .filter(|b| !mine.contains(&b))
            .collect();
        assert!(!others.is_empty(), "BALEIA rules left behind:\n{}", save());
        eprintln!("other baleia networks appeared ({others:?}): cleanliness not checked");
    }
}

impl Drop for Nets {
    fn drop(&mut self) {
        for (bridge, subnet) in &self.nets {
            if let Err(e) = self.fw.remove_network(bridge, *subnet) {
                eprintln!("cleanup of {bridge}: {e}");
            }
        }
    }
}

fn ip(s: Ipv4Addr, last: u8) -> Ipv4Addr {
    let o = s.octets();
    Ipv4Addr::new(o[0], o[1], o[2], last)
}

#[test]
fn parses_and_renders() {
    let dump = Dump::parse(
        "-P FORWARD ACCEPT\n-N BALEIA\n-A BALEIA  ! -i br0 -o br0 -j DROP\n-A FORWARD -j BALEIA-USER\n",
    );
    assert!(dump.chains.contains("FORWARD") && dump.chains.contains("BALEIA"));
    assert!(dump.has("BALEIA", "! -i br0 -o br0 -j DROP"));
    assert_eq!(target("-o x -j BALEIA-USER"), Some("BALEIA-USER"));
    assert_eq!(
        failing_line("iptables-restore: line 6 failed: No chain"),
        Some(6)
    );
    let mut script = Script::default();
    script.push(Table::Nat, "-A X -j RETURN".into());
    script.push(Table::Filter, "-A Y -j RETURN".into());
    let (text, commits) = script.render();
    assert_eq!(
        text,
        "*filter\n-A Y -j RETURN\nCOMMIT\n*nat\n-A X -j RETURN\nCOMMIT\n"
    );
    assert_eq!(commits, vec![(Table::Filter, 3), (Table::Nat, 6)]);
    assert_eq!(cidr((Ipv4Addr::new(10, 1, 2, 3), 16)), "10.1.0.0/16");
    let s = (Ipv4Addr::new(10, 214, 1, 0), 24);
    assert!(belongs_to(
        "-s 10.214.1.2/32 -d 10.214.1.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "x",
        s
    ));
    assert!(!belongs_to(
        "-s 10.214.2.2/32 -d 10.214.2.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "x",
        s
    ));
    assert!(belongs_to(
        "! -i bltfw1 -p tcp -m tcp --dport 1 -j DNAT --to-destination 1.2.3.4:5",
        "bltfw1",
        s
    ));
    assert!(!belongs_to("-i bltfw12 -j RETURN", "bltfw1", s));
    assert!(check_bridge("br-0.x_y").is_ok());
    assert!(
        check_bridge("-x").is_err() && check_bridge("a b").is_err() && check_bridge("").is_err()
    );
    assert!(check_subnet((Ipv4Addr::new(10, 0, 0, 0), 33)).is_err());
}

#[test]
fn add_network_chains_hooks_idempotence_and_removal() {
    let _serial = serial();
    let Some(fw) = firewall() else { return };
    let mut nets = Nets::new(fw.clone());
    let (a, sa) = nets.add(false);

    let forward = rules("filter", "FORWARD");
    assert_eq!(
        forward[..2],
        ["-A FORWARD -j BALEIA-USER", "-A FORWARD -j BALEIA-FORWARD"],
        "{forward:?}"
    );
    assert_eq!(rules("filter", CHAIN_USER), ["-A BALEIA-USER -j RETURN"]);
    let fwd = rules("filter", CHAIN_FORWARD);
    assert_eq!(fwd[0], "-A BALEIA-FORWARD -j BALEIA-ISOLATION-STAGE-1");
    for r in [
        format!("-A BALEIA-FORWARD -o {a} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        format!("-A BALEIA-FORWARD -o {a} -j BALEIA"),
        format!("-A BALEIA-FORWARD -i {a} -j ACCEPT"),
    ] {
        assert!(fwd.contains(&r), "{r} not in {fwd:?}");
    }
    assert!(rules("filter", CHAIN_BALEIA).contains(&format!("-A BALEIA ! -i {a} -o {a} -j DROP")));
    assert!(rules("filter", CHAIN_ISOLATION_1).contains(&format!(
        "-A BALEIA-ISOLATION-STAGE-1 -i {a} ! -o {a} -j BALEIA-ISOLATION-STAGE-2"
    )));
    assert!(rules("filter", CHAIN_ISOLATION_2)
        .contains(&format!("-A BALEIA-ISOLATION-STAGE-2 -o {a} -j DROP")));
    let hook = "-m addrtype --dst-type LOCAL -j BALEIA".to_string();
    assert!(rules("nat", "PREROUTING").contains(&format!("-A PREROUTING {hook}")));
    assert!(rules("nat", "OUTPUT").contains(&format!("-A OUTPUT {hook}")));
    assert_eq!(
        rules("nat", "POSTROUTING")[0],
        "-A POSTROUTING -j BALEIA-POSTROUTING"
    );
    assert!(rules("nat", CHAIN_BALEIA).contains(&format!("-A BALEIA -i {a} -j RETURN")));
    let post = rules("nat", CHAIN_POSTROUTING);
    assert!(post.contains(&format!(
        "-A BALEIA-POSTROUTING -s {} ! -o {a} -j MASQUERADE",
        cidr(sa)
    )));
    assert!(post.contains(&format!(
        "-A BALEIA-POSTROUTING -s 127.0.0.0/8 -o {a} -j MASQUERADE"
    )));

    // Idempotent: a second add changes nothing.
    let before = snapshot(&a);
    let t = Instant::now();
    fw.add_network(&a, sa, false).unwrap();
    eprintln!("add_network again (no change): {:?}", t.elapsed());
    assert_eq!(snapshot(&a), before);

    // A second, internal network.
    let (b, sb) = nets.add(true);
    let fwd = rules("filter", CHAIN_FORWARD);
    let drop_out = fwd
        .iter()
        .position(|r| *r == format!("-A BALEIA-FORWARD -i {b} ! -o {b} -j DROP"));
    let accept = fwd
        .iter()
        .position(|r| *r == format!("-A BALEIA-FORWARD -i {b} -j ACCEPT"));
    assert!(drop_out.is_some() && drop_out < accept, "{fwd:?}");
    assert!(fwd.contains(&format!("-A BALEIA-FORWARD ! -i {b} -o {b} -j DROP")));
    assert!(!rules("nat", CHAIN_POSTROUTING)
        .iter()
        .any(|r| r.contains(&cidr(sb))));
    let bridges = fw.bridges().unwrap();
    assert!(bridges.contains(&a) && bridges.contains(&b), "{bridges:?}");

    // Removing one keeps the other's rules and the chains.
    let t = Instant::now();
    fw.remove_network(&a, sa).unwrap();
    eprintln!("remove_network (one of two): {:?}", t.elapsed());
    let now = snapshot(&a);
    assert!(!now.iter().any(|l| l.contains(&a)), "{now:?}");
    assert!(now.iter().any(|l| l.contains(&b)));
    assert_eq!(rules("filter", "FORWARD")[..2], forward[..2]);
    assert!(!fw.bridges().unwrap().contains(&a));
    fw.remove_network(&a, sa).unwrap(); // again: fine

    // Removing the last removes chains and hooks.
    let t = Instant::now();
    fw.remove_network(&b, sb).unwrap();
    eprintln!("remove_network (last): {:?}", t.elapsed());
    assert!(!snapshot(&b).iter().any(|l| l.contains(&b)));
    nets.assert_clean();
}

#[test]
fn publish_and_unpublish() {
    let _serial = serial();
    let Some(fw) = firewall() else { return };
    let mut nets = Nets::new(fw.clone());
    // Publishing before the chains exist fails, says why, and leaves nothing.
    if nets.clean_before {
        let c = Ipv4Addr::new(10, 214, 0, 2);
        let port = PortRule {
            host_ip: None,
            host_port: 18080,
            container_port: 80,
            proto: Proto::Tcp,
        };
        let err = fw.publish("bltfwnone", c, &[port]).unwrap_err().to_string();
        assert!(
            err.contains("iptables-restore") && err.contains("failed"),
            "{err}"
        );
        assert_eq!(baleia_lines(), 0, "{}", save());
        eprintln!("publish without chains: {err}");

        // The filter table goes in, the nat one fails: the filter rule is taken back.
        struct Chain;
        impl Drop for Chain {
            fn drop(&mut self) {
                let _ = Command::new("iptables")
                    .args(["-w", "-F", "BALEIA"])
                    .output();
                let _ = Command::new("iptables")
                    .args(["-w", "-X", "BALEIA"])
                    .output();
            }
        }
        let chain = Chain;
        run("iptables", &["-w", "-N", "BALEIA"]);
        assert!(fw.publish("bltfwnone", c, &[port]).is_err());
        assert_eq!(rules("filter", "BALEIA"), Vec::<String>::new());
        drop(chain);
        assert_eq!(baleia_lines(), 0, "{}", save());
    }
    let (br, s) = nets.add(false);
    let c = ip(s.0, 2);
    let ports = [
        PortRule {
            host_ip: None,
            host_port: 18080,
            container_port: 80,
            proto: Proto::Tcp,
        },
        PortRule {
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 15353,
            container_port: 53,
            proto: Proto::Udp,
        },
    ];
    let before = snapshot(&br);
    fw.publish(&br, c, &[]).unwrap();
    let t = Instant::now();
    fw.publish(&br, c, &ports).unwrap();
    eprintln!("publish (2 ports): {:?}", t.elapsed());

    let nat = rules("nat", CHAIN_BALEIA);
    for r in [
        format!("-A BALEIA ! -i {br} -p tcp -m tcp --dport 18080 -j DNAT --to-destination {c}:80"),
        format!("-A BALEIA -d 127.0.0.1/32 ! -i {br} -p udp -m udp --dport 15353 -j DNAT --to-destination {c}:53"),
    ] {
        assert!(nat.contains(&r), "{r} not in {nat:?}");
    }
    let filter = rules("filter", CHAIN_BALEIA);
    let accept = filter.iter().position(|r| {
        *r == format!("-A BALEIA -d {c}/32 ! -i {br} -o {br} -p tcp -m tcp --dport 80 -j ACCEPT")
    });
    let drop = filter
        .iter()
        .position(|r| *r == format!("-A BALEIA ! -i {br} -o {br} -j DROP"));
    assert!(accept.is_some() && accept < drop, "{filter:?}");
    assert!(filter.contains(&format!(
        "-A BALEIA -d {c}/32 ! -i {br} -o {br} -p udp -m udp --dport 53 -j ACCEPT"
    )));
    let post = rules("nat", CHAIN_POSTROUTING);
    assert!(post.contains(&format!(
        "-A BALEIA-POSTROUTING -s {c}/32 -d {c}/32 -p tcp -m tcp --dport 80 -j MASQUERADE"
    )));
    assert!(post.contains(&format!(
        "-A BALEIA-POSTROUTING -s {c}/32 -d {c}/32 -p udp -m udp --dport 53 -j MASQUERADE"
    )));

    let t = Instant::now();
    fw.unpublish(&br, c, &ports).unwrap();
    eprintln!("unpublish (2 ports): {:?}", t.elapsed());
    assert_eq!(snapshot(&br), before);
    let t = Instant::now();
    fw.unpublish(&br, c, &ports).unwrap();
    eprintln!(
        "unpublish again (fallback, nothing left): {:?}",
        t.elapsed()
    );
    assert_eq!(snapshot(&br), before);

    // Half gone: the fallback removes the rest.
    fw.publish(&br, c, &ports).unwrap();
    fw.unpublish(&br, c, &ports[..1]).unwrap();
    fw.unpublish(&br, c, &ports).unwrap();
    assert_eq!(snapshot(&br), before);

    // Leftover published rules go with their network.
    fw.publish(&br, c, &ports).unwrap();
    fw.remove_network(&br, s).unwrap();
    assert!(!snapshot(&br)
        .iter()
        .any(|l| l.contains(&br) || l.contains(&c.to_string())));
    nets.assert_clean();
}

/// Links, namespaces and a server process a test made; removed on drop.
#[derive(Default)]
struct Lab {
    links: Vec<String>,
    netns: Vec<String>,
    server: Option<Child>,
    others: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut child in self.server.take().into_iter().chain(self.others.drain(..)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for link in &self.links {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn sh(args: &str) {
    let args: Vec<&str> = args.split_whitespace().collect();
    run(args[0], &args[1..]);
}

/// Connect with busybox nc (from `netns` when given); what the server said.
fn fetch(netns: Option<&str>, addr: Ipv4Addr, port: u16, attempts: usize) -> String {
    let addr = addr.to_string();
    let port = port.to_string();
    let mut args = Vec::new();
    if let Some(ns) = netns {
        args.extend(["netns", "exec", ns]);
    }
    args.extend(["busybox", "nc", "-w", "2", &addr, &port]);
    for _ in 0..attempts {
        let out = Command::new(if netns.is_some() { "ip" } else { "busybox" })
            .args(if netns.is_some() {
                &args[..]
            } else {
                &args[1..]
            })
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.is_empty() {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    String::new()
}

#[test]
fn end_to_end_published_port() {
    let _serial = serial();
    let Some(fw) = firewall() else { return };
    if Command::new("busybox").arg("true").output().is_err() {
        eprintln!("skipped: no busybox");
        return;
    }
    let mut nets = Nets::new(fw.clone());
    let mut lab = Lab::default();
    let x = free_octet();
    let id = hex4();
    let br = format!("bltfw{id}");
    let (nsc, nsk) = (format!("bltfw{id}c"), format!("bltfw{id}k"));
    let (vc, vk) = (format!("bltfw{id}c0"), format!("bltfw{id}k0"));
    let subnet = (Ipv4Addr::new(10, 214, x, 0), 24);
    let container = Ipv4Addr::new(10, 214, x, 2);
    let host = Ipv4Addr::new(10, 213, x, 1);
    let port = 20000 + rand::random::<u16>() % 10000;

    lab.netns.extend([nsc.clone(), nsk.clone()]);
    lab.links.extend([br.clone(), vc.clone(), vk.clone()]);
    sh(&format!("ip netns add {nsc}"));
    sh(&format!("ip netns add {nsk}"));
    sh(&format!("ip link add {br} type bridge"));
    sh(&format!("ip addr add 10.214.{x}.1/24 dev {br}"));
    sh(&format!("ip link set {br} up"));
    sh(&format!(
        "ip link add {vc} type veth peer name eth0 netns {nsc}"
    ));
    sh(&format!("ip link set {vc} master {br} up"));
    sh(&format!("ip -n {nsc} addr add {container}/24 dev eth0"));
    sh(&format!("ip -n {nsc} link set eth0 up"));
    sh(&format!("ip -n {nsc} link set lo up"));
    sh(&format!("ip -n {nsc} route add default via 10.214.{x}.1"));
    sh(&format!(
        "ip link add {vk} type veth peer name eth0 netns {nsk}"
    ));
    sh(&format!("ip addr add {host}/24 dev {vk}"));
    sh(&format!("ip link set {vk} up"));
    sh(&format!("ip -n {nsk} addr add 10.213.{x}.2/24 dev eth0"));
    sh(&format!("ip -n {nsk} link set eth0 up"));
    sh(&format!("ip -n {nsk} route add default via {host}"));
    for setting in [
        format!("net.ipv4.conf.{br}.forwarding=1"),
        format!("net.ipv4.conf.{vk}.forwarding=1"),
        format!("net.ipv4.conf.{br}.route_localnet=1"),
    ] {
        run("sysctl", &["-q", "-w", &setting]);
    }

    nets.nets.push((br.clone(), subnet));
    fw.add_network(&br, subnet, false).unwrap();
    let rule = PortRule {
        host_ip: None,
        host_port: port,
        container_port: 80,
        proto: Proto::Tcp,
    };
    fw.publish(&br, container, &[rule]).unwrap();

    lab.server = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &nsc,
                "busybox",
                "nc",
                "-ll",
                "-p",
                "80",
                "-e",
                "echo",
                "hello-from-container",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // From another namespace to the host's address: PREROUTING DNAT, FORWARD accept.
    let said = fetch(Some(&nsk), host, port, 30);
    assert!(said.contains("hello-from-container"), "got {said:?}");
    let listing = run(
        "iptables",
        &["--wait", "-t", "nat", "-L", "BALEIA", "-n", "-v", "-x"],
    );
    let counted = listing
        .lines()
        .find(|l| l.contains(&format!("dpt:{port}")))
        .unwrap();
    let packets: u64 = counted.split_whitespace().next().unwrap().parse().unwrap();
    assert!(packets >= 1, "{listing}");
    eprintln!("e2e: {said:?}, DNAT rule counted {packets} packet(s)");

    // From the host to 127.0.0.1: OUTPUT DNAT, route_localnet and the 127/8 MASQUERADE.
    let said = fetch(None, Ipv4Addr::LOCALHOST, port, 30);
    assert!(said.contains("hello-from-container"), "got {said:?}");
    eprintln!("e2e via 127.0.0.1: {said:?}");

    // An unpublished port of the container is not reachable from outside its bridge.
    lab.others.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &nsc,
                "busybox",
                "nc",
                "-ll",
                "-p",
                "81",
                "-e",
                "echo",
                "unpublished",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(fetch(Some(&nsc), Ipv4Addr::LOCALHOST, 81, 30).contains("unpublished"));
    let said = fetch(Some(&nsk), container, 81, 1);
    assert!(said.is_empty(), "reached an unpublished port: {said:?}");
    let listing = run("iptables", &["--wait", "-L", "BALEIA", "-n", "-v", "-x"]);
    let dropped = listing
        .lines()
        .find(|l| l.contains("DROP") && l.contains(&br))
        .unwrap();
    let packets: u64 = dropped.split_whitespace().next().unwrap().parse().unwrap();
    assert!(packets >= 1, "{listing}");

    fw.unpublish(&br, container, &[rule]).unwrap();
    fw.remove_network(&br, subnet).unwrap();
    drop(lab);
    nets.assert_clean();
}
