//! The attach and exec streams as Docker sends them: a `101` upgrade naming the stream's kind, and
//! without a terminal the 8-byte frames of Docker's `stdcopy` (stream, three zeros, big-endian length).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One stdcopy frame: stream 1 (stdout) or 2 (stderr), then `data`.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// The `101 UPGRADED` answer of an attach or an exec start: a raw stream with a terminal, a
/// multiplexed one without.
pub fn upgraded(tty: bool) -> Response {
    let kind = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut res = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_upgrades_are_dockers() {
        assert_eq!(frame(2, b"hi"), [2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        let r = upgraded(false);
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/vnd.docker.multiplexed-stream"
        );
        assert_eq!(
            upgraded(true).headers()[header::CONTENT_TYPE],
            "application/vnd.docker.raw-stream"
        );
    }
}
