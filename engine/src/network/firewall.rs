//! iptables rules that let containers reach out (MASQUERADE), keep networks apart (isolation
//! chains) and publish ports (DNAT), in `BALEIA*` chains shaped like Docker's `DOCKER*` ones.
//!
//! The chains are shared by every baleia engine on the host; a network's rules are keyed by its
//! bridge name, so removing one network never touches another's. Every operation holds the
//! host-wide flock [`LOCK_PATH`] and passes `--wait` to iptables.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::lock::{Lock, Mode};

/// The host-wide lock taken around every change or inspection of the `BALEIA*` chains.
pub const LOCK_PATH: &str = "/run/baleia/xtables.lock";

/// filter: the user's own rules (only `-j RETURN` from us); hooked first in FORWARD.
pub const CHAIN_USER: &str = "BALEIA-USER";
/// filter: per-bridge forwarding accepts; hooked second in FORWARD.
pub const CHAIN_FORWARD: &str = "BALEIA-FORWARD";
/// filter: published-port accepts and per-bridge drops; nat: published-port DNATs.
pub const CHAIN_BALEIA: &str = "BALEIA";
/// filter: traffic leaving a baleia bridge for another interface goes to stage 2.
pub const CHAIN_ISOLATION_1: &str = "BALEIA-ISOLATION-STAGE-1";
/// filter: drops that traffic when it enters another baleia bridge.
pub const CHAIN_ISOLATION_2: &str = "BALEIA-ISOLATION-STAGE-2";
/// nat: outbound and hairpin MASQUERADE; hooked first in POSTROUTING.
pub const CHAIN_POSTROUTING: &str = "BALEIA-POSTROUTING";

const FILTER_CHAINS: [&str; 5] = [
    CHAIN_USER,
    CHAIN_FORWARD,
    CHAIN_BALEIA,
    CHAIN_ISOLATION_1,
    CHAIN_ISOLATION_2,
];
const NAT_CHAINS: [&str; 2] = [CHAIN_BALEIA, CHAIN_POSTROUTING];

/// The rules our chains hold whatever the networks: not "bridge rules".
const USER_RETURN: &str = "-j RETURN";
const FORWARD_TO_ISOLATION: &str = "-j BALEIA-ISOLATION-STAGE-1";

/// An iptables operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `iptables` or `iptables-restore` is not installed (names the missing program).
    #[error("{0} not found: install the iptables package")]
    NotFound(&'static str),
    /// An iptables command exited with an error: its command line, its stdin if any, its stderr.
    #[error("`{command}` failed: {stderr}{}", show_input(.input))]
    Failed {
        /// The command line that was run.
        command: String,
        /// What was fed to `iptables-restore`, if anything.
        input: Option<String>,
        /// What the command said (or its exit status when it said nothing).
        stderr: String,
    },
    /// An iptables command could not be started at all.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line that was tried.
        command: String,
        /// Why it could not start.
        source: io::Error,
    },
    /// The host-wide lock [`LOCK_PATH`] could not be taken.
    #[error("xtables lock: {0}")]
    Lock(String),
    /// An argument that cannot become a rule (bad bridge name, port 0, prefix over 32).
    #[error("invalid firewall argument: {0}")]
    Invalid(String),
}

fn show_input(input: &Option<String>) -> String {
    match input {
        Some(i) => format!("\ninput was:\n{}", i.trim_end()),
        None => String::new(),
    }
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The name iptables uses (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: `host_ip:host_port` on the host forwards to `container_port` (`-p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRule {
    /// Only this host address answers (`-p 127.0.0.1:8080:80`); `None` for every address.
    pub host_ip: Option<Ipv4Addr>,
    /// The port on the host.
    pub host_port: u16,
    /// The port in the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// Runs `iptables` and `iptables-restore` (either backend) for networks and published ports.
#[derive(Debug, Clone)]
pub struct Firewall {
    iptables: PathBuf,
    restore: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Filter,
    Nat,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }
}

/// One rule: its table, chain and the specification in `iptables -S` form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    table: Table,
    chain: &'static str,
    spec: String,
}

impl Rule {
    fn new(table: Table, chain: &'static str, spec: String) -> Rule {
        Rule { table, chain, spec }
    }
}

impl Firewall {
    /// Find `iptables` and `iptables-restore` in `PATH` or the usual sbin folders.
    pub fn new() -> Result<Firewall, FirewallError> {
        let iptables = find_program("iptables").ok_or(FirewallError::NotFound("iptables"))?;
        let restore = iptables
            .parent()
            .map(|dir| dir.join("iptables-restore"))
            .filter(|p| is_executable(p))
            .or_else(|| find_program("iptables-restore"))
            .ok_or(FirewallError::NotFound("iptables-restore"))?;
        Ok(Firewall { iptables, restore })
    }

    /// Add a network's rules (creating the chains and hooks if they are missing). Idempotent:
    /// re-adding after a crash or a reboot doesn't duplicate rules.
    pub fn add_network(
        &self,
        bridge: &str,
        subnet: (Ipv4Addr, u8),
        internal: bool,
    ) -> Result<(), FirewallError> {
        check_bridge(bridge)?;
        let subnet = check_subnet(subnet)?;
        let _lock = lock()?;
        let filter = self.dump(Table::Filter)?;
        let nat = self.dump(Table::Nat)?;
        let mut script = Script::default();

        // Chains: declare only missing ones (declaring an existing chain flushes it).
        for chain in FILTER_CHAINS {
            if !filter.chains.contains(chain) {
                script.push(Table::Filter, format!(":{chain} - [0:0]"));
            }
        }
        for chain in NAT_CHAINS {
            if !nat.chains.contains(chain) {
                script.push(Table::Nat, format!(":{chain} - [0:0]"));
            }
        }

        // Base rules of the filter chains.
        if !filter.has(CHAIN_USER, USER_RETURN) {
            script.push(Table::Filter, format!("-A {CHAIN_USER} {USER_RETURN}"));
        }
        if !filter.has(CHAIN_FORWARD, FORWARD_TO_ISOLATION) {
            script.push(
                Table::Filter,
                format!("-I {CHAIN_FORWARD} 1 {FORWARD_TO_ISOLATION}"),
            );
        }

        // Hooks. FORWARD: BALEIA-USER then BALEIA-FORWARD at the very top; when one is missing,
        // put both back in that order.
        let hook_user = format!("-j {CHAIN_USER}");
        let hook_forward = format!("-j {CHAIN_FORWARD}");
        if !filter.has("FORWARD", &hook_user) || !filter.has("FORWARD", &hook_forward) {
            for hook in [&hook_user, &hook_forward] {
                for _ in 0..filter.count("FORWARD", hook) {
                    script.push(Table::Filter, format!("-D FORWARD {hook}"));
                }
            }
            script.push(Table::Filter, format!("-I FORWARD 1 {hook_forward}"));
            script.push(Table::Filter, format!("-I FORWARD 1 {hook_user}"));
        }
        let hook_local = format!("-m addrtype --dst-type LOCAL -j {CHAIN_BALEIA}");
        for chain in ["PREROUTING", "OUTPUT"] {
            if !nat.has(chain, &hook_local) {
                script.push(Table::Nat, format!("-A {chain} {hook_local}"));
            }
        }
        let hook_post = format!("-j {CHAIN_POSTROUTING}");
        if !nat.has("POSTROUTING", &hook_post) {
            script.push(Table::Nat, format!("-I POSTROUTING 1 {hook_post}"));
        }

        // The network's own rules, appended in order when missing.
        for rule in network_rules(bridge, subnet, internal) {
            let dump = match rule.table {
                Table::Filter => &filter,
                Table::Nat => &nat,
            };
            if !dump.has(rule.chain, &rule.spec) {
                script.push(rule.table, format!("-A {} {}", rule.chain, rule.spec));
            }
        }

        if script.is_empty() {
            return Ok(());
        }
        self.restore(&script.render().0)
    }

    /// Remove a network's rules (missing ones are fine), including leftover published-port rules
    /// of its bridge and subnet; if no baleia bridge rules are left in any chain, remove the hooks
    /// and every BALEIA chain (BALEIA-USER stays if the user put rules in it).
    pub fn remove_network(
        &self,
        bridge: &str,
        subnet: (Ipv4Addr, u8),
    ) -> Result<(), FirewallError> {
        check_bridge(bridge)?;
        let subnet = check_subnet(subnet)?;
        let _lock = lock()?;
        let filter = self.dump(Table::Filter)?;
        let nat = self.dump(Table::Nat)?;
        let mut script = Script::default();

        let mut left = false;
        let mut deletions = Vec::new();
        for (table, dump, ours) in [
            (Table::Filter, &filter, &FILTER_CHAINS[..]),
            (Table::Nat, &nat, &NAT_CHAINS[..]),
        ] {
            for (chain, spec) in &dump.rules {
                if !ours.contains(&chain.as_str()) {
                    continue;
                }
                if belongs_to(spec, bridge, subnet) {
                    deletions.push((table, format!("-D {chain} {spec}")));
                } else if !is_base_rule(table, chain, spec) {
                    left = true;
                }
            }
        }

        if left {
            for (table, line) in deletions {
                script.push(table, line);
            }
        } else {
            // Nothing of any network is left: take everything down.
            let keep_user = filter
                .rules
                .iter()
                .any(|(c, s)| c == CHAIN_USER && s != USER_RETURN);
            for (table, dump, ours) in [
                (Table::Filter, &filter, &FILTER_CHAINS[..]),
                (Table::Nat, &nat, &NAT_CHAINS[..]),
            ] {
                let doomed: Vec<&str> = ours
                    .iter()
                    .copied()
                    .filter(|c| dump.chains.contains(*c))
                    .filter(|c| !(keep_user && table == Table::Filter && *c == CHAIN_USER))
                    .collect();
                // Hooks: any rule of another chain that jumps to a doomed chain.
                for (chain, spec) in &dump.rules {
                    if ours.contains(&chain.as_str()) {
                        continue;
                    }
                    if target(spec).is_some_and(|t| doomed.contains(&t)) {
                        script.push(table, format!("-D {chain} {spec}"));
                    }
                }
                for chain in &doomed {
                    script.push(table, format!("-F {chain}"));
                }
                for chain in &doomed {
                    script.push(table, format!("-X {chain}"));
                }
            }
        }

        if script.is_empty() {
            return Ok(());
        }
        self.restore(&script.render().0)
    }

    /// Publish ports of the container at `container` on `bridge`: all rules in ONE
    /// `iptables-restore --noflush --wait` run (both tables). Not idempotent: unpublish first
    /// when the rules may already be there. Does nothing when `ports` is empty.
    pub fn publish(
        &self,
        bridge: &str,
        container: Ipv4Addr,
        ports: &[PortRule],
    ) -> Result<(), FirewallError> {
        if ports.is_empty() {
            return Ok(());
        }
        check_bridge(bridge)?;
        let rules = port_rules(bridge, container, ports)?;
        let mut script = Script::default();
        for rule in &rules {
            let line = if rule.table == Table::Filter {
                // Before the bridge's DROP rules at the end of the chain.
                format!("-I {} 1 {}", rule.chain, rule.spec)
            } else {
                format!("-A {} {}", rule.chain, rule.spec)
            };
            script.push(rule.table, line);
        }
        let (text, commits) = script.render();
        let _lock = lock()?;
        let err = match self.restore(&text) {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        // iptables-restore commits table by table: take back the tables that went in before
        // the failing line, so a failed publish leaves nothing behind.
        let failed_line = match &err {
            FirewallError::Failed { stderr, .. } => failing_line(stderr),
            _ => None,
        };
        if let Some(line) = failed_line {
            let mut undo = Script::default();
            for (table, commit_line) in commits {
                if commit_line < line {
                    for rule in rules.iter().filter(|r| r.table == table) {
                        undo.push(table, format!("-D {} {}", rule.chain, rule.spec));
                    }
                }
            }
            if !undo.is_empty() {
                let _ = self.restore(&undo.render().0);
            }
        }
        Err(err)
    }

    /// Remove those rules (one iptables-restore; if it fails because some rule is already gone,
    /// fall back to deleting rule by rule, ignoring missing ones). Does nothing when `ports` is
    /// empty.
    pub fn unpublish(
        &self,
        bridge: &str,
        container: Ipv4Addr,
        ports: &[PortRule],
    ) -> Result<(), FirewallError> {
        if ports.is_empty() {
            return Ok(());
        }
        check_bridge(bridge)?;
        let rules = port_rules(bridge, container, ports)?;
        let mut script = Script::default();
        for rule in &rules {
            script.push(rule.table, format!("-D {} {}", rule.chain, rule.spec));
        }
        let _lock = lock()?;
        if self.restore(&script.render().0).is_ok() {
            return Ok(());
        }
        // Some rule is gone (or a table went in before the failure): one by one.
        for rule in &rules {
            let mut args = vec!["-t", rule.table.name(), "-D", rule.chain];
            args.extend(rule.spec.split_whitespace());
            match self.iptables(&args) {
                Ok(_) => {}
                Err(FirewallError::Failed { stderr, .. }) if is_missing(&stderr) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Bridges that have rules in our chains (from `iptables -S` of both tables), sorted: so the
    /// engine can remove the rules of networks that no longer exist after a crash.
    pub fn bridges(&self) -> Result<Vec<String>, FirewallError> {
        let _lock = lock()?;
        let mut names = BTreeSet::new();
        for (table, ours) in [
            (Table::Filter, &FILTER_CHAINS[..]),
            (Table::Nat, &NAT_CHAINS[..]),
        ] {
            let dump = self.dump(table)?;
            for (chain, spec) in &dump.rules {
                if !ours.contains(&chain.as_str()) {
                    continue;
                }
                let tokens: Vec<&str> = spec.split_whitespace().collect();
                for pair in tokens.windows(2) {
                    if pair[0] == "-i" || pair[0] == "-o" {
                        names.insert(pair[1].to_string());
                    }
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// `iptables -t <table> -S`, parsed.
    fn dump(&self, table: Table) -> Result<Dump, FirewallError> {
        let out = self.iptables(&["-t", table.name(), "-S"])?;
        Ok(Dump::parse(&out))
    }

    /// Run `iptables --wait <args>`; its stdout.
    fn iptables(&self, args: &[&str]) -> Result<String, FirewallError> {
        let mut cmd = Command::new(&self.iptables);
        cmd.arg("--wait").args(args);
        let command = format!("{} --wait {}", self.iptables.display(), args.join(" "));
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| FirewallError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(FirewallError::Failed {
                command,
                input: None,
                stderr: describe_failure(&out.stderr, out.status),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Feed `input` to `iptables-restore --noflush --wait`.
    fn restore(&self, input: &str) -> Result<(), FirewallError> {
        let command = format!("{} --noflush --wait", self.restore.display());
        let spawn_err = |source| FirewallError::Spawn {
            command: command.clone(),
            source,
        };
        let mut child = Command::new(&self.restore)
            .args(["--noflush", "--wait"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A restore that fails early closes its stdin: its stderr says why.
            match stdin.write_all(input.as_bytes()) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(spawn_err(e));
                }
                _ => {}
            }
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if !out.status.success() {
            return Err(FirewallError::Failed {
                command,
                input: Some(input.to_string()),
                stderr: describe_failure(&out.stderr, out.status),
            });
        }
        Ok(())
    }
}

/// Take the host-wide xtables lock, creating its folder.
fn lock() -> Result<Lock, FirewallError> {
    let path = Path::new(LOCK_PATH);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| FirewallError::Lock(format!("{}: {e}", dir.display())))?;
    }
    Lock::acquire(path, Mode::Exclusive).map_err(|e| FirewallError::Lock(e.to_string()))
}

/// A network's rules, in the order they are appended.
fn network_rules(bridge: &str, subnet: (Ipv4Addr, u8), internal: bool) -> Vec<Rule> {
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
fn port_rules(
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
fn belongs_to(spec: &str, bridge: &str, subnet: (Ipv4Addr, u8)) -> bool {
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
            .is_some_and(|ip| in_subnet(ip, subnet)),
        _ => false,
    }
}

/// Rules we put in our chains whatever the networks.
fn is_base_rule(table: Table, chain: &str, spec: &str) -> bool {
    table == Table::Filter
        && ((chain == CHAIN_USER) || (chain == CHAIN_FORWARD && spec == FORWARD_TO_ISOLATION))
}

/// The `-j`/`-g` target of a rule.
fn target(spec: &str) -> Option<&str> {
    let tokens: Vec<&str> = spec.split_whitespace().collect();
    tokens
        .windows(2)
        .find(|w| w[0] == "-j" || w[0] == "-g")
        .map(|w| w[1])
}

fn in_subnet(ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = prefix_mask(prefix);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn prefix_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// `a.b.c.d/n` with the host bits cleared, as `iptables -S` prints it.
fn cidr((net, prefix): (Ipv4Addr, u8)) -> String {
    let masked = Ipv4Addr::from(u32::from(net) & prefix_mask(prefix));
    format!("{masked}/{prefix}")
}

fn check_subnet((net, prefix): (Ipv4Addr, u8)) -> Result<(Ipv4Addr, u8), FirewallError> {
    if prefix == 0 || prefix > 32 {
        return Err(FirewallError::Invalid(format!(
            "subnet prefix /{prefix} (want 1 to 32)"
        )));
    }
    Ok((Ipv4Addr::from(u32::from(net) & prefix_mask(prefix)), prefix))
}

/// Interface names go into rule text: keep them to what a Linux link name can safely be.
fn check_bridge(bridge: &str) -> Result<(), FirewallError> {
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

/// Whether an `iptables -D` failure means the rule (or its chain) is already gone.
fn is_missing(stderr: &str) -> bool {
    stderr.contains("does a matching rule exist")
        || stderr.contains("No chain/target/match by that name")
        || stderr.contains("does not exist")
}

/// The `line N failed` of an iptables-restore error.
fn failing_line(stderr: &str) -> Option<usize> {
    let rest = &stderr[stderr.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn describe_failure(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    if text.is_empty() {
        status.to_string()
    } else {
        text
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One table as `iptables -S` prints it: its chains and its rules (chain, specification).
#[derive(Debug, Default)]
struct Dump {
    chains: BTreeSet<String>,
    rules: Vec<(String, String)>,
}

impl Dump {
    fn parse(text: &str) -> Dump {
        let mut dump = Dump::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("-P" | "-N"), Some(chain)) => {
                    dump.chains.insert(chain.to_string());
                }
                (Some("-A"), Some(chain)) => {
                    let spec = words.collect::<Vec<_>>().join(" ");
                    dump.rules.push((chain.to_string(), spec));
                }
                _ => {}
            }
        }
        dump
    }

    fn count(&self, chain: &str, spec: &str) -> usize {
        self.rules
            .iter()
            .filter(|(c, s)| c == chain && s == spec)
            .count()
    }

    fn has(&self, chain: &str, spec: &str) -> bool {
        self.count(chain, spec) > 0
    }
}

/// An `iptables-restore` input: lines per table, each table its own `*table ... COMMIT` block.
#[derive(Debug, Default)]
struct Script {
    filter: Vec<String>,
    nat: Vec<String>,
}

impl Script {
    fn push(&mut self, table: Table, line: String) {
        match table {
            Table::Filter => self.filter.push(line),
            Table::Nat => self.nat.push(line),
        }
    }

    fn is_empty(&self) -> bool {
        self.filter.is_empty() && self.nat.is_empty()
    }

    /// The text, and the line number (from 1) of each table's COMMIT.
    fn render(&self) -> (String, Vec<(Table, usize)>) {
        let mut text = String::new();
        let mut commits = Vec::new();
        let mut line = 0;
        for (table, lines) in [(Table::Filter, &self.filter), (Table::Nat, &self.nat)] {
            if lines.is_empty() {
                continue;
            }
            text.push_str(&format!("*{}\n", table.name()));
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            text.push_str("COMMIT\n");
            line += lines.len() + 2;
            commits.push((table, line));
        }
        (text, commits)
    }
}

#[cfg(test)]
mod tests {
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
            if !addrs.contains(&format!("10.214.{x}.")) && !addrs.contains(&format!("10.213.{x}."))
            {
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
            check_bridge("-x").is_err()
                && check_bridge("a b").is_err()
                && check_bridge("").is_err()
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
            format!(
                "-A BALEIA-FORWARD -o {a} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            ),
            format!("-A BALEIA-FORWARD -o {a} -j BALEIA"),
            format!("-A BALEIA-FORWARD -i {a} -j ACCEPT"),
        ] {
            assert!(fwd.contains(&r), "{r} not in {fwd:?}");
        }
        assert!(
            rules("filter", CHAIN_BALEIA).contains(&format!("-A BALEIA ! -i {a} -o {a} -j DROP"))
        );
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
            *r == format!(
                "-A BALEIA -d {c}/32 ! -i {br} -o {br} -p tcp -m tcp --dport 80 -j ACCEPT"
            )
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
}
