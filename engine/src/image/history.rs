//! `history`: the steps that built an image, newest first, with the size each layer added.

use chrono::{DateTime, Utc};

use super::parse_time;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Result;
use crate::lock::Mode;

/// A row of `history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    /// The image ID on the newest row; `None` (shown `<missing>`) below it.
    pub id: Option<Digest>,
    /// When the step ran.
    pub created: Option<DateTime<Utc>>,
    /// The command of the step.
    pub created_by: String,
    /// Bytes the step's layer added (0 for steps that made no layer).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// Tags of the image, on the newest row.
    pub tags: Vec<String>,
}

impl Engine {
    /// History rows of the image `name` names, newest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryRow>> {
        let _lock = self.lock(Mode::Shared)?;
        let image = self.resolve_image(name)?;
        let layers = self.image_layers(&image)?;
        let mut sizes = layers.iter().map(|l| l.size);
        let mut rows: Vec<HistoryRow> = match image.config.history() {
            Some(h) if !h.is_empty() => h
                .iter()
                .map(|e| HistoryRow {
                    id: None,
                    created: e.created().as_deref().and_then(parse_time),
                    created_by: e.created_by().clone().unwrap_or_default(),
                    size: if e.empty_layer().unwrap_or(false) {
                        0
                    } else {
                        sizes.next().unwrap_or(0)
                    },
                    comment: e.comment().clone().unwrap_or_default(),
                    tags: Vec::new(),
                })
                .collect(),
            _ => layers
                .iter()
                .map(|l| HistoryRow {
                    id: None,
                    created: image.created(),
                    created_by: String::new(),
                    size: l.size,
                    comment: String::new(),
                    tags: Vec::new(),
                })
                .collect(),
        };
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = Some(image.id.clone());
            top.tags = self.images.repositories()?.tags_of(&image.id);
        }
        Ok(rows)
    }
}
