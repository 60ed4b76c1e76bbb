//! `walk` mode: the learner types in a lab terminal themselves. Our terminal goes raw, keys go to
//! the lab's shell, its output comes back as it is printed, until the runner's check passes or
//! the learner presses Ctrl-] (for a hint, then again to have the runner type the answer).

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg};

use super::Terminal;

/// The key that gives control back to the runner (Ctrl-]).
pub const ESCAPE: u8 = 0x1d;

/// How a hand-over ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandBack {
    /// The runner's condition holds (the exercise is done).
    Done,
    /// The learner pressed Ctrl-].
    Escape,
    /// Our input ended.
    Eof,
}

impl Terminal {
    /// Let the learner type in this terminal until `done()` (asked every `every`) holds.
    pub fn hand_over(
        &self,
        every: Duration,
        done: &mut dyn FnMut() -> bool,
    ) -> io::Result<HandBack> {
        let stdin = io::stdin();
        let saved = if stdin.is_terminal() {
            let saved = termios::tcgetattr(&stdin)?;
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
            Some(saved)
        } else {
            None
        };
        let result = self.pump(every, done);
        if let Some(s) = saved {
            let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &s);
        }
        result
    }

    fn pump(&self, every: Duration, done: &mut dyn FnMut() -> bool) -> io::Result<HandBack> {
        let mut shown = self.screen.0.lock().expect("screen").chunks.len();
        let mut out = io::stdout();
        let mut last_check = Instant::now();
        let mut buf = [0u8; 1024];
        let mut stdin = io::stdin();
        loop {
            // What the shell printed since.
            let new: Vec<String> = {
                let s = self.screen.0.lock().expect("screen");
                let v = s.chunks[shown..].iter().map(|(_, c)| c.clone()).collect();
                shown = s.chunks.len();
                v
            };
            for c in new {
                out.write_all(c.as_bytes())?;
            }
            out.flush()?;
            if last_check.elapsed() >= every {
                last_check = Instant::now();
                if done() {
                    return Ok(HandBack::Done);
                }
            }
            let fd = stdin.as_fd();
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            let ready = poll(&mut fds, PollTimeout::from(50u8)).map_err(io::Error::from)?;
            if ready == 0 {
                continue;
            }
            let n = stdin.read(&mut buf)?;
            if n == 0 {
                return Ok(HandBack::Eof);
            }
            if let Some(i) = buf[..n].iter().position(|b| *b == ESCAPE) {
                (&self.master).write_all(&buf[..i])?;
                return Ok(HandBack::Escape);
            }
            (&self.master).write_all(&buf[..n])?;
        }
    }
}
