//! `POST /images/create?fromSrc=-`: a root filesystem tarball in the body becomes a one-layer
//! image, as `docker import` makes it; the answer is its ID as a progress message.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::pull::{param, Pairs};
use super::routes::blocking;
use super::{body, jsonmessage};
use crate::archive::import::ImportOptions;
use crate::engine::Engine;
use crate::reference::Reference;

/// Import the body (`src` must be `-`: baleia fetches no URLs) with the query's `repo`, `tag`,
/// `changes` and `message`.
pub async fn import(e: Engine, src: &str, q: &Pairs, input: Body) -> Result<Response, ApiError> {
    if src != "-" {
        return Err(ApiError::bad_request(format!(
            "importing from {src:?} is not supported: send the tarball in the request body (fromSrc=-)"
        )));
    }
    let reference = match (param(q, "repo"), param(q, "tag")) {
        (Some(repo), Some(tag)) => Some(Reference::parse_tagged(&format!("{repo}:{tag}"))?),
        (Some(repo), None) => Some(Reference::parse_tagged(repo)?),
        (None, _) => None,
    };
    let opts = ImportOptions {
        source: src.to_string(),
        reference,
        changes: q
            .iter()
            .filter(|(k, v)| k == "changes" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect(),
        message: param(q, "message").map(String::from),
    };
    let (reader, feed) = body::reader(input);
    let id = blocking(move || Ok(e.import(reader, &opts)?)).await;
    // The client may still be sending: let it finish before it reads the answer.
    let _ = feed.await;
    let id = id?;
    Ok((
        [(header::CONTENT_TYPE, jsonmessage::CONTENT_TYPE)],
        jsonmessage::status(&id.to_string()),
    )
        .into_response())
}
