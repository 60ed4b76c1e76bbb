//! `POST /networks/{id}/connect` and `/networks/{id}/disconnect`: a container joins or leaves a
//! network (at once if it runs), through the operations `baleia network connect|disconnect` use.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::errors::ApiError;
use super::routes::blocking;
use crate::engine::Engine;

/// Body of `connect`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
}

/// The endpoint asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointConfig {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamConfig>,
}

/// A static address asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamConfig {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
}

/// Body of `disconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectBody {
    container: String,
    force: bool,
}

/// `POST /networks/{id}/connect`: 200; 404 for an unknown network or container, 403 if it is
/// connected already, 400 for a container on the host's or another container's network stack.
pub async fn connect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Json(b): Json<ConnectBody>,
) -> Result<StatusCode, ApiError> {
    if b.container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    let ep = b.endpoint_config.unwrap_or_default();
    let aliases = ep.aliases.unwrap_or_default();
    let ip = match ep.ipam_config.and_then(|i| i.ipv4_address) {
        Some(a) if !a.is_empty() => Some(
            a.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {a}")))?,
        ),
        _ => None,
    };
    blocking(move || Ok(e.connect_network(&id, &b.container, &aliases, ip)?)).await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`: 200; 404 for an unknown network or container.
pub async fn disconnect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Json(b): Json<DisconnectBody>,
) -> Result<StatusCode, ApiError> {
    if b.container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    blocking(move || Ok(e.disconnect_network(&id, &b.container, b.force)?)).await?;
    Ok(StatusCode::OK)
}
