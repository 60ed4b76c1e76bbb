//! Container commands over the API: ps, run, create, start, stop, restart, kill, rm, wait,
//! rename, logs.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use hyper::Method;
use serde_json::{json, Value};

use super::super::containers::{
    print_ps, CreateArgs, KillArgs, LogsArgs, PsArgs, RenameArgs, RmArgs, RunArgs, StartArgs,
    StopArgs, WaitArgs,
};
use super::super::output::{created_since, ellipsis};
use super::super::Reported;
use super::{enc, images, stream};
use baleia_engine::client::{create_body, Client, ClientError};
use baleia_engine::container::create::CreateOptions;
use baleia_engine::container::model::PortBinding;
use baleia_engine::network::ports::ps_column;

/// `ps`: `/containers/json` rows in `ps`'s columns.
pub fn ps(c: &Client, a: &PsArgs) -> Result<()> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))?;
        filters.entry(k.into()).or_default().push(v.into());
    }
    let mut q = format!("/containers/json?all={}", a.all as u8);
    if a.latest {
        q += "&limit=1";
    } else if let Some(n) = a.last {
        q += &format!("&limit={n}");
    }
    if a.size {
        q += "&size=1";
    }
    if !filters.is_empty() {
        q += &format!("&filters={}", enc(&serde_json::to_string(&filters)?));
    }
    let list = c.json(Method::GET, &q, None)?;
    let now = Utc::now();
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| ps_row(v, now, a.list.no_trunc))
        .collect();
    print_ps(&rows, a)
}

/// One API summary as a `ps` row.
fn ps_row(v: &Value, now: DateTime<Utc>, no_trunc: bool) -> Value {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let id = s("Id");
    let command = s("Command");
    let created = v["Created"]
        .as_i64()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
    let mut ports: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for p in v["Ports"].as_array().into_iter().flatten() {
        let key = format!(
            "{}/{}",
            p["PrivatePort"].as_u64().unwrap_or(0),
            p["Type"].as_str().unwrap_or("tcp")
        );
        let entry = ports.entry(key).or_default();
        if let Some(public) = p["PublicPort"].as_u64() {
            entry.get_or_insert_with(Vec::new).push(PortBinding {
                host_ip: p["IP"].as_str().unwrap_or_default().to_string(),
                host_port: public.to_string(),
            });
        }
    }
    let names: Vec<String> = v["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let labels = v["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    let networks = v["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    json!({
        "ID": if no_trunc { id.clone() } else { id.chars().take(12).collect() },
        "Image": s("Image"),
        "Command": format!("\"{}\"", if no_trunc { command } else { ellipsis(&command, 20) }),
        "CreatedAt": created.map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
        "RunningFor": created_since(created, now),
        "Ports": ps_column(&ports),
        "State": s("State"),
        "Status": s("Status"),
        "Size": v["SizeRw"].as_u64().map(baleia_engine::format::units::human_size).unwrap_or_default(),
        "Names": names.join(","),
        "Labels": labels,
        "Mounts": "",
        "Networks": networks,
    })
}

/// Create as `run`/`create` do: a missing image is pulled first (`--pull missing`), or always.
fn create_with_pull(c: &Client, opts: &CreateOptions, pull: &str) -> Result<String> {
    if pull == "always" {
        images::pull_quietly_to_stderr(c, &opts.image)?;
    }
    let path = match &opts.name {
        Some(n) => format!("/containers/create?name={}", enc(n)),
        None => "/containers/create".to_string(),
    };
    let body = create_body(opts);
    let made = match c.json(Method::POST, &path, Some(&body)) {
        Err(ClientError::Api { status: 404, .. }) if pull == "missing" => {
            eprintln!(
                "Unable to find image '{}' locally",
                images::with_tag(&opts.image)
            );
            images::pull_quietly_to_stderr(c, &opts.image)?;
            c.json(Method::POST, &path, Some(&body))?
        }
        r => r?,
    };
    Ok(made["Id"].as_str().unwrap_or_default().to_string())
}

/// `create`: prints the new ID.
pub fn create(c: &Client, a: &CreateArgs) -> Result<()> {
    let id = create_with_pull(c, &a.create.options(true)?, &a.create.pull)?;
    println!("{id}");
    Ok(())
}

/// `run`: create (pulling if needed), then start detached, or attach, start, and wait.
pub fn run(c: &Client, a: &RunArgs) -> Result<()> {
    let opts = a.create.options(!a.detach)?;
    let id = create_with_pull(c, &opts, &a.create.pull)?;
    if a.detach {
        start_one(c, &id)?;
        println!("{id}");
        return Ok(());
    }
    let condition = if opts.host.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let code = stream::attached(c, &id, opts.interactive, opts.tty, condition, || {
        start_one(c, &id)
    })?;
    exit_with(code)
}

fn exit_with(code: Option<i64>) -> Result<()> {
    match code {
        Some(0) | None => Ok(()),
        Some(n) => Err(Reported(n as i32).into()),
    }
}

fn start_one(c: &Client, id: &str) -> Result<()> {
    c.send(
        Method::POST,
        &format!("/containers/{}/start", enc(id)),
        None,
    )?;
    Ok(())
}

/// Run `f` for each name; print each failure as Docker does; fail at the end if any did.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = false;
    for n in names {
        if let Err(e) = f(n) {
            failed = true;
            eprintln!("{e:#}");
        }
    }
    if failed {
        return Err(Reported(1).into());
    }
    Ok(())
}

/// `start`: each container, or one attached (`-a`, `-i`).
pub fn start(c: &Client, a: &StartArgs) -> Result<()> {
    if a.attach || a.interactive {
        if a.names.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        let info = c.json(
            Method::GET,
            &format!("/containers/{}/json", enc(&a.names[0])),
            None,
        )?;
        let id = info["Id"].as_str().unwrap_or_default().to_string();
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let code = stream::attached(c, &id, a.interactive, tty, "next-exit", || {
            start_one(c, &id)
        })?;
        return exit_with(code);
    }
    each(&a.names, |n| {
        start_one(c, n)?;
        println!("{n}");
        Ok(())
    })
}

/// `stop` and `restart` (`-t`, `-s`).
pub fn stop(c: &Client, a: &StopArgs, verb: &str) -> Result<()> {
    let mut q = Vec::new();
    if let Some(t) = a.time {
        q.push(format!("t={t}"));
    }
    if let Some(s) = &a.signal {
        q.push(format!("signal={}", enc(s)));
    }
    each(&a.names, |n| {
        c.send(
            Method::POST,
            &format!("/containers/{}/{verb}?{}", enc(n), q.join("&")),
            None,
        )?;
        println!("{n}");
        Ok(())
    })
}

/// `kill -s`.
pub fn kill(c: &Client, a: &KillArgs) -> Result<()> {
    each(&a.names, |n| {
        let path = format!("/containers/{}/kill?signal={}", enc(n), enc(&a.signal));
        c.send(Method::POST, &path, None)?;
        println!("{n}");
        Ok(())
    })
}

/// `rm [-f]`.
pub fn rm(c: &Client, a: &RmArgs) -> Result<()> {
    each(&a.names, |n| {
        let path = format!("/containers/{}?force={}&v={}", enc(n), a.force, a.volumes);
        c.send(Method::DELETE, &path, None)?;
        println!("{n}");
        Ok(())
    })
}

/// `wait`: each exit code.
pub fn wait(c: &Client, a: &WaitArgs) -> Result<()> {
    each(&a.names, |n| {
        let v = c.json(Method::POST, &format!("/containers/{}/wait", enc(n)), None)?;
        println!("{}", v["StatusCode"].as_i64().unwrap_or(-1));
        Ok(())
    })
}

/// `rename`.
pub fn rename(c: &Client, a: &RenameArgs) -> Result<()> {
    let path = format!(
        "/containers/{}/rename?name={}",
        enc(&a.container),
        enc(&a.new_name)
    );
    c.send(Method::POST, &path, None)?;
    Ok(())
}

/// `logs [-f] [-n] [-t]`.
pub fn logs(c: &Client, a: &LogsArgs) -> Result<()> {
    let info = c.json(
        Method::GET,
        &format!("/containers/{}/json", enc(&a.name)),
        None,
    )?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&follow={}&tail={}&timestamps={}",
        enc(&a.name),
        a.follow as u8,
        enc(&a.tail),
        a.timestamps as u8
    );
    let answer = c.send(Method::GET, &path, None)?;
    let mut out = stream::Output::new(tty);
    c.each_chunk(answer, |data| {
        out.feed(data);
        Ok(())
    })?;
    Ok(())
}
