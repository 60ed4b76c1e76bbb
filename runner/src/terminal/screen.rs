//! What a terminal has shown: the bytes as they came (for recordings), the text a learner sees
//! (escape sequences and the runner's prompt markers taken out, for checks), and the markers the
//! host shell prints at the end of each prompt with the last command's exit status.

use std::time::Instant;

use super::page::Page;

/// The marker our host shells print at the end of each prompt: `ESC ] 777 ; baleia ; STATUS BEL`.
pub const MARKER_PREFIX: &[u8] = b"\x1b]777;baleia;";

/// Everything one terminal printed.
#[derive(Debug)]
pub struct Screen {
    /// When the terminal started (recordings count from here).
    pub started: Instant,
    /// Output chunks with their time, markers removed, as a recording replays them.
    pub chunks: Vec<(f64, String)>,
    /// The visible text so far, drawn as a terminal draws it (see [`Page`]).
    pub page: Page,
    /// One exit status per prompt the host shell printed.
    pub prompts: Vec<i32>,
    /// When output last came.
    pub last_output: Instant,
    /// The shell has gone (the pty hung up).
    pub closed: bool,
    pending: Vec<u8>,
}

impl Screen {
    /// An empty screen starting now.
    pub fn new() -> Screen {
        let now = Instant::now();
        Screen {
            started: now,
            chunks: Vec::new(),
            page: Page::default(),
            prompts: Vec::new(),
            last_output: now,
            closed: false,
            pending: Vec::new(),
        }
    }

    /// Take in bytes read from the pty; a marker or escape sequence cut between reads waits
    /// for the rest.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut shown = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < data.len() {
            if data[i] == 0x1b {
                match escape_len(&data[i..]) {
                    None => {
                        self.pending = data[i..].to_vec();
                        break;
                    }
                    Some(n) => {
                        let seq = &data[i..i + n];
                        if let Some(rest) = seq.strip_prefix(MARKER_PREFIX) {
                            let code = String::from_utf8_lossy(&rest[..rest.len() - 1]);
                            self.prompts.push(code.trim().parse().unwrap_or(-1));
                        } else {
                            shown.extend_from_slice(seq);
                        }
                        i += n;
                        continue;
                    }
                }
            }
            shown.push(data[i]);
            i += 1;
        }
        if shown.is_empty() {
            return;
        }
        self.last_output = Instant::now();
        let s = String::from_utf8_lossy(&shown).into_owned();
        self.page.write(&s);
        self.chunks.push((self.started.elapsed().as_secs_f64(), s));
    }
}

impl Default for Screen {
    fn default() -> Screen {
        Screen::new()
    }
}

/// Length of the escape sequence at the start of `b` (which begins with ESC), or `None` if it is
/// not complete yet. OSC ends with BEL or ESC \; CSI with a final byte; others are two bytes.
pub(super) fn escape_len(b: &[u8]) -> Option<usize> {
    match b.get(1)? {
        b']' => {
            let mut j = 2;
            while j < b.len() {
                if b[j] == 0x07 {
                    return Some(j + 1);
                }
                if b[j] == 0x1b && b.get(j + 1) == Some(&b'\\') {
                    return Some(j + 2);
                }
                j += 1;
            }
            None
        }
        b'[' => {
            let mut j = 2;
            while j < b.len() {
                if (0x40..=0x7e).contains(&b[j]) {
                    return Some(j + 1);
                }
                j += 1;
            }
            None
        }
        _ => Some(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_prompts_and_escapes_leave_the_text() {
        let mut s = Screen::new();
        s.feed(b"\x1b[?2004h$ echo hi\r\nhi\r\n\x1b]777;baleia;0\x07$ ");
        assert_eq!(s.prompts, vec![0]);
        assert_eq!(s.page.text, "$ echo hi\nhi\n$ ");
        // A marker cut between two reads.
        s.feed(b"false\r\n\x1b]777;bal");
        assert_eq!(s.prompts, vec![0]);
        s.feed(b"eia;1\x07$ ");
        assert_eq!(s.prompts, vec![0, 1]);
        assert!(s.page.text.ends_with("$ false\n$ "), "{:?}", s.page.text);
        assert!(s.chunks.iter().all(|(_, c)| !c.contains("777;baleia")));
    }
}
