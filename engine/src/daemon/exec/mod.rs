//! `docker exec` through the daemon. Instances live in the daemon's memory ([`Execs`]). Each
//! start runs a `baleia __exec` helper ([`helper_main`]): a fresh single-threaded process, since
//! the engine's `exec_container` forks and hands the process its caller's stdio. The helper
//! reports the PID, the terminal (its master end passed over the socket) and the exit code; the
//! daemon relays pipes or the terminal to the client's upgraded connection.

mod error;
pub mod handlers;
mod helper;
mod instance;
mod launch;
mod relay;
mod report;

pub use error::ExecError;
pub use helper::helper_main;
pub use instance::Execs;
