//! Images: list, inspect, history, tag, remove; the catch-all `/images/{*rest}` routes (names hold
//! slashes) also hand `…/get` to [`super::archive`] and `…/push` to [`super::push`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::{blocking, flag};
use super::{archive, push};
use crate::engine::Engine;
use crate::image::remove::RemoveEvent;

/// `GET /images/json`: one summary per image, its tags and digests gathered.
pub async fn list(State(e): State<Engine>) -> Result<Json<Value>, ApiError> {
    let v = blocking(move || {
        let rows = e.list_images(None)?;
        let mut order = Vec::new();
        let mut by_id: HashMap<String, Value> = HashMap::new();
        for r in rows {
            let id = r.id.to_string();
            let entry = by_id.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                let labels = e
                    .images
                    .get(&r.id)
                    .ok()
                    .flatten()
                    .and_then(|i| i.json().pointer("/config/Labels").cloned())
                    .unwrap_or(Value::Null);
                json!({
                    "Id": id, "ParentId": "", "RepoTags": [], "RepoDigests": [],
                    "Created": r.created.map(|c| c.timestamp()).unwrap_or(0),
                    "Size": r.size, "SharedSize": -1, "Labels": labels, "Containers": -1,
                })
            });
            if r.tag != "<none>" {
                push(entry, "RepoTags", format!("{}:{}", r.repository, r.tag));
            }
            if r.digest != "<none>" {
                push(
                    entry,
                    "RepoDigests",
                    format!("{}@{}", r.repository, r.digest),
                );
            }
        }
        Ok(Value::Array(
            order
                .into_iter()
                .filter_map(|id| by_id.remove(&id))
                .collect(),
        ))
    })
    .await?;
    Ok(Json(v))
}

fn push(entry: &mut Value, key: &str, item: String) {
    if let Some(a) = entry.get_mut(key).and_then(Value::as_array_mut) {
        if !a.iter().any(|x| x == &Value::String(item.clone())) {
            a.push(Value::String(item));
        }
    }
}

/// `GET /images/{name}/json`, `…/history` and `…/get` (names may hold slashes).
pub async fn get_any(
    State(e): State<Engine>,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        return Ok(Json(blocking(move || Ok(e.inspect_image(&name)?)).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return archive::save(e, vec![name.to_string()]).await;
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        let v = blocking(move || {
            let rows = e.history(&name)?;
            Ok(rows
                .iter()
                .map(|r| {
                    json!({
                        "Id": r.id.as_ref().map(|d| d.to_string()).unwrap_or_else(|| "<missing>".into()),
                        "Created": r.created.map(|c| c.timestamp()).unwrap_or(0),
                        "CreatedBy": r.created_by,
                        "Tags": if r.tags.is_empty() { Value::Null } else { json!(r.tags) },
                        "Size": r.size,
                        "Comment": r.comment,
                    })
                })
                .collect::<Vec<_>>())
        })
        .await?;
        return Ok(Json(Value::Array(v)).into_response());
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

/// Query of `POST /images/{name}/tag` and `…/push`.
#[derive(Debug, Deserialize)]
pub struct PostQuery {
    repo: Option<String>,
    tag: Option<String>,
}

/// `POST /images/{name}/tag?repo=&tag=` and `POST /images/{name}/push?tag=`.
pub async fn post_any(
    State(e): State<Engine>,
    Path(rest): Path<String>,
    Query(q): Query<PostQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(name) = rest.strip_suffix("/push") {
        return push::push(e, name, q.tag.as_deref(), &headers).await;
    }
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError::not_found(format!(
            "page not found: /images/{rest} (baleia's daemon does not do this yet)"
        )));
    };
    let name = name.to_string();
    let repo = q
        .repo
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let target = match q.tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    blocking(move || Ok(e.tag(&name, &target)?)).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// Query of `DELETE /images/{name}`.
#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    force: Option<String>,
}

/// `DELETE /images/{name}?force=`: what was untagged and deleted.
pub async fn delete(
    State(e): State<Engine>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<Json<Value>, ApiError> {
    let force = flag(&q.force);
    let events = blocking(move || Ok(e.remove_image(&name, force)?)).await?;
    Ok(Json(Value::Array(
        events
            .iter()
            .map(|ev| match ev {
                RemoveEvent::Untagged(r) => json!({ "Untagged": r }),
                RemoveEvent::Deleted(d) => json!({ "Deleted": d.to_string() }),
            })
            .collect(),
    )))
}
