//! The tags index, `repositories.json`, in Docker's format:
//! `{"Repositories": {"debian": {"debian:latest": "sha256:…", "debian@sha256:…": "sha256:…"}}}`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;

/// Repository name → reference (`name:tag` or `name@digest`) → image ID.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Repositories {
    #[serde(rename = "Repositories", default)]
    repos: BTreeMap<String, BTreeMap<String, Digest>>,
}

impl Repositories {
    /// Read the index (an absent file is an empty index).
    pub fn load(path: &Path) -> Result<Repositories> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                what: path.display().to_string(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Repositories::default()),
            Err(e) => Err(e).at(path),
        }
    }

    /// Write the index atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("repositories serialize");
        write_atomic(path, &bytes)
    }

    /// The image a tagged or digested reference points to.
    pub fn lookup(&self, r: &Reference) -> Option<&Digest> {
        let name = r.familiar_name();
        let key = match (&r.digest, &r.tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => format!("{name}:latest"),
        };
        self.repos.get(&name)?.get(&key)
    }

    /// Point `r` at `id`; returns the image it pointed to before, if another.
    pub fn add(&mut self, r: &Reference, id: &Digest) -> Option<Digest> {
        let name = r.familiar_name();
        let key = match (&r.digest, &r.tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, t) => format!("{name}:{}", t.as_deref().unwrap_or("latest")),
        };
        let old = self.repos.entry(name).or_default().insert(key, id.clone());
        old.filter(|o| o != id)
    }

    /// Remove a reference key (`name:tag` or `name@digest`); returns the image it named.
    pub fn remove(&mut self, key: &str) -> Option<Digest> {
        let name = key
            .rsplit_once('@')
            .map(|(n, _)| n)
            .unwrap_or_else(|| split_tag(key).0);
        let repo = self.repos.get_mut(name)?;
        let id = repo.remove(key);
        if repo.is_empty() {
            self.repos.remove(name);
        }
        id
    }

    /// `name:tag` references of an image, sorted.
    pub fn tags_of(&self, id: &Digest) -> Vec<String> {
        self.keys_of(id).filter(|k| !k.contains('@')).collect()
    }

    /// `name@sha256:…` references of an image, sorted.
    pub fn digests_of(&self, id: &Digest) -> Vec<String> {
        self.keys_of(id).filter(|k| k.contains('@')).collect()
    }

    fn keys_of<'a>(&'a self, id: &'a Digest) -> impl Iterator<Item = String> + 'a {
        self.repos
            .values()
            .flat_map(|m| m.iter())
            .filter(move |(_, v)| *v == id)
            .map(|(k, _)| k.clone())
    }

    /// `(name:tag, image)` for every tag of one repository.
    pub fn repo_tags(&self, familiar: &str) -> Vec<(String, Digest)> {
        self.repos
            .get(familiar)
            .into_iter()
            .flatten()
            .filter(|(k, _)| !k.contains('@'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every image that has at least one reference.
    pub fn referenced(&self) -> impl Iterator<Item = &Digest> {
        self.repos.values().flat_map(|m| m.values())
    }
}

/// Split `name:tag` at the tag's colon (a registry port's colon is not a tag).
pub fn split_tag(key: &str) -> (&str, &str) {
    let slash = key.rfind('/').map_or(0, |i| i + 1);
    match key[slash..].rfind(':') {
        Some(i) => (&key[..slash + i], &key[slash + i + 1..]),
        None => (key, ""),
    }
}

/// Write a file through a temporary sibling and a rename, so readers never see half of it, and
/// fsync it, so the store survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replace(path, bytes, true)
}

/// Like [`write_atomic`], with the fsync optional: container state is rewritten on every start
/// and stop, and is reconciled after a crash anyway, so it skips it (fsync is the start path's
/// largest cost on a busy disk).
pub fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        if durable {
            f.sync_all().at(&tmp)?;
        }
    }
    fs::rename(&tmp, path).at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_in_dockers_format() {
        let id = Digest::of(b"cfg");
        let mut r = Repositories::default();
        assert_eq!(
            r.add(&Reference::parse_tagged("debian").unwrap(), &id),
            None
        );
        r.add(&Reference::parse("debian:bookworm").unwrap(), &id);
        r.add(
            &Reference::parse_tagged("127.0.0.1:5000/lab/busybox").unwrap(),
            &id,
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with(r#"{"Repositories":{"127.0.0.1:5000/lab/busybox":{"127.0.0.1:5000/lab/busybox:latest":"sha256:"#), "{json}");
        assert_eq!(
            r.tags_of(&id),
            [
                "127.0.0.1:5000/lab/busybox:latest",
                "debian:bookworm",
                "debian:latest"
            ]
        );
        assert_eq!(
            r.lookup(&Reference::parse("docker.io/library/debian").unwrap()),
            Some(&id)
        );
        assert_eq!(
            r.remove("127.0.0.1:5000/lab/busybox:latest"),
            Some(id.clone())
        );
        assert_eq!(r.tags_of(&id).len(), 2);
        let other = Digest::of(b"other");
        assert_eq!(
            r.add(&Reference::parse("debian:latest").unwrap(), &other),
            Some(id)
        );
    }
}
