//! Failures the framework answers by itself (a body that is not JSON, a bad query, a body over
//! the limit, a wrong method) get Docker's `{"message": …}` shape too, so every client prints them.

use axum::body::to_bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// The most a framework rejection's text is read (they are one line).
const MAX_TEXT: usize = 64 * 1024;

/// Turn a plain-text error answer into Docker's JSON error with the same status.
pub async fn as_json(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match to_bytes(body, MAX_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    } else {
        text
    };
    let mut out = ApiError { status, message }.into_response();
    for (k, v) in parts.headers.iter() {
        if k != CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;

    async fn message(res: Response) -> (StatusCode, serde_json::Value) {
        let status = res.status();
        let b = to_bytes(res.into_body(), MAX_TEXT).await.unwrap();
        (status, serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn plain_text_rejections_become_docker_errors() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(rejections());
    }

    async fn rejections() {
        let res = (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Failed to parse the request body as JSON",
        )
            .into_response();
        let (status, v) = message(as_json(res).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(v["message"], "Failed to parse the request body as JSON");
        let empty = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Body::empty())
            .unwrap();
        let (_, v) = message(as_json(empty).await).await;
        assert_eq!(v["message"], "Method Not Allowed");
        let ok = (StatusCode::OK, "OK").into_response();
        assert_eq!(
            to_bytes(as_json(ok).await.into_body(), 10).await.unwrap(),
            "OK"
        );
    }
}
