//! Registry credentials kept as Docker keeps them: `auths[server].auth` = base64 of `user:password`
//! in `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, mode 0600. Other keys of the file
//! are left as they are.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::error::RegistryError;
use crate::reference::DEFAULT_DOMAIN;

/// A user name and password the caller gives for one operation (the daemon's `X-Registry-Auth`),
/// used instead of the ones `login` stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password (or a personal access token).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The key Docker Hub's credentials are stored under.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Where credentials are read and written.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker").join("config.json")
}

/// The key a server's credentials live under: Docker Hub's URL for `docker.io` (and its aliases),
/// else the bare `host[:port]` (`http://127.0.0.1:5000/` gives `127.0.0.1:5000`).
pub fn server_key(server: Option<&str>) -> String {
    let s = server.unwrap_or(DEFAULT_DOMAIN).trim();
    let bare = s
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    match bare {
        "" | "docker.io" | "index.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB_SERVER.to_string()
        }
        h => h.to_string(),
    }
}

/// The stored `(user, password)` for a server (`docker.io` or `host[:port]`), if any.
pub fn lookup(server: &str) -> Result<Option<(String, String)>, RegistryError> {
    lookup_in(&config_path(), server)
}

/// [`lookup`] in a given file.
pub fn lookup_in(path: &Path, server: &str) -> Result<Option<(String, String)>, RegistryError> {
    let doc = read(path)?;
    let key = server_key(Some(server));
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    // Docker also accepts keys written as URLs (`https://127.0.0.1:5000`).
    let entry = auths.get(&key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| server_key(Some(k)) == key)
            .map(|(_, v)| v)
    });
    let Some(encoded) = entry.and_then(|e| e.get("auth")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let bad = |why: &str| RegistryError::Credentials {
        path: path.display().to_string(),
        reason: format!("credentials for {key}: {why}"),
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad("auth is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| bad("auth is not user:password"))?;
    Ok(Some((user.to_string(), password.to_string())))
}

/// Store credentials for `key` (as [`server_key`] gives it).
pub fn store_in(path: &Path, key: &str, user: &str, password: &str) -> Result<(), RegistryError> {
    let mut doc = read(path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let auths = doc
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| RegistryError::Credentials {
            path: path.display().to_string(),
            reason: "\"auths\" is not an object".into(),
        })?;
    auths.insert(key.to_string(), json!({ "auth": auth }));
    write(path, &doc)
}

/// Remove the credentials for `key`; false if there were none.
pub fn erase_in(path: &Path, key: &str) -> Result<bool, RegistryError> {
    let mut doc = read(path)?;
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let keys: Vec<String> = auths
        .keys()
        .filter(|k| *k == key || server_key(Some(k)) == key)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Ok(false);
    }
    for k in keys {
        auths.remove(&k);
    }
    write(path, &doc)?;
    Ok(true)
}

fn read(path: &Path) -> Result<Map<String, Value>, RegistryError> {
    let bad = |reason: String| RegistryError::Credentials {
        path: path.display().to_string(),
        reason,
    };
    match fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(bad("not a JSON object".into())),
            Err(e) => Err(bad(format!("invalid JSON: {e}"))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Write through a temporary sibling made 0600, then rename.
fn write(path: &Path, doc: &Map<String, Value>) -> Result<(), RegistryError> {
    let bad = |e: std::io::Error| RegistryError::Credentials {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(bad)?;
    let tmp = dir.join(".config.json.tmp");
    let _ = fs::remove_file(&tmp);
    let mut bytes = serde_json::to_vec_pretty(doc).expect("JSON serializes");
    bytes.push(b'\n');
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(bad)?;
    f.write_all(&bytes).map_err(bad)?;
    f.sync_all().map_err(bad)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(bad)?;
    fs::rename(&tmp, path).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_as_docker_stores_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        fs::write(&p, br#"{"credsStore": "", "psFormat": "table {{.ID}}"}"#).unwrap();
        assert_eq!(server_key(None), DOCKER_HUB_SERVER);
        assert_eq!(server_key(Some("http://127.0.0.1:5000/")), "127.0.0.1:5000");
        store_in(&p, &server_key(Some("127.0.0.1:5000")), "ana", "s3:cr3t").unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(doc["auths"]["127.0.0.1:5000"]["auth"], "YW5hOnMzOmNyM3Q=");
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            lookup_in(&p, "127.0.0.1:5000").unwrap(),
            Some(("ana".into(), "s3:cr3t".into()))
        );
        assert_eq!(lookup_in(&p, "docker.io").unwrap(), None);
        assert!(erase_in(&p, "127.0.0.1:5000").unwrap());
        assert!(!erase_in(&p, "127.0.0.1:5000").unwrap());
        assert_eq!(lookup_in(&p, "127.0.0.1:5000").unwrap(), None);
    }
}
