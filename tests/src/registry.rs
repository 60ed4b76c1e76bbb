//! A real registry on the loopback for the pull/push/login/search tests: Debian's `docker-registry`
//! (distribution v2) as a child process on `127.0.0.1:<free port>`, its storage in a temp folder,
//! killed and reaped when dropped. Nothing here ever talks to anything but 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{require, text, workspace};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running `docker-registry serve` on the loopback. Dropping it kills and reaps the process and
/// removes its storage.
pub struct LocalRegistry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
    auth: Option<(String, String)>,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalRegistry {
    /// A registry without authentication, deletes enabled.
    pub fn start() -> LocalRegistry {
        Self::launch(None)
    }

    /// A registry behind HTTP basic authentication: one user, its password stored as a bcrypt hash
    /// in an htpasswd file made by `htpasswd -Bbn` (apache2-utils).
    pub fn with_htpasswd(user: &str, pass: &str) -> LocalRegistry {
        Self::launch(Some((user.to_string(), pass.to_string())))
    }

    fn launch(auth: Option<(String, String)>) -> LocalRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: `apt-get install -y docker-registry` (scripts/deps.sh does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("baleia-registry-")
            .tempdir()
            .expect("tempdir");
        let htpasswd = dir.path().join("htpasswd");
        if let Some((user, pass)) = &auth {
            require("htpasswd");
            let o = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd");
            assert!(o.status.success(), "htpasswd: {}", text(&o.stderr));
            std::fs::write(&htpasswd, &o.stdout).expect("write htpasswd");
        }
        // The port is free when we look; another process may take it before the registry binds it,
        // so a registry that dies at start is tried again on a new port.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(&config, config_yaml(dir.path(), &addr, auth.is_some()))
                .expect("write config.yml");
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("registry.log");
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                // REGISTRY_* variables override the file: none of the caller's may leak in.
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let mut child = child;
            match wait_ready(&mut child, &addr, Duration::from_secs(5)) {
                Ok(()) => {
                    return LocalRegistry {
                        child,
                        dir,
                        addr,
                        auth,
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = format!(
                        "{why}\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
            }
        }
        panic!("docker-registry did not start:\n{last_log}");
    }

    /// `127.0.0.1:PORT`, the registry part of image names (`127.0.0.1:PORT/busybox:v1`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The registry's process id (gone once the registry is dropped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The storage driver's root folder.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding a blob's bytes (`sha256:<hex>`), to corrupt in tests.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// What the registry wrote on stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `GET path` on the registry, with the basic credentials it was made with, if any.
    pub fn get(&self, path: &str, accept: &[&str]) -> Response {
        let mut headers: Vec<(String, String)> = accept
            .iter()
            .map(|a| ("Accept".to_string(), a.to_string()))
            .collect();
        if let Some((u, p)) = &self.auth {
            headers.push((
                "Authorization".into(),
                format!("Basic {}", base64(format!("{u}:{p}").as_bytes())),
            ));
        }
        http_get(&self.addr, path, &headers)
            .unwrap_or_else(|e| panic!("GET http://{}{path}: {e}", self.addr))
    }

    /// The manifest of `name:reference` as the registry serves it (Docker v2 schema 2 or OCI), and
    /// its digest (`sha256:` of the bytes).
    pub fn manifest(&self, name: &str, reference: &str) -> Option<(serde_json::Value, String)> {
        let Response { code, body, .. } = self.get(
            &format!("/v2/{name}/manifests/{reference}"),
            &[
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.oci.image.index.v1+json",
            ],
        );
        if code != 200 {
            return None;
        }
        let v = serde_json::from_slice(&body).expect("manifest is JSON");
        Some((v, crate::sha256(&body)))
    }

    /// The tags of a repository (`GET /v2/NAME/tags/list`), sorted; empty if it has none.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let Response { code, body, .. } = self.get(&format!("/v2/{name}/tags/list"), &[]);
        if code != 200 {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&body).expect("tags JSON");
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Seed the registry without baleia: `skopeo copy` of a docker-archive to `ADDR/NAME`
    /// (`name` may carry a tag: `library/busybox:latest`).
    pub fn push_lab_image(&self, name: &str, archive: &Path) {
        require("skopeo");
        let mut c = Command::new("skopeo");
        c.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.auth {
            c.arg(format!("--dest-creds={u}:{p}"));
        }
        let o = c
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            // No proxy may take loopback traffic elsewhere.
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .output()
            .expect("skopeo");
        assert!(
            o.status.success(),
            "skopeo copy {} to {}/{name}: {}",
            archive.display(),
            self.addr,
            text(&o.stderr)
        );
    }
}

/// Poll `GET /v2/` until it answers (200, or 401 behind authentication).
fn wait_ready(child: &mut Child, addr: &str, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("docker-registry exited at start ({st})"));
        }
        if let Ok(r) = http_get(addr, "/v2/", &[]) {
            if r.code == 200 || r.code == 401 {
                return Ok(());
            }
        }
        if start.elapsed() > limit {
            return Err(format!("GET http://{addr}/v2/ did not answer in {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config_yaml(dir: &Path, addr: &str, htpasswd: bool) -> String {
    let mut y = format!(
        "version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: baleia-tests-only
",
        storage = dir.join("storage").display()
    );
    if htpasswd {
        y += &format!(
            "auth:
  htpasswd:
    realm: baleia-tests
    path: {}
",
            dir.join("htpasswd").display()
        );
    }
    y
}

/// A TCP port on 127.0.0.1 nobody listens on right now (the kernel's pick, released at once).
/// Also what the "registry down" tests dial.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The cached docker-archive of a lab image (`busybox`, `debian`, …), built by
/// `labs/images/build.sh` on first use.
pub fn lab_archive(name: &str) -> PathBuf {
    let o = Command::new("bash")
        .arg(workspace().join("labs/images/build.sh"))
        .arg(name)
        .output()
        .expect("build.sh");
    assert!(o.status.success(), "build.sh {name}: {}", text(&o.stderr));
    let out = text(&o.stdout);
    PathBuf::from(out.lines().rfind(|l| !l.is_empty()).expect("archive path"))
}

/// The image ID (`sha256:` of the config) of the single image in a docker-archive.
pub fn archive_image_id(archive: &Path) -> String {
    let f = std::fs::File::open(archive).expect("open archive");
    let mut t = tar::Archive::new(f);
    for e in t.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        if e.path().expect("path").as_os_str() == "manifest.json" {
            let mut s = String::new();
            e.read_to_string(&mut s).expect("manifest.json");
            let v: serde_json::Value = serde_json::from_str(&s).expect("manifest.json JSON");
            let cfg = v[0]["Config"].as_str().expect("Config");
            let hex = cfg
                .trim_end_matches(".json")
                .rsplit('/')
                .next()
                .expect("config name");
            return format!("sha256:{hex}");
        }
    }
    panic!("{}: no manifest.json", archive.display());
}

/// An HTTP response.
pub struct Response {
    pub code: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A one-shot HTTP/1.1 GET on the loopback, no credentials added.
pub fn http_get(addr: &str, path: &str, headers: &[(String, String)]) -> std::io::Result<Response> {
    assert!(addr.starts_with("127.0.0.1:"), "only the loopback: {addr}");
    let mut s = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let hdrs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok(Response {
        code,
        headers: hdrs,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Standard base64 with padding (what `auths.*.auth` in a Docker config.json holds).
pub fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
