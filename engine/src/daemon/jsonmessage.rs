//! Docker's JSON progress messages (`jsonmessage`), one object per line: what `pull`, `push`,
//! `load` and `import` answer with and the docker CLI draws.

use bytes::Bytes;
use serde_json::{json, Value};

use super::errors::ApiError;
use crate::format::progress_bar;
use crate::registry::Progress;

/// The content type of a stream of messages.
pub const CONTENT_TYPE: &str = "application/json";

/// A registry operation's event as Docker's message (`Pushed` is the status line and its `aux`).
pub fn progress(p: &Progress) -> Bytes {
    match p {
        Progress::Start {
            id: Some(id),
            status,
        } => line(&json!({"status": status, "id": id})),
        Progress::Start { id: None, status } | Progress::Line(status) => {
            line(&json!({ "status": status }))
        }
        Progress::Layer {
            id,
            status,
            current,
            total,
        } => {
            let mut v = json!({"status": status, "progressDetail": {}, "id": id});
            if p.is_bar() && *total > 0 {
                v["progressDetail"] = json!({"current": current, "total": total});
                v["progress"] = json!(progress_bar(*current, *total));
            }
            line(&v)
        }
        Progress::Pushed { tag, digest, size } => {
            let mut out = line(&json!({ "status": p.to_string() })).to_vec();
            out.extend_from_slice(&line(&json!({
                "progressDetail": {},
                "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size},
            })));
            Bytes::from(out)
        }
    }
}

/// `{"status": …}`.
pub fn status(s: &str) -> Bytes {
    line(&json!({ "status": s }))
}

/// `{"stream": "…\n"}` (what `load` says).
pub fn stream(s: &str) -> Bytes {
    line(&json!({ "stream": format!("{s}\n") }))
}

/// A failure once the answer is under way: the CLI prints the message and exits 1.
pub fn error(e: &ApiError) -> Option<Bytes> {
    Some(line(
        &json!({"errorDetail": {"message": e.message}, "error": e.message}),
    ))
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).expect("JSON serializes");
    b.push(b'\n');
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn parse(b: &Bytes) -> Vec<Value> {
        b.split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn events_become_dockers_messages() {
        let start = progress(&Progress::Start {
            id: Some("latest".into()),
            status: "Pulling from library/busybox".into(),
        });
        assert_eq!(
            parse(&start),
            [json!({"status": "Pulling from library/busybox", "id": "latest"})]
        );
        let down = progress(&Progress::Layer {
            id: "9ad63333ebc9".into(),
            status: "Downloading".into(),
            current: 5,
            total: 10,
        });
        let v = &parse(&down)[0];
        assert_eq!(v["progressDetail"], json!({"current": 5, "total": 10}));
        assert!(v["progress"].as_str().unwrap().starts_with("[====="));
        let done = progress(&Progress::Layer {
            id: "9ad63333ebc9".into(),
            status: "Pull complete".into(),
            current: 0,
            total: 0,
        });
        assert_eq!(
            parse(&done),
            [json!({"status": "Pull complete", "progressDetail": {}, "id": "9ad63333ebc9"})]
        );
        let d = Digest::of(b"manifest");
        let pushed = parse(&progress(&Progress::Pushed {
            tag: "1".into(),
            digest: d.clone(),
            size: 527,
        }));
        assert_eq!(pushed[0]["status"], format!("1: digest: {d} size: 527"));
        assert_eq!(
            pushed[1]["aux"],
            json!({"Tag": "1", "Digest": d.to_string(), "Size": 527})
        );
        let err = error(&ApiError::internal("boom")).unwrap();
        assert_eq!(
            parse(&err),
            [json!({"errorDetail": {"message": "boom"}, "error": "boom"})]
        );
        assert_eq!(
            parse(&stream("Loaded image: busybox:latest")),
            [json!({"stream": "Loaded image: busybox:latest\n"})]
        );
    }
}
