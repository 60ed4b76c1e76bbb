//! `iptables`: the rules a step added or removed. A snapshot (`iptables-save`, which the nf_tables
//! and legacy backends print alike) is taken before the step and one after; the diff lists, per
//! table and chain, each rule as `iptables -t TABLE -S` writes it, with `+` or `-`.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::json;
use similar::{capture_diff_slices, Algorithm, DiffTag};

use super::{Mark, Observation, ObserveError, Row};

/// One chain: its policy (`-` for a user chain) and its rules (`-A CHAIN …`), in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// `ACCEPT`/`DROP` for a built-in chain, `-` for a user-defined one.
    pub policy: String,
    /// Its rules as `iptables -S` prints them.
    pub rules: Vec<String>,
}

impl Chain {
    /// The chain as `iptables -S CHAIN` prints it: `-P CHAIN POLICY` or `-N CHAIN`, then its rules.
    fn lines(&self, name: &str) -> Vec<String> {
        let head = if self.policy == "-" {
            format!("-N {name}")
        } else {
            format!("-P {name} {}", self.policy)
        };
        std::iter::once(head)
            .chain(self.rules.iter().cloned())
            .collect()
    }
}

/// Every table's chains at one moment, in `iptables-save`'s order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IptablesSnapshot {
    /// `(table, chains in order)`.
    pub tables: Vec<(String, Vec<(String, Chain)>)>,
}

impl IptablesSnapshot {
    /// Run `iptables-save` now.
    pub fn take() -> Result<IptablesSnapshot, ObserveError> {
        let out = Command::new("iptables-save")
            .output()
            .map_err(|e| ObserveError::Command {
                program: "iptables-save".into(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(ObserveError::Command {
                program: "iptables-save".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(IptablesSnapshot::parse(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }

    /// Read `iptables-save` text: `*table`, `:CHAIN POLICY [counters]`, `-A CHAIN …`, `COMMIT`.
    pub fn parse(text: &str) -> IptablesSnapshot {
        let mut snap = IptablesSnapshot::default();
        for line in text.lines().map(str::trim_end) {
            if let Some(t) = line.strip_prefix('*') {
                snap.tables.push((t.trim().to_string(), Vec::new()));
                continue;
            }
            let Some((_, chains)) = snap.tables.last_mut() else {
                continue;
            };
            if let Some(decl) = line.strip_prefix(':') {
                let mut it = decl.split_whitespace();
                if let Some(name) = it.next() {
                    let policy = it.next().unwrap_or("-").to_string();
                    chains.push((
                        name.to_string(),
                        Chain {
                            policy,
                            rules: Vec::new(),
                        },
                    ));
                }
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                match chains.iter_mut().find(|(n, _)| n == name) {
                    Some((_, c)) => c.rules.push(line.to_string()),
                    None => chains.push((
                        name.to_string(),
                        Chain {
                            policy: "-".into(),
                            rules: vec![line.to_string()],
                        },
                    )),
                }
            }
        }
        snap
    }

    /// A chain of a table.
    pub fn chain(&self, table: &str, chain: &str) -> Option<&Chain> {
        self.tables
            .iter()
            .find(|(t, _)| t == table)
            .and_then(|(_, cs)| cs.iter().find(|(n, _)| n == chain))
            .map(|(_, c)| c)
    }

    /// `iptables -t TABLE -S` of every table: `(table, lines)`.
    pub fn rules(&self) -> Vec<(String, Vec<String>)> {
        self.tables
            .iter()
            .map(|(t, cs)| (t.clone(), cs.iter().flat_map(|(n, c)| c.lines(n)).collect()))
            .collect()
    }
}

/// A rule (or chain, or policy) that a step added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChange {
    /// `filter`, `nat`, …
    pub table: String,
    /// The chain.
    pub chain: String,
    /// Added (else removed).
    pub added: bool,
    /// As `iptables -S` prints it: `-A BALEIA -d 172.17.0.2/32 … -j ACCEPT`, `-N BALEIA`.
    pub rule: String,
}

/// What changed from `before` to `after`, per table and chain (chains in `after`'s order, then
/// those that were removed); rules that moved count as removed and added.
pub fn changes(before: &IptablesSnapshot, after: &IptablesSnapshot) -> Vec<RuleChange> {
    let mut tables: Vec<&str> = after.tables.iter().map(|(t, _)| t.as_str()).collect();
    for (t, _) in &before.tables {
        if !tables.contains(&t.as_str()) {
            tables.push(t);
        }
    }
    let mut out = Vec::new();
    for table in tables {
        let chains_of = |s: &'_ IptablesSnapshot| -> Vec<(String, Chain)> {
            s.tables
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, c)| c.clone())
                .unwrap_or_default()
        };
        let (old, new) = (chains_of(before), chains_of(after));
        let mut names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
        for (n, _) in &old {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        let lines = |cs: &[(String, Chain)], name: &str| {
            cs.iter()
                .find(|(n, _)| n == name)
                .map(|(n, c)| c.lines(n))
                .unwrap_or_default()
        };
        for name in names {
            let (a, b) = (lines(&old, name), lines(&new, name));
            for op in capture_diff_slices(Algorithm::Myers, &a, &b) {
                let (tag, old_r, new_r) = op.as_tag_tuple();
                if matches!(tag, DiffTag::Delete | DiffTag::Replace) {
                    out.extend(a[old_r].iter().map(|r| RuleChange {
                        table: table.into(),
                        chain: name.into(),
                        added: false,
                        rule: r.clone(),
                    }));
                }
                if matches!(tag, DiffTag::Insert | DiffTag::Replace) {
                    out.extend(b[new_r].iter().map(|r| RuleChange {
                        table: table.into(),
                        chain: name.into(),
                        added: true,
                        rule: r.clone(),
                    }));
                }
            }
        }
    }
    out
}

/// The rules a step added (`+`) and removed (`-`), by table and chain.
pub fn iptables_diff(before: &IptablesSnapshot, after: &IptablesSnapshot) -> Observation {
    let ch = changes(before, after);
    let mut obs = Observation::new(
        "iptables rules this step changed",
        &["", "table", "chain", "rule"],
        json!(null),
    );
    for c in &ch {
        obs.rows.push(Row::new(
            vec![
                if c.added { "+" } else { "-" }.into(),
                c.table.clone(),
                c.chain.clone(),
                c.rule.clone(),
            ],
            if c.added { Mark::Added } else { Mark::Removed },
        ));
    }
    if ch.is_empty() {
        obs.header.clear();
        obs.lines.push("(no rule was added or removed)".into());
    } else {
        let per_table: BTreeMap<&str, (usize, usize)> =
            ch.iter().fold(BTreeMap::new(), |mut m, c| {
                let e = m.entry(c.table.as_str()).or_insert((0, 0));
                if c.added {
                    e.0 += 1
                } else {
                    e.1 += 1
                }
                m
            });
        for (t, (a, r)) in per_table {
            obs.notes.push(format!(
                "{t}: {a} added, {r} removed (see: iptables -t {t} -S)"
            ));
        }
    }
    obs.data = json!(ch
        .iter()
        .map(|c| json!({
            "table": c.table, "chain": c.chain, "change": if c.added { "+" } else { "-" }, "rule": c.rule,
        }))
        .collect::<Vec<_>>());
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# Generated by iptables-save v1.8.9 (nf_tables) on Sat Nov 22 20:00:00 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [10:840]
:OUTPUT ACCEPT [0:0]
:BALEIA - [0:0]
-A FORWARD -o baleia0 -j BALEIA
-A FORWARD -i baleia0 ! -o baleia0 -j ACCEPT
COMMIT
# Completed on Sat Nov 22 20:00:00 2026
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:BALEIA - [0:0]
-A POSTROUTING -s 172.17.0.0/16 ! -o baleia0 -j MASQUERADE
COMMIT
";

    const AFTER: &str = "\
*filter
:INPUT ACCEPT [5:300]
:FORWARD DROP [12:900]
:OUTPUT ACCEPT [0:0]
:BALEIA - [0:0]
-A FORWARD -o baleia0 -j BALEIA
-A FORWARD -i baleia0 ! -o baleia0 -j ACCEPT
-A BALEIA -d 172.17.0.2/32 ! -i baleia0 -o baleia0 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:BALEIA - [0:0]
:BLTEST-1 - [0:0]
-A BALEIA ! -i baleia0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

    #[test]
    fn parse_tables_chains_rules() {
        let s = IptablesSnapshot::parse(BEFORE);
        assert_eq!(s.tables.len(), 2);
        let fwd = s.chain("filter", "FORWARD").unwrap();
        assert_eq!(fwd.policy, "DROP");
        assert_eq!(fwd.rules.len(), 2);
        assert_eq!(s.chain("filter", "BALEIA").unwrap().policy, "-");
        assert!(s.chain("raw", "PREROUTING").is_none());
        let rules = s.rules();
        assert_eq!(rules[1].0, "nat");
        assert!(rules[0].1.contains(&"-N BALEIA".to_string()));
        assert!(rules[0].1.contains(&"-P FORWARD DROP".to_string()));
    }

    #[test]
    fn counters_alone_change_nothing() {
        let a = IptablesSnapshot::parse(BEFORE);
        let b = IptablesSnapshot::parse(&BEFORE.replace("[10:840]", "[99:9999]"));
        assert!(changes(&a, &b).is_empty());
        let o = iptables_diff(&a, &b);
        assert!(o.rows.is_empty());
        assert_eq!(o.lines, ["(no rule was added or removed)"]);
    }

    #[test]
    fn diff_per_table_and_chain() {
        let (a, b) = (
            IptablesSnapshot::parse(BEFORE),
            IptablesSnapshot::parse(AFTER),
        );
        let ch = changes(&a, &b);
        let text: Vec<String> = ch
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    if c.added { '+' } else { '-' },
                    c.table,
                    c.chain,
                    c.rule
                )
            })
            .collect();
        assert_eq!(
            text,
            [
                "+ filter BALEIA -A BALEIA -d 172.17.0.2/32 ! -i baleia0 -o baleia0 -p tcp -m tcp --dport 80 -j ACCEPT",
                "- nat POSTROUTING -A POSTROUTING -s 172.17.0.0/16 ! -o baleia0 -j MASQUERADE",
                "+ nat BALEIA -A BALEIA ! -i baleia0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
                "+ nat BLTEST-1 -N BLTEST-1",
            ]
        );
        let o = iptables_diff(&a, &b);
        assert_eq!(o.column(""), ["+", "-", "+", "+"]);
        assert_eq!(o.rows[1].mark, Mark::Removed);
        assert!(o
            .notes
            .iter()
            .any(|n| n.starts_with("nat: 2 added, 1 removed")));
        assert_eq!(o.data[3]["rule"], "-N BLTEST-1");
    }

    #[test]
    fn removed_chain_and_policy_change() {
        let (a, b) = (
            IptablesSnapshot::parse(AFTER),
            IptablesSnapshot::parse(BEFORE),
        );
        let ch = changes(&a, &b);
        assert!(ch.iter().any(|c| !c.added && c.rule == "-N BLTEST-1"));
        let c = IptablesSnapshot::parse(&BEFORE.replace(":FORWARD DROP", ":FORWARD ACCEPT"));
        let ch = changes(&a, &c);
        assert!(ch.iter().any(|c| c.added && c.rule == "-P FORWARD ACCEPT"));
        assert!(ch.iter().any(|c| !c.added && c.rule == "-P FORWARD DROP"));
    }
}
