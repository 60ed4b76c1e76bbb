//! `image inspect`: an image as Docker's JSON shows it, paths into `overlay2/` included.

use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::Result;
use crate::lock::Mode;

/// Fields of Docker's container config, in its order, with its defaults.
const CONFIG_DEFAULTS: &[(&str, Value)] = &[
    ("Hostname", Value::Null),
    ("Domainname", Value::Null),
    ("User", Value::Null),
    ("AttachStdin", Value::Bool(false)),
    ("AttachStdout", Value::Bool(false)),
    ("AttachStderr", Value::Bool(false)),
    ("ExposedPorts", Value::Null),
    ("Tty", Value::Bool(false)),
    ("OpenStdin", Value::Bool(false)),
    ("StdinOnce", Value::Bool(false)),
    ("Env", Value::Null),
    ("Cmd", Value::Null),
    ("Image", Value::Null),
    ("Volumes", Value::Null),
    ("WorkingDir", Value::Null),
    ("Entrypoint", Value::Null),
    ("OnBuild", Value::Null),
    ("Labels", Value::Null),
];

impl Engine {
    /// Docker's inspect object for the image `name` names.
    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let _lock = self.lock(Mode::Shared)?;
        let image = self.resolve_image(name)?;
        let layers = self.image_layers(&image)?;
        let raw = image.json();
        let repos = self.images.repositories()?;
        let text = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or("").to_string();

        let src = raw
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut config = Map::new();
        for (k, default) in CONFIG_DEFAULTS {
            let v = src.get(*k).cloned().unwrap_or_else(|| match default {
                Value::Null
                    if ["Hostname", "Domainname", "User", "Image", "WorkingDir"].contains(k) =>
                {
                    json!("")
                }
                d => d.clone(),
            });
            config.insert((*k).to_string(), v);
        }
        for (k, v) in &src {
            config.entry(k.clone()).or_insert_with(|| v.clone());
        }

        let mut graph = Map::new();
        if let Some((top, below)) = layers.split_last() {
            if !below.is_empty() {
                let lower: Vec<String> = below
                    .iter()
                    .rev()
                    .map(|l| self.layers.diff_dir(l).display().to_string())
                    .collect();
                graph.insert("LowerDir".into(), json!(lower.join(":")));
            }
            let dir = self.paths.overlay_layer(&top.cache_id);
            graph.insert("MergedDir".into(), json!(dir.join("merged")));
            graph.insert("UpperDir".into(), json!(dir.join("diff")));
            graph.insert("WorkDir".into(), json!(dir.join("work")));
        }
        let mut out = json!({
            "Id": image.id.to_string(),
            "RepoTags": repos.tags_of(&image.id),
            "RepoDigests": repos.digests_of(&image.id),
            "Parent": "",
            "Comment": text("comment"),
            "Created": text("created"),
            "DockerVersion": text("docker_version"),
            "Author": text("author"),
            "Config": config,
            "Architecture": text("architecture"),
            "Os": text("os"),
            "Size": layers.iter().map(|l| l.size).sum::<u64>(),
            "GraphDriver": { "Data": graph, "Name": "overlay2" },
            "RootFS": { "Type": "layers", "Layers": image.config.rootfs().diff_ids() },
            "Metadata": { "LastTagTime": self.images.last_tag_time(&image.id).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()) },
        });
        if let Some(v) = raw.get("variant") {
            out["Variant"] = v.clone();
        }
        Ok(out)
    }
}
