//! `pull`: fetch an image's manifest (through mirrors first for Docker Hub), its config, and the
//! layers the store lacks, up to three at once, each unpacked into staging as it downloads and
//! verified (compressed digest, size, diff ID). Only then, under the store's lock, are the layers
//! committed in order, the config stored and the tag and repo digest written. A failure at any
//! point stores nothing.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use oci_client::{Client, RegistryOperation};

use super::blob::{self, LayerJob, Unpacker};
use super::client::{self, Endpoint, MAX_CONCURRENT};
use super::credentials::Credentials;
use super::error::{Context, RegistryError};
use super::manifest;
use super::progress::{Progress, Reporter};
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::layer::{chain_ids, Layer, StagedLayer, Staging};
use crate::lock::Mode;
use crate::reference::Reference;

/// A layer of the image being pulled: already stored, or downloaded into staging.
enum Part {
    Stored(Digest),
    Staged {
        staged: StagedLayer,
        id: String,
        size: u64,
    },
}

/// Everything fetched and verified for one image, ready to commit.
struct Fetched {
    image: Image,
    repo_digest: Digest,
    parts: Vec<Part>,
    /// The image was already in the store (nothing was downloaded).
    existed: bool,
}

impl Engine {
    /// `pull NAME[:TAG|@DIGEST]` (all tags with `all_tags`) with the credentials `login` stored:
    /// returns the fully qualified references pulled (`docker.io/library/debian:latest`).
    pub fn pull(
        &self,
        name: &str,
        all_tags: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<String>> {
        self.pull_with(name, all_tags, None, progress)
    }

    /// [`Engine::pull`] with the caller's credentials for the image's registry, if given.
    pub fn pull_with(
        &self,
        name: &str,
        all_tags: bool,
        credentials: Option<&Credentials>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<String>> {
        let r = Reference::parse(name)?;
        let endpoints = client::pull_endpoints(&r, &self.config, credentials);
        self.pull_via(&r, all_tags, &endpoints, progress)
    }

    /// [`Engine::pull`] from the given endpoints, tried in order for the manifest.
    pub(super) fn pull_via(
        &self,
        r: &Reference,
        all_tags: bool,
        endpoints: &[Endpoint],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<String>> {
        let report = Reporter::new(progress);
        let rt = client::runtime()?;
        if !all_tags {
            let mut r = r.clone();
            if r.tag.is_none() && r.digest.is_none() {
                r.tag = Some(crate::reference::DEFAULT_TAG.into());
            }
            let new = self.pull_one(&r, endpoints, &rt, &report)?;
            let status = if new {
                "Downloaded newer image for"
            } else {
                "Image is up to date for"
            };
            report.line(format!("Status: {status} {r}"));
            return Ok(vec![qualified(&r)]);
        }
        if r.tag.is_some() || r.digest.is_some() {
            return Err(RegistryError::Other("tag can't be used with --all-tags/-a".into()).into());
        }
        let tags = rt.block_on(list_tags(r, endpoints))?;
        let mut pulled = Vec::new();
        let mut any_new = false;
        for tag in tags {
            let mut t = r.clone();
            t.tag = Some(tag);
            any_new |= self.pull_one(&t, endpoints, &rt, &report)?;
            pulled.push(qualified(&t));
        }
        let status = if any_new {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        report.line(format!("Status: {status} {}", r.familiar_name()));
        Ok(pulled)
    }

    /// Pull one tag or digest; true if anything changed in the store.
    fn pull_one(
        &self,
        r: &Reference,
        endpoints: &[Endpoint],
        rt: &tokio::runtime::Runtime,
        report: &Reporter<'_>,
    ) -> Result<bool> {
        let unpacker = Unpacker {
            layers: self.layers.clone(),
            staging: Arc::new(Staging::new(&self.paths)?),
            threads: Arc::new(Mutex::new(Vec::new())),
        };
        let fetched = rt.block_on(self.fetch(r, endpoints, &unpacker, report));
        // Every unpacking thread has its input closed by now (the downloads are over or dropped).
        let threads = std::mem::take(&mut *unpacker.threads.lock().expect("threads lock"));
        for t in threads {
            let _ = t.join();
        }
        let fetched = fetched?;
        let _lock = self.lock(Mode::Exclusive)?;
        crate::layer::clean_stale_staging(&self.paths)?;
        let result = self.commit_pull(r, &fetched, report);
        if result.is_err() {
            let _ = self.collect_garbage();
        }
        if result.is_ok() {
            // After every layer's "Pull complete", as Docker prints it.
            report.line(format!("Digest: {}", fetched.repo_digest));
        }
        result
    }

    /// Manifest, config and missing layers, all verified, layers in staging.
    async fn fetch(
        &self,
        r: &Reference,
        endpoints: &[Endpoint],
        unpacker: &Unpacker,
        report: &Reporter<'_>,
    ) -> Result<Fetched> {
        let shown = r.to_string();
        let name = r.familiar_name();
        let cx = Context {
            reference: &qualified_short(r),
            name: &name,
            pulling: true,
        };
        let (client, oref, resolved) = first_manifest(r, endpoints, &cx).await?;
        let what_of = |d: &Digest| format!("{d} of {shown}");
        let cdesc = resolved.manifest.config();
        let cdigest = parse_digest(cdesc.digest().as_ref())?;
        let config = blob::fetch_small(
            &client,
            &oref,
            &cdigest,
            cdesc.size(),
            &format!("config {}", what_of(&cdigest)),
            &cx,
        )
        .await?;
        let image = Image::from_bytes(config, &format!("config {cdigest}"))?;
        let diff_ids = image.diff_ids()?;
        let mlayers = resolved.manifest.layers();
        if diff_ids.len() != mlayers.len() {
            return Err(RegistryError::Other(format!(
                "manifest of {shown} lists {} layers but its config has {} diff_ids",
                mlayers.len(),
                diff_ids.len()
            ))
            .into());
        }
        let tag_or_digest = match (&r.tag, &r.digest) {
            (_, Some(d)) => d.to_string(),
            (Some(t), None) => t.clone(),
            _ => "latest".into(),
        };
        report.emit(Progress::Start {
            id: Some(tag_or_digest),
            status: format!("Pulling from {}", r.path),
        });
        let chains = chain_ids(&diff_ids);
        if self.images.get(&image.id)?.is_some() && self.layers.stack(&diff_ids).is_ok() {
            return Ok(Fetched {
                parts: chains.into_iter().map(Part::Stored).collect(),
                image,
                repo_digest: resolved.repo_digest,
                existed: true,
            });
        }
        let mut jobs = Vec::new();
        let mut stored = Vec::new();
        for (i, (desc, diff)) in mlayers.iter().zip(&diff_ids).enumerate() {
            let digest = parse_digest(desc.digest().as_ref())?;
            if self.layers.get(&chains[i])?.is_some() {
                report.layer(&digest.short(), "Already exists", 0, 0);
                stored.push(i);
                continue;
            }
            report.layer(&digest.short(), "Pulling fs layer", 0, 0);
            jobs.push((
                i,
                LayerJob {
                    what: format!("layer {}", what_of(&digest)),
                    digest,
                    size: desc.size(),
                    diff_id: diff.clone(),
                },
            ));
        }
        for (_, job) in jobs.iter().skip(MAX_CONCURRENT) {
            report.layer(&job.digest.short(), "Waiting", 0, 0);
        }
        let downloads = futures::stream::iter(jobs.iter().map(|(i, job)| {
            let (client, oref, cx) = (&client, &oref, &cx);
            async move {
                let staged = blob::fetch_layer(client, oref, job, unpacker, report, cx).await?;
                Ok::<_, Error>((*i, staged))
            }
        }))
        .buffer_unordered(MAX_CONCURRENT);
        let mut downloads = std::pin::pin!(downloads);
        let mut staged: Vec<Option<StagedLayer>> = (0..mlayers.len()).map(|_| None).collect();
        while let Some(done) = downloads.next().await {
            let (i, s) = done?;
            staged[i] = Some(s);
        }
        let parts = staged
            .into_iter()
            .enumerate()
            .map(|(i, s)| match s {
                Some(staged) => Part::Staged {
                    staged,
                    id: jobs
                        .iter()
                        .find(|(j, _)| *j == i)
                        .map(|(_, job)| job.digest.short())
                        .unwrap_or_default(),
                    size: mlayers[i].size(),
                },
                None => Part::Stored(chains[i].clone()),
            })
            .collect();
        Ok(Fetched {
            image,
            repo_digest: resolved.repo_digest,
            parts,
            existed: false,
        })
    }

    /// Under the exclusive lock: layers in order, the config, the tag and repo digest. True if the
    /// store changed.
    fn commit_pull(&self, r: &Reference, f: &Fetched, report: &Reporter<'_>) -> Result<bool> {
        let mut parent: Option<Layer> = None;
        for part in &f.parts {
            let layer = match part {
                Part::Stored(chain) => self.layers.get(chain)?.ok_or_else(|| {
                    RegistryError::Other(format!(
                        "layer {chain} was removed while pulling; pull again"
                    ))
                })?,
                Part::Staged { staged, id, size } => {
                    report.layer(id, "Extracting", *size, *size);
                    let l = self.layers.commit(staged, parent.as_ref())?;
                    report.layer(id, "Pull complete", 0, 0);
                    l
                }
            };
            parent = Some(layer);
        }
        let id = self.images.put(&f.image.raw)?;
        let mut repos = self.images.repositories()?;
        let digest_ref = Reference {
            tag: None,
            digest: Some(f.repo_digest.clone()),
            ..r.clone()
        };
        let mut moved = repos.lookup(&digest_ref) != Some(&id);
        repos.add(&digest_ref, &id);
        if r.digest.is_none() {
            moved |= repos.lookup(r) != Some(&id);
            repos.add(r, &id);
        }
        self.images.save_repositories(&repos)?;
        if moved {
            self.images.touch_tag_time(&id)?;
        }
        Ok(moved || !f.existed)
    }
}

/// The manifest from the first endpoint that has it (mirrors before the registry itself); the
/// registry's own error if none does.
async fn first_manifest(
    r: &Reference,
    endpoints: &[Endpoint],
    cx: &Context<'_>,
) -> Result<(Client, oci_client::Reference, manifest::Resolved)> {
    let mut last = None;
    for ep in endpoints {
        let c = client::client_for(ep, false);
        let oref = ep.reference(r);
        let auth = ep.auth();
        let attempt = async {
            client::authenticate(&c, &oref, &auth, RegistryOperation::Pull, cx).await?;
            manifest::resolve(&c, &oref, &auth, cx).await
        };
        match attempt.await {
            Ok(res) => return Ok((c, oref, res)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| RegistryError::Other("no registry to pull from".into()))
        .into())
}

/// Every tag of the repository, from the first endpoint that answers.
async fn list_tags(r: &Reference, endpoints: &[Endpoint]) -> Result<Vec<String>> {
    let name = r.familiar_name();
    let cx = Context {
        reference: &r.full_name(),
        name: &name,
        pulling: true,
    };
    let mut last = None;
    for ep in endpoints {
        let c = client::client_for(ep, false);
        let oref = ep.reference(r);
        let auth = ep.auth();
        let attempt = async {
            client::authenticate(&c, &oref, &auth, RegistryOperation::Pull, &cx).await?;
            c.list_tags(&oref, &auth, None, None)
                .await
                .map_err(|e| RegistryError::from_oci(e, &cx))
        };
        match attempt.await {
            Ok(t) => return Ok(t.tags),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| RegistryError::Other("no registry to pull from".into()))
        .into())
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|_| {
        RegistryError::UnsupportedMediaType {
            what: "blob".into(),
            media_type: format!("digest {s} (only sha256 is supported)"),
        }
        .into()
    })
}

/// `docker.io/library/debian:latest`, `127.0.0.1:5000/x@sha256:…`.
fn qualified(r: &Reference) -> String {
    let mut s = r.full_name();
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(&d.to_string());
    } else {
        s.push(':');
        s.push_str(r.tag.as_deref().unwrap_or("latest"));
    }
    s
}

/// The reference as Docker names it in "manifest for … not found": familiar name, tag or digest.
fn qualified_short(r: &Reference) -> String {
    r.to_string()
}
