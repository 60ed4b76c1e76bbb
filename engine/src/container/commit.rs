//! `commit`: a container's writable layer becomes a new image stacked on its image, as `docker
//! commit` makes it; and which containers use an image, so `rmi` refuses to delete it as Docker does.
//!
//! Docker keeps the mount points it makes (`/etc/hosts`, `/proc`, …) in a separate `-init` layer, so
//! they never reach a commit. baleia makes them in the container's own layer, so they are left out
//! here: the empty files bound over (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`, the `--init`
//! binary), `/proc`, `/sys` and `/dev` when the image has none, and folders only copied up to hold
//! them.

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::model::Container;
use super::resources;
use crate::archive::import::apply_change;
use crate::cgroups::CgroupVersion;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image::repositories::Repositories;
use crate::layer::{upper, StagedLayer, Staging};
use crate::reference::Reference;

/// What `commit` is told besides the container.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` for the new image.
    pub reference: Option<Reference>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// `-m`: the commit message.
    pub message: Option<String>,
    /// `-c`: Dockerfile instructions applied to the new config.
    pub changes: Vec<String>,
    /// `-p`: freeze a running container's processes while its layer is read.
    pub pause: bool,
}

/// Files a container's PID 1 setup binds over, made empty in its layer when the image lacks them.
const BOUND_FILES: [&str; 5] = [
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "sbin/baleia-init",
    "usr/sbin/baleia-init", // `/sbin` a symlink to `usr/sbin`.
];
/// Folders the setup mounts file systems on, made in the container's layer when the image lacks them.
const MOUNT_DIRS: [&str; 3] = ["proc", "sys", "dev"];

impl Engine {
    /// Make an image of a container: its image's layers plus one of the container's changes, its
    /// image's config with the container's (and `changes`) applied. Returns the new image's ID.
    pub fn commit_container(&self, name: &str, opts: &CommitOptions) -> Result<Digest> {
        let c = self.resolve_container(name)?;
        let base = match c.image.parse::<Digest>() {
            Ok(d) => self.images.get(&d)?,
            Err(_) => None,
        }
        .ok_or_else(|| Error::NoSuchImage(c.image.clone()))?;
        let layers = self.image_layers(&base)?;

        let mut doc = match base.json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut config = match doc.remove("config") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        merge_container_config(&mut config, &c);
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }

        let staging = Staging::new(&self.paths)?;
        let staged = {
            let _frozen = if opts.pause && c.state.running {
                Frozen::freeze(&c.id)
            } else {
                None
            };
            let lowers: Vec<PathBuf> = layers
                .iter()
                .rev()
                .map(|l| self.layers.diff_dir(l))
                .collect();
            self.stage_container_layer(&c, &lowers, &staging)?
        };
        let empty = staged.diff == Digest::of(&[0u8; 1024]);

        let now = super::monitor::now();
        let created_by = c.config.cmd.clone().unwrap_or_default().join(" ");
        let mut step = Map::new();
        step.insert("created".into(), json!(now));
        if let Some(a) = &opts.author {
            step.insert("author".into(), json!(a));
        }
        step.insert("created_by".into(), json!(created_by));
        if let Some(m) = &opts.message {
            step.insert("comment".into(), json!(m));
        }
        if empty {
            step.insert("empty_layer".into(), json!(true));
        }
        match doc.get_mut("history").and_then(Value::as_array_mut) {
            Some(h) => h.push(Value::Object(step)),
            None => {
                doc.insert("history".into(), json!([step]));
            }
        }
        if !empty {
            let rootfs = doc
                .entry("rootfs")
                .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
            match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
                Some(ids) => ids.push(json!(staged.diff.to_string())),
                None => rootfs["diff_ids"] = json!([staged.diff.to_string()]),
            }
        }
        doc.insert("config".into(), Value::Object(config));
        doc.insert("container".into(), json!(c.id));
        doc.insert(
            "container_config".into(),
            serde_json::to_value(&c.config).expect("config serializes"),
        );
        doc.insert("created".into(), json!(now));
        match &opts.author {
            Some(a) => doc.insert("author".into(), json!(a)),
            None => doc.remove("author"),
        };
        match &opts.message {
            Some(m) => doc.insert("comment".into(), json!(m)),
            None => doc.remove("comment"),
        };
        let raw = serde_json::to_vec(&Value::Object(doc)).expect("config serializes");
        let top = (!empty).then(|| (&staged, layers.last()));
        self.store_image(top, &raw, opts.reference.as_ref())
    }

    /// The container's layer as a layer tar (mount points left out), unpacked into `staging`.
    fn stage_container_layer(
        &self,
        c: &Container,
        lowers: &[PathBuf],
        staging: &Staging,
    ) -> Result<StagedLayer> {
        let upper_dir = self.paths.overlay_layer(&c.id).join("diff");
        let mut skip = HashSet::new();
        mount_points(&upper_dir, Path::new(""), lowers, &mut skip)?;
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::Runtime(format!("pipe: {e}")))?;
        let writer = std::thread::spawn(move || {
            upper::write_layer_tar_skipping(&upper_dir, File::from(w), &|p| skip.contains(p))
        });
        let staged = self
            .layers
            .stage(staging, File::from(r), "the container's changes");
        let written = writer
            .join()
            .map_err(|_| Error::Runtime("writing the container's layer panicked".into()))?;
        written?;
        staged
    }

    /// Containers (running or not) made from image `id`, oldest first.
    pub fn containers_using(&self, id: &Digest) -> Result<Vec<Container>> {
        let id = id.to_string();
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| c.image == id)
            .collect())
    }

    /// `rmi`'s checks for containers using image `id` (named `name`, by a tag or digest when
    /// `by_reference`), with Docker's errors. `Ok(true)`: untag only, the image stays (a container
    /// uses it); `Ok(false)`: no container uses it. Caller holds the store's exclusive lock.
    pub fn check_image_users(
        &self,
        name: &str,
        id: &Digest,
        by_reference: bool,
        repos: &Repositories,
        force: bool,
    ) -> Result<bool> {
        let users = self.containers_using(id)?;
        let Some(first) = users.first() else {
            return Ok(false);
        };
        if by_reference {
            let refs = repos.tags_of(id).len() + repos.digests_of(id).len();
            if !force && refs <= 1 {
                return Err(Error::Conflict(format!(
                    "unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    first.short_id(),
                    id.short()
                )));
            }
            return Ok(true);
        }
        if let Some(running) = users.iter().find(|c| c.state.running) {
            return Err(Error::Conflict(format!(
                "unable to delete {} (cannot be forced) - image is being used by running container {}",
                id.short(),
                running.short_id()
            )));
        }
        if !force {
            return Err(Error::Conflict(format!(
                "unable to delete {} (must be forced) - image is being used by stopped container {}",
                id.short(),
                first.short_id()
            )));
        }
        Ok(true)
    }
}

/// Put the container's own settings into the image config's `config` object.
fn merge_container_config(config: &mut Map<String, Value>, c: &Container) {
    let cc = &c.config;
    config.insert("Cmd".into(), json!(cc.cmd));
    config.insert("Entrypoint".into(), json!(cc.entrypoint));
    config.insert("Env".into(), json!(cc.env));
    config.insert("WorkingDir".into(), json!(cc.working_dir));
    config.insert("User".into(), json!(cc.user));
    if let Some(p) = &cc.exposed_ports {
        config.insert("ExposedPorts".into(), json!(p));
    }
    if !cc.labels.is_empty() {
        config.insert("Labels".into(), json!(cc.labels));
    }
}

/// Collect into `skip` the tar paths under `rel` of the upper folder `upper` that are only mount
/// points (see the module's doc). Returns whether anything under `rel` is kept.
fn mount_points(
    upper: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    skip: &mut HashSet<PathBuf>,
) -> Result<bool> {
    let dir = upper.join(rel);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(true); // Let the tar writer report it.
    };
    let mut kept_any = false;
    for e in rd.flatten() {
        let path = rel.join(e.file_name());
        let Ok(meta) = fs::symlink_metadata(upper.join(&path)) else {
            kept_any = true;
            continue;
        };
        let name = path.to_string_lossy();
        let keep = if meta.is_file() && meta.len() == 0 && BOUND_FILES.contains(&name.as_ref()) {
            false
        } else if meta.is_dir() {
            let children = mount_points(upper, &path, lowers, skip)?;
            children || !only_holder(&upper.join(&path), &path, &meta, lowers)
        } else {
            true
        };
        if keep {
            kept_any = true;
        } else {
            skip.insert(path);
        }
    }
    Ok(kept_any)
}

/// Whether a folder of the container's layer with nothing kept in it is only there to hold mount
/// points: one of the mount folders the image lacks, or a copy-up of a lower folder with the same
/// owner and mode (not an opaque one: that one records a deletion).
fn only_holder(path: &Path, rel: &Path, meta: &Metadata, lowers: &[PathBuf]) -> bool {
    match lower_entry(rel, lowers) {
        None => {
            MOUNT_DIRS.contains(&rel.to_string_lossy().as_ref())
                && fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
        }
        Some(l) => {
            l.is_dir()
                && (l.mode(), l.uid(), l.gid()) == (meta.mode(), meta.uid(), meta.gid())
                && !is_opaque(path)
        }
    }
}

/// What the image's layers (top first) have at `rel`, if anything (a whiteout hides it).
fn lower_entry(rel: &Path, lowers: &[PathBuf]) -> Option<Metadata> {
    for l in lowers {
        if let Ok(m) = fs::symlink_metadata(l.join(rel)) {
            let whiteout = m.file_type().is_char_device() && m.rdev() == 0;
            return (!whiteout).then_some(m);
        }
    }
    None
}

/// Whether overlayfs marked the folder opaque (its lower contents hidden).
fn is_opaque(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 2];
    // SAFETY: NUL-terminated strings and a buffer valid for its length.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

/// A running container's processes frozen by its cgroup's freezer, thawed when dropped (`commit -p`).
struct Frozen {
    file: PathBuf,
    thaw: &'static str,
}

impl Frozen {
    /// Freeze container `id`; `None` if it has no freezer (then it is read while running, as
    /// `commit --pause=false` does).
    fn freeze(id: &str) -> Option<Frozen> {
        let cg = resources::open_cgroup(id)?;
        let (file, freeze, thaw, check, frozen) = match cg.version() {
            CgroupVersion::V1 => (
                cg.dir("freezer")?.join("freezer.state"),
                "FROZEN",
                "THAWED",
                "freezer.state",
                "FROZEN",
            ),
            CgroupVersion::V2 => (
                cg.dir("")?.join("cgroup.freeze"),
                "1",
                "0",
                "cgroup.events",
                "frozen 1",
            ),
        };
        fs::write(&file, freeze).ok()?;
        let guard = Frozen { file, thaw };
        let check = guard.file.with_file_name(check);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match fs::read_to_string(&check) {
                Ok(s) if s.lines().any(|l| l.trim() == frozen) => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        Some(guard)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = fs::write(&self.file, self.thaw);
    }
}
