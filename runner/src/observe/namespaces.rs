//! `namespaces`: a container's namespaces next to the host's, one inode per type
//! (`/proc/PID/ns/*` against `/proc/1/ns/*`); a different inode is a different namespace.

use std::path::Path;

use serde_json::json;

use super::{container_pid, inspect_container, short_name, Mark, Observation, ObserveError, Row};
use crate::backend::Backend;

/// The namespace types shown, in the order a learner meets them.
pub const TYPES: [&str; 8] = ["pid", "mnt", "net", "uts", "ipc", "cgroup", "user", "time"];

/// The inode of namespace `kind` of process `pid` under `proc_root` (`/proc`): `net:[4026531840]`
/// gives 4026531840; None where the kernel has no such type (or the process is gone).
pub fn ns_inode(proc_root: &Path, pid: &str, kind: &str) -> Option<u64> {
    let link = std::fs::read_link(proc_root.join(pid).join("ns").join(kind)).ok()?;
    parse_ns_link(&link.to_string_lossy())
}

/// The inode in a namespace link's text, `net:[4026531840]`.
pub fn parse_ns_link(text: &str) -> Option<u64> {
    let start = text.find('[')? + 1;
    let end = text[start..].find(']')? + start;
    text[start..end].parse().ok()
}

/// A container's namespaces beside the host's (PID 1's): type, both inodes, whether they differ.
pub fn namespaces(backend: &Backend, container: &str) -> Result<Observation, ObserveError> {
    let c = inspect_container(backend, container)?;
    let pid = container_pid(container, &c)?;
    let name = short_name(&c, container);
    let proc_root = Path::new("/proc");
    // The host as this runner sees it: PID 1's namespaces, or ours if PID 1 is out of reach.
    let host = if ns_inode(proc_root, "1", "mnt").is_some() {
        "1".to_string()
    } else {
        "self".to_string()
    };
    let mut obs = Observation::new(
        format!("namespaces of {name} (PID {pid}) and of the host"),
        &["namespace", "container", "host", "differs"],
        json!(null),
    );
    let mut data = Vec::new();
    for kind in TYPES {
        let theirs = ns_inode(proc_root, &pid.to_string(), kind);
        let ours = ns_inode(proc_root, &host, kind);
        let Some(theirs) = theirs else {
            if !proc_root.join(pid.to_string()).exists() {
                return Err(ObserveError::NotRunning(container.into()));
            }
            continue; // a kernel without this type (time before 5.6)
        };
        let differs = ours != Some(theirs);
        let show = |i: Option<u64>| i.map(|i| i.to_string()).unwrap_or_else(|| "?".into());
        obs.rows.push(Row::new(
            vec![
                kind.to_string(),
                theirs.to_string(),
                show(ours),
                if differs { "yes" } else { "no" }.into(),
            ],
            if differs { Mark::Notable } else { Mark::Plain },
        ));
        data.push(json!({"type": kind, "container": theirs, "host": ours, "differs": differs}));
    }
    let own: Vec<&str> = obs
        .rows
        .iter()
        .filter(|r| r.mark == Mark::Notable)
        .map(|r| r.cells[0].as_str())
        .collect();
    obs.notes.push(format!(
        "own namespaces: {}; shared with the host: the rest",
        if own.is_empty() {
            "none".to_string()
        } else {
            own.join(", ")
        }
    ));
    obs.data = json!({"container": name, "pid": pid, "namespaces": data});
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_text() {
        assert_eq!(parse_ns_link("net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("pid_for_children:[1]"), Some(1));
        assert_eq!(parse_ns_link("garbage"), None);
    }

    #[test]
    fn our_own_namespaces_are_readable() {
        let p = Path::new("/proc");
        assert!(ns_inode(p, "self", "net").is_some());
        assert_eq!(ns_inode(p, "self", "nonsense"), None);
    }
}
