//! Reaching a registry: which address and scheme (HTTPS, or plain HTTP for loopback and
//! `insecure-registries`), mirrors for Docker Hub, credentials, and the async runtime the
//! oci-client calls run on.

use std::net::IpAddr;
use std::sync::Once;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::credentials::{self, Credentials};
use super::error::{Context, RegistryError};
use crate::config::Config;
use crate::reference::{Reference, DEFAULT_DOMAIN};

/// How many layers are downloaded (or uploaded) at once, as Docker does by default.
pub(super) const MAX_CONCURRENT: usize = 3;

/// Where one repository is reached: the registry host that answers, and whether it is Docker Hub
/// reached through a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `host[:port]` the requests go to (`index.docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Set when `host` is a mirror of this registry (`docker.io`).
    pub mirror_of: Option<String>,
    /// Credentials the caller gave for this registry, used instead of the stored ones.
    pub given: Option<Credentials>,
}

impl Endpoint {
    /// The registry itself, HTTPS unless it is loopback or listed as insecure.
    pub fn direct(domain: &str, config: &Config) -> Endpoint {
        let host = if domain == DEFAULT_DOMAIN {
            "index.docker.io".to_string()
        } else {
            domain.to_string()
        };
        Endpoint {
            plain_http: is_insecure(&host, &config.insecure_registries),
            host,
            mirror_of: None,
            given: None,
        }
    }

    /// The registry itself, refused for Docker Hub when the settings say `registry-mirrors-only`.
    pub fn registry(domain: &str, config: &Config) -> Result<Endpoint, RegistryError> {
        if domain == DEFAULT_DOMAIN && config.registry_mirrors_only {
            return Err(RegistryError::HubOff(Config::path().display().to_string()));
        }
        Ok(Endpoint::direct(domain, config))
    }

    /// The mirrors of Docker Hub from the settings, in order.
    pub fn hub_mirrors(config: &Config) -> Vec<Endpoint> {
        config
            .registry_mirrors
            .iter()
            .filter_map(|m| Endpoint::mirror(m, DEFAULT_DOMAIN, config))
            .collect()
    }

    /// This endpoint with the caller's credentials, if any, for the registry itself (a mirror is
    /// another server: it keeps the stored ones).
    pub fn with_credentials(mut self, given: Option<&Credentials>) -> Endpoint {
        if self.mirror_of.is_none() {
            self.given = given.cloned();
        }
        self
    }

    /// A mirror from daemon.json's `registry-mirrors` (`http://127.0.0.1:5000`, `https://m.example/`).
    fn mirror(url: &str, of: &str, config: &Config) -> Option<Endpoint> {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, url),
        };
        let host = rest.split('/').next().unwrap_or_default().to_string();
        if host.is_empty() {
            return None;
        }
        let plain_http = match scheme.as_deref() {
            Some("http") => true,
            Some("https") => false,
            _ => is_insecure(&host, &config.insecure_registries),
        };
        Some(Endpoint {
            host,
            plain_http,
            mirror_of: Some(of.to_string()),
            given: None,
        })
    }

    /// The oci-client reference for `r` through this endpoint (a tag or a digest).
    pub fn reference(&self, r: &Reference) -> oci_client::Reference {
        let registry = match &self.mirror_of {
            Some(_) => r.domain.clone(),
            None => self.host.clone(),
        };
        let mut o = match (&r.digest, &r.tag) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(registry, r.path.clone(), d.to_string())
            }
            (None, t) => oci_client::Reference::with_tag(
                registry,
                r.path.clone(),
                t.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        if self.mirror_of.is_some() {
            o.set_mirror_registry(self.host.clone());
        }
        o
    }

    /// The credentials given, else those stored for this endpoint's host (anonymous if none).
    pub fn auth(&self) -> RegistryAuth {
        if let Some(c) = &self.given {
            return RegistryAuth::Basic(c.username.clone(), c.password.clone());
        }
        let server = match (&self.mirror_of, self.host.as_str()) {
            (None, "index.docker.io") => DEFAULT_DOMAIN,
            _ => self.host.as_str(),
        };
        match credentials::lookup(server) {
            Ok(Some((user, password))) => RegistryAuth::Basic(user, password),
            _ => RegistryAuth::Anonymous,
        }
    }
}

/// The endpoints to try, in order, for pulling `r`: mirrors first for Docker Hub, then the registry
/// (with the caller's credentials, if given) unless the settings keep Docker Hub to its mirrors.
pub(super) fn pull_endpoints(
    r: &Reference,
    config: &Config,
    given: Option<&Credentials>,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if r.domain == DEFAULT_DOMAIN {
        out.extend(Endpoint::hub_mirrors(config));
    }
    if let Ok(ep) = Endpoint::registry(&r.domain, config) {
        out.push(ep.with_credentials(given));
    }
    out
}

/// An oci-client for one endpoint, with the scheme set and the crypto provider installed.
pub(super) fn client_for(ep: &Endpoint, push: bool) -> Client {
    install_crypto_provider();
    let protocol = if ep.plain_http {
        ClientProtocol::HttpsExcept(vec![ep.host.clone()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        platform_resolver: None,
        max_concurrent_download: MAX_CONCURRENT,
        max_concurrent_upload: MAX_CONCURRENT,
        use_monolithic_push: push,
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        user_agent: concat!("baleia/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    })
}

/// Ask the registry's `/v2/` which authentication it wants and get a token for `op` on the
/// repository: the first request of every conversation, so an unreachable registry fails here
/// with the `/v2/` URL, as Docker's ping does.
pub(super) async fn authenticate(
    client: &Client,
    reference: &oci_client::Reference,
    auth: &RegistryAuth,
    op: RegistryOperation,
    cx: &Context<'_>,
) -> Result<(), RegistryError> {
    client
        .auth(reference, auth, op)
        .await
        .map(|_| ())
        .map_err(|e| RegistryError::from_oci(e, cx))
}

/// A single-threaded runtime for one operation's requests.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, RegistryError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RegistryError::Other(format!("starting the network runtime: {e}")))
}

/// Install rustls' ring provider for the process, once (another one already installed is fine).
pub(super) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Whether `host` (`host[:port]`) is reached over plain HTTP: loopback, or listed in
/// `insecure-registries` (by `host[:port]`, or by a CIDR holding its IP address).
pub(super) fn is_insecure(host: &str, insecure: &[String]) -> bool {
    let name = host_name(host);
    let ip: Option<IpAddr> = name.parse().ok();
    if name == "localhost" || ip.is_some_and(|a| a.is_loopback()) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if entry == host || entry == name {
            return true;
        }
        match (ip, entry.split_once('/')) {
            (Some(ip), Some((net, bits))) => in_cidr(ip, net, bits),
            _ => false,
        }
    })
}

/// The host part of `host[:port]` (`[::1]:5000` gives `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_plain_http() {
        let list = vec!["10.0.0.0/8".to_string(), "reg.lan:5000".to_string()];
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("127.3.2.1", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(is_insecure("10.1.2.3:5000", &list));
        assert!(is_insecure("reg.lan:5000", &list));
        assert!(!is_insecure("reg.lan:5001", &list));
        assert!(!is_insecure("11.0.0.1:5000", &list));
        assert!(!is_insecure("index.docker.io", &list));
    }

    #[test]
    fn docker_hub_pulls_try_mirrors_first() {
        let config = Config {
            registry_mirrors: vec!["http://127.0.0.1:5001/".into(), "https://m.example".into()],
            ..Config::default()
        };
        let r = Reference::parse_tagged("debian").unwrap();
        let eps = pull_endpoints(&r, &config, None);
        let hosts: Vec<(&str, bool)> = eps
            .iter()
            .map(|e| (e.host.as_str(), e.plain_http))
            .collect();
        assert_eq!(
            hosts,
            [
                ("127.0.0.1:5001", true),
                ("m.example", false),
                ("index.docker.io", false)
            ]
        );
        let o = eps[0].reference(&r);
        assert_eq!(o.resolve_registry(), "127.0.0.1:5001");
        assert_eq!(o.repository(), "library/debian");
        let other = Reference::parse_tagged("127.0.0.1:5000/x").unwrap();
        assert_eq!(pull_endpoints(&other, &config, None).len(), 1);

        // Kept to the mirrors: Docker Hub itself is never among the endpoints, other registries are.
        let only = Config {
            registry_mirrors_only: true,
            ..config
        };
        let hosts: Vec<String> = pull_endpoints(&r, &only, None)
            .into_iter()
            .map(|e| e.host)
            .collect();
        assert_eq!(hosts, ["127.0.0.1:5001", "m.example"]);
        assert_eq!(pull_endpoints(&other, &only, None).len(), 1);
        assert!(matches!(
            Endpoint::registry("docker.io", &only),
            Err(RegistryError::HubOff(_))
        ));
    }
}
