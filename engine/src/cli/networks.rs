//! `network create|ls|inspect|rm|prune|connect|disconnect`, and `port`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{confirm, print_inspected, print_list, ListFlags};
use super::Reported;
use baleia_engine::network::create::NetworkOptions;
use baleia_engine::network::ports::{host_ip, split_port};
use baleia_engine::Engine;

/// `network` subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

/// Flags of `network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network.
    #[arg(long, value_name = "LIST")]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short = 'o', long = "opt", value_name = "MAP")]
    pub opt: Vec<String>,
    /// Network name.
    pub name: String,
}

/// Flags of `network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge", "name=neo", "type=custom").
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Listing flags.
    #[command(flatten)]
    pub list: ListFlags,
}

/// Flags of `network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Networks.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Flags of `network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// Flags of `network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container.
    #[arg(long, value_name = "STRINGS")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104").
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// Flags of `network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
    /// Network.
    pub network: String,
    /// Container.
    pub container: String,
}

/// Run a `network` subcommand.
pub fn network(e: &Engine, c: NetworkCommand) -> Result<()> {
    match c {
        NetworkCommand::Create(a) => create(e, &a),
        NetworkCommand::Ls(a) => ls(e, &a),
        NetworkCommand::Inspect(a) => inspect(e, &a),
        NetworkCommand::Rm(a) => rm(e, &a),
        NetworkCommand::Prune(a) => prune(e, &a),
        NetworkCommand::Connect(a) => {
            Ok(e.connect_network(&a.network, &a.container, &a.alias, a.ip)?)
        }
        NetworkCommand::Disconnect(a) => {
            Ok(e.disconnect_network(&a.network, &a.container, a.force)?)
        }
    }
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None if what == "label" => Ok((kv.clone(), String::new())),
            None => bail!("invalid {what} {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

fn create(e: &Engine, a: &CreateArgs) -> Result<()> {
    let n = e.create_network(&NetworkOptions {
        name: a.name.clone(),
        driver: Some(a.driver.clone()),
        subnet: a.subnet.clone(),
        gateway: a.gateway.clone(),
        internal: a.internal,
        labels: key_values(&a.label, "label")?,
        options: key_values(&a.opt, "option")?,
    })?;
    println!("{}", n.id);
    Ok(())
}

const LS_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("CreatedAt", "CREATED"),
    ("Labels", "LABELS"),
];

fn ls(e: &Engine, a: &LsArgs) -> Result<()> {
    e.reconcile_networks()?;
    print_networks(e.networks()?, a)
}

/// `network ls`'s table (or `--format`) for `networks`, after its filters.
pub fn print_networks(networks: Vec<baleia_engine::network::Network>, a: &LsArgs) -> Result<()> {
    let filters = key_values(&a.filter, "filter")?;
    let rows: Vec<Value> = networks
        .into_iter()
        .filter(|n| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "name" => n.name.contains(v.as_str()),
                "id" => n.id.starts_with(v.as_str()),
                "driver" => n.driver == *v,
                "type" => (v == "builtin") == n.is_predefined(),
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk) == Some(&lv.to_string()),
                    None => n.labels.contains_key(v.as_str()),
                },
                _ => true,
            })
        })
        .map(|n| {
            json!({
                "ID": if a.list.no_trunc { n.id.clone() } else { n.short_id().to_string() },
                "Name": n.name,
                "Driver": n.driver,
                "Scope": n.scope,
                "IPv4": n.enable_ipv4.to_string(),
                "IPv6": n.enable_ipv6.to_string(),
                "Internal": n.internal.to_string(),
                "CreatedAt": n.created,
                "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            })
        })
        .collect();
    if let Some((k, _)) = filters
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "name" | "id" | "driver" | "type" | "label"))
    {
        bail!("invalid filter '{k}'");
    }
    if a.list.quiet {
        return print_list(Some("{{.ID}}"), "", LS_HEADERS, &rows);
    }
    print_list(
        a.list.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        LS_HEADERS,
        &rows,
    )
}

fn inspect(e: &Engine, a: &InspectArgs) -> Result<()> {
    e.reconcile_networks()?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &a.names {
        match e.network(name) {
            Ok(n) => found.push(e.inspect_network(&n)),
            Err(err) => {
                failed = true;
                eprintln!("Error: {err}");
            }
        }
    }
    print_inspected(&found, a.format.as_deref(), failed)
}

fn rm(e: &Engine, a: &RmArgs) -> Result<()> {
    let mut failed = false;
    for name in &a.names {
        match e.remove_network(name) {
            Ok(_) => println!("{name}"),
            Err(baleia_engine::Error::NoSuchNetwork(_)) if a.force => {}
            Err(err) => {
                failed = true;
                eprintln!("Error: {err}");
            }
        }
    }
    if failed {
        return Err(Reported(1).into());
    }
    Ok(())
}

fn prune(e: &Engine, a: &PruneArgs) -> Result<()> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let gone = e.prune_networks()?;
    if !gone.is_empty() {
        println!("Deleted Networks:");
        gone.iter().for_each(|n| println!("{n}"));
    }
    Ok(())
}

/// Flags of `port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container.
    pub container: String,
    /// `PRIVATE_PORT[/PROTO]`.
    pub port: Option<String>,
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: where the container's ports are published.
pub fn port(e: &Engine, a: &PortArgs) -> Result<()> {
    let c = e.resolve_container(&a.container)?;
    let mut published: Vec<(u16, String, String)> = Vec::new();
    for (key, bindings) in &c.network_settings.ports {
        let Some((p, proto)) = split_port(key) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            published.push((
                p,
                proto.to_string(),
                format!("{}:{}", host_ip(b), b.host_port),
            ));
        }
    }
    published.sort();
    match &a.port {
        None => {
            for (p, proto, at) in published {
                println!("{p}/{proto} -> {at}");
            }
        }
        Some(want) => {
            let (p, proto) = want.split_once('/').unwrap_or((want, "tcp"));
            let hits: Vec<&String> = published
                .iter()
                .filter(|(q, pr, _)| q.to_string() == p && pr == proto)
                .map(|(_, _, at)| at)
                .collect();
            if hits.is_empty() {
                bail!("No public port '{p}/{proto}' published for {}", a.container);
            }
            hits.iter().for_each(|at| println!("{at}"));
        }
    }
    Ok(())
}
