//! baleia-engine: a small container engine. Image store, image archives, containers and networks.
//! No terminal code here: the `baleia` CLI, the daemon and the lab runner are faces on it.

pub mod archive;
pub mod cgroups;
pub mod client;
pub mod config;
pub mod container;
pub mod daemon;
pub mod digest;
pub mod engine;
pub mod error;
pub mod format;
pub mod image;
pub mod layer;
pub mod lock;
pub mod names;
pub mod network;
pub mod paths;
pub mod reference;
pub mod registry;
pub mod sysinfo;

pub use engine::Engine;
pub use error::{Error, Result};
