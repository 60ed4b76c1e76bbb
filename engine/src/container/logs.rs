//! Reading the json-file log (`<id>-json.log`): every record, the last N, and following it while
//! the container runs (inotify, no polling).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Deserialize;

use super::model::Container;
use crate::engine::Engine;
use crate::error::{IoContext, Result};

/// One record of the log.
#[derive(Debug, Clone, Deserialize)]
pub struct LogRecord {
    /// The text, newline included.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time it was written.
    pub time: String,
}

impl Engine {
    /// Send the container's log records to `out`: the last `tail` (all if `None`), then, with
    /// `follow`, new ones until the container stops.
    pub fn read_logs(
        &self,
        c: &Container,
        tail: Option<usize>,
        follow: bool,
        out: &mut dyn FnMut(&LogRecord),
    ) -> Result<()> {
        self.read_logs_while(c, tail, follow, &mut |r| {
            out(r);
            true
        })
    }

    /// [`Engine::read_logs`] that stops at the first record `out` refuses (returns false for),
    /// as when the reader went away.
    pub fn read_logs_while(
        &self,
        c: &Container,
        tail: Option<usize>,
        follow: bool,
        out: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<()> {
        let path = &c.log_path;
        let mut f = File::open(path).at(path)?;
        let inotify = if follow {
            let i = Inotify::init(InitFlags::IN_CLOEXEC)
                .map_err(std::io::Error::from)
                .at(path)?;
            i.add_watch(
                path.as_str(),
                AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE,
            )
            .map_err(std::io::Error::from)
            .at(path)?;
            Some(i)
        } else {
            None
        };
        let mut pos = 0;
        let mut first = read_from(&mut f, &mut pos)?;
        if let Some(n) = tail {
            let skip = first.len().saturating_sub(n);
            first.drain(..skip);
        }
        for r in &first {
            if !out(r) {
                return Ok(());
            }
        }
        let Some(inotify) = inotify else {
            return Ok(());
        };
        loop {
            let running = self
                .load_container(&c.id)?
                .map(|c| self.reconcile(c))
                .transpose()?
                .is_some_and(|c| c.state.running);
            for r in read_from(&mut f, &mut pos)? {
                if !out(&r) {
                    return Ok(());
                }
            }
            if !running {
                return Ok(());
            }
            // The monitor writes, then closes the log when PID 1 is gone: both wake us.
            inotify
                .read_events()
                .map_err(std::io::Error::from)
                .at(path)?;
        }
    }
}

/// Complete records after `pos`; `pos` moves past them (a half-written last line waits).
fn read_from(f: &mut File, pos: &mut u64) -> Result<Vec<LogRecord>> {
    f.seek(SeekFrom::Start(*pos)).on("log")?;
    let mut r = BufReader::new(&mut *f);
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).on("log")?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(out);
        }
        *pos += n as u64;
        if let Ok(rec) = serde_json::from_str(&line) {
            out.push(rec);
        }
    }
}
