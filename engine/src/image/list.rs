//! `images`: one row per tag (or one `<none>` row for an untagged image), newest first.

use chrono::{DateTime, Utc};

use super::repositories::split_tag;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Result;
use crate::lock::Mode;
use crate::reference::Reference;

/// A row of `images`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSummary {
    /// Image ID.
    pub id: Digest,
    /// Repository, or `<none>`.
    pub repository: String,
    /// Tag, or `<none>`.
    pub tag: String,
    /// Registry digest of this repository's image, or `<none>`.
    pub digest: String,
    /// When the image was built.
    pub created: Option<DateTime<Utc>>,
    /// Bytes of all its layers' content.
    pub size: u64,
}

impl Engine {
    /// Image rows, optionally only those matching `REPOSITORY[:TAG]`; untagged images only without a filter.
    pub fn list_images(&self, filter: Option<&str>) -> Result<Vec<ImageSummary>> {
        let _lock = self.lock(Mode::Shared)?;
        let want = filter
            .map(|f| Reference::parse(f).map(|r| (r.familiar_name(), r.tag)))
            .transpose()?;
        let repos = self.images.repositories()?;
        let mut rows = Vec::new();
        for id in self.images.ids()? {
            let Some(img) = self.images.get(&id)? else {
                continue;
            };
            let size = self.image_layers(&img)?.iter().map(|l| l.size).sum();
            let digests = repos.digests_of(&id);
            let digest_for = |repo: &str| {
                digests
                    .iter()
                    .find_map(|d| {
                        d.rsplit_once('@')
                            .filter(|(n, _)| *n == repo)
                            .map(|(_, d)| d.to_string())
                    })
                    .unwrap_or_else(|| "<none>".into())
            };
            let tags = repos.tags_of(&id);
            let row = |repository: String, tag: String, digest: String| ImageSummary {
                id: id.clone(),
                repository,
                tag,
                digest,
                created: img.created(),
                size,
            };
            if tags.is_empty() {
                // Pulled by digest only: its repository, no tag, as Docker lists it.
                let by_digest: Vec<(&str, &str)> =
                    digests.iter().filter_map(|d| d.rsplit_once('@')).collect();
                if by_digest.is_empty() && want.is_none() {
                    rows.push(row("<none>".into(), "<none>".into(), "<none>".into()));
                }
                for (repo, digest) in by_digest {
                    if want
                        .as_ref()
                        .is_none_or(|(name, tag)| name == repo && tag.is_none())
                    {
                        rows.push(row(repo.to_string(), "<none>".into(), digest.to_string()));
                    }
                }
                continue;
            }
            for t in tags {
                let (repo, tag) = split_tag(&t);
                if let Some((name, wtag)) = &want {
                    if repo != name || wtag.as_deref().is_some_and(|w| w != tag) {
                        continue;
                    }
                }
                rows.push(row(repo.to_string(), tag.to_string(), digest_for(repo)));
            }
        }
        rows.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| a.repository.cmp(&b.repository))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        Ok(rows)
    }
}
