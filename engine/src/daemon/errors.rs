//! Errors: what a request fails with (Docker's `{"message": …}` and status codes), and what
//! starting the daemon fails with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::Error;
use crate::registry::RegistryError;

/// A failed request: an HTTP status and Docker's one-line message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The status code Docker uses for this kind of failure.
    pub status: StatusCode,
    /// The text the docker CLI prints after `Error response from daemon: `.
    pub message: String,
}

impl ApiError {
    /// 400: a malformed request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    /// 404: an unknown route or object.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    /// 500: anything else.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::NoSuchImage(_) | Error::NoSuchContainer(_) | Error::NoSuchNetwork(_) => {
                StatusCode::NOT_FOUND
            }
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::InvalidReference(_) | Error::InvalidChange(_) | Error::InvalidParameter(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::PermissionDenied(_) | Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::InvalidArchive(_) => StatusCode::BAD_REQUEST,
            Error::Registry(r) => registry_status(r),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Docker's conflict messages carry no `conflict: ` prefix on the wire.
        let message = match e {
            Error::Conflict(m) => m,
            Error::StartFailed { message, .. } => message,
            e => e.to_string(),
        };
        ApiError { status, message }
    }
}

/// Docker's codes for registry failures: 404 for what the registry or the store does not have
/// (so `docker run` reports a missing image as Docker does), 401 for refused credentials.
fn registry_status(e: &RegistryError) -> StatusCode {
    match e {
        RegistryError::ManifestNotFound { .. }
        | RegistryError::PullDenied { .. }
        | RegistryError::NoSuchTag(_)
        | RegistryError::NoSuchRepository(_) => StatusCode::NOT_FOUND,
        RegistryError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

/// Why the daemon could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A `-H` address that is not `unix://PATH` or `tcp://HOST:PORT`.
    #[error("invalid -H address {0:?}: expected unix:///path or tcp://host:port")]
    BadAddress(String),
    /// Another daemon already answers on this socket.
    #[error("{0} is in use by another daemon")]
    InUse(String),
    /// Binding or preparing a listener failed.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The `-H` address.
        address: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A TCP address other than loopback without `--tlsverify` (Docker only warns; we refuse).
    #[error("refusing to listen on {0} without TLS: anyone who can reach that address could run \
containers as root on this host. Listen on 127.0.0.1 or a unix socket, or give --tlsverify \
--tlscacert ca.pem --tlscert server-cert.pem --tlskey server-key.pem so that only clients holding a \
certificate signed by your CA get in")]
    Unprotected(String),
    /// A certificate or key file of `--tls`/`--tlsverify` that cannot be used.
    #[error("TLS file {}: {why}", path.display())]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The async runtime could not be made.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}
