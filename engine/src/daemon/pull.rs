//! `POST /images/create`: pull (`fromImage`, `tag`) with Docker's progress messages streamed as
//! the engine reports them, or import a root filesystem tarball from the body (`fromSrc=-`).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::errors::ApiError;
use super::stream::{self, Msg};
use super::{auth, import, jsonmessage};
use crate::engine::Engine;
use crate::reference::Reference;

/// The query's pairs in order (`changes` may repeat).
pub type Pairs = Vec<(String, String)>;

/// The first non-empty value of `key`.
pub fn param<'a>(q: &'a Pairs, key: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// `POST /images/create?fromImage=&tag=` (pull) or `?fromSrc=-&repo=&tag=&changes=&message=`
/// (import).
pub async fn create(
    State(e): State<Engine>,
    headers: HeaderMap,
    Query(q): Query<Pairs>,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(src) = param(&q, "fromSrc") {
        return import::import(e, src, &q, body).await;
    }
    let from = param(&q, "fromImage")
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let (name, all_tags) = target(from, param(&q, "tag"))?;
    let credentials = auth::from_headers(&headers)?;
    let (tx, msgs) = stream::unbounded();
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let pulled = e.pull_with(&name, all_tags, credentials.as_ref(), &mut |p| {
            let _ = progress.send(Msg::Data(jsonmessage::progress(&p)));
        });
        if let Err(err) = pulled {
            let _ = tx.send(Msg::Failed(err.into()));
        }
    });
    stream::answer(msgs, jsonmessage::CONTENT_TYPE, jsonmessage::error).await
}

/// What to pull: `fromImage` with `tag` (a tag, or a digest) put in place of its own; every tag
/// of the repository when neither names one (Docker's API: an empty tag pulls all tags).
fn target(from: &str, tag: Option<&str>) -> Result<(String, bool), ApiError> {
    let mut r = Reference::parse(from)?;
    match tag {
        Some(t) if t.contains(':') => {
            r.digest = Some(
                t.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid digest {t:?}")))?,
            );
            r.tag = None;
        }
        Some(t) => {
            r.tag = Some(t.to_string());
            r.digest = None;
        }
        None => {}
    }
    let all_tags = r.tag.is_none() && r.digest.is_none();
    let name = if all_tags {
        r.familiar_name()
    } else {
        r.to_string()
    };
    Ok((name, all_tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_or_digest_goes_in_place_of_the_names_own() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            target("127.0.0.1:5000/x/busybox", Some("1")).unwrap(),
            ("127.0.0.1:5000/x/busybox:1".into(), false)
        );
        assert_eq!(
            target("busybox:old", Some("latest")).unwrap(),
            ("busybox:latest".into(), false)
        );
        assert_eq!(
            target("busybox", Some(&d)).unwrap(),
            (format!("busybox@{d}"), false)
        );
        assert_eq!(
            target("busybox:1.36", None).unwrap(),
            ("busybox:1.36".into(), false)
        );
        assert_eq!(target("busybox", None).unwrap(), ("busybox".into(), true));
        assert!(target("busybox", Some("sha256:nothex")).is_err());
        assert!(target("UPPER", Some("1")).is_err());
    }
}
