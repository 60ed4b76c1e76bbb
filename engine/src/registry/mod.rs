//! Registries: pull, push, tags, login and search over the distribution API (being written).

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RegistryError(pub String);
