//! Running `iptables` and `iptables-restore`: finding them, reading their dumps, feeding them
//! scripts, and reading their failures.

use super::*;

/// Whether an `iptables -D` failure means the rule (or its chain) is already gone.
pub(super) fn is_missing(stderr: &str) -> bool {
    stderr.contains("does a matching rule exist")
        || stderr.contains("No chain/target/match by that name")
        || stderr.contains("does not exist")
}

/// The `line N failed` of an iptables-restore error.
pub(super) fn failing_line(stderr: &str) -> Option<usize> {
    let rest = &stderr[stderr.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

pub(super) fn describe_failure(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr).trim().to_string();
    if text.is_empty() {
        status.to_string()
    } else {
        text
    }
}

pub(super) fn find_program(name: &str) -> Option<PathBuf> {
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

pub(super) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One table as `iptables -S` prints it: its chains and its rules (chain, specification).
#[derive(Debug, Default)]
pub(super) struct Dump {
    pub(super) chains: BTreeSet<String>,
    pub(super) rules: Vec<(String, String)>,
}

impl Dump {
    pub(super) fn parse(text: &str) -> Dump {
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

    pub(super) fn count(&self, chain: &str, spec: &str) -> usize {
        self.rules
            .iter()
            .filter(|(c, s)| c == chain && s == spec)
            .count()
    }

    pub(super) fn has(&self, chain: &str, spec: &str) -> bool {
        self.count(chain, spec) > 0
    }
}

/// An `iptables-restore` input: lines per table, each table its own `*table ... COMMIT` block.
#[derive(Debug, Default)]
pub(super) struct Script {
    pub(super) filter: Vec<String>,
    pub(super) nat: Vec<String>,
}

impl Script {
    pub(super) fn push(&mut self, table: Table, line: String) {
        match table {
            Table::Filter => self.filter.push(line),
            Table::Nat => self.nat.push(line),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.filter.is_empty() && self.nat.is_empty()
    }

    /// The text, and the line number (from 1) of each table's COMMIT.
    pub(super) fn render(&self) -> (String, Vec<(Table, usize)>) {
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
