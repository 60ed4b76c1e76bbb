//! `top`: a running container's processes as the host sees them. By default the columns of
//! `ps -ef` (`UID PID PPID C STIME TTY TIME CMD`), computed from `/proc/<pid>/{stat,status,
//! cmdline}` for every process in the container's cgroup; with other `ps` options, the host's
//! `ps` is run and its rows kept for the container's PIDs, as Docker does.

use std::collections::HashMap;
use std::fs;
use std::process::Command;

use chrono::{Datelike, Local, TimeZone};

use super::resources;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Docker's `ContainerTopOKBody`: column titles and one row of cells per process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessList {
    /// Column titles.
    pub titles: Vec<String>,
    /// One row per process, as many cells as titles.
    pub processes: Vec<Vec<String>>,
}

/// The titles of `ps -ef`.
pub const PS_EF_TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

impl Engine {
    /// The processes of running container `name`; `ps_args` empty (or `-ef`) gives `ps -ef`'s
    /// columns from `/proc`, anything else runs the host's `ps` with them.
    pub fn top(&self, name: &str, ps_args: &[String]) -> Result<ProcessList> {
        let c = self.resolve_container(name)?;
        if !c.state.running {
            return Err(Error::Runtime(format!("container {} is not running", c.id)));
        }
        let pids = match resources::open_cgroup(&c.id) {
            Some(cg) => cg
                .pids()
                .map_err(|e| Error::Runtime(format!("cgroup: {e}")))?,
            None => vec![c.state.pid],
        };
        let args: Vec<String> = ps_args
            .iter()
            .flat_map(|a| a.split_whitespace())
            .map(String::from)
            .collect();
        if args.is_empty() || args == ["-ef"] {
            Ok(ps_ef(&pids))
        } else {
            run_ps(&args, &pids)
        }
    }
}

/// `ps -ef` for `pids`, from `/proc`; processes that exit meanwhile are left out.
pub fn ps_ef(pids: &[i32]) -> ProcessList {
    let host = HostClock::now();
    let users = host_users();
    let mut processes = Vec::new();
    let mut sorted = pids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for pid in sorted {
        if let Some(p) = Proc::read(pid) {
            processes.push(p.row(&host, &users));
        }
    }
    ProcessList {
        titles: PS_EF_TITLES.iter().map(|s| s.to_string()).collect(),
        processes,
    }
}

/// Run the host's `ps` with `args` and keep the rows of `pids` (Docker's `parsePSOutput`).
fn run_ps(args: &[String], pids: &[i32]) -> Result<ProcessList> {
    let out = Command::new("ps")
        .args(args)
        .output()
        .map_err(|e| Error::Runtime(format!("Error running ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::Runtime(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), pids)
}

/// Split `ps` output into titles and the rows of `pids`; the last column keeps its spaces.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<ProcessList> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::Runtime("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(cell) = fields.get(pid_index) else {
            continue;
        };
        let pid: i32 = cell
            .parse()
            .map_err(|e| Error::Runtime(format!("Unexpected pid '{cell}': {e}")))?;
        if pids.contains(&pid) {
            let last = titles.len().saturating_sub(1).min(fields.len());
            let mut row: Vec<String> = fields[..last].iter().map(|s| s.to_string()).collect();
            row.push(fields[last..].join(" "));
            processes.push(row);
        }
    }
    Ok(ProcessList { titles, processes })
}

/// What the host's clock and boot say, for start times and CPU use.
struct HostClock {
    /// Clock ticks per second.
    hz: u64,
    /// Boot time, seconds since the epoch.
    boot: i64,
    /// Seconds since boot.
    uptime: f64,
    /// Now, seconds since the epoch.
    now: i64,
}

impl HostClock {
    fn now() -> HostClock {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let boot = fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
            .unwrap_or(0);
        let uptime = fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        HostClock {
            hz,
            boot,
            uptime,
            now: chrono::Utc::now().timestamp(),
        }
    }
}

/// The host's `/etc/passwd`: uid → name.
fn host_users() -> HashMap<u32, String> {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

/// One process, as read from `/proc`.
struct Proc {
    pid: i32,
    ppid: i32,
    euid: u32,
    comm: String,
    state: char,
    tty: u64,
    /// utime + stime, in ticks.
    cpu_ticks: u64,
    /// Start, in ticks after boot.
    start_ticks: u64,
    args: String,
}

impl Proc {
    fn read(pid: i32) -> Option<Proc> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat.get(open + 1..close)?.to_string();
        let f: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args = String::from_utf8_lossy(&cmdline)
            .trim_end_matches('\0')
            .replace('\0', " ");
        Some(Proc {
            pid,
            ppid: f.get(1)?.parse().ok()?,
            euid,
            comm,
            state: f.first()?.chars().next()?,
            tty: num(4)?,
            cpu_ticks: num(11)? + num(12)?,
            start_ticks: num(19)?,
            args,
        })
    }

    /// The cells of `ps -ef`.
    fn row(&self, host: &HostClock, users: &HashMap<u32, String>) -> Vec<String> {
        let user = match users.get(&self.euid) {
            // procps shows long names cut to 7 characters and a `+`.
            Some(n) if n.chars().count() > 8 => {
                format!("{}+", n.chars().take(7).collect::<String>())
            }
            Some(n) => n.clone(),
            None => self.euid.to_string(),
        };
        let cmd = if self.state == 'Z' {
            format!("[{}] <defunct>", self.comm)
        } else if self.args.is_empty() {
            format!("[{}]", self.comm)
        } else {
            self.args.clone()
        };
        vec![
            user,
            self.pid.to_string(),
            self.ppid.to_string(),
            self.cpu_percent(host).to_string(),
            self.start_time(host),
            tty_name(self.tty, self.pid),
            cpu_time(self.cpu_ticks / host.hz),
            cmd,
        ]
    }

    /// procps's `C`: CPU time over lifetime, in whole percent, at most 99.
    fn cpu_percent(&self, host: &HostClock) -> u64 {
        let seconds = (host.uptime - self.start_ticks as f64 / host.hz as f64).max(0.0) as u64;
        if seconds == 0 {
            return 0;
        }
        ((self.cpu_ticks * 100 / host.hz) / seconds).min(99)
    }

    /// procps's `STIME`: `HH:MM` today, `MonDD` this year, else the year (local time).
    fn start_time(&self, host: &HostClock) -> String {
        let started = host.boot + (self.start_ticks / host.hz) as i64;
        let (Some(t), Some(now)) = (
            Local.timestamp_opt(started, 0).single(),
            Local.timestamp_opt(host.now, 0).single(),
        ) else {
            return "?".into();
        };
        if t.year() != now.year() {
            t.format("%Y").to_string()
        } else if t.ordinal() != now.ordinal() {
            t.format("%b%d").to_string()
        } else {
            t.format("%H:%M").to_string()
        }
    }
}

/// procps's `TIME`: `[DD-]HH:MM:SS` of CPU time.
fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The `TTY` column: `?` without a terminal, else its name under `/dev`.
fn tty_name(dev: u64, pid: i32) -> String {
    if dev == 0 {
        return "?".into();
    }
    let (major, minor) = (
        libc::major(dev as libc::dev_t),
        libc::minor(dev as libc::dev_t),
    );
    match major {
        136..=143 => return format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => return format!("tty{minor}"),
        4 => return format!("ttyS{}", minor - 64),
        _ => {}
    }
    // Anything else: the name one of its standard descriptors opens, if it is that device.
    for fd in 0..3 {
        let link = format!("/proc/{pid}/fd/{fd}");
        if let (Ok(target), Ok(meta)) = (fs::read_link(&link), fs::metadata(&link)) {
            use std::os::unix::fs::MetadataExt;
            if meta.rdev() == dev {
                if let Ok(rest) = target.strip_prefix("/dev") {
                    return rest.display().to_string();
                }
            }
        }
    }
    "?".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_filtered_and_the_last_column_keeps_spaces() {
        let out = "USER  PID %CPU COMMAND\nroot    1  0.0 /sbin/init splash\nroot   42  1.5 sleep 1000\nwww  4242  0.0 nginx: worker process\n";
        let l = parse_ps(out, &[42, 4242]).unwrap();
        assert_eq!(l.titles, ["USER", "PID", "%CPU", "COMMAND"]);
        assert_eq!(
            l.processes,
            [
                vec!["root", "42", "1.5", "sleep 1000"],
                vec!["www", "4242", "0.0", "nginx: worker process"]
            ]
        );
        assert!(parse_ps("USER COMMAND\n", &[1])
            .unwrap_err()
            .to_string()
            .contains("Couldn't find PID field"));
    }

    #[test]
    fn our_own_process_reads_like_ps_ef() {
        let me = std::process::id() as i32;
        let l = ps_ef(&[me]);
        assert_eq!(l.titles, PS_EF_TITLES);
        let row = &l.processes[0];
        assert_eq!(row[1], me.to_string());
        assert_eq!(row[2], std::os::unix::process::parent_id().to_string());
        assert!(row[6].len() >= 8 && row[6].contains(':'), "{row:?}");
        assert_eq!(cpu_time(90061), "1-01:01:01");
        assert_eq!(cpu_time(61), "00:01:01");
    }
}
