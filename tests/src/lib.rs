//! Support for the end-to-end tests: run the real `baleia` binary against a private state root,
//! and build image archives (good and hostile) byte by byte.

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

/// The workspace's top folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// A private state root, removed (with everything in it) when dropped.
pub struct Root {
    dir: tempfile::TempDir,
}

impl Default for Root {
    fn default() -> Self {
        Self::new()
    }
}

impl Root {
    /// A fresh root under the system temp folder, named so leftovers are recognisable.
    pub fn new() -> Root {
        Root {
            dir: tempfile::Builder::new()
                .prefix("baleia-test-")
                .tempdir()
                .expect("tempdir"),
        }
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
            .args(args)
            .stdin(Stdio::null());
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
