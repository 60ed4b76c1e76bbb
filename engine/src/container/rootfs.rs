//! The container's root filesystem: an overlay of the image's layers (read-only, shared) under the
//! container's own thin writable layer `overlay2/<id>/diff`, mounted at `overlay2/<id>/merged`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, IoContext, Result};
use crate::layer::Layer;
use crate::paths::Paths;

/// Make `overlay2/<id>/{diff,work,merged}` and the `lower` file naming the image's layers (top
/// first, as Docker writes it).
pub fn prepare(paths: &Paths, id: &str, image_layers: &[Layer]) -> Result<()> {
    let dir = paths.overlay_layer(id);
    for d in ["diff", "work", "merged"] {
        fs::create_dir_all(dir.join(d)).at(dir.join(d))?;
    }
    let mut links = Vec::new();
    for l in image_layers.iter().rev() {
        let p = paths.overlay_layer(&l.cache_id).join("link");
        links.push(format!("l/{}", fs::read_to_string(&p).at(&p)?.trim()));
    }
    fs::write(dir.join("lower"), links.join(":")).at(dir.join("lower"))
}

/// Mount the container's overlay; returns the mount point. Lower layers are named by their short
/// links relative to `overlay2/` (as Docker does, so deep images fit in one page of mount options),
/// so this changes the calling process's working directory: only the monitor calls it.
pub fn mount_overlay(paths: &Paths, id: &str) -> Result<PathBuf> {
    let dir = paths.overlay_layer(id);
    let merged = dir.join("merged");
    let lower = fs::read_to_string(dir.join("lower")).at(dir.join("lower"))?;
    let overlay = paths.overlay_dir();
    std::env::set_current_dir(&overlay).at(&overlay)?;
    let data = if lower.trim().is_empty() {
        // An image with no layers: overlay needs a lower dir, so use an empty one.
        let empty = dir.join("empty");
        fs::create_dir_all(&empty).at(&empty)?;
        format!("lowerdir={id}/empty,upperdir={id}/diff,workdir={id}/work")
    } else {
        format!(
            "lowerdir={},upperdir={id}/diff,workdir={id}/work",
            lower.trim()
        )
    };
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| {
        Error::Runtime(format!(
            "mounting the container's overlay at {}: {e}",
            merged.display()
        ))
    })?;
    Ok(merged)
}

/// Unmount `merged` if it is mounted (lazily, so a busy mount never blocks cleanup).
pub fn unmount(merged: &Path) -> Result<()> {
    match umount2(merged, MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::from(e)).at(merged),
    }
}
