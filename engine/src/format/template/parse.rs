//! The parser: tokens → parse tree, following Go's `text/template/parse` grammar and error
//! wording (`template: :LINE: MESSAGE`).

use std::collections::HashMap;

use serde_json::Value as Json;

use super::ast::{Arg, Command, Control, List, Node, Number, Pipe};
use super::funcs::Func;
use super::lex::{lex, Kind, Lexed, Token};

/// Nesting limit for parentheses and control structures (keeps recursion bounded).
const MAX_DEPTH: usize = 200;

/// All templates of one source text: `""` is the main one, the others come from
/// `{{define}}` and `{{block}}`.
pub(super) type Templates = HashMap<String, List>;

/// Parses `src` into its templates, or returns Go's error message.
pub(super) fn parse(src: &str) -> Result<Templates, String> {
    let lexed = lex(src);
    let mut p = Parser {
        src,
        lexed: &lexed,
        i: 0,
        furthest: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        action_line: 0,
        templates: HashMap::new(),
    };
    let root = p.parse_root()?;
    p.add(String::new(), root)?;
    Ok(p.templates)
}

struct Parser<'s> {
    src: &'s str,
    lexed: &'s Lexed,
    /// Index of the next token.
    i: usize,
    /// The furthest token looked at: Go reports errors at its line.
    furthest: usize,
    /// Variables in scope.
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    /// Line of the `{{` of the action being parsed (for multi-line lexing errors).
    action_line: usize,
    templates: Templates,
}

type Result<T, E = String> = std::result::Result<T, E>;

impl<'s> Parser<'s> {
    fn errorf<T>(&self, msg: impl std::fmt::Display) -> Result<T> {
        let line = self.lexed.tokens[self.furthest].line;
        Err(format!("template: :{line}: {msg}"))
    }

    fn text(&self, t: Token) -> &'s str {
        &self.src[t.pos..t.end]
    }

    fn next(&mut self) -> Token {
        let last = self.lexed.tokens.len() - 1;
        let t = self.lexed.tokens[self.i.min(last)];
        self.furthest = self.furthest.max(self.i.min(last));
        self.i = (self.i + 1).min(last + 1);
        t
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    /// "unexpected X in CONTEXT", or the lexer's message for an error token.
    fn unexpected<T>(&self, t: Token, context: &str) -> Result<T> {
        if t.kind == Kind::Error {
            let msg = self.lexed.describe(self.src, t);
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != t.line {
                extra = format!(" in action started at :{}", self.action_line);
                if msg.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format_args!("{msg}{extra}"));
        }
        let what = self.lexed.describe(self.src, t);
        self.errorf(format_args!("unexpected {what} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Result<Token> {
        let t = self.next_non_space();
        if t.kind != kind {
            return self.unexpected(t, context);
        }
        Ok(t)
    }

    /// Go's `Tree.add`: a name may be defined twice only if one definition is empty.
    fn add(&mut self, name: String, list: List) -> Result<()> {
        match self.templates.get(&name) {
            Some(existing) if !is_empty(existing) => {
                if !is_empty(&list) {
                    let name = super::gofmt::quote(&name, false);
                    return self.errorf(format_args!(
                        "template: multiple definition of template {name}"
                    ));
                }
            }
            _ => {
                self.templates.insert(name, list);
            }
        }
        Ok(())
    }

    fn parse_root(&mut self) -> Result<List> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let delim = self.i;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = delim;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return self.errorf("unexpected {{end}}"),
                Item::Else => return self.errorf("unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    /// `{{define "name"}} … {{end}}`; the keyword has been read.
    fn parse_definition(&mut self) -> Result<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if !matches!(t.kind, Kind::String | Kind::RawString) {
            return self.unexpected(t, CONTEXT);
        }
        let name = self.unquote(t)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, Item::End) {
            return self.errorf(format_args!("unexpected {end} in {CONTEXT}"));
        }
        self.add(name, list)
    }

    /// Nodes up to an `{{end}}` or `{{else}}`, which is returned separately.
    fn item_list(&mut self) -> Result<(List, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(self.text(t).to_string()))),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let item = self.action();
                self.action_line = 0;
                item
            }
            _ => self.unexpected(t, "input"),
        }
    }

    /// The inside of `{{…}}`; the left delimiter has been read.
    fn action(&mut self) -> Result<Item> {
        let t = self.next_non_space();
        let node = match t.kind {
            Kind::Block => self.block_control()?,
            Kind::Break | Kind::Continue => {
                let word = self.text(t);
                let after = self.next_non_space();
                if after.kind != Kind::RightDelim {
                    return self.unexpected(after, &format!("{{{{{word}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.errorf(format_args!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                if t.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            Kind::Else => {
                // `{{else if …}}` / `{{else with …}}` leave the keyword for the enclosing
                // control to pick up.
                if !matches!(self.peek_non_space().kind, Kind::If | Kind::With) {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Item::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => Node::If(self.control("if")?),
            Kind::Range => Node::Range(self.control("range")?),
            Kind::With => Node::With(self.control("with")?),
            Kind::Template => self.template_control()?,
            _ => {
                self.backup();
                Node::Action(self.pipeline("command", Kind::RightDelim)?)
            }
        };
        Ok(Item::Node(node))
    }

    /// `if`, `range` or `with` after its keyword, through the matching `{{end}}`.
    fn control(&mut self, context: &str) -> Result<Control> {
        self.enter()?;
        let vars = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        let is_range = context == "range";
        self.range_depth += usize::from(is_range);
        let (list, next) = self.item_list()?;
        self.range_depth -= usize::from(is_range);
        let else_list = match next {
            Item::End => None,
            _ => {
                let chained = match (context, self.peek().kind) {
                    ("if", Kind::If) | ("with", Kind::With) => Some(self.next().kind),
                    _ => None,
                };
                match chained {
                    // `{{else if x}}…{{end}}` is `{{else}}{{if x}}…{{end}}{{end}}`.
                    Some(Kind::If) => Some(vec![Node::If(self.control("if")?)]),
                    Some(_) => Some(vec![Node::With(self.control("with")?)]),
                    None => {
                        let (else_list, end) = self.item_list()?;
                        if !matches!(end, Item::End) {
                            return self.errorf(format_args!("expected end; found {end}"));
                        }
                        Some(else_list)
                    }
                }
            }
        };
        self.vars.truncate(vars);
        self.depth -= 1;
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.errorf("max expression depth exceeded");
        }
        Ok(())
    }

    /// `{{template "name" [pipeline]}}`; the keyword has been read.
    fn template_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(t, CONTEXT)?;
        let pipe = if self.next_non_space().kind == Kind::RightDelim {
            None
        } else {
            self.backup();
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        };
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe,
        })
    }

    /// `{{block "name" pipeline}} … {{end}}`: defines the template and invokes it.
    fn block_control(&mut self) -> Result<Node> {
        const CONTEXT: &str = "block clause";
        let t = self.next_non_space();
        let name = self.template_name(t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let saved = (
            std::mem::replace(&mut self.vars, vec!["$".to_string()]),
            std::mem::take(&mut self.range_depth),
        );
        let (list, end) = self.item_list()?;
        (self.vars, self.range_depth) = saved;
        if !matches!(end, Item::End) {
            return self.errorf(format_args!("unexpected {end} in {CONTEXT}"));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_name(&mut self, t: Token, context: &str) -> Result<String> {
        match t.kind {
            Kind::String | Kind::RawString => self.unquote(t),
            _ => self.unexpected(t, context),
        }
    }

    /// `[decls] command ('|' command)*` up to `end` (right delimiter or paren).
    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe> {
        let mut pipe = Pipe {
            pos: self.peek_non_space().pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        while self.peek_non_space().kind == Kind::Variable {
            let start = self.i;
            let v = self.next_non_space();
            let name = self.text(v).to_string();
            let next = self.next_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    break;
                }
                Kind::Char if self.text(next) == "," => {
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format_args!("too many declarations in {context}"));
                }
                _ => {
                    self.i = start;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                return self.check_pipeline(pipe, context);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(t, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: Pipe, context: &str) -> Result<Pipe> {
        if pipe.cmds.is_empty() {
            return self.errorf(format_args!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args[0],
                Arg::Bool { .. }
                    | Arg::Dot { .. }
                    | Arg::Nil { .. }
                    | Arg::Number(_)
                    | Arg::String { .. }
            ) {
                return self.errorf(format_args!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(pipe)
    }

    /// Space-separated operands up to `|` (consumed) or a closing delimiter (not consumed).
    fn command(&mut self) -> Result<Command> {
        let mut cmd = Command {
            pos: self.peek_non_space().pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(arg) = self.operand()? {
                cmd.args.push(arg);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    /// A term followed by `.Field`s.
    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(term));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let t = self.next();
            fields.push(self.text(t)[1..].to_string());
        }
        Ok(Some(match term {
            Arg::Field { mut names, .. } => {
                names.extend(fields);
                Arg::Field { pos, names }
            }
            Arg::Variable {
                name, fields: f0, ..
            } => Arg::Variable {
                pos,
                name,
                fields: f0.into_iter().chain(fields).collect(),
            },
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number(_)
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return self.errorf(format_args!(
                    "unexpected . after term {}",
                    super::gofmt::quote(&term.to_string(), false)
                ));
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        let t = self.next_non_space();
        let text = self.text(t);
        let pos = t.pos;
        let arg = match t.kind {
            Kind::Identifier => match Func::lookup(text) {
                Some(func) => Arg::Function { pos, func },
                None => return self.errorf(format_args!("function {text:?} not defined")),
            },
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                let name = text.to_string();
                if !self.vars.contains(&name) {
                    return self.errorf(format_args!("undefined variable {name:?}"));
                }
                Arg::Variable {
                    pos,
                    name,
                    fields: Vec::new(),
                }
            }
            Kind::Field => Arg::Field {
                pos,
                names: vec![text[1..].to_string()],
            },
            Kind::Bool => Arg::Bool {
                pos,
                value: Json::Bool(text == "true"),
            },
            Kind::CharConstant | Kind::Number | Kind::Complex => {
                Arg::Number(Box::new(self.number(t)?))
            }
            Kind::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe))
            }
            Kind::String | Kind::RawString => Arg::String {
                pos,
                quoted: text.to_string(),
                value: Json::String(self.unquote(t)?),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }

    fn unquote(&self, t: Token) -> Result<String> {
        let text = self.text(t);
        let inner = &text[1..text.len() - 1];
        if t.kind == Kind::RawString {
            return Ok(inner.replace('\r', ""));
        }
        let Some(units) = unescape(inner, '"') else {
            return self.errorf("invalid syntax");
        };
        let mut bytes = Vec::with_capacity(inner.len());
        for unit in units {
            match unit {
                Ok(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                Err(b) => bytes.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Go's `newNumber`: the literal as an `int` argument (when integral) and its untyped
    /// value (Go's `idealConstant`; `None` when it overflows `int`).
    fn number(&self, t: Token) -> Result<Number> {
        let text = self.text(t);
        let number = |int: Option<i64>, ideal: Option<Json>| Number {
            pos: t.pos,
            text: text.to_string(),
            int: int.map(Json::from),
            ideal,
        };
        if t.kind == Kind::CharConstant {
            let c = match unescape(&text[1..text.len() - 1], '\'') {
                Some(units) if units.len() == 1 => match units[0] {
                    Ok(c) => i64::from(u32::from(c)),
                    Err(b) => i64::from(b),
                },
                Some(_) => {
                    return self.errorf(format_args!("malformed character constant: {text}"))
                }
                None => return self.errorf("invalid syntax"),
            };
            return Ok(number(Some(c), Some(Json::from(c))));
        }
        if text.ends_with('i') {
            return self.errorf(format_args!("complex numbers are not supported: {text}"));
        }
        if let Some(i) = parse_int(text) {
            return Ok(number(Some(i), Some(Json::from(i))));
        }
        if !text.starts_with(['+', '-']) && parse_uint(text).is_some() {
            return Ok(number(None, None)); // a uint64 that overflows int
        }
        let digits = strip_underscores(text, false).filter(|_| !text.contains(['x', 'X']));
        let quoted = super::gofmt::quote(text, false);
        match digits
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|f| f.is_finite())
        {
            None => self.errorf(format_args!("illegal number syntax: {quoted}")),
            Some(_) if !text.contains(['.', 'e', 'E']) => {
                self.errorf(format_args!("integer overflow: {quoted}"))
            }
            Some(f) => {
                let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
                Ok(number(int, Some(Json::from(f))))
            }
        }
    }
}

/// What `text_or_action` found.
#[derive(Debug)]
enum Item {
    Node(Node),
    End,
    Else,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Node(n) => write!(f, "{n}"),
            Item::End => f.write_str("{{end}}"),
            Item::Else => f.write_str("{{else}}"),
        }
    }
}

/// Go's `IsEmptyTree`: only blank text (and comments).
fn is_empty(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

/// Removes Go digit-separator underscores, rejecting misplaced ones.
fn strip_underscores(digits: &str, after_prefix: bool) -> Option<String> {
    let bad = digits.ends_with('_')
        || digits.contains("__")
        || (digits.starts_with('_') && !after_prefix);
    (!bad).then(|| digits.replace('_', ""))
}

/// `strconv.ParseUint(s, 0, 64)`: decimal, or `0x`, `0o`, `0b` and `0` (octal) prefixes.
fn parse_uint(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (radix, digits, prefixed) = match lower.as_bytes() {
        [b'0', b'x', ..] => (16, &lower[2..], true),
        [b'0', b'o', ..] => (8, &lower[2..], true),
        [b'0', b'b', ..] => (2, &lower[2..], true),
        [b'0', _, ..] => (8, &lower[1..], true),
        _ => (10, &lower[..], false),
    };
    let digits = strip_underscores(digits, prefixed)?;
    if digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

/// `strconv.ParseInt(s, 0, 64)`.
fn parse_int(text: &str) -> Option<i64> {
    match text.as_bytes().first() {
        Some(b'-') => 0i64.checked_sub_unsigned(parse_uint(&text[1..])?),
        Some(b'+') => i64::try_from(parse_uint(&text[1..])?).ok(),
        _ => i64::try_from(parse_uint(text)?).ok(),
    }
}

/// Go's `strconv.Unquote` escapes of a literal's inside: characters, or raw bytes for
/// `\xHH` and `\OOO`. `None` for invalid syntax.
fn unescape(s: &str, quote: char) -> Option<Vec<Result<char, u8>>> {
    let mut units = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c == quote {
            return None;
        }
        if c != '\\' {
            units.push(Ok(c));
            continue;
        }
        let e = rest.chars().next()?;
        rest = &rest[e.len_utf8()..];
        let simple = match e {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            e if e == quote => Some(e),
            _ => None,
        };
        if let Some(c) = simple {
            units.push(Ok(c));
            continue;
        }
        let (digits, radix) = match e {
            'x' => (rest.get(..2)?.to_string(), 16),
            'u' => (rest.get(..4)?.to_string(), 16),
            'U' => (rest.get(..8)?.to_string(), 16),
            '0'..='7' => (format!("{e}{}", rest.get(..2)?), 8),
            _ => return None,
        };
        rest = &rest[if radix == 8 { 2 } else { digits.len() }..];
        let value = u32::from_str_radix(&digits, radix).ok()?;
        units.push(match e {
            'x' | '0'..='7' => Err(u8::try_from(value).ok()?),
            _ => Ok(char::from_u32(value)?),
        });
    }
    Some(units)
}
