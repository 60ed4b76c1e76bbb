//! The engine settings a lab's commands run with, on the built-in engine: the learner's own
//! `daemon.json` (the file `BALEIA_CONFIG` names, else `/etc/baleia/daemon.json`), with the
//! containers' name servers on their own loopback, so that no name a lab looks up (the notes'
//! `ping conteiner2` on the default bridge) is asked of a server outside the machine, and, for a
//! lab with a stand-in Docker Hub, that registry as the only mirror. Written to
//! `BALEIA_LAB_RUN/LAB.daemon.json` and given to the lab's terminals as `BALEIA_CONFIG`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The settings file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {cause}")]
pub struct SettingsError {
    /// Which file.
    pub path: PathBuf,
    /// Why.
    pub cause: String,
}

/// The engine's current settings as JSON (an empty object when there is no file).
pub fn engine_settings() -> Result<Value, SettingsError> {
    let path = std::env::var_os("BALEIA_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/etc/baleia/daemon.json".into());
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| SettingsError {
            path,
            cause: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(SettingsError {
            path,
            cause: e.to_string(),
        }),
    }
}

/// `settings` for a lab: name servers `127.0.0.1` (the container's own loopback, where nothing
/// answers, or the embedded DNS's upstream there), and with `hub` (`127.0.0.1:PORT`) the only
/// registry mirror, Docker Hub itself never reached.
pub fn for_lab(settings: &Value, hub: Option<&str>) -> Value {
    let mut s = settings.clone();
    if !s.is_object() {
        s = json!({});
    }
    s["dns"] = json!(["127.0.0.1"]);
    if let Some(host) = hub {
        s["registry-mirrors"] = json!([format!("http://{host}")]);
        s["registry-mirrors-only"] = json!(true);
    }
    s
}

/// Write the settings of lab `lab` in `run`; the file's path.
pub fn write(run: &Path, lab: &str, settings: &Value) -> Result<PathBuf, SettingsError> {
    let path = run.join(format!("{lab}.daemon.json"));
    let err = |e: std::io::Error| SettingsError {
        path: path.clone(),
        cause: e.to_string(),
    };
    std::fs::create_dir_all(run).map_err(err)?;
    let text = serde_json::to_vec_pretty(settings).expect("JSON");
    std::fs::write(&path, text).map_err(err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_keeps_the_engine_settings_with_local_name_servers_and_its_hub() {
        let base = json!({"bridge": "baleia7", "dns": ["192.0.2.53"], "registry-mirrors": ["https://m.example"]});
        let s = for_lab(&base, None);
        assert_eq!(s["bridge"], "baleia7");
        assert_eq!(s["dns"], json!(["127.0.0.1"]));
        assert_eq!(s["registry-mirrors"], json!(["https://m.example"]));
        assert!(s.get("registry-mirrors-only").is_none());
        let h = for_lab(&base, Some("127.0.0.1:5123"));
        assert_eq!(h["registry-mirrors"], json!(["http://127.0.0.1:5123"]));
        assert_eq!(h["registry-mirrors-only"], true);
        assert_eq!(for_lab(&json!(null), None)["dns"], json!(["127.0.0.1"]));
    }
}
