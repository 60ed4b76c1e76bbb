//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image, as
//! `docker import` does; `--change` applies Dockerfile instructions to its config.

use std::io::{self, Read};

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::compression;
use crate::digest::{Digest, HashReader};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::layer::{Layer, StagedLayer, Staging};
use crate::lock::Mode;
use crate::reference::Reference;

/// What `import` is told besides the tarball.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Where the tarball came from, for the history comment (`-` for stdin).
    pub source: String,
    /// Tag for the new image.
    pub reference: Option<Reference>,
    /// Dockerfile instructions (`CMD ["/hello"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    /// Commit message (replaces "Imported from …").
    pub message: Option<String>,
}

impl Engine {
    /// Import a tarball read from `input`; returns the new image's ID.
    pub fn import(&self, input: impl Read, opts: &ImportOptions) -> Result<Digest> {
        let mut config = Map::new();
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        let staging = Staging::new(&self.paths)?;
        let mut input = input;
        let head =
            compression::read_head(&mut input, compression::SNIFF_LEN).on("reading the tarball")?;
        let kind = compression::sniff(&head);
        if kind == compression::Kind::Other && !head.is_empty() {
            return Err(Error::InvalidArchive(format!(
                "{}: not a tar archive (nor gzip or zstd)",
                opts.source
            )));
        }
        let mut blob = HashReader::new(io::Cursor::new(head).chain(input));
        let staged = {
            let stream = compression::decompress(kind, &mut blob).on("reading the tarball")?;
            self.layers.stage(&staging, stream, &opts.source)?
        };
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        let cfg = json!({
            "architecture": go_arch(),
            "config": Value::Object(config),
            "created": now,
            "history": [{ "created": now, "comment": comment }],
            "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": [staged.diff.to_string()] },
        });
        let raw = serde_json::to_vec(&cfg).expect("config serializes");
        self.store_image(Some((&staged, None)), &raw, opts.reference.as_ref())
    }

    /// Store a new image under the store's exclusive lock: its new top layer (staged, stacked on
    /// the stored layer `parent`), its config bytes, and its tag. Returns the image ID. Shared by
    /// `import` and `commit`.
    pub fn store_image(
        &self,
        layer: Option<(&StagedLayer, Option<&Layer>)>,
        config: &[u8],
        reference: Option<&Reference>,
    ) -> Result<Digest> {
        let _lock = self.lock(Mode::Exclusive)?;
        crate::layer::clean_stale_staging(&self.paths)?;
        if let Some((staged, parent)) = layer {
            self.layers.commit(staged, parent)?;
        }
        let id = self.images.put(config)?;
        if let Some(r) = reference {
            let mut repos = self.images.repositories()?;
            repos.add(r, &id);
            self.images.save_repositories(&repos)?;
            self.images.touch_tag_time(&id)?;
        }
        Ok(id)
    }
}

/// The host's architecture in Go's words, as image configs spell it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Apply one Dockerfile instruction to an image config's `config` object.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let bad = |why: &str| Error::InvalidChange(format!("{change}: {why}"));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(exec_form(rest, true)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(exec_form(rest, true)));
        }
        "ENV" => {
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().expect("Env is a list");
            for (k, v) in key_values(rest).ok_or_else(|| bad("ENV needs KEY=VALUE"))? {
                list.retain(|e| {
                    e.as_str()
                        .is_none_or(|s| s.split_once('=').map(|x| x.0) != Some(k.as_str()))
                });
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            for (k, v) in key_values(rest).ok_or_else(|| bad("LABEL needs KEY=VALUE"))? {
                labels[k] = json!(v);
            }
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports[p] = json!({});
            }
        }
        "VOLUME" => {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            for v in exec_form(rest, false) {
                vols[v] = json!({});
            }
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            config
                .entry("OnBuild")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("list")
                .push(json!(rest));
        }
        other => {
            return Err(bad(&format!(
                "{other} is not a Dockerfile instruction `import --change` accepts"
            )))
        }
    }
    Ok(())
}

/// `["a","b"]` as a list; anything else as `/bin/sh -c …` (shell form) or split on spaces.
fn exec_form(s: &str, shell: bool) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(s) {
        return list;
    }
    if shell {
        vec!["/bin/sh".into(), "-c".into(), s.into()]
    } else {
        s.split_whitespace().map(String::from).collect()
    }
}

/// `K=V K2="v 2"` or the legacy `K V` form.
fn key_values(s: &str) -> Option<Vec<(String, String)>> {
    if !s.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((k.trim().to_string(), v));
        rest = next.trim_start();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_fill_the_config_like_docker() {
        let mut c = Map::new();
        apply_change(&mut c, r#"CMD ["/hello"]"#).unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV A=3").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "entrypoint nginx -g 'daemon off;'").unwrap();
        let v = Value::Object(c);
        assert_eq!(v["Cmd"], json!(["/hello"]));
        assert_eq!(v["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(
            v["Entrypoint"],
            json!(["/bin/sh", "-c", "nginx -g 'daemon off;'"])
        );
        assert!(apply_change(&mut Map::new(), "RUN make").is_err());
    }
}
