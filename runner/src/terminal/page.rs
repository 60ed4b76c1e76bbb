//! The text of a terminal as a learner reads it, drawn line by line the way a terminal draws it:
//! a carriage return goes back to the start of the line, cursor-up and erase-line redraw lines
//! printed before (Docker's live pull and push progress), backspace moves left; colours and
//! other escape sequences leave no trace. Text before the last mark never changes, so what a
//! step printed is always the text after its mark.

/// The visible text and where the cursor is in it.
#[derive(Debug, Default)]
pub struct Page {
    /// The text (lines end with `\n`).
    pub text: String,
    /// Byte offset where the next character lands.
    cursor: usize,
    /// Nothing before this offset is rewritten.
    floor: usize,
}

impl Page {
    /// Keep everything so far as it is; the offset of the end, where later text starts.
    pub fn freeze(&mut self) -> usize {
        self.floor = self.text.len();
        self.cursor = self.text.len();
        self.floor
    }

    /// Draw `s` (text with control characters and escape sequences).
    pub fn write(&mut self, s: &str) {
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\x1b' => {
                    let n = super::screen::escape_len(&s.as_bytes()[i..]).unwrap_or(s.len() - i);
                    self.escape(&s[i..i + n]);
                    while chars.peek().is_some_and(|&(j, _)| j < i + n) {
                        chars.next();
                    }
                }
                '\n' => self.newline(),
                '\r' => self.cursor = self.line_start(self.cursor).max(self.floor),
                '\x08' => self.left(1),
                '\t' => self.put('\t'),
                c if c.is_control() => {}
                c => self.put(c),
            }
        }
    }

    fn line_start(&self, pos: usize) -> usize {
        self.text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0)
    }

    fn line_end(&self, pos: usize) -> usize {
        self.text[pos..]
            .find('\n')
            .map(|i| pos + i)
            .unwrap_or(self.text.len())
    }

    /// The cursor's column (in characters).
    fn column(&self) -> usize {
        self.text[self.line_start(self.cursor)..self.cursor]
            .chars()
            .count()
    }

    /// Put the cursor at `column` of the line starting at `start`, padding it with spaces when it
    /// is shorter (a terminal's cells are there, blank).
    fn move_to_column(&mut self, start: usize, column: usize) {
        let end = self.line_end(start);
        let mut pos = start;
        let mut col = 0;
        for c in self.text[start..end].chars() {
            if col == column {
                break;
            }
            pos += c.len_utf8();
            col += 1;
        }
        if col < column {
            let pad = " ".repeat(column - col);
            self.text.insert_str(pos, &pad);
            pos += pad.len();
        }
        self.cursor = pos.max(self.floor);
    }

    fn put(&mut self, c: char) {
        match self.text[self.cursor..].chars().next() {
            None => self.text.push(c),
            Some('\n') => self.text.insert(self.cursor, c),
            Some(old) => {
                let mut buf = [0u8; 4];
                self.text.replace_range(
                    self.cursor..self.cursor + old.len_utf8(),
                    c.encode_utf8(&mut buf),
                );
            }
        }
        self.cursor += c.len_utf8();
    }

    fn newline(&mut self) {
        let end = self.line_end(self.cursor);
        if end == self.text.len() {
            self.text.push('\n');
            self.cursor = self.text.len();
        } else {
            self.cursor = end + 1;
        }
    }

    fn left(&mut self, n: usize) {
        let start = self.line_start(self.cursor).max(self.floor);
        for _ in 0..n {
            match self.text[start..self.cursor].chars().next_back() {
                Some(c) => self.cursor -= c.len_utf8(),
                None => break,
            }
        }
    }

    fn up(&mut self, n: usize) {
        let col = self.column();
        let mut start = self.line_start(self.cursor);
        for _ in 0..n {
            if start == 0 || start <= self.floor {
                break;
            }
            start = self.line_start(start - 1);
        }
        self.move_to_column(start, col);
    }

    fn down(&mut self, n: usize) {
        let col = self.column();
        let mut start = self.line_start(self.cursor);
        for _ in 0..n {
            let end = self.line_end(start);
            if end == self.text.len() {
                break;
            }
            start = end + 1;
        }
        self.move_to_column(start, col);
    }

    fn escape(&mut self, seq: &str) {
        let Some(body) = seq.strip_prefix("\x1b[") else {
            return;
        };
        let Some(last) = body.chars().last() else {
            return;
        };
        let params = &body[..body.len() - last.len_utf8()];
        if params.starts_with(['?', '>', '=']) {
            return;
        }
        let n = params
            .split(';')
            .next()
            .and_then(|p| p.parse::<usize>().ok());
        match last {
            'A' => self.up(n.unwrap_or(1).max(1)),
            'B' => self.down(n.unwrap_or(1).max(1)),
            'C' => {
                let col = self.column() + n.unwrap_or(1).max(1);
                self.move_to_column(self.line_start(self.cursor), col);
            }
            'D' => self.left(n.unwrap_or(1).max(1)),
            'K' => {
                let end = self.line_end(self.cursor);
                match n.unwrap_or(0) {
                    0 => {
                        self.text.replace_range(self.cursor..end, "");
                    }
                    2 => {
                        let start = self.line_start(self.cursor).max(self.floor);
                        self.text.replace_range(start..end, "");
                        self.cursor = start;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(s: &str) -> String {
        let mut p = Page::default();
        p.write(s);
        p.text
    }

    #[test]
    fn carriage_returns_and_backspaces_redraw_the_line() {
        assert_eq!(drawn("ab\x08c\x1b[1;31mred\x1b[0m\r\n"), "acred\n");
        assert_eq!(drawn("50%\r100%\r\n"), "100%\n");
        assert_eq!(drawn("hello\rj\x1b[K\n"), "j\n");
        assert_eq!(drawn("a\tb\x07\n"), "a\tb\n");
    }

    #[test]
    fn docker_pull_progress_ends_as_its_last_frame() {
        // What docker prints on a terminal: a line per layer, redrawn in place.
        let mut p = Page::default();
        p.write("t1$ ");
        let mark = p.freeze();
        p.write("docker pull debian\r\nlatest: Pulling from library/debian\r\n");
        p.write("\x1b[2K\raaa: Pulling fs layer \r\n\x1b[2K\rbbb: Pulling fs layer \r\n");
        p.write("\x1b[2A\x1b[2K\raaa: Downloading [=>   ]  1MB/50MB\r\x1b[2B");
        p.write("\x1b[1A\x1b[2K\rbbb: Download complete \r\x1b[1B");
        p.write("\x1b[2A\x1b[2K\raaa: Pull complete \r\x1b[2B");
        p.write("\x1b[1A\x1b[2K\rbbb: Pull complete \r\x1b[1B");
        p.write("Digest: sha256:01\r\nStatus: Downloaded newer image for debian:latest\r\n");
        assert_eq!(
            &p.text[mark..],
            "docker pull debian\nlatest: Pulling from library/debian\naaa: Pull complete \n\
             bbb: Pull complete \nDigest: sha256:01\nStatus: Downloaded newer image for debian:latest\n"
        );
    }

    #[test]
    fn text_before_the_floor_stays() {
        let mut p = Page::default();
        p.write("line one\r\nt1$ ");
        let mark = p.freeze();
        p.write("\x1b[5A\x1b[2K\rX\r\x1b[K");
        assert_eq!(&p.text[..mark], "line one\nt1$ ");
        p.write("\x08\x08\x08\x08ls\r\n");
        assert_eq!(p.text, "line one\nt1$ ls\n");
    }
}
