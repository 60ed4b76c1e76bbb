//! `GET /images/search?term=&limit=&filters=`: the engine's search (Docker Hub's, or a
//! registry's catalog for `HOST:PORT/term`) in Docker's JSON.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth;
use super::containers::parse_filters;
use super::errors::ApiError;
use super::routes::blocking;
use crate::engine::Engine;
use crate::registry::SearchResult;

/// Docker's default number of results.
const DEFAULT_LIMIT: usize = 25;

/// Query of `GET /images/search`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    term: String,
    limit: Option<String>,
    filters: Option<String>,
}

/// `GET /images/search`: `[{"name", "description", "star_count", "is_official", "is_automated"}]`.
pub async fn search(
    State(e): State<Engine>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
    };
    let filters = match q.filters.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => parse_filters(f)?,
        None => Default::default(),
    };
    let mut min_stars = 0;
    let mut official = None;
    let mut automated = None;
    for (k, vals) in &filters {
        for v in vals {
            let bad = || ApiError::bad_request(format!("invalid filter '{k}={v}'"));
            match k.as_str() {
                "stars" => min_stars = v.parse().map_err(|_| bad())?,
                "is-official" => official = Some(v.parse::<bool>().map_err(|_| bad())?),
                "is-automated" => automated = Some(v.parse::<bool>().map_err(|_| bad())?),
                _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            }
        }
    }
    let credentials = auth::from_headers(&headers)?;
    let term = q.term;
    let found = blocking(move || Ok(e.search_with(&term, limit, credentials.as_ref())?)).await?;
    let keep = |r: &SearchResult| {
        // Nothing baleia finds is an automated build.
        r.star_count >= min_stars
            && official.is_none_or(|o| o == r.is_official)
            && automated.is_none_or(|a| !a)
    };
    Ok(Json(Value::Array(
        found
            .iter()
            .filter(|r| keep(r))
            .map(|r| {
                json!({
                    "name": r.name,
                    "description": r.description,
                    "star_count": r.star_count,
                    "is_official": r.is_official,
                    "is_automated": false,
                })
            })
            .collect(),
    )))
}
