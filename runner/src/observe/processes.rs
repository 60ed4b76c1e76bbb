//! `processes`: every process in a container's PID namespace, with its host PID beside the PID it
//! has inside (the last field of `NSpid:` in `/proc/PID/status`) and its command.

use std::path::Path;

use serde_json::json;

use super::namespaces::ns_inode;
use super::{container_pid, inspect_container, short_name, Mark, Observation, ObserveError, Row};
use crate::backend::Backend;

/// What `/proc/PID/status` says about a process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// `Name:` (the command, at most 15 bytes).
    pub name: String,
    /// `NSpid:`, outermost namespace first: the last one is the PID inside the innermost.
    pub nspid: Vec<u32>,
    /// `PPid:` as the reader's namespace sees it.
    pub ppid: u32,
    /// The real user ID (`Uid:`'s first field).
    pub uid: u32,
}

/// Parse `/proc/PID/status` text.
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Name" => s.name = value.to_string(),
            "NSpid" => {
                s.nspid = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            }
            "PPid" => s.ppid = value.parse().unwrap_or(0),
            "Uid" => {
                s.uid = value
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
    }
    s
}

/// A command line from `/proc/PID/cmdline` (NUL-separated); `[name]` for a kernel thread or a
/// process whose arguments are gone.
pub fn command_line(raw: &[u8], name: &str) -> String {
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        format!("[{name}]")
    } else {
        args.join(" ")
    }
}

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its PID on the host.
    pub host_pid: u32,
    /// Its PID inside the container.
    pub pid: u32,
    /// Its parent's host PID.
    pub host_ppid: u32,
    /// Its real user ID.
    pub uid: u32,
    /// Its command line.
    pub command: String,
}

/// Every process under `proc_root` whose PID namespace is `pid_ns` (an inode), by PID inside.
pub fn processes_in(proc_root: &Path, pid_ns: u64) -> Result<Vec<Process>, ObserveError> {
    let mut found = Vec::new();
    let dir = std::fs::read_dir(proc_root).map_err(|e| ObserveError::io(proc_root, e))?;
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if ns_inode(proc_root, pid, "pid") != Some(pid_ns) {
            continue;
        }
        // A process may end while we read it: skip it then.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let st = parse_status(&status);
        let raw = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let host_pid = pid.parse().unwrap_or(0);
        found.push(Process {
            host_pid,
            pid: st.nspid.last().copied().unwrap_or(host_pid),
            host_ppid: st.ppid,
            uid: st.uid,
            command: command_line(&raw, &st.name),
        });
    }
    found.sort_by_key(|p| p.pid);
    Ok(found)
}

/// A container's processes: PID inside, host PID, parent's host PID, user, command.
pub fn processes(backend: &Backend, container: &str) -> Result<Observation, ObserveError> {
    let c = inspect_container(backend, container)?;
    let pid = container_pid(container, &c)?;
    let name = short_name(&c, container);
    let proc_root = Path::new("/proc");
    let ns = ns_inode(proc_root, &pid.to_string(), "pid")
        .ok_or_else(|| ObserveError::NotRunning(container.into()))?;
    let procs = processes_in(proc_root, ns)?;
    let mut obs = Observation::new(
        format!("processes of {name}: PID inside and on the host"),
        &["PID inside", "host PID", "host PPID", "UID", "command"],
        json!(null),
    );
    for p in &procs {
        obs.rows.push(Row::new(
            vec![
                p.pid.to_string(),
                p.host_pid.to_string(),
                p.host_ppid.to_string(),
                p.uid.to_string(),
                p.command.clone(),
            ],
            if p.pid == 1 {
                Mark::Notable
            } else {
                Mark::Plain
            },
        ));
    }
    obs.notes.push(format!(
        "the same process has two numbers: PID 1 inside is PID {pid} on the host (pid namespace {ns})"
    ));
    obs.data = json!({
        "container": name,
        "pid_namespace": ns,
        "processes": procs.iter().map(|p| json!({
            "pid": p.pid, "host_pid": p.host_pid, "host_ppid": p.host_ppid,
            "uid": p.uid, "command": p.command,
        })).collect::<Vec<_>>(),
    });
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\n\
                    Pid:\t4242\nPPid:\t4200\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t4242\t1\n";
        let s = parse_status(text);
        assert_eq!(s.name, "sleep");
        assert_eq!(s.nspid, [4242, 1]);
        assert_eq!(s.ppid, 4200);
        assert_eq!(s.uid, 1000);
    }

    #[test]
    fn command_lines() {
        assert_eq!(command_line(b"sleep\x0060\x00", "sleep"), "sleep 60");
        assert_eq!(command_line(b"", "kthreadd"), "[kthreadd]");
    }

    #[test]
    fn we_are_in_our_own_pid_namespace() {
        let p = Path::new("/proc");
        let ns = ns_inode(p, "self", "pid").unwrap();
        let me = std::process::id();
        let procs = processes_in(p, ns).unwrap();
        assert!(procs.iter().any(|x| x.host_pid == me), "{procs:?}");
    }
}
