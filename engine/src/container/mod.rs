//! Containers: the record and its store, the root filesystem, PID 1 and its monitor, the socket
//! protocol clients attach with, and the lifecycle operations.

pub mod binds;
pub mod commit;
pub mod console;
pub mod create;
pub mod exec;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod network;
pub mod protocol;
pub mod resources;
pub mod rootfs;
pub mod spawn;
pub mod stats;
pub mod store;
pub mod top;
pub mod user;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

pub use model::{Config, Container, HostConfig, State};

use crate::engine::Engine;
use crate::error::Result;

/// The `--init` program (a static binary): `BALEIA_INIT`, else `baleia-init` beside this executable,
/// else `/usr/local/lib/baleia/baleia-init`.
pub fn init_binary() -> std::result::Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("BALEIA_INIT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("baleia-init"));
        }
    }
    candidates.push(PathBuf::from("/usr/local/lib/baleia/baleia-init"));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "--init: baleia-init not found (set BALEIA_INIT or install it beside baleia)".to_string()
    })
}

/// Entry of the hidden `baleia __monitor ID` command. Descriptor 3 is the pipe to the CLI that
/// started it. Forks once so the CLI's child returns at once and the monitor is reparented.
pub fn monitor_main(engine: &Engine, id: &str, attach_first: bool) -> Result<()> {
    // SAFETY: fd 3 was set up by `start_container` for this process; nothing else owns it.
    let ready = unsafe { OwnedFd::from_raw_fd(3) };
    // SAFETY: single-threaded here; the parent only exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => monitor::run(engine, id, ready, attach_first),
        Err(e) => Err(crate::error::Error::Runtime(format!("fork: {e}"))),
    }
}
