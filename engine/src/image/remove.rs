//! `rmi`: untag, and delete an image (and the layers only it used) once nothing names it.

use std::collections::BTreeSet;

use super::repositories::split_tag;
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::layer;
use crate::lock::Mode;
use crate::reference::Reference;

/// A line of `rmi`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A reference was removed.
    Untagged(String),
    /// An image or layer was deleted.
    Deleted(Digest),
}

impl std::fmt::Display for RemoveEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveEvent::Untagged(r) => write!(f, "Untagged: {r}"),
            RemoveEvent::Deleted(d) => write!(f, "Deleted: {d}"),
        }
    }
}

impl Engine {
    /// Remove the image `name` names, as `docker rmi [-f] name` does.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let _lock = self.lock(Mode::Exclusive)?;
        let image = self.resolve_image(name)?;
        let mut repos = self.images.repositories()?;
        let mut events = Vec::new();
        let by_reference = Reference::parse_tagged(name)
            .ok()
            .filter(|r| repos.lookup(r) == Some(&image.id));
        let in_use =
            self.check_image_users(name, &image.id, by_reference.is_some(), &repos, force)?;
        if let Some(r) = by_reference {
            let key = r.familiar_tagged().unwrap_or_else(|| r.to_string());
            let key = if r.digest.is_some() {
                r.to_string()
            } else {
                key
            };
            repos.remove(&key);
            events.push(RemoveEvent::Untagged(key.clone()));
            if r.digest.is_none() {
                // As Docker: the last tag of a repository takes the repository's digest
                // references (`name@sha256:…`, recorded by pull and push) with it.
                let repo = split_tag(&key).0;
                let tags_left = repos
                    .tags_of(&image.id)
                    .iter()
                    .any(|t| split_tag(t).0 == repo);
                if !tags_left {
                    for d in repos.digests_of(&image.id) {
                        if d.rsplit_once('@').map(|(n, _)| n) == Some(repo) {
                            repos.remove(&d);
                            events.push(RemoveEvent::Untagged(d));
                        }
                    }
                }
            }
            if !repos.tags_of(&image.id).is_empty() || !repos.digests_of(&image.id).is_empty() {
                self.images.save_repositories(&repos)?;
                return Ok(events);
            }
        } else {
            let refs: Vec<String> = repos
                .tags_of(&image.id)
                .into_iter()
                .chain(repos.digests_of(&image.id))
                .collect();
            let repo_names: BTreeSet<&str> = refs
                .iter()
                .map(|k| {
                    k.rsplit_once('@')
                        .map_or_else(|| split_tag(k).0, |(n, _)| n)
                })
                .collect();
            if repo_names.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    image.id.short()
                )));
            }
            for k in refs {
                repos.remove(&k);
                events.push(RemoveEvent::Untagged(k));
            }
        }
        self.images.save_repositories(&repos)?;
        if in_use {
            return Ok(events); // Docker keeps an image a container uses.
        }
        self.images.remove(&image.id)?;
        events.push(RemoveEvent::Deleted(image.id.clone()));
        let chains = layer::chain_ids(&image.diff_ids()?);
        let mut removed: Vec<Digest> = self
            .collect_garbage()?
            .into_iter()
            .map(|l| l.chain)
            .collect();
        removed.sort_by_key(|c| std::cmp::Reverse(chains.iter().position(|x| x == c)));
        events.extend(removed.into_iter().map(RemoveEvent::Deleted));
        Ok(events)
    }
}
