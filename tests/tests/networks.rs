//! Networks as the notes use them: the default bridge (no names, `--link` one way), user-defined
//! bridges (names through the embedded DNS, isolation between bridges, connect/disconnect), host
//! and none, and published ports reached from 127.0.0.1 and from a client namespace. Traffic only
//! ever goes to addresses these tests or the engine made.

use std::process::{Command, Output};

use baleia_tests::client::ClientNs;
use baleia_tests::{text, Root};

fn host(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    text(&o.stdout)
}

fn exec(root: &Root, c: &str, args: &[&str]) -> Output {
    let mut a = vec!["exec", c];
    a.extend(args);
    root.run(&a)
}

fn exec_ok(root: &Root, c: &str, args: &[&str]) -> String {
    let o = exec(root, c, args);
    assert!(
        o.status.success(),
        "exec {c} {args:?}: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn inspect(root: &Root, what: &str, format: &str) -> String {
    root.ok(&["inspect", "-f", format, what]).trim().to_string()
}

/// The filter table's FORWARD policy set to DROP for a while, as Docker sets it; put back on drop.
struct ForwardPolicyDrop(String);

impl ForwardPolicyDrop {
    fn set() -> ForwardPolicyDrop {
        let rules = host("iptables", &["-S", "FORWARD"]);
        let was = rules
            .lines()
            .find_map(|l| l.strip_prefix("-P FORWARD "))
            .unwrap_or("ACCEPT")
            .to_string();
        assert!(Command::new("iptables")
            .args(["-P", "FORWARD", "DROP"])
            .status()
            .unwrap()
            .success());
        ForwardPolicyDrop(was)
    }
}

impl Drop for ForwardPolicyDrop {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-P", "FORWARD", &self.0])
            .status();
    }
}

/// A host port nobody uses now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The veths on `bridge` once the ones of stopped containers are gone: the kernel removes a veth
/// pair with its container's network namespace, a moment after the container's last process.
fn links_left_on(bridge: &str) -> String {
    for _ in 0..100 {
        let l = links_on(bridge);
        if l.is_empty() {
            return l;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    links_on(bridge)
}

fn links_on(bridge: &str) -> String {
    host("ip", &["-o", "link", "show", "master", bridge])
}

#[test]
fn user_bridge_names_resolve_both_ways_and_the_bridge_is_named_after_the_id() {
    let root = Root::with_lab_images(&["busybox"]);
    let id = root
        .ok(&["network", "create", "neotech"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let bridge = format!("br-{}", &id[..12]);
    let gateway = inspect(&root, "neotech", "{{(index .IPAM.Config 0).Gateway}}");
    assert!(
        host("ip", &["-4", "-o", "addr", "show", "dev", &bridge])
            .contains(&format!("inet {gateway}/")),
        "{bridge} carries the gateway {gateway}"
    );
    let ls = root.ok(&["network", "ls"]);
    let header = ls.lines().next().unwrap();
    assert!(header.starts_with("NETWORK ID     NAME"), "{ls}");
    for name in ["bridge", "host", "none", "neotech"] {
        assert!(
            ls.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{ls}"
        );
    }

    root.ok(&[
        "run",
        "-d",
        "--name",
        "conteiner1",
        "--network",
        "neotech",
        "busybox",
        "sleep",
        "300",
    ]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "conteiner2",
        "--network=neotech",
        "--network-alias",
        "web",
        "busybox",
        "sleep",
        "300",
    ]);
    let ip1 = inspect(
        &root,
        "conteiner1",
        "{{.NetworkSettings.Networks.neotech.IPAddress}}",
    );
    let ip2 = inspect(
        &root,
        "conteiner2",
        "{{.NetworkSettings.Networks.neotech.IPAddress}}",
    );
    assert_ne!(ip1, ip2);
    assert!(exec_ok(&root, "conteiner1", &["ping", "-c1", "-W2", "conteiner2"]).contains(&ip2));
    assert!(exec_ok(&root, "conteiner2", &["ping", "-c1", "-W2", "conteiner1"]).contains(&ip1));
    assert!(exec_ok(&root, "conteiner1", &["ping", "-c1", "-W2", "web"]).contains(&ip2));
    root.ok(&["rename", "conteiner2", "renamed2"]);
    assert!(exec_ok(&root, "conteiner1", &["ping", "-c1", "-W2", "renamed2"]).contains(&ip2));
    root.ok(&["rename", "renamed2", "conteiner2"]);
    let short2 = inspect(&root, "conteiner2", "{{.Id}}")[..12].to_string();
    assert!(exec_ok(&root, "conteiner1", &["ping", "-c1", "-W2", &short2]).contains(&ip2));
    assert!(exec_ok(&root, "conteiner1", &["cat", "/etc/resolv.conf"])
        .contains("nameserver 127.0.0.11"));
    assert!(
        exec_ok(&root, "conteiner1", &["ip", "route"]).contains(&format!("default via {gateway}"))
    );
    // A name nobody has is not an answer (and the lookup stayed on loopback).
    assert!(
        !exec(&root, "conteiner1", &["ping", "-c1", "-W1", "nosuchname"])
            .status
            .success()
    );

    let net = root.ok(&["network", "inspect", "neotech"]);
    let v: serde_json::Value = serde_json::from_str(&net).unwrap();
    let members = v[0]["Containers"].as_object().unwrap();
    assert_eq!(members.len(), 2, "{net}");
    assert!(
        members
            .values()
            .any(|m| m["IPv4Address"] == format!("{ip1}/16") && m["Name"] == "conteiner1"),
        "{net}"
    );
    assert!(!net.contains("Aliases"), "{net}");
    assert_eq!(links_on(&bridge).lines().count(), 2);

    let busy = root.fails(&["network", "rm", "neotech"]);
    assert!(busy.contains("has active endpoints"), "{busy}");
    root.ok(&["rm", "-f", "conteiner1", "conteiner2"]);
    assert_eq!(
        links_left_on(&bridge),
        "",
        "the veths left with their containers"
    );
    assert_eq!(root.ok(&["network", "rm", "neotech"]), "neotech\n");
    assert!(!Command::new("ip")
        .args(["link", "show", &bridge])
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn the_default_bridge_has_no_names_and_a_link_is_one_way() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "conteiner1",
        "busybox",
        "sleep",
        "300",
    ]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "conteiner2",
        "--link",
        "conteiner1",
        "busybox",
        "sleep",
        "300",
    ]);
    let ip1 = inspect(&root, "conteiner1", "{{ .NetworkSettings.IPAddress }}");
    let ip2 = inspect(&root, "conteiner2", "{{ .NetworkSettings.IPAddress }}");
    let gateway = inspect(&root, "conteiner1", "{{ .NetworkSettings.Gateway }}");
    assert!(ip1.ends_with(".2") && ip2.ends_with(".3"), "{ip1} {ip2}");
    let bridge = root.bridge();
    assert!(host("ip", &["-4", "-o", "addr", "show", "dev", &bridge])
        .contains(&format!("inet {gateway}/16")));
    assert_eq!(links_on(&bridge).lines().count(), 2);
    let eth0 = exec_ok(
        &root,
        "conteiner1",
        &["ip", "-o", "-4", "addr", "show", "eth0"],
    );
    assert!(eth0.contains(&format!("inet {ip1}/16")), "{eth0}");

    // The notes ping an outside address; here the gateway stands in. Then container to container.
    exec_ok(&root, "conteiner1", &["ping", "-c1", "-W2", &gateway]);
    exec_ok(&root, "conteiner2", &["ping", "-c1", "-W2", &ip1]);
    assert!(exec_ok(&root, "conteiner2", &["ping", "-c1", "-W2", "conteiner1"]).contains(&ip1));
    let short1 = inspect(&root, "conteiner1", "{{.Id}}")[..12].to_string();
    let hosts2 = exec_ok(&root, "conteiner2", &["cat", "/etc/hosts"]);
    assert!(
        hosts2.contains(&format!("{ip1}\tconteiner1 {short1}")),
        "{hosts2}"
    );
    let env2 = exec_ok(&root, "conteiner2", &["env"]);
    assert!(
        env2.contains("CONTEINER1_NAME=/conteiner2/conteiner1"),
        "{env2}"
    );
    assert_eq!(
        inspect(&root, "conteiner2", "{{json .HostConfig.Links}}"),
        r#"["/conteiner1:/conteiner2/conteiner1"]"#
    );
    // The other way there is no name: the default bridge has no DNS.
    let back = exec(&root, "conteiner1", &["ping", "-c1", "-W1", "conteiner2"]);
    assert!(!back.status.success());
    assert!(!exec_ok(&root, "conteiner1", &["cat", "/etc/hosts"]).contains("conteiner2"));

    root.ok(&["stop", "-t", "0", "conteiner1"]);
    let e = root.fails(&["run", "--rm", "--link", "conteiner1:db", "busybox", "true"]);
    assert!(
        e.contains("Cannot link to a non running container: /conteiner1 AS"),
        "{e}"
    );
}

#[test]
fn two_user_bridges_are_isolated_until_connected() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&["network", "create", "neta"]);
    root.ok(&["network", "create", "netb"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "a1",
        "--network",
        "neta",
        "busybox",
        "sleep",
        "300",
    ]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "b1",
        "--network",
        "netb",
        "busybox",
        "sleep",
        "300",
    ]);
    let b1 = inspect(&root, "b1", "{{.NetworkSettings.Networks.netb.IPAddress}}");
    assert!(!exec(&root, "a1", &["ping", "-c1", "-W1", &b1])
        .status
        .success());
    assert!(!exec(&root, "a1", &["ping", "-c1", "-W1", "b1"])
        .status
        .success());

    root.ok(&["network", "connect", "neta", "b1"]);
    let addrs = exec_ok(&root, "b1", &["ip", "-o", "-4", "addr"]);
    assert!(addrs.contains("eth1"), "{addrs}");
    let b1a = inspect(&root, "b1", "{{.NetworkSettings.Networks.neta.IPAddress}}");
    assert!(exec_ok(&root, "a1", &["ping", "-c1", "-W2", "b1"]).contains(&b1a));
    // And the other way: b1's resolver now knows neta's members too.
    let a1 = inspect(&root, "a1", "{{.NetworkSettings.Networks.neta.IPAddress}}");
    assert!(exec_ok(&root, "b1", &["ping", "-c1", "-W2", "a1"]).contains(&a1));

    root.ok(&["network", "disconnect", "neta", "b1"]);
    assert!(!exec_ok(&root, "b1", &["ip", "-o", "link"]).contains("eth1"));
    assert!(!exec(&root, "a1", &["ping", "-c1", "-W1", &b1a])
        .status
        .success());
    let e = root.fails(&["network", "disconnect", "neta", "b1"]);
    assert!(e.contains("is not connected to network neta"), "{e}");
}

#[test]
fn host_mode_sees_the_hosts_links_and_none_has_only_lo() {
    let root = Root::with_lab_images(&["busybox"]);
    let route = host("ip", &["route", "show", "default"]);
    let uplink = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or("lo");
    let inside = root.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(inside.contains(&format!(": {uplink}:")), "{inside}");
    let none = root.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
    assert!(none.contains(": lo:") && none.contains("UP"), "{none}");
}

#[test]
fn a_published_port_answers_on_localhost_and_from_another_host() {
    let root = Root::with_lab_images(&["busybox"]);
    let port = free_port().to_string();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--publish",
        &format!("{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert_eq!(
        root.ok(&["port", "web"]),
        format!("80/tcp -> 0.0.0.0:{port}\n")
    );
    assert_eq!(root.ok(&["port", "web", "80"]), format!("0.0.0.0:{port}\n"));
    assert!(root
        .ok(&["ps"])
        .contains(&format!("0.0.0.0:{port}->80/tcp")));
    let ip = inspect(&root, "web", "{{ .NetworkSettings.IPAddress }}");
    let short = inspect(&root, "web", "{{.Id}}")[..12].to_string();
    let rule = format!("--dport {port} -j DNAT --to-destination {ip}:80");
    assert!(host("iptables", &["-t", "nat", "-S", "BALEIA"]).contains(&rule));

    // From the host, on the container's address and on 127.0.0.1.
    let get = |url: &str| host("curl", &["-sS", "-m", "5", url]);
    assert_eq!(get(&format!("http://{ip}:80/hostname")).trim(), short);
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/hostname")).trim(),
        short
    );
    // From another machine, through the host's address on its link; even with the FORWARD policy
    // at DROP, as a real Docker beside us sets it.
    let _policy = ForwardPolicyDrop::set();
    let client = ClientNs::new();
    let url = format!("http://{}:{port}/hostname", client.host_ip);
    let o = client.exec(&["curl", "-sS", "-m", "5", &url]);
    assert_eq!(text(&o.stdout).trim(), short, "{}", text(&o.stderr));
    let counted = host("iptables", &["-t", "nat", "-L", "BALEIA", "-n", "-v"]);
    assert!(
        counted.contains(&format!("dpt:{port} to:{ip}:80")),
        "{counted}"
    );

    // The same port again is a clear error, and nothing is half-made.
    let e = root.fails(&[
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "httpd",
        "-f",
    ]);
    assert!(
        e.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{e}"
    );
    let nat = host("iptables", &["-t", "nat", "-S", "BALEIA"]);
    assert_eq!(nat.matches(&format!("--dport {port} ")).count(), 1, "{nat}");
    assert_eq!(links_on(&root.bridge()).lines().count(), 1);
    assert_eq!(inspect(&root, "web2", "{{.State.Status}}"), "created");

    root.ok(&["rm", "-f", "web"]);
    assert!(!host("iptables", &["-t", "nat", "-S", "BALEIA"]).contains(&rule));
    assert_eq!(links_left_on(&root.bridge()), "");

    // A port some other program holds is refused too.
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = held.local_addr().unwrap().port().to_string();
    let e = root.fails(&[
        "run",
        "--rm",
        "-p",
        &format!("{busy}:80"),
        "busybox",
        "true",
    ]);
    assert!(e.contains("port is already allocated"), "{e}");
}

#[test]
fn publish_all_gives_exposed_ports_free_host_ports() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run", "-d", "--name", "pp", "-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80",
        "-h", "/etc",
    ]);
    let at = root.ok(&["port", "pp", "80/tcp"]);
    let port = at.trim().rsplit(':').next().unwrap().to_string();
    assert!(port.parse::<u16>().unwrap() > 1024, "{at}");
    let short = inspect(&root, "pp", "{{.Id}}")[..12].to_string();
    let got = host(
        "curl",
        &[
            "-sS",
            "-m",
            "5",
            &format!("http://127.0.0.1:{port}/hostname"),
        ],
    );
    assert_eq!(got.trim(), short);
    let e = root.fails(&["port", "pp", "81"]);
    assert!(
        e.contains("No public port '81/tcp' published for pp"),
        "{e}"
    );
}

#[test]
fn a_killed_monitor_leaves_no_rule_no_address_and_no_veth() {
    let root = Root::with_lab_images(&["busybox"]);
    let port = free_port().to_string();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ]);
    let ip = inspect(&root, "cc", "{{ .NetworkSettings.IPAddress }}");
    let pid = inspect(&root, "cc", "{{.State.Pid}}");
    // The monitor is PID 1's parent.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let monitor = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(Command::new("kill")
        .args(["-9", &monitor])
        .status()
        .unwrap()
        .success());
    // PID 1 dies with its monitor (PR_SET_PDEATHSIG); wait for the kernel to finish it.
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(root.ok(&["ps", "-a"]).contains("Exited (137)"));
    assert!(!host("iptables", &["-t", "nat", "-S", "BALEIA"]).contains(&format!("{ip}:80")));
    assert_eq!(inspect(&root, "bridge", "{{len .Containers}}"), "0");
    assert_eq!(links_left_on(&root.bridge()), "");
    // Its address is free again.
    root.ok(&["run", "-d", "--name", "dd", "busybox", "sleep", "300"]);
    assert_eq!(inspect(&root, "dd", "{{ .NetworkSettings.IPAddress }}"), ip);
}

#[test]
fn network_commands_speak_like_docker() {
    let root = Root::with_lab_images(&["busybox"]);
    let free = (0..=255)
        .map(|n| format!("10.216.{n}."))
        .find(|p| !host("ip", &["-4", "route", "show", "table", "all"]).contains(p.as_str()))
        .unwrap();
    let subnet = format!("{free}0/24");
    root.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--gateway",
        &format!("{free}254"),
        "--label",
        "curso=docker",
        "lab",
    ]);
    assert_eq!(
        inspect(&root, "lab", "{{(index .IPAM.Config 0).Subnet}}"),
        subnet
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "xx",
        "--network",
        "lab",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        inspect(&root, "xx", "{{.NetworkSettings.Networks.lab.IPAddress}}"),
        format!("{free}1")
    );
    root.ok(&["rm", "-f", "xx"]);

    let e = root.fails(&["network", "create", "lab"]);
    assert!(e.contains("network with name lab already exists"), "{e}");
    let e = root.fails(&["network", "rm", "bridge"]);
    assert!(
        e.contains("bridge is a pre-defined network and cannot be removed"),
        "{e}"
    );
    let e = root.fails(&["network", "inspect", "nosuch"]);
    assert!(e.contains("network nosuch not found"), "{e}");
    let e = root.fails(&["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert!(e.contains("network nosuch not found"), "{e}");
    assert_eq!(
        root.ok(&["network", "ls", "-q", "--filter", "type=custom"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        root.ok(&[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}}",
            "--filter",
            "label=curso=docker"
        ]),
        "lab bridge\n"
    );
    assert!(root.ok(&["info"]).contains("Network: bridge host null"));
    assert_eq!(
        root.ok(&["network", "prune", "-f"]),
        "Deleted Networks:\nlab\n"
    );
    assert!(!root.ok(&["network", "ls"]).contains(" lab "));
}

#[test]
fn teardown_gives_the_host_back() {
    let root = Root::with_lab_images(&["busybox"]);
    let id = root
        .ok(&["network", "create", "neotech"])
        .trim()
        .to_string();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "aa",
        "--network",
        "neotech",
        "busybox",
        "sleep",
        "300",
    ]);
    root.ok(&[
        "run", "-d", "--name", "bb", "-p", "80", "busybox", "sleep", "300",
    ]);
    root.ok(&["system", "teardown"]);
    let links = host("ip", &["-o", "link"]);
    assert!(!links.contains(&format!("br-{}", &id[..12])), "{links}");
    assert!(!links.contains(&root.bridge()), "{links}");
    let rules = host("iptables-save", &[]);
    assert!(
        !rules.contains(&root.bridge()) && !rules.contains(&id[..12]),
        "{rules}"
    );
    // The networks are still there and work again on next use.
    root.ok(&["start", "aa"]);
    assert!(links_on(&format!("br-{}", &id[..12])).contains("veth"));
}

#[test]
fn the_notes_tools_see_it_from_a_debian_container_and_nginx_is_published() {
    let root = Root::with_lab_images(&["debian", "nginx"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "conteiner1",
        "debian",
        "sleep",
        "300",
    ]);
    let ip1 = inspect(&root, "conteiner1", "{{ .NetworkSettings.IPAddress }}");
    let gateway = inspect(&root, "conteiner1", "{{ .NetworkSettings.Gateway }}");
    let out = root.ok(&[
        "run", "--rm", "--name=conteiner2", "--link=conteiner1", "debian", "sh", "-c",
        "ip address show eth0; ip route show; ifconfig eth0; ping -c1 -W2 conteiner1; cat /etc/hosts",
    ]);
    assert!(
        out.contains(&format!("default via {gateway} dev eth0")),
        "{out}"
    );
    assert!(out.contains("netmask 255.255.0.0"), "ifconfig: {out}");
    assert!(
        out.contains("1 packets transmitted, 1 received"),
        "ping: {out}"
    );
    assert!(out.contains(&format!("{ip1}\tconteiner1")), "hosts: {out}");
    assert!(
        !out.contains("inet6"),
        "IPv4 only, as Docker's default bridge: {out}"
    );

    // The notes' `docker run --name=nginx --publish=8080:80 --rm nginx`, on a free port.
    let port = free_port().to_string();
    root.ok(&[
        "run",
        "-d",
        "--name=nginx",
        &format!("--publish={port}:80"),
        "--rm",
        "nginx",
    ]);
    let ip = inspect(&root, "nginx", "{{ .NetworkSettings.IPAddress }}");
    let page = |url: &str| {
        host(
            "curl",
            &[
                "-sS",
                "-m",
                "5",
                "--retry",
                "20",
                "--retry-connrefused",
                "--retry-delay",
                "1",
                url,
            ],
        )
    };
    assert!(page(&format!("http://{ip}:80")).contains("Welcome to nginx"));
    assert!(page(&format!("http://127.0.0.1:{port}")).contains("Welcome to nginx"));
    let nat = host(
        "iptables",
        &[
            "--table",
            "nat",
            "--list",
            "BALEIA",
            "--numeric",
            "--verbose",
        ],
    );
    assert!(nat.contains(&format!("tcp dpt:{port} to:{ip}:80")), "{nat}");
}
