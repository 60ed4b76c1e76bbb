//! Why an exec's helper process could not be started or could not do its work.

use std::path::PathBuf;

/// A failure of the `__exec` helper, on either side of it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The helper was started without its options in the environment.
    #[error("the exec helper was started without {0}")]
    NoOptions(&'static str),
    /// The options are not what the daemon writes.
    #[error("the exec options are not valid: {0}")]
    BadOptions(#[source] serde_json::Error),
    /// The helper process could not be started.
    #[error("starting the exec helper {}: {source}", program.display())]
    Spawn {
        /// The executable run.
        program: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Preparing or releasing descriptors (the control socket, stdio) failed.
    #[error("{what}: {source}")]
    Descriptors {
        /// Which step.
        what: &'static str,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The engine refused or failed (no such container, waiting for the process).
    #[error(transparent)]
    Engine(#[from] crate::error::Error),
}
