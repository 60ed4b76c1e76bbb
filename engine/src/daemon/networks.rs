//! Networks: list, inspect, create, remove, prune.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::blocking;
use crate::engine::Engine;
use crate::network::create::NetworkOptions;

/// `GET /networks`: every network, as `network inspect` shows it.
pub async fn list(State(e): State<Engine>) -> Result<Json<Value>, ApiError> {
    let v = blocking(move || {
        e.reconcile_networks()?;
        Ok(e.networks()?
            .iter()
            .map(|n| e.inspect_network(n))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(Value::Array(v)))
}

/// `GET /networks/{id}`.
pub async fn inspect(
    State(e): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = blocking(move || {
        e.reconcile_networks()?;
        Ok(e.inspect_network(&e.network(&id)?))
    })
    .await?;
    Ok(Json(v))
}

/// Body of `POST /networks/create` (the fields baleia uses).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    name: String,
    driver: Option<String>,
    internal: bool,
    labels: Option<BTreeMap<String, String>>,
    options: Option<BTreeMap<String, String>>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
}

/// `IPAM` of a network create body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

/// One `IPAM.Config` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

/// `POST /networks/create`: `{"Id": …, "Warning": ""}`.
pub async fn create(
    State(e): State<Engine>,
    Json(b): Json<CreateBody>,
) -> Result<Response, ApiError> {
    if b.name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    let first = b
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().next())
        .unwrap_or_default();
    let opts = NetworkOptions {
        name: b.name,
        driver: b.driver.filter(|d| !d.is_empty()),
        subnet: first.subnet.filter(|s| !s.is_empty()),
        gateway: first.gateway.filter(|s| !s.is_empty()),
        internal: b.internal,
        labels: b.labels.unwrap_or_default(),
        options: b.options.unwrap_or_default(),
    };
    let n = blocking(move || Ok(e.create_network(&opts)?)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    )
        .into_response())
}

/// `DELETE /networks/{id}`.
pub async fn remove(
    State(e): State<Engine>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || Ok(e.remove_network(&id)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune`: `{"NetworksDeleted": […]}`.
pub async fn prune(State(e): State<Engine>) -> Result<Json<Value>, ApiError> {
    let gone = blocking(move || Ok(e.prune_networks()?)).await?;
    Ok(Json(json!({ "NetworksDeleted": gone })))
}
