//! `cgroups`: a container's cgroup (from `/proc/PID/cgroup`, found in the mounts of
//! `/proc/self/mountinfo`), its limit files and what it uses now, on cgroup v1 (hybrid hosts too)
//! and v2: `memory.limit_in_bytes`/`memory.max`, `cpu.shares`/`cpu.weight`, the CPU quota,
//! `pids.max`, and `memory.usage_in_bytes`/`memory.current`, `pids.current`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    container_pid, human_bytes, inspect_container, short_name, Mark, Observation, ObserveError, Row,
};
use crate::backend::Backend;

/// A cgroup filesystem mount (from mountinfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The folder of the hierarchy that is mounted (`/` unless in a cgroup namespace).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// cgroup2 (unified) or cgroup (v1).
    pub v2: bool,
    /// The v1 controllers of the mount (`memory`, `cpu`, `cpuacct`, `name=systemd`).
    pub controllers: Vec<String>,
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup mounts in `/proc/self/mountinfo` text.
pub fn parse_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split_whitespace().collect();
            let r: Vec<&str> = right.split_whitespace().collect();
            let (root, mount_point, fstype) = (l.get(3)?, l.get(4)?, r.first()?);
            let v2 = match *fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let controllers = if v2 {
                Vec::new()
            } else {
                r.get(2)?
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains("relatime"))
                    .map(String::from)
                    .collect()
            };
            Some(CgroupMount {
                root: unescape(root),
                mount_point: unescape(mount_point).into(),
                v2,
                controllers,
            })
        })
        .collect()
}

/// One line of `/proc/PID/cgroup`: `4:memory:/baleia/<id>` (v1) or `0::/baleia/<id>` (v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The v1 controllers (empty for the v2 line).
    pub controllers: Vec<String>,
    /// The cgroup's path in that hierarchy.
    pub path: String,
}

/// Parse `/proc/PID/cgroup` text.
pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let (_id, ctrls, path) = (it.next()?, it.next()?, it.next()?);
            Some(Membership {
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The folder of a membership under its mount, if the mount shows it.
fn folder(m: &CgroupMount, path: &str) -> Option<PathBuf> {
    let rel = if m.root == "/" {
        path
    } else {
        let rest = path.strip_prefix(m.root.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(m.mount_point.join(rel.trim_start_matches('/')))
}

/// Which controller a file belongs to, what it means and which `docker run` flag sets it.
struct FileKind {
    controller: &'static str,
    file: &'static str,
    limit: bool,
    flag: &'static str,
}

impl FileKind {
    /// A file that sets a limit, and the `docker run` flag that writes it.
    const fn limit(controller: &'static str, file: &'static str, flag: &'static str) -> FileKind {
        FileKind {
            controller,
            file,
            limit: true,
            flag,
        }
    }

    /// A file that reports usage.
    const fn usage(controller: &'static str, file: &'static str) -> FileKind {
        FileKind {
            controller,
            file,
            limit: false,
            flag: "",
        }
    }
}

const V1_FILES: &[FileKind] = &[
    FileKind::limit("memory", "memory.limit_in_bytes", "-m, --memory"),
    FileKind::limit("memory", "memory.memsw.limit_in_bytes", "--memory-swap"),
    FileKind::usage("memory", "memory.usage_in_bytes"),
    FileKind::limit("cpu", "cpu.shares", "--cpu-shares"),
    FileKind::limit("cpu", "cpu.cfs_quota_us", "--cpus"),
    FileKind::limit("cpu", "cpu.cfs_period_us", "--cpus"),
    FileKind::limit("pids", "pids.max", "--pids-limit"),
    FileKind::usage("pids", "pids.current"),
];

const V2_FILES: &[FileKind] = &[
    FileKind::limit("memory", "memory.max", "-m, --memory"),
    FileKind::limit("memory", "memory.swap.max", "--memory-swap"),
    FileKind::usage("memory", "memory.current"),
    FileKind::limit("cpu", "cpu.weight", "--cpu-shares"),
    FileKind::limit("cpu", "cpu.max", "--cpus"),
    FileKind::limit("pids", "pids.max", "--pids-limit"),
    FileKind::usage("pids", "pids.current"),
];

/// One cgroup file read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupFile {
    /// `memory`, `cpu`, `pids`.
    pub controller: String,
    /// 1 or 2.
    pub version: u8,
    /// The file's name.
    pub file: String,
    /// Its full path.
    pub path: PathBuf,
    /// Its content, trimmed.
    pub value: String,
    /// A limit (else a usage counter).
    pub limit: bool,
    /// The `docker run` flag that sets it (empty for usage).
    pub flag: String,
}

/// What a value means to a person: `64 MiB`, `unlimited`, `1.5 CPUs`, `default (1024)`.
pub fn meaning(file: &str, value: &str) -> String {
    let v = value.trim();
    let num = v.parse::<u64>().ok();
    match file {
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" => match num {
            // v1 prints PAGE_COUNTER_MAX pages as "unlimited": 9223372036854771712 on 4k pages.
            Some(n) if n >= 1 << 62 => "unlimited".into(),
            Some(n) => human_bytes(n),
            None => v.into(),
        },
        "memory.max" | "memory.swap.max" | "pids.max" if v == "max" => "unlimited".into(),
        "memory.max" | "memory.swap.max" | "memory.usage_in_bytes" | "memory.current" => {
            num.map(human_bytes).unwrap_or_else(|| v.into())
        }
        "cpu.shares" if num == Some(1024) => "default (1024)".into(),
        "cpu.weight" if num == Some(100) => "default (100)".into(),
        "cpu.cfs_quota_us" if v == "-1" => "no quota".into(),
        "cpu.cfs_quota_us" => format!("{v} µs of CPU time per period"),
        "cpu.cfs_period_us" => format!("period {v} µs"),
        "cpu.max" => match v.split_once(' ') {
            Some(("max", _)) => "no quota".into(),
            Some((q, p)) => match (q.parse::<f64>(), p.parse::<f64>()) {
                (Ok(q), Ok(p)) if p > 0.0 => format!("{} CPU(s)", (q / p * 100.0).round() / 100.0),
                _ => v.into(),
            },
            None => v.into(),
        },
        "pids.max" => format!("at most {v} processes"),
        "pids.current" => format!("{v} process(es)"),
        _ => v.into(),
    }
}

/// The limit and usage files of the cgroups a process belongs to (`proc_cgroup` is its
/// `/proc/PID/cgroup`, `mountinfo` says where the hierarchies are). A v1 controller is read from
/// its own mount; a controller without one from the unified (v2) hierarchy, if it has it there.
pub fn cgroup_files(proc_cgroup: &str, mountinfo: &str) -> Vec<CgroupFile> {
    let mounts = parse_mounts(mountinfo);
    let members = parse_proc_cgroup(proc_cgroup);
    let mut out = Vec::new();
    for controller in ["memory", "cpu", "pids"] {
        // v1: the line naming this controller and the mount holding it.
        let v1 = members.iter().find_map(|m| {
            if !m.controllers.iter().any(|c| c == controller) {
                return None;
            }
            let mount = mounts
                .iter()
                .find(|mt| !mt.v2 && m.controllers.iter().all(|c| mt.controllers.contains(c)))?;
            folder(mount, &m.path)
        });
        let (dir, version, table) = match v1 {
            Some(d) => (d, 1, V1_FILES),
            None => {
                let v2 = members.iter().find_map(|m| {
                    if !m.controllers.is_empty() {
                        return None;
                    }
                    mounts
                        .iter()
                        .filter(|mt| mt.v2)
                        .find_map(|mt| folder(mt, &m.path))
                });
                match v2 {
                    Some(d) => (d, 2, V2_FILES),
                    None => continue,
                }
            }
        };
        for k in table.iter().filter(|k| k.controller == controller) {
            let path = dir.join(k.file);
            let Ok(value) = std::fs::read_to_string(&path) else {
                continue; // not enabled here (swap accounting off, cpu not delegated)
            };
            out.push(CgroupFile {
                controller: controller.into(),
                version,
                file: k.file.into(),
                path,
                value: value.trim().to_string(),
                limit: k.limit,
                flag: k.flag.into(),
            });
        }
    }
    out
}

/// A container's cgroup folders, limit files and usage, with what each value means.
pub fn cgroups(backend: &Backend, container: &str) -> Result<Observation, ObserveError> {
    let c = inspect_container(backend, container)?;
    let pid = container_pid(container, &c)?;
    let name = short_name(&c, container);
    let proc_cgroup = super::read_text(&Path::new("/proc").join(pid.to_string()).join("cgroup"))?;
    let mountinfo = super::read_text(Path::new("/proc/self/mountinfo"))?;
    let files = cgroup_files(&proc_cgroup, &mountinfo);
    let mut obs = Observation::new(
        format!("cgroups of {name} (PID {pid})"),
        &["controller", "file", "value", "meaning", "set by"],
        json!(null),
    );
    let mut dirs: Vec<PathBuf> = Vec::new();
    for f in &files {
        let dir = f.path.parent().map(Path::to_path_buf).unwrap_or_default();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
        let m = meaning(&f.file, &f.value);
        let notable = f.limit
            && !(m == "unlimited"
                || m == "no quota"
                || m.starts_with("default")
                || m.starts_with("period"));
        obs.rows.push(Row::new(
            vec![
                format!("{} (v{})", f.controller, f.version),
                f.file.clone(),
                f.value.clone(),
                m,
                if f.flag.is_empty() {
                    "usage".into()
                } else {
                    f.flag.clone()
                },
            ],
            if notable { Mark::Notable } else { Mark::Plain },
        ));
    }
    for d in &dirs {
        obs.notes.push(format!("in {}", d.display()));
    }
    obs.data = json!({
        "container": name,
        "pid": pid,
        "files": files.iter().map(|f| json!({
            "controller": f.controller, "version": f.version, "file": f.file, "path": f.path,
            "value": f.value, "limit": f.limit, "flag": f.flag,
        })).collect::<Vec<_>>(),
    });
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw shared:5 - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
36 30 0:32 / /sys/fs/cgroup/sys\\040temd rw - cgroup cgroup rw,name=systemd";

    #[test]
    fn mounts_of_a_hybrid_host() {
        let m = parse_mounts(V1_MOUNTS);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[0].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(m[3].v2);
        assert_eq!(m[4].mount_point, Path::new("/sys/fs/cgroup/sys temd"));
    }

    #[test]
    fn proc_cgroup_lines() {
        let p = parse_proc_cgroup("4:memory:/baleia/abc\n1:cpu,cpuacct:/baleia/abc\n0::/\n");
        assert_eq!(p[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(p[2].controllers, Vec::<String>::new());
        assert_eq!(p[2].path, "/");
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, v) in files {
            std::fs::write(dir.join(f), format!("{v}\n")).unwrap();
        }
    }

    #[test]
    fn v1_files_from_a_fake_hierarchy() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().display().to_string();
        let mountinfo = format!(
            "31 30 0:27 / {root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             32 30 0:28 / {root}/memory rw - cgroup cgroup rw,memory\n\
             33 30 0:29 / {root}/pids rw - cgroup cgroup rw,pids\n\
             35 30 0:31 / {root}/unified rw - cgroup2 cgroup2 rw\n"
        );
        write(
            &t.path().join("memory/baleia/c1"),
            &[
                ("memory.limit_in_bytes", "67108864"),
                ("memory.usage_in_bytes", "1048576"),
            ],
        );
        write(
            &t.path().join("cpu,cpuacct/baleia/c1"),
            &[
                ("cpu.shares", "512"),
                ("cpu.cfs_quota_us", "-1"),
                ("cpu.cfs_period_us", "100000"),
            ],
        );
        write(
            &t.path().join("pids/baleia/c1"),
            &[("pids.max", "max"), ("pids.current", "1")],
        );
        let proc_cgroup =
            "8:pids:/baleia/c1\n4:memory:/baleia/c1\n1:cpu,cpuacct:/baleia/c1\n0::/\n";
        let files = cgroup_files(proc_cgroup, &mountinfo);
        let get = |f: &str| files.iter().find(|x| x.file == f).unwrap();
        assert_eq!(get("memory.limit_in_bytes").value, "67108864");
        assert_eq!(get("memory.limit_in_bytes").version, 1);
        assert_eq!(
            meaning("memory.limit_in_bytes", &get("memory.limit_in_bytes").value),
            "64 MiB"
        );
        assert_eq!(get("cpu.shares").value, "512");
        assert_eq!(get("pids.max").value, "max");
        assert_eq!(meaning("pids.max", "max"), "unlimited");
        assert!(!get("memory.usage_in_bytes").limit);
        // no swap accounting file: not shown
        assert!(files
            .iter()
            .all(|f| f.file != "memory.memsw.limit_in_bytes"));
        assert_eq!(files.len(), 7);
    }

    #[test]
    fn v2_files_from_a_fake_hierarchy() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().display().to_string();
        let mountinfo = format!("35 30 0:31 / {root} rw - cgroup2 cgroup2 rw,nsdelegate\n");
        write(
            &t.path().join("baleia/c2"),
            &[
                ("memory.max", "67108864"),
                ("memory.current", "204800"),
                ("cpu.weight", "100"),
                ("cpu.max", "150000 100000"),
                ("pids.max", "20"),
                ("pids.current", "2"),
            ],
        );
        let files = cgroup_files("0::/baleia/c2\n", &mountinfo);
        let names: Vec<_> = files.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(
            names,
            [
                "memory.max",
                "memory.current",
                "cpu.weight",
                "cpu.max",
                "pids.max",
                "pids.current"
            ]
        );
        assert!(files.iter().all(|f| f.version == 2));
        assert_eq!(meaning("cpu.max", "150000 100000"), "1.5 CPU(s)");
        assert_eq!(meaning("cpu.weight", "100"), "default (100)");
        assert_eq!(meaning("memory.current", "204800"), "200 KiB");
        assert_eq!(meaning("pids.max", "20"), "at most 20 processes");
    }

    #[test]
    fn a_namespaced_mount_root_is_stripped() {
        let m = CgroupMount {
            root: "/baleia".into(),
            mount_point: "/sys/fs/cgroup/memory".into(),
            v2: false,
            controllers: vec!["memory".into()],
        };
        assert_eq!(
            folder(&m, "/baleia/c1"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/c1"))
        );
        assert_eq!(folder(&m, "/other/c1"), None);
        assert_eq!(folder(&m, "/baleiax"), None);
    }

    #[test]
    fn huge_v1_limit_is_unlimited() {
        assert_eq!(
            meaning("memory.limit_in_bytes", "9223372036854771712"),
            "unlimited"
        );
        assert_eq!(meaning("cpu.cfs_quota_us", "-1"), "no quota");
    }
}
