//! `layers`: the overlay chain of an image or a container, top first: the container's upper
//! (writable) layer, then the read-only lowers, each with its `diff` folder, the size of what is in
//! it, and which other images and containers of the backend use the same folder (shared, stored
//! once). Everything comes from `inspect`'s `GraphDriver.Data` and `RootFS.Layers`.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{human_bytes, short_name, Mark, Observation, ObserveError, Row};
use crate::backend::{Backend, Kind};

/// One layer of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `upper` (the container's writable layer), `init`, or `lower`.
    pub role: &'static str,
    /// The layer's diff ID (`sha256:…`) when the image says it.
    pub diff_id: Option<String>,
    /// Its folder (as `inspect` gives it).
    pub dir: PathBuf,
}

/// The chain `GraphDriver.Data` describes, top first: `UpperDir`, then `LowerDir`'s entries
/// (`:`-separated, highest first). `image_layers` (the image's `RootFS.Layers`, bottom first)
/// name the lowest folders; with `container`, the top one is the container's upper layer.
pub fn chain(data: &Value, image_layers: &[String], container: bool) -> Vec<Layer> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(u) = data.get("UpperDir").and_then(Value::as_str) {
        dirs.push(u.into());
    }
    if let Some(l) = data.get("LowerDir").and_then(Value::as_str) {
        dirs.extend(l.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    let n = dirs.len();
    let first_image = n.saturating_sub(image_layers.len());
    dirs.into_iter()
        .enumerate()
        .map(|(i, dir)| {
            let diff_id = (i >= first_image)
                .then(|| image_layers.get(n - 1 - i).cloned())
                .flatten();
            let role = if container && i == 0 {
                "upper"
            } else if diff_id.is_none() && dir.to_string_lossy().contains("-init") {
                "init"
            } else {
                "lower"
            };
            Layer { role, diff_id, dir }
        })
        .collect()
}

/// Bytes in the regular files under `dir` (a hard-linked file counted once) and how many entries
/// it holds; symlinks are not followed.
pub fn dir_size(dir: &Path) -> Result<(u64, u64), ObserveError> {
    let mut seen = HashSet::new();
    let (mut bytes, mut entries) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| ObserveError::io(&d, e))?;
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            entries += 1;
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))) {
                bytes += m.len();
            }
        }
    }
    Ok((bytes, entries))
}

/// A folder's real path, so `l/<short>` links and the full `overlay2/<id>/diff` compare equal.
fn real(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// How a layer folder is shown: `overlay2/5fb4637a8c1f…/diff` (the full path is in the data).
pub fn short_dir(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [leaf, id, store] if id.len() > 16 => format!("{store}/{}…/{leaf}", &id[..12]),
        _ => dir.display().to_string(),
    }
}

/// `sha256:975d66f853c0…` → `975d66f853c0`.
fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// The diff IDs of an image (`RootFS.Layers`, bottom first).
fn rootfs_layers(image: &Value) -> Vec<String> {
    image
        .pointer("/RootFS/Layers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A name for an image: its first tag, else its short ID.
fn image_name(image: &Value) -> String {
    image
        .get("RepoTags")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| short_id(image.get("Id").and_then(Value::as_str).unwrap_or("?")))
}

/// `inspect` many objects at once (one failing name falls back to one at a time).
fn inspect_all(backend: &Backend, kind: Kind, ids: &[String]) -> Vec<Value> {
    if ids.is_empty() {
        return Vec::new();
    }
    let word = if kind == Kind::Image {
        "image"
    } else {
        "container"
    };
    let mut args = vec![word, "inspect"];
    args.extend(ids.iter().map(String::as_str));
    if let Ok(out) = backend.ok(&args) {
        if let Ok(Value::Array(all)) = serde_json::from_str(&out) {
            return all;
        }
    }
    ids.iter()
        .filter_map(|id| backend.inspect(kind, id).ok().flatten())
        .collect()
}

/// Every other image and container of the backend by the (real) layer folders it uses.
fn users_by_dir(
    backend: &Backend,
    skip_id: &str,
) -> Result<BTreeMap<PathBuf, Vec<String>>, ObserveError> {
    let list = |args: &[&str]| -> Result<Vec<String>, ObserveError> {
        let mut ids: Vec<String> = backend
            .ok(args)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != skip_id)
            .map(String::from)
            .collect();
        ids.dedup();
        Ok(ids)
    };
    let images = list(&["images", "-aq", "--no-trunc"])?;
    let containers = list(&["ps", "-aq", "--no-trunc"])?;
    let mut users: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for (kind, objs) in [
        (Kind::Image, inspect_all(backend, Kind::Image, &images)),
        (
            Kind::Container,
            inspect_all(backend, Kind::Container, &containers),
        ),
    ] {
        for o in objs {
            if o.get("Id").and_then(Value::as_str) == Some(skip_id) {
                continue;
            }
            let Some(data) = o.pointer("/GraphDriver/Data") else {
                continue;
            };
            let name = match kind {
                Kind::Image => image_name(&o),
                _ => format!("container {}", short_name(&o, "?")),
            };
            for l in chain(data, &[], kind == Kind::Container) {
                let list = users.entry(real(&l.dir)).or_default();
                if !list.contains(&name) {
                    list.push(name.clone());
                }
            }
        }
    }
    Ok(users)
}

/// The layer chain of a container (checked first) or an image: role, diff ID, folder, size, number
/// of entries, and the other images and containers sharing each folder.
pub fn layers(backend: &Backend, name: &str) -> Result<Observation, ObserveError> {
    let (obj, container) = match super::find_container(backend, name)? {
        Some(c) => (c, true),
        None => match backend.inspect(Kind::Image, name)? {
            Some(i) => (i, false),
            None => {
                return Err(ObserveError::NotFound {
                    kind: "container or image",
                    name: name.into(),
                })
            }
        },
    };
    let data = obj
        .pointer("/GraphDriver/Data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ObserveError::Missing {
            name: name.into(),
            field: "GraphDriver.Data",
        })?;
    let image_layers = if container {
        let image = obj.get("Image").and_then(Value::as_str).unwrap_or_default();
        backend
            .inspect(Kind::Image, image)?
            .map(|i| rootfs_layers(&i))
            .unwrap_or_default()
    } else {
        rootfs_layers(&obj)
    };
    let id = obj.get("Id").and_then(Value::as_str).unwrap_or_default();
    let users = users_by_dir(backend, id)?;
    let what = if container {
        format!("container {}", short_name(&obj, name))
    } else {
        format!("image {}", image_name(&obj))
    };
    let mut obs = Observation::new(
        format!("layers of {what}, top first"),
        &[
            "#",
            "role",
            "layer",
            "folder",
            "size",
            "entries",
            "shared with",
        ],
        json!(null),
    );
    let layers = chain(data, &image_layers, container);
    let mut rows_data = Vec::new();
    let (mut total, mut shared_bytes) = (0, 0);
    for (i, l) in layers.iter().enumerate() {
        let (bytes, entries) = dir_size(&l.dir)?;
        let sharers = users.get(&real(&l.dir)).cloned().unwrap_or_default();
        total += bytes;
        if !sharers.is_empty() {
            shared_bytes += bytes;
        }
        let shared = match sharers.len() {
            0 => "-".to_string(),
            n if n <= 3 => format!("{n}: {}", sharers.join(", ")),
            n => format!("{n}: {}, …", sharers[..3].join(", ")),
        };
        let role = match l.role {
            "upper" => "upper (rw)",
            "init" => "init (ro)",
            _ => "lower (ro)",
        };
        obs.rows.push(Row::new(
            vec![
                (i + 1).to_string(),
                role.into(),
                l.diff_id
                    .as_deref()
                    .map(short_id)
                    .unwrap_or_else(|| "-".into()),
                short_dir(&real(&l.dir)),
                human_bytes(bytes),
                entries.to_string(),
                shared,
            ],
            if sharers.is_empty() {
                Mark::Plain
            } else {
                Mark::Notable
            },
        ));
        rows_data.push(json!({
            "role": l.role, "diff_id": l.diff_id, "dir": l.dir, "real_dir": real(&l.dir), "bytes": bytes,
            "entries": entries, "shared_by": sharers,
        }));
    }
    if let Some(m) = data.get("MergedDir").and_then(Value::as_str) {
        if container {
            obs.notes.push(format!("mounted together (overlay) at {m}"));
        }
    }
    obs.notes.push(format!(
        "{} layer(s), {} in all, {} of it in folders other images or containers use too",
        layers.len(),
        human_bytes(total),
        human_bytes(shared_bytes)
    ));
    obs.data = json!({"object": what, "id": id, "layers": rows_data});
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_chain_names_the_image_layers() {
        let data = json!({
            "UpperDir": "/r/overlay2/c/diff",
            "LowerDir": "/r/overlay2/c-init/diff:/r/overlay2/b/diff:/r/overlay2/a/diff",
        });
        let img = vec!["sha256:aaa".to_string(), "sha256:bbb".to_string()];
        let c = chain(&data, &img, true);
        let roles: Vec<_> = c.iter().map(|l| l.role).collect();
        assert_eq!(roles, ["upper", "init", "lower", "lower"]);
        assert_eq!(c[2].diff_id.as_deref(), Some("sha256:bbb"));
        assert_eq!(c[3].diff_id.as_deref(), Some("sha256:aaa"));
        assert_eq!(c[0].diff_id, None);
    }

    #[test]
    fn image_chain_of_one_layer() {
        let data = json!({"UpperDir": "/r/overlay2/a/diff", "MergedDir": "/r/overlay2/a/merged"});
        let c = chain(&data, &["sha256:aaa".to_string()], false);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].role, "lower");
        assert_eq!(c[0].diff_id.as_deref(), Some("sha256:aaa"));
    }

    #[test]
    fn sizes_count_hard_links_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/busybox"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(d.path().join("bin/busybox"), d.path().join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("busybox", d.path().join("bin/ls")).unwrap();
        std::fs::write(d.path().join("etc"), b"12345").unwrap();
        assert_eq!(dir_size(d.path()).unwrap(), (1005, 5));
    }

    #[test]
    fn folders_shown_short() {
        let p = Path::new(
            "/var/lib/baleia/overlay2/5fb4637a8c1f771837c3f95cc0aba57992bc1f87fc17fbfd5e884847f82c312d/diff",
        );
        assert_eq!(short_dir(p), "overlay2/5fb4637a8c1f…/diff");
        assert_eq!(short_dir(Path::new("/x/y")), "/x/y");
        assert_eq!(short_id("sha256:975d66f853c034b80e34"), "975d66f853c0");
    }
}
