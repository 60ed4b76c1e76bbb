//! `iptables:` checks: a rule of `iptables -t TABLE -S` matches a pattern (or none does).

use std::process::Command;

use super::{error, pattern, unmet, Failure};
use crate::lab::model::IptablesCheck;

pub(super) fn iptables(c: &IptablesCheck) -> Result<(), Failure> {
    let table = &c.table;
    let out = match Command::new("iptables")
        .args(["-w", "-t", table, "-S"])
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return error(format!(
                "`iptables -t {table} -S` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return error(format!("cannot run iptables: {e}")),
    };
    judge(c, &out)
}

/// Judge the check against a listing of `iptables -S`.
fn judge(c: &IptablesCheck, listing: &str) -> Result<(), Failure> {
    let (table, rule) = (&c.table, c.rule.trim());
    match (pattern::locate(rule, listing), c.present) {
        (Ok(_), true) | (Err(_), false) => Ok(()),
        (Err(_), true) => unmet(format!("no rule of table {table} matches {rule:?}")),
        (Ok(at), false) => {
            let lines = pattern::lines(listing);
            let shown: Vec<&str> = at
                .iter()
                .flat_map(|r| lines[r.clone()].iter().map(String::as_str))
                .collect();
            unmet(format!(
                "table {table} has {:?}, expected no rule matching {rule:?}",
                shown.join("\n")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = "-P PREROUTING ACCEPT\n-N BALEIA\n\
                       -A PREROUTING -m addrtype --dst-type LOCAL -j BALEIA\n\
                       -A BALEIA -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n";

    fn check(rule: &str, present: bool) -> IptablesCheck {
        IptablesCheck {
            table: "nat".into(),
            rule: rule.into(),
            present,
        }
    }

    #[test]
    fn present_and_absent_rules() {
        let dnat = "-A BALEIA [..]--dport 8080 -j DNAT --to-destination 172.17.0.2:80";
        assert_eq!(judge(&check(dnat, true), NAT), Ok(()));
        assert_eq!(
            judge(&check(dnat, false), NAT),
            Err(Failure::Unmet(
                "table nat has \"-A BALEIA -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\", expected no rule matching \"-A BALEIA [..]--dport 8080 -j DNAT --to-destination 172.17.0.2:80\"".into()
            ))
        );
        let other = "-A BALEIA [..]--dport 9090 [..]";
        assert_eq!(judge(&check(other, false), NAT), Ok(()));
        assert_eq!(
            judge(&check(other, true), NAT),
            Err(Failure::Unmet(
                "no rule of table nat matches \"-A BALEIA [..]--dport 9090 [..]\"".into()
            ))
        );
        // A rule is a whole line: a piece of one does not match without wildcards.
        assert!(judge(&check("-j BALEIA", true), NAT).is_err());
        assert!(judge(&check("[..] -j BALEIA", true), NAT).is_ok());
    }
}
