//! Network commands over the API: create, ls, inspect, rm, prune, connect, disconnect.

use anyhow::Result;
use hyper::Method;
use serde_json::json;

use super::super::networks::{print_networks, NetworkCommand};
use super::super::Reported;
use super::{enc, show};
use baleia_engine::client::Client;
use baleia_engine::network::Network;

/// Run a `network` subcommand against the daemon.
pub fn network(c: &Client, n: NetworkCommand) -> Result<()> {
    match n {
        NetworkCommand::Create(a) => {
            let labels = a.label.iter().map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            });
            let options = a.opt.iter().filter_map(|o| o.split_once('='));
            let mut ipam = json!({"Driver": "default", "Config": []});
            if a.subnet.is_some() || a.gateway.is_some() {
                ipam["Config"] = json!([{"Subnet": a.subnet, "Gateway": a.gateway}]);
            }
            let body = json!({
                "Name": a.name, "Driver": a.driver, "Internal": a.internal, "IPAM": ipam,
                "Labels": labels.collect::<std::collections::BTreeMap<_, _>>(),
                "Options": options.collect::<std::collections::BTreeMap<_, _>>(),
            });
            let v = c.json(Method::POST, "/networks/create", Some(&body))?;
            println!("{}", v["Id"].as_str().unwrap_or_default());
            Ok(())
        }
        NetworkCommand::Ls(a) => {
            let list = c.json(Method::GET, "/networks", None)?;
            let networks: Vec<Network> = serde_json::from_value(list)?;
            print_networks(networks, &a)
        }
        NetworkCommand::Inspect(a) => {
            let objects = a
                .names
                .iter()
                .map(|n| c.json(Method::GET, &format!("/networks/{}", enc(n)), None))
                .collect();
            show(objects, a.format.as_deref())
        }
        NetworkCommand::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match c.send(Method::DELETE, &format!("/networks/{}", enc(n)), None) {
                    Ok(_) => println!("{n}"),
                    Err(e) if a.force && e.status() == Some(404) => {}
                    Err(e) => {
                        failed = true;
                        eprintln!("{e}");
                    }
                }
            }
            if failed {
                return Err(Reported(1).into());
            }
            Ok(())
        }
        NetworkCommand::Prune(a) => {
            if !a.force
                && !super::super::output::confirm(
                    "WARNING! This will remove all custom networks not used by at least one container.",
                )?
            {
                return Ok(());
            }
            let v = c.json(Method::POST, "/networks/prune", None)?;
            let deleted: Vec<&str> = v["NetworksDeleted"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
                .collect();
            if !deleted.is_empty() {
                println!("Deleted Networks:");
                deleted.iter().for_each(|n| println!("{n}"));
            }
            Ok(())
        }
        NetworkCommand::Connect(a) => {
            let body = json!({"Container": a.container, "EndpointConfig": {"Aliases": a.alias}});
            c.send(
                Method::POST,
                &format!("/networks/{}/connect", enc(&a.network)),
                Some(&body),
            )?;
            Ok(())
        }
        NetworkCommand::Disconnect(a) => {
            let body = json!({"Container": a.container, "Force": a.force});
            let path = format!("/networks/{}/disconnect", enc(&a.network));
            c.send(Method::POST, &path, Some(&body))?;
            Ok(())
        }
    }
}
