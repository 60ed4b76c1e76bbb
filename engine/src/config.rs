//! The engine's settings, read from a `daemon.json` as Docker's: `/etc/baleia/daemon.json`, or the
//! file `BALEIA_CONFIG` names. A missing file means the defaults; a malformed one is an error that
//! names it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, IoContext, Result};

/// Where the settings are read from when `BALEIA_CONFIG` is not set.
pub const DEFAULT_PATH: &str = "/etc/baleia/daemon.json";

/// The settings baleia reads (keys as in Docker's daemon.json; unknown keys are ignored).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "kebab-case")]
pub struct Config {
    /// Name of the default bridge (Docker's `docker0`).
    pub bridge: String,
    /// Name servers for containers on the default bridge, and the upstream servers of the embedded
    /// DNS of user-defined networks; empty: the host's `/etc/resolv.conf`.
    pub dns: Vec<String>,
    /// Turn on the host's `net.ipv4.ip_forward` when a bridge is made, as Docker does, so containers
    /// reach other networks; when false, forwarding is turned on for baleia's bridges only.
    pub ip_forward: bool,
    /// Mirrors tried first for `docker.io` images (`https://mirror.example` or `http://127.0.0.1:5000`).
    pub registry_mirrors: Vec<String>,
    /// Baleia's own: Docker Hub itself is never reached; its names are pulled from (and searched
    /// in) `registry_mirrors` only. The lab runner sets it so nothing leaves the machine.
    pub registry_mirrors_only: bool,
    /// Registries reached over plain HTTP or with unverified TLS (`host:port`, or a CIDR such as
    /// `10.0.0.0/8`); 127.0.0.0/8 is always one, as in Docker.
    pub insecure_registries: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bridge: "baleia0".into(),
            dns: Vec::new(),
            ip_forward: true,
            registry_mirrors: Vec::new(),
            registry_mirrors_only: false,
            insecure_registries: Vec::new(),
        }
    }
}

impl Config {
    /// The file the settings come from.
    pub fn path() -> PathBuf {
        std::env::var_os("BALEIA_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }

    /// Read the settings (the defaults if the file does not exist).
    pub fn load() -> Result<Config> {
        Self::read(&Self::path())
    }

    /// Read the settings from `path`.
    pub fn read(path: &Path) -> Result<Config> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).at(path),
        };
        let cfg: Config = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
        if cfg.bridge.is_empty() || cfg.bridge.len() > 15 || cfg.bridge.contains(['/', ' ']) {
            return Err(Error::Runtime(format!(
                "{}: \"bridge\": {:?} is not a valid interface name (1 to 15 characters, no '/' or space)",
                path.display(),
                cfg.bridge
            )));
        }
        if cfg.registry_mirrors_only && cfg.registry_mirrors.is_empty() {
            return Err(Error::Runtime(format!(
                "{}: \"registry-mirrors-only\" needs at least one of \"registry-mirrors\"",
                path.display()
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_keys_are_dockers() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Config::read(&dir.path().join("none.json")).unwrap(),
            Config::default()
        );
        let p = dir.path().join("daemon.json");
        fs::write(
            &p,
            br#"{"bridge": "baleia7", "dns": ["127.0.0.1"], "ip-forward": false, "debug": true,
                "registry-mirrors": ["http://127.0.0.1:5000"], "insecure-registries": ["10.0.0.0/8"]}"#,
        )
        .unwrap();
        let c = Config::read(&p).unwrap();
        assert_eq!(c.bridge, "baleia7");
        assert_eq!(c.dns, vec!["127.0.0.1"]);
        assert!(!c.ip_forward);
        assert_eq!(c.registry_mirrors, vec!["http://127.0.0.1:5000"]);
        assert_eq!(c.insecure_registries, vec!["10.0.0.0/8"]);
    }

    #[test]
    fn malformed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        fs::write(&p, b"{\"dns\": 3}").unwrap();
        let e = Config::read(&p).unwrap_err().to_string();
        assert!(e.contains("daemon.json"), "{e}");
        fs::write(&p, b"{\"bridge\": \"a-very-long-bridge-name\"}").unwrap();
        assert!(Config::read(&p).is_err());
        fs::write(&p, b"{\"registry-mirrors-only\": true}").unwrap();
        let e = Config::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("needs at least one of \"registry-mirrors\""),
            "{e}"
        );
    }
}
