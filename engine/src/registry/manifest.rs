//! Fetching a manifest: Docker schema2 or OCI, through a manifest list or OCI index resolved to the
//! host's platform, every manifest checked against the digest that names it.

use oci_client::Client;
use oci_spec::image::{ImageIndex, ImageManifest};
use serde_json::Value;

use super::error::{Context, RegistryError};
use crate::archive::import::go_arch;
use crate::digest::Digest;

/// Docker schema2 image manifest.
pub(super) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(super) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub(super) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub(super) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

const ACCEPT: &[&str] = &[DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];

/// An image manifest for this host, and the digest the repository knows the image by.
pub(super) struct Resolved {
    /// What was asked for: the list's digest if it was a list, else the manifest's (Docker's
    /// repo digest, and the `Digest:` line).
    pub repo_digest: Digest,
    /// The platform's manifest.
    pub manifest: ImageManifest,
}

/// Fetch the manifest `reference` names (tag or digest), resolving a list to this platform.
pub(super) async fn resolve(
    client: &Client,
    reference: &oci_client::Reference,
    auth: &oci_client::secrets::RegistryAuth,
    cx: &Context<'_>,
) -> Result<Resolved, RegistryError> {
    let (bytes, repo_digest) = fetch(client, reference, auth, cx).await?;
    let body = parse_json(&bytes, cx.reference)?;
    if body.get("manifests").is_some() {
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Other(format!("manifest list of {}: {e}", cx.reference)))?;
        let digest = choose_platform(&index)?;
        let (bytes, _) = fetch(
            client,
            &reference.clone_with_digest(digest.to_string()),
            auth,
            cx,
        )
        .await?;
        let manifest = parse_manifest(&bytes, cx.reference)?;
        return Ok(Resolved {
            repo_digest,
            manifest,
        });
    }
    Ok(Resolved {
        repo_digest,
        manifest: parse_manifest(&bytes, cx.reference)?,
    })
}

/// GET one manifest and check it hashes to the digest in the reference, if there is one.
async fn fetch(
    client: &Client,
    reference: &oci_client::Reference,
    auth: &oci_client::secrets::RegistryAuth,
    cx: &Context<'_>,
) -> Result<(Vec<u8>, Digest), RegistryError> {
    let (bytes, _) = client
        .pull_manifest_raw(reference, auth, ACCEPT)
        .await
        .map_err(|e| RegistryError::from_oci(e, cx))?;
    let actual = Digest::of(&bytes);
    if let Some(want) = reference.digest() {
        if want != actual.to_string() {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {want}"),
                expected: want.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok((bytes.to_vec(), actual))
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value, RegistryError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Other(format!("manifest of {what}: invalid JSON: {e}")))?;
    if v.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        let mt = v
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or("application/vnd.docker.distribution.manifest.v1+json");
        return Err(RegistryError::UnsupportedMediaType {
            what: format!("manifest of {what}"),
            media_type: mt.to_string(),
        });
    }
    Ok(v)
}

fn parse_manifest(bytes: &[u8], what: &str) -> Result<ImageManifest, RegistryError> {
    let v = parse_json(bytes, what)?;
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        if mt != DOCKER_MANIFEST && mt != OCI_MANIFEST {
            return Err(RegistryError::UnsupportedMediaType {
                what: format!("manifest of {what}"),
                media_type: mt.to_string(),
            });
        }
    }
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Other(format!("manifest of {what}: {e}")))
}

/// The entry of a list for linux on this architecture (the host's variant preferred), skipping
/// attestation entries (`unknown/unknown`).
pub(super) fn choose_platform(index: &ImageIndex) -> Result<Digest, RegistryError> {
    let arch = go_arch();
    let want_variant = host_variant();
    let candidates: Vec<_> = index
        .manifests()
        .iter()
        .filter(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .collect();
    let pick = candidates
        .iter()
        .find(|d| {
            let v = d.platform().as_ref().and_then(|p| p.variant().clone());
            v.as_deref() == want_variant
        })
        .or_else(|| candidates.first())
        .ok_or_else(|| {
            let p = match want_variant {
                Some(v) => format!("linux/{arch}/{v}"),
                None => format!("linux/{arch}"),
            };
            RegistryError::NoMatchingPlatform(p)
        })?;
    pick.digest()
        .to_string()
        .parse()
        .map_err(|_| RegistryError::Other(format!("unsupported digest {}", pick.digest())))
}

/// The CPU variant images name for this host's architecture, where there is one.
fn host_variant() -> Option<&'static str> {
    match go_arch() {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_resolve_to_this_platform() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let index: ImageIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST, "digest": d('a'), "size": 1, "platform": {"os": "linux", "architecture": "s390x"}},
                {"mediaType": OCI_MANIFEST, "digest": d('b'), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}},
                {"mediaType": DOCKER_MANIFEST, "digest": d('c'), "size": 1, "platform": {"os": "linux", "architecture": go_arch(), "variant": "v0"}},
                {"mediaType": DOCKER_MANIFEST, "digest": d('e'), "size": 1, "platform": {"os": "linux", "architecture": go_arch(), "variant": host_variant()}},
            ]
        }))
        .unwrap();
        assert_eq!(choose_platform(&index).unwrap().to_string(), d('e'));
        let none: ImageIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2, "manifests": [
                {"mediaType": DOCKER_MANIFEST, "digest": d('a'), "size": 1, "platform": {"os": "windows", "architecture": "amd64"}}]
        }))
        .unwrap();
        let e = choose_platform(&none).unwrap_err().to_string();
        assert!(e.starts_with("no matching manifest for linux/"), "{e}");
    }
}
