//! Small file helpers for cgroup filesystems: read, write without creating, parse keyed files.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{AtPath, CgroupError, Result};

/// The whole file as text.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).at(path)
}

/// The whole file as text, or `None` when it does not exist (controller not there).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at(path),
    }
}

/// Writes `value` in one `write(2)` to an existing file; cgroup files are never created.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    let mut file = OpenOptions::new().write(true).open(path).at(path)?;
    file.write_all(value.as_bytes()).at(path)
}

/// A single unsigned number (`pids.current`, `cpuacct.usage`); `max` and negatives are `None`.
pub(crate) fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>> {
    let text = text.trim();
    if text == "max" || text.starts_with('-') {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("not a number: {text:?}"),
    })
}

/// Reads a single-number file; 0 when the file is missing, `None` parses (`max`) as `u64::MAX`.
pub(crate) fn read_u64_or_zero(path: &Path) -> Result<u64> {
    match read_opt(path)? {
        Some(text) => Ok(parse_limit(path, &text)?.unwrap_or(u64::MAX)),
        None => Ok(0),
    }
}

/// The value of `key` in a flat keyed file (`key value` per line: `memory.stat`, `cpu.stat`).
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == key).then(|| words.next()?.parse().ok())?
    })
}

/// Sums `field=N` over all lines of a nested keyed file (`io.stat`: `8:0 rbytes=1 wbytes=2`).
pub(crate) fn nested_sum(text: &str, field: &str) -> u64 {
    text.lines()
        .flat_map(|line| line.split_whitespace().skip(1))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == field)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .fold(0, u64::saturating_add)
}

/// Every pid listed in `cgroup.procs` of `dir` and of its descendant cgroups, sorted.
pub(crate) fn procs_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = BTreeSet::new();
    collect_procs(dir, &mut pids)?;
    Ok(pids.into_iter().collect())
}

fn collect_procs(dir: &Path, pids: &mut BTreeSet<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    pids.extend(
        read(&procs)?
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok()),
    );
    for child in subdirs(dir)? {
        collect_procs(&child, pids)?;
    }
    Ok(())
}

/// The child directories (child cgroups) of `dir`; none when `dir` is gone.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at(dir),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.at(dir)?;
        if entry.file_type().at(entry.path())?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// Creates `dir` if missing (an existing cgroup is reused, like runc does).
pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).at(dir),
    }
}

/// Removes the cgroup `dir` and its child cgroups, retrying while the kernel still sees
/// processes in it (`EBUSY`), for at most about `deadline`. A missing `dir` is fine.
pub(crate) fn rmdir_tree(dir: &Path, deadline: Instant) -> Result<()> {
    for child in subdirs(dir)? {
        rmdir_tree(&child, deadline)?;
    }
    let mut pause = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    return Err(CgroupError::Busy {
                        path: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(8));
            }
            Err(e) => return Err(e).at(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_nested() {
        let stat = "anon 10\nfile 20\ninactive_file 7\nactive_file 13\n";
        assert_eq!(keyed_value(stat, "inactive_file"), Some(7));
        assert_eq!(keyed_value(stat, "file"), Some(20));
        assert_eq!(keyed_value(stat, "shmem"), None);
        let io = "8:0 rbytes=100 wbytes=5 rios=1 wios=1 dbytes=0 dios=0\n\
                  253:1 rbytes=20 wbytes=30 rios=2 wios=3 dbytes=0 dios=0\n";
        assert_eq!(nested_sum(io, "rbytes"), 120);
        assert_eq!(nested_sum(io, "wbytes"), 35);
        assert_eq!(nested_sum("", "wbytes"), 0);
    }

    #[test]
    fn limits_parse() {
        let p = Path::new("pids.max");
        assert_eq!(parse_limit(p, "max\n").unwrap(), None);
        assert_eq!(parse_limit(p, "-1\n").unwrap(), None);
        assert_eq!(parse_limit(p, "16\n").unwrap(), Some(16));
        assert!(parse_limit(p, "lots").is_err());
    }
}
