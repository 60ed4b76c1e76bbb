//! A stand-in for Docker Hub on 127.0.0.1, for labs that pull, search and push (`hub:` in a lab):
//! Debian's `docker-registry` serving the lab images as `library/NAME:TAG`, made the built-in
//! engine's only registry mirror for the lab's terminals (see [`crate::settings`]), so `docker pull
//! debian` and `docker search debian` work as the notes show and nothing leaves the machine. Its storage is kept between runs (filled once, by
//! `skopeo copy` from the archives `labs/images/build.sh` makes); the server lives as long as the
//! lab, and dies with the runner if the runner is killed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The registry program (Debian's `docker-registry` package, distribution 2.8).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long the registry may take to answer after it starts.
const START: Duration = Duration::from_secs(20);

/// Why the stand-in Docker Hub could not be given.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A program it needs is not installed.
    #[error("{program} is needed for the lab's stand-in Docker Hub: apt-get install {package}")]
    Missing {
        /// The program.
        program: String,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A file or folder could not be made or read.
    #[error("{path}: {cause}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A program ran and failed.
    #[error("{what} failed: {detail}")]
    Failed {
        /// What was run.
        what: String,
        /// What it said.
        detail: String,
    },
    /// The registry never answered.
    #[error(
        "the stand-in Docker Hub did not answer on {host} within {seconds} s (its log: {log})"
    )]
    NoAnswer {
        /// Its address.
        host: String,
        /// How long it was given.
        seconds: u64,
        /// Its log file.
        log: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HubError + '_ {
    move |cause| HubError::Io {
        path: path.into(),
        cause,
    }
}

/// A running stand-in for Docker Hub; stopped when dropped.
#[derive(Debug)]
pub struct Hub {
    child: Child,
    port: u16,
    files: Vec<PathBuf>,
}

impl Hub {
    /// Start it for lab `lab`: storage in `data/hub` (filled from `archives` when they are new),
    /// the server on a free loopback port (its settings and log in `run`).
    pub fn start(
        data: &Path,
        run: &Path,
        lab: &str,
        archives: &[PathBuf],
    ) -> Result<Hub, HubError> {
        if !Path::new(REGISTRY_BIN).is_file() {
            return Err(HubError::Missing {
                program: REGISTRY_BIN.into(),
                package: "docker-registry",
            });
        }
        let dir = data.join("hub");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        std::fs::create_dir_all(run).map_err(io(run))?;
        let port = free_port().map_err(io(run))?;
        let config = run.join(format!("{lab}.hub.yml"));
        let storage = dir.join("registry");
        std::fs::write(&config, registry_config(&storage, port)).map_err(io(&config))?;
        let log_path = run.join(format!("{lab}.hub.log"));
        let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let err = log.try_clone().map_err(io(&log_path))?;
        let mut cmd = Command::new(REGISTRY_BIN);
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to end the registry when
        // the runner ends, so a killed runner leaves no server behind.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(io(Path::new(REGISTRY_BIN)))?;
        let hub = Hub {
            child,
            port,
            files: vec![config, log_path.clone()],
        };
        hub.wait_answer(&log_path)?;
        hub.fill(&dir, archives)?;
        Ok(hub)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_answer(&self, log: &Path) -> Result<(), HubError> {
        let deadline = Instant::now() + START;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        while Instant::now() < deadline {
            let first_line = |a: &String| a.lines().next().unwrap_or_default().to_string();
            if get(addr, "/v2/").is_ok_and(|a| first_line(&a).contains(" 200 ")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(HubError::NoAnswer {
            host: self.host(),
            seconds: START.as_secs(),
            log: log.into(),
        })
    }

    /// Copy into the registry every archive not copied before (`hub/filled.json` remembers which,
    /// by file name: build.sh names archives after what they were built from).
    fn fill(&self, dir: &Path, archives: &[PathBuf]) -> Result<(), HubError> {
        let stamp = dir.join("filled.json");
        let mut filled: BTreeMap<String, Vec<String>> = std::fs::read(&stamp)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for a in archives {
            let key = a
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if filled.contains_key(&key) {
                continue;
            }
            let tags = archive_tags(a)?;
            for tag in &tags {
                self.copy(a, tag)?;
            }
            filled.insert(key, tags);
            let text = serde_json::to_vec_pretty(&filled).expect("JSON");
            std::fs::write(&stamp, text).map_err(io(&stamp))?;
        }
        Ok(())
    }

    /// `skopeo copy` one tag of an archive to `library/NAME:TAG`.
    fn copy(&self, archive: &Path, tag: &str) -> Result<(), HubError> {
        let src = format!("docker-archive:{}:{tag}", archive.display());
        let dst = format!("docker://{}/{}", self.host(), library(tag));
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false", &src, &dst])
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => HubError::Missing {
                    program: "skopeo".into(),
                    package: "skopeo",
                },
                _ => HubError::Io {
                    path: "skopeo".into(),
                    cause: e,
                },
            })?;
        if !out.status.success() {
            return Err(HubError::Failed {
                what: format!("skopeo copy {src} {dst}"),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Docker Hub's name for a tag of an official image: `debian:latest` → `library/debian:latest`.
pub fn library(tag: &str) -> String {
    if tag.contains('/') {
        tag.to_string()
    } else {
        format!("library/{tag}")
    }
}

/// The registry's settings: loopback only, no authentication, quiet.
fn registry_config(storage: &Path, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    )
}

/// The tags an archive holds (`RepoTags` of its `manifest.json`).
fn archive_tags(archive: &Path) -> Result<Vec<String>, HubError> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("manifest.json")
        .output()
        .map_err(io(Path::new("tar")))?;
    let failed = |detail: String| HubError::Failed {
        what: format!("reading manifest.json of {}", archive.display()),
        detail,
    };
    if !out.status.success() {
        return Err(failed(String::from_utf8_lossy(&out.stderr).trim().into()));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| failed(e.to_string()))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A plain HTTP/1.0 GET on loopback; the answer as text.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = String::new();
    s.take(64 << 10).read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_images_live_under_library() {
        assert_eq!(library("debian:bookworm"), "library/debian:bookworm");
        assert_eq!(library("someone/app:1"), "someone/app:1");
    }
}
