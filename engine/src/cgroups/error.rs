//! The cgroups module's error type.

use std::io;
use std::path::PathBuf;

/// Everything creating, configuring, reading or removing a cgroup can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading, writing or removing a cgroup file or directory failed; names the path.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A limit needs a controller that is neither mounted (v1) nor available (v2).
    #[error("cgroup controller {0:?} is not available on this host")]
    ControllerMissing(String),
    /// The cgroup or parent name is empty, absolute, or climbs out with `..`.
    #[error("invalid cgroup name {0:?}")]
    InvalidName(String),
    /// A resource limit Docker would refuse (same wording as Docker's daemon).
    #[error("{0}")]
    InvalidLimit(String),
    /// A cgroup file holds something that does not parse.
    #[error("cannot parse {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    /// The cgroup still had processes (or children) when the removal deadline passed.
    #[error("cgroup {} is still busy; giving up removing it", path.display())]
    Busy { path: PathBuf },
    /// Sending a signal to a process of the cgroup failed (other than "no such process").
    #[error("kill {pid}: {source}")]
    Signal { pid: i32, source: nix::Error },
}

/// Result with a [`CgroupError`].
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

/// Attach a path to an `io::Error`.
pub(crate) trait AtPath<T> {
    /// Wrap the error as [`CgroupError::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> AtPath<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| CgroupError::Io {
            path: path.into(),
            source,
        })
    }
}
