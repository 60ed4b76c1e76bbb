//! What the kernel says about a terminal's processes: who is in the foreground of a tty, whether
//! a shell sleeps waiting for input, and the shell of an interactive container.

use std::fs;

/// The fields of `/proc/PID/stat` the runner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The process.
    pub pid: i32,
    /// `R`, `S`, `D`, `Z`…
    pub state: char,
    /// Its parent.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// Its controlling terminal's device number (0: none).
    pub tty_nr: i32,
    /// The foreground process group of that terminal (-1: none).
    pub tpgid: i32,
    /// When it started, in clock ticks after boot.
    pub start: u64,
}

/// Read `/proc/PID/stat`.
pub fn stat(pid: i32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        tpgid: f.get(5)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// How many times it went to sleep of its own accord (it reads, it waits).
pub fn voluntary_switches(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Its command line, word by word.
pub fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every process on the host.
pub fn all() -> Vec<Stat> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(stat)
        .collect()
}

/// The inode of its `ns` namespace (`pid`, `net`…).
pub fn namespace(pid: i32, ns: &str) -> Option<u64> {
    crate::observe::namespaces::ns_inode(std::path::Path::new("/proc"), &pid.to_string(), ns)
}

/// System calls a shell blocks in while it waits for a key: read, select and poll families.
#[cfg(target_arch = "x86_64")]
const INPUT_SYSCALLS: &[i64] = &[0, 7, 23, 270, 271];
#[cfg(target_arch = "aarch64")]
const INPUT_SYSCALLS: &[i64] = &[63, 72, 73];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const INPUT_SYSCALLS: &[i64] = &[];

/// The system call it is blocked in (`/proc/PID/syscall`), if any.
pub fn blocked_in(pid: i32) -> Option<i64> {
    let s = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A shell waiting for input at its terminal: in its terminal's foreground, asleep in a read or
/// a poll (not, say, in `wait` for a child or on its way out).
pub fn waits_for_input(s: &Stat) -> bool {
    s.tty_nr != 0
        && s.tpgid == s.pgrp
        && s.state == 'S'
        && (INPUT_SYSCALLS.is_empty()
            || blocked_in(s.pid).is_some_and(|n| INPUT_SYSCALLS.contains(&n)))
}

/// What a blocked system call waits on, by number: `read(fd)`, `select`/`pselect6(nfds,
/// readfds)`, `poll`/`ppoll(fds, nfds)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Read,
    Select,
    Poll,
}

fn wait_kind(nr: i64) -> Option<Wait> {
    #[cfg(target_arch = "x86_64")]
    let table: &[(i64, Wait)] = &[
        (0, Wait::Read),
        (23, Wait::Select),
        (270, Wait::Select),
        (7, Wait::Poll),
        (271, Wait::Poll),
    ];
    #[cfg(target_arch = "aarch64")]
    let table: &[(i64, Wait)] = &[(63, Wait::Read), (72, Wait::Select), (73, Wait::Poll)];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let table: &[(i64, Wait)] = &[];
    table.iter().find(|(n, _)| *n == nr).map(|(_, w)| *w)
}

/// `len` bytes of the process's memory at `addr` (root reads any process's).
fn peek(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let f = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, addr).ok()?;
    Some(buf)
}

/// A process asleep waiting to read the terminal `tty` (`/dev/pts/N`) — blocked in `read` on it,
/// or in `select`/`poll` with it among what it waits to read — as a program waiting for the
/// learner's keys is (an `nsenter`'d shell, a REPL), not one blocked on anything else (a capture's
/// socket, a child).
pub fn reads_tty(pid: i32, tty: &std::path::Path) -> bool {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let mut f = s.split_whitespace();
    let Some(kind) = f
        .next()
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(wait_kind)
    else {
        return false;
    };
    let args: Vec<u64> = f
        .take(2)
        .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .collect();
    let is_tty = |fd: u64| fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|p| p == tty);
    match (kind, args.as_slice()) {
        (Wait::Read, [fd, ..]) => is_tty(*fd),
        (Wait::Select, [nfds, readfds]) if *readfds != 0 && *nfds <= 4096 => {
            let Some(bits) = peek(pid, *readfds, (*nfds as usize).div_ceil(8)) else {
                return false;
            };
            (0..*nfds).any(|fd| bits[(fd / 8) as usize] & (1 << (fd % 8)) != 0 && is_tty(fd))
        }
        (Wait::Poll, [fds, nfds]) if *fds != 0 && *nfds <= 4096 => {
            let Some(raw) = peek(pid, *fds, *nfds as usize * 8) else {
                return false;
            };
            raw.chunks(8).any(|p| {
                let fd = i32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
                let events = i16::from_ne_bytes([p[4], p[5]]);
                fd >= 0 && events & libc::POLLIN != 0 && is_tty(fd as u64)
            })
        }
        _ => false,
    }
}

/// The process of an interactive container a client attaches to: in the namespace of PID 1 of
/// that container (`pid1`), holding a terminal, newest first (an `exec` beats PID 1).
pub fn container_shell(pid1: i32) -> Option<Stat> {
    let ns = namespace(pid1, "pid")?;
    let mut inside: Vec<Stat> = all()
        .into_iter()
        .filter(|s| s.tty_nr != 0 && namespace(s.pid, "pid") == Some(ns))
        .collect();
    // A shell's children run in their own groups; the shell is its group's leader.
    inside.retain(|s| s.pgrp == s.pid);
    // Prefer those whose parent is outside the container (PID 1, exec'd processes).
    let outside = |s: &Stat| stat(s.ppid).and_then(|p| namespace(p.pid, "pid")) != Some(ns);
    inside.sort_by_key(|s| (outside(s), s.start));
    inside.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_stat_reads() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(s.ppid > 0);
        assert!(voluntary_switches(me).is_some());
        assert!(!cmdline(me).is_empty());
        assert!(namespace(me, "pid").is_some());
    }
}
