//! `file:` checks: a file inside a running container, read through `/proc/PID/root` with the
//! container's root as `/` (so its symlinks resolve inside it, whichever backend made it).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use super::container::running_pid;
use super::{pattern, unmet, Failure};
use crate::backend::Backend;
use crate::lab::model::FileCheck;

/// The most of a file that is read.
const MAX_READ: u64 = 16 << 20;

pub(super) fn file(c: &FileCheck, backend: &Backend) -> Result<(), Failure> {
    let pid = running_pid(backend, &c.container)?;
    let (name, path) = (&c.container, &c.path);
    let gone = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => unmet(format!("there is no {path} in container {name}")),
        _ => unmet(format!("cannot read {path} in container {name}: {e}")),
    };
    let f = match open_in_root(pid, path) {
        Ok(f) => f,
        Err(e) => return gone(e),
    };
    let Some(want) = &c.contains else {
        return Ok(());
    };
    let bytes = match read_file(f) {
        Ok(b) => b,
        Err(e) => return gone(e),
    };
    let text = String::from_utf8_lossy(&bytes);
    match pattern::first_difference(want, &text) {
        None => Ok(()),
        Some(d) => unmet(format!("{path} in container {name} does not match: {d}")),
    }
}

/// Read `path` of the process `pid`'s root, resolving it (symlinks, `..`) as if that root were
/// `/`. On kernels without `openat2`, through `/proc/PID/root/PATH` as it is.
pub(super) fn read_in_root(pid: u32, path: &str) -> io::Result<Vec<u8>> {
    read_file(open_in_root(pid, path)?)
}

/// Open `path` of the process `pid`'s root (see [`read_in_root`]).
fn open_in_root(pid: u32, path: &str) -> io::Result<File> {
    let root_path = PathBuf::from(format!("/proc/{pid}/root"));
    let root = File::open(&root_path)?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(&root, rel, how) {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::ENOSYS) => File::open(root_path.join(rel)),
        Err(e) => Err(e.into()),
    }
}

fn read_file(mut f: File) -> io::Result<Vec<u8>> {
    if f.metadata()?.is_dir() {
        return Err(io::Error::other("it is a folder"));
    }
    let mut out = Vec::new();
    f.by_ref().take(MAX_READ).read_to_end(&mut out)?;
    Ok(out)
}
