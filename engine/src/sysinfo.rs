//! Host facts for `baleia info`, named like the fields of Docker's `GET /info` response.
//!
//! Everything is read without privileges: `uname`, `/etc/os-release`, `/proc/meminfo`, the
//! CPU affinity mask, `statfs`, `/proc/self/mountinfo` and the cgroup filesystem. A fact that
//! cannot be read is left empty/zero/false instead of failing the whole report.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `statfs` magic of the cgroup v2 (unified) filesystem.
const CGROUP2_SUPER_MAGIC: u32 = 0x6367_7270;
/// Where the cgroup hierarchy (v2) or the v1 controller mounts live.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup hierarchy the host runs; serialized as Docker does (`"1"` / `"2"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    /// Legacy or hybrid hierarchy: one mount per controller (cgroup2 may sit at `unified/`).
    #[serde(rename = "1")]
    V1,
    /// Unified hierarchy mounted at `/sys/fs/cgroup`.
    #[serde(rename = "2")]
    V2,
}

impl std::fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        })
    }
}

/// The facts `baleia info` reports, in the order Docker's `/info` JSON lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    /// Whether memory limits work (memory controller available).
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    /// Whether memory+swap limits work (v1: `memory.memsw.*`; v2: memory controller).
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    /// Whether pids limits work (pids controller available).
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    /// Whether `net.ipv4.ip_forward` is on.
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    /// How cgroups are managed; always `cgroupfs` (no systemd integration).
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    /// Cgroup hierarchy version.
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: CgroupVersion,
    /// `uname -r`, e.g. `6.1.0-18-amd64`.
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    /// os-release `PRETTY_NAME` (Docker's fallback: `Linux`).
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    /// os-release `VERSION_ID`, e.g. `12`.
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// Always `linux`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// `uname -m`, e.g. `x86_64`.
    #[serde(rename = "Architecture")]
    pub architecture: String,
    /// CPUs this process may run on (affinity mask), like Docker's `sysinfo.NumCPU`.
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    /// Total memory in bytes (`/proc/meminfo` `MemTotal`).
    #[serde(rename = "MemTotal")]
    pub mem_total: u64,
    /// The engine's data root.
    #[serde(rename = "DockerRootDir")]
    pub docker_root_dir: String,
    /// The host name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Filesystem under the data root, with Docker's names (`extfs`, `xfs`, …; `<unknown>`).
    #[serde(rename = "BackingFilesystem")]
    pub backing_filesystem: String,
}

impl SystemInfo {
    /// Collects the host's facts; same as [`collect`].
    pub fn collect(root: &Path) -> SystemInfo {
        collect(root)
    }
}

/// Collects the host's facts; `root` is the engine's data root (need not exist yet).
pub fn collect(root: &Path) -> SystemInfo {
    let (kernel_version, architecture) = match nix::sys::utsname::uname() {
        Ok(u) => (
            u.release().to_string_lossy().into_owned(),
            u.machine().to_string_lossy().into_owned(),
        ),
        Err(_) => (String::new(), String::new()),
    };
    let os_release = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .unwrap_or_default();
    let cgroup_version = cgroup_version();
    let limits = cgroup_limits(cgroup_version);
    SystemInfo {
        memory_limit: limits.memory,
        swap_limit: limits.swap,
        pids_limit: limits.pids,
        ipv4_forwarding: read_trimmed("/proc/sys/net/ipv4/ip_forward").as_deref() == Some("1"),
        cgroup_driver: "cgroupfs".to_string(),
        cgroup_version,
        kernel_version,
        operating_system: os_release_value(&os_release, "PRETTY_NAME")
            .unwrap_or_else(|| "Linux".to_string()),
        os_version: os_release_value(&os_release, "VERSION_ID").unwrap_or_default(),
        os_type: "linux".to_string(),
        architecture,
        ncpu: cpu_count(),
        mem_total: fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| meminfo_total(&m))
            .unwrap_or(0),
        docker_root_dir: root.display().to_string(),
        name: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        backing_filesystem: backing_filesystem(root),
    }
}

/// Whether the kernel knows the `overlay` filesystem (listed in `/proc/filesystems`).
pub fn kernel_supports_overlay() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|list| filesystems_include(&list, "overlay"))
        .unwrap_or(false)
}

/// The cgroup hierarchy version: v2 when `/sys/fs/cgroup` itself is a cgroup2 mount.
pub fn cgroup_version() -> CgroupVersion {
    match fs_magic(Path::new(CGROUP_ROOT)) {
        Some(CGROUP2_SUPER_MAGIC) => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    }
}

/// Docker's name for the filesystem holding `path` (or its nearest existing ancestor).
pub fn backing_filesystem(path: &Path) -> String {
    let existing = path.ancestors().find(|p| p.exists()).unwrap_or(path);
    fs_magic(existing)
        .map_or("<unknown>", filesystem_name)
        .to_string()
}

/// Docker's `graphdriver.FsNames` for a `statfs` magic number; `<unknown>` otherwise.
pub fn filesystem_name(magic: u32) -> &'static str {
    match magic {
        0x6175_6673 => "aufs",
        0x9123_683E => "btrfs",
        0x28CD_3D45 => "cramfs",
        0x0000_F15F => "ecryptfs",
        0xE0F5_E1E2 => "erofs",
        0x0000_EF53 => "extfs",
        0xF2F5_2010 => "f2fs",
        0x6573_5546 => "fuse",
        0x4750_4653 => "gpfs",
        0x0000_72B6 => "jffs2",
        0x3153_464A => "jfs",
        0x0000_6969 => "nfs",
        0x794C_7630 => "overlayfs",
        0x8584_58F6 => "ramfs",
        0x5265_4973 => "reiserfs",
        0x0000_517B => "smb",
        0x7371_7368 => "squashfs",
        0x0102_1994 => "tmpfs",
        0xA501_FCF5 => "vxfs",
        0x5846_5342 => "xfs",
        0x2FC1_2FC1 => "zfs",
        _ => "<unknown>",
    }
}

/// The `statfs` magic number of the filesystem holding `path`.
fn fs_magic(path: &Path) -> Option<u32> {
    let stat = nix::sys::statfs::statfs(path).ok()?;
    // Magic numbers are 32-bit; `f_type` is a signed long on some targets.
    Some(stat.filesystem_type().0 as u32)
}

/// Which resource limits the cgroup setup supports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct CgroupLimits {
    memory: bool,
    swap: bool,
    pids: bool,
}

fn cgroup_limits(version: CgroupVersion) -> CgroupLimits {
    match version {
        CgroupVersion::V2 => {
            let own = fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|c| unified_cgroup_path(&c));
            let candidates = own
                .into_iter()
                .map(|p| Path::new(CGROUP_ROOT).join(p.trim_start_matches('/')))
                .chain([PathBuf::from(CGROUP_ROOT)]);
            let controllers = candidates
                .filter_map(|dir| fs::read_to_string(dir.join("cgroup.controllers")).ok())
                .next()
                .unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            CgroupLimits {
                memory: has("memory"),
                swap: has("memory"),
                pids: has("pids"),
            }
        }
        CgroupVersion::V1 => {
            let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let memory = v1_controller_mount(&mountinfo, "memory");
            CgroupLimits {
                swap: memory
                    .as_ref()
                    .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists()),
                memory: memory.is_some(),
                pids: v1_controller_mount(&mountinfo, "pids").is_some(),
            }
        }
    }
}

/// The mount point of a cgroup v1 controller, from `/proc/self/mountinfo` text.
fn v1_controller_mount(mountinfo: &str, controller: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let (fstype, _source, options) = (right.next()?, right.next()?, right.next()?);
        let has_controller = options.split(',').any(|o| o == controller);
        (fstype == "cgroup" && has_controller)
            .then(|| left.split_whitespace().nth(4).map(unescape_mountinfo))
            .flatten()
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(String::from_utf8_lossy(&out).into_owned())
}

/// This process's cgroup v2 path from `/proc/self/cgroup` text (the `0::<path>` line).
fn unified_cgroup_path(proc_cgroup: &str) -> Option<String> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_string)
}

/// A value from os-release text: last `KEY=` line wins, quotes and spaces trimmed (as moby).
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(|value| {
            value
                .trim_matches(|c| c == '"' || c == '\'' || c == ' ')
                .to_string()
        })
        .filter(|value| !value.is_empty())
}

/// `MemTotal` from `/proc/meminfo` text, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut parts = line.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let multiplier = match parts.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(multiplier)
}

/// Whether `/proc/filesystems` text lists `name` (lines are `[nodev]\t<name>`).
fn filesystems_include(text: &str, name: &str) -> bool {
    text.lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

fn cpu_count() -> usize {
    use nix::sched::{sched_getaffinity, CpuSet};
    let from_affinity = sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .ok()
        .map(|set| {
            (0..CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count()
        })
        .filter(|&n| n > 0);
    from_affinity
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

impl crate::Engine {
    /// Docker's `GET /info` object: counts of this root's images and containers, the storage and
    /// plugin facts, and the host's [`SystemInfo`].
    pub fn info(&self) -> crate::Result<serde_json::Value> {
        use serde_json::{json, Value};
        let facts =
            serde_json::to_value(SystemInfo::collect(self.paths.root())).expect("facts serialize");
        let images = self.images.ids()?.len();
        let containers = self.containers()?;
        let running = containers
            .iter()
            .filter(|c| c.state.running && !c.state.paused)
            .count();
        let paused = containers.iter().filter(|c| c.state.paused).count();
        let stopped = containers.len() - running - paused;
        let root = self.paths.root().display().to_string();
        let backing = match facts.get("BackingFilesystem") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let mut v = json!({
            "ID": self.engine_id()?,
            "Containers": containers.len(), "ContainersRunning": running, "ContainersPaused": paused, "ContainersStopped": stopped,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Root Dir", format!("{root}/overlay2")], ["Backing Filesystem", backing], ["Supports d_type", "true"]],
            "DockerRootDir": root,
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "LoggingDriver": "json-file",
            "OSType": "linux",
        });
        if let (Value::Object(m), Value::Object(f)) = (&mut v, &facts) {
            for (k, val) in f {
                m.entry(k.clone()).or_insert(val.clone());
            }
        }
        Ok(v)
    }

    /// The engine's ID (a UUID), made once per state root.
    pub fn engine_id(&self) -> crate::Result<String> {
        let p = self.paths.engine_id();
        if let Ok(s) = std::fs::read_to_string(&p) {
            return Ok(s.trim().to_string());
        }
        let h = crate::layer::random_hex(16);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
        crate::image::repositories::write_atomic(&p, id.as_bytes())?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
        NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
        VERSION_CODENAME=bookworm\nID=debian\n";

    #[test]
    fn os_release_values() {
        assert_eq!(
            os_release_value(DEBIAN, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_release_value(DEBIAN, "VERSION_ID").as_deref(),
            Some("12")
        );
        assert_eq!(os_release_value(DEBIAN, "ID").as_deref(), Some("debian"));
        // `NAME` must not match `PRETTY_NAME`, nor `VERSION` match `VERSION_ID`.
        assert_eq!(
            os_release_value(DEBIAN, "NAME").as_deref(),
            Some("Debian GNU/Linux")
        );
        assert_eq!(
            os_release_value(DEBIAN, "VERSION").as_deref(),
            Some("12 (bookworm)")
        );
        assert_eq!(os_release_value("ID=alpine\n", "PRETTY_NAME"), None);
        assert_eq!(
            os_release_value("PRETTY_NAME='Alpine Linux v3.19'\n", "PRETTY_NAME").as_deref(),
            Some("Alpine Linux v3.19")
        );
    }

    #[test]
    fn meminfo_total_in_bytes() {
        let text = "MemTotal:       16318480 kB\nMemFree:         1234567 kB\n";
        assert_eq!(meminfo_total(text), Some(16_318_480 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(meminfo_total("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn filesystems_list() {
        let text = "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n";
        assert!(filesystems_include(text, "overlay"));
        assert!(filesystems_include(text, "ext4"));
        assert!(!filesystems_include(text, "btrfs"));
        assert!(!filesystems_include("nodev\toverlayfs\n", "overlay"));
    }

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpuacct,nsdelegate
";

    #[test]
    fn v1_controller_mounts_from_mountinfo() {
        assert_eq!(
            v1_controller_mount(HYBRID_MOUNTINFO, "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            v1_controller_mount(HYBRID_MOUNTINFO, "pids"),
            Some(PathBuf::from("/sys/fs/cgroup/pids"))
        );
        assert_eq!(
            v1_controller_mount(HYBRID_MOUNTINFO, "cpuacct"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu x"))
        );
        assert_eq!(v1_controller_mount(HYBRID_MOUNTINFO, "blkio"), None);
        // Options of a cgroup2 mount are not v1 controllers.
        let v2 =
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
        assert_eq!(v1_controller_mount(v2, "memory_recursiveprot"), None);
    }

    #[test]
    fn unified_path_from_proc_self_cgroup() {
        let hybrid = "4:memory:/x\n1:cpu:/\n0::/user.slice/session-1.scope\n";
        assert_eq!(
            unified_cgroup_path(hybrid).as_deref(),
            Some("/user.slice/session-1.scope")
        );
        assert_eq!(unified_cgroup_path("4:memory:/x\n"), None);
    }

    #[test]
    fn docker_filesystem_names() {
        assert_eq!(filesystem_name(0xEF53), "extfs");
        assert_eq!(filesystem_name(0x5846_5342), "xfs");
        assert_eq!(filesystem_name(0x9123_683E), "btrfs");
        assert_eq!(filesystem_name(0x0102_1994), "tmpfs");
        assert_eq!(filesystem_name(0x794C_7630), "overlayfs");
        assert_eq!(filesystem_name(0x2FC1_2FC1), "zfs");
        assert_eq!(filesystem_name(0x1234_5678), "<unknown>");
    }

    #[test]
    fn backing_filesystem_uses_nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/created");
        let expected = fs_magic(dir.path()).map_or("<unknown>", filesystem_name);
        assert_eq!(backing_filesystem(&missing), expected);
        // /proc is procfs, which Docker has no name for.
        assert_eq!(backing_filesystem(Path::new("/proc")), "<unknown>");
    }

    #[test]
    fn collect_reports_this_host() {
        let info = collect(Path::new("/var/lib/baleia"));
        let uname = nix::sys::utsname::uname().unwrap();
        assert_eq!(info.kernel_version, uname.release().to_string_lossy());
        assert_eq!(info.architecture, uname.machine().to_string_lossy());
        assert_eq!(info.os_type, "linux");
        assert_eq!(info.cgroup_driver, "cgroupfs");
        assert!(info.ncpu >= 1);
        assert!(info.mem_total > 0);
        assert!(!info.operating_system.is_empty());
        assert_eq!(info.docker_root_dir, "/var/lib/baleia");
        if info.cgroup_version == CgroupVersion::V2 {
            assert_eq!(info.swap_limit, info.memory_limit);
        }
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["CgroupVersion"], info.cgroup_version.to_string());
        assert_eq!(json["NCPU"], info.ncpu);
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.first(), Some(&"MemoryLimit"));
        assert_eq!(keys.last(), Some(&"BackingFilesystem"));
    }
}
