//! The lexer: splits template text into tokens like Go's `text/template/parse` lexer,
//! including trim markers (`{{- ` / ` -}}`), comments and newlines inside actions.

use super::gofmt::{quote, unicode_repr};

/// What a token is; the keywords (`Block` to `With`) print as `<word>` in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Error,
    Eof,
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Bool,
    Char,
    CharConstant,
    Complex,
    Number,
    String,
    RawString,
    Assign,
    Declare,
    Pipe,
    LeftParen,
    RightParen,
    Field,
    Variable,
    Identifier,
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

/// One token: its kind, byte range in the source, and the line it starts on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub kind: Kind,
    pub pos: usize,
    pub end: usize,
    pub line: usize,
}

/// The tokens of a template, ending with `Eof` or, after a lexing error, `Error`.
pub(super) struct Lexed {
    pub tokens: Vec<Token>,
    /// The message of the final `Error` token, if any.
    pub error: Option<String>,
}

impl Lexed {
    /// Go's `item.String()`, as used in "unexpected X in Y" messages.
    pub fn describe(&self, src: &str, t: Token) -> String {
        let val = &src[t.pos..t.end];
        match t.kind {
            Kind::Eof => "EOF".to_string(),
            Kind::Error => self.error.clone().unwrap_or_default(),
            k if k as u8 >= Kind::Block as u8 => format!("<{val}>"),
            _ if val.chars().count() > 10 => {
                let head: String = val.chars().take(10).collect();
                format!("{}...", quote(&head, false))
            }
            _ => quote(val, false),
        }
    }
}

/// Tokenizes `src`.
pub(super) fn lex(src: &str) -> Lexed {
    let mut l = Lexer {
        src,
        tokens: Vec::with_capacity(src.len() / 3 + 4),
        line: 1,
        line_pos: 0,
    };
    let error = match l.run() {
        Ok(()) => None,
        Err((pos, msg)) => {
            l.emit(Kind::Error, pos, pos);
            Some(msg)
        }
    };
    Lexed {
        tokens: l.tokens,
        error,
    }
}

/// Go's `isSpace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// `Some(trim)` when `s` starts with `}}` or with a trim marker and `}}` (` -}}`).
fn at_right_delim(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    if s.starts_with("}}") {
        Some(false)
    } else {
        (b.len() >= 4 && is_space(b[0]) && s[1..].starts_with("-}}")).then_some(true)
    }
}

fn trim_start_len(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

type Lex<T> = Result<T, (usize, String)>;

struct Lexer<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    /// The line number at byte `line_pos` (tokens only move forward).
    line: usize,
    line_pos: usize,
}

impl Lexer<'_> {
    fn emit(&mut self, kind: Kind, pos: usize, end: usize) {
        let newlines = self.src.as_bytes()[self.line_pos..pos.max(self.line_pos)]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines;
        self.line_pos = pos.max(self.line_pos);
        let line = self.line;
        self.tokens.push(Token {
            kind,
            pos,
            end,
            line,
        });
    }

    fn run(&mut self) -> Lex<()> {
        let src = self.src;
        let mut pos = 0;
        while let Some(offset) = src[pos..].find("{{") {
            let delim = pos + offset;
            let b = src.as_bytes();
            let trim = b.len() > delim + 3 && b[delim + 2] == b'-' && is_space(b[delim + 3]);
            let text_end = match trim {
                true => {
                    pos + src[pos..delim]
                        .trim_end_matches([' ', '\t', '\r', '\n'])
                        .len()
                }
                false => delim,
            };
            if text_end > pos {
                self.emit(Kind::Text, pos, text_end);
            }
            let inner = delim + if trim { 4 } else { 2 };
            pos = if src[inner..].starts_with("/*") {
                self.comment(inner)?
            } else {
                self.emit(Kind::LeftDelim, delim, delim + 2);
                self.action(inner)?
            };
        }
        if pos < src.len() {
            self.emit(Kind::Text, pos, src.len());
        }
        self.emit(Kind::Eof, src.len(), src.len());
        Ok(())
    }

    /// Skips a `/* … */` comment, which must end right at the closing delimiter.
    fn comment(&mut self, start: usize) -> Lex<usize> {
        let src = self.src;
        let Some(close) = src[start + 2..].find("*/") else {
            return Err((start, "unclosed comment".into()));
        };
        let end = start + 2 + close + 2;
        match at_right_delim(&src[end..]) {
            None => Err((start, "comment ends before closing delimiter".into())),
            Some(false) => Ok(end + 2),
            Some(true) => Ok(end + 4 + trim_start_len(&src[end + 4..])),
        }
    }

    /// Tokens inside an action; returns the position after the right delimiter.
    fn action(&mut self, mut pos: usize) -> Lex<usize> {
        let mut depth = 0;
        loop {
            if let Some(trim) = at_right_delim(&self.src[pos..]) {
                if depth != 0 {
                    return Err((pos, "unclosed left paren".into()));
                }
                let delim = pos + if trim { 2 } else { 0 };
                self.emit(Kind::RightDelim, delim, delim + 2);
                let after = delim + 2;
                return Ok(after
                    + if trim {
                        trim_start_len(&self.src[after..])
                    } else {
                        0
                    });
            }
            let (kind, end) = self.token(pos, &mut depth).map_err(|msg| (pos, msg))?;
            self.emit(kind, pos, end);
            pos = end;
        }
    }

    /// The token starting at `start` inside an action: its kind and end.
    fn token(&self, start: usize, depth: &mut usize) -> Result<(Kind, usize), String> {
        let src = self.src;
        let b = src.as_bytes();
        let Some(c) = src[start..].chars().next() else {
            return Err("unclosed action".into());
        };
        let next = b.get(start + 1).copied();
        let one = |kind| Ok((kind, start + 1));
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                // A run of spaces, stopping before a space that starts ` -}}`.
                let mut end = start + 1;
                while end < b.len() && is_space(b[end]) && at_right_delim(&src[end..]).is_none() {
                    end += 1;
                }
                Ok((Kind::Space, end))
            }
            '=' => one(Kind::Assign),
            ':' if next == Some(b'=') => Ok((Kind::Declare, start + 2)),
            ':' => Err("expected :=".into()),
            '|' => one(Kind::Pipe),
            '"' => self.quoted(start, '"', Kind::String, "unterminated quoted string"),
            '\'' => self.quoted(
                start,
                '\'',
                Kind::CharConstant,
                "unterminated character constant",
            ),
            '`' => match src[start + 1..].find('`') {
                Some(close) => Ok((Kind::RawString, start + close + 2)),
                None => Err("unterminated raw quoted string".into()),
            },
            '$' => self.word(start, start + 1, Kind::Variable),
            '.' if !next.is_some_and(|b| b.is_ascii_digit()) => {
                self.word(start, start + 1, Kind::Field)
            }
            '.' | '+' | '-' | '0'..='9' => self.number(start),
            c if is_alphanumeric(c) => self.word(start, start, Kind::Identifier),
            '(' => {
                *depth += 1;
                one(Kind::LeftParen)
            }
            ')' if *depth == 0 => Err("unexpected right paren".into()),
            ')' => {
                *depth -= 1;
                one(Kind::RightParen)
            }
            c if c.is_ascii() && !c.is_ascii_control() => one(Kind::Char),
            c => Err(format!(
                "unrecognized character in action: {}",
                unicode_repr(c)
            )),
        }
    }

    fn quoted(
        &self,
        start: usize,
        quote: char,
        kind: Kind,
        unterminated: &str,
    ) -> Result<(Kind, usize), String> {
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if !matches!(chars.next(), Some((_, '\n')) | None) => {}
                '\\' | '\n' => break,
                c if c == quote => return Ok((kind, start + i + 2)),
                _ => {}
            }
        }
        Err(unterminated.to_string())
    }

    /// `$name`, `.Field`, an identifier or keyword; `$` and `.` alone when nothing follows.
    /// The word must end at a terminator (space, `.`, `,`, `|`, `:`, parens, `}}`).
    fn word(&self, start: usize, from: usize, kind: Kind) -> Result<(Kind, usize), String> {
        let src = self.src;
        let end = src[from..]
            .char_indices()
            .find(|&(_, c)| !is_alphanumeric(c))
            .map_or(src.len(), |(i, _)| from + i);
        if let Some(c) = src[end..].chars().next() {
            if !(c.is_ascii() && is_space(c as u8)
                || ".,|:()".contains(c)
                || src[end..].starts_with("}}"))
            {
                return Err(format!("bad character {}", unicode_repr(c)));
            }
        }
        let kind = match (kind, &src[start..end]) {
            (Kind::Field, ".") => Kind::Dot,
            (Kind::Identifier, word) => match word {
                "block" => Kind::Block,
                "break" => Kind::Break,
                "continue" => Kind::Continue,
                "define" => Kind::Define,
                "else" => Kind::Else,
                "end" => Kind::End,
                "if" => Kind::If,
                "nil" => Kind::Nil,
                "range" => Kind::Range,
                "template" => Kind::Template,
                "with" => Kind::With,
                "true" | "false" => Kind::Bool,
                _ => kind,
            },
            _ => kind,
        };
        Ok((kind, end))
    }

    /// Go's `scanNumber` (prefixes, `_`, exponents, a trailing `i`), and `1+2i` complexes.
    fn number(&self, start: usize) -> Result<(Kind, usize), String> {
        let b = self.src.as_bytes();
        let scan = |end: &mut usize| -> bool {
            let accept = |end: &mut usize, valid: &[u8]| {
                let ok = b.get(*end).is_some_and(|c| valid.contains(c));
                *end += usize::from(ok);
                ok
            };
            let run = |end: &mut usize, valid: &[u8]| while accept(end, valid) {};
            accept(end, b"+-");
            let mut digits: &[u8] = b"0123456789_";
            if accept(end, b"0") {
                if accept(end, b"xX") {
                    digits = b"0123456789abcdefABCDEF_";
                } else if accept(end, b"oO") {
                    digits = b"01234567_";
                } else if accept(end, b"bB") {
                    digits = b"01_";
                }
            }
            run(end, digits);
            if accept(end, b".") {
                run(end, digits);
            }
            let exponent: &[u8] = if digits.len() == 11 {
                b"eE"
            } else if digits.len() == 23 {
                b"pP"
            } else {
                b""
            };
            if accept(end, exponent) {
                accept(end, b"+-");
                run(end, b"0123456789_");
            }
            accept(end, b"i");
            match self.src[*end..].chars().next() {
                Some(c) if is_alphanumeric(c) => {
                    *end += c.len_utf8();
                    false
                }
                _ => true,
            }
        };
        let mut end = start;
        let mut ok = scan(&mut end);
        let complex = ok && matches!(b.get(end), Some(b'+' | b'-'));
        if complex {
            ok = scan(&mut end) && b[end - 1] == b'i';
        }
        match ok {
            true => Ok((if complex { Kind::Complex } else { Kind::Number }, end)),
            false => Err(format!(
                "bad number syntax: {}",
                quote(&self.src[start..end], false)
            )),
        }
    }
}
