//! The image store: configs by image ID (`imagedb/content/sha256/<id>`, the exact bytes, so the ID is
//! the sha256 of the file) and the tags index.

pub mod history;
pub mod inspect;
pub mod list;
pub mod remove;
pub mod repositories;
pub mod tag;

use std::fs;

use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::paths::Paths;
use repositories::{write_atomic, Repositories};

/// An image: its config bytes and what they say.
#[derive(Debug, Clone)]
pub struct Image {
    /// sha256 of the config bytes: the image ID.
    pub id: Digest,
    /// The config exactly as stored.
    pub raw: Vec<u8>,
    /// The parsed config.
    pub config: ImageConfiguration,
}

impl Image {
    /// Parse config bytes; `what` names them in errors.
    pub fn from_bytes(raw: Vec<u8>, what: &str) -> Result<Image> {
        let config: ImageConfiguration =
            serde_json::from_slice(&raw).map_err(|source| Error::Json {
                what: what.to_string(),
                source,
            })?;
        let img = Image {
            id: Digest::of(&raw),
            raw,
            config,
        };
        img.diff_ids()?;
        Ok(img)
    }

    /// The layers' diff IDs, bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| {
                d.parse().map_err(|_| {
                    Error::InvalidArchive(format!("image {}: bad diff_id {d:?}", self.id))
                })
            })
            .collect()
    }

    /// When the image was built, if it says.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.config.created().as_deref().and_then(parse_time)
    }

    /// The config as generic JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.raw).unwrap_or_default()
    }
}

/// Parse an RFC 3339 time as images carry them.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Image configs and tags of one state root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    paths: Paths,
}

impl ImageStore {
    /// The image store of `paths`.
    pub fn new(paths: Paths) -> Self {
        ImageStore { paths }
    }

    /// The image with this ID, if stored.
    pub fn get(&self, id: &Digest) -> Result<Option<Image>> {
        let p = self.paths.image_config(id);
        match fs::read(&p) {
            Ok(raw) => {
                let img = Image::from_bytes(raw, &p.display().to_string())?;
                if img.id != *id {
                    return Err(Error::Corrupt(format!(
                        "{} does not hash to its name",
                        p.display()
                    )));
                }
                Ok(Some(img))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(p),
        }
    }

    /// Store config bytes (idempotent); returns the image ID.
    pub fn put(&self, raw: &[u8]) -> Result<Digest> {
        let id = Digest::of(raw);
        let p = self.paths.image_config(&id);
        if !p.exists() {
            write_atomic(&p, raw)?;
        }
        Ok(id)
    }

    /// Every stored image ID.
    pub fn ids(&self) -> Result<Vec<Digest>> {
        let Ok(rd) = fs::read_dir(self.paths.image_configs_dir()) else {
            return Ok(Vec::new());
        };
        Ok(rd
            .flatten()
            .filter_map(|e| Digest::from_hex(&e.file_name().to_string_lossy()))
            .collect())
    }

    /// Images whose ID starts with `prefix` (hex, no algorithm).
    pub fn search(&self, prefix: &str) -> Result<Vec<Digest>> {
        Ok(self
            .ids()?
            .into_iter()
            .filter(|d| d.hex().starts_with(prefix))
            .collect())
    }

    /// Forget an image's config and metadata (tags are the caller's business).
    pub fn remove(&self, id: &Digest) -> Result<()> {
        let p = self.paths.image_config(id);
        fs::remove_file(&p).at(&p)?;
        let _ = fs::remove_dir_all(self.paths.image_metadata(id));
        Ok(())
    }

    /// The tags index.
    pub fn repositories(&self) -> Result<Repositories> {
        Repositories::load(&self.paths.repositories())
    }

    /// Write the tags index.
    pub fn save_repositories(&self, r: &Repositories) -> Result<()> {
        r.save(&self.paths.repositories())
    }

    /// Record that the image was just tagged (Docker's `Metadata.LastTagTime`).
    pub fn touch_tag_time(&self, id: &Digest) -> Result<()> {
        let p = self.paths.image_metadata(id).join("lastUpdated");
        write_atomic(
            &p,
            Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .as_bytes(),
        )
    }

    /// When the image was last tagged, if it ever was.
    pub fn last_tag_time(&self, id: &Digest) -> Option<String> {
        fs::read_to_string(self.paths.image_metadata(id).join("lastUpdated")).ok()
    }
}
