//! Support for the end-to-end tests: run the real `baleia` binary against a private state root,
//! and build image archives (good and hostile) byte by byte.

pub mod client;
pub mod daemon;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The `baleia` binary under test: `BALEIA_BIN`, else the one beside the test executable.
pub fn baleia_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BALEIA_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("baleia");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        bin.display()
    );
    bin
}

/// The static `baleia-init` that `scripts/test.sh` builds (`target/release/baleia-init`), for
/// `run --init` (the dynamic one `cargo build` puts beside `baleia` cannot run in a container
/// without libc), if it is there.
pub fn static_init() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("release/baleia-init")).filter(|p| p.is_file())
}

/// The workspace's top folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A private state root, removed (with everything in it) when dropped: its containers are
/// force-removed first, so a failing test leaves no mount, cgroup or process behind.
pub struct Root {
    dir: tempfile::TempDir,
}

impl Drop for Root {
    fn drop(&mut self) {
        use std::os::unix::fs::FileTypeExt;
        // Whatever a test did, the host's /dev/null must still be the device it was.
        let null = std::fs::metadata("/dev/null")
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false);
        assert!(
            null || std::thread::panicking(),
            "/dev/null on the host is no longer a character device"
        );
        if !self.path().join("containers").exists() && !self.path().join("network").exists() {
            return;
        }
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in text(&o.stdout).lines() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        // Bridges and iptables rules of this root.
        if let Ok(o) = self.cmd(&["system", "teardown"]).output() {
            if !o.status.success() {
                eprintln!("system teardown failed: {}", text(&o.stderr));
            }
        }
    }
}

impl Default for Root {
    fn default() -> Self {
        Self::new()
    }
}

impl Root {
    /// A fresh root under the system temp folder, named so leftovers are recognisable.
    pub fn new() -> Root {
        let dir = tempfile::Builder::new()
            .prefix("baleia-test-")
            .tempdir()
            .expect("tempdir");
        let root = Root { dir };
        // Its own default bridge, so parallel tests (and a user's baleia0) never share one; name
        // servers on the container's own loopback, so no lookup ever leaves the host; and the
        // host's global forwarding left as it is.
        let cfg = json!({"bridge": root.bridge(), "dns": ["127.0.0.1"], "ip-forward": false});
        std::fs::write(root.config_file(), cfg.to_string()).expect("daemon.json");
        root
    }
    /// The Docker client config folder (`config.json` with `login`'s credentials) of this root.
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }
    /// The `daemon.json` this root's commands read.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("daemon.json")
    }
    /// This root's default bridge: `baleia` and five digits from the root's unique folder name.
    pub fn bridge(&self) -> String {
        let h = Sha256::digest(self.dir.path().as_os_str().as_encoded_bytes());
        let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % 90000 + 10000;
        format!("baleia{n}")
    }
    /// The root's path (what `--root` gets).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    /// A scratch folder beside the root for the test's own files.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).unwrap();
        p
    }
    /// A `baleia` command with this root.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(baleia_bin());
        c.env("BALEIA_ROOT", self.path())
            .env("BALEIA_CONFIG", self.config_file())
            // Its own Docker client config (credentials), and loopback never through a proxy.
            .env("DOCKER_CONFIG", self.docker_config())
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            // Daemonless: never a client of whatever daemon the caller's shell names.
            .env_remove("DOCKER_HOST")
            .args(args)
            .stdin(Stdio::null());
        if let (None, Some(init)) = (std::env::var_os("BALEIA_INIT"), static_init()) {
            c.env("BALEIA_INIT", init);
        }
        c
    }
    /// Run and return the output, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run baleia")
    }
    /// Run, insist on success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "baleia {args:?} failed ({}):\n{}{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }
    /// Run, insist on failure, return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "baleia {args:?} should have failed:\n{}",
            text(&o.stdout)
        );
        text(&o.stderr)
    }
    /// A fresh root with lab images loaded.
    pub fn with_lab_images(names: &[&str]) -> Root {
        let root = Root::new();
        root.load_lab_images(names);
        root
    }
    /// Load lab images (`hello-world`, `busybox`, `debian`, `nginx`) built by `labs/images/build.sh`
    /// (cached after the first build).
    pub fn load_lab_images(&self, names: &[&str]) {
        let o = Command::new("bash")
            .arg(workspace().join("labs/images/build.sh"))
            .args(names)
            .output()
            .expect("build.sh");
        assert!(o.status.success(), "build.sh: {}", text(&o.stderr));
        for archive in text(&o.stdout).lines().filter(|l| !l.is_empty()) {
            self.ok(&["load", "-q", "-i", archive]);
        }
    }
    /// Run baleia on a new terminal (a pty). Each step waits until the screen shows its text (10 s
    /// at most), then types its bytes. Returns what the terminal showed and the exit code.
    pub fn run_in_pty(&self, args: &[&str], steps: &[(&str, &[u8])]) -> (String, i32) {
        pty_run(self.cmd(args), steps)
    }
    /// [`Root::run_in_pty`] on a terminal of `rows` × `cols`.
    pub fn run_in_pty_sized(
        &self,
        args: &[&str],
        rows: u16,
        cols: u16,
        steps: &[(&str, &[u8])],
    ) -> (String, i32) {
        pty_run_sized(self.cmd(args), Some((rows, cols)), steps)
    }
    /// Every file and folder under the root, as relative paths (to compare before and after).
    pub fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.path(), &self.path(), &mut out);
        out.retain(|p| p != ".lock" && p != "engine-id");
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &p, out);
        }
    }
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `sha256:<hex>` of bytes.
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// One entry of a hand-made tar.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A regular file.
    File(&'static str, Vec<u8>),
    /// A folder.
    Dir(&'static str),
    /// A symlink and its target.
    Symlink(&'static str, &'static str),
    /// A hard link and its target.
    Hardlink(&'static str, &'static str),
}

/// A tar stream of `entries`, names written as given (even hostile ones).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data): (&str, &[u8]) = match e {
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d)
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, &[])
            }
            Entry::Symlink(n, t) | Entry::Hardlink(n, t) => {
                h.set_entry_type(if matches!(e, Entry::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_mode(0o777);
                set_raw_name(&mut h, t, true);
                (n, &[])
            }
        };
        set_raw_name(&mut h, name, false);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Write a name into the header bytes directly (the tar crate refuses `..` and absolute paths).
fn set_raw_name(h: &mut tar::Header, name: &str, link: bool) {
    let gnu = h.as_gnu_mut().unwrap();
    let field: &mut [u8] = if link {
        &mut gnu.linkname
    } else {
        &mut gnu.name
    };
    assert!(name.len() < field.len());
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

/// gzip-compress bytes.
pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// zstd-compress bytes.
pub fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 3).unwrap()
}

/// An image to put in an archive: its layer tars (as stored, maybe compressed) and its config.
pub struct TestImage {
    /// Tags (`name:tag`).
    pub tags: Vec<String>,
    /// Layer blobs as stored in the archive, and their uncompressed tars.
    pub layers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Config JSON bytes.
    pub config: Vec<u8>,
    /// Media type written for every layer in OCI manifests (default: by compression).
    pub layer_media_type: Option<String>,
}

impl TestImage {
    /// An image of uncompressed `layers` with `Cmd` and history entries.
    pub fn new(tags: &[&str], layers: Vec<Vec<u8>>, cmd: &[&str]) -> TestImage {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
        let history: Vec<Value> = (0..layers.len())
            .map(|i| json!({"created": "2024-01-0{}T00:00:00Z".replace("{}", &(i + 1).to_string()), "created_by": format!("/bin/sh -c #(nop) ADD layer{i}")}))
            .chain([json!({"created": "2024-01-09T00:00:00Z", "created_by": format!("/bin/sh -c #(nop)  CMD {cmd:?}"), "empty_layer": true})])
            .collect();
        let config = json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-09T00:00:00Z",
            "config": {"Cmd": cmd, "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        TestImage {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            layers: layers.into_iter().map(|l| (l.clone(), l)).collect(),
            config: serde_json::to_vec(&config).unwrap(),
            layer_media_type: None,
        }
    }
    /// The same image with gzip-compressed layer blobs.
    pub fn gzipped(mut self) -> TestImage {
        for l in &mut self.layers {
            l.0 = gzip(&l.1);
        }
        self
    }
    /// The same image with zstd-compressed layer blobs.
    pub fn zstded(mut self) -> TestImage {
        for l in &mut self.layers {
            l.0 = zstd(&l.1);
        }
        self
    }
    /// The image ID: sha256 of the config bytes.
    pub fn id(&self) -> String {
        sha256(&self.config)
    }
}

/// Archive layouts `load` must read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Docker 25+: `blobs/sha256/…` + `manifest.json` (+ index.json).
    DockerBlobs,
    /// Docker before 25: `<id>/layer.tar`, `<config>.json`, `manifest.json`, `repositories`.
    DockerLegacy,
    /// OCI image layout: `oci-layout`, `index.json`, `blobs/`.
    Oci,
}

/// Build an archive of `images` in `layout`.
pub fn archive(images: &[TestImage], layout: Layout) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    for img in images {
        let hexid = &img.id()[7..];
        let layer_paths: Vec<String> = img
            .layers
            .iter()
            .map(|(blob, _)| {
                let h = &sha256(blob)[7..];
                let p = if layout == Layout::DockerLegacy {
                    format!("{h}/layer.tar")
                } else {
                    format!("blobs/sha256/{h}")
                };
                add(&p, blob);
                p
            })
            .collect();
        let cfg_path = if layout == Layout::DockerLegacy {
            format!("{hexid}.json")
        } else {
            format!("blobs/sha256/{hexid}")
        };
        add(&cfg_path, &img.config);
        manifest.push(json!({"Config": cfg_path, "RepoTags": img.tags, "Layers": layer_paths}));
        if layout == Layout::Oci {
            let m = json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.id(), "size": img.config.len()},
                "layers": img.layers.iter().map(|(blob, raw)| json!({
                    "mediaType": if let Some(t) = &img.layer_media_type { t.as_str() } else if blob == raw { "application/vnd.oci.image.layer.v1.tar" } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) { "application/vnd.oci.image.layer.v1.tar+zstd" } else { "application/vnd.oci.image.layer.v1.tar+gzip" },
                    "digest": sha256(blob), "size": blob.len()})).collect::<Vec<_>>(),
            });
            let mb = serde_json::to_vec(&m).unwrap();
            add(&format!("blobs/sha256/{}", &sha256(&mb)[7..]), &mb);
            for t in &img.tags {
                index.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&mb), "size": mb.len(),
                    "annotations": {"io.containerd.image.name": format!("docker.io/library/{t}"), "org.opencontainers.image.ref.name": t.split(':').nth(1).unwrap_or("latest")}}));
            }
        }
    }
    if layout == Layout::Oci {
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add(
            "index.json",
            &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": index})).unwrap(),
        );
    } else {
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    }
    b.into_inner().unwrap()
}

/// Whether `skopeo` is installed (the interop tests need it; `.ci/run` installs it).
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: `apt-get install -y {tool}` (.ci/run does)"
    );
}

/// Run `cmd` with a pty as its controlling terminal and stdio; see [`Root::run_in_pty`].
pub fn pty_run(cmd: Command, steps: &[(&str, &[u8])]) -> (String, i32) {
    pty_run_sized(cmd, None, steps)
}

/// [`pty_run`] on a terminal of the given size.
pub fn pty_run_sized(
    cmd: Command,
    size: Option<(u16, u16)>,
    steps: &[(&str, &[u8])],
) -> (String, i32) {
    let mut session = PtySession::spawn(cmd, size);
    for (expect, bytes) in steps {
        session.expect(expect);
        session.send(bytes);
    }
    session.finish()
}

/// A program running on a pty the test drives: wait for text, type, resize, finish.
pub struct PtySession {
    master: std::fs::File,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    seen: usize,
    child: std::process::Child,
    reader: std::thread::JoinHandle<()>,
}

impl PtySession {
    /// Start `cmd` with a new pty (of `size`, if given) as its controlling terminal and stdio.
    pub fn spawn(mut cmd: Command, size: Option<(u16, u16)>) -> PtySession {
        use std::io::Read;
        let ws = size.map(|(r, c)| nix::pty::Winsize {
            ws_row: r,
            ws_col: c,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(ws.as_ref(), None).expect("openpty");
        cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn in pty");
        // The command holds copies of the slave: drop them, or the master never sees the end.
        drop(cmd);
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            master,
            out,
            seen: 0,
            child,
            reader,
        }
    }

    /// Everything the terminal showed so far.
    pub fn shown(&self) -> String {
        text(&self.out.lock().unwrap())
    }

    /// Wait (10 s at most) until the terminal shows `expect` after what earlier expects matched.
    pub fn expect(&mut self, expect: &str) {
        assert!(
            self.wait_for(expect, std::time::Duration::from_secs(10)),
            "the terminal never showed {expect:?}:\n{}",
            self.shown()
        );
    }

    /// Like [`PtySession::expect`] with a timeout; whether it showed.
    pub fn wait_for(&mut self, expect: &str, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            let shown = self.shown();
            if let Some(at) = shown[self.seen.min(shown.len())..].find(expect) {
                self.seen += at + expect.len();
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Type bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).unwrap();
    }

    /// Resize the terminal, as a user resizing the window (the program gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        use std::os::fd::AsRawFd;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }

    /// Kill the program, as a terminal closed under it (no goodbye).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Wait for the program to end; what the terminal showed and its exit code.
    pub fn finish(mut self) -> (String, i32) {
        let status = self.child.wait().unwrap();
        drop(self.master);
        let _ = self.reader.join();
        let shown = text(&self.out.lock().unwrap());
        (shown, status.code().unwrap_or(-1))
    }
}
