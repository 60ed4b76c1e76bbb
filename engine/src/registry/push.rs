//! `push`: upload an image's layers the registry lacks, its config, then its manifest.
//!
//! Layers go up as stored: the uncompressed tar rebuilt byte for byte from the layer's tar-split,
//! whose digest is the diff ID, so nothing is hashed or compressed before the upload starts (one
//! streamed PUT per layer). The manifest is an OCI image manifest
//! (`application/vnd.oci.image.manifest.v1+json`) with `application/vnd.oci.image.layer.v1.tar`
//! layers; the config is sent byte for byte, so the image ID survives the round trip.

use std::io::Read;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::Either;
use futures::StreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::{Client, RegistryOperation};
use serde_json::json;

use super::client::{self, Endpoint, MAX_CONCURRENT};
use super::credentials::Credentials;
use super::error::{Context, RegistryError};
use super::progress::{Progress, Reporter};
use crate::digest::Digest;
use crate::engine::Engine;
use crate::error::Result;
use crate::image::Image;
use crate::layer::{Layer, LayerStore};
use crate::lock::Mode;
use crate::reference::Reference;

/// OCI image config media type.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer media type.
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Bytes read from a layer per upload chunk.
const CHUNK: usize = 1 << 20;
/// How often upload progress is reported.
const TICK: Duration = Duration::from_millis(250);

impl Engine {
    /// `push NAME[:TAG]` with the credentials `login` stored: the tag given, else every tag of the
    /// repository with `all_tags`, else `latest` (as Docker's CLI does since `--all-tags` exists).
    pub fn push(
        &self,
        name: &str,
        all_tags: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        self.push_with(name, all_tags, None, progress)
    }

    /// [`Engine::push`] with the caller's credentials for the registry, if given.
    pub fn push_with(
        &self,
        name: &str,
        all_tags: bool,
        credentials: Option<&Credentials>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let r = Reference::parse(name)?;
        let targets = self.push_targets(&r, all_tags)?;
        let report = Reporter::new(progress);
        report.emit(Progress::Start {
            id: None,
            status: format!("The push refers to repository [{}]", r.full_name()),
        });
        let rt = client::runtime()?;
        let ep = Endpoint::registry(&r.domain, &self.config)?.with_credentials(credentials);
        for (tagged, image) in targets {
            let layers = {
                let _lock = self.lock(Mode::Shared)?;
                self.image_layers(&image)?
            };
            let digest = {
                let threads = Mutex::new(Vec::new());
                let out =
                    rt.block_on(self.push_image(&ep, &tagged, &image, &layers, &threads, &report));
                for t in std::mem::take(&mut *threads.lock().expect("threads lock")) {
                    let _ = t.join();
                }
                out?
            };
            let _lock = self.lock(Mode::Exclusive)?;
            let mut repos = self.images.repositories()?;
            let digest_ref = Reference {
                tag: None,
                digest: Some(digest),
                ..tagged.clone()
            };
            repos.add(&digest_ref, &image.id);
            self.images.save_repositories(&repos)?;
        }
        Ok(())
    }

    /// The local tags to push, each with its image.
    fn push_targets(&self, r: &Reference, all_tags: bool) -> Result<Vec<(Reference, Image)>> {
        if r.digest.is_some() {
            return Err(
                RegistryError::Other("cannot push a digest reference; name a tag".into()).into(),
            );
        }
        if all_tags && r.tag.is_some() {
            return Err(RegistryError::Other("tag can't be used with --all-tags/-a".into()).into());
        }
        let repos = self.images.repositories()?;
        let mut out = Vec::new();
        if all_tags {
            for (key, id) in repos.repo_tags(&r.familiar_name()) {
                let tagged = Reference::parse(&key)?;
                out.push((tagged, self.require_image(&id)?));
            }
            if out.is_empty() {
                return Err(RegistryError::NoSuchRepository(r.familiar_name()).into());
            }
        } else {
            let mut tagged = r.clone();
            tagged.tag.get_or_insert_with(|| "latest".into());
            let id = repos
                .lookup(&tagged)
                .ok_or_else(|| RegistryError::NoSuchTag(tagged.to_string()))?;
            out.push((tagged.clone(), self.require_image(id)?));
        }
        Ok(out)
    }

    fn require_image(&self, id: &Digest) -> Result<Image> {
        self.images
            .get(id)?
            .ok_or_else(|| crate::error::Error::Corrupt(format!("tagged image {id} is missing")))
    }

    /// Upload one tagged image; returns its manifest digest.
    async fn push_image(
        &self,
        ep: &Endpoint,
        tagged: &Reference,
        image: &Image,
        layers: &[Layer],
        threads: &Mutex<Vec<std::thread::JoinHandle<()>>>,
        report: &Reporter<'_>,
    ) -> Result<Digest> {
        let name = tagged.familiar_name();
        let shown = tagged.to_string();
        let cx = Context {
            reference: &shown,
            name: &name,
            pulling: false,
        };
        let c = client::client_for(ep, true);
        let oref = ep.reference(tagged);
        let auth = ep.auth();
        client::authenticate(&c, &oref, &auth, RegistryOperation::Push, &cx).await?;
        // Docker lists the top layer first.
        for l in layers.iter().rev() {
            report.layer(&l.diff.short(), "Preparing", 0, 0);
        }
        for l in layers.iter().rev().skip(MAX_CONCURRENT) {
            report.layer(&l.diff.short(), "Waiting", 0, 0);
        }
        let uploads = futures::stream::iter(layers.iter().rev().map(|l| {
            let (c, oref, cx) = (&c, &oref, &cx);
            async move { self.push_layer(c, oref, l, threads, report, cx).await }
        }))
        .buffer_unordered(MAX_CONCURRENT);
        let mut uploads = pin!(uploads);
        while let Some(done) = uploads.next().await {
            done?;
        }
        let cdigest = image.id.to_string();
        let exists = c
            .blob_exists(&oref, &cdigest)
            .await
            .map_err(|e| RegistryError::from_oci(e, &cx))?;
        if !exists {
            c.push_blob(&oref, image.raw.clone(), &cdigest)
                .await
                .map_err(|e| RegistryError::from_oci(e, &cx))?;
        }
        let manifest = manifest_bytes(image, layers);
        let digest = Digest::of(&manifest);
        let size = manifest.len();
        c.push_manifest_raw(
            &oref,
            manifest,
            reqwest::header::HeaderValue::from_static(super::manifest::OCI_MANIFEST),
        )
        .await
        .map_err(|e| RegistryError::from_oci(e, &cx))?;
        report.emit(Progress::Pushed {
            tag: tagged.tag.clone().unwrap_or_else(|| "latest".into()),
            digest: digest.clone(),
            size: size as u64,
        });
        Ok(digest)
    }

    /// Upload one layer unless the registry has it.
    async fn push_layer(
        &self,
        c: &Client,
        oref: &oci_client::Reference,
        layer: &Layer,
        threads: &Mutex<Vec<std::thread::JoinHandle<()>>>,
        report: &Reporter<'_>,
        cx: &Context<'_>,
    ) -> Result<()> {
        let id = layer.diff.short();
        let digest = layer.diff.to_string();
        if c.blob_exists(oref, &digest)
            .await
            .map_err(|e| RegistryError::from_oci(e, cx))?
        {
            report.layer(&id, "Layer already exists", 0, 0);
            return Ok(());
        }
        let sent = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        {
            let (store, layer, sent) = (self.layers.clone(), layer.clone(), sent.clone());
            let t = std::thread::spawn(move || read_layer(&store, &layer, &tx, &sent));
            threads.lock().expect("threads lock").push(t);
        }
        let body = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|item| (item.map_err(OciDistributionError::IoError), rx))
        });
        let total = layer.tar_size;
        report.layer(&id, "Pushing", 0, total);
        let upload = c.push_blob_stream(oref, body, &digest, Some(total));
        let mut upload = pin!(upload);
        let result = loop {
            let tick = pin!(tokio::time::sleep(TICK));
            match futures::future::select(upload.as_mut(), tick).await {
                Either::Left((r, _)) => break r,
                Either::Right(_) => {
                    report.layer(&id, "Pushing", sent.load(Ordering::Relaxed), total)
                }
            }
        };
        result.map_err(|e| RegistryError::from_oci(e, cx))?;
        report.layer(&id, "Pushing", total, total);
        report.layer(&id, "Pushed", 0, 0);
        Ok(())
    }
}

/// On a thread of its own: the layer's tar, in chunks, into the upload's channel.
fn read_layer(
    store: &LayerStore,
    layer: &Layer,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    sent: &AtomicU64,
) {
    let mut tar = match store.tar_stream(layer) {
        Ok(t) => t,
        Err(e) => {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            return;
        }
    };
    loop {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match tar.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        buf.truncate(filled);
        sent.fetch_add(filled as u64, Ordering::Relaxed);
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return;
        }
    }
}

/// The OCI manifest of an image whose layers are pushed uncompressed.
fn manifest_bytes(image: &Image, layers: &[Layer]) -> Vec<u8> {
    let m = json!({
        "schemaVersion": 2,
        "mediaType": super::manifest::OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": image.id.to_string(),
            "size": image.raw.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": OCI_LAYER_TAR,
            "digest": l.diff.to_string(),
            "size": l.tar_size,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec_pretty(&m).expect("manifest serializes")
}
