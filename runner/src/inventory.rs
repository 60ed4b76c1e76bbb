//! What a lab made, so that it can all go: the backend's containers, networks and images before
//! the lab (kept on disk while it runs, so a crashed run is cleaned by the next one), and
//! whatever is new afterwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError};

/// The objects of a backend at one moment (full IDs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Containers, running or not.
    pub containers: BTreeSet<String>,
    /// Networks.
    pub networks: BTreeSet<String>,
    /// Images.
    pub images: BTreeSet<String>,
    /// Image names (`REPOSITORY:TAG`): a tag a lab adds to an image that was already here goes too.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Network namespaces the lab made for its clients.
    #[serde(default)]
    pub netns: BTreeSet<String>,
    /// The host ends of their links.
    #[serde(default)]
    pub links: BTreeSet<String>,
}

fn ids(out: &str) -> BTreeSet<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

impl Inventory {
    /// What the backend holds now.
    pub fn take(b: &Backend) -> Result<Inventory, BackendError> {
        Ok(Inventory {
            containers: ids(&b.ok(&["ps", "-aq", "--no-trunc"])?),
            networks: ids(&b.ok(&["network", "ls", "-q", "--no-trunc"])?),
            images: ids(&b.ok(&["images", "-aq", "--no-trunc"])?),
            tags: ids(&b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?)
                .into_iter()
                .filter(|t| !t.contains("<none>"))
                .collect(),
            netns: BTreeSet::new(),
            links: BTreeSet::new(),
        })
    }

    /// Remove from the backend whatever is not in `self` (containers, then networks, then
    /// images) and the lab's namespaces; what could not be removed, in words.
    pub fn restore(&self, b: &Backend) -> Vec<String> {
        let mut failed = Vec::new();
        let now = match Inventory::take(b) {
            Ok(n) => n,
            Err(e) => return vec![e.to_string()],
        };
        let new_containers: Vec<&str> = now
            .containers
            .difference(&self.containers)
            .map(String::as_str)
            .collect();
        if !new_containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(&new_containers);
            if let Err(e) = b.ok(&args) {
                failed.push(e.to_string());
            }
        }
        for n in now.networks.difference(&self.networks) {
            if let Err(e) = b.ok(&["network", "rm", n]) {
                failed.push(e.to_string());
            }
        }
        let new_images: Vec<&str> = now
            .images
            .difference(&self.images)
            .map(String::as_str)
            .collect();
        if !new_images.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(&new_images);
            if let Err(e) = b.ok(&args) {
                failed.push(e.to_string());
            }
        }
        // New names of images that stay: untag them (names of removed images went with them).
        let kept: Vec<String> = match b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]) {
            Ok(out) => ids(&out).difference(&self.tags).cloned().collect(),
            Err(e) => {
                failed.push(e.to_string());
                Vec::new()
            }
        };
        let kept: Vec<&str> = kept
            .iter()
            .map(String::as_str)
            .filter(|t| !t.contains("<none>"))
            .collect();
        if !kept.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(&kept);
            if let Err(e) = b.ok(&args) {
                failed.push(e.to_string());
            }
        }
        for l in &self.links {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", l])
                .output();
        }
        for ns in &self.netns {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
        if !self.links.is_empty() {
            crate::client::sweep_stale_guards();
        }
        failed
    }

    /// Whether `now` holds a container, network or image that `self` does not.
    pub fn lacks_any_of(&self, now: &Inventory) -> bool {
        !now.containers.is_subset(&self.containers)
            || !now.networks.is_subset(&self.networks)
            || !now.images.is_subset(&self.images)
    }

    /// Keep it at `path` until the lab is over.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, path)
    }

    /// The inventory a run left at `path` (it did not finish), if any.
    pub fn load(path: &Path) -> Option<Inventory> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

/// Where a lab's inventory is kept while it runs.
pub fn state_file(state_dir: &Path, lab: &str) -> PathBuf {
    state_dir.join(format!("{lab}.inventory.json"))
}
