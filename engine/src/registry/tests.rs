//! Pull and push against a real registry (Debian's `docker-registry`, distribution 2.8) run on
//! 127.0.0.1 with its storage in a temporary folder. Nothing leaves the loopback interface.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Endpoint;
use super::Progress;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::reference::Reference;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// `htpasswd -Bbn -C 4 baleia s3cret`.
const HTPASSWD: &str = "baleia:$2y$04$jbOpMfxP7oG0Vyr146T6uOisUadWJMXvbtEiaexikivXBGRTnR2eu\n";

/// A registry child process on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    fn start() -> Registry {
        Self::start_with(false)
    }

    fn start_with(basic_auth: bool) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: apt-get install -y docker-registry"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth = if basic_auth {
            fs::write(dir.path().join("htpasswd"), HTPASSWD).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: baleia-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        );
        let cfg = dir.path().join("config.yml");
        fs::write(&cfg, config).unwrap();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reg.answers() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `GET /v2/` gets an HTTP answer (200, or 401 with auth).
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }

    /// The file the registry keeps a blob in.
    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(&hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An engine on a fresh temporary root.
fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&dir.path().join("root")).unwrap();
    (dir, e)
}

/// A layer tar of the given files.
fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A two-layer image as a `docker save` archive, tagged `tag`; returns (archive, image ID).
fn image_archive(tag: &str, salt: &str) -> (Vec<u8>, Digest) {
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i ^ 0x5a5a).to_le_bytes())
        .collect();
    let layers = [
        layer(&[("etc/hostname", b"baleia\n"), ("bin/data", &big)]),
        layer(&[("hello.txt", format!("hello {salt}\n").as_bytes())]),
    ];
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": crate::archive::import::go_arch(), "os": "linux",
        "created": "2024-01-09T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "ADD a"}, {"created_by": "ADD b"}],
    }))
    .unwrap();
    let id = Digest::of(&config);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    let mut paths = Vec::new();
    for l in &layers {
        let p = format!("blobs/sha256/{}", Digest::of(l).hex());
        add(&p, l);
        paths.push(p);
    }
    let cfg_path = format!("blobs/sha256/{}", id.hex());
    add(&cfg_path, &config);
    let manifest = json!([{"Config": cfg_path, "RepoTags": [tag], "Layers": paths}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    (b.into_inner().unwrap(), id)
}

/// Load a test image tagged `tag` into `e`; returns its ID.
fn load_image(e: &Engine, tag: &str, salt: &str) -> Digest {
    let (archive, id) = image_archive(tag, salt);
    e.load(&archive[..]).unwrap();
    id
}

/// Run `op` collecting its progress events.
fn collect<T>(op: impl FnOnce(&mut dyn FnMut(Progress)) -> T) -> (T, Vec<Progress>) {
    let mut events = Vec::new();
    let out = op(&mut |p| events.push(p));
    (out, events)
}

fn statuses(events: &[Progress]) -> Vec<String> {
    events
        .iter()
        .filter_map(|p| match p {
            Progress::Layer { status, .. } => Some(status.clone()),
            _ => None,
        })
        .collect()
}

fn lines(events: &[Progress]) -> Vec<String> {
    events
        .iter()
        .filter_map(|p| match p {
            Progress::Layer { .. } => None,
            other => Some(other.to_string()),
        })
        .collect()
}

/// Nothing stored: no image, no layer, no overlay folder, no staging left.
fn assert_store_empty(e: &Engine) {
    assert!(e.images.ids().unwrap().is_empty(), "images were stored");
    assert!(e.layers.list().unwrap().is_empty(), "layers were stored");
    let overlay: Vec<_> = fs::read_dir(e.paths.overlay_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|d| d.file_name() != "l")
                .map(|d| d.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(overlay.is_empty(), "overlay folders left: {overlay:?}");
    let tmp: Vec<_> = fs::read_dir(e.paths.tmp())
        .map(|rd| rd.flatten().map(|d| d.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "staging left: {tmp:?}");
}

#[test]
fn push_then_pull_keeps_the_image_id() {
    let reg = Registry::start();
    let name = format!("{}/lab/hello", reg.host());
    let (_d1, a) = engine();
    let id = load_image(&a, &format!("{name}:v1"), "one");

    let (r, ev) = collect(|p| a.push(&format!("{name}:v1"), false, p));
    r.unwrap();
    assert_eq!(
        ev[0],
        Progress::Start {
            id: None,
            status: format!("The push refers to repository [{name}]")
        }
    );
    assert_eq!(statuses(&ev).iter().filter(|s| *s == "Pushed").count(), 2);
    let last = lines(&ev).pop().unwrap();
    assert!(last.starts_with("v1: digest: sha256:"), "{last}");
    let pushed_digest = last.split_whitespace().nth(2).unwrap().to_string();

    let (r, ev) = collect(|p| a.push(&format!("{name}:v1"), false, p));
    r.unwrap();
    assert_eq!(
        statuses(&ev)
            .iter()
            .filter(|s| *s == "Layer already exists")
            .count(),
        2
    );

    let (_d2, b) = engine();
    let (r, ev) = collect(|p| b.pull(&format!("{name}:v1"), false, p));
    assert_eq!(r.unwrap(), [format!("{name}:v1")]);
    assert_eq!(b.resolve_image(&format!("{name}:v1")).unwrap().id, id);
    let l = lines(&ev);
    assert_eq!(l[0], "v1: Pulling from lab/hello");
    assert_eq!(l[1], format!("Digest: {pushed_digest}"));
    assert_eq!(
        l[2],
        format!("Status: Downloaded newer image for {name}:v1")
    );
    assert_eq!(
        statuses(&ev)
            .iter()
            .filter(|s| *s == "Pull complete")
            .count(),
        2
    );
    let repos = b.images.repositories().unwrap();
    assert_eq!(
        repos.digests_of(&id),
        [format!("{name}@{pushed_digest}")],
        "repo digest recorded"
    );

    // Again: nothing downloaded.
    let (r, ev) = collect(|p| b.pull(&format!("{name}:v1"), false, p));
    r.unwrap();
    assert!(statuses(&ev).is_empty(), "{ev:?}");
    assert_eq!(
        lines(&ev).last().unwrap(),
        &format!("Status: Image is up to date for {name}:v1")
    );

    // By digest, into a fresh root.
    let (_d3, c) = engine();
    let by_digest = format!("{name}@{pushed_digest}");
    let (r, ev) = collect(|p| c.pull(&by_digest, false, p));
    assert_eq!(r.unwrap(), std::slice::from_ref(&by_digest));
    assert_eq!(c.resolve_image(&by_digest).unwrap().id, id);
    assert_eq!(
        lines(&ev).last().unwrap(),
        &format!("Status: Downloaded newer image for {by_digest}")
    );
    // A digest that is not the manifest's: the registry has no such manifest.
    let wrong = format!("{name}@{}", Digest::of(b"nothing"));
    let e = c.pull(&wrong, false, &mut |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("manifest for"), "{e}");

    // Every tag.
    load_image(&a, &format!("{name}:v2"), "two");
    a.push(&format!("{name}:v2"), false, &mut |_| {}).unwrap();
    let (_d4, d) = engine();
    let (r, ev) = collect(|p| d.pull(&name, true, p));
    assert_eq!(r.unwrap(), [format!("{name}:v1"), format!("{name}:v2")]);
    assert!(statuses(&ev).contains(&"Already exists".to_string()));
    assert_eq!(d.images.ids().unwrap().len(), 2);
}

#[test]
fn a_corrupt_blob_fails_the_pull_and_stores_nothing() {
    let reg = Registry::start();
    let name = format!("{}/lab/corrupt:v1", reg.host());
    let (_d1, a) = engine();
    let id = load_image(&a, &name, "x");
    a.push(&name, false, &mut |_| {}).unwrap();
    let img = a.images.get(&id).unwrap().unwrap();
    let top = img.diff_ids().unwrap()[1].clone();
    let path = reg.blob_path(&top);
    let mut data = fs::read(&path).unwrap();
    let mid = data.len() / 3;
    data[mid] ^= 0xff;
    fs::write(&path, data).unwrap();

    let (_d2, b) = engine();
    let e = b.pull(&name, false, &mut |_| {}).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("invalid digest for layer {top}")),
        "{e}"
    );
    assert_store_empty(&b);

    // A corrupt config is caught too.
    fs::write(reg.blob_path(&id), b"{\"rootfs\":{}}").unwrap();
    let e = b.pull(&name, false, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("config"), "{e}");
    assert_store_empty(&b);
}

#[test]
fn errors_read_as_dockers() {
    let reg = Registry::start();
    let (_d, e) = engine();
    let err = e
        .pull(&format!("{}/nosuch", reg.host()), false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "manifest for {}/nosuch:latest not found: manifest unknown: manifest unknown",
            reg.host()
        )
    );
    let port = free_port();
    let err = e
        .pull(&format!("127.0.0.1:{port}/x"), false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        )
    );
    let err = e
        .push(&format!("{}/nosuch:v9", reg.host()), false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("tag does not exist: {}/nosuch:v9", reg.host()));
}

#[test]
fn docker_hub_names_pull_through_a_mirror() {
    let reg = Registry::start();
    let (_d1, a) = engine();
    let id = load_image(&a, &format!("{}/library/mirrored:v1", reg.host()), "m");
    a.push(
        &format!("{}/library/mirrored:v1", reg.host()),
        false,
        &mut |_| {},
    )
    .unwrap();
    let (_d2, mut b) = engine();
    b.config.registry_mirrors = vec![format!("http://{}", reg.host())];
    let r = Reference::parse("mirrored:v1").unwrap();
    // Only the mirror: this test must never reach Docker Hub.
    let endpoints: Vec<Endpoint> = super::client::pull_endpoints(&r, &b.config, None)
        .into_iter()
        .filter(|e| e.mirror_of.is_some())
        .collect();
    assert_eq!(endpoints.len(), 1);
    let pulled = b.pull_via(&r, false, &endpoints, &mut |_| {}).unwrap();
    assert_eq!(pulled, ["docker.io/library/mirrored:v1"]);
    assert_eq!(b.resolve_image("mirrored:v1").unwrap().id, id);
}

#[test]
fn kept_to_the_mirrors_docker_hub_names_never_leave_loopback() {
    let reg = Registry::start();
    let (_d1, a) = engine();
    let id = load_image(&a, &format!("{}/library/kept:v1", reg.host()), "k");
    a.tag(
        &format!("{}/library/kept:v1", reg.host()),
        &format!("{}/library/kept:v2", reg.host()),
    )
    .unwrap();
    a.push(&format!("{}/library/kept", reg.host()), true, &mut |_| {})
        .unwrap();
    let (_d2, mut b) = engine();
    b.config.registry_mirrors = vec![format!("http://{}", reg.host())];
    b.config.registry_mirrors_only = true;
    // With Docker Hub off, the public entry points themselves are safe to call.
    assert_eq!(
        b.pull("kept", true, &mut |_| {}).unwrap(),
        ["docker.io/library/kept:v1", "docker.io/library/kept:v2"]
    );
    assert_eq!(b.resolve_image("kept:v2").unwrap().id, id);
    let err = b
        .pull("nosuch", false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found") || err.contains("denied"), "{err}");
    let found = b.search("kep", 25).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "kept");
    assert!(found[0].is_official);
    let err = b
        .push("kept:v1", false, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("Docker Hub is not reached:"), "{err}");
}

#[test]
fn catalog_search_and_credentials() {
    let reg = Registry::start_with(true);
    let (_d, e) = engine();
    let conf = tempfile::tempdir().unwrap();
    // The only test that sets DOCKER_CONFIG; the others never store credentials.
    std::env::set_var("DOCKER_CONFIG", conf.path());
    let err = e
        .login(Some(&reg.host()), "baleia", "wrong")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "unauthorized: incorrect username or password");
    let name = format!("{}/lab/private:v1", reg.host());
    let id = load_image(&e, &name, "p");
    let err = e.push(&name, false, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("unauthorized"), "{err}");

    assert_eq!(
        e.login(Some(&format!("http://{}/", reg.host())), "baleia", "s3cret")
            .unwrap(),
        reg.host()
    );
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(conf.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode & 0o777, 0o600);
    e.push(&name, false, &mut |_| {}).unwrap();
    let found = e.search(&format!("{}/priv", reg.host()), 25).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, format!("{}/lab/private", reg.host()));

    let (_d2, b) = engine();
    b.pull(&name, false, &mut |_| {}).unwrap();
    assert_eq!(b.resolve_image(&name).unwrap().id, id);

    assert!(e.logout(Some(&reg.host())).unwrap());
    assert!(!e.logout(Some(&reg.host())).unwrap());
    let (_d3, c) = engine();
    let err = c.pull(&name, false, &mut |_| {}).unwrap_err().to_string();
    assert!(err.starts_with("pull access denied for"), "{err}");
    assert_store_empty(&c);
}

#[test]
fn given_credentials_are_used_and_never_stored() {
    let reg = Registry::start_with(true);
    let (_d, e) = engine();
    let name = format!("{}/lab/given:v1", reg.host());
    let id = load_image(&e, &name, "g");
    let wrong = super::Credentials {
        username: "baleia".into(),
        password: "wrong".into(),
    };
    let right = super::Credentials {
        username: "baleia".into(),
        password: "s3cret".into(),
    };
    let err = e
        .check_login(Some(&reg.host()), &wrong.username, &wrong.password)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "unauthorized: incorrect username or password");
    assert_eq!(
        e.check_login(Some(&reg.host()), &right.username, &right.password)
            .unwrap(),
        reg.host()
    );
    let err = e
        .push_with(&name, false, Some(&wrong), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("unauthorized"), "{err}");
    e.push_with(&name, false, Some(&right), &mut |_| {})
        .unwrap();
    let found = e
        .search_with(&format!("{}/given", reg.host()), 25, Some(&right))
        .unwrap();
    assert_eq!(found.len(), 1);

    let (_d2, b) = engine();
    let err = b
        .pull_with(&name, false, Some(&wrong), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pull access denied for"), "{err}");
    b.pull_with(&name, false, Some(&right), &mut |_| {})
        .unwrap();
    assert_eq!(b.resolve_image(&name).unwrap().id, id);
    // Checked and used, never written to a credentials store.
    assert_eq!(super::credentials::lookup(&reg.host()).unwrap(), None);
}

/// Copy a `docker save` archive to the registry with skopeo (`extra`: its compression/format flags).
fn skopeo_copy(archive: &Path, dest: &str, extra: &[&str]) {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The raw manifest and its digest, as the registry serves it.
fn raw_manifest(reg: &Registry, path: &str, tag: &str) -> (Vec<u8>, Digest) {
    let ep = Endpoint::direct(&reg.host(), &crate::config::Config::default());
    let c = super::client::client_for(&ep, false);
    let r = oci_client::Reference::with_tag(reg.host(), path.into(), tag.into());
    let rt = super::client::runtime().unwrap();
    let accept = [
        super::manifest::DOCKER_MANIFEST,
        super::manifest::OCI_MANIFEST,
    ];
    let (bytes, _) = rt
        .block_on(c.pull_manifest_raw(&r, &oci_client::secrets::RegistryAuth::Anonymous, &accept))
        .unwrap();
    let d = Digest::of(&bytes);
    (bytes.to_vec(), d)
}

#[test]
fn gzip_zstd_and_index_images_from_skopeo() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skopeo is not installed: skipped");
        return;
    }
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = image_archive("sk/x:gz", "gz");
    let gz_file = dir.path().join("gz.tar");
    fs::write(&gz_file, archive).unwrap();
    let (archive, _) = image_archive("sk/x:zst", "zst");
    let zst_file = dir.path().join("zst.tar");
    fs::write(&zst_file, archive).unwrap();
    let repo = format!("{}/sk/x", reg.host());
    skopeo_copy(&gz_file, &format!("{repo}:gz"), &[]);
    skopeo_copy(
        &zst_file,
        &format!("{repo}:zst"),
        &["--format", "oci", "--dest-compress-format", "zstd"],
    );
    let (gz_manifest, gz_digest) = raw_manifest(&reg, "sk/x", "gz");
    let gz_text = String::from_utf8_lossy(&gz_manifest);
    assert!(gz_text.contains("diff.tar.gzip"), "{gz_text}");
    let (zst_manifest, zst_digest) = raw_manifest(&reg, "sk/x", "zst");
    assert!(String::from_utf8_lossy(&zst_manifest).contains("tar+zstd"));

    let (_d, e) = engine();
    e.pull(&format!("{repo}:gz"), false, &mut |_| {}).unwrap();
    assert_eq!(e.resolve_image(&format!("{repo}:gz")).unwrap().id, id);
    e.pull(&format!("{repo}:zst"), false, &mut |_| {}).unwrap();
    // Converting to OCI, skopeo rewrites the config: the layers are what must match.
    let z = e.resolve_image(&format!("{repo}:zst")).unwrap();
    e.load(&fs::read(&zst_file).unwrap()[..]).unwrap();
    let want = e.resolve_image("sk/x:zst").unwrap();
    assert_eq!(z.diff_ids().unwrap(), want.diff_ids().unwrap());

    // An OCI index: another architecture's entry first, then this host's.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": super::manifest::OCI_INDEX,
        "manifests": [
            {"mediaType": super::manifest::OCI_MANIFEST, "digest": zst_digest.to_string(), "size": zst_manifest.len(),
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": super::manifest::DOCKER_MANIFEST, "digest": gz_digest.to_string(), "size": gz_manifest.len(),
             "platform": {"os": "linux", "architecture": crate::archive::import::go_arch()}},
        ]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let index_digest = Digest::of(&body);
    {
        let ep = Endpoint::direct(&reg.host(), &crate::config::Config::default());
        let c = super::client::client_for(&ep, false);
        let r = oci_client::Reference::with_tag(reg.host(), "sk/x".into(), "multi".into());
        let rt = super::client::runtime().unwrap();
        rt.block_on(c.push_manifest_raw(
            &r,
            body,
            reqwest::header::HeaderValue::from_static(super::manifest::OCI_INDEX),
        ))
        .unwrap();
    }
    let (_d2, f) = engine();
    let (r, ev) = collect(|p| f.pull(&format!("{repo}:multi"), false, p));
    r.unwrap();
    assert_eq!(f.resolve_image(&format!("{repo}:multi")).unwrap().id, id);
    assert!(lines(&ev).contains(&format!("Digest: {index_digest}")));
}

/// Timing on a real image: `BALEIA_BENCH_ARCHIVE=$(labs/images/build.sh debian) cargo test -p
/// baleia-engine --lib registry::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_pull_of_an_archive() {
    let Some(path) = std::env::var_os("BALEIA_BENCH_ARCHIVE") else {
        eprintln!("BALEIA_BENCH_ARCHIVE is not set: skipped");
        return;
    };
    let reg = Registry::start();
    let (_d1, a) = engine();
    let loaded = a.load(fs::File::open(&path).unwrap()).unwrap();
    let super::super::archive::load::LoadEvent::Tagged(tag) = &loaded[0] else {
        panic!("untagged archive")
    };
    let id = a.resolve_image(tag).unwrap().id;
    let name = format!("{}/bench/image:v1", reg.host());
    a.tag(tag, &name).unwrap();
    let t = Instant::now();
    a.push(&name, false, &mut |_| {}).unwrap();
    eprintln!("push (uncompressed layers): {:?}", t.elapsed());
    let (_d2, b) = engine();
    let t = Instant::now();
    b.pull(&name, false, &mut |_| {}).unwrap();
    eprintln!("pull (uncompressed layers): {:?}", t.elapsed());
    assert_eq!(b.resolve_image(&name).unwrap().id, id);
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let gz = format!("{}/bench/gzip:v1", reg.host());
        skopeo_copy(Path::new(&path), &gz, &[]);
        let (_d3, c) = engine();
        let t = Instant::now();
        c.pull(&gz, false, &mut |_| {}).unwrap();
        eprintln!("pull (gzip layers): {:?}", t.elapsed());
        assert_eq!(c.resolve_image(&gz).unwrap().id, id);
    }
}
