//! Where things live under a state root. The layout mirrors Docker's `/var/lib/docker`, so every path
//! the notes show has a twin under `/var/lib/baleia`.

use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/baleia";

/// The directory layout of one state root.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// Layout rooted at `root` (not created here).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Paths { root: root.into() }
    }
    /// The state root itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `image/overlay2`: image metadata, as Docker keeps it per storage driver.
    pub fn image_dir(&self) -> PathBuf {
        self.root.join("image/overlay2")
    }
    /// Image configs by image ID: `image/overlay2/imagedb/content/sha256/<id>`.
    pub fn image_config(&self, id: &Digest) -> PathBuf {
        self.image_dir()
            .join("imagedb/content/sha256")
            .join(id.hex())
    }
    /// The folder of image configs.
    pub fn image_configs_dir(&self) -> PathBuf {
        self.image_dir().join("imagedb/content/sha256")
    }
    /// Per-image metadata (last tag time): `image/overlay2/imagedb/metadata/sha256/<id>`.
    pub fn image_metadata(&self, id: &Digest) -> PathBuf {
        self.image_dir()
            .join("imagedb/metadata/sha256")
            .join(id.hex())
    }
    /// Tags and digests index: `image/overlay2/repositories.json`.
    pub fn repositories(&self) -> PathBuf {
        self.image_dir().join("repositories.json")
    }
    /// Layer metadata by chain ID: `image/overlay2/layerdb/sha256/<chain>`.
    pub fn layer_meta(&self, chain: &Digest) -> PathBuf {
        self.layers_meta_dir().join(chain.hex())
    }
    /// The folder of layer metadata.
    pub fn layers_meta_dir(&self) -> PathBuf {
        self.image_dir().join("layerdb/sha256")
    }
    /// The overlay2 driver's folder: `overlay2/`.
    pub fn overlay_dir(&self) -> PathBuf {
        self.root.join("overlay2")
    }
    /// One overlay2 layer folder (`diff`, `link`, `lower`, `work`, `merged`): `overlay2/<cache-id>`.
    pub fn overlay_layer(&self, cache_id: &str) -> PathBuf {
        self.overlay_dir().join(cache_id)
    }
    /// Short symlinks to layer diffs, keeping overlay mount options short: `overlay2/l/<LINK>`.
    pub fn overlay_links(&self) -> PathBuf {
        self.overlay_dir().join("l")
    }
    /// Scratch space for staging loads and saves; on the same filesystem so renames are atomic.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// The store-wide lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(".lock")
    }
    /// Containers' folders: `containers/`.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }
    /// One container's folder (`config.v2.json`, `hostconfig.json`, log, hosts files).
    pub fn container(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }
    /// Runtime files (attach sockets) of this root: `/run/baleia/<12 hex of the root's path>`, short
    /// enough for unix socket paths and distinct for every root.
    pub fn runtime(&self) -> PathBuf {
        PathBuf::from("/run/baleia").join(self.root_key())
    }
    /// The unix socket a container's monitor serves attach, wait and resize on.
    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.runtime().join(format!("{}.sock", &id[..12]))
    }
    /// Network records (`<id>.json`, Docker's inspect shape) and their lock.
    pub fn networks_dir(&self) -> PathBuf {
        self.root.join("network")
    }
    /// One network's record.
    pub fn network(&self, id: &str) -> PathBuf {
        self.networks_dir().join(format!("{id}.json"))
    }
    /// What a running container's monitor set up on the host (veths, published ports), to undo it.
    pub fn network_undo(&self, id: &str) -> PathBuf {
        self.runtime().join(format!("{}.net.json", &id[..12]))
    }
    /// A short key naming this root on the host (bridge aliases, runtime folder).
    pub fn root_key(&self) -> String {
        Digest::of(self.root.as_os_str().as_encoded_bytes()).short()
    }
    /// The engine's persistent ID (shown by `info`).
    pub fn engine_id(&self) -> PathBuf {
        self.root.join("engine-id")
    }
}
