//! The route table, the `/vX.Y` prefix, Docker's headers on every answer, and the helper that runs
//! engine work on the blocking pool.

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::errors::ApiError;
use super::{
    archive, attach, auth, containers, exec, images, network_connect, networks, pull, rejections,
    search, stats, system, API_VERSION,
};
use crate::engine::Engine;

/// What handlers share: the engine, clients waiting to attach, and news of starts.
#[derive(Clone)]
pub struct AppState {
    /// The engine (its operations are synchronous: run them with [`blocking`]).
    pub engine: Engine,
    /// Attached clients waiting for their container to start.
    pub pending: attach::Pending,
    /// IDs of containers this daemon started (for `wait?condition=next-exit`).
    pub started: tokio::sync::broadcast::Sender<String>,
    /// Exec instances (`docker exec`).
    pub execs: exec::Execs,
}

impl axum::extract::FromRef<AppState> for Engine {
    fn from_ref(s: &AppState) -> Engine {
        s.engine.clone()
    }
}

/// Every endpoint, reachable with or without a `/vX.Y` prefix.
pub fn router(engine: Engine) -> Router {
    let state = AppState {
        engine,
        pending: attach::Pending::default(),
        started: tokio::sync::broadcast::channel(64).0,
        execs: exec::Execs::default(),
    };
    let api = Router::new()
        .route("/_ping", get(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/images/json", get(images::list))
        .route("/images/create", post(pull::create))
        .route("/images/get", get(archive::get))
        .route("/images/load", post(archive::load))
        .route("/images/search", get(search::search))
        .route("/auth", post(auth::login))
        .route(
            "/images/{*rest}",
            get(images::get_any)
                .post(images::post_any)
                .delete(images::delete),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}/connect", post(network_connect::connect))
        .route(
            "/networks/{id}/disconnect",
            post(network_connect::disconnect),
        )
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/exec", post(exec::handlers::create))
        .route("/exec/{id}/start", post(exec::handlers::start))
        .route("/exec/{id}/json", get(exec::handlers::inspect))
        .route("/exec/{id}/resize", post(exec::handlers::resize))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .fallback(not_found)
        .with_state(state);
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::map_request(strip_version))
        .layer(axum::middleware::map_response(rejections::as_json))
        .layer(axum::middleware::map_response(docker_headers))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}

/// `/v1.48/containers/json` → `/containers/json` (any `vMAJOR.MINOR`).
async fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return req;
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let is_version = ver.split_once('.').is_some_and(|(a, b)| num(a) && num(b));
    if !is_version || tail.is_empty() {
        return req;
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

fn num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

async fn docker_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("Baleia/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    res
}

/// Run synchronous engine work on the blocking pool; its error becomes Docker's answer.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
}

/// A query flag as Docker reads it: `1`, `true`, `True` are true.
pub fn flag(v: &Option<String>) -> bool {
    matches!(
        v.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "yes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn path_of(uri: &str) -> String {
        let req = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        strip_version(req).await.uri().to_string()
    }

    #[test]
    fn version_prefixes_are_stripped_and_queries_kept() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(
                path_of("/v1.48/containers/json?all=1").await,
                "/containers/json?all=1"
            );
            assert_eq!(path_of("/v1.24/_ping").await, "/_ping");
            assert_eq!(path_of("/containers/json").await, "/containers/json");
            assert_eq!(path_of("/volumes/v1.2").await, "/volumes/v1.2");
            assert_eq!(path_of("/v1.x/info").await, "/v1.x/info");
            assert_eq!(path_of("/v1.48").await, "/v1.48");
        });
    }

    #[test]
    fn flags_read_as_docker_sends_them() {
        assert!(flag(&Some("1".into())));
        assert!(flag(&Some("True".into())));
        assert!(!flag(&Some("0".into())));
        assert!(!flag(&None));
    }
}
