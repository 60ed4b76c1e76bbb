//! A client of the Docker Engine API (a `baleia daemon`, or any dockerd): the host from `-H` or
//! `DOCKER_HOST`, requests over a unix socket or TCP with hyper, JSON answers, streamed bodies,
//! and upgraded raw streams for attach and exec.

mod create;
mod error;
mod host;
mod http;
mod raw;

pub use create::create_body;
pub use error::ClientError;
pub use host::Host;
pub use http::{Answer, Client};
pub use raw::RawStream;
