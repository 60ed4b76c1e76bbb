//! A container's overlayfs upper folder written as a Docker layer tar (what `docker commit` stores).
//!
//! The inverse of `extract`: overlayfs whiteouts (a 0/0 character device, the
//! `trusted.overlay.opaque=y` xattr) become Docker's `.wh.NAME` and `.wh..wh..opq` empty files, other
//! `trusted.overlay.*` xattrs are dropped, and the rest is archived as it is, in name order, so the same
//! folder always gives the same bytes. Assumes overlay's `redirect_dir` and `metacopy` are off (as
//! Docker mounts it): a redirected or metadata-only copy-up would not be archived in full.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header};

use super::extract::{OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{Error, IoContext, Result};

/// Names the output stream in errors.
const OUTPUT: &str = "layer tar";
/// Prefix of the xattrs overlayfs keeps for itself.
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// The xattr marking an opaque directory.
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Write the upper folder `upper` as an uncompressed layer tar to `out`; returns the bytes written.
/// Paths are relative (`etc/hosts`, folders as `etc/`); the folder itself gets no entry.
pub fn write_layer_tar(upper: &Path, out: impl Write) -> Result<u64> {
    write_layer_tar_skipping(upper, out, &|_| false)
}

/// [`write_layer_tar`] leaving out the entries `skip` names by their tar path (`etc/hosts`; a folder
/// without its slash, and then everything under it too).
pub fn write_layer_tar_skipping(
    upper: &Path,
    out: impl Write,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<u64> {
    let mut w = LayerWriter {
        tar: Builder::new(Counting {
            inner: out,
            written: 0,
            failed: false,
        }),
        seen: HashMap::new(),
        skip,
    };
    w.children(upper, Path::new(""))?;
    let mut counting = w.tar.into_inner().on(OUTPUT)?;
    counting.flush().on(OUTPUT)?;
    Ok(counting.written)
}

struct LayerWriter<'s, W: Write> {
    tar: Builder<Counting<W>>,
    /// Tar names of files with several links, by (device, inode): later ones become hard links.
    seen: HashMap<(u64, u64), PathBuf>,
    /// Tar paths left out.
    skip: &'s dyn Fn(&Path) -> bool,
}

impl<W: Write> LayerWriter<'_, W> {
    /// Archive the entries of folder `dir` (tar path `rel`), sorted by name.
    fn children(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut names = fs::read_dir(dir)
            .at(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<OsString>>>()
            .at(dir)?;
        names.sort();
        for name in names {
            let tar_path = rel.join(&name);
            if !(self.skip)(&tar_path) {
                self.entry(&dir.join(&name), &tar_path)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(path).at(path)?;
        let ft = meta.file_type();
        let mut h = Header::new_ustar();
        h.set_uid(meta.uid().into());
        h.set_gid(meta.gid().into());
        h.set_mode(meta.mode() & 0o7777);
        h.set_mtime(meta.mtime().max(0) as u64);
        h.set_size(0);

        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout (overlayfs may hard-link them all to one inode: never a link entry).
            let mut name = OsString::from(WHITEOUT_PREFIX);
            name.push(rel.file_name().unwrap_or_default());
            h.set_entry_type(EntryType::Regular);
            h.set_mode(0o600);
            return self.append(&mut h, &rel.with_file_name(name), io::empty(), path);
        }
        if ft.is_socket() {
            return Ok(()); // Docker leaves sockets out too.
        }
        let (xattrs, opaque) = xattrs(path)?;

        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.seen.get(&key) {
                let first = first.clone();
                h.set_entry_type(EntryType::Link);
                return self.wrap(path, |t| t.append_link(&mut h, rel, &first));
            }
            self.seen.insert(key, rel.to_path_buf());
        }
        if !xattrs.is_empty() {
            let records = xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
            self.wrap(path, |t| t.append_pax_extensions(records))?;
        }

        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            self.append(&mut h, &rel.join(""), io::empty(), path)?;
            if opaque {
                let mut wo = h.clone();
                wo.set_entry_type(EntryType::Regular);
                wo.set_mode(meta.mode() & 0o777);
                self.append(&mut wo, &rel.join(OPAQUE_MARKER), io::empty(), path)?;
            }
            self.children(path, rel)
        } else if ft.is_file() {
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .at(path)?;
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            let data = Exact {
                inner: file,
                left: meta.len(),
            };
            self.append(&mut h, rel, data, path)
        } else if ft.is_symlink() {
            let target = fs::read_link(path).at(path)?;
            h.set_entry_type(EntryType::Symlink);
            self.wrap(path, |t| t.append_link(&mut h, rel, &target))
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            h.set_entry_type(kind);
            let (major, minor) = if kind == EntryType::Fifo {
                (0, 0)
            } else {
                (libc::major(meta.rdev()), libc::minor(meta.rdev()))
            };
            h.set_device_major(major).at(path)?;
            h.set_device_minor(minor).at(path)?;
            self.append(&mut h, rel, io::empty(), path)
        }
    }

    fn append(&mut self, h: &mut Header, name: &Path, data: impl Read, path: &Path) -> Result<()> {
        self.wrap(path, |t| t.append_data(h, name, data))
    }

    /// Run a tar operation; failures writing the output name the tar, others the file `path`.
    fn wrap(
        &mut self,
        path: &Path,
        op: impl FnOnce(&mut Builder<Counting<W>>) -> io::Result<()>,
    ) -> Result<()> {
        match op(&mut self.tar) {
            Ok(()) => Ok(()),
            Err(e) if self.tar.get_ref().failed => Err(e).on(OUTPUT),
            Err(e) => Err(e).at(path),
        }
    }
}

/// `(key, value)` pax records.
type PaxRecords = Vec<(String, Vec<u8>)>;

/// The xattrs of `path` to archive as `SCHILY.xattr.` pax records (sorted, overlay's own left out),
/// and whether it is an opaque folder.
fn xattrs(path: &Path) -> Result<(PaxRecords, bool)> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        path: path.into(),
        source: io::ErrorKind::InvalidInput.into(),
    })?;
    let list = read_sized(path, |buf, len| {
        // SAFETY: `buf` is valid for `len` bytes (or null with len 0); `c` is NUL-terminated.
        unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), len) }
    })?;
    let mut out = Vec::new();
    let mut opaque = false;
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("no NUL inside a split-out name");
        let value = read_sized(path, |buf, len| {
            // SAFETY: as above; `cname` is NUL-terminated.
            unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), buf.cast(), len) }
        });
        let value = match value {
            Ok(v) => v,
            // Removed between listing and reading: nothing to archive.
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::ENODATA) => {
                continue
            }
            Err(e) => return Err(e),
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if name == OPAQUE_XATTR {
            opaque = value == b"y";
        }
        if !name.starts_with(OVERLAY_XATTR_PREFIX) {
            out.push((format!("SCHILY.xattr.{name}"), value));
        }
    }
    out.sort();
    Ok((out, opaque))
}

/// Call a size-probing syscall (`len` 0 asks for the size) until the buffer fits what it returns.
fn read_sized(path: &Path, call: impl Fn(*mut u8, usize) -> isize) -> Result<Vec<u8>> {
    loop {
        let size = call(std::ptr::null_mut(), 0);
        if size < 0 {
            let err = io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENOSYS)) {
                return Ok(Vec::new()); // No xattrs on this filesystem.
            }
            return Err(err).at(path);
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err).at(path);
        }
        // It grew in between: ask again.
    }
}

/// Exactly `left` bytes of a file: a file that shrank while being archived is an error, not a
/// corrupt tar.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Counts bytes written and remembers whether the output failed.
struct Counting<W> {
    inner: W,
    written: u64,
    failed: bool,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed |= e.kind() != io::ErrorKind::Interrupted;
                Err(e)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::extract::extract;
    use std::os::unix::fs::PermissionsExt;

    fn cpath(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    fn mknod(p: &Path, kind: libc::mode_t, major: u32, minor: u32) {
        // SAFETY: valid path; makedev is a pure computation.
        let rc =
            unsafe { libc::mknod(cpath(p).as_ptr(), kind | 0o644, libc::makedev(major, minor)) };
        assert_eq!(
            rc,
            0,
            "mknod {}: {}",
            p.display(),
            io::Error::last_os_error()
        );
    }

    fn setxattr(p: &Path, name: &str, value: &[u8]) {
        let n = CString::new(name).unwrap();
        // SAFETY: valid pointers and lengths for the call.
        let rc = unsafe {
            libc::lsetxattr(
                cpath(p).as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        assert_eq!(rc, 0, "setxattr {name}: {}", io::Error::last_os_error());
    }

    fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
        let n = CString::new(name).unwrap();
        let c = cpath(p);
        // SAFETY: valid pointers and lengths for the calls.
        read_sized(p, |buf, len| unsafe {
            libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.cast(), len)
        })
        .ok()
    }

    fn set_mtime(p: &Path, secs: i64) {
        let t = libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: 0,
        };
        // SAFETY: valid path and a two-element timespec array.
        let rc = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                cpath(p).as_ptr(),
                [t, t].as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        assert_eq!(rc, 0);
    }

    const LONG_DIR: &str =
        "a-rather-long-folder-name-to-go-past-the-hundred-bytes-of-a-tar-name-field";

    /// An upper folder as overlayfs leaves it after a container changed things.
    fn upper_dir() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let u = t.path();
        fs::create_dir(u.join("etc")).unwrap();
        fs::write(u.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        std::os::unix::fs::chown(u.join("etc/hosts"), Some(1000), Some(1001)).unwrap();
        set_mtime(&u.join("etc/hosts"), 1_600_000_000);
        std::os::unix::fs::symlink("hosts", u.join("etc/hosts.link")).unwrap();
        // A setuid binary with a hard link, and a user xattr plus overlay's own one.
        fs::create_dir(u.join("bin")).unwrap();
        fs::write(u.join("bin/a"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(u.join("bin/a"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::hard_link(u.join("bin/a"), u.join("bin/b")).unwrap();
        setxattr(&u.join("bin/a"), "user.origin", b"made by hand");
        setxattr(&u.join("bin/a"), "trusted.overlay.origin", b"\x00\x01");
        // A fifo, a real device, and a socket (left out).
        fs::create_dir(u.join("run")).unwrap();
        mknod(&u.join("run/fifo"), libc::S_IFIFO, 0, 0);
        mknod(&u.join("run/null"), libc::S_IFCHR, 1, 3);
        std::os::unix::net::UnixListener::bind(u.join("run/sock")).unwrap();
        // Whiteouts: a deleted file, and two sharing one inode as newer kernels make them.
        mknod(&u.join("gone"), libc::S_IFCHR, 0, 0);
        mknod(&u.join("run/w1"), libc::S_IFCHR, 0, 0);
        fs::hard_link(u.join("run/w1"), u.join("run/w2")).unwrap();
        // An opaque folder with one new file.
        fs::create_dir(u.join("opt")).unwrap();
        fs::write(u.join("opt/new"), "fresh").unwrap();
        setxattr(&u.join("opt"), OPAQUE_XATTR, b"y");
        set_mtime(&u.join("opt"), 1_500_000_000);
        // A folder that is not opaque but carries another overlay xattr.
        fs::create_dir(u.join("var")).unwrap();
        setxattr(&u.join("var"), "trusted.overlay.impure", b"y");
        // A long path.
        fs::create_dir_all(u.join(LONG_DIR).join(LONG_DIR)).unwrap();
        fs::write(u.join(LONG_DIR).join(LONG_DIR).join("file"), "deep").unwrap();
        t
    }

    struct Seen {
        name: String,
        kind: EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        link: Option<String>,
        dev: (u32, u32),
        pax: Vec<(String, Vec<u8>)>,
        data: Vec<u8>,
    }

    fn entries(tar_bytes: &[u8]) -> Vec<Seen> {
        let mut a = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let pax = match e.pax_extensions().unwrap() {
                Some(exts) => exts
                    .map(|x| {
                        let x = x.unwrap();
                        (x.key().unwrap().to_string(), x.value_bytes().to_vec())
                    })
                    .collect(),
                None => Vec::new(),
            };
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push(Seen {
                name: e.path().unwrap().to_string_lossy().into_owned(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                link: e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned()),
                dev: (
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                pax,
                data,
            });
        }
        out
    }

    fn layer_tar(upper: &Path) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = write_layer_tar(upper, &mut buf).unwrap();
        assert_eq!(n, buf.len() as u64, "returned byte count");
        assert_eq!(n % 512, 0);
        buf
    }

    #[test]
    fn entries_are_sorted_relative_and_typed() {
        let t = upper_dir();
        let es = entries(&layer_tar(t.path()));
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        let long = format!("{LONG_DIR}/");
        let longer = format!("{LONG_DIR}/{LONG_DIR}/");
        let deep = format!("{LONG_DIR}/{LONG_DIR}/file");
        assert_eq!(
            names,
            [
                long.as_str(),
                longer.as_str(),
                deep.as_str(),
                "bin/",
                "bin/a",
                "bin/b",
                "etc/",
                "etc/hosts",
                "etc/hosts.link",
                ".wh.gone",
                "opt/",
                "opt/.wh..wh..opq",
                "opt/new",
                "run/",
                "run/fifo",
                "run/null",
                "run/.wh.w1",
                "run/.wh.w2",
                "var/",
            ]
        );
        let get = |n: &str| es.iter().find(|e| e.name == n).unwrap();

        let hosts = get("etc/hosts");
        assert_eq!(hosts.kind, EntryType::Regular);
        assert_eq!(hosts.data, b"127.0.0.1 localhost\n");
        assert_eq!((hosts.uid, hosts.gid, hosts.mode), (1000, 1001, 0o644));
        assert_eq!(hosts.mtime, 1_600_000_000);
        let link = get("etc/hosts.link");
        assert_eq!(link.kind, EntryType::Symlink);
        assert_eq!(link.link.as_deref(), Some("hosts"));
        assert_eq!(get("etc/").kind, EntryType::Directory);
        assert_eq!(get(&deep).data, b"deep");

        let a = get("bin/a");
        assert_eq!((a.kind, a.mode), (EntryType::Regular, 0o4755));
        assert_eq!(
            a.pax,
            [(
                "SCHILY.xattr.user.origin".to_string(),
                b"made by hand".to_vec()
            )]
        );
        let b = get("bin/b");
        assert_eq!(b.kind, EntryType::Link);
        assert_eq!(b.link.as_deref(), Some("bin/a"));
        assert!(b.data.is_empty());

        assert_eq!(get("run/fifo").kind, EntryType::Fifo);
        let null = get("run/null");
        assert_eq!((null.kind, null.dev), (EntryType::Char, (1, 3)));

        for wh in [".wh.gone", "run/.wh.w1", "run/.wh.w2"] {
            let w = get(wh);
            assert_eq!((w.kind, w.mode), (EntryType::Regular, 0o600), "{wh}");
            assert!(w.data.is_empty() && w.link.is_none(), "{wh}");
        }
        let opt = get("opt/");
        assert_eq!(opt.kind, EntryType::Directory);
        assert!(opt.pax.is_empty(), "overlay xattrs leak: {:?}", opt.pax);
        let opq = get("opt/.wh..wh..opq");
        assert_eq!((opq.kind, opq.mode), (EntryType::Regular, 0o755));
        assert_eq!((opq.uid, opq.mtime), (0, 1_500_000_000));
        assert!(get("var/").pax.is_empty());
    }

    #[test]
    fn same_folder_same_bytes() {
        let t = upper_dir();
        assert_eq!(layer_tar(t.path()), layer_tar(t.path()));
    }

    #[test]
    fn extracting_the_tar_gives_the_upper_folder_back() {
        let t = upper_dir();
        let bytes = layer_tar(t.path());
        let back = tempfile::tempdir().unwrap();
        let d = back.path();
        let ex = extract(&bytes[..], d, "committed").unwrap();
        assert_eq!(
            ex.size,
            ("127.0.0.1 localhost\n#!/bin/sh\nfreshdeep".len()) as u64
        );

        for wh in ["gone", "run/w1", "run/w2"] {
            let m = fs::symlink_metadata(d.join(wh)).unwrap();
            assert!(m.file_type().is_char_device(), "{wh} is not a whiteout");
            assert_eq!(m.rdev(), 0, "{wh}");
        }
        assert_eq!(
            getxattr(&d.join("opt"), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..])
        );
        assert_eq!(getxattr(&d.join("var"), OPAQUE_XATTR), None);
        assert!(!d.join("opt/.wh..wh..opq").exists());
        assert!(!d.join(".wh.gone").exists());
        assert_eq!(fs::read_to_string(d.join("opt/new")).unwrap(), "fresh");

        let hosts = fs::metadata(d.join("etc/hosts")).unwrap();
        assert_eq!((hosts.uid(), hosts.gid()), (1000, 1001));
        assert_eq!(hosts.mtime(), 1_600_000_000);
        assert_eq!(
            fs::read_link(d.join("etc/hosts.link")).unwrap(),
            Path::new("hosts")
        );
        let (a, b) = (
            fs::metadata(d.join("bin/a")).unwrap(),
            fs::metadata(d.join("bin/b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "hard link pair came back as two files");
        assert_eq!(a.mode() & 0o7777, 0o4755);
        assert_eq!(
            getxattr(&d.join("bin/a"), "user.origin").as_deref(),
            Some(&b"made by hand"[..])
        );
        assert_eq!(getxattr(&d.join("bin/a"), "trusted.overlay.origin"), None);
        assert!(fs::symlink_metadata(d.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let null = fs::symlink_metadata(d.join("run/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!((libc::major(null.rdev()), libc::minor(null.rdev())), (1, 3));
        assert!(!d.join("run/sock").exists());
        assert_eq!(
            fs::read_to_string(d.join(LONG_DIR).join(LONG_DIR).join("file")).unwrap(),
            "deep"
        );
        // And archiving the extracted folder again gives the same entries.
        let shape = |b: &[u8]| -> Vec<(String, EntryType, Vec<u8>)> {
            entries(b)
                .into_iter()
                .map(|e| (e.name, e.kind, e.data))
                .collect()
        };
        assert_eq!(shape(&layer_tar(d)), shape(&bytes));
    }

    #[test]
    fn an_empty_upper_is_an_empty_tar() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(layer_tar(t.path()), vec![0u8; 1024]);
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn errors_name_the_output_or_the_file() {
        let t = upper_dir();
        match write_layer_tar(t.path(), Broken) {
            Err(Error::Stream { what, .. }) => assert_eq!(what, OUTPUT),
            other => panic!("expected a stream error, got {other:?}"),
        }
        let missing = t.path().join("nope");
        match write_layer_tar(&missing, Vec::new()) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected an io error, got {other:?}"),
        }
    }
}
