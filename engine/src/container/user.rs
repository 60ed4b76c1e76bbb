//! `-u user[:group]` as the container sees it: names looked up in the container's own
//! `/etc/passwd` and `/etc/group`, numbers taken as they are.

use std::fs;
use std::path::Path;

/// uid, gid and supplementary groups for `spec` (`""` is root).
pub fn resolve(rootfs: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>), String> {
    if spec.is_empty() {
        return Ok((0, 0, vec![]));
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let groups = fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (uid, mut gid, name) = match (entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
        ),
        (None, Ok(n)) => (n, 0, String::new()),
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        }
    };
    if let Some(g) = group {
        gid = match groups
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == g || f[2] == g))
        {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        };
    }
    let extra = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4 && !name.is_empty() && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .collect();
    Ok((uid, gid, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_in_the_container() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nwww-data:x:33:33::/var/www:/bin/false\n").unwrap();
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nadm:x:4:www-data\nnogroup:x:65534:\n",
        )
        .unwrap();
        assert_eq!(resolve(d.path(), "").unwrap(), (0, 0, vec![]));
        assert_eq!(resolve(d.path(), "nobody").unwrap(), (65534, 65534, vec![]));
        assert_eq!(resolve(d.path(), "www-data").unwrap(), (33, 33, vec![4]));
        assert_eq!(resolve(d.path(), "1000:adm").unwrap(), (1000, 4, vec![]));
        assert_eq!(
            resolve(d.path(), "1000:1000").unwrap(),
            (1000, 1000, vec![])
        );
        assert!(resolve(d.path(), "ghost")
            .unwrap_err()
            .contains("unable to find user ghost"));
    }
}
