//! Registries: `pull`, `push`, `login`/`logout` and `search` over the distribution API, with
//! oci-client on a single-threaded tokio runtime. Every blob is verified while it streams; a pull
//! stores nothing until all of it is verified, then commits under the store's lock.

mod blob;
mod client;
pub mod credentials;
mod error;
mod login;
mod manifest;
mod progress;
mod pull;
mod push;
mod search;
#[cfg(test)]
mod tests;

pub use credentials::Credentials;
pub use error::RegistryError;
pub use progress::Progress;
pub use search::SearchResult;
