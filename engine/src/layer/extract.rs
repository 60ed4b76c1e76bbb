//! Safe extraction of a layer tar into a `diff` folder.
//!
//! Nothing is ever written outside `dest`: entries with `..` or absolute paths, entries reached through
//! a symlink, and hard links to outside the layer are refused with an error naming the entry. Docker's
//! whiteouts (`.wh.NAME`, `.wh..wh..opq`) become overlayfs whiteouts (a 0/0 character device, the
//! `trusted.overlay.opaque` xattr). The tar-split of the stream is recorded on the way (see `tarsplit`).

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use super::tarsplit::{Recording, Segment};
use crate::error::{Error, IoContext, Result};

/// Prefix of a whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What an extraction produced.
#[derive(Debug)]
pub struct Extracted {
    /// The tar-split segments to rebuild the stream.
    pub segments: Vec<Segment>,
    /// Bytes of regular-file content (Docker's layer "size").
    pub size: u64,
}

/// Extract the uncompressed tar `reader` into `dest` (an existing, empty folder). `what` names the
/// layer in errors. The whole stream is consumed, trailing padding included.
pub fn extract<R: Read>(reader: R, dest: &Path, what: &str) -> Result<Extracted> {
    let rec = Recording::default();
    let mut archive = tar::Archive::new(rec.reader(reader));
    let mut x = Extractor {
        dest,
        known_dirs: HashSet::new(),
        dir_times: Vec::new(),
        size: 0,
        buf: vec![0; 1 << 20],
    };
    let bad_tar =
        |e: io::Error| Error::InvalidArchive(format!("{what}: not a valid tar stream: {e}"));
    for entry in archive.entries().map_err(bad_tar)? {
        let mut entry = entry.map_err(bad_tar)?;
        x.entry(&mut entry, &rec, what).map_err(|e| match e {
            Error::Stream { source, .. } => bad_tar(source),
            e => e,
        })?;
    }
    // Whatever follows the end-of-archive blocks is part of the layer's bytes too.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(bad_tar)?;
    for (path, mtime) in x.dir_times.iter().rev() {
        set_mtime(path, *mtime)?;
    }
    Ok(Extracted {
        segments: rec.finish(),
        size: x.size,
    })
}

struct Extractor<'a> {
    dest: &'a Path,
    known_dirs: HashSet<PathBuf>,
    dir_times: Vec<(PathBuf, u64)>,
    size: u64,
    buf: Vec<u8>,
}

impl Extractor<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        rec: &Recording,
        what: &str,
    ) -> Result<()> {
        let raw_path = entry.path().on(what)?.into_owned();
        let name = raw_path.display().to_string();
        let rel = sanitize(&raw_path).map_err(|reason| unsafe_entry(&name, reason))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().on(what)? & 0o7777;
        let (uid, gid) = (header.uid().on(what)? as u32, header.gid().on(what)? as u32);
        let mtime = header.mtime().unwrap_or(0);

        if rel.as_os_str().is_empty() {
            // The layer root itself ("./"): take its metadata.
            if kind == EntryType::Directory {
                apply_owner_mode(self.dest, uid, gid, Some(mode))?;
                self.dir_times.push((self.dest.to_path_buf(), mtime));
            }
            return Ok(());
        }
        let file_name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        self.ensure_parents(parent_rel, &name)?;
        let target = self.dest.join(&rel);

        if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
            let dir = self.dest.join(parent_rel);
            if file_name == OPAQUE_MARKER {
                set_xattr(&dir, "trusted.overlay.opaque", b"y")?;
            } else if !hidden.starts_with(".wh.") {
                let wpath = dir.join(hidden);
                self.clear(&wpath, false)?;
                mknod(&wpath, libc::S_IFCHR, 0o600, 0, 0)?;
                apply_owner_mode(&wpath, uid, gid, None)?;
            }
            // Content of a whiteout entry (normally none) is recorded as raw bytes.
            io::copy(entry, &mut io::sink()).on(what)?;
            return Ok(());
        }

        match kind {
            EntryType::Directory => {
                self.clear(&target, true)?;
                if fs::symlink_metadata(&target).is_err() {
                    fs::create_dir(&target).at(&target)?;
                }
                self.known_dirs.insert(rel.clone());
                apply_owner_mode(&target, uid, gid, Some(mode))?;
                self.dir_times.push((target, mtime));
                return self.xattrs(entry, &rel, &name);
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(&target, false)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&target)
                    .at(&target)?;
                let sparse = kind == EntryType::GNUSparse;
                if !sparse {
                    rec.begin_file();
                }
                let n = self.copy(entry, &mut f, what, &target)?;
                if !sparse {
                    rec.end_file(rel.clone(), n);
                }
                self.size += n;
                // Through the open descriptor: no path lookups, and mtime set last.
                fd_owner_mode_time(&f, uid, gid, mode, mtime).at(&target)?;
                drop(f);
                return self.xattrs(entry, &rel, &name);
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .on(what)?
                    .ok_or_else(|| unsafe_entry(&name, "symlink without target"))?;
                self.clear(&target, false)?;
                std::os::unix::fs::symlink(&link, &target).at(&target)?;
                apply_owner_mode(&target, uid, gid, None)?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .on(what)?
                    .ok_or_else(|| unsafe_entry(&name, "hard link without target"))?;
                let link_rel = sanitize(&link).map_err(|r| {
                    unsafe_entry(&name, &format!("hard link target {}: {r}", link.display()))
                })?;
                self.check_no_symlink_parents(link_rel.parent().unwrap_or(Path::new("")), &name)?;
                let src = self.dest.join(&link_rel);
                if link_rel.as_os_str().is_empty() || fs::symlink_metadata(&src).is_err() {
                    return Err(unsafe_entry(
                        &name,
                        &format!("hard link to {} which is not in this layer", link.display()),
                    ));
                }
                self.clear(&target, false)?;
                fs::hard_link(&src, &target).at(&target)?;
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (major, minor) = (
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                self.clear(&target, false)?;
                mknod(&target, fmt, mode, major, minor)?;
                apply_owner_mode(&target, uid, gid, Some(mode))?;
            }
            other => {
                return Err(unsafe_entry(
                    &name,
                    &format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        self.xattrs(entry, &rel, &name)?;
        if kind != EntryType::Symlink {
            set_mtime(&target, mtime)?;
        }
        Ok(())
    }

    /// Copy a file's content in large chunks (few syscalls); read errors name the layer, write
    /// errors the file.
    fn copy(
        &mut self,
        r: &mut impl Read,
        f: &mut std::fs::File,
        what: &str,
        target: &Path,
    ) -> Result<u64> {
        use std::io::Write;
        let mut n = 0u64;
        loop {
            let k = match r.read(&mut self.buf) {
                Ok(0) => return Ok(n),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).on(what),
            };
            f.write_all(&self.buf[..k]).at(target)?;
            n += k as u64;
        }
    }

    /// Create missing parent folders; refuse to go through anything that is not a real folder.
    fn ensure_parents(&mut self, parent: &Path, name: &str) -> Result<()> {
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            let full = self.dest.join(&cur);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry(
                        name,
                        &format!("path goes through the symlink {}", cur.display()),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_entry(
                        name,
                        &format!("{} is not a directory", cur.display()),
                    ))
                }
                Err(_) => {
                    fs::create_dir(&full).at(&full)?;
                    apply_owner_mode(&full, 0, 0, Some(0o755))?;
                }
            }
            self.known_dirs.insert(cur.clone());
        }
        Ok(())
    }

    fn check_no_symlink_parents(&self, parent: &Path, name: &str) -> Result<()> {
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            match fs::symlink_metadata(self.dest.join(&cur)) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(unsafe_entry(
                        name,
                        &format!("hard link target goes through {}", cur.display()),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Remove what is at `path` unless it is a folder and a folder is wanted.
    fn clear(&mut self, path: &Path, want_dir: bool) -> Result<()> {
        match fs::symlink_metadata(path) {
            Err(_) => Ok(()),
            Ok(m) if m.is_dir() && want_dir => Ok(()),
            Ok(m) if m.is_dir() => {
                let rel = path.strip_prefix(self.dest).unwrap_or(path).to_path_buf();
                self.known_dirs.retain(|d| !d.starts_with(&rel));
                fs::remove_dir_all(path).at(path)
            }
            Ok(_) => fs::remove_file(path).at(path),
        }
    }

    fn xattrs<R: Read>(&self, entry: &mut tar::Entry<R>, rel: &Path, name: &str) -> Result<()> {
        let Some(exts) = entry.pax_extensions().on(name.to_string())? else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.on(name.to_string())?;
            if let Ok(key) = ext.key() {
                if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                    set_xattr(&self.dest.join(rel), attr, ext.value_bytes())?;
                }
            }
        }
        Ok(())
    }
}

/// Normalize an entry path to a relative path inside the layer, or say why it escapes.
pub fn sanitize(p: &Path) -> std::result::Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains \"..\""),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

fn unsafe_entry(entry: &str, reason: &str) -> Error {
    Error::UnsafeEntry {
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Io {
        path: p.into(),
        source: io::ErrorKind::InvalidInput.into(),
    })
}

fn check(rc: libc::c_int, p: &Path) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error()).at(p)
    }
}

fn apply_owner_mode(p: &Path, uid: u32, gid: u32, mode: Option<u32>) -> Result<()> {
    let c = cpath(p)?;
    // SAFETY: valid NUL-terminated path; lchown/chmod do not retain the pointer.
    check(unsafe { libc::lchown(c.as_ptr(), uid, gid) }, p)?;
    if let Some(mode) = mode {
        // After chown, which clears set-id bits.
        check(unsafe { libc::chmod(c.as_ptr(), mode as libc::mode_t) }, p)?;
    }
    Ok(())
}

fn fd_owner_mode_time(
    f: &std::fs::File,
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: u64,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: `fd` is open for the duration of these calls; `times` is a two-element array.
    let rc = unsafe {
        if libc::fchown(fd, uid, gid) != 0 || libc::fchmod(fd, mode as libc::mode_t) != 0 {
            -1
        } else {
            libc::futimens(fd, times.as_ptr())
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn mknod(p: &Path, fmt: libc::mode_t, mode: u32, major: u32, minor: u32) -> Result<()> {
    let c = cpath(p)?;
    // SAFETY: valid path; makedev is a pure computation.
    check(
        unsafe {
            libc::mknod(
                c.as_ptr(),
                fmt | (mode as libc::mode_t & 0o7777),
                libc::makedev(major, minor),
            )
        },
        p,
    )
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c = cpath(p)?;
    let n = CString::new(name).map_err(|_| Error::Io {
        path: p.into(),
        source: io::ErrorKind::InvalidInput.into(),
    })?;
    // SAFETY: valid pointers and lengths for the duration of the call.
    check(
        unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
        p,
    )
}

fn set_mtime(p: &Path, mtime: u64) -> Result<()> {
    let c = cpath(p)?;
    let t = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid path and a two-element timespec array.
    check(
        unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        p,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_refuses_escapes() {
        assert_eq!(
            sanitize(Path::new("./etc/passwd")).unwrap(),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(sanitize(Path::new("./")).unwrap(), PathBuf::new());
        assert!(sanitize(Path::new("../x")).is_err());
        assert!(sanitize(Path::new("a/../../x")).is_err());
        assert!(sanitize(Path::new("/etc/shadow")).is_err());
    }
}
