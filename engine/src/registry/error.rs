//! What can go wrong talking to a registry, worded as Docker words it, and the translation of
//! oci-client's errors into it.

use std::error::Error as _;

use oci_client::errors::{OciDistributionError, OciEnvelope};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached (`Get "http://…/v2/": dial tcp …: connect: connection refused`).
    #[error("{method} \"{url}\": {reason}")]
    Unreachable {
        /// HTTP method, as Go prints it (`Get`, `Head`, `Put`, …).
        method: String,
        /// The URL asked for.
        url: String,
        /// Why: `dial tcp HOST:PORT: connect: connection refused`, a TLS error, a timeout.
        reason: String,
    },
    /// No manifest under that name and tag or digest.
    #[error("manifest for {reference} not found: {detail}")]
    ManifestNotFound {
        /// The reference as the user gave it, qualified (`127.0.0.1:5000/nosuch:latest`).
        reference: String,
        /// The registry's error (`manifest unknown: manifest unknown`).
        detail: String,
    },
    /// The registry refused a pull (no such repository, or credentials needed).
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': {detail}")]
    PullDenied {
        /// The repository as the user named it.
        name: String,
        /// The registry's words (`denied: requested access to the resource is denied`).
        detail: String,
    },
    /// Docker Hub itself was to be reached, but the settings keep to the mirrors.
    #[error("Docker Hub is not reached: {0} sets \"registry-mirrors-only\" (pulls and searches go to the registry mirrors)")]
    HubOff(String),
    /// The registry refused credentials or an upload.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A manifest list or index has nothing for this host.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoMatchingPlatform(String),
    /// A manifest, config or layer of a kind baleia does not read.
    #[error("unsupported media type {media_type} for {what}")]
    UnsupportedMediaType {
        /// Which blob.
        what: String,
        /// Its media type.
        media_type: String,
    },
    /// A blob (manifest, config or layer) did not hash to the digest that names it; nothing was stored.
    #[error("invalid digest for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A blob was larger or smaller than its descriptor says.
    #[error("{what}: size is {actual} bytes, its descriptor says {declared}")]
    SizeMismatch {
        /// Which blob.
        what: String,
        /// Size in the descriptor.
        declared: u64,
        /// Size received.
        actual: u64,
    },
    /// A local tag to push does not exist (`tag does not exist: busybox:v2`).
    #[error("tag does not exist: {0}")]
    NoSuchTag(String),
    /// A repository to push has no tags at all.
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchRepository(String),
    /// A request the registry answered with an error.
    #[error("{0}")]
    Response(String),
    /// The credentials file could not be read or written.
    #[error("{path}: {reason}")]
    Credentials {
        /// `config.json`'s path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Anything else (a malformed manifest, an internal failure).
    #[error("{0}")]
    Other(String),
}

/// Errors of one registry conversation, for wording: what was being asked for.
pub(super) struct Context<'a> {
    /// The qualified reference (`127.0.0.1:5000/x:latest`), for "manifest for … not found".
    pub reference: &'a str,
    /// The repository as the user named it, for "pull access denied for …".
    pub name: &'a str,
    /// Whether this is a pull (a 401 then means "pull access denied").
    pub pulling: bool,
}

impl RegistryError {
    /// Translate an oci-client error into Docker's wording.
    pub(super) fn from_oci(e: OciDistributionError, cx: &Context<'_>) -> RegistryError {
        match e {
            OciDistributionError::RequestError(r) => match r.status() {
                Some(status) => server_error(
                    status.as_u16(),
                    r.url().map(|u| u.as_str()).unwrap_or_default(),
                    "",
                    cx,
                ),
                None => from_reqwest(&r),
            },
            OciDistributionError::RegistryError { envelope, url } => {
                let detail = envelope_text(&envelope);
                let code = first_code(&envelope);
                if url.contains("/manifests/")
                    && matches!(
                        code.as_str(),
                        "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND"
                    )
                {
                    RegistryError::ManifestNotFound {
                        reference: cx.reference.to_string(),
                        detail,
                    }
                } else if matches!(code.as_str(), "DENIED" | "UNAUTHORIZED") && cx.pulling {
                    RegistryError::PullDenied {
                        name: cx.name.to_string(),
                        detail,
                    }
                } else {
                    RegistryError::Response(detail)
                }
            }
            OciDistributionError::UnauthorizedError { .. } if cx.pulling => {
                RegistryError::PullDenied {
                    name: cx.name.to_string(),
                    detail: "denied: requested access to the resource is denied".into(),
                }
            }
            OciDistributionError::UnauthorizedError { .. } => {
                RegistryError::Unauthorized("authentication required".into())
            }
            OciDistributionError::AuthenticationFailure(_) => {
                RegistryError::Unauthorized("incorrect username or password".into())
            }
            OciDistributionError::ServerError { code, url, message } => {
                server_error(code, &url, &message, cx)
            }
            OciDistributionError::ImageManifestNotFoundError(m) => {
                RegistryError::ManifestNotFound {
                    reference: cx.reference.to_string(),
                    detail: m,
                }
            }
            OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            ) => RegistryError::DigestMismatch {
                what: format!("manifest of {}", cx.reference),
                expected,
                actual,
            },
            other => RegistryError::Other(other.to_string()),
        }
    }
}

/// A non-JSON or non-OCI error answer: 401/403 are access errors, 404 on a manifest "not found".
fn server_error(code: u16, url: &str, message: &str, cx: &Context<'_>) -> RegistryError {
    if let Ok(env) = serde_json::from_str::<OciEnvelope>(message) {
        let e = OciDistributionError::RegistryError {
            envelope: env,
            url: url.to_string(),
        };
        if code != 401 {
            return RegistryError::from_oci(e, cx);
        }
    }
    match code {
        401 | 403 if cx.pulling => RegistryError::PullDenied {
            name: cx.name.to_string(),
            detail: "denied: requested access to the resource is denied".into(),
        },
        401 => RegistryError::Unauthorized("authentication required".into()),
        403 => RegistryError::Response("denied: requested access to the resource is denied".into()),
        404 if url.contains("/manifests/") => RegistryError::ManifestNotFound {
            reference: cx.reference.to_string(),
            detail: "manifest unknown".into(),
        },
        _ => {
            let m = message.trim();
            RegistryError::Response(if m.is_empty() {
                format!("received unexpected HTTP status: {code} from {url}")
            } else {
                format!("received unexpected HTTP status: {code} from {url}: {m}")
            })
        }
    }
}

/// `manifest unknown: manifest unknown`: each error's code in words, then its message.
fn envelope_text(env: &OciEnvelope) -> String {
    let parts: Vec<String> = env
        .errors
        .iter()
        .map(|e| {
            let code = code_name(&e.code).to_ascii_lowercase().replace('_', " ");
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", e.message)
            }
        })
        .collect();
    if parts.is_empty() {
        "unknown error".into()
    } else {
        parts.join(", ")
    }
}

fn first_code(env: &OciEnvelope) -> String {
    env.errors
        .first()
        .map(|e| code_name(&e.code))
        .unwrap_or_default()
}

fn code_name(code: &oci_client::errors::OciErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "UNKNOWN".into())
}

/// A failed HTTP exchange, as Go's net/http prints it.
pub(super) fn from_reqwest(e: &reqwest::Error) -> RegistryError {
    let url = e.url().map(|u| u.to_string()).unwrap_or_default();
    let addr = e
        .url()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default(),
                u.port_or_known_default().unwrap_or(443)
            )
        })
        .unwrap_or_default();
    let io = io_source(e);
    let reason = if e.is_timeout() {
        format!("dial tcp {addr}: i/o timeout")
    } else if let Some(io) = io {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("dial tcp {addr}: connect: connection refused")
            }
            std::io::ErrorKind::ConnectionReset => {
                format!("read tcp {addr}: connection reset by peer")
            }
            _ => format!("dial tcp {addr}: {}", chain(e)),
        }
    } else if e.is_connect() {
        format!("dial tcp {addr}: {}", chain(e))
    } else {
        chain(e)
    };
    RegistryError::Unreachable {
        method: "Get".into(),
        url,
        reason,
    }
}

/// The io::Error at the root of a request failure, if there is one.
fn io_source(e: &reqwest::Error) -> Option<&std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

/// The innermost messages of an error chain, joined (reqwest's own says little).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    parts.last().cloned().unwrap_or_else(|| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_unknown_reads_as_docker_says_it() {
        let env: OciEnvelope = serde_json::from_str(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"latest"}}]}"#,
        )
        .unwrap();
        let e = OciDistributionError::RegistryError {
            envelope: env,
            url: "http://127.0.0.1:5000/v2/nosuch/manifests/latest".into(),
        };
        let cx = Context {
            reference: "127.0.0.1:5000/nosuch:latest",
            name: "127.0.0.1:5000/nosuch",
            pulling: true,
        };
        assert_eq!(
            RegistryError::from_oci(e, &cx).to_string(),
            "manifest for 127.0.0.1:5000/nosuch:latest not found: manifest unknown: manifest unknown"
        );
    }
}
