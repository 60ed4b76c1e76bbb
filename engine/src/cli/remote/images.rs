//! Image commands over the API: images, pull (Docker's progress lines), rmi, tag, save, load.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use hyper::Method;
use serde_json::{json, Value};

use super::super::images::{
    print_images, write_atomically, ImagesArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use super::super::output::created_since;
use super::super::registry::PullArgs;
use super::super::Reported;
use super::enc;
use baleia_engine::client::{Client, ClientError};
use baleia_engine::format::units::human_size;
use baleia_engine::reference::Reference;

/// `images`: one row per tag of each image (`<none>` for untagged ones).
pub fn images(c: &Client, a: &ImagesArgs) -> Result<()> {
    let mut q = format!("/images/json?all={}", a.all as u8);
    if let Some(f) = &a.filter {
        let filters: BTreeMap<&str, Vec<&str>> = [("reference", vec![f.as_str()])].into();
        q += &format!("&filters={}", enc(&serde_json::to_string(&filters)?));
    }
    let list = c.json(Method::GET, &q, None)?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for v in list.as_array().into_iter().flatten() {
        let id = v["Id"].as_str().unwrap_or_default();
        let short = id
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>();
        let created = v["Created"]
            .as_i64()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0));
        let digests: Vec<&str> = v["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut tags: Vec<(String, String)> = v["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|t| *t != "<none>:<none>")
            .filter_map(|t| t.rsplit_once(':'))
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .collect();
        if tags.is_empty() {
            let repo = digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(r, _)| r.to_string())
                .unwrap_or_else(|| "<none>".into());
            tags.push((repo, "<none>".into()));
        }
        for (repo, tag) in tags {
            let digest = digests
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{repo}@")))
                .unwrap_or("<none>");
            rows.push(json!({
                "ID": if a.list.no_trunc { id.to_string() } else { short.clone() },
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": created_since(created, now),
                "CreatedAt": created.map(|c| c.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default(),
                "Size": human_size(v["Size"].as_u64().unwrap_or(0)),
                "Containers": "N/A",
            }));
        }
    }
    print_images(&rows, a)
}

/// `name` with `:latest` when it has neither tag nor digest (as Docker shows it).
pub fn with_tag(name: &str) -> String {
    Reference::parse_tagged(name)
        .ok()
        .and_then(|r| r.familiar_tagged())
        .unwrap_or_else(|| name.to_string())
}

/// `POST /images/create` for `name`, each progress line handed to `line`.
fn pull_lines(c: &Client, name: &str, all: bool, mut line: impl FnMut(&Value)) -> Result<()> {
    let r = Reference::parse(name)?;
    let mut q = format!("/images/create?fromImage={}", enc(&r.familiar_name()));
    if !all {
        let tag = r
            .digest
            .as_ref()
            .map(|d| d.to_string())
            .or(r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        q += &format!("&tag={}", enc(&tag));
    }
    let answer = c.send(Method::POST, &q, None)?;
    let mut failure = None;
    c.each_json_line(answer, |v| {
        if let Some(m) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            failure = Some(m.to_string());
        } else {
            line(&v);
        }
        Ok(())
    })?;
    if let Some(message) = failure {
        return Err(ClientError::Api {
            status: 500,
            message,
        }
        .into());
    }
    Ok(())
}

/// One progress line as the docker CLI prints it without a terminal (`ID: status`), or
/// `None` for the moving bars it leaves out.
fn progress_text(v: &Value) -> Option<String> {
    let status = v["status"].as_str()?;
    if v["progressDetail"]["total"].as_u64().is_some()
        || v["progressDetail"]["current"].as_u64().is_some()
    {
        return None;
    }
    Some(match v["id"].as_str() {
        Some(id) => format!("{id}: {status}"),
        None => status.to_string(),
    })
}

/// `pull [-a] [-q]`.
pub fn pull(c: &Client, a: &PullArgs) -> Result<()> {
    let r = Reference::parse(&a.name)?;
    if a.all_tags && (r.tag.is_some() || r.digest.is_some()) {
        bail!("tag can't be used with --all-tags/-a");
    }
    if r.tag.is_none() && r.digest.is_none() && !a.all_tags && !a.quiet {
        println!("Using default tag: latest");
    }
    let mut out = std::io::stdout();
    pull_lines(c, &a.name, a.all_tags, |v| {
        if let (false, Some(t)) = (a.quiet, progress_text(v)) {
            let _ = writeln!(out, "{t}");
            let _ = out.flush();
        }
    })?;
    if a.all_tags {
        println!("{}", r.full_name());
    } else {
        let full = Reference::parse_tagged(&a.name)?;
        println!("{full}");
    }
    Ok(())
}

/// Pull for `run`/`create`, its lines on stderr.
pub fn pull_quietly_to_stderr(c: &Client, name: &str) -> Result<()> {
    pull_lines(c, name, false, |v| {
        if let Some(t) = progress_text(v) {
            eprintln!("{t}");
        }
    })
}

/// `rmi [-f]`: Docker's `Untagged:` and `Deleted:` lines.
pub fn rmi(c: &Client, a: &RmiArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.names {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            enc(n),
            a.force,
            a.no_prune
        );
        match c.json(Method::DELETE, &path, None) {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    for (k, label) in [("Untagged", "Untagged"), ("Deleted", "Deleted")] {
                        if let Some(x) = item[k].as_str() {
                            println!("{label}: {x}");
                        }
                    }
                }
            }
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

/// `tag SOURCE TARGET`.
pub fn tag(c: &Client, a: &TagArgs) -> Result<()> {
    let target = Reference::parse(&a.target)?;
    let mut q = format!(
        "/images/{}/tag?repo={}",
        enc(&a.source),
        enc(&target.familiar_name())
    );
    if let Some(t) = &target.tag {
        q += &format!("&tag={}", enc(t));
    }
    c.send(Method::POST, &q, None)?;
    Ok(())
}

/// `save [-o FILE] IMAGE…`: the daemon's archive, streamed to the file (through a temporary
/// one) or to stdout.
pub fn save(c: &Client, a: &SaveArgs) -> Result<()> {
    let names: Vec<String> = a
        .names
        .iter()
        .map(|n| format!("names={}", enc(n)))
        .collect();
    let path = format!("/images/get?{}", names.join("&"));
    let copy = |w: &mut dyn Write| -> Result<()> {
        let answer = c.send(Method::GET, &path, None)?;
        c.each_chunk(answer, |data| {
            w.write_all(data)
                .map_err(|e| ClientError::Http(format!("writing the archive: {e}")))
        })?;
        Ok(w.flush()?)
    };
    match &a.output {
        Some(p) => write_atomically(p, copy),
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            copy(&mut std::io::stdout().lock())
        }
    }
}

/// `load [-i FILE] [-q]`: the archive streamed to the daemon; its `Loaded image:` lines.
pub fn load(c: &Client, a: &LoadArgs) -> Result<()> {
    let path = format!("/images/load?quiet={}", a.quiet as u8);
    let answer = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("open {}", p.display()))?;
            c.send_stream(Method::POST, &path, "application/x-tar", f)?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            c.send_stream(Method::POST, &path, "application/x-tar", std::io::stdin())?
        }
    };
    let mut failure = None;
    c.each_json_line(answer, |v| {
        if let Some(m) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            failure = Some(m.to_string());
        } else if let Some(s) = v["stream"].as_str() {
            print!("{s}");
        }
        Ok(())
    })?;
    match failure {
        Some(message) => Err(ClientError::Api {
            status: 500,
            message,
        }
        .into()),
        None => Ok(()),
    }
}
