//! What a pull or push reports as it goes, for the CLI to draw Docker's lines or live display.

use std::cell::RefCell;

/// What a pull or push shows, event by event (the CLI draws Docker's lines or its live display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `latest: Pulling from library/debian` (pull) / `The push refers to repository [127.0.0.1:5000/busybox]` (push).
    Start(String),
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
    /// `Status: Image is up to date for …`, `latest: digest: sha256:… size: 529`.
    Line(String),
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
