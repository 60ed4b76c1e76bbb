//! Template functions: Go's builtins (`and`, `index`, `printf`, `eq`, …) and Docker's
//! (`json`, `join`, `split`, `title`, `lower`, `upper`, `pad`, `truncate`), plus Docker's
//! header variants that return column titles unchanged.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::gofmt::{self, go_type, sprint};
use super::value::Value;

/// A parameter type, deciding how arguments are checked and converted like Go does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    /// `interface{}`: anything; a missing value becomes nil.
    Any,
    /// `reflect.Value`: anything, a missing value stays missing.
    Value,
    /// `string`.
    Str,
    /// `int`.
    Int,
    /// `[]string` (any JSON array is accepted; nil is an empty slice).
    StrSlice,
}

/// A template function: its name, fixed parameters and variadic parameter (Go's signature).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Func(pub &'static str, &'static [Param], Option<Param>);

use Param::{Any, Int, Str, StrSlice, Value as V};

const FUNCS: &[Func] = &[
    Func("and", &[V], Some(V)),
    Func("or", &[V], Some(V)),
    Func("not", &[V], None),
    Func("len", &[V], None),
    Func("index", &[V], Some(V)),
    Func("slice", &[V], Some(V)),
    Func("call", &[V], Some(V)),
    Func("print", &[], Some(Any)),
    Func("printf", &[Str], Some(Any)),
    Func("println", &[], Some(Any)),
    Func("html", &[], Some(Any)),
    Func("js", &[], Some(Any)),
    Func("urlquery", &[], Some(Any)),
    Func("eq", &[V], Some(V)),
    Func("ne", &[V, V], None),
    Func("lt", &[V, V], None),
    Func("le", &[V, V], None),
    Func("gt", &[V, V], None),
    Func("ge", &[V, V], None),
    Func("json", &[Any], None),
    Func("join", &[StrSlice, Str], None),
    Func("split", &[Str, Str], None),
    Func("title", &[Str], None),
    Func("lower", &[Str], None),
    Func("upper", &[Str], None),
    Func("pad", &[Str, Int, Int], None),
    Func("truncate", &[Str, Int], None),
];

/// Docker's `HeaderFunctions`: these return their first argument (`pad` is not among them).
const HEADER: &[Func] = &[
    Func("json", &[Str], None),
    Func("split", &[Str, Str], None),
    Func("join", &[Str, Str], None),
    Func("title", &[Str], None),
    Func("lower", &[Str], None),
    Func("upper", &[Str], None),
    Func("truncate", &[Str, Int], None),
];

impl Func {
    /// The function called `name`, if there is one.
    pub fn lookup(name: &str) -> Option<&'static Func> {
        FUNCS.iter().find(|f| f.0 == name)
    }

    /// This function, or its header variant when executing a table header.
    pub fn for_header(&'static self, header: bool) -> &'static Func {
        match header {
            true => HEADER.iter().find(|f| f.0 == self.0).unwrap_or(self),
            false => self,
        }
    }

    /// Number of fixed parameters, and whether more may follow.
    pub fn arity(&self) -> (usize, bool) {
        (self.1.len(), self.2.is_some())
    }

    /// The type of argument `i`.
    pub fn param(&self, i: usize) -> Param {
        self.1.get(i).copied().or(self.2).unwrap_or(Any)
    }
}

type Result<T> = std::result::Result<T, String>;

fn text<'a>(s: String) -> Result<Value<'a>> {
    Ok(Value::own(Json::String(s)))
}

/// Calls `func` (not `and`/`or`, which the executor short-circuits) on arguments already
/// checked against its signature. Errors are Go's, without the "error calling" prefix.
pub(super) fn call<'a>(func: &Func, header: bool, args: Vec<Value<'a>>) -> Result<Value<'a>> {
    if header && HEADER.contains(func) {
        return Ok(args.into_iter().next().unwrap_or(Value::Missing));
    }
    let json = |i: usize| args.get(i).map_or(&Json::Null, Value::json);
    let str = |i: usize| json(i).as_str().unwrap_or_default();
    let int = |i: usize| json(i).as_i64().unwrap_or_default();
    let bool = |b: bool| Ok(Value::own(Json::Bool(b)));
    match func.0 {
        "not" => bool(!args[0].truth()),
        "len" => len(&args[0]),
        "index" => index(&args[0], &args[1..]),
        "slice" => slice(&args[0], &args[1..]),
        "call" if args[0].is_nil() => Err("call of nil".into()),
        "call" => Err(format!("non-function of type {}", go_type(json(0)))),
        "print" => text(sprint_args(&args)),
        "println" => {
            let mut out = args
                .iter()
                .map(|a| sprint(a.json()))
                .collect::<Vec<_>>()
                .join(" ");
            out.push('\n');
            text(out)
        }
        "printf" => {
            let rest: Vec<&Json> = args[1..].iter().map(Value::json).collect();
            text(gofmt::sprintf(str(0), &rest))
        }
        "html" => text(html_escape(&eval_args(&args))),
        "js" => text(js_escape(&eval_args(&args))),
        "urlquery" => text(query_escape(&eval_args(&args))),
        "eq" => bool(eq(json(0), &args[1..])?),
        "ne" => bool(!eq(json(0), &args[1..])?),
        "lt" => bool(lt(json(0), json(1))?),
        "le" => bool(le(json(0), json(1))?),
        "gt" => bool(!le(json(0), json(1))?),
        "ge" => bool(!lt(json(0), json(1))?),
        "json" => text(to_go_json(json(0))),
        "join" => text(join(json(0), str(1))),
        "split" => Ok(Value::own(split(str(0), str(1)))),
        "title" => text(title(str(0))),
        "lower" => text(str(0).chars().map(simple_lower).collect()),
        "upper" => text(str(0).chars().map(simple_upper).collect()),
        "pad" => pad(str(0), int(1), int(2)),
        "truncate" => truncate(str(0), int(1)),
        _ => Ok(args.last().cloned().unwrap_or(Value::Missing)),
    }
}

/// `fmt.Sprint`: a space between operands when neither side is a string.
fn sprint_args(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.json().is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        gofmt::write_value(arg.json(), &mut out);
        prev_string = is_string;
    }
    out
}

/// Go's `evalArgs` for `html`, `js` and `urlquery`: `fmt.Sprint` with nil as `<no value>`.
fn eval_args(args: &[Value<'_>]) -> String {
    if let [one] = args {
        if let Json::String(s) = one.json() {
            return s.clone();
        }
    }
    let printable: Vec<Value<'_>> = args
        .iter()
        .map(|a| match a.is_nil() {
            true => Value::own(Json::String("<no value>".into())),
            false => a.clone(),
        })
        .collect();
    sprint_args(&printable)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && (c.is_control() || c.is_whitespace()) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `len`. JSON `null` has length 0, as Docker's nil slices and maps do.
fn len<'a>(v: &Value<'a>) -> Result<Value<'a>> {
    let n = match v.get() {
        None => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Some(Json::Null) => 0,
        Some(Json::String(s)) => s.len(),
        Some(Json::Array(items)) => items.len(),
        Some(Json::Object(map)) => map.len(),
        Some(other) => return Err(format!("len of type {}", go_type(other))),
    };
    Ok(Value::own(Json::from(n)))
}

/// An index argument checked against `cap`, as Go's `indexArg`.
fn index_arg(key: &Value<'_>, cap: usize) -> Result<usize> {
    let x = match key.json() {
        Json::Number(n) if n.as_i64().is_some() => n.as_i64().unwrap_or_default(),
        Json::Number(n) if n.is_u64() => n.as_u64().map_or(-1, |u| u as i64),
        Json::Null => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                go_type(other)
            ))
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// Go's `index`. A missing map key yields the element zero value: `""` when the map holds
/// strings (e.g. `{{index .Config.Labels "x"}}`), otherwise no value; `null` indexes as an
/// empty map of strings (Docker's nil label maps).
fn index<'a>(item: &Value<'a>, keys: &[Value<'a>]) -> Result<Value<'a>> {
    if item.get().is_none() {
        return Err("index of untyped nil".into());
    }
    let mut cur = item.clone();
    for key in keys {
        cur = match cur.json() {
            Json::Array(items) => {
                let i = index_arg(key, items.len())?;
                if i == items.len() {
                    return Err("reflect: slice index out of range".into());
                }
                cur.project(|v| v.as_array()?.get(i))
            }
            Json::String(s) => {
                let i = index_arg(key, s.len())?;
                match s.as_bytes().get(i) {
                    Some(&b) => Value::own(Json::from(b)),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Json::Object(map) => {
                let k = match key.json() {
                    Json::String(k) => k,
                    Json::Null => return Err("value is nil; should be of type string".into()),
                    other => {
                        return Err(format!(
                            "value has type {}; should be string",
                            go_type(other)
                        ))
                    }
                };
                if map.contains_key(k) {
                    cur.project(|v| v.get(k))
                } else if map.values().all(Json::is_string) {
                    Value::own(Json::String(String::new()))
                } else {
                    Value::Missing
                }
            }
            Json::Null => Value::own(Json::String(String::new())),
            other => return Err(format!("can't index item of type {}", go_type(other))),
        };
    }
    Ok(cur)
}

/// Go's `slice`: `slice x 1 2` is `x[1:2]`; strings are sliced by bytes.
fn slice<'a>(item: &Value<'a>, indexes: &[Value<'a>]) -> Result<Value<'a>> {
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item.json() {
        Json::String(_) if indexes.len() == 3 => return Err("cannot 3-index slice a string".into()),
        Json::String(s) => s.len(),
        Json::Array(items) => items.len(),
        other => return Err(format!("can't slice item of type {}", go_type(other))),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(Value::own(match item.json() {
        Json::String(s) => {
            Json::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Json::Array(items) => Json::Array(items[idx[0]..idx[1]].to_vec()),
        _ => Json::Null,
    }))
}

/// A comparable scalar.
#[derive(Clone, Copy)]
enum Basic<'j> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'j str),
}

fn basic(v: &Json) -> Option<Basic<'_>> {
    match v {
        Json::Bool(b) => Some(Basic::Bool(*b)),
        Json::String(s) => Some(Basic::Str(s)),
        Json::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Basic::Int(i.into()),
            (_, Some(u)) => Basic::Int(u.into()),
            _ => Basic::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        _ => None,
    }
}

const INCOMPATIBLE: &str = "incompatible types for comparison";
const INVALID_TYPE: &str = "invalid type for comparison";

/// Orders two scalars of compatible kinds. Unlike Go, integers and floats compare by value.
fn compare(a: Basic<'_>, b: Basic<'_>) -> Result<Option<Ordering>> {
    Ok(match (a, b) {
        (Basic::Int(x), Basic::Int(y)) => Some(x.cmp(&y)),
        (Basic::Int(x), Basic::Float(y)) => (x as f64).partial_cmp(&y),
        (Basic::Float(x), Basic::Int(y)) => x.partial_cmp(&(y as f64)),
        (Basic::Float(x), Basic::Float(y)) => x.partial_cmp(&y),
        (Basic::Str(x), Basic::Str(y)) => Some(x.cmp(y)),
        (Basic::Bool(x), Basic::Bool(y)) => Some(x.cmp(&y)),
        _ => return Err(INCOMPATIBLE.into()),
    })
}

/// Go's `eq`: `eq a b c` is `a == b || a == c`.
fn eq(a: &Json, others: &[Value<'_>]) -> Result<bool> {
    if matches!(a, Json::Array(_) | Json::Object(_)) {
        return Err(format!("uncomparable type {}: {}", go_type(a), sprint(a)));
    }
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for other in others {
        let b = other.json();
        let equal = match (basic(a), basic(b)) {
            (Some(x), Some(y)) => compare(x, y)? == Some(Ordering::Equal),
            (None, None) if a.is_null() || b.is_null() => a.is_null() && b.is_null(),
            (None, None) => return Err(format!("uncomparable type {}: {}", go_type(b), sprint(b))),
            _ if a.is_null() || b.is_null() => false,
            _ => return Err(INCOMPATIBLE.into()),
        };
        if equal {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn lt(a: &Json, b: &Json) -> Result<bool> {
    let (Some(x), Some(y)) = (basic(a), basic(b)) else {
        return Err(INVALID_TYPE.into());
    };
    match (x, y) {
        (Basic::Bool(_), Basic::Bool(_)) => Err(INVALID_TYPE.into()),
        _ => Ok(compare(x, y)? == Some(Ordering::Less)),
    }
}

/// Go's `le`: `lt` or `eq`.
fn le(a: &Json, b: &Json) -> Result<bool> {
    if lt(a, b)? {
        return Ok(true);
    }
    let (Some(x), Some(y)) = (basic(a), basic(b)) else {
        return Err(INVALID_TYPE.into());
    };
    Ok(compare(x, y)? == Some(Ordering::Equal))
}

/// Docker's `json`: Go's `json.Encoder` with `SetEscapeHTML(false)`, compact. Objects keep
/// their key order (Go prints struct fields in declaration order).
pub(super) fn to_go_json(v: &Json) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) if n.is_f64() => out.push_str(&crate::format::units::go_json_float(
            n.as_f64().unwrap_or(0.0),
        )),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_json_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
    }
}

/// Go's JSON string escaping without HTML escaping (`<`, `>`, `&` stay as they are).
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `strings.Join`; non-string elements are printed with `%v` (Go would reject them), and
/// `null` is an empty list.
fn join(list: &Json, sep: &str) -> String {
    match list {
        Json::Array(items) => items.iter().map(sprint).collect::<Vec<_>>().join(sep),
        _ => String::new(),
    }
}

/// `strings.Split`, including Go's behaviour for an empty separator (split into chars).
fn split(s: &str, sep: &str) -> Json {
    let parts: Vec<Json> = if sep.is_empty() {
        s.chars().map(|c| Json::String(c.to_string())).collect()
    } else {
        s.split(sep).map(|p| Json::String(p.to_string())).collect()
    };
    Json::Array(parts)
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let was_separator = is_title_separator(prev);
            prev = c;
            if was_separator {
                simple_upper(c)
            } else {
                c
            }
        })
        .collect()
}

fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    !c.is_alphanumeric() && c.is_whitespace()
}

/// Go's `unicode.ToUpper`: one-to-one mappings only (`ß` stays `ß`).
fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn simple_lower(c: char) -> char {
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Docker's `pad`: surrounds a non-empty string with `prefix`/`suffix` spaces.
fn pad<'a>(s: &str, prefix: i64, suffix: i64) -> Result<Value<'a>> {
    if s.is_empty() {
        return text(String::new());
    }
    let count =
        |n: i64| usize::try_from(n).map_err(|_| "strings: negative Repeat count".to_string());
    let (prefix, suffix) = (count(prefix)?, count(suffix)?);
    text(format!("{}{s}{}", " ".repeat(prefix), " ".repeat(suffix)))
}

/// Docker's `truncate`: the first `length` bytes (kept on a character boundary).
fn truncate<'a>(s: &str, length: i64) -> Result<Value<'a>> {
    let length = usize::try_from(length)
        .map_err(|_| format!("runtime error: slice bounds out of range [:{length}]"))?;
    if s.len() < length {
        return text(s.to_string());
    }
    let mut end = length;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    text(s[..end].to_string())
}
