//! `network:` checks: a network exists (or not), a container is on it (or not).

use serde_json::Value;

use super::{unmet, Failure};
use crate::backend::{Backend, Kind};
use crate::lab::model::NetworkCheck;

pub(super) fn network(c: &NetworkCheck, backend: &Backend) -> Result<(), Failure> {
    let name = &c.name;
    let net = backend.inspect(Kind::Network, name)?;
    let Some(who) = &c.container else {
        return match (net.is_some(), c.present) {
            (true, true) | (false, false) => Ok(()),
            (false, true) => unmet(format!("network {name} does not exist")),
            (true, false) => unmet(format!("network {name} exists, expected it removed")),
        };
    };
    let ctr = backend.inspect(Kind::Container, who)?;
    let member = match (&net, &ctr) {
        (Some(n), Some(c)) => is_member(n, c),
        _ => false,
    };
    match (member, c.present) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => unmet(format!(
            "container {who} is on network {name}, expected it not to be"
        )),
        (false, true) => match (&net, &ctr) {
            (None, _) => unmet(format!("network {name} does not exist")),
            (_, None) => unmet(format!("container {who} does not exist")),
            (_, Some(c)) => unmet(format!(
                "container {who} is not on network {name} (it is on: {})",
                on(c)
            )),
        },
    }
}

/// Whether the container is on the network: a key of its `NetworkSettings.Networks` is the
/// network's name, or the network's `Containers` holds the container (by ID or name).
fn is_member(net: &Value, ctr: &Value) -> bool {
    let net_name = net["Name"].as_str().unwrap_or_default();
    let net_id = net["Id"].as_str().unwrap_or_default();
    let from_container = ctr["NetworkSettings"]["Networks"]
        .as_object()
        .is_some_and(|m| {
            m.iter().any(|(k, v)| {
                k == net_name || (!net_id.is_empty() && v["NetworkID"].as_str() == Some(net_id))
            })
        });
    let id = ctr["Id"].as_str().unwrap_or_default();
    let cname = ctr["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let from_network = net["Containers"].as_object().is_some_and(|m| {
        m.iter()
            .any(|(k, v)| (!id.is_empty() && k == id) || v["Name"].as_str() == Some(cname))
    });
    from_container || from_network
}

fn on(ctr: &Value) -> String {
    let names: Vec<&str> = ctr["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn membership_is_read_from_either_side() {
        let net = json!({"Name": "neotech", "Id": "n1", "Containers": {}});
        let ctr = json!({"Id": "c1", "Name": "/web",
            "NetworkSettings": {"Networks": {"neotech": {"NetworkID": "n1"}}}});
        assert!(is_member(&net, &ctr));
        let ctr2 = json!({"Id": "c2", "Name": "/db",
            "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "b"}}}});
        assert!(!is_member(&net, &ctr2));
        assert_eq!(on(&ctr2), "bridge");
        let net2 = json!({"Name": "neotech", "Id": "n1",
            "Containers": {"c2": {"Name": "db"}}});
        assert!(is_member(&net2, &ctr2));
        let net3 = json!({"Name": "neotech", "Id": "n1",
            "Containers": {"zz": {"Name": "db"}}});
        assert!(is_member(&net3, &ctr2));
        assert_eq!(on(&json!({})), "none");
    }
}
