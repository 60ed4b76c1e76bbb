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

mod exec;
mod rules;
#[cfg(test)]
mod tests;

use exec::*;
use rules::*;
