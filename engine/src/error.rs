//! The engine's error type: one variant per thing a user can get wrong or the store can hit.

use std::io;
use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with. Messages follow Docker's wording where one exists.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed; names the path.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Reading or writing a stream (stdin, stdout, an archive) failed.
    #[error("{what}: {source}")]
    Stream { what: String, source: io::Error },
    /// No image matches the given name or ID.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// No container matches the given name or ID.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// A container could not be started or run; the message is Docker's where it has one.
    #[error("{0}")]
    Runtime(String),
    /// A container's PID 1, or an `exec`'d process, could not be started; `code` is Docker's exit
    /// code for it (125 setup, 126 not executable, 127 not found).
    #[error("failed to start the container: {message}")]
    StartFailed { code: i32, message: String },
    /// The name is not a valid image reference.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// A layer tar entry would write outside its layer, or is otherwise unsafe.
    #[error("refusing layer entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    /// Content did not hash to the digest that names it.
    #[error("invalid digest for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// An image archive is malformed or incomplete.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A blob's media type is not one baleia reads.
    #[error("unsupported media type {media_type} for {what}")]
    UnsupportedMediaType { what: String, media_type: String },
    /// JSON that does not parse as what it should be.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    /// The operation conflicts with the store's state (Docker's `conflict:` errors).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store holds something it should not (a missing layer, a broken file).
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The engine needs root and the caller is not.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// No network matches the given name or ID.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    /// A netlink request (links, addresses, routes) failed.
    #[error(transparent)]
    Netlink(#[from] crate::network::netlink::NetlinkError),
    /// An iptables change failed.
    #[error(transparent)]
    Firewall(#[from] crate::network::firewall::FirewallError),
    /// Talking to a registry failed (pull, push, login, search).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A request that is not allowed in this state (Docker's 403: an endpoint already there).
    #[error("{0}")]
    Forbidden(String),
    /// A request whose parameters cannot work together (Docker's 400 validation errors).
    #[error("{0}")]
    InvalidParameter(String),
    /// A Dockerfile instruction given to `import --change` that cannot be applied.
    #[error("invalid --change: {0}")]
    InvalidChange(String),
}

/// Attach a path to an `io::Error`.
pub trait IoContext<T> {
    /// Wrap the error as [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
    /// Wrap the error as [`Error::Stream`] naming what was being read or written.
    fn on(self, what: impl Into<String>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
    fn on(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Stream {
            what: what.into(),
            source,
        })
    }
}
