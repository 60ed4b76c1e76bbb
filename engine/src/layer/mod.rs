//! The layer store: each layer unpacked once into `overlay2/<cache-id>/diff` and shared by every image
//! (and later every container) that stacks it; its metadata in `image/overlay2/layerdb/sha256/<chain-id>`
//! as Docker keeps it (`diff`, `size`, `cache-id`, `parent`, plus our `tar-split` and `tar-size`).

pub mod extract;
pub mod tarsplit;
pub mod upper;

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::digest::{Digest, HashReader};
use crate::error::{Error, IoContext, Result};
use crate::lock::Lock;
use crate::paths::Paths;

/// One layer of the store, identified by its chain ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Chain ID: this layer's identity in a stack (`sha256(parent-chain + " " + diff)`).
    pub chain: Digest,
    /// Diff ID: sha256 of the uncompressed layer tar.
    pub diff: Digest,
    /// Chain ID of the layer below, if any.
    pub parent: Option<Digest>,
    /// Folder name under `overlay2/`.
    pub cache_id: String,
    /// Bytes of file content in the layer.
    pub size: u64,
    /// Bytes of the uncompressed layer tar.
    pub tar_size: u64,
}

/// A layer unpacked into a staging folder, not yet in the store.
#[derive(Debug)]
pub struct StagedLayer {
    dir: PathBuf,
    /// Diff ID of the extracted stream.
    pub diff: Digest,
    /// Uncompressed tar size.
    pub tar_size: u64,
    /// Bytes of file content.
    pub size: u64,
}

/// A private scratch folder under `tmp/`, locked while alive, removed on drop (or by the next
/// command's cleanup if this process dies).
pub struct Staging {
    dir: PathBuf,
    next: AtomicUsize,
    _lock: Lock,
}

impl Staging {
    /// Create a new staging folder under the root's `tmp/`. The folder and its lock are made under
    /// the store's shared lock, so the sweep (under the exclusive lock) never sees one half-made.
    pub fn new(paths: &Paths) -> Result<Staging> {
        let _store = Lock::acquire(&paths.lock_file(), crate::lock::Mode::Shared)?;
        let dir = paths.tmp().join(format!("stage-{}", random_hex(8)));
        fs::create_dir_all(&dir).at(&dir)?;
        let lock = Lock::acquire(&dir.join(".lock"), crate::lock::Mode::Exclusive)?;
        Ok(Staging {
            dir,
            next: AtomicUsize::new(0),
            _lock: lock,
        })
    }
    /// A fresh sub-folder.
    pub fn subdir(&self) -> Result<PathBuf> {
        let d = self
            .dir
            .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
        fs::create_dir(&d).at(&d)?;
        Ok(d)
    }
    /// The staging folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Remove staging folders left by processes that died (their lock is free). Caller holds the
/// store's exclusive lock.
pub fn clean_stale_staging(paths: &Paths) -> Result<()> {
    let Ok(rd) = fs::read_dir(paths.tmp()) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        // A folder whose owner finished meanwhile is removed by that owner (its drop does not wait
        // for the store lock): one that vanishes under us is simply gone.
        let free = match Lock::try_exclusive(&p.join(".lock")) {
            Ok(l) => l.is_some(),
            Err(_) if !p.exists() => continue,
            Err(e) => return Err(e),
        };
        if free {
            match fs::remove_dir_all(&p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                r => r.at(&p)?,
            }
        }
    }
    Ok(())
}

/// Access to the layers of one state root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    paths: Paths,
}

impl LayerStore {
    /// The layer store of `paths`.
    pub fn new(paths: Paths) -> Self {
        LayerStore { paths }
    }

    /// Extract an uncompressed layer tar stream into a staging sub-folder, hashing it on the way.
    pub fn stage(&self, staging: &Staging, reader: impl Read, what: &str) -> Result<StagedLayer> {
        let dir = staging.subdir()?;
        let diff_dir = dir.join("diff");
        fs::create_dir(&diff_dir).at(&diff_dir)?;
        let mut hr = HashReader::new(reader);
        let ex = extract::extract(&mut hr, &diff_dir, what)?;
        let (diff, tar_size, _) = hr.finish();
        let ts = dir.join("tar-split");
        tarsplit::write(&ts, &ex.segments).at(&ts)?;
        Ok(StagedLayer {
            dir,
            diff,
            tar_size,
            size: ex.size,
        })
    }

    /// Stage a copy of a stored layer (rebuilt from its tar-split), to stack it on another parent.
    pub fn stage_copy(&self, staging: &Staging, layer: &Layer) -> Result<StagedLayer> {
        let staged = self.stage(staging, self.tar_stream(layer)?, &layer.diff.to_string())?;
        verify(&layer.diff.to_string(), &layer.diff, &staged.diff)?;
        Ok(staged)
    }

    /// Move a staged layer into the store on top of `parent`. The caller holds the store's exclusive
    /// lock. If the chain is already stored, the stored layer is returned and the staged one is left
    /// for the staging cleanup.
    pub fn commit(&self, staged: &StagedLayer, parent: Option<&Layer>) -> Result<Layer> {
        let chain = parent.map_or_else(
            || staged.diff.clone(),
            |p| Digest::chain(&p.chain, &staged.diff),
        );
        if let Some(l) = self.get(&chain)? {
            return Ok(l);
        }
        if !staged.dir.exists() {
            return Err(Error::Corrupt(format!(
                "staged layer {} was already committed",
                staged.diff
            )));
        }
        let cache_id = random_hex(32);
        let layer_dir = self.paths.overlay_layer(&cache_id);
        let links = self.paths.overlay_links();
        fs::create_dir_all(&links).at(&links)?;
        fs::rename(&staged.dir, &layer_dir).at(&layer_dir)?;

        let link = random_link_id();
        write_file(&layer_dir.join("link"), &link)?;
        let l = links.join(&link);
        std::os::unix::fs::symlink(format!("../{cache_id}/diff"), &l).at(&l)?;
        if let Some(p) = parent {
            let mut lower = format!("l/{}", self.link_of(p)?);
            if let Ok(pl) = fs::read_to_string(self.paths.overlay_layer(&p.cache_id).join("lower"))
            {
                lower.push(':');
                lower.push_str(pl.trim());
            }
            write_file(&layer_dir.join("lower"), &lower)?;
            fs::create_dir(layer_dir.join("work")).at(&layer_dir)?;
        }

        let meta_dir = self.paths.layers_meta_dir();
        let tmp = meta_dir.join(format!(".tmp-{}", chain.hex()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).at(&tmp)?;
        fs::rename(layer_dir.join("tar-split"), tmp.join("tar-split")).at(&tmp)?;
        write_file(&tmp.join("diff"), &staged.diff.to_string())?;
        write_file(&tmp.join("size"), &staged.size.to_string())?;
        write_file(&tmp.join("tar-size"), &staged.tar_size.to_string())?;
        write_file(&tmp.join("cache-id"), &cache_id)?;
        if let Some(p) = parent {
            write_file(&tmp.join("parent"), &p.chain.to_string())?;
        }
        let dest = self.paths.layer_meta(&chain);
        fs::rename(&tmp, &dest).at(&dest)?;
        Ok(Layer {
            chain,
            diff: staged.diff.clone(),
            parent: parent.map(|p| p.chain.clone()),
            cache_id,
            size: staged.size,
            tar_size: staged.tar_size,
        })
    }

    /// The stored layer with this chain ID, if any.
    pub fn get(&self, chain: &Digest) -> Result<Option<Layer>> {
        let dir = self.paths.layer_meta(chain);
        if !dir.is_dir() {
            return Ok(None);
        }
        let read = |name: &str| -> Result<String> {
            let p = dir.join(name);
            Ok(fs::read_to_string(&p).at(&p)?.trim().to_string())
        };
        let corrupt = |what: &str| Error::Corrupt(format!("layer {chain}: bad {what}"));
        let parent = match read("parent") {
            Ok(p) => Some(p.parse().map_err(|_| corrupt("parent"))?),
            Err(_) => None,
        };
        Ok(Some(Layer {
            chain: chain.clone(),
            diff: read("diff")?.parse().map_err(|_| corrupt("diff"))?,
            parent,
            cache_id: read("cache-id")?,
            size: read("size")?.parse().map_err(|_| corrupt("size"))?,
            tar_size: read("tar-size")?.parse().map_err(|_| corrupt("tar-size"))?,
        }))
    }

    /// The stored layer with this chain ID, or a corrupt-store error.
    pub fn require(&self, chain: &Digest) -> Result<Layer> {
        self.get(chain)?
            .ok_or_else(|| Error::Corrupt(format!("layer {chain} is missing")))
    }

    /// The stack for a list of diff IDs (bottom first), all of which must be stored.
    pub fn stack(&self, diff_ids: &[Digest]) -> Result<Vec<Layer>> {
        chain_ids(diff_ids)
            .iter()
            .map(|c| self.require(c))
            .collect()
    }

    /// Every stored layer's chain ID.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.paths.layers_meta_dir();
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        Ok(rd
            .flatten()
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()))
            .collect())
    }

    /// The folder holding the layer's files.
    pub fn diff_dir(&self, layer: &Layer) -> PathBuf {
        self.paths.overlay_layer(&layer.cache_id).join("diff")
    }

    /// The layer's uncompressed tar, rebuilt byte for byte (check it against `layer.diff` while reading).
    pub fn tar_stream(&self, layer: &Layer) -> Result<tarsplit::Replay> {
        let ts = self.paths.layer_meta(&layer.chain).join("tar-split");
        let segments = tarsplit::read(&ts).at(&ts)?;
        Ok(tarsplit::Replay::new(self.diff_dir(layer), segments))
    }

    /// Remove a layer (caller holds the exclusive lock and knows nothing uses it).
    pub fn remove(&self, layer: &Layer) -> Result<()> {
        let meta = self.paths.layer_meta(&layer.chain);
        let doomed = self
            .paths
            .layers_meta_dir()
            .join(format!(".del-{}", layer.chain.hex()));
        fs::rename(&meta, &doomed).at(&meta)?;
        self.remove_overlay_dir(&layer.cache_id)?;
        fs::remove_dir_all(&doomed).at(&doomed)
    }

    fn remove_overlay_dir(&self, cache_id: &str) -> Result<()> {
        let dir = self.paths.overlay_layer(cache_id);
        if let Ok(link) = fs::read_to_string(dir.join("link")) {
            let _ = fs::remove_file(self.paths.overlay_links().join(link.trim()));
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(&dir),
            _ => Ok(()),
        }
    }

    /// Remove layers not in `keep_chains`, half-written metadata, and overlay folders that no layer
    /// and nothing in `keep_dirs` (containers' layers) names. Caller holds the exclusive lock.
    pub fn collect_garbage(
        &self,
        keep_chains: &HashSet<Digest>,
        keep_dirs: &HashSet<String>,
    ) -> Result<Vec<Layer>> {
        let mut removed = Vec::new();
        let meta_dir = self.paths.layers_meta_dir();
        if let Ok(rd) = fs::read_dir(&meta_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with('.') {
                    fs::remove_dir_all(e.path()).at(e.path())?;
                }
            }
        }
        let mut live_dirs: HashSet<String> = keep_dirs.clone();
        for chain in self.list()? {
            let Some(layer) = self.get(&chain)? else {
                continue;
            };
            if keep_chains.contains(&chain) {
                live_dirs.insert(layer.cache_id.clone());
            } else {
                self.remove(&layer)?;
                removed.push(layer);
            }
        }
        if let Ok(rd) = fs::read_dir(self.paths.overlay_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name != "l"
                    && !live_dirs.contains(&name)
                    && !live_dirs.contains(name.trim_end_matches("-init"))
                {
                    self.remove_overlay_dir(&name)?;
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.paths.overlay_links()) {
            for e in rd.flatten() {
                if fs::metadata(e.path()).is_err() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(removed)
    }

    fn link_of(&self, layer: &Layer) -> Result<String> {
        let p = self.paths.overlay_layer(&layer.cache_id).join("link");
        Ok(fs::read_to_string(&p).at(&p)?.trim().to_string())
    }
}

impl StagedLayer {
    /// Whether this staged layer was already moved into the store.
    pub fn is_committed(&self) -> bool {
        !self.dir.exists()
    }
}

/// Chain IDs of a stack of diff IDs, bottom first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let c = match out.last() {
            Some(p) => Digest::chain(p, d),
            None => d.clone(),
        };
        out.push(c);
    }
    out
}

/// Error unless `actual == expected`.
pub fn verify(what: &str, expected: &Digest, actual: &Digest) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn write_file(p: &Path, content: &str) -> Result<()> {
    fs::write(p, content).at(p)
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

fn random_link_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..26)
        .map(|_| ALPHABET[rand::random::<u8>() as usize % ALPHABET.len()] as char)
        .collect()
}
