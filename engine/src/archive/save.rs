//! `save`: write images to a tar stream that both Docker-style and OCI tools read.
//!
//! Layout: `blobs/sha256/<digest>` holds every layer tar (rebuilt byte for byte from the unpacked
//! layer and its tar-split, verified against its diff ID while streaming), config and OCI manifest;
//! `index.json` + `oci-layout` make it an OCI image layout; `manifest.json` + `repositories` make it a
//! docker-archive; and for each layer a legacy `<id>/` folder (`VERSION`, `json`, `layer.tar` as a
//! symlink into `blobs/`) is what the notes dig into with `tar`, `jq` and `./hello`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::str::FromStr;

use oci_spec::image::{DescriptorBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};

use crate::digest::{Digest, HashReader};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::layer::{self, Layer};
use crate::lock::Mode;
use crate::reference::Reference;

/// One image to save and the tags it is saved under.
struct Entry {
    image: Image,
    layers: Vec<Layer>,
    tags: Vec<Reference>,
}

impl Engine {
    /// Write the named images (names, tags or IDs; a bare repository name means all its tags).
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        let _lock = self.lock(Mode::Shared)?;
        let entries = self.save_entries(names)?;
        let mut w = Writer {
            tar: tar::Builder::new(out),
            written: HashSet::new(),
        };
        w.dir("blobs/")?;
        w.dir("blobs/sha256/")?;
        let mut index = Vec::new();
        let mut docker_manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for e in &entries {
            for l in &e.layers {
                w.layer(self, l)?;
            }
            w.blob(&e.image.id, &e.image.raw)?;
            let manifest = oci_manifest(e)?;
            let mdigest = Digest::of(&manifest);
            w.blob(&mdigest, &manifest)?;
            let desc = |ann: Option<HashMap<String, String>>| -> Result<Value> {
                let mut b = DescriptorBuilder::default()
                    .media_type(MediaType::ImageManifest)
                    .digest(oci_digest(&mdigest)?)
                    .size(manifest.len() as u64);
                if let Some(a) = ann {
                    b = b.annotations(a);
                }
                Ok(serde_json::to_value(b.build().map_err(oci_err)?)
                    .expect("descriptor serializes"))
            };
            if e.tags.is_empty() {
                index.push(desc(None)?);
            }
            for t in &e.tags {
                let ann = HashMap::from([
                    (
                        "io.containerd.image.name".to_string(),
                        format!("{}:{}", t.full_name(), t.tag.as_deref().unwrap_or("latest")),
                    ),
                    (
                        "org.opencontainers.image.ref.name".to_string(),
                        t.tag.clone().unwrap_or_default(),
                    ),
                ]);
                index.push(desc(Some(ann))?);
                let top = e.layers.last().map(|l| l.chain.hex()).unwrap_or_default();
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(t.tag.clone().unwrap_or_default(), top);
            }
            docker_manifest.push(json!({
                "Config": format!("blobs/sha256/{}", e.image.id.hex()),
                "RepoTags": if e.tags.is_empty() { Value::Null } else { json!(e.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()) },
                "Layers": e.layers.iter().map(|l| format!("blobs/sha256/{}", l.diff.hex())).collect::<Vec<_>>(),
            }));
        }
        let index: Vec<oci_spec::image::Descriptor> =
            serde_json::from_value(Value::Array(index)).expect("descriptors round trip");
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(index)
            .build()
            .map_err(oci_err)?;
        // oci-spec keeps annotations in a HashMap: sort keys so the same images give the same bytes.
        let index = sorted_keys(serde_json::to_value(&index).expect("index serializes"));
        w.file(
            "index.json",
            &serde_json::to_vec(&index).expect("index serializes"),
        )?;
        w.file(
            "manifest.json",
            &serde_json::to_vec(&docker_manifest).expect("manifest serializes"),
        )?;
        w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        if !repositories.is_empty() {
            w.file(
                "repositories",
                &serde_json::to_vec(&repositories).expect("repositories serialize"),
            )?;
        }
        for e in &entries {
            w.legacy(e)?;
        }
        w.tar
            .into_inner()
            .on("writing the archive")?
            .flush()
            .on("writing the archive")
    }

    fn save_entries(&self, names: &[String]) -> Result<Vec<Entry>> {
        let mut entries: Vec<Entry> = Vec::new();
        let repos = self.images.repositories()?;
        for name in names {
            match Reference::parse(name) {
                // A bare repository name saves every tag of it, as `docker save busybox` does.
                Ok(r) if r.tag.is_none() && r.digest.is_none() => {
                    let tags = repos.repo_tags(&r.familiar_name());
                    if tags.is_empty() {
                        push(&mut entries, self, self.resolve_image(name)?, None)?;
                    }
                    for (tag, id) in tags {
                        let image = self.images.get(&id)?.ok_or_else(|| {
                            Error::Corrupt(format!("{tag} points to missing image {id}"))
                        })?;
                        push(&mut entries, self, image, Some(Reference::parse(&tag)?))?;
                    }
                }
                Ok(r) if r.tag.is_some() => {
                    push(&mut entries, self, self.resolve_image(name)?, Some(r))?
                }
                _ => push(&mut entries, self, self.resolve_image(name)?, None)?,
            }
        }
        Ok(entries)
    }
}

fn push(
    entries: &mut Vec<Entry>,
    engine: &Engine,
    image: Image,
    tag: Option<Reference>,
) -> Result<()> {
    if let Some(e) = entries.iter_mut().find(|e| e.image.id == image.id) {
        if let Some(t) = tag {
            if !e.tags.contains(&t) {
                e.tags.push(t);
            }
        }
        return Ok(());
    }
    let layers = engine.image_layers(&image)?;
    entries.push(Entry {
        image,
        layers,
        tags: tag.into_iter().collect(),
    });
    Ok(())
}

fn oci_manifest(e: &Entry) -> Result<Vec<u8>> {
    let config = DescriptorBuilder::default()
        .media_type(MediaType::ImageConfig)
        .digest(oci_digest(&e.image.id)?)
        .size(e.image.raw.len() as u64)
        .build()
        .map_err(oci_err)?;
    let layers = e
        .layers
        .iter()
        .map(|l| {
            DescriptorBuilder::default()
                .media_type(MediaType::ImageLayer)
                .digest(oci_digest(&l.diff)?)
                .size(l.tar_size)
                .build()
                .map_err(oci_err)
        })
        .collect::<Result<Vec<_>>>()?;
    let m = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .map_err(oci_err)?;
    Ok(serde_json::to_vec(&m).expect("manifest serializes"))
}

/// The same JSON with every object's keys in sorted order.
fn sorted_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

fn oci_digest(d: &Digest) -> Result<oci_spec::image::Digest> {
    oci_spec::image::Digest::from_str(&d.to_string()).map_err(oci_err)
}

fn oci_err(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("building OCI metadata: {e}"))
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

impl<W: Write> Writer<W> {
    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn once(&mut self, path: &str) -> bool {
        self.written.insert(path.to_string())
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        if self.once(path) {
            let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
            self.tar
                .append_data(&mut h, path, io::empty())
                .on("writing the archive")?;
        }
        Ok(())
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        if self.once(path) {
            let mut h = Self::header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
            self.tar
                .append_data(&mut h, path, bytes)
                .on("writing the archive")?;
        }
        Ok(())
    }

    fn blob(&mut self, d: &Digest, bytes: &[u8]) -> Result<()> {
        self.file(&format!("blobs/sha256/{}", d.hex()), bytes)
    }

    /// Stream a layer tar rebuilt from the store, checking it is the layer the image names.
    fn layer(&mut self, engine: &Engine, l: &Layer) -> Result<()> {
        let path = format!("blobs/sha256/{}", l.diff.hex());
        if !self.once(&path) {
            return Ok(());
        }
        let what = format!("layer {}", l.diff);
        let mut src = HashReader::new(engine.layers.tar_stream(l)?);
        let mut h = Self::header(tar::EntryType::Regular, l.tar_size, 0o644);
        self.tar
            .append_data(&mut h, &path, &mut src)
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::NotFound => {
                    Error::Corrupt(format!("{what}: {e}"))
                }
                _ => Error::Stream {
                    what: "writing the archive".into(),
                    source: e,
                },
            })?;
        let (digest, len, _) = src.finish();
        if len != l.tar_size {
            return Err(Error::Corrupt(format!(
                "{what}: rebuilt {len} bytes, expected {}",
                l.tar_size
            )));
        }
        layer::verify(&what, &l.diff, &digest)
    }

    /// The legacy folders: `<id>/VERSION`, `<id>/json`, `<id>/layer.tar -> ../blobs/sha256/<diff>`.
    fn legacy(&mut self, e: &Entry) -> Result<()> {
        let created = e
            .image
            .config
            .created()
            .clone()
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
        let cfg = e.image.json();
        for (i, l) in e.layers.iter().enumerate() {
            let id = l.chain.hex();
            if !self.once(&format!("{id}/")) {
                continue;
            }
            let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
            self.tar
                .append_data(&mut h, format!("{id}/"), io::empty())
                .on("writing the archive")?;
            self.file(&format!("{id}/VERSION"), b"1.0")?;
            let mut v1 = json!({ "id": id, "created": created, "os": cfg.get("os").cloned().unwrap_or(json!("linux")) });
            if let Some(p) = &l.parent {
                v1["parent"] = json!(p.hex());
            }
            if i + 1 == e.layers.len() {
                v1["architecture"] = cfg.get("architecture").cloned().unwrap_or(Value::Null);
                v1["config"] = cfg.get("config").cloned().unwrap_or(Value::Null);
            }
            self.file(
                &format!("{id}/json"),
                &serde_json::to_vec(&v1).expect("json"),
            )?;
            let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777);
            self.tar
                .append_link(
                    &mut h,
                    format!("{id}/layer.tar"),
                    format!("../blobs/sha256/{}", l.diff.hex()),
                )
                .on("writing the archive")?;
        }
        Ok(())
    }
}
