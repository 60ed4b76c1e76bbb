//! Registry credentials from the client: the `X-Registry-Auth` header of pull, push and search
//! (base64url JSON of Docker's `AuthConfig`), and `POST /auth`, which `docker login` calls to
//! check them (the client stores them, not the daemon).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::routes::blocking;
use crate::engine::Engine;
use crate::registry::Credentials;

/// The header pull, push and search carry credentials in.
pub const HEADER: &str = "X-Registry-Auth";

/// Docker's `AuthConfig` (the fields baleia reads).
#[derive(Debug, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// base64 of `user:password`, as config.json keeps it.
    #[serde(default)]
    auth: String,
    /// The registry (`127.0.0.1:5000`, `https://index.docker.io/v1/`).
    #[serde(default, rename = "serveraddress")]
    server_address: String,
}

impl AuthConfig {
    /// The user name and password it carries, if any (else the daemon's stored ones apply).
    fn credentials(&self) -> Result<Option<Credentials>, ApiError> {
        if !self.username.is_empty() && !self.password.is_empty() {
            return Ok(Some(Credentials {
                username: self.username.clone(),
                password: self.password.clone(),
            }));
        }
        if self.auth.is_empty() {
            return Ok(None);
        }
        let bad = || ApiError::bad_request("invalid X-Registry-Auth: auth is not user:password");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(self.auth.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = text.split_once(':').ok_or_else(bad)?;
        Ok(Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        }))
    }
}

/// The credentials of `X-Registry-Auth`; `None` without the header or when it names no user
/// (the docker CLI sends an empty `AuthConfig` when it has nothing stored).
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header"))?
        .trim();
    if v.is_empty() {
        return Ok(None);
    }
    decode(v)?.credentials()
}

/// base64url (padded or not; plain base64 too) JSON of an `AuthConfig`.
fn decode(v: &str) -> Result<AuthConfig, ApiError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let raw = URL_SAFE
        .decode(v)
        .or_else(|_| URL_SAFE_NO_PAD.decode(v))
        .or_else(|_| STANDARD.decode(v))
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header: not base64"))?;
    serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))
}

/// `POST /auth`: check the credentials (the body's `AuthConfig`, whatever its content type)
/// against the registry as `login` does, store nothing.
pub async fn login(State(e): State<Engine>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let a: AuthConfig = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid credentials: {err}")))?;
    let creds = a
        .credentials()?
        .ok_or_else(|| ApiError::bad_request("Username and password are required"))?;
    let server = Some(a.server_address).filter(|s| !s.is_empty());
    blocking(move || {
        e.check_login(server.as_deref(), &creds.username, &creds.password)?;
        Ok(())
    })
    .await?;
    Ok(Json(
        json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn the_header_reads_as_the_docker_cli_writes_it() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        let h = headers(&b64(
            r#"{"username":"ana","password":"s3:cr3t?>","serveraddress":"127.0.0.1:5000"}"#,
        ));
        assert_eq!(
            from_headers(&h).unwrap(),
            Some(Credentials {
                username: "ana".into(),
                password: "s3:cr3t?>".into()
            })
        );
        let h = headers(&b64(r#"{"auth":"YW5hOnMzOmNyM3Q="}"#));
        assert_eq!(from_headers(&h).unwrap().unwrap().password, "s3:cr3t");
        assert_eq!(from_headers(&headers(&b64("{}"))).unwrap(), None);
        assert_eq!(
            from_headers(&headers(&b64(r#"{"serveraddress":"127.0.0.1:5000"}"#))).unwrap(),
            None
        );
        assert_eq!(from_headers(&HeaderMap::new()).unwrap(), None);
        assert!(from_headers(&headers("%%%")).is_err());
    }
}
