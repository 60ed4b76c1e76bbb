//! baleia-engine: a small container engine. Image store, image archives, and (later) containers
//! and networks. No terminal code here: the `baleia` CLI, the daemon and the lab runner are faces on it.
