//! Image references as Docker parses them: `[domain[:port]/]path[:tag][@sha256:…]`, with Docker Hub's
//! `docker.io/library/` implied for short names.

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Docker Hub's registry name.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of official images on Docker Hub.
pub const OFFICIAL_NAMESPACE: &str = "library";
/// The tag used when none is given.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port): `docker.io`, `127.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry: `library/debian`, `ubuntu/nginx`.
    pub path: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Content digest, if any.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse a reference the way `docker pull`/`tag` do; no default tag is added.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = || Error::InvalidReference(format!("\"{s}\""));
        if s.is_empty() || s.len() > 255 + 128 + 72 {
            return Err(bad());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>().map_err(|_| bad())?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad());
            }
        }
        let (domain, path) = split_domain(name);
        if path.is_empty() || path.len() > 255 || !path.split('/').all(valid_component) {
            return Err(bad());
        }
        if !domain.is_empty() && !valid_domain(&domain) {
            return Err(bad());
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parse, adding `:latest` when neither tag nor digest is given.
    pub fn parse_tagged(s: &str) -> Result<Reference> {
        let mut r = Reference::parse(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// The repository as users see it: `debian`, `ubuntu/nginx`, `127.0.0.1:5000/busybox`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// Fully qualified repository: `docker.io/library/debian`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `name:tag` in familiar form (for repositories.json and `images`); `None` without a tag.
    pub fn familiar_tagged(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.familiar_name()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.familiar_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            let domain = if first == "index.docker.io" {
                DEFAULT_DOMAIN
            } else {
                first
            };
            let path = if domain == DEFAULT_DOMAIN && !rest.contains('/') {
                format!("{OFFICIAL_NAMESPACE}/{rest}")
            } else {
                rest.to_string()
            };
            (domain.to_string(), path)
        }
        Some(_) => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        None => (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_NAMESPACE}/{name}"),
        ),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if ok(c))
        && t.len() <= 128
        && chars.all(|c| ok(c) || c == '.' || c == '-')
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    host_ok
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_docker_hub_official_images() {
        let r = Reference::parse_tagged("debian").unwrap();
        assert_eq!(r.full_name(), "docker.io/library/debian");
        assert_eq!(r.to_string(), "debian:latest");
        let r = Reference::parse("ubuntu/nginx").unwrap();
        assert_eq!(r.full_name(), "docker.io/ubuntu/nginx");
        assert_eq!(r.familiar_name(), "ubuntu/nginx");
        assert_eq!(
            Reference::parse("docker.io/library/busybox:1.36")
                .unwrap()
                .to_string(),
            "busybox:1.36"
        );
    }

    #[test]
    fn registries_with_ports_and_tags() {
        let r = Reference::parse("127.0.0.1:5000/lab/busybox:v1").unwrap();
        assert_eq!(r.domain, "127.0.0.1:5000");
        assert_eq!(r.path, "lab/busybox");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/lab/busybox");
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.domain, "localhost");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("debian@{d}")).unwrap();
        assert_eq!(r.digest.unwrap().to_string(), d);
        assert!(r.tag.is_none());
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "-a",
            "a-",
            "debian@sha256:12",
            "x:y:z",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Reference::parse("foo-bar").is_ok());
        assert!(Reference::parse("a__b").is_ok());
        assert!(Reference::parse("a___b").is_err());
    }
}
