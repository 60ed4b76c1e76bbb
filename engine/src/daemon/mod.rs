//! `baleia daemon`: the Docker Engine API over HTTP (a unix socket or loopback TCP), so the real
//! `docker` CLI drives this engine. Handlers run the engine's synchronous operations on tokio's
//! blocking pool; containers keep running when the daemon stops (each has its own monitor).

mod archive;
mod attach;
mod auth;
mod body;
mod containers;
mod errors;
mod exec;
mod images;
mod import;
mod jsonmessage;
mod network_connect;
mod networks;
mod pull;
mod push;
mod rejections;
mod routes;
mod search;
mod server;
mod stats;
mod stdcopy;
mod stream;
mod system;
mod tls;

pub use errors::{ApiError, DaemonError};
pub use exec::{helper_main as exec_helper_main, ExecError};
pub use server::{check_exposure, serve, Listen};
pub use tls::TlsFiles;

/// The newest Engine API version the daemon speaks (what `/_ping` and `/version` announce).
pub const API_VERSION: &str = "1.48";
/// The oldest API version accepted in a `/vX.Y/` prefix.
pub const MIN_API_VERSION: &str = "1.24";
