//! The observations against the real kernel (run as root). Every test makes its own namespaces,
//! links, addresses (10.216.N.0/24, checked free of host routes), iptables chain (BLTEST-<pid>)
//! and engine root, sends packets only to addresses it made, and removes everything through Drop
//! guards, even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use baleia_lab::backend::Backend;
use baleia_lab::lab::model::FileSpec;
use baleia_lab::observe::{self, Capture, IptablesSnapshot, Mark};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn must(program: &str, args: &[&str]) -> String {
    let o = sh(program, args);
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// A /24 under 10.216.0.0/16 that no host route or address touches, distinct per test.
fn free_subnet() -> u8 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let routes = must("ip", &["-4", "route", "show", "table", "all"]);
    let addrs = must("ip", &["-4", "-o", "addr"]);
    let used = |n: u32| {
        let p = format!("10.216.{n}.");
        routes.contains(&p) || addrs.contains(&p) || routes.contains("10.216.0.0/16")
    };
    let start = std::process::id() % 200;
    for _ in 0..250 {
        let n = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % 250 + 1;
        if !used(n) {
            return n as u8;
        }
    }
    panic!("no free 10.216.N.0/24");
}

/// A client network namespace joined to the host by a veth pair (optionally through a bridge):
/// host side 10.216.N.1/24 (on the bridge if there is one), namespace side 10.216.N.2/24.
struct Wire {
    netns: String,
    host_if: String,
    bridge: Option<String>,
    host_ip: String,
    peer_ip: String,
}

impl Wire {
    fn new(tag: &str, with_bridge: bool) -> Wire {
        let n = free_subnet();
        let id = format!("{}{tag}{n}", std::process::id() % 100000);
        let w = Wire {
            netns: format!("blobs-{id}"),
            host_if: format!("blv{id}"),
            bridge: with_bridge.then(|| format!("blb{id}")),
            host_ip: format!("10.216.{n}.1"),
            peer_ip: format!("10.216.{n}.2"),
        };
        assert!(w.host_if.len() <= 15);
        let peer = format!("blp{id}");
        // From here on Drop removes whatever was made.
        must("ip", &["netns", "add", &w.netns]);
        let ns = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &w.netns];
            a.extend(args);
            must("ip", &a);
        };
        must(
            "ip",
            &[
                "link", "add", &w.host_if, "type", "veth", "peer", "name", &peer,
            ],
        );
        // IPv4 only: no IPv6 neighbour discovery in the captures.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", w.host_if),
            "1",
        );
        must("ip", &["link", "set", &peer, "netns", &w.netns]);
        ns(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", w.peer_ip),
            "dev",
            &peer,
        ]);
        ns(&["ip", "link", "set", &peer, "name", "eth0", "up"]);
        ns(&["ip", "link", "set", "lo", "up"]);
        let addr_on = match &w.bridge {
            Some(br) => {
                must("ip", &["link", "add", br, "type", "bridge"]);
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{br}/disable_ipv6"), "1");
                must("ip", &["link", "set", &w.host_if, "master", br]);
                must("ip", &["link", "set", br, "up"]);
                br.clone()
            }
            None => w.host_if.clone(),
        };
        must(
            "ip",
            &["addr", "add", &format!("{}/24", w.host_ip), "dev", &addr_on],
        );
        must("ip", &["link", "set", &w.host_if, "up"]);
        w
    }

    /// The interface holding the host's address (the bridge, or the veth's host end).
    fn host_side(&self) -> &str {
        self.bridge.as_deref().unwrap_or(&self.host_if)
    }

    /// Ping the host's address from the namespace `count` times.
    fn ping_host(&self, count: u32) {
        must(
            "ip",
            &[
                "netns",
                "exec",
                &self.netns,
                "ping",
                "-n",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "2",
                &self.host_ip,
            ],
        );
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = sh("ip", &["link", "del", &self.host_if]);
        if let Some(br) = &self.bridge {
            let _ = sh("ip", &["link", "del", br]);
        }
        let _ = sh("ip", &["netns", "del", &self.netns]);
    }
}

#[test]
fn capture_decodes_arp_and_ping_and_tshark_reads_the_pcap() {
    assert!(
        sh("sh", &["-c", "command -v ping && command -v tshark"])
            .status
            .success(),
        "ping and tshark are needed: scripts/deps.sh installs them"
    );
    let w = Wire::new("c", true);
    let dir = tempfile::tempdir().unwrap();

    // Everything on the bridge while the namespace pings the host twice.
    let all_pcap = dir.path().join("all.pcap");
    let cap = Capture::start(w.host_side(), None, Some(&all_pcap)).unwrap();
    w.ping_host(2);
    let obs = cap.stop().unwrap();
    eprintln!("{}", obs.render(false));
    let lines = &obs.lines;
    let (h, p) = (&w.host_ip, &w.peer_ip);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("ARP, Request who-has {h} tell {p}"))),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("ARP, Reply {h} is-at "))),
        "{lines:#?}"
    );
    for seq in [1, 2] {
        for (from, to, what) in [(p, h, "request"), (h, p, "reply")] {
            let re = regex::Regex::new(&format!(
                r"^IP {} > {}: ICMP echo {what}, id \d+, seq {seq}, length 64$",
                regex::escape(from),
                regex::escape(to)
            ))
            .unwrap();
            assert!(
                lines.iter().any(|l| re.is_match(l)),
                "no echo {what} seq {seq} {from} > {to}:\n{lines:#?}"
            );
        }
    }
    // Nothing but these two addresses talked.
    // (The kernel may also announce the bridge's multicast groups on the link: IGMP from our
    // address to 224.0.0.x, which no router forwards.)
    let ipv4 = regex::Regex::new(r"\d+\.\d+\.\d+\.\d+").unwrap();
    for l in lines {
        let addrs: Vec<&str> = ipv4.find_iter(l).map(|m| m.as_str()).collect();
        let igmp = l.starts_with(&format!("IP {h} > 224.0.0.")) && l.contains(": igmp ");
        assert!(
            igmp || (!addrs.is_empty() && addrs.iter().all(|a| a == h || a == p)),
            "a packet from elsewhere: {l}"
        );
    }
    assert_eq!(obs.data["matched"].as_u64().unwrap() as usize, lines.len());
    assert!(obs.render(false).contains("ICMP echo request"));

    // tshark reads the same packets from the file.
    let tshark = |file: &Path| -> Vec<String> {
        let out = must("tshark", &["-n", "-r", file.to_str().unwrap()]);
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    };
    let read = tshark(&all_pcap);
    assert_eq!(
        read.len(),
        lines.len(),
        "tshark:\n{read:#?}\nours:\n{lines:#?}"
    );
    assert_eq!(
        read.iter()
            .filter(|l| l.contains("Echo (ping) request"))
            .count(),
        2
    );
    assert_eq!(
        read.iter().filter(|l| l.contains("ARP")).count(),
        lines.iter().filter(|l| l.starts_with("ARP")).count()
    );

    // `only: icmp` keeps the four echo packets, in the lines and in the file.
    let icmp_pcap = dir.path().join("icmp.pcap");
    let cap = Capture::start(w.host_side(), Some("icmp"), Some(&icmp_pcap)).unwrap();
    w.ping_host(2);
    let obs = cap.stop().unwrap();
    assert_eq!(obs.lines.len(), 4, "{:#?}", obs.lines);
    assert!(
        obs.lines.iter().all(|l| l.contains(": ICMP echo ")),
        "{:#?}",
        obs.lines
    );
    assert_eq!(tshark(&icmp_pcap).len(), 4);
}

#[test]
fn links_show_the_bridge_its_veth_and_the_peer_elsewhere() {
    let w = Wire::new("l", true);
    let obs = observe::links().unwrap();
    eprintln!("{}", obs.render(false));
    let br = w.bridge.as_deref().unwrap();
    let bridge = obs
        .row(br)
        .unwrap_or_else(|| panic!("{}", obs.render(false)));
    let col = |name: &str| obs.header.iter().position(|h| h == name).unwrap();
    assert_eq!(bridge.cells[col("kind")], "bridge");
    assert_eq!(bridge.cells[col("addresses")], format!("{}/24", w.host_ip));
    assert!(bridge.cells[col("state")].starts_with("UP"));
    let veth = obs
        .rows
        .iter()
        .find(|r| r.cells[0].trim() == w.host_if)
        .unwrap_or_else(|| panic!("{}", obs.render(false)));
    assert_eq!(veth.cells[col("kind")], "veth");
    assert_eq!(veth.cells[col("on bridge")], br);
    assert!(
        veth.cells[col("peer")].contains("in netns"),
        "the peer is in the client's namespace: {:?}",
        veth.cells
    );
    // The veth comes right under its bridge.
    let at = |name: &str| {
        obs.rows
            .iter()
            .position(|r| r.cells[0].trim() == name)
            .unwrap()
    };
    assert!(at(br) < at(&w.host_if));
    let data = obs.data.as_array().unwrap();
    let v = data
        .iter()
        .find(|l| l["name"] == w.host_if.as_str())
        .unwrap();
    assert_eq!(v["master"], br);
    // The peer's index is eth0's inside the namespace.
    let inside = must(
        "ip",
        &[
            "netns",
            "exec",
            &w.netns,
            "cat",
            "/sys/class/net/eth0/ifindex",
        ],
    );
    assert_eq!(v["peer_index"].as_u64().unwrap().to_string(), inside.trim());
}

/// A chain of this test, flushed and deleted when dropped.
struct Chain(String);

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = sh("iptables", &["-w", "-F", &self.0]);
        let _ = sh("iptables", &["-w", "-X", &self.0]);
    }
}

#[test]
fn iptables_diff_shows_a_rule_added_then_removed() {
    let chain = Chain(format!("BLTEST-{}", std::process::id()));
    let before = IptablesSnapshot::take().unwrap();
    assert!(before.chain("filter", "INPUT").is_some(), "{before:?}");
    must("iptables", &["-w", "-N", &chain.0]);
    must(
        "iptables",
        &[
            "-w",
            "-A",
            &chain.0,
            "-s",
            "10.216.250.0/24",
            "-j",
            "RETURN",
        ],
    );
    let after = IptablesSnapshot::take().unwrap();
    let obs = observe::iptables_diff(&before, &after);
    eprintln!("{}", obs.render(false));
    let rule = format!("-A {} -s 10.216.250.0/24 -j RETURN", chain.0);
    let ours: Vec<_> = obs
        .rows
        .iter()
        .filter(|r| r.cells[2] == chain.0)
        .map(|r| {
            (
                r.cells[0].as_str(),
                r.cells[1].as_str(),
                r.cells[3].as_str(),
                r.mark,
            )
        })
        .collect();
    assert_eq!(
        ours,
        [
            (
                "+",
                "filter",
                format!("-N {}", chain.0).as_str(),
                Mark::Added
            ),
            ("+", "filter", rule.as_str(), Mark::Added),
        ],
        "{}",
        obs.render(false)
    );

    must(
        "iptables",
        &[
            "-w",
            "-D",
            &chain.0,
            "-s",
            "10.216.250.0/24",
            "-j",
            "RETURN",
        ],
    );
    let later = IptablesSnapshot::take().unwrap();
    let obs = observe::iptables_diff(&after, &later);
    assert!(
        obs.rows
            .iter()
            .any(|r| r.cells[0] == "-" && r.cells[3] == rule && r.mark == Mark::Removed),
        "{}",
        obs.render(false)
    );
    assert!(!obs
        .rows
        .iter()
        .any(|r| r.cells[3] == format!("-N {}", chain.0)));
}

/// A private engine root with the busybox lab image, its containers and bridges removed on drop.
struct Engine {
    dir: tempfile::TempDir,
    backend: Backend,
}

static BUILD: Mutex<()> = Mutex::new(());

impl Engine {
    fn new() -> Engine {
        let dir = tempfile::Builder::new()
            .prefix("baleia-observe-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        let config = dir.path().join("daemon.json");
        let bridge = format!("blo{}", std::process::id() % 100000);
        std::fs::write(
            &config,
            format!(r#"{{"bridge": "{bridge}", "dns": ["127.0.0.1"], "ip-forward": false}}"#),
        )
        .unwrap();
        let env = vec![
            ("BALEIA_ROOT".to_string(), root.display().to_string()),
            ("BALEIA_CONFIG".to_string(), config.display().to_string()),
        ];
        let backend = Backend::builtin(&baleia_bin(), &dir.path().join("shim"), env).unwrap();
        let e = Engine { dir, backend };
        let archives = {
            let _one = BUILD.lock().unwrap_or_else(|p| p.into_inner());
            let script = workspace().join("labs/images/build.sh");
            must("bash", &[script.to_str().unwrap(), "busybox"])
        };
        for a in archives.lines().filter(|l| !l.is_empty()) {
            e.ok(&["load", "-q", "-i", a]);
        }
        e
    }

    fn ok(&self, args: &[&str]) -> String {
        self.backend
            .ok(args)
            .unwrap_or_else(|err| panic!("docker {args:?}: {err}"))
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(ids) = self.backend.ok(&["ps", "-aq", "--no-trunc"]) {
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = self.backend.ok(&["rm", "-f", id]);
            }
        }
        let _ = self.backend.ok(&["system", "teardown"]);
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// `target/debug/baleia`, beside this test's folder (`cargo build --workspace` makes it).
fn baleia_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BALEIA_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("baleia");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --workspace first",
        bin.display()
    );
    bin
}

#[test]
fn a_container_seen_from_the_host() {
    let e = Engine::new();
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "obs1",
        "--network",
        "none",
        "-m",
        "64m",
        "busybox",
        "sleep",
        "60",
    ]);
    let id = id.trim();
    let pid: u32 = e
        .ok(&["inspect", "-f", "{{.State.Pid}}", "obs1"])
        .trim()
        .parse()
        .unwrap();

    // namespaces: its own pid, mnt, net, uts, ipc; the host's user namespace.
    let ns = observe::namespaces(&e.backend, "obs1").unwrap();
    eprintln!("{}", ns.render(false));
    let differs = |t: &str| {
        ns.row(t)
            .unwrap_or_else(|| panic!("{t}: {}", ns.render(false)))
            .cells[3]
            .clone()
    };
    for t in ["pid", "mnt", "net", "uts", "ipc"] {
        assert_eq!(differs(t), "yes", "{t}\n{}", ns.render(false));
    }
    assert_eq!(differs("user"), "no", "{}", ns.render(false));
    let net = ns.row("net").unwrap();
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(link.to_string_lossy(), format!("net:[{}]", net.cells[1]));
    assert!(ns.title.contains(&format!("PID {pid}")));

    // processes: PID 1 inside is sleep, the host's PID is State.Pid.
    let ps = observe::processes(&e.backend, "obs1").unwrap();
    eprintln!("{}", ps.render(false));
    let first = ps
        .row("1")
        .unwrap_or_else(|| panic!("{}", ps.render(false)));
    assert_eq!(first.cells[1], pid.to_string());
    assert_eq!(first.cells[4], "sleep 60");
    assert_eq!(first.mark, Mark::Notable);

    // cgroups: the 64 MiB of `-m 64m` in the memory limit file.
    let cg = observe::cgroups(&e.backend, "obs1").unwrap();
    eprintln!("{}", cg.render(false));
    let limit = cg
        .rows
        .iter()
        .find(|r| r.cells[1] == "memory.limit_in_bytes" || r.cells[1] == "memory.max")
        .unwrap_or_else(|| panic!("{}", cg.render(false)));
    assert_eq!(limit.cells[2], "67108864");
    assert_eq!(limit.cells[3], "64 MiB");
    assert_eq!(limit.cells[4], "-m, --memory");
    assert!(
        cg.rows
            .iter()
            .any(|r| r.cells[1] == "pids.current" && r.cells[2] == "1"),
        "{}",
        cg.render(false)
    );
    assert!(cg.notes.iter().any(|n| n.contains(id)), "{:?}", cg.notes);

    // layers: the container's upper layer on busybox's, which the image shares.
    let ly = observe::layers(&e.backend, "obs1").unwrap();
    eprintln!("{}", ly.render(false));
    assert_eq!(
        ly.column("role"),
        ["upper (rw)", "lower (ro)"],
        "{}",
        ly.render(false)
    );
    let image_layer = e.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .RootFS.Layers 0}}",
        "busybox",
    ]);
    assert_eq!(ly.data["layers"][1]["diff_id"], image_layer.trim());
    assert!(
        ly.rows[1].cells[6].contains("busybox:latest"),
        "{}",
        ly.render(false)
    );
    assert_eq!(ly.rows[0].cells[6], "-");
    // Its lower is shown by the real folder, not the short `l/` link inspect names.
    assert!(
        ly.rows[1].cells[3].starts_with("overlay2/") && !ly.rows[1].cells[3].contains("/l/"),
        "{}",
        ly.render(false)
    );

    // files: config.v2.json in the state root, narrowed to a field.
    let f = observe::files(
        &e.backend,
        &FileSpec {
            path: format!("containers/{id}/config.v2.json"),
            select: Some(".Config.Cmd[0]".into()),
        },
    )
    .unwrap();
    assert_eq!(f.lines, ["\"sleep\""]);
    assert_eq!(
        f.data["path"],
        e.root()
            .join("containers")
            .join(id)
            .join("config.v2.json")
            .display()
            .to_string()
    );
    let f = observe::files(
        &e.backend,
        &FileSpec {
            path: format!("containers/{id}/hostname"),
            select: None,
        },
    )
    .unwrap();
    assert_eq!(f.lines, [&id[..12]]);

    e.ok(&["rm", "-f", "obs1"]);
    assert!(matches!(
        observe::namespaces(&e.backend, "obs1"),
        Err(observe::ObserveError::NotFound { .. })
    ));
}

#[test]
fn two_images_on_the_same_base_share_its_layer() {
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "obs2",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    e.ok(&["exec", "obs2", "sh", "-c", "echo hello > /hello.txt"]);
    e.ok(&["commit", "obs2", "obs-derived:1"]);
    e.ok(&["rm", "-f", "obs2"]);

    let ly = observe::layers(&e.backend, "obs-derived:1").unwrap();
    eprintln!("{}", ly.render(false));
    assert_eq!(ly.rows.len(), 2, "{}", ly.render(false));
    assert_eq!(ly.title, "layers of image obs-derived:1, top first");
    assert_eq!(ly.column("role"), ["lower (ro)", "lower (ro)"]);
    let diff_ids = e.ok(&[
        "image",
        "inspect",
        "-f",
        "{{range .RootFS.Layers}}{{println .}}{{end}}",
        "obs-derived:1",
    ]);
    let diff_ids: Vec<&str> = diff_ids.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ly.data["layers"][0]["diff_id"], diff_ids[1]);
    assert_eq!(ly.data["layers"][1]["diff_id"], diff_ids[0]);
    // Top: the committed layer, only this image's (one small file).
    assert_eq!(ly.rows[0].cells[6], "-", "{}", ly.render(false));
    assert_eq!(ly.rows[0].mark, Mark::Plain);
    assert_eq!(ly.data["layers"][0]["bytes"], 6);
    // Bottom: busybox's layer, shared with the busybox image.
    assert_eq!(
        ly.rows[1].cells[6],
        "1: busybox:latest",
        "{}",
        ly.render(false)
    );
    assert_eq!(ly.rows[1].mark, Mark::Notable);
    let base = observe::layers(&e.backend, "busybox").unwrap();
    assert_eq!(base.rows.len(), 1);
    assert_eq!(
        base.rows[0].cells[6],
        "1: obs-derived:1",
        "{}",
        base.render(false)
    );
    assert_eq!(
        base.data["layers"][0]["real_dir"],
        ly.data["layers"][1]["real_dir"]
    );
    assert!(base.data["layers"][0]["bytes"].as_u64().unwrap() > 500_000);
}

#[test]
fn an_idle_capture_stops_promptly() {
    // Loopback never carries ARP: nothing to see, and stop must not wait for a packet.
    let cap = Capture::start("lo", Some("arp"), None).unwrap();
    assert_eq!(cap.interface(), "lo");
    let t = std::time::Instant::now();
    let obs = cap.stop().unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    assert!(obs.lines.is_empty(), "{:?}", obs.lines);
    assert_eq!(obs.title, "packets on lo (arp only)");
}
