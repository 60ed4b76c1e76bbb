//! Checks against the built-in engine on a private state root (root needed): containers, images,
//! files, networks, names, ports from a client namespace, iptables, and `eventually`. Every test
//! removes what it made (the root's containers, bridges and rules; namespaces, veths, chains).
//! Traffic goes only to loopback and to addresses the test or the engine made.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use baleia_lab::backend::Backend;
use baleia_lab::check::{evaluate, eventually, Context, Failure};
use baleia_lab::client::Clients;
use baleia_lab::lab::model::{
    Check, ContainerCheck, FileCheck, ImageCheck, IptablesCheck, NetworkCheck, PortCheck,
    ResolveCheck,
};
use baleia_tests::{baleia_bin, text, Root};

/// A root with busybox loaded, the backend on it, and the lab's clients.
struct Lab {
    clients: Clients,
    backend: Backend,
    captures: HashMap<String, Vec<String>>,
    // Last: dropping it removes the containers, bridges and rules of the root.
    _root: Root,
}

impl Lab {
    fn new(clients: &[&str]) -> Lab {
        let root = Root::with_lab_images(&["busybox"]);
        let env = root
            .cmd(&[])
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        let backend =
            Backend::builtin(&baleia_bin(), &root.scratch().join("shim"), env).expect("backend");
        Lab {
            clients: Clients::create(clients).expect("clients"),
            backend,
            captures: HashMap::new(),
            _root: root,
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            backend: &self.backend,
            output: "",
            exit: None,
            captures: &self.captures,
            clients: &self.clients,
        }
    }

    fn check(&self, c: Check) -> Result<(), Failure> {
        evaluate(&c, &self.ctx())
    }

    fn wait(&self, c: Check, secs: f64) -> Result<(), Failure> {
        eventually(&c, Duration::from_secs_f64(secs), &self.ctx())
    }

    fn docker(&self, args: &[&str]) -> String {
        // Through the backend, as a lab's terminal would.
        self.backend
            .ok(args)
            .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    fn ip_of(&self, container: &str, network: &str) -> String {
        let f = format!("{{{{ (index .NetworkSettings.Networks \"{network}\").IPAddress }}}}");
        self.docker(&["inspect", "-f", &f, container])
            .trim()
            .to_string()
    }
}

fn container(name: &str, state: Option<&str>, exit_code: Option<i64>) -> Check {
    Check {
        container: Some(ContainerCheck {
            name: name.into(),
            state: state.map(String::from),
            exit_code,
        }),
        ..Check::default()
    }
}

fn unmet(r: Result<(), Failure>) -> String {
    match r {
        Err(Failure::Unmet(m)) => m,
        other => panic!("expected an unmet check, got {other:?}"),
    }
}

fn unique() -> String {
    format!("{:x}{:04x}", std::process::id(), rand16())
}

fn rand16() -> u16 {
    let mut b = [0u8; 2];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    u16::from_be_bytes(b)
}

#[test]
fn container_state_and_exit_code() {
    let lab = Lab::new(&[]);
    lab.docker(&[
        "run", "-d", "--name", "three", "busybox", "sh", "-c", "exit 3",
    ]);
    lab.wait(container("three", Some("exited"), Some(3)), 10.0)
        .unwrap();
    lab.check(container("three", None, Some(3))).unwrap();
    assert_eq!(
        unmet(lab.check(container("three", Some("running"), None))),
        "container three is exited, expected running"
    );
    assert_eq!(
        unmet(lab.check(container("three", Some("exited"), Some(0)))),
        "container three exited with code 3, expected 0"
    );
    assert_eq!(
        unmet(lab.check(container("three", Some("removed"), None))),
        "container three is exited, expected removed"
    );
    lab.check(container("ghost", Some("removed"), None))
        .unwrap();
    assert_eq!(
        unmet(lab.check(container("ghost", Some("running"), None))),
        "container ghost does not exist, expected running"
    );

    lab.docker(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    lab.check(container("up", Some("running"), None)).unwrap();
    assert_eq!(
        unmet(lab.check(container("up", None, Some(137)))),
        "container up is running, expected it to have exited with code 137"
    );
    lab.docker(&["kill", "up"]);
    lab.wait(container("up", Some("exited"), Some(137)), 10.0)
        .unwrap();
    lab.docker(&["rm", "up"]);
    lab.wait(container("up", Some("removed"), None), 10.0)
        .unwrap();
}

#[test]
fn eventually_retries_until_the_check_holds_or_the_time_is_up() {
    let lab = Lab::new(&[]);
    lab.docker(&[
        "run",
        "-d",
        "--name",
        "slow",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 5",
    ]);
    lab.docker(&["run", "-d", "--name", "long", "busybox", "sleep", "60"]);
    let start = Instant::now();
    assert!(lab.check(container("slow", Some("exited"), None)).is_err());
    lab.wait(container("slow", Some("exited"), Some(5)), 15.0)
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(500));

    let start = Instant::now();
    let last = lab.wait(container("long", Some("exited"), None), 0.7);
    let took = start.elapsed();
    assert_eq!(unmet(last), "container long is running, expected exited");
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn images_present_absent_and_their_layers() {
    let lab = Lab::new(&[]);
    let image = |name: &str, present: bool, layers: Option<usize>| Check {
        image: Some(ImageCheck {
            name: name.into(),
            present,
            layers,
        }),
        ..Check::default()
    };
    lab.check(image("busybox", true, Some(1))).unwrap();
    lab.check(image("busybox:latest", true, None)).unwrap();
    assert_eq!(
        unmet(lab.check(image("busybox", true, Some(2)))),
        "image busybox has 1 layer, expected 2"
    );
    assert_eq!(
        unmet(lab.check(image("busybox", false, None))),
        "image busybox is present, expected absent"
    );
    lab.check(image("nosuch:1.0", false, None)).unwrap();
    assert_eq!(
        unmet(lab.check(image("nosuch:1.0", true, None))),
        "image nosuch:1.0 is not present"
    );
}

#[test]
fn a_file_inside_a_running_container() {
    let lab = Lab::new(&[]);
    // The folder exists only inside the container; the link is absolute, so it must resolve in
    // the container's root, not the host's.
    lab.docker(&[
        "run",
        "-d",
        "--name",
        "filer",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /blab-only && printf 'hello\\nfrom inside\\n' > /blab-only/greeting && \
         ln -s /blab-only/greeting /tmp/link && sleep 60",
    ]);
    assert!(!std::path::Path::new("/blab-only").exists());
    let file = |path: &str, contains: Option<&str>| Check {
        file: Some(FileCheck {
            container: "filer".into(),
            path: path.into(),
            contains: contains.map(String::from),
        }),
        ..Check::default()
    };
    lab.wait(file("/blab-only/greeting", Some("from inside")), 10.0)
        .unwrap();
    lab.check(file("/tmp/link", Some("hello\nfrom [..]")))
        .unwrap();
    lab.check(file("/etc/hostname", None)).unwrap();
    assert_eq!(
        unmet(lab.check(file("/blab-only/greeting", Some("from outside")))),
        "/blab-only/greeting in container filer does not match: no line matches \"from outside\""
    );
    assert_eq!(
        unmet(lab.check(file("/nope", None))),
        "there is no /nope in container filer"
    );
    lab.docker(&["kill", "filer"]);
    lab.wait(container("filer", Some("exited"), None), 10.0)
        .unwrap();
    assert_eq!(
        unmet(lab.check(file("/etc/hostname", None))),
        "container filer is exited, expected running"
    );
}

#[test]
fn network_membership() {
    let lab = Lab::new(&[]);
    let net = format!("blab-net-{}", unique());
    lab.docker(&["network", "create", &net]);
    lab.docker(&[
        "run",
        "-d",
        "--name",
        "na",
        "--network",
        &net,
        "busybox",
        "sleep",
        "60",
    ]);
    lab.docker(&["run", "-d", "--name", "nb", "busybox", "sleep", "60"]);
    let network = |name: &str, container: Option<&str>, present: bool| Check {
        network: Some(NetworkCheck {
            name: name.into(),
            container: container.map(String::from),
            present,
        }),
        ..Check::default()
    };
    lab.check(network(&net, None, true)).unwrap();
    lab.check(network(&net, Some("na"), true)).unwrap();
    lab.check(network(&net, Some("nb"), false)).unwrap();
    assert_eq!(
        unmet(lab.check(network(&net, Some("nb"), true))),
        format!("container nb is not on network {net} (it is on: bridge)")
    );
    assert_eq!(
        unmet(lab.check(network(&net, Some("na"), false))),
        format!("container na is on network {net}, expected it not to be")
    );
    lab.docker(&["network", "connect", &net, "nb"]);
    lab.wait(network(&net, Some("nb"), true), 10.0).unwrap();
    lab.check(network("blab-ghost", None, false)).unwrap();
    assert_eq!(
        unmet(lab.check(network("blab-ghost", None, true))),
        "network blab-ghost does not exist"
    );
    assert_eq!(
        unmet(lab.check(network(&net, None, false))),
        format!("network {net} exists, expected it removed")
    );
}

#[test]
fn names_resolve_on_a_user_network_and_not_on_the_default_bridge() {
    let lab = Lab::new(&[]);
    let net = format!("blab-dns-{}", unique());
    lab.docker(&["network", "create", &net]);
    for c in ["c1", "c2"] {
        lab.docker(&[
            "run",
            "-d",
            "--name",
            c,
            "--network",
            &net,
            "busybox",
            "sleep",
            "60",
        ]);
    }
    for c in ["d1", "d2"] {
        lab.docker(&["run", "-d", "--name", c, "busybox", "sleep", "60"]);
    }
    let resolves = |container: &str, name: &str, to: Option<&str>| Check {
        resolves: Some(ResolveCheck {
            container: container.into(),
            name: name.into(),
            to: to.map(String::from),
        }),
        ..Check::default()
    };
    let c2 = lab.ip_of("c2", &net);
    assert!(c2.parse::<Ipv4Addr>().is_ok(), "{c2:?}");
    // Through the embedded DNS at 127.0.0.11 of c1.
    lab.wait(resolves("c1", "c2", Some(&c2)), 10.0).unwrap();
    lab.check(resolves("c1", "C2.", None)).unwrap();
    assert_eq!(
        unmet(lab.check(resolves("c1", "c2", Some("10.9.9.9")))),
        format!(
            "c2 resolves in container c1 to {c2} (by name server 127.0.0.11), expected 10.9.9.9"
        )
    );
    // Through /etc/hosts.
    lab.check(resolves("c1", "localhost", Some("127.0.0.1")))
        .unwrap();
    // A name the embedded DNS does not know: it asks the root's upstream (127.0.0.1, where
    // nothing answers) and fails the query.
    assert_eq!(
        unmet(lab.check(resolves("c1", "blab-nobody", None))),
        "blab-nobody does not resolve in container c1: 127.0.0.11 answers SERVFAIL"
    );
    // On the default bridge there is no embedded DNS: the name server is the container's own
    // loopback (the test root's "dns": ["127.0.0.1"]), where nothing answers.
    let m = unmet(lab.check(resolves("d1", "d2", None)));
    assert_eq!(
        m,
        "d2 does not resolve in container d1: nothing answers DNS at 127.0.0.1"
    );
}

#[test]
fn a_published_port_answers_a_client_and_other_addresses_are_refused() {
    let lab = Lab::new(&["outside"]);
    let client = lab.clients.get("outside").unwrap();
    let port = free_port();
    lab.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-port > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let check = |host: String, port: u16, from: Option<&str>, answer: Option<&str>| Check {
        port: Some(PortCheck {
            host,
            port,
            from: from.map(String::from),
            answer: answer.map(String::from),
            path: None,
        }),
        ..Check::default()
    };
    let host_ip = client.host_ip().to_string();
    let ok = "HTTP/1.[..] 200 OK\n...\nhello-port";
    lab.wait(
        check(host_ip.clone(), port, Some("outside"), Some(ok)),
        10.0,
    )
    .unwrap();
    // From the host: loopback, and the container's own address.
    lab.check(check("127.0.0.1".into(), port, None, Some(ok)))
        .unwrap();
    let web = lab.ip_of("web", "bridge");
    lab.check(check(web.clone(), 80, None, None)).unwrap();
    let m = unmet(lab.check(check(
        host_ip.clone(),
        port,
        Some("outside"),
        Some("HTTP/1.[..] 404 [..]"),
    )));
    assert!(
        m.starts_with(&format!(
            "the answer of {host_ip}:{port} from client outside to GET / (\"HTTP/1."
        )) && m.ends_with(" 200 OK\") does not match: no line matches \"HTTP/1.[..] 404 [..]\""),
        "{m}"
    );
    // The client is a machine outside: it reaches published ports, not the containers' own
    // addresses (the host forwards nothing from it that was not DNAT'd).
    assert_eq!(
        unmet(lab.check(check(web.clone(), 80, Some("outside"), None))),
        format!("{web}:80 does not answer from client outside (timed out)")
    );
    // Nothing on the container's port 81.
    assert_eq!(
        unmet(lab.check(check(web.clone(), 81, None, None))),
        format!("nothing listens on {web}:81 (connection refused)")
    );

    // Not the lab's: refused before any socket, from the host or the client.
    for from in [None, Some("outside")] {
        let start = Instant::now();
        match lab.check(check("203.0.113.8".into(), 53, from, None)) {
            Err(Failure::Error(m)) => {
                assert!(m.starts_with("refusing to connect to 203.0.113.8"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(2));
    }
    match lab.check(check("example.com".into(), 80, None, None)) {
        Err(Failure::Error(m)) => assert!(m.contains("not an IP address"), "{m}"),
        other => panic!("{other:?}"),
    }
    match lab.check(check(host_ip, port, Some("nobody"), None)) {
        Err(Failure::Error(m)) => assert!(m.contains("no such client"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn iptables_rules_present_and_absent() {
    let chain = Chain::new();
    let rule = |r: &str, present: bool| Check {
        iptables: Some(IptablesCheck {
            table: "filter".into(),
            rule: r.into(),
            present,
        }),
        ..Check::default()
    };
    // No backend needed: iptables is the host's.
    let (clients, captures) = (Clients::none(), HashMap::new());
    let backend = Backend::external(std::path::Path::new("/nonexistent/docker"));
    let ctx = Context {
        backend: &backend,
        output: "",
        exit: None,
        captures: &captures,
        clients: &clients,
    };
    let check = |c: Check| evaluate(&c, &ctx);
    let pattern = format!("-A {} -p tcp -m tcp --dport 9 [..]", chain.0);
    let m = unmet(check(rule(&pattern, true)));
    assert_eq!(m, format!("no rule of table filter matches {pattern:?}"));
    check(rule(&pattern, false)).unwrap();

    iptables(&["-A", &chain.0, "-p", "tcp", "--dport", "9", "-j", "RETURN"]);
    check(rule(&pattern, true)).unwrap();
    let m = unmet(check(rule(&pattern, false)));
    assert_eq!(
        m,
        format!(
            "table filter has \"-A {} -p tcp -m tcp --dport 9 -j RETURN\", expected no rule matching {pattern:?}",
            chain.0
        )
    );
    check(rule(&format!("-N {}", chain.0), true)).unwrap();
}

#[test]
fn client_namespaces_are_made_and_removed() {
    let (netns, host_if);
    {
        let clients = Clients::create(&["one", "two"]).unwrap();
        let one = clients.get("one").unwrap();
        let two = clients.get("two").unwrap();
        netns = one.netns().to_string();
        host_if = one.host_if().to_string();
        assert!(netns.starts_with("blab-one-"), "{netns}");
        assert_ne!(one.host_ip(), two.host_ip());
        let o = one.host_ip().octets();
        assert_eq!(&o[..2], &[10, 215]);
        assert_eq!(one.ip(), Ipv4Addr::new(o[0], o[1], o[2], 2));
        assert_eq!(clients.addresses().len(), 4);
        let out = one
            .command("ip")
            .args(["-4", "-o", "addr"])
            .output()
            .unwrap();
        let addrs = text(&out.stdout);
        assert!(
            addrs.contains(&format!("eth0    inet {}/24", one.ip())),
            "{addrs}"
        );
        let routes = text(&one.command("ip").args(["route"]).output().unwrap().stdout);
        assert!(
            routes.contains(&format!("default via {}", one.host_ip())),
            "{routes}"
        );
        // The host's end answers the client (a ping on the link the test made).
        let ping = one
            .command("ping")
            .args(["-c", "1", "-W", "2", &one.host_ip().to_string()])
            .output()
            .unwrap();
        assert!(ping.status.success(), "{}", text(&ping.stdout));
        // A thread in the namespace can use the client's address; the host has no such address.
        let ip = one.ip();
        assert!(one
            .run(move || std::net::TcpListener::bind((ip, 0)).is_ok())
            .unwrap());
        assert!(std::net::TcpListener::bind((ip, 0)).is_err());
        let forward = text(
            &Command::new("iptables")
                .args(["-w", "-t", "mangle", "-S", "FORWARD"])
                .output()
                .unwrap()
                .stdout,
        );
        assert!(
            forward.contains(&format!(
                "-A FORWARD -i {host_if} -m conntrack ! --ctstate DNAT"
            )),
            "{forward}"
        );
        assert_eq!(
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{host_if}/forwarding"))
                .unwrap()
                .trim(),
            "1"
        );
    }
    let list = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!list.contains(&netns), "{list}");
    let links = Command::new("ip")
        .args(["link", "show", &host_if])
        .output()
        .unwrap();
    assert!(!links.status.success(), "{host_if} is still there");
    let guard = Command::new("iptables")
        .args(["-w", "-t", "mangle", "-S", "FORWARD"])
        .output()
        .unwrap();
    assert!(
        !text(&guard.stdout).contains(&host_if),
        "its FORWARD rule is still there"
    );
}

/// A filter chain `BLAB<unique>`, flushed and deleted when dropped.
struct Chain(String);

impl Chain {
    fn new() -> Chain {
        let c = Chain(format!("BLAB{}", unique().to_uppercase()));
        iptables(&["-N", &c.0]);
        c
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-w", "-F", &self.0])
            .output();
        let _ = Command::new("iptables")
            .args(["-w", "-X", &self.0])
            .output();
    }
}

fn iptables(args: &[&str]) {
    let o = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .expect("iptables");
    assert!(o.status.success(), "iptables {args:?}: {}", text(&o.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
