//! Cgroups for containers: Docker's `--memory`, `--memory-swap`, `--cpu-shares`, `--cpus` and
//! `--pids-limit`, on cgroup v1 (also hybrid hosts) and v2 behind one API.
//!
//! Every container's cgroup lives under the parent [`PARENT`] (v1:
//! `/sys/fs/cgroup/<controller>/baleia/<id>`, v2: `/sys/fs/cgroup/baleia/<id>`). The parent is
//! created when missing and never removed; only a container's own directory is.

mod error;
mod fsutil;
mod limits;
mod stats;
mod v1;
mod v2;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod host_tests;

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::sysinfo::CgroupVersion;
pub use error::{CgroupError, Result};
pub use limits::{
    cpu_shares_to_weight, nano_cpus_to_quota, Limits, CPU_PERIOD_US, CPU_SHARES_RANGE,
    MIN_CPU_QUOTA_US, MIN_MEMORY,
};
pub use stats::{cpu_percent, memory_percent, Stats};

/// The cgroup under which every container's cgroup is made.
pub const PARENT: &str = "baleia";
/// Where the cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long [`Cgroup::remove`] waits for a cgroup to empty before giving up.
const REMOVE_DEADLINE: Duration = Duration::from_secs(1);

/// The host's cgroup version: v2 when `/sys/fs/cgroup` is a cgroup2 mount, else v1 (hybrid too).
pub fn version() -> CgroupVersion {
    crate::sysinfo::cgroup_version()
}

/// Where the cgroup filesystems are: one mount per v1 controller, or the unified root.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    /// `(controller, mount point)` for every mounted v1 controller we use.
    V1(Vec<(String, PathBuf)>),
    /// The root of the unified hierarchy.
    V2(PathBuf),
}

impl Layout {
    /// The host's layout (reads `/proc/self/mountinfo` on v1).
    pub(crate) fn detect() -> Result<Layout> {
        Ok(match version() {
            CgroupVersion::V2 => Layout::V2(PathBuf::from(CGROUP_ROOT)),
            CgroupVersion::V1 => {
                let mountinfo = fsutil::read(Path::new("/proc/self/mountinfo"))?;
                Layout::V1(v1::mounts(&mountinfo))
            }
        })
    }
}

/// One container's cgroup: its directory in every hierarchy it uses.
#[derive(Clone, Debug)]
pub struct Cgroup {
    /// Path relative to the hierarchy roots, e.g. `baleia/<id>`.
    name: String,
    /// v1 or v2.
    version: CgroupVersion,
    /// v1: `(controller, dir)` (co-mounted controllers share a dir); v2: one `("", dir)`.
    dirs: Vec<(String, PathBuf)>,
    /// `(file name, path)` of the limit files, for observations.
    limit_files: Vec<(String, PathBuf)>,
}

impl Cgroup {
    /// Creates (or reuses) the cgroup `baleia/<id>` and applies `limits`; `name` is the
    /// container's id, or `baleia/<id>` already.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup> {
        Cgroup::create_in(PARENT, container_id(name), limits)
    }

    /// Creates (or reuses) the cgroup `<parent>/<name>` and applies `limits`; the parent stays.
    pub fn create_in(parent: &str, name: &str, limits: &Limits) -> Result<Cgroup> {
        Cgroup::create_at(&Layout::detect()?, parent, name, limits)
    }

    /// The existing cgroup `baleia/<id>`, or `None` if it is not there; `name` as for
    /// [`Cgroup::create`].
    pub fn open(name: &str) -> Result<Option<Cgroup>> {
        Cgroup::open_in(PARENT, container_id(name))
    }

    /// The existing cgroup `<parent>/<name>`, or `None` if it is not there.
    pub fn open_in(parent: &str, name: &str) -> Result<Option<Cgroup>> {
        Cgroup::open_at(&Layout::detect()?, parent, name)
    }

    /// [`Cgroup::create_in`] on a given layout (tests point it at a fake hierarchy).
    pub(crate) fn create_at(
        layout: &Layout,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<Cgroup> {
        limits.validate()?;
        let rel = relative_path(parent, name)?;
        let (version, created) = match layout {
            Layout::V1(mounts) => (CgroupVersion::V1, v1::create(mounts, &rel)?),
            Layout::V2(root) => (CgroupVersion::V2, v2::create(root, &rel, limits)?),
        };
        let mut cgroup = Cgroup {
            name: rel.to_string_lossy().into_owned(),
            version,
            dirs: created,
            limit_files: Vec::new(),
        };
        let applied = match version {
            CgroupVersion::V1 => v1::apply(&cgroup, limits),
            CgroupVersion::V2 => v2::apply(&cgroup, limits),
        };
        match applied {
            Ok(files) => {
                cgroup.limit_files = files;
                Ok(cgroup)
            }
            Err(e) => {
                // Best effort: do not leave a half-configured cgroup behind.
                let _ = cgroup.remove();
                Err(e)
            }
        }
    }

    /// [`Cgroup::open_in`] on a given layout.
    pub(crate) fn open_at(layout: &Layout, parent: &str, name: &str) -> Result<Option<Cgroup>> {
        let rel = relative_path(parent, name)?;
        let (version, dirs, files): (_, Vec<_>, &[&str]) = match layout {
            Layout::V1(mounts) => {
                let dirs = mounts.iter().map(|(c, m)| (c.clone(), m.join(&rel)));
                (CgroupVersion::V1, dirs.collect(), &v1::LIMIT_FILES)
            }
            Layout::V2(root) => (
                CgroupVersion::V2,
                vec![(String::new(), root.join(&rel))],
                &v2::LIMIT_FILES,
            ),
        };
        let dirs: Vec<_> = dirs.into_iter().filter(|(_, d)| d.is_dir()).collect();
        if dirs.is_empty() {
            return Ok(None);
        }
        let mut cgroup = Cgroup {
            name: rel.to_string_lossy().into_owned(),
            version,
            dirs,
            limit_files: Vec::new(),
        };
        cgroup.limit_files = files
            .iter()
            .flat_map(|f| {
                cgroup
                    .unique_dirs()
                    .into_iter()
                    .map(move |d| (f, d.join(f)))
            })
            .filter(|(_, p)| p.exists())
            .map(|(f, p)| (f.to_string(), p))
            .collect();
        Ok(Some(cgroup))
    }

    /// The cgroup's path relative to the hierarchy roots, e.g. `baleia/<id>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this cgroup is on a v1 or v2 hierarchy.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Moves process `pid` (and so its future children) into the cgroup, in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for dir in self.unique_dirs() {
            fsutil::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Every process in the cgroup (and in cgroups below it), sorted; for `top`.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = self
            .dir("pids")
            .or_else(|| self.dir("memory"))
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()));
        match dir {
            Some(dir) => fsutil::procs_recursive(dir),
            None => Ok(Vec::new()),
        }
    }

    /// Current resource usage, with host figures for the percentages.
    pub fn stats(&self) -> Result<Stats> {
        match self.version {
            CgroupVersion::V1 => v1::stats(self),
            CgroupVersion::V2 => v2::stats(self),
        }
    }

    /// Whether the kernel's OOM killer has killed a process of this cgroup.
    pub fn oom_killed(&self) -> Result<bool> {
        match self.version {
            CgroupVersion::V1 => v1::oom_killed(self),
            CgroupVersion::V2 => v2::oom_killed(self),
        }
    }

    /// Sends SIGKILL to every process of the cgroup (v2: `cgroup.kill` when the kernel has it).
    pub fn kill_all(&self) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => v1::kill_all(self),
            CgroupVersion::V2 => v2::kill_all(self),
        }
    }

    /// Removes the cgroup's directories (the parent stays), waiting up to about a second for
    /// killed processes to leave; a cgroup already gone is fine.
    pub fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + REMOVE_DEADLINE;
        let mut first_error = None;
        for dir in self.unique_dirs() {
            if let Err(e) = fsutil::rmdir_tree(&dir, deadline) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The cgroup's directories, one per hierarchy (v2: just one).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs()
    }

    /// `(file name, path, current content)` of the limit files: those `create` wrote, or every
    /// limit file present for an opened cgroup. Unreadable files show as empty.
    pub fn limit_files(&self) -> Vec<(String, PathBuf, String)> {
        self.limit_files
            .iter()
            .map(|(name, path)| {
                let content = std::fs::read_to_string(path).unwrap_or_default();
                (name.clone(), path.clone(), content.trim().to_string())
            })
            .collect()
    }

    /// The directory of a v1 controller, or the v2 directory whatever the controller.
    pub(crate) fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c == controller || c.is_empty())
            .map(|(_, d)| d.as_path())
    }

    /// The distinct directories, in controller order.
    fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for (_, dir) in &self.dirs {
            if !out.contains(dir) {
                out.push(dir.clone());
            }
        }
        out
    }
}

/// The container id in `baleia/<id>` or in a bare `<id>`.
fn container_id(name: &str) -> &str {
    name.strip_prefix(PARENT)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name)
}

/// Checks `parent` and `name` (relative, no `.`/`..`) and joins them: `parent/name`.
fn relative_path(parent: &str, name: &str) -> Result<PathBuf> {
    for part in [parent, name] {
        let path = Path::new(part);
        let ok = !part.is_empty()
            && !part.contains("//")
            && !part.ends_with('/')
            && path.components().all(|c| matches!(c, Component::Normal(_)));
        if !ok {
            return Err(CgroupError::InvalidName(part.to_string()));
        }
    }
    Ok(Path::new(parent).join(name))
}
