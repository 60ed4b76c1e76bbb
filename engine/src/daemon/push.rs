//! `POST /images/{name}/push?tag=`: push with Docker's progress messages streamed as the engine
//! reports them, ending with `TAG: digest: sha256:… size: N` and its `aux`.

use axum::http::HeaderMap;
use axum::response::Response;

use super::errors::ApiError;
use super::stream::{self, Msg};
use super::{auth, jsonmessage};
use crate::engine::Engine;

/// Push `name` with `tag` (every local tag of the repository when no tag is named).
pub async fn push(
    e: Engine,
    name: &str,
    tag: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let credentials = auth::from_headers(headers)?;
    let (name, all_tags) = match tag.filter(|t| !t.is_empty()) {
        Some(t) => (format!("{name}:{t}"), false),
        None => {
            let r = crate::reference::Reference::parse(name)?;
            (name.to_string(), r.tag.is_none())
        }
    };
    let (tx, msgs) = stream::unbounded();
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let pushed = e.push_with(&name, all_tags, credentials.as_ref(), &mut |p| {
            let _ = progress.send(Msg::Data(jsonmessage::progress(&p)));
        });
        if let Err(err) = pushed {
            let _ = tx.send(Msg::Failed(err.into()));
        }
    });
    stream::answer(msgs, jsonmessage::CONTENT_TYPE, jsonmessage::error).await
}
