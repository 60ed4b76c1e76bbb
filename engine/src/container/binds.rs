//! `-v HOST:CONTAINER[:ro|rw]` bind mounts.

use std::path::{Path, PathBuf};

use super::spawn::Bind;

/// Parse one `-v` value; a relative host path would be a named volume, which baleia does not have.
pub fn parse(spec: &str) -> Result<Bind, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, "rw"),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(format!("invalid volume specification: '{spec}'")),
    };
    if !Path::new(src).is_absolute() {
        return Err(format!("invalid volume specification: '{spec}': named volumes are not supported, use an absolute host path"));
    }
    if !Path::new(dst).is_absolute() {
        return Err(format!("invalid volume specification: '{spec}': invalid mount config: mount path must be absolute"));
    }
    let readonly = match mode {
        "ro" => true,
        "rw" | "z" | "Z" => false,
        m => return Err(format!("invalid mode: {m}")),
    };
    Ok(Bind {
        source: PathBuf::from(src),
        target: PathBuf::from(dst),
        readonly,
    })
}

/// Parse every `-v`, creating missing host folders as Docker does.
pub fn parse_all(specs: &[String]) -> Result<Vec<Bind>, String> {
    specs
        .iter()
        .map(|s| {
            let b = parse(s)?;
            if !b.source.exists() {
                std::fs::create_dir_all(&b.source)
                    .map_err(|e| format!("{}: {e}", b.source.display()))?;
            }
            Ok(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs_like_docker() {
        let b = parse("/srv/data:/data:ro").unwrap();
        assert_eq!(
            (b.source.to_str(), b.target.to_str(), b.readonly),
            (Some("/srv/data"), Some("/data"), true)
        );
        assert!(!parse("/a:/b").unwrap().readonly);
        assert!(parse("data:/data").unwrap_err().contains("named volumes"));
        assert!(parse("/a:b").unwrap_err().contains("must be absolute"));
        assert!(parse("/a").is_err());
        assert!(parse("/a:/b:xx").unwrap_err().contains("invalid mode"));
    }
}
