//! What a pull or push reports as it goes, for the CLI to draw Docker's lines or live display and
//! for the daemon to send Docker's JSON progress messages.

use std::cell::RefCell;

use crate::digest::Digest;

/// What a pull or push shows, event by event (the CLI draws Docker's lines or its live display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The opening line. Pull: `id` is the tag or digest, `status` `Pulling from library/debian`;
    /// push: no `id`, `status` `The push refers to repository [127.0.0.1:5000/busybox]`.
    Start {
        /// What the line is about (Docker shows `ID: STATUS`).
        id: Option<String>,
        /// The words.
        status: String,
    },
    /// One layer (12 hex of its digest) and its status: pull: "Pulling fs layer", "Already exists",
    /// "Waiting", "Downloading", "Verifying Checksum", "Download complete", "Extracting",
    /// "Pull complete"; push: "Preparing", "Waiting", "Pushing", "Pushed", "Layer already exists".
    /// `current`/`total` bytes for Downloading/Pushing/Extracting.
    Layer {
        /// 12 hex characters of the layer's digest.
        id: String,
        /// Docker's word for where the layer is.
        status: String,
        /// Bytes done.
        current: u64,
        /// Bytes in all (0 when unknown or irrelevant).
        total: u64,
    },
    /// A final line: `Digest: sha256:…`, `Status: Downloaded newer image for debian:latest`,
    /// `Status: Image is up to date for …`.
    Line(String),
    /// A tag was pushed: its manifest's digest and size (`latest: digest: sha256:… size: 529`).
    Pushed {
        /// The tag.
        tag: String,
        /// The manifest's digest.
        digest: Digest,
        /// The manifest's size in bytes.
        size: u64,
    },
}

impl Progress {
    /// Whether this is a layer line that only moves a progress bar (Docker leaves these out
    /// when its output is not a terminal).
    pub fn is_bar(&self) -> bool {
        matches!(self, Progress::Layer { status, .. }
            if matches!(status.as_str(), "Downloading" | "Extracting" | "Pushing"))
    }
}

/// The line Docker prints for the event, without a bar: `latest: Pulling from library/debian`,
/// `9ad63333ebc9: Pull complete`, `v1: digest: sha256:… size: 529`.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Start {
                id: Some(id),
                status,
            } => write!(f, "{id}: {status}"),
            Progress::Start { id: None, status } | Progress::Line(status) => f.write_str(status),
            Progress::Layer { id, status, .. } => write!(f, "{id}: {status}"),
            Progress::Pushed { tag, digest, size } => {
                write!(f, "{tag}: digest: {digest} size: {size}")
            }
        }
    }
}

/// The caller's progress callback, shared by the concurrent transfers of one operation (they all
/// run on the one runtime thread, so a `RefCell` suffices).
pub(super) struct Reporter<'a> {
    sink: RefCell<&'a mut dyn FnMut(Progress)>,
}

impl<'a> Reporter<'a> {
    /// Wrap a callback.
    pub fn new(sink: &'a mut dyn FnMut(Progress)) -> Self {
        Reporter {
            sink: RefCell::new(sink),
        }
    }
    /// Report one event.
    pub fn emit(&self, p: Progress) {
        (self.sink.borrow_mut())(p)
    }
    /// Report a layer's status.
    pub fn layer(&self, id: &str, status: &str, current: u64, total: u64) {
        self.emit(Progress::Layer {
            id: id.to_string(),
            status: status.to_string(),
            current,
            total,
        })
    }
    /// Report a final line.
    pub fn line(&self, s: impl Into<String>) {
        self.emit(Progress::Line(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_docker_prints_them() {
        let start = Progress::Start {
            id: Some("latest".into()),
            status: "Pulling from library/busybox".into(),
        };
        assert_eq!(start.to_string(), "latest: Pulling from library/busybox");
        let pushed = Progress::Pushed {
            tag: "v1".into(),
            digest: Digest::of(b"m"),
            size: 529,
        };
        assert_eq!(
            pushed.to_string(),
            format!("v1: digest: {} size: 529", Digest::of(b"m"))
        );
        let down = Progress::Layer {
            id: "9ad63333ebc9".into(),
            status: "Downloading".into(),
            current: 1,
            total: 2,
        };
        assert!(down.is_bar());
        assert_eq!(down.to_string(), "9ad63333ebc9: Downloading");
    }
}
