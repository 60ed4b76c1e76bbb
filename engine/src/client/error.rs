//! What talking to a daemon fails with, worded as the docker CLI words it.

/// A failed exchange with the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `-H`/`DOCKER_HOST` is not an address we can use.
    #[error("unable to parse docker host `{0}`")]
    BadHost(String),
    /// Nothing answers at the address.
    #[error("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")]
    Connect {
        /// The daemon's address.
        host: String,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// The socket is there, but we may not use it (not root, not in the socket's group).
    #[error("permission denied while trying to connect to the daemon socket at {host}: connect: {source}")]
    Permission {
        /// The daemon's address.
        host: String,
        /// The refusal.
        source: std::io::Error,
    },
    /// The daemon answered with an error status.
    #[error("Error response from daemon: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Docker's `message`.
        message: String,
    },
    /// The HTTP exchange broke off.
    #[error("talking to the daemon: {0}")]
    Http(String),
    /// An answer that is not the JSON expected.
    #[error("reading the daemon's answer: {0}")]
    Json(#[from] serde_json::Error),
    /// The local runtime could not be made.
    #[error("starting the client: {0}")]
    Runtime(std::io::Error),
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
