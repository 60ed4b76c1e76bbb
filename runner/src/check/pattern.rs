//! Output patterns, in the manner of trycmd/snapbox: what `output`, `file.contains`, `port.answer`,
//! `packet.matches` and `iptables.rule` checks say.
//!
//! # The rules
//!
//! - **Lines.** Text and pattern are split into lines at `\n`. Every line loses its trailing
//!   whitespace (so `\r` of a terminal's CRLF goes too), and the text loses ANSI escape sequences
//!   (colours, cursor moves) first. Blank lines at the start and end of the pattern are dropped
//!   (YAML's `|` blocks end with a newline). Leading whitespace counts.
//! - **`[..]`** in a pattern line matches any text within one line, the empty text included.
//!   Everything else in a pattern line is literal, and a pattern line must match a *whole* text
//!   line: `hi` does not match the line `hi there`, `hi[..]` does.
//! - **`...`** alone on a pattern line (surrounding spaces allowed) matches any number of lines,
//!   none included. It splits the pattern into *blocks*.
//! - **Blocks.** The lines of one block must match consecutive text lines. The blocks must be found
//!   in the pattern's order without overlapping; the text before the first block, between two
//!   blocks and after the last one is free. So a pattern is found *somewhere* in the text (a
//!   `...` at its start or end changes nothing), and `...` is what allows a gap between two lines.
//! - An empty pattern matches any text.
//!
//! Each block is taken at its first occurrence after the previous one, which finds a match whenever
//! there is one.

use std::fmt;
use std::ops::Range;

/// Whether `text` matches `pattern` (see the module's rules).
pub fn matches(pattern: &str, text: &str) -> bool {
    locate(pattern, text).is_ok()
}

/// Why `text` does not match `pattern`, or `None` when it does.
pub fn first_difference(pattern: &str, text: &str) -> Option<Mismatch> {
    locate(pattern, text).err()
}

/// Where each block of `pattern` was found: ranges of line indexes into [`lines`]`(text)`, one
/// per block; or the first pattern line that could not be placed.
pub fn locate(pattern: &str, text: &str) -> Result<Vec<Range<usize>>, Mismatch> {
    let text_lines = lines(text);
    let mut found = Vec::new();
    let mut from = 0;
    for block in blocks(pattern) {
        match find_block(&block, &text_lines, from) {
            Some(at) => {
                found.push(at..at + block.len());
                from = at + block.len();
            }
            None => return Err(mismatch(&block, &text_lines, from)),
        }
    }
    Ok(found)
}

/// The text as the rules see it: escape sequences removed, lines without trailing whitespace.
pub fn lines(text: &str) -> Vec<String> {
    let clean = strip_ansi(text);
    let mut v: Vec<String> = clean
        .split('\n')
        .map(|l| l.trim_end().to_string())
        .collect();
    // A final newline ends the last line; it does not start an empty one.
    if v.len() > 1 && v.last().is_some_and(String::is_empty) && clean.ends_with('\n') {
        v.pop();
    }
    v
}

/// The text as the rules see it, as one string (for regular expressions).
pub fn normalize(text: &str) -> String {
    lines(text).join("\n")
}

/// Whether one pattern line matches one whole text line (`[..]` is any text).
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let pattern = pattern.trim_end();
    let line = line.trim_end();
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if line.len() < first.len() + last.len() || !line.starts_with(first) || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The first pattern line that could not be placed, and what stood where it was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// That pattern line.
    pub expected: String,
    /// Its number in the pattern as written (from 1).
    pub pattern_line: usize,
    /// The text line (number from 1, text) where it was expected, after the lines before it in
    /// its block were found; `None` when even the block's first line is nowhere, or when the text
    /// ended there (see `text_ended`).
    pub seen: Option<(usize, String)>,
    /// The text ended where the line was expected.
    pub text_ended: bool,
    /// How many text lines the blocks before this one used up (the search started after them).
    pub after: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.seen, self.text_ended) {
            (Some((n, seen)), _) => write!(
                f,
                "line {n} is {seen:?} where {:?} was expected",
                self.expected
            ),
            (None, true) => write!(f, "the text ends where {:?} was expected", self.expected),
            (None, false) if self.after > 0 => write!(
                f,
                "no line after line {} matches {:?}",
                self.after, self.expected
            ),
            (None, false) => write!(f, "no line matches {:?}", self.expected),
        }
    }
}

/// A pattern line with its number in the pattern as written.
type PatternLine = (usize, String);

fn blocks(pattern: &str) -> Vec<Vec<PatternLine>> {
    let all: Vec<PatternLine> = pattern
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end().to_string()))
        .collect();
    let start = all.iter().position(|(_, l)| !l.is_empty());
    let end = all.iter().rposition(|(_, l)| !l.is_empty());
    let (Some(start), Some(end)) = (start, end) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut block = Vec::new();
    for line in &all[start..=end] {
        if line.1.trim() == "..." {
            if !block.is_empty() {
                out.push(std::mem::take(&mut block));
            }
        } else {
            block.push(line.clone());
        }
    }
    if !block.is_empty() {
        out.push(block);
    }
    out
}

fn matches_at(block: &[PatternLine], text: &[String], at: usize) -> usize {
    block
        .iter()
        .zip(&text[at.min(text.len())..])
        .take_while(|((_, p), t)| line_matches(p, t))
        .count()
}

fn find_block(block: &[PatternLine], text: &[String], from: usize) -> Option<usize> {
    (from..text.len()).find(|&at| matches_at(block, text, at) == block.len())
}

/// The best partial placement of a block that could not be placed whole: the earliest start
/// where the most of its first lines match.
fn mismatch(block: &[PatternLine], text: &[String], from: usize) -> Mismatch {
    let mut best: Option<(usize, usize)> = None; // (start, lines matched)
    for at in from..text.len() {
        let n = matches_at(block, text, at);
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((at, n));
        }
    }
    let (k, seen, ended) = match best {
        Some((at, n)) => {
            let i = at + n;
            match text.get(i) {
                Some(t) => (n, Some((i + 1, t.clone())), false),
                None => (n, None, true),
            }
        }
        None => (0, None, false),
    };
    Mismatch {
        expected: block[k].1.clone(),
        pattern_line: block[k].0,
        seen,
        text_ended: ended,
        after: from,
    }
}

/// The text without ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL/ST`, and two-byte
/// `ESC x`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_must_match_a_whole_line() {
        assert!(matches("hi", "hi\n"));
        assert!(matches("hi", "$ echo hi\nhi\n$ "));
        assert!(!matches("hi", "hi there"));
        assert!(!matches("hi there", "hi"));
        assert!(!matches("hi", "oh hi"));
    }

    #[test]
    fn wildcards_match_any_text_within_a_line() {
        assert!(line_matches("[..]", ""));
        assert!(line_matches("[..]", "anything at all"));
        assert!(line_matches("hi[..]", "hi there"));
        assert!(line_matches("hi[..]", "hi"));
        assert!(line_matches("[..]there", "hi there"));
        assert!(line_matches("a[..]c[..]e", "abcde"));
        assert!(line_matches("a[..]c[..]e", "ace"));
        assert!(!line_matches("a[..]c[..]e", "abde"));
        assert!(!line_matches("a[..]c[..]e", "acd"));
        // Prefix and suffix may not share characters.
        assert!(!line_matches("ab[..]ba", "aba"));
        assert!(line_matches("ab[..]ba", "abba"));
        // A wildcard does not cross lines.
        assert!(!matches("a[..]b", "a\nb"));
        // Brackets that are not `[..]` are literal.
        assert!(line_matches("[x] done", "[x] done"));
        assert!(!line_matches("[.] done", "a done"));
    }

    #[test]
    fn ping_output_matches_as_in_the_notes() {
        let out = "PING 172.17.0.2 (172.17.0.2): 56 data bytes\r\n\
                   64 bytes from 172.17.0.2: seq=0 ttl=64 time=0.101 ms\r\n\
                   64 bytes from 172.17.0.2: seq=1 ttl=64 time=0.090 ms\r\n\
                   \r\n\
                   --- 172.17.0.2 ping statistics ---\r\n\
                   2 packets transmitted, 2 packets received, 0% packet loss\r\n";
        let pat = "PING 172.17.0.2 [..]\n...\n[..] 0% packet loss\n";
        assert!(matches(pat, out));
        let pat = "64 bytes from 172.17.0.2: seq=0 [..]\n64 bytes from 172.17.0.2: seq=1 [..]";
        assert!(matches(pat, out));
        assert!(!matches("[..] 100% packet loss", out));
    }

    #[test]
    fn lines_of_a_block_are_consecutive_and_dots_allow_gaps() {
        let text = "a\nb\nc\nd\n";
        assert!(matches("a\nb", text));
        assert!(matches("b\nc\nd", text));
        assert!(!matches("a\nc", text));
        assert!(matches("a\n...\nc", text));
        assert!(matches("a\n...\nb", text), "... matches zero lines");
        assert!(matches("...\nd\n...", text));
        assert!(!matches("c\n...\nb", text), "blocks keep their order");
        assert!(!matches("b\n...\nb", text), "blocks do not overlap");
        assert!(matches("b\n...\nb", "b\nb"));
        assert!(matches("  ...  \nd", text));
    }

    #[test]
    fn the_first_occurrence_of_a_block_leaves_room_for_the_next() {
        let text = "x\ny\nx\nz\n";
        assert!(matches("x\n...\nx\nz", text));
        assert!(matches("x\ny\n...\nz", text));
        assert!(!matches("x\nz\n...\ny", text));
    }

    #[test]
    fn crlf_trailing_spaces_and_escape_sequences_are_ignored() {
        assert!(matches("hello\nworld", "hello  \r\nworld\r\n"));
        assert!(matches("hello   \nworld\t", "hello\nworld"));
        assert!(matches(
            "total 0",
            "\x1b[0m\x1b[01;34mtotal 0\x1b[0m\r\n\x1b]0;title\x07$ "
        ));
        assert!(matches("ok", "\x1b]0;t\x1b\\ok\r\n"));
        // Leading whitespace counts.
        assert!(!matches("x", "  x"));
        assert!(matches("  x", "  x"));
    }

    #[test]
    fn blank_lines_around_a_pattern_do_not_count_but_inside_they_do() {
        assert!(matches("\n\nhi\n\n", "hi"));
        assert!(matches("a\n\nb", "a\n\nb"));
        assert!(!matches("a\n\nb", "a\nb"));
        assert!(matches("", "whatever"));
        assert!(matches("", ""));
        assert!(matches("...", ""));
        assert!(!matches("x", ""));
    }

    #[test]
    fn locate_gives_the_lines_of_each_block() {
        let text = "p\nq\nr\ns\n";
        assert_eq!(locate("q\n...\ns", text).unwrap(), vec![1..2, 3..4]);
        assert_eq!(lines("a\r\nb\r\n"), vec!["a", "b"]);
        assert_eq!(lines(""), vec![""]);
        assert_eq!(normalize("a \r\nb\r\n"), "a\nb");
    }

    #[test]
    fn the_difference_names_the_pattern_line_not_found() {
        let d = first_difference("nope", "a\nb\n").unwrap();
        assert_eq!(d.expected, "nope");
        assert_eq!(d.pattern_line, 1);
        assert_eq!(d.seen, None);
        assert_eq!(d.to_string(), "no line matches \"nope\"");

        // The block's first lines were found; the next one differs.
        let text = "PING x\n64 bytes from x\nFrom y: Destination Host Unreachable\n";
        let d = first_difference("PING x\n64 bytes[..]\n64 bytes[..]", text).unwrap();
        assert_eq!(d.pattern_line, 3);
        assert_eq!(d.expected, "64 bytes[..]");
        assert_eq!(
            d.seen,
            Some((3, "From y: Destination Host Unreachable".to_string()))
        );
        assert_eq!(
            d.to_string(),
            "line 3 is \"From y: Destination Host Unreachable\" where \"64 bytes[..]\" was expected"
        );

        // The text ends.
        let d = first_difference("a\nb\nc", "x\na\nb").unwrap();
        assert!(d.text_ended);
        assert_eq!(d.expected, "c");
        assert_eq!(d.to_string(), "the text ends where \"c\" was expected");

        // A later block, searched after the earlier ones.
        let d = first_difference("\nb\n...\na\n", "a\nb\nc").unwrap();
        assert_eq!(d.pattern_line, 4);
        assert_eq!(d.after, 2);
        assert_eq!(d.to_string(), "no line after line 2 matches \"a\"");

        assert_eq!(first_difference("a\n...\nc", "a\nb\nc"), None);
    }

    #[test]
    fn the_difference_prefers_the_longest_partial_match() {
        let text = "a\nx\na\nb\ny\n";
        let d = first_difference("a\nb\nc", text).unwrap();
        assert_eq!(d.expected, "c");
        assert_eq!(d.seen, Some((5, "y".to_string())));
    }
}
