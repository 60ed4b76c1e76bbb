//! Image archives over the API: `GET /images/{name}/get` and `GET /images/get?names=` stream the
//! tar `save` writes as it is written; `POST /images/load` feeds the body to `load` as it arrives.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::routes::blocking;
use super::stream::{self, ChunkWriter};
use super::{body, jsonmessage};
use crate::engine::Engine;
use crate::error::IoContext;

/// The content type of an image archive.
const TAR: &str = "application/x-tar";

/// `GET /images/get?names=a&names=b`.
pub async fn get(
    State(e): State<Engine>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let names: Vec<String> = q
        .into_iter()
        .filter(|(k, v)| k == "names" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("no images to save: give names="));
    }
    save(e, names).await
}

/// The archive of `names`, streamed; a failure before the first bytes (no such image) is an error
/// answer, one later cuts the archive short so it cannot pass for a whole one.
pub async fn save(e: Engine, names: Vec<String>) -> Result<Response, ApiError> {
    let (mut w, msgs) = ChunkWriter::new();
    tokio::task::spawn_blocking(move || {
        let saved = e
            .save(&names, &mut w)
            .and_then(|()| std::io::Write::flush(&mut w).on("sending the archive"));
        if let Err(err) = saved {
            w.fail(err.into());
        }
    });
    stream::answer(msgs, TAR, |_| None).await
}

/// `POST /images/load?quiet=`: `Loaded image: busybox:latest` lines; a malformed archive stores
/// nothing and is a 400.
pub async fn load(State(e): State<Engine>, input: Body) -> Result<Response, ApiError> {
    let (reader, feed) = body::reader(input);
    let events = blocking(move || Ok(e.load(reader)?)).await;
    // The client may still be sending: let it finish before it reads the answer.
    let _ = feed.await;
    let out: Vec<u8> = events?
        .iter()
        .flat_map(|ev| jsonmessage::stream(&ev.to_string()))
        .collect();
    Ok(([(header::CONTENT_TYPE, jsonmessage::CONTENT_TYPE)], out).into_response())
}
