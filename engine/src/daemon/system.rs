//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::blocking;
use super::{API_VERSION, MIN_API_VERSION};
use crate::engine::Engine;

/// `GET|HEAD /_ping`: `OK`, with the API version in the headers (added to every answer).
pub async fn ping() -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "OK",
    )
}

/// `GET /version`: the engine's component and versions.
pub async fn version() -> Json<Value> {
    let arch = crate::archive::import::go_arch();
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    let commit = env!("BALEIA_GIT_COMMIT");
    Json(json!({
        "Platform": {"Name": "Baleia Engine"},
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": commit,
                "GoVersion": env!("BALEIA_RUSTC_VERSION"), "Os": "linux", "Arch": arch,
                "KernelVersion": kernel, "Experimental": "false",
            },
        }],
        "Version": version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": commit,
        "GoVersion": env!("BALEIA_RUSTC_VERSION"),
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": "",
    }))
}

/// `GET /info`.
pub async fn info(State(e): State<Engine>) -> Result<Json<Value>, ApiError> {
    let mut v = blocking(move || Ok(e.info()?)).await?;
    if let Some(m) = v.as_object_mut() {
        m.insert("Swarm".into(), json!({"LocalNodeState": "inactive"}));
        m.insert("ServerVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    Ok(Json(v))
}
