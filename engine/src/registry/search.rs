//! `search`: Docker Hub's search API for a plain term (the mirrors' catalogs instead when the
//! settings keep Docker Hub to its mirrors); a registry's catalog, filtered by the term, for
//! `HOST[:PORT]/term`.

use oci_client::RegistryOperation;
use serde::Deserialize;

use super::client::{self, Endpoint};
use super::credentials::Credentials;
use super::error::{self, Context, RegistryError};
use crate::engine::Engine;
use crate::error::Result;
use crate::reference::Reference;

/// Docker Hub's search endpoint.
const HUB_SEARCH: &str = "https://index.docker.io/v1/search";

/// One repository found by `search`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    /// Repository name (`debian`, `ubuntu/nginx`, `127.0.0.1:5000/busybox`).
    pub name: String,
    /// Its short description (empty from a registry's catalog).
    #[serde(default)]
    pub description: String,
    /// Docker Hub stars.
    #[serde(default)]
    pub star_count: u64,
    /// A Docker official image.
    #[serde(default)]
    pub is_official: bool,
}

#[derive(Deserialize)]
struct HubAnswer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

impl Engine {
    /// `search TERM`: Docker Hub's search API for a plain term (with `registry-mirrors-only`, the
    /// first mirror's catalog that answers); for `HOST:PORT/term`, that registry's `/v2/_catalog`
    /// (with the stored credentials) filtered by the term. At most `limit` results.
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        self.search_with(term, limit, None)
    }

    /// [`Engine::search`] with the caller's credentials for a registry's catalog, if given.
    pub fn search_with(
        &self,
        term: &str,
        limit: usize,
        credentials: Option<&Credentials>,
    ) -> Result<Vec<SearchResult>> {
        let limit = limit.clamp(1, 100);
        let rt = client::runtime()?;
        match split_registry(term) {
            Some((host, rest)) => {
                let ep = Endpoint::direct(host, &self.config).with_credentials(credentials);
                rt.block_on(search_catalog(&ep, rest, limit, Naming::Registry))
            }
            None => {
                let term = term.strip_prefix("docker.io/").unwrap_or(term);
                if !self.config.registry_mirrors_only {
                    return rt.block_on(search_hub(term, limit));
                }
                let mut last = None;
                for ep in Endpoint::hub_mirrors(&self.config) {
                    match rt.block_on(search_catalog(&ep, term, limit, Naming::DockerHub)) {
                        Ok(found) => return Ok(found),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    RegistryError::HubOff(crate::config::Config::path().display().to_string())
                        .into()
                }))
            }
        }
    }
}

/// `HOST[:PORT]/term` → (host, term), when the first part names a registry other than Docker Hub.
fn split_registry(term: &str) -> Option<(&str, &str)> {
    let (first, rest) = term.split_once('/')?;
    let is_host = first.contains(['.', ':']) || first == "localhost";
    (is_host && !matches!(first, "docker.io" | "index.docker.io")).then_some((first, rest))
}

async fn search_hub(term: &str, limit: usize) -> Result<Vec<SearchResult>> {
    client::install_crypto_provider();
    let http = reqwest::Client::builder()
        .user_agent(concat!("baleia/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error::from_reqwest(&e))?;
    let res = http
        .get(HUB_SEARCH)
        .query(&[("q", term), ("n", &limit.to_string())])
        .send()
        .await
        .map_err(|e| error::from_reqwest(&e))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| error::from_reqwest(&e))?;
    if !status.is_success() {
        return Err(RegistryError::Response(format!(
            "Unexpected status code {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&body).trim()
        ))
        .into());
    }
    let answer: HubAnswer = serde_json::from_slice(&body)
        .map_err(|e| RegistryError::Other(format!("invalid search answer: {e}")))?;
    Ok(answer.results.into_iter().take(limit).collect())
}

/// How a catalog's repositories are named in the results.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// `HOST:PORT/name`, as they are pulled from that registry.
    Registry,
    /// A Docker Hub mirror's: `debian` for `library/debian` (an official image), `user/name`.
    DockerHub,
}

async fn search_catalog(
    ep: &Endpoint,
    term: &str,
    limit: usize,
    naming: Naming,
) -> Result<Vec<SearchResult>> {
    let host = ep.host.as_str();
    let r = Reference {
        domain: host.to_string(),
        path: "library/catalog".into(),
        tag: Some("latest".into()),
        digest: None,
    };
    let c = client::client_for(ep, false);
    let oref = ep.reference(&r);
    let auth = ep.auth();
    let cx = Context {
        reference: host,
        name: host,
        pulling: false,
    };
    client::authenticate(&c, &oref, &auth, RegistryOperation::Pull, &cx).await?;
    let catalog = c
        .catalog(&oref, &auth, None, None)
        .await
        .map_err(|e| RegistryError::from_oci(e, &cx))?;
    Ok(catalog
        .repositories
        .into_iter()
        .filter(|name| name.contains(term))
        .take(limit)
        .map(|name| match naming {
            Naming::Registry => SearchResult {
                name: format!("{host}/{name}"),
                description: String::new(),
                star_count: 0,
                is_official: false,
            },
            Naming::DockerHub => SearchResult {
                is_official: name.starts_with("library/"),
                name: name.strip_prefix("library/").unwrap_or(&name).to_string(),
                description: String::new(),
                star_count: 0,
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_terms_are_recognised() {
        assert_eq!(
            split_registry("127.0.0.1:5000/busy"),
            Some(("127.0.0.1:5000", "busy"))
        );
        assert_eq!(split_registry("localhost/x"), Some(("localhost", "x")));
        assert_eq!(split_registry("debian"), None);
        assert_eq!(split_registry("ubuntu/nginx"), None);
        assert_eq!(split_registry("docker.io/nginx"), None);
    }
}
