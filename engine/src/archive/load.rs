//! `load`: read an image archive from a stream and add its images to the store.
//!
//! The archive is read once, front to back. Layer blobs (recognised by their first bytes: tar,
//! gzip, zstd) are hashed and unpacked into a staging folder as they stream by; small files (JSON)
//! are kept in memory. Then the manifest (`manifest.json`, else the OCI `index.json`) says which
//! images there are; every digest is checked; and only then, under the store's lock, are layers
//! moved into place and tags written. A failure at any point leaves the store as it was.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use super::compression::{self, Kind};
use crate::digest::{Digest, HashReader};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::image::Image;
use crate::layer::extract::sanitize;
use crate::layer::{verify, Layer, StagedLayer, Staging};
use crate::lock::Mode;
use crate::reference::Reference;

/// Largest non-layer file kept in memory (configs and manifests are a few kB).
const MAX_SMALL_FILE: u64 = 64 << 20;
/// How many symlinks deep a path in an archive may go.
const MAX_LINK_DEPTH: usize = 16;

/// What `load` did, line by line, as `docker load` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    /// A tag moved from another image to the loaded one.
    Renamed { tag: String, old: Digest },
    /// An image was loaded under this tag.
    Tagged(String),
    /// An image without tags was loaded.
    Untagged(Digest),
}

impl std::fmt::Display for LoadEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadEvent::Renamed { tag, old } => {
                write!(f, "The image {tag} already exists, renaming the old one with ID {old} to empty string")
            }
            LoadEvent::Tagged(t) => write!(f, "Loaded image: {t}"),
            LoadEvent::Untagged(id) => write!(f, "Loaded image ID: {id}"),
        }
    }
}

/// A layer blob of the archive, unpacked in staging.
struct StagedBlob {
    layer: StagedLayer,
    /// Digest and size of the blob as stored in the archive (compressed or not).
    digest: Digest,
    size: u64,
}

/// Everything read from the archive, by normalized path.
#[derive(Default)]
struct Contents {
    small: HashMap<String, Vec<u8>>,
    layers: HashMap<String, StagedBlob>,
    links: HashMap<String, String>,
}

/// One image the manifest describes, checked and ready to commit.
struct Plan {
    image: Image,
    tags: Vec<Reference>,
    layer_paths: Vec<String>,
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl Engine {
    /// Load every image of the archive read from `input`.
    pub fn load(&self, input: impl Read) -> Result<Vec<LoadEvent>> {
        let staging = Staging::new(&self.paths)?;
        let contents = self.read_archive(input, &staging)?;
        let plans = plan(&contents)?;
        let _lock = self.lock(Mode::Exclusive)?;
        crate::layer::clean_stale_staging(&self.paths)?;
        let result = self.commit_load(&plans, &contents, &staging);
        if result.is_err() {
            let _ = self.collect_garbage();
        }
        result
    }

    fn read_archive(&self, input: impl Read, staging: &Staging) -> Result<Contents> {
        let mut contents = Contents::default();
        let mut archive = tar::Archive::new(io::BufReader::with_capacity(1 << 20, input));
        let bad = |e: io::Error| Error::InvalidArchive(format!("not a valid tar archive: {e}"));
        let mut entries = 0usize;
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            entries += 1;
            let raw = entry.path().map_err(bad)?.into_owned();
            let path = archive_path(&raw)?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name().map_err(bad)?.unwrap_or_default();
                let resolved = if kind.is_symlink() {
                    join_inside(Path::new(&path).parent().unwrap_or(Path::new("")), &target)
                } else {
                    sanitize(&target)
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                };
                let resolved = resolved.ok_or_else(|| {
                    Error::InvalidArchive(format!(
                        "{path}: link to {} points outside the archive",
                        target.display()
                    ))
                })?;
                contents.links.insert(path, resolved);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let head = compression::read_head(&mut entry, compression::SNIFF_LEN).map_err(bad)?;
            match compression::sniff(&head) {
                Kind::Other => {
                    if entry.size() > MAX_SMALL_FILE {
                        return Err(Error::InvalidArchive(format!(
                            "{path}: a {} byte file that is neither a layer nor JSON",
                            entry.size()
                        )));
                    }
                    let mut bytes = head;
                    entry.read_to_end(&mut bytes).map_err(bad)?;
                    contents.small.insert(path, bytes);
                }
                kind => {
                    let what = format!("layer {path}");
                    let stream = io::Cursor::new(head).chain(&mut entry);
                    let (layer, digest, size) = if kind == Kind::Tar {
                        // Uncompressed: the blob is the layer tar, its digest the diff ID (hashed once).
                        let layer = self.layers.stage(staging, stream, &what)?;
                        let (d, n) = (layer.diff.clone(), layer.tar_size);
                        (layer, d, n)
                    } else {
                        let mut blob = HashReader::new(stream);
                        let layer = {
                            let tar = compression::decompress(kind, &mut blob).on(&what)?;
                            self.layers.stage(staging, tar, &what)?
                        };
                        io::copy(&mut blob, &mut io::sink()).map_err(bad)?;
                        let (d, n, _) = blob.finish();
                        (layer, d, n)
                    };
                    contents.layers.insert(
                        path,
                        StagedBlob {
                            layer,
                            digest,
                            size,
                        },
                    );
                }
            }
        }
        if entries == 0 {
            return Err(Error::InvalidArchive(
                "empty archive: no files in it".into(),
            ));
        }
        Ok(contents)
    }

    fn commit_load(
        &self,
        plans: &[Plan],
        contents: &Contents,
        staging: &Staging,
    ) -> Result<Vec<LoadEvent>> {
        let mut events = Vec::new();
        let mut committed: HashMap<&str, Layer> = HashMap::new();
        let mut repos = self.images.repositories()?;
        for plan in plans {
            let mut parent: Option<Layer> = None;
            for path in &plan.layer_paths {
                let blob = &contents.layers[path];
                let layer = if blob.layer.is_committed() {
                    let copy = self.layers.stage_copy(staging, &committed[path.as_str()])?;
                    self.layers.commit(&copy, parent.as_ref())?
                } else {
                    self.layers.commit(&blob.layer, parent.as_ref())?
                };
                committed
                    .entry(path.as_str())
                    .or_insert_with(|| layer.clone());
                parent = Some(layer);
            }
            let id = self.images.put(&plan.image.raw)?;
            for tag in &plan.tags {
                if let Some(old) = repos.add(tag, &id) {
                    events.push(LoadEvent::Renamed {
                        tag: tag.to_string(),
                        old,
                    });
                }
                events.push(LoadEvent::Tagged(tag.to_string()));
            }
            if plan.tags.is_empty() {
                events.push(LoadEvent::Untagged(id.clone()));
            } else {
                self.images.touch_tag_time(&id)?;
            }
        }
        self.images.save_repositories(&repos)?;
        Ok(events)
    }
}

/// Work out the images of an archive and check every digest, before anything is committed.
fn plan(c: &Contents) -> Result<Vec<Plan>> {
    if let Some(bytes) = c.small.get("manifest.json") {
        let entries: Vec<DockerManifestEntry> =
            serde_json::from_slice(bytes).map_err(|source| Error::Json {
                what: "manifest.json".into(),
                source,
            })?;
        if entries.is_empty() {
            return Err(Error::InvalidArchive(
                "manifest.json lists no images".into(),
            ));
        }
        return entries.iter().map(|e| plan_docker(c, e)).collect();
    }
    if let Some(bytes) = c.small.get("index.json") {
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: "index.json".into(),
            source,
        })?;
        let mut plans = Vec::new();
        plan_oci_index(c, &index, &mut plans, 0)?;
        if plans.is_empty() {
            return Err(Error::InvalidArchive("index.json lists no images".into()));
        }
        return Ok(plans);
    }
    Err(Error::InvalidArchive(
        "no manifest.json or index.json in it (is it an image archive made by `save`?)".into(),
    ))
}

fn plan_docker(c: &Contents, e: &DockerManifestEntry) -> Result<Plan> {
    let (config_path, config) = small_blob(c, &e.config)?;
    if let Some(hex) = digest_in_path(&config_path) {
        verify(&format!("config {}", e.config), &hex, &Digest::of(config))?;
    }
    let image = Image::from_bytes(config.to_vec(), &e.config)?;
    let diff_ids = image.diff_ids()?;
    if diff_ids.len() != e.layers.len() {
        return Err(Error::InvalidArchive(format!(
            "manifest.json lists {} layers but config {} has {} diff_ids",
            e.layers.len(),
            e.config,
            diff_ids.len()
        )));
    }
    let mut layer_paths = Vec::new();
    for (p, diff) in e.layers.iter().zip(&diff_ids) {
        let (path, blob) = layer_blob(c, p)?;
        if let Some(hex) = digest_in_path(&path) {
            verify(&format!("layer {p}"), &hex, &blob.digest)?;
        }
        verify(&format!("layer {p} (uncompressed)"), diff, &blob.layer.diff)?;
        layer_paths.push(path);
    }
    let tags = e
        .repo_tags
        .iter()
        .flatten()
        .map(|t| Reference::parse_tagged(t))
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan {
        image,
        tags,
        layer_paths,
    })
}

fn plan_oci_index(
    c: &Contents,
    index: &ImageIndex,
    plans: &mut Vec<Plan>,
    depth: usize,
) -> Result<()> {
    if depth > 4 {
        return Err(Error::InvalidArchive(
            "image indexes nested too deep".into(),
        ));
    }
    for desc in index.manifests() {
        let digest: Digest = desc.digest().to_string().parse()?;
        let path = format!("blobs/sha256/{}", digest.hex());
        let what = format!("blob {path}");
        let (_, bytes) = small_blob(c, &path)?;
        verify(&what, &digest, &Digest::of(bytes))?;
        check_size(&what, desc.size(), bytes.len() as u64)?;
        match desc.media_type() {
            MediaType::ImageIndex => {
                let nested: ImageIndex =
                    serde_json::from_slice(bytes).map_err(|source| Error::Json {
                        what: what.clone(),
                        source,
                    })?;
                plan_oci_index(c, &nested, plans, depth + 1)?;
            }
            MediaType::ImageManifest => {
                let manifest: ImageManifest =
                    serde_json::from_slice(bytes).map_err(|source| Error::Json {
                        what: what.clone(),
                        source,
                    })?;
                let tags = oci_tags(desc.annotations().as_ref());
                plans.push(plan_oci_manifest(c, &manifest, tags)?);
            }
            MediaType::Other(t) if t == "application/vnd.docker.distribution.manifest.v2+json" => {
                let manifest: ImageManifest =
                    serde_json::from_slice(bytes).map_err(|source| Error::Json {
                        what: what.clone(),
                        source,
                    })?;
                plans.push(plan_oci_manifest(
                    c,
                    &manifest,
                    oci_tags(desc.annotations().as_ref()),
                )?);
            }
            other => {
                return Err(Error::UnsupportedMediaType {
                    what,
                    media_type: other.to_string(),
                })
            }
        }
    }
    Ok(())
}

fn plan_oci_manifest(c: &Contents, m: &ImageManifest, tags: Vec<Reference>) -> Result<Plan> {
    let cdesc = m.config();
    let cdigest: Digest = cdesc.digest().to_string().parse()?;
    let cpath = format!("blobs/sha256/{}", cdigest.hex());
    let (_, config) = small_blob(c, &cpath)?;
    verify(&format!("config {cpath}"), &cdigest, &Digest::of(config))?;
    check_size(
        &format!("config {cpath}"),
        cdesc.size(),
        config.len() as u64,
    )?;
    let image = Image::from_bytes(config.to_vec(), &cpath)?;
    let diff_ids = image.diff_ids()?;
    if diff_ids.len() != m.layers().len() {
        return Err(Error::InvalidArchive(format!(
            "manifest lists {} layers but config {cpath} has {} diff_ids",
            m.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layer_paths = Vec::new();
    for (desc, diff) in m.layers().iter().zip(&diff_ids) {
        let digest: Digest = desc.digest().to_string().parse()?;
        let p = format!("blobs/sha256/{}", digest.hex());
        let what = format!("layer {p}");
        if !is_layer_media_type(desc.media_type()) {
            return Err(Error::UnsupportedMediaType {
                what,
                media_type: desc.media_type().to_string(),
            });
        }
        let (path, blob) = layer_blob(c, &p)?;
        verify(&what, &digest, &blob.digest)?;
        check_size(&what, desc.size(), blob.size)?;
        verify(&format!("{what} (uncompressed)"), diff, &blob.layer.diff)?;
        layer_paths.push(path);
    }
    Ok(Plan {
        image,
        tags,
        layer_paths,
    })
}

fn is_layer_media_type(t: &MediaType) -> bool {
    match t {
        MediaType::ImageLayer | MediaType::ImageLayerGzip | MediaType::ImageLayerZstd => true,
        MediaType::ImageLayerNonDistributable
        | MediaType::ImageLayerNonDistributableGzip
        | MediaType::ImageLayerNonDistributableZstd => true,
        MediaType::Other(s) => matches!(
            s.as_str(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.diff.tar"
                | "application/vnd.docker.image.rootfs.diff.tar.zstd"
        ),
        _ => false,
    }
}

/// Tags of an OCI index entry: containerd's full name, else a ref.name that is a whole reference.
fn oci_tags(ann: Option<&HashMap<String, String>>) -> Vec<Reference> {
    let Some(ann) = ann else { return Vec::new() };
    let name = ann.get("io.containerd.image.name").or_else(|| {
        ann.get("org.opencontainers.image.ref.name")
            .filter(|n| n.contains([':', '/']))
    });
    name.and_then(|n| Reference::parse_tagged(n).ok())
        .into_iter()
        .collect()
}

fn check_size(what: &str, declared: u64, actual: u64) -> Result<()> {
    if declared == actual {
        Ok(())
    } else {
        Err(Error::InvalidArchive(format!(
            "{what}: size is {actual} bytes, its descriptor says {declared}"
        )))
    }
}

/// The normalized path of an archive entry; an escaping path means a hostile archive.
fn archive_path(raw: &Path) -> Result<String> {
    sanitize(raw)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|reason| {
            Error::InvalidArchive(format!("entry {:?}: {reason}", raw.display().to_string()))
        })
}

/// `dir/target` normalized, if it stays inside the archive.
fn join_inside(dir: &Path, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let mut parts: Vec<String> = dir
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    for c in target.components() {
        match c {
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Follow links to the path that holds the content.
fn resolve(c: &Contents, path: &str) -> Result<String> {
    let mut p = sanitize(Path::new(path))
        .map_err(|r| Error::InvalidArchive(format!("{path}: {r}")))?
        .to_string_lossy()
        .into_owned();
    for _ in 0..MAX_LINK_DEPTH {
        match c.links.get(&p) {
            Some(next) => p = next.clone(),
            None => return Ok(p),
        }
    }
    Err(Error::InvalidArchive(format!(
        "{path}: too many levels of links"
    )))
}

fn small_blob<'a>(c: &'a Contents, path: &str) -> Result<(String, &'a [u8])> {
    let p = resolve(c, path)?;
    match c.small.get(&p) {
        Some(b) => Ok((p, b)),
        None if c.layers.contains_key(&p) => Err(Error::InvalidArchive(format!(
            "{path} should be JSON but is a tar stream"
        ))),
        None => Err(Error::InvalidArchive(format!("missing blob {path}"))),
    }
}

fn layer_blob<'a>(c: &'a Contents, path: &str) -> Result<(String, &'a StagedBlob)> {
    let p = resolve(c, path)?;
    match c.layers.get(&p) {
        Some(b) => Ok((p, b)),
        None if c.small.contains_key(&p) => Err(Error::InvalidArchive(format!(
            "layer {path} is not a tar stream (nor gzip or zstd)"
        ))),
        None => Err(Error::InvalidArchive(format!("missing layer blob {path}"))),
    }
}

/// The digest a path names: `blobs/sha256/<hex>`, `<hex>.json`, or `<hex>/layer.tar`.
fn digest_in_path(path: &str) -> Option<Digest> {
    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
        return Digest::from_hex(hex);
    }
    path.strip_suffix(".json").and_then(Digest::from_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_inside() {
        assert_eq!(
            join_inside(Path::new("abc"), Path::new("../blobs/sha256/x")).as_deref(),
            Some("blobs/sha256/x")
        );
        assert_eq!(join_inside(Path::new(""), Path::new("../x")), None);
        assert_eq!(join_inside(Path::new("a"), Path::new("/etc/passwd")), None);
    }

    #[test]
    fn paths_name_digests() {
        let h = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
        assert!(digest_in_path(&format!("blobs/sha256/{h}")).is_some());
        assert!(digest_in_path(&format!("{h}.json")).is_some());
        assert!(digest_in_path(&format!("{h}/layer.tar")).is_none());
    }
}
