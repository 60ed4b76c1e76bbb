//! `login` and `logout`: check credentials against a registry, then keep or forget them in
//! Docker's `config.json`.

use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use super::client::{self, Endpoint};
use super::credentials::{self, DOCKER_HUB_SERVER};
use super::error::{Context, RegistryError};
use crate::engine::Engine;
use crate::error::Result;
use crate::reference::{Reference, DEFAULT_DOMAIN};

/// A repository named only to ask for a token scope; nothing is read from it.
const PROBE_REPOSITORY: &str = "library/hello-world";

impl Engine {
    /// Check credentials against the registry (docker.io if None) and store them as Docker's
    /// config.json does; returns the server name used.
    pub fn login(&self, server: Option<&str>, user: &str, password: &str) -> Result<String> {
        let key = self.check_login(server, user, password)?;
        credentials::store_in(&credentials::config_path(), &key, user, password)?;
        Ok(key)
    }

    /// Check credentials against the registry (docker.io if None) without storing them (what a
    /// daemon's `POST /auth` does: the client keeps them); returns the server's key.
    pub fn check_login(&self, server: Option<&str>, user: &str, password: &str) -> Result<String> {
        let key = credentials::server_key(server);
        let domain = if key == DOCKER_HUB_SERVER {
            DEFAULT_DOMAIN.to_string()
        } else {
            key.clone()
        };
        let ep = Endpoint::registry(&domain, &self.config)?;
        let r = Reference {
            domain,
            path: PROBE_REPOSITORY.into(),
            tag: Some("latest".into()),
            digest: None,
        };
        let rt = client::runtime()?;
        rt.block_on(check_credentials(&ep, &r, user, password))?;
        Ok(key)
    }

    /// Forget the credentials of a registry (docker.io if None); Ok(false) if there were none.
    pub fn logout(&self, server: Option<&str>) -> Result<bool> {
        let key = credentials::server_key(server);
        Ok(credentials::erase_in(&credentials::config_path(), &key)?)
    }
}

/// A token from the registry's token service proves the credentials; a registry that takes Basic
/// authentication is asked for a repository's tags, which it refuses (401) to wrong credentials.
async fn check_credentials(
    ep: &Endpoint,
    r: &Reference,
    user: &str,
    password: &str,
) -> Result<(), RegistryError> {
    let c = client::client_for(ep, false);
    let oref = ep.reference(r);
    let auth = RegistryAuth::Basic(user.to_string(), password.to_string());
    let shown = ep.host.clone();
    let cx = Context {
        reference: &shown,
        name: &shown,
        pulling: false,
    };
    let bearer = c
        .auth(&oref, &auth, RegistryOperation::Pull)
        .await
        .map_err(|e| match RegistryError::from_oci(e, &cx) {
            RegistryError::Unauthorized(_) => bad_credentials(),
            other => other,
        })?;
    if bearer.is_some() {
        return Ok(());
    }
    match c.list_tags(&oref, &auth, Some(1), None).await {
        Ok(_) => Ok(()),
        Err(e) => match RegistryError::from_oci(e, &cx) {
            RegistryError::Unauthorized(_) => Err(bad_credentials()),
            e @ RegistryError::Unreachable { .. } => Err(e),
            // A 404 for the probe repository, or any other answer: the credentials were accepted.
            _ => Ok(()),
        },
    }
}

fn bad_credentials() -> RegistryError {
    RegistryError::Unauthorized("incorrect username or password".into())
}
