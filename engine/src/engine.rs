//! The [`Engine`]: one state root's stores, its lock, and name resolution. Operations live in the
//! modules named after them (`archive::load`, `image::remove`, …) as `impl Engine` blocks.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::Config;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{Image, ImageStore};
use crate::layer::{self, Layer, LayerStore};
use crate::lock::{Lock, Mode};
use crate::paths::Paths;
use crate::reference::Reference;

/// A state root opened for use.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Where everything lives.
    pub paths: Paths,
    /// Unpacked layers.
    pub layers: LayerStore,
    /// Image configs and tags.
    pub images: ImageStore,
    /// Settings from `daemon.json`.
    pub config: Config,
}

impl Engine {
    /// Open (creating if needed) the state root at `root`. Needs root privileges.
    pub fn open(root: &Path) -> Result<Engine> {
        require_root(root)?;
        let paths = Paths::new(root);
        let root_existed = root.exists();
        for d in [
            paths.image_configs_dir(),
            paths.layers_meta_dir(),
            paths.overlay_links(),
            paths.tmp(),
        ] {
            fs::create_dir_all(&d).at(&d)?;
        }
        if !root_existed {
            fs::set_permissions(root, fs::Permissions::from_mode(0o710)).at(root)?;
        }
        let config = Config::load()?;
        Ok(Engine {
            config,
            layers: LayerStore::new(paths.clone()),
            images: ImageStore::new(paths.clone()),
            paths,
        })
    }

    /// Take the store lock: shared to read, exclusive to change.
    pub fn lock(&self, mode: Mode) -> Result<Lock> {
        Lock::acquire(&self.paths.lock_file(), mode)
    }

    /// Find an image by `name[:tag]`, `name@digest`, full ID, or a unique ID prefix (as `docker` does).
    pub fn resolve_image(&self, name: &str) -> Result<Image> {
        let not_found = || {
            let shown = match Reference::parse_tagged(name) {
                Ok(r) if !is_hex(name) => r.to_string(),
                _ => name.to_string(),
            };
            Error::NoSuchImage(shown)
        };
        let hex_part = name.strip_prefix("sha256:").unwrap_or(name);
        if is_hex(hex_part) && !hex_part.is_empty() {
            if let Some(d) = Digest::from_hex(hex_part) {
                if let Some(img) = self.images.get(&d)? {
                    return Ok(img);
                }
            }
        }
        if !name.starts_with("sha256:") {
            if let Ok(r) = Reference::parse_tagged(name) {
                if let Some(id) = self.images.repositories()?.lookup(&r) {
                    return self.images.get(id)?.ok_or_else(|| {
                        Error::Corrupt(format!("{r} points to missing image {id}"))
                    });
                }
            }
        }
        if is_hex(hex_part) && !hex_part.is_empty() {
            let found = self.images.search(hex_part)?;
            if found.len() == 1 {
                return self.images.get(&found[0])?.ok_or_else(not_found);
            }
        }
        Err(not_found())
    }

    /// Layers of an image, bottom first.
    pub fn image_layers(&self, image: &Image) -> Result<Vec<Layer>> {
        self.layers.stack(&image.diff_ids()?)
    }

    /// Remove what nothing references any more: stale staging folders, layers of no image, overlay
    /// folders of no layer. Caller holds the exclusive lock.
    pub fn collect_garbage(&self) -> Result<Vec<Layer>> {
        layer::clean_stale_staging(&self.paths)?;
        let mut keep = HashSet::new();
        for id in self.images.ids()? {
            if let Some(img) = self.images.get(&id)? {
                keep.extend(layer::chain_ids(&img.diff_ids()?));
            }
        }
        // Containers' own layers live in overlay2/<container id>.
        let containers: HashSet<String> = match std::fs::read_dir(self.paths.containers_dir()) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => HashSet::new(),
        };
        for id in &containers {
            if let Ok(Some(c)) = self.load_container(id) {
                if let Ok(d) = c.image.parse::<Digest>() {
                    if let Some(img) = self.images.get(&d)? {
                        keep.extend(layer::chain_ids(&img.diff_ids()?));
                    }
                }
            }
        }
        self.layers.collect_garbage(&keep, &containers)
    }
}

fn is_hex(s: &str) -> bool {
    s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Error unless running as root (images hold files of every owner; overlay mounts need it too).
pub fn require_root(root: &Path) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "baleia needs root to use its store at {} (it unpacks files of every owner and mounts overlays); run it with sudo, as the notes run `sudo docker …`",
            root.display()
        )))
    }
}
