//! Docker's `--format` / `-f` Go templates (`docker inspect -f '{{.Config.Cmd}}'`, `docker
//! images --format 'table {{.Repository}}\t{{.Tag}}'`), evaluated with the `gtmpl` crate over
//! the JSON document the command would print.
//!
//! `gtmpl` parses and executes Go's template language, but several of its behaviours differ
//! from Go's `text/template`, so a template is first rewritten (module `rewrite`) and the
//! value-printing functions are replaced:
//! - every output action `{{X}}` becomes `{{X | __fmt}}`, printing values with Go's `%v`
//!   (`[a b]`, `map[k:v]` with sorted keys, `<no value>`) instead of Rust's `Debug`;
//! - every `range` is rewritten so maps iterate in sorted key order, `$k, $v` binds map keys,
//!   and `{{else}}` runs only for an empty collection (gtmpl always runs it);
//! - JSON objects keep their key order in a hidden entry so `{{json .}}` prints fields in the
//!   original order (Go prints struct fields in declaration order);
//! - `print`, `println`, `printf`, `len` and `index` are reimplemented for Go semantics, and
//!   Docker's `json`, `join`, `split`, `title`, `lower`, `upper`, `pad`, `truncate` are added.
//!
//! JSON `null` behaves like a nil `interface{}`: it prints `<no value>` (as text/template
//! prints nil values decoded from JSON, the path Docker falls back to for raw JSON), is false
//! in `if`, ranges as empty, and `{{json}}` prints `null`. Docker's typed path prints `[]`
//! for a nil slice, `map[]` for a nil map and `<nil>` for a nil pointer; the JSON alone cannot
//! tell these apart. A missing key also prints `<no value>` (Go's default for maps).
//!
//! Not supported (gtmpl limitations): `{{break}}`, `{{continue}}`, `$x = value` assignment,
//! the `html`, `js` and `slice` functions, hex integer literals; variables declared inside
//! `if`/`with` stay visible after `{{end}}`; exact column numbers in errors.

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Value};
use serde_json::{Map, Value as Json};
use thiserror::Error;

use super::units::{go_format_float, go_json_float};

/// A template that failed to parse or execute; `Display` matches the Docker CLI's wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The template text is invalid, e.g. `template: :1: function "foo" not defined`.
    #[error("template parsing error: {0}")]
    Parse(String),
    /// Executing the template failed (Docker reports this as a parsing error too).
    #[error("template parsing error: {0}")]
    Execute(String),
}

/// A `--format` flag value, classified like the Docker CLI's formatter does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `table …`: the rest is a row template (empty means "the command's default columns").
    Table(String),
    /// Any other template, printed once per item.
    Raw(String),
    /// Exactly `json`: one `{{json .}}` line per item.
    Json,
}

impl Format {
    /// Classifies a `--format` value: `table` prefix → `Table`, `json` → `Json`, else `Raw`.
    ///
    /// Like Docker, spaces around the template are trimmed and the two-character sequences
    /// `\t` and `\n` become a tab and a newline (`docker inspect -f` does not do this).
    pub fn parse(s: &str) -> Format {
        if let Some(rest) = s.strip_prefix("table") {
            return Format::Table(unescape(rest));
        }
        if s == "json" {
            return Format::Json;
        }
        Format::Raw(unescape(s))
    }

    /// The template text to execute per item (`{{json .}}` for `Json`).
    pub fn template(&self) -> &str {
        match self {
            Format::Table(t) | Format::Raw(t) => t,
            Format::Json => "{{json .}}",
        }
    }

    /// Whether the output is an aligned table with a header line.
    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table(_))
    }
}

fn unescape(s: &str) -> String {
    s.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Renders `template` against `data` (the JSON `docker inspect` would print for the object).
pub fn render(template: &str, data: &Json) -> Result<String, TemplateError> {
    Template::parse(template)?.execute(data)
}

/// Renders a table header: the template runs on a field → column-title map (`Repository` →
/// `REPOSITORY`) with Docker's header functions (`json`, `join`, `upper`, … return their input).
pub fn render_header(template: &str, headers: &Map<String, Json>) -> Result<String, TemplateError> {
    Template::parse(template)?.execute_header(headers)
}

/// A parsed template, reusable for every row of a listing.
pub struct Template {
    source: String,
    rewritten: String,
    inner: gtmpl::Template,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .field("rewritten", &self.rewritten)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses a Go template with Docker's function set.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut inner = gtmpl_template(false);
        let rewritten = rewrite::rewrite(text, &|name| inner.funcs.contains_key(name))
            .map_err(TemplateError::Parse)?;
        inner
            .parse(rewritten.as_str())
            .map_err(|e| TemplateError::Parse(parse_error_message(&e)))?;
        Ok(Template {
            source: text.to_string(),
            rewritten,
            inner,
        })
    }

    /// The template text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Executes the template with `data` as dot.
    pub fn execute(&self, data: &Json) -> Result<String, TemplateError> {
        execute(&self.inner, from_json(data))
    }

    /// Executes the template on a header map with Docker's `HeaderFunctions`.
    pub fn execute_header(&self, headers: &Map<String, Json>) -> Result<String, TemplateError> {
        let mut inner = gtmpl_template(true);
        inner
            .parse(self.rewritten.as_str())
            .map_err(|e| TemplateError::Parse(parse_error_message(&e)))?;
        execute(&inner, from_json(&Json::Object(headers.clone())))
    }
}

fn gtmpl_template(header: bool) -> gtmpl::Template {
    let mut t = gtmpl::Template::default();
    t.add_funcs(funcs::DATA);
    if header {
        t.add_funcs(funcs::HEADER);
    }
    t
}

fn execute(template: &gtmpl::Template, dot: Value) -> Result<String, TemplateError> {
    template
        .render(&Context::from(dot))
        .map_err(|e| TemplateError::Execute(format!("template: executing \"\": {e}")))
}

fn parse_error_message(e: &gtmpl::error::ParseError) -> String {
    match e {
        gtmpl::error::ParseError::WithContext(ctx, msg) => {
            format!("template: :{}: {msg}", ctx.line.max(1))
        }
        other => format!("template: :1: {other}"),
    }
}

/// Hidden map entry holding an object's original key order (only for 2+ keys, so `if` on an
/// empty object stays false). NUL cannot appear in a template field name.
const ORDER_KEY: &str = "\u{0}order";

/// Converts JSON to a gtmpl value: objects → maps (with key order), integers stay integers.
fn from_json(v: &Json) -> Value {
    match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                float_value(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            let mut out: HashMap<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect();
            if map.len() >= 2 {
                let order = map.keys().map(|k| Value::String(k.clone())).collect();
                out.insert(ORDER_KEY.to_string(), Value::Array(order));
            }
            Value::Map(out)
        }
    }
}

/// gtmpl's `Number::from(f64)` truncates negative fractions and tiny/huge values; such floats
/// are kept as their Go `%v` text instead (they print right but compare as strings).
fn float_value(f: f64) -> Value {
    let integral = f.fract() == 0.0 && f.abs() < 9.0e18;
    if f.is_finite() && (integral || (f > 0.0 && f.fract() >= f64::EPSILON)) {
        Value::from(f)
    } else {
        Value::String(go_format_float(f))
    }
}

/// Map keys in Go's printing/range order (sorted), without the hidden order entry.
fn sorted_keys(map: &HashMap<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().filter(|k| *k != ORDER_KEY).collect();
    keys.sort();
    keys
}

/// Map keys in their original JSON order (sorted if unknown).
fn ordered_keys(map: &HashMap<String, Value>) -> Vec<&String> {
    match map.get(ORDER_KEY) {
        Some(Value::Array(order)) => order
            .iter()
            .filter_map(|k| match k {
                Value::String(k) => map.get_key_value(k).map(|(k, _)| k),
                _ => None,
            })
            .collect(),
        _ => sorted_keys(map),
    }
}

/// Go's `%v` of a value (`fmt.Sprint`): nil → `<nil>`, `[a b]`, `map[a:1 b:2]`.
fn go_sprint(v: &Value) -> String {
    let mut out = String::new();
    write_go_value(v, &mut out);
    out
}

fn write_go_value(v: &Value, out: &mut String) {
    match v {
        Value::NoValue | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go_value(item, out);
            }
            out.push(']');
        }
        Value::Map(map) | Value::Object(map) => {
            out.push_str("map[");
            for (i, key) in sorted_keys(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go_value(&map[key], out);
            }
            out.push(']');
        }
        Value::Function(_) => out.push_str("<func>"),
    }
}

/// Go's `%T` of a value as text/template would see it after JSON decoding.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Number(n) if n.as_f64().is_some() => "float64",
        Value::Number(_) => "int",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::Object(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

fn go_number(n: &gtmpl_value::Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_format_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Go's `json.Encoder` with `SetEscapeHTML(false)`, compact, as Docker's `json` function.
fn to_go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) => out.push_str(&go_json_float(f)),
            None => out.push_str(&go_number(n)),
        },
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Map(map) | Value::Object(map) => {
            out.push('{');
            for (i, key) in ordered_keys(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_json(&map[key], out);
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

/// Template functions: Docker's set plus the Go builtins gtmpl gets wrong.
mod funcs {
    use super::*;

    /// Functions for executing a template on data.
    pub(super) const DATA: &[(&str, Func)] = &[
        ("__fmt", fmt_action as Func),
        ("__range_values", range_values as Func),
        ("__range_entries", range_entries as Func),
        ("__entry_key", entry_key as Func),
        ("__entry_value_list", entry_value_list as Func),
        ("json", json as Func),
        ("join", join as Func),
        ("split", split as Func),
        ("title", title as Func),
        ("lower", lower as Func),
        ("upper", upper as Func),
        ("pad", pad as Func),
        ("truncate", truncate as Func),
        ("print", print as Func),
        ("println", println as Func),
        ("printf", printf as Func),
        ("len", len as Func),
        ("index", index as Func),
        ("eq", eq as Func),
        ("ne", ne as Func),
    ];

    /// Docker's `HeaderFunctions`: keep column titles intact (`pad` is deliberately kept).
    pub(super) const HEADER: &[(&str, Func)] = &[
        ("json", identity as Func),
        ("split", identity as Func),
        ("join", identity as Func),
        ("title", identity as Func),
        ("lower", identity as Func),
        ("upper", identity as Func),
        ("truncate", identity as Func),
    ];

    fn err(msg: impl Into<String>) -> FuncError {
        FuncError::Generic(msg.into())
    }

    fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
        if args.len() == want {
            Ok(())
        } else {
            Err(err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )))
        }
    }

    fn string_arg(v: &Value) -> Result<&str, FuncError> {
        match v {
            Value::String(s) => Ok(s),
            Value::NoValue => Err(err("invalid value; expected string")),
            other => Err(err(format!(
                "wrong type for value; expected string; got {}",
                go_type(other)
            ))),
        }
    }

    fn int_arg(v: &Value) -> Result<i64, FuncError> {
        match v {
            Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or_default()),
            other => Err(err(format!(
                "wrong type for value; expected int; got {}",
                go_type(other)
            ))),
        }
    }

    fn identity(args: &[Value]) -> Result<Value, FuncError> {
        Ok(args.first().cloned().unwrap_or(Value::NoValue))
    }

    /// What `{{X}}` prints: text/template prints a nil/missing value as `<no value>`.
    fn fmt_action(args: &[Value]) -> Result<Value, FuncError> {
        Ok(Value::String(match args.last() {
            None | Some(Value::NoValue) | Some(Value::Nil) => "<no value>".to_string(),
            Some(v) => go_sprint(v),
        }))
    }

    fn range_items(v: &Value) -> Result<Vec<(Value, Value)>, FuncError> {
        match v {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| (Value::from(i), item.clone()))
                .collect()),
            Value::Map(map) | Value::Object(map) => Ok(sorted_keys(map)
                .into_iter()
                .map(|k| (Value::String(k.clone()), map[k].clone()))
                .collect()),
            Value::Nil | Value::NoValue => Ok(Vec::new()),
            other => Err(err(format!(
                "range can't iterate over {}",
                go_sprint(other)
            ))),
        }
    }

    /// A range's values in Go's order (maps by sorted key).
    fn range_values(args: &[Value]) -> Result<Value, FuncError> {
        let items = range_items(args.last().unwrap_or(&Value::NoValue))?;
        Ok(Value::Array(items.into_iter().map(|(_, v)| v).collect()))
    }

    /// A range's `[key, value]` pairs in Go's order.
    fn range_entries(args: &[Value]) -> Result<Value, FuncError> {
        let items = range_items(args.last().unwrap_or(&Value::NoValue))?;
        Ok(Value::Array(
            items
                .into_iter()
                .map(|(k, v)| Value::Array(vec![k, v]))
                .collect(),
        ))
    }

    fn entry_part(args: &[Value], i: usize) -> Value {
        match args.first() {
            Some(Value::Array(pair)) => pair.get(i).cloned().unwrap_or(Value::NoValue),
            _ => Value::NoValue,
        }
    }

    fn entry_key(args: &[Value]) -> Result<Value, FuncError> {
        Ok(entry_part(args, 0))
    }

    fn entry_value_list(args: &[Value]) -> Result<Value, FuncError> {
        Ok(Value::Array(vec![entry_part(args, 1)]))
    }

    fn json(args: &[Value]) -> Result<Value, FuncError> {
        arity("json", args, 1)?;
        Ok(Value::String(to_go_json(&args[0])))
    }

    /// `strings.Join`; non-string elements are printed with `%v` (Go would reject them).
    fn join(args: &[Value]) -> Result<Value, FuncError> {
        arity("join", args, 2)?;
        let sep = string_arg(&args[1])?;
        match &args[0] {
            Value::Array(items) => Ok(Value::String(
                items.iter().map(go_sprint).collect::<Vec<_>>().join(sep),
            )),
            Value::Nil => Ok(Value::String(String::new())),
            other => Err(err(format!(
                "wrong type for value; expected []string; got {}",
                go_type(other)
            ))),
        }
    }

    /// `strings.Split`, including Go's behaviour for an empty separator (split into chars).
    fn split(args: &[Value]) -> Result<Value, FuncError> {
        arity("split", args, 2)?;
        let (s, sep) = (string_arg(&args[0])?, string_arg(&args[1])?);
        let parts: Vec<Value> = if sep.is_empty() {
            s.chars().map(|c| Value::String(c.to_string())).collect()
        } else {
            s.split(sep).map(|p| Value::String(p.to_string())).collect()
        };
        Ok(Value::Array(parts))
    }

    /// Go's `strings.Title`: upper-cases the first letter of every word.
    fn title(args: &[Value]) -> Result<Value, FuncError> {
        arity("title", args, 1)?;
        let mut prev = ' ';
        let out = string_arg(&args[0])?
            .chars()
            .map(|c| {
                let was_separator = is_title_separator(prev);
                prev = c;
                if was_separator {
                    simple_upper(c)
                } else {
                    c
                }
            })
            .collect();
        Ok(Value::String(out))
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

    fn lower(args: &[Value]) -> Result<Value, FuncError> {
        arity("lower", args, 1)?;
        let s = string_arg(&args[0])?;
        Ok(Value::String(s.chars().map(simple_lower).collect()))
    }

    fn upper(args: &[Value]) -> Result<Value, FuncError> {
        arity("upper", args, 1)?;
        let s = string_arg(&args[0])?;
        Ok(Value::String(s.chars().map(simple_upper).collect()))
    }

    /// Docker's `pad`: surrounds a non-empty string with `prefix`/`suffix` spaces.
    fn pad(args: &[Value]) -> Result<Value, FuncError> {
        arity("pad", args, 3)?;
        let s = string_arg(&args[0])?;
        let (prefix, suffix) = (int_arg(&args[1])?, int_arg(&args[2])?);
        if s.is_empty() {
            return Ok(Value::String(String::new()));
        }
        let count = |n: i64| {
            usize::try_from(n).map_err(|_| err("error calling pad: strings: negative Repeat count"))
        };
        let (prefix, suffix) = (count(prefix)?, count(suffix)?);
        Ok(Value::String(format!(
            "{}{s}{}",
            " ".repeat(prefix),
            " ".repeat(suffix)
        )))
    }

    /// Docker's `truncate`: the first `length` bytes (kept on a character boundary).
    fn truncate(args: &[Value]) -> Result<Value, FuncError> {
        arity("truncate", args, 2)?;
        let s = string_arg(&args[0])?;
        let length = usize::try_from(int_arg(&args[1])?)
            .map_err(|_| err("error calling truncate: slice bounds out of range"))?;
        if s.len() < length {
            return Ok(Value::String(s.to_string()));
        }
        let mut end = length;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Value::String(s[..end].to_string()))
    }

    /// `fmt.Sprint`: a space between operands when neither side is a string.
    fn print(args: &[Value]) -> Result<Value, FuncError> {
        let mut out = String::new();
        let mut prev_string = false;
        for (i, arg) in args.iter().enumerate() {
            let is_string = matches!(arg, Value::String(_));
            if i > 0 && !is_string && !prev_string {
                out.push(' ');
            }
            out.push_str(&go_sprint(arg));
            prev_string = is_string;
        }
        Ok(Value::String(out))
    }

    /// `fmt.Sprintln`: operands separated by spaces, newline appended.
    fn println(args: &[Value]) -> Result<Value, FuncError> {
        let mut out = args.iter().map(go_sprint).collect::<Vec<_>>().join(" ");
        out.push('\n');
        Ok(Value::String(out))
    }

    /// `fmt.Sprintf`, with Go's verbs, flags and `%!v(MISSING)`-style error text.
    fn printf(args: &[Value]) -> Result<Value, FuncError> {
        let Some((format, args)) = args.split_first() else {
            return Err(err(
                "wrong number of args for printf: want at least 1 got 0",
            ));
        };
        Ok(Value::String(gofmt::sprintf(string_arg(format)?, args)))
    }

    /// Go's `eq`: `eq a b c` is `a == b || a == c`; numbers compare by value.
    fn eq(args: &[Value]) -> Result<Value, FuncError> {
        let Some((first, rest)) = args.split_first().filter(|(_, rest)| !rest.is_empty()) else {
            return Err(err("wrong number of args for eq: want at least 2"));
        };
        Ok(Value::Bool(rest.iter().any(|other| equal(first, other))))
    }

    /// Go's `ne`: `a != b`.
    fn ne(args: &[Value]) -> Result<Value, FuncError> {
        arity("ne", args, 2)?;
        Ok(Value::Bool(!equal(&args[0], &args[1])))
    }

    fn equal(a: &Value, b: &Value) -> bool {
        fn number(n: &gtmpl_value::Number) -> (Option<i128>, f64) {
            let int = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from));
            (int, n.as_f64().unwrap_or_else(|| int.unwrap_or(0) as f64))
        }
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (number(x), number(y)) {
                ((Some(i), _), (Some(j), _)) => i == j,
                ((_, f), (_, g)) => f == g,
            },
            (Value::Nil | Value::NoValue, Value::Nil | Value::NoValue) => true,
            _ => a == b,
        }
    }

    /// Go's `len`: bytes of a string, elements of a slice or map; a nil collection is empty.
    fn len(args: &[Value]) -> Result<Value, FuncError> {
        arity("len", args, 1)?;
        let n = match &args[0] {
            Value::String(s) => s.len(),
            Value::Array(items) => items.len(),
            Value::Map(map) | Value::Object(map) => {
                map.len() - usize::from(map.contains_key(ORDER_KEY))
            }
            Value::Nil => 0,
            other => {
                return Err(err(format!(
                    "error calling len: len of type {}",
                    go_type(other)
                )))
            }
        };
        Ok(Value::from(n))
    }

    /// Go's `index`. A missing map key yields the element zero value: `""` when the map holds
    /// strings (e.g. `{{index .Config.Labels "x"}}`), otherwise `<no value>`.
    fn index(args: &[Value]) -> Result<Value, FuncError> {
        let Some((first, keys)) = args.split_first() else {
            return Err(err("wrong number of args for index: want at least 1 got 0"));
        };
        let mut current = first.clone();
        for key in keys {
            current = index_one(&current, key)?;
        }
        Ok(current)
    }

    fn index_one(collection: &Value, key: &Value) -> Result<Value, FuncError> {
        match (collection, key) {
            (Value::Array(items), Value::Number(n)) => {
                let i = n.as_i64().ok_or_else(|| {
                    err(format!(
                        "error calling index: cannot index slice/array with type {}",
                        go_type(key)
                    ))
                })?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| items.get(i))
                    .cloned()
                    .ok_or_else(|| err(format!("error calling index: index out of range: {i}")))
            }
            (Value::Map(map) | Value::Object(map), Value::String(k)) => {
                if let Some(v) = map.get(k).filter(|_| k != ORDER_KEY) {
                    return Ok(v.clone());
                }
                let holds_strings = map
                    .iter()
                    .filter(|(k, _)| *k != ORDER_KEY)
                    .all(|(_, v)| matches!(v, Value::String(_)));
                Ok(if holds_strings {
                    Value::String(String::new())
                } else {
                    Value::NoValue
                })
            }
            (Value::Nil, _) => Ok(Value::String(String::new())),
            (Value::NoValue, _) => Err(err("error calling index: index of untyped nil")),
            (c, k) => Err(err(format!(
                "error calling index: cannot index {} with {}",
                go_type(c),
                go_type(k)
            ))),
        }
    }
}

/// Go's `fmt.Sprintf` for template values (what `{{printf}}` does in Docker).
mod gofmt {
    use super::{go_number, go_sprint, go_type, Value};
    use crate::format::units::go_format_g;

    #[derive(Default, Clone, Copy)]
    struct Spec {
        plus: bool,
        minus: bool,
        sharp: bool,
        space: bool,
        zero: bool,
        width: Option<usize>,
        precision: Option<usize>,
    }

    /// Formats `args` according to `format` like Go's `fmt.Sprintf`.
    pub(super) fn sprintf(format: &str, args: &[Value]) -> String {
        let chars: Vec<char> = format.chars().collect();
        let mut out = String::new();
        let mut next_arg = 0;
        let mut reordered = false;
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '%' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            i += 1;
            let mut spec = Spec::default();
            while let Some(&c) = chars.get(i) {
                match c {
                    '+' => spec.plus = true,
                    '-' => spec.minus = true,
                    '#' => spec.sharp = true,
                    ' ' => spec.space = true,
                    '0' => spec.zero = true,
                    _ => break,
                }
                i += 1;
            }
            let mut bad_index =
                arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
            if chars.get(i) == Some(&'*') {
                i += 1;
                match args.get(next_arg).and_then(as_int) {
                    Some(w) => {
                        spec.minus |= w < 0;
                        spec.width = Some(w.unsigned_abs() as usize);
                    }
                    None => out.push_str("%!(BADWIDTH)"),
                }
                next_arg += 1;
                bad_index |= arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
            } else {
                spec.width = digits(&chars, &mut i);
            }
            if chars.get(i) == Some(&'.') {
                i += 1;
                bad_index |= arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    match args.get(next_arg).and_then(as_int) {
                        Some(p) if p >= 0 => spec.precision = Some(p as usize),
                        _ => out.push_str("%!(BADPREC)"),
                    }
                    next_arg += 1;
                    bad_index |=
                        arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
                } else {
                    spec.precision = Some(digits(&chars, &mut i).unwrap_or(0));
                }
            }
            bad_index |= arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
            let Some(&verb) = chars.get(i) else {
                out.push_str("%!(NOVERB)");
                break;
            };
            i += 1;
            if verb == '%' {
                out.push('%');
            } else if bad_index {
                out.push_str(&format!("%!{verb}(BADINDEX)"));
            } else if let Some(arg) = args.get(next_arg) {
                next_arg += 1;
                out.push_str(&format_arg(arg, verb, spec));
            } else {
                out.push_str(&format!("%!{verb}(MISSING)"));
            }
        }
        if !reordered && next_arg < args.len() {
            let extra: Vec<String> = args[next_arg..].iter().map(describe).collect();
            out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
        }
        out
    }

    /// Handles an explicit `[n]` argument index; returns whether it was bad.
    fn arg_index(
        chars: &[char],
        i: &mut usize,
        next_arg: &mut usize,
        reordered: &mut bool,
        nargs: usize,
    ) -> bool {
        if chars.get(*i) != Some(&'[') {
            return false;
        }
        *reordered = true;
        let Some(close) = chars[*i..].iter().position(|&c| c == ']') else {
            *i = chars.len();
            return true;
        };
        let text: String = chars[*i + 1..*i + close].iter().collect();
        *i += close + 1;
        match text.parse::<usize>() {
            Ok(n) if n >= 1 && n <= nargs => {
                *next_arg = n - 1;
                false
            }
            _ => true,
        }
    }

    fn digits(chars: &[char], i: &mut usize) -> Option<usize> {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        (start < *i).then(|| chars[start..*i].iter().collect::<String>().parse().ok())?
    }

    fn as_int(v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    fn as_float(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .or_else(|| n.as_i64().map(|i| i as f64))
                .or_else(|| n.as_u64().map(|u| u as f64)),
            _ => None,
        }
    }

    /// `type=value` as in Go's `%!verb(type=value)` diagnostics.
    fn describe(v: &Value) -> String {
        match v {
            Value::Nil | Value::NoValue => "<nil>".to_string(),
            v => format!("{}={}", go_type(v), go_sprint(v)),
        }
    }

    fn bad_verb(verb: char, v: &Value) -> String {
        format!("%!{verb}({})", describe(v))
    }

    fn format_arg(v: &Value, verb: char, spec: Spec) -> String {
        if verb == 'T' {
            return pad(go_type(v).to_string(), spec);
        }
        match v {
            Value::Array(items) => {
                let parts: Vec<String> = items.iter().map(|x| format_arg(x, verb, spec)).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Map(map) | Value::Object(map) => {
                let parts: Vec<String> = super::sorted_keys(map)
                    .into_iter()
                    .map(|k| {
                        let key = format_arg(&Value::String(k.clone()), verb, spec);
                        format!("{key}:{}", format_arg(&map[k], verb, spec))
                    })
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::Nil | Value::NoValue => match verb {
                'v' => pad("<nil>".to_string(), spec),
                _ => bad_verb(verb, v),
            },
            Value::Bool(b) => match verb {
                'v' | 't' => pad(b.to_string(), spec),
                _ => bad_verb(verb, v),
            },
            Value::String(s) => format_string(s, verb, spec).unwrap_or_else(|| bad_verb(verb, v)),
            Value::Number(n) if n.as_f64().is_none() => {
                let i = n
                    .as_i64()
                    .map_or_else(|| i128::from(n.as_u64().unwrap_or(0)), i128::from);
                format_int(i, verb, spec).unwrap_or_else(|| bad_verb(verb, v))
            }
            Value::Number(n) => match verb {
                'v' if spec.precision.is_none() => pad_number(go_number(n), spec),
                _ => format_float(as_float(v).unwrap_or(f64::NAN), verb, spec)
                    .unwrap_or_else(|| bad_verb(verb, v)),
            },
            Value::Function(_) => bad_verb(verb, v),
        }
    }

    fn format_string(s: &str, verb: char, spec: Spec) -> Option<String> {
        let truncated: String = match spec.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        };
        Some(match verb {
            'v' | 's' => pad(truncated, spec),
            'q' => {
                let backquote = spec.sharp
                    && !truncated.contains('`')
                    && !truncated.chars().any(|c| c.is_control() && c != '\t');
                if backquote {
                    pad(format!("`{truncated}`"), spec)
                } else {
                    pad(quote(&truncated, spec.plus), spec)
                }
            }
            'x' | 'X' => {
                let bytes = match spec.precision {
                    Some(p) => &s.as_bytes()[..p.min(s.len())],
                    None => s.as_bytes(),
                };
                pad(hex_bytes(bytes, verb == 'X', spec), spec)
            }
            _ => return None,
        })
    }

    fn hex_bytes(bytes: &[u8], upper: bool, spec: Spec) -> String {
        let mut out = String::new();
        for (i, b) in bytes.iter().enumerate() {
            if spec.space && i > 0 {
                out.push(' ');
            }
            if spec.sharp && (spec.space || i == 0) {
                out.push_str(if upper { "0X" } else { "0x" });
            }
            out.push_str(&if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            });
        }
        out
    }

    /// Go's `strconv.Quote` (`QuoteToASCII` when `ascii`).
    pub(super) fn quote(s: &str, ascii: bool) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            push_escaped(&mut out, c, '"', ascii);
        }
        out.push('"');
        out
    }

    fn quote_rune(c: char, ascii: bool) -> String {
        let mut out = String::from("'");
        push_escaped(&mut out, c, '\'', ascii);
        out.push('\'');
        out
    }

    fn push_escaped(out: &mut String, c: char, quote: char, ascii: bool) {
        match c {
            c if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (ascii && !c.is_ascii()) || c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }

    fn format_int(i: i128, verb: char, spec: Spec) -> Option<String> {
        let magnitude = i.unsigned_abs();
        let (digits, prefix) = match verb {
            'v' | 'd' => (magnitude.to_string(), ""),
            'b' => (format!("{magnitude:b}"), if spec.sharp { "0b" } else { "" }),
            'o' => (format!("{magnitude:o}"), if spec.sharp { "0" } else { "" }),
            'O' => (format!("{magnitude:o}"), "0o"),
            'x' => (format!("{magnitude:x}"), if spec.sharp { "0x" } else { "" }),
            'X' => (format!("{magnitude:X}"), if spec.sharp { "0X" } else { "" }),
            'c' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                return Some(pad(c.to_string(), spec));
            }
            'q' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                return Some(pad(quote_rune(c, spec.plus), spec));
            }
            'U' => {
                let mut s = format!("U+{magnitude:04X}");
                if spec.sharp {
                    if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                        s.push_str(&format!(" '{c}'"));
                    }
                }
                return Some(pad(s, spec));
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' => return format_float(i as f64, verb, spec),
            _ => return None,
        };
        let mut digits = match spec.precision {
            Some(0) if magnitude == 0 => String::new(),
            Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
            _ => digits,
        };
        // `%#o` only adds a leading zero when there is none yet.
        if !(prefix == "0" && digits.starts_with('0')) {
            digits.insert_str(0, prefix);
        }
        let sign = sign(i < 0, spec);
        let zero_pad = spec.zero && !spec.minus && spec.precision.is_none();
        Some(finish_number(sign, digits, spec, zero_pad))
    }

    fn sign(negative: bool, spec: Spec) -> &'static str {
        if negative {
            "-"
        } else if spec.plus {
            "+"
        } else if spec.space {
            " "
        } else {
            ""
        }
    }

    /// Pads a signed number: zero padding goes between the sign and the digits.
    fn finish_number(sign: &str, digits: String, spec: Spec, zero_pad: bool) -> String {
        let width = spec.width.unwrap_or(0);
        let len = sign.len() + digits.chars().count();
        if zero_pad && len < width {
            format!("{sign}{}{digits}", "0".repeat(width - len))
        } else {
            pad(format!("{sign}{digits}"), spec)
        }
    }

    fn pad_number(text: String, spec: Spec) -> String {
        let (sign_str, digits) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest.to_string()),
            None => (sign(false, spec), text),
        };
        finish_number(sign_str, digits, spec, spec.zero && !spec.minus)
    }

    fn format_float(f: f64, verb: char, spec: Spec) -> Option<String> {
        if !f.is_finite() {
            let text = if f.is_nan() {
                "NaN".to_string()
            } else if f > 0.0 {
                format!("{}Inf", if spec.space && !spec.plus { " " } else { "+" })
            } else {
                "-Inf".to_string()
            };
            let text = if f > 0.0 && !spec.plus && !spec.space {
                text.trim_start_matches('+').to_string()
            } else {
                text
            };
            return Some(pad(text, spec));
        }
        let abs = f.abs();
        let body = match verb {
            'e' | 'E' => {
                let s = go_exponent(&format!("{:.*e}", spec.precision.unwrap_or(6), abs));
                if verb == 'E' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), abs),
            'g' | 'G' | 'v' => {
                let s = go_format_g(abs, spec.precision);
                if verb == 'G' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            _ => return None,
        };
        let negative = f.is_sign_negative();
        Some(finish_number(
            sign(negative, spec),
            body,
            spec,
            spec.zero && !spec.minus,
        ))
    }

    /// Rust's `1.5e3` → Go's `1.5e+03`.
    fn go_exponent(rust: &str) -> String {
        let Some((mantissa, exp)) = rust.split_once('e') else {
            return rust.to_string();
        };
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }

    fn pad(s: String, spec: Spec) -> String {
        let width = spec.width.unwrap_or(0);
        let len = s.chars().count();
        if len >= width {
            s
        } else if spec.minus {
            format!("{s}{}", " ".repeat(width - len))
        } else {
            format!("{}{s}", " ".repeat(width - len))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn f(format: &str, args: &[Value]) -> String {
            sprintf(format, args)
        }

        #[test]
        fn verbs_and_flags_match_go() {
            let s = Value::from("hi");
            let n = Value::from(42);
            let neg = Value::from(-7i64);
            let x = Value::from(1.23456f64);
            assert_eq!(
                f(
                    "%s|%v|%q|%x|%X",
                    &[s.clone(), s.clone(), s.clone(), s.clone(), s.clone()]
                ),
                "hi|hi|\"hi\"|6869|6869"
            );
            assert_eq!(
                f("%5s|%-5s|%.1s", &[s.clone(), s.clone(), s.clone()]),
                "   hi|hi   |h"
            );
            assert_eq!(
                f(
                    "%d|%5d|%-5d|%05d|%+d|%x|%#x|%o|%b|%c",
                    &[
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone(),
                        n.clone()
                    ]
                ),
                "42|   42|42   |00042|+42|2a|0x2a|52|101010|*"
            );
            assert_eq!(
                f("%d|%05d|%v", &[neg.clone(), neg.clone(), neg]),
                "-7|-0007|-7"
            );
            assert_eq!(
                f(
                    "%.2f|%8.3f|%e|%g|%v",
                    &[x.clone(), x.clone(), x.clone(), x.clone(), x]
                ),
                "1.23|   1.235|1.234560e+00|1.23456|1.23456"
            );
            assert_eq!(f("%.1f", &[Value::from(2)]), "2.0");
            assert_eq!(
                f("%t|%v", &[Value::Bool(true), Value::Bool(false)]),
                "true|false"
            );
            assert_eq!(
                f("%T %T %T", &[Value::from("a"), Value::from(1), Value::Nil]),
                "string int <nil>"
            );
            assert_eq!(f("100%%", &[]), "100%");
            assert_eq!(f("%q", &[Value::from("a\"b\n")]), "\"a\\\"b\\n\"");
            assert_eq!(f("%+q", &[Value::from("é")]), "\"\\u00e9\"");
            assert_eq!(f("%#q", &[Value::from("x\"y")]), "`x\"y`");
        }

        #[test]
        fn collections_apply_the_verb_to_elements() {
            let list = Value::Array(vec![Value::from("a"), Value::from("b")]);
            assert_eq!(f("%v", std::slice::from_ref(&list)), "[a b]");
            assert_eq!(f("%q", &[list]), "[\"a\" \"b\"]");
            assert_eq!(f("%v", &[Value::Nil]), "<nil>");
        }

        #[test]
        fn go_error_annotations() {
            assert_eq!(f("%d %s", &[Value::from(1)]), "1 %!s(MISSING)");
            assert_eq!(f("%d", &[Value::from("x")]), "%!d(string=x)");
            assert_eq!(f("%s", &[Value::from(5)]), "%!s(int=5)");
            assert_eq!(f("%s", &[Value::Nil]), "%!s(<nil>)");
            assert_eq!(
                f("x", &[Value::from(1), Value::from("y")]),
                "x%!(EXTRA int=1, string=y)"
            );
            assert_eq!(
                f("%[2]s %[1]s", &[Value::from("a"), Value::from("b")]),
                "b a"
            );
            assert_eq!(f("%*d", &[Value::from(4), Value::from(7)]), "   7");
            assert_eq!(f("%", &[]), "%!(NOVERB)");
        }
    }
}

/// Source-to-source rewriting that makes gtmpl behave like Go's text/template (see module docs).
mod rewrite {
    /// Words that start a control action or are literals, never function names.
    const KEYWORDS: &[&str] = &[
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
        "true", "false", "nil",
    ];

    enum Block {
        /// `if`, `with`, `define`, `block`: passed through unchanged.
        Plain,
        /// A rewritten `range`; `pairs` for the `$k, $v :=` form.
        Range { pairs: bool, has_else: bool },
    }

    struct Action {
        ltrim: bool,
        rtrim: bool,
        /// The action's text between the delimiters/trim markers, newlines replaced by spaces.
        body: String,
        line: usize,
    }

    enum Piece<'a> {
        Text(&'a str),
        /// A comment action, passed through verbatim.
        Comment(&'a str),
        Action(Action),
    }

    /// Rewrites `src`; `is_func` tells which function names exist. Errors are Go-worded.
    pub(super) fn rewrite(src: &str, is_func: &dyn Fn(&str) -> bool) -> Result<String, String> {
        let mut out = String::with_capacity(src.len() * 2);
        let mut stack: Vec<Block> = Vec::new();
        let mut next_id = 0;
        let mut line = 1;
        let mut pos = 0;
        while pos < src.len() {
            let (piece, end) = next_piece(src, pos, line)?;
            line += src[pos..end].matches('\n').count();
            pos = end;
            let action = match piece {
                Piece::Text(text) | Piece::Comment(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Action(action) => action,
            };
            let fail = |msg: String| format!("template: :{}: {msg}", action.line);
            if let Some(name) = function_names(&action.body)
                .into_iter()
                .find(|name| !KEYWORDS.contains(name) && !is_func(name))
            {
                return Err(fail(format!("function {name:?} not defined")));
            }
            let body = action.body.trim();
            let (word, rest) = split_word(body);
            let (l, r) = (action.ltrim, action.rtrim);
            match word {
                "if" | "with" | "define" | "block" => {
                    stack.push(Block::Plain);
                    out.push_str(&act(l, body, r));
                }
                "else" => match stack.last_mut() {
                    None => return Err(fail("unexpected {{else}}".into())),
                    Some(Block::Plain) => out.push_str(&act(l, body, r)),
                    Some(Block::Range { pairs, has_else }) => {
                        if !rest.trim().is_empty() {
                            return Err(fail(format!("unexpected {{{{{body}}}}} in range")));
                        }
                        if *has_else {
                            return Err(fail("expected end; found {{else}}".into()));
                        }
                        *has_else = true;
                        // Close the inner range(s); the `else` then belongs to the `if`.
                        out.push_str(&act(l, "end", false));
                        if *pairs {
                            out.push_str("{{end}}");
                        }
                        out.push_str(&act(false, "else", r));
                    }
                },
                "end" => match stack.pop() {
                    None => return Err(fail("unexpected {{end}}".into())),
                    Some(Block::Plain) => out.push_str(&act(l, body, r)),
                    Some(Block::Range { pairs, has_else }) => {
                        // Close the range(s) not yet closed by an `else`, then the `if`.
                        let inner_ends = if has_else { 0 } else { 1 + usize::from(pairs) };
                        if inner_ends == 0 {
                            out.push_str(&act(l, "end", r));
                        } else {
                            out.push_str(&act(l, "end", false));
                            out.push_str(&"{{end}}".repeat(inner_ends - 1));
                            out.push_str(&act(false, "end", r));
                        }
                    }
                },
                "range" => {
                    let (vars, pipeline) = range_header(rest).map_err(fail)?;
                    let id = next_id;
                    next_id += 1;
                    stack.push(Block::Range {
                        pairs: vars.len() == 2,
                        has_else: false,
                    });
                    out.push_str(&range_open(id, &vars, pipeline, l, r));
                }
                "break" | "continue" => {
                    return Err(fail(format!("{{{{{word}}}}} is not supported")));
                }
                _ if body.is_empty() => return Err(fail("missing value for command".into())),
                _ if body.starts_with('$') => {
                    let (_, after) = take_variable(body);
                    let after = after.trim_start();
                    if after.starts_with('=') {
                        return Err(fail(format!(
                            "assigning to a variable ({{{{{body}}}}}) is not supported; use :="
                        )));
                    }
                    if after.starts_with(":=") {
                        out.push_str(&act(l, body, r));
                    } else {
                        out.push_str(&act(l, &format!("{body} | __fmt"), r));
                    }
                }
                "template" => out.push_str(&act(l, body, r)),
                _ => out.push_str(&act(l, &format!("{body} | __fmt"), r)),
            }
        }
        if !stack.is_empty() {
            return Err(format!("template: :{line}: unexpected EOF"));
        }
        Ok(out)
    }

    fn act(ltrim: bool, body: &str, rtrim: bool) -> String {
        format!(
            "{{{{{}{body}{}}}}}",
            if ltrim { "- " } else { "" },
            if rtrim { " -" } else { "" }
        )
    }

    /// `{{range [$k, ][$v :=] PIPE}}` → materialise the collection in Go's order, skip the
    /// loop (and run `else`) when it is empty, and bind map keys for the two-variable form.
    fn range_open(id: usize, vars: &[&str], pipeline: &str, l: bool, r: bool) -> String {
        let coll = format!("$__r{id}");
        let convert = if vars.len() == 2 {
            "__range_entries"
        } else {
            "__range_values"
        };
        let mut out = act(l, &format!("{coll} := {pipeline} | {convert}"), false);
        out.push_str(&act(false, &format!("if {coll}"), false));
        match vars {
            [] => out.push_str(&act(false, &format!("range {coll}"), r)),
            [v] => out.push_str(&act(false, &format!("range {v} := {coll}"), r)),
            [k, v, ..] => {
                let entry = format!("$__e{id}");
                out.push_str(&act(false, &format!("range {entry} := {coll}"), false));
                out.push_str(&act(false, &format!("{k} := __entry_key {entry}"), false));
                out.push_str(&act(
                    false,
                    &format!("range {v} := __entry_value_list {entry}"),
                    r,
                ));
            }
        }
        out
    }

    /// Splits a range clause into its declared variables and the pipeline.
    fn range_header(rest: &str) -> Result<(Vec<&str>, &str), String> {
        let rest = rest.trim();
        let (vars, cursor) = if !rest.starts_with('$') {
            (Vec::new(), rest)
        } else {
            let (first, after) = take_variable(rest);
            let after = after.trim_start();
            if let Some(after) = after.strip_prefix(',') {
                let after = after.trim_start();
                if !after.starts_with('$') {
                    return Err("range can only initialize variables".into());
                }
                let (second, after) = take_variable(after);
                (vec![first, second], after.trim_start())
            } else if after.starts_with('=') || after.starts_with(":=") {
                (vec![first], after)
            } else {
                // `{{range $x}}` / `{{range $x.Items}}`: a variable is the pipeline itself.
                (Vec::new(), rest)
            }
        };
        let cursor = if vars.is_empty() {
            cursor
        } else if let Some(pipeline) = cursor.strip_prefix(":=") {
            pipeline
        } else if cursor.starts_with('=') {
            return Err("assigning to variables in range is not supported; use :=".into());
        } else {
            return Err("missing := in range declaration".into());
        };
        let pipeline = cursor.trim();
        if pipeline.is_empty() {
            return Err("missing value for range".into());
        }
        Ok((vars, pipeline))
    }

    fn take_variable(s: &str) -> (&str, &str) {
        let end = s[1..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(s.len(), |i| i + 1);
        s.split_at(end)
    }

    fn split_word(body: &str) -> (&str, &str) {
        let end = body
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        body.split_at(end)
    }

    fn is_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\r' | b'\n')
    }

    /// The piece of `src` starting at `pos` and where it ends.
    fn next_piece(src: &str, pos: usize, line: usize) -> Result<(Piece<'_>, usize), String> {
        let Some(offset) = src[pos..].find("{{") else {
            return Ok((Piece::Text(&src[pos..]), src.len()));
        };
        if offset > 0 {
            return Ok((Piece::Text(&src[pos..pos + offset]), pos + offset));
        }
        let line = line + src[pos..pos + offset].matches('\n').count();
        let fail = |msg: &str| format!("template: :{line}: {msg}");
        let bytes = src.as_bytes();
        let mut i = pos + 2;
        let ltrim = bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(|&c| is_space(c));
        if ltrim {
            i += 1;
        }
        let comment_start = if ltrim { i + 1 } else { i };
        if src[comment_start..].starts_with("/*") {
            let Some(close) = src[comment_start + 2..].find("*/") else {
                return Err(fail("unclosed comment"));
            };
            let after = comment_start + 2 + close + 2;
            let end = if src[after..].starts_with("}}") {
                after + 2
            } else if right_trim_at(src, after) {
                after + 4
            } else {
                return Err(fail("comment ends before closing delimiter"));
            };
            return Ok((Piece::Comment(&src[pos..end]), end));
        }
        let mut body = String::new();
        loop {
            let Some(c) = src[i..].chars().next() else {
                return Err(fail("unclosed action"));
            };
            if src[i..].starts_with("}}") {
                let action = Action {
                    ltrim,
                    rtrim: false,
                    body,
                    line,
                };
                return Ok((Piece::Action(action), i + 2));
            }
            if right_trim_at(src, i) {
                let action = Action {
                    ltrim,
                    rtrim: true,
                    body,
                    line,
                };
                return Ok((Piece::Action(action), i + 4));
            }
            match c {
                '"' | '\'' => {
                    let end = quoted_end(src, i, c).ok_or_else(|| {
                        fail(if c == '"' {
                            "unterminated quoted string"
                        } else {
                            "unterminated character constant"
                        })
                    })?;
                    body.push_str(&src[i..end]);
                    i = end;
                }
                '`' => {
                    let close = src[i + 1..]
                        .find('`')
                        .ok_or_else(|| fail("unterminated raw quoted string"))?;
                    let raw = &src[i + 1..i + 1 + close];
                    if raw.contains(['\n', '\r']) {
                        // gtmpl rejects newlines inside actions: use an equivalent "…" string.
                        body.push_str(&interpreted_string(raw));
                    } else {
                        body.push_str(&src[i..i + close + 2]);
                    }
                    i += close + 2;
                }
                '\n' | '\r' => {
                    body.push(' ');
                    i += 1;
                }
                c => {
                    body.push(c);
                    i += c.len_utf8();
                }
            }
        }
    }

    /// Whether a right trim marker and delimiter (` -}}`) start at `i`.
    fn right_trim_at(src: &str, i: usize) -> bool {
        let bytes = src.as_bytes();
        bytes.get(i).is_some_and(|&c| is_space(c)) && src[i + 1..].starts_with("-}}")
    }

    /// End (exclusive) of the quoted literal starting at `start`, honouring backslash escapes.
    fn quoted_end(src: &str, start: usize, quote: char) -> Option<usize> {
        let mut escaped = false;
        for (offset, c) in src[start + 1..].char_indices() {
            match c {
                '\n' => return None,
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == quote => return Some(start + 1 + offset + 1),
                _ => {}
            }
        }
        None
    }

    fn interpreted_string(raw: &str) -> String {
        let mut out = String::from("\"");
        for c in raw.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// Bare identifiers in an action body: candidate function names (fields, variables,
    /// numbers and string literals are skipped).
    pub(super) fn function_names(body: &str) -> Vec<&str> {
        let chars: Vec<(usize, char)> = body.char_indices().collect();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let mut names = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i].1;
            i += 1;
            match c {
                '"' | '\'' => {
                    while i < chars.len() {
                        let d = chars[i].1;
                        i += if d == '\\' { 2 } else { 1 };
                        if d == c {
                            break;
                        }
                    }
                }
                '`' => {
                    while i < chars.len() && chars[i].1 != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                '.' | '$' => {
                    while i < chars.len() && ident(chars[i].1) {
                        i += 1;
                    }
                }
                c if c.is_ascii_digit() => {
                    while i < chars.len() {
                        let d = chars[i].1;
                        let exponent_sign = matches!(d, '+' | '-')
                            && matches!(chars[i - 1].1, 'e' | 'E' | 'p' | 'P');
                        if !(ident(d) || d == '.' || exponent_sign) {
                            break;
                        }
                        i += 1;
                    }
                }
                c if c.is_alphabetic() || c == '_' => {
                    let start = chars[i - 1].0;
                    while i < chars.len() && ident(chars[i].1) {
                        i += 1;
                    }
                    let end = chars.get(i).map_or(body.len(), |&(p, _)| p);
                    names.push(&body[start..end]);
                }
                _ => {}
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container() -> Json {
        json!({
            "Id": "4c01db0b339cf5ab2f3d3d0ea0fa41fb3b1c2e4a1b8f1d5d3e0c9e9b7a6f5e4d",
            "Created": "2024-01-01T10:00:00.000000000Z",
            "Path": "/bin/sh",
            "Args": ["-c", "echo hi"],
            "State": {
                "Status": "running", "Running": true, "Paused": false, "Pid": 1234, "ExitCode": 0
            },
            "Name": "/web",
            "RestartCount": 0,
            "Config": {
                "Hostname": "4c01db0b339c",
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin", "LANG=C.UTF-8"],
                "Cmd": ["/bin/sh", "-c", "echo hi"],
                "Entrypoint": null,
                "Labels": {"com.example.b": "2", "com.example.a": "1"},
                "Volumes": {}
            },
            "NetworkSettings": {"IPAddress": "172.17.0.2", "Ports": {}},
            "RepoTags": ["alpine:3.19", "alpine:latest"],
            "RootFS": {"Type": "layers", "Layers": ["sha256:aaa", "sha256:bbb"]},
            "Size": 7_377_000,
            "Ratio": 0.25,
            "Html": "<a&b>"
        })
    }

    fn r(template: &str) -> String {
        render(template, &container()).unwrap_or_else(|e| panic!("{template:?}: {e}"))
    }

    fn err(template: &str) -> String {
        render(template, &container())
            .expect_err(template)
            .to_string()
    }

    #[test]
    fn fields_and_scalars() {
        assert_eq!(r("{{.Id}}"), container()["Id"].as_str().unwrap());
        assert_eq!(r("{{ .NetworkSettings.IPAddress }}"), "172.17.0.2");
        assert_eq!(r("{{.State.Pid}}"), "1234");
        assert_eq!(r("{{.State.Running}}"), "true");
        assert_eq!(r("{{.Ratio}}"), "0.25");
        assert_eq!(r("id={{.Name}}!"), "id=/web!");
    }

    #[test]
    fn slices_and_maps_print_like_go() {
        assert_eq!(r("{{.Config.Cmd}}"), "[/bin/sh -c echo hi]");
        assert_eq!(
            r("{{.Config.Env}}"),
            "[PATH=/usr/local/sbin:/usr/local/bin LANG=C.UTF-8]"
        );
        assert_eq!(
            r("{{.Config.Labels}}"),
            "map[com.example.a:1 com.example.b:2]"
        );
        assert_eq!(r("{{.Config.Volumes}}"), "map[]");
        assert_eq!(
            r("{{.RootFS}}"),
            "map[Layers:[sha256:aaa sha256:bbb] Type:layers]"
        );
    }

    #[test]
    fn null_and_missing_print_no_value() {
        assert_eq!(r("{{.Config.Entrypoint}}"), "<no value>");
        assert_eq!(r("{{.Missing}}"), "<no value>");
        assert_eq!(r("{{json .Config.Entrypoint}}"), "null");
        assert_eq!(r("{{if .Config.Entrypoint}}y{{else}}n{{end}}"), "n");
        assert_eq!(r("{{print .Missing}}"), "<nil>");
    }

    #[test]
    fn json_keeps_key_order_and_does_not_escape_html() {
        assert_eq!(
            r("{{json .RootFS}}"),
            r#"{"Type":"layers","Layers":["sha256:aaa","sha256:bbb"]}"#
        );
        assert_eq!(
            r("{{json .Config.Labels}}"),
            r#"{"com.example.b":"2","com.example.a":"1"}"#
        );
        assert_eq!(r("{{json .Html}}"), r#""<a&b>""#);
        assert_eq!(r("{{json .State.Pid}}"), "1234");
        assert_eq!(r("{{json .Ratio}}"), "0.25");
        assert_eq!(r("{{json .Config.Volumes}}"), "{}");
        let data = json!({"s": "tab\there \"q\" \\ \u{1} \u{2028}"});
        assert_eq!(
            render("{{json .s}}", &data).unwrap(),
            r#""tab\there \"q\" \\ \u0001 \u2028""#
        );
    }

    #[test]
    fn json_of_whole_document_round_trips_in_order() {
        let out = r("{{json .}}");
        let expected = serde_json::to_string(&container()).unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn range_over_slices_and_sorted_maps() {
        assert_eq!(
            r("{{range .RepoTags}}{{.}} {{end}}"),
            "alpine:3.19 alpine:latest "
        );
        assert_eq!(
            r("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}"),
            "0=alpine:3.19;1=alpine:latest;"
        );
        assert_eq!(
            r("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{.}} {{end}}"),
            "com.example.a=1,1 com.example.b=2,2 "
        );
        assert_eq!(r("{{range $v := .Config.Labels}}{{$v}}{{end}}"), "12");
        assert_eq!(r("{{range .Config.Labels}}{{.}}{{end}}"), "12");
    }

    #[test]
    fn range_else_runs_only_when_empty() {
        assert_eq!(r("{{range .RepoTags}}x{{else}}none{{end}}"), "xx");
        assert_eq!(r("{{range .Config.Volumes}}x{{else}}none{{end}}"), "none");
        assert_eq!(
            r("{{range .Config.Entrypoint}}x{{else}}none{{end}}"),
            "none"
        );
        assert_eq!(
            r("{{range $k, $v := .Config.Volumes}}x{{else}}none{{end}}"),
            "none"
        );
        assert!(err("{{range .Name}}x{{end}}").contains("range can't iterate over /web"));
    }

    #[test]
    fn nested_ranges_and_root_variable() {
        let data = json!({"Nets": {"b": {"IPs": ["2", "3"]}, "a": {"IPs": ["1"]}}, "N": "x"});
        let out = render(
            "{{range $n, $c := .Nets}}{{$n}}:{{range $c.IPs}}{{.}}{{$.N}}{{end}} {{end}}",
            &data,
        )
        .unwrap();
        assert_eq!(out, "a:1x b:2x3x ");
    }

    #[test]
    fn trim_markers_survive_rewriting() {
        assert_eq!(
            r("{{- range .RepoTags }}\n  {{- . }}\n{{ end -}}\n!"),
            "alpine:3.19\nalpine:latest\n!"
        );
        assert_eq!(r("a  {{- .Name -}}  b"), "a/webb");
        assert_eq!(r("{{/* comment */}}x {{- /* c2 */ -}} y"), "xy");
    }

    #[test]
    fn docker_functions() {
        assert_eq!(r("{{join .Config.Cmd \" \"}}"), "/bin/sh -c echo hi");
        assert_eq!(r("{{join .Config.Entrypoint \",\"}}"), "");
        assert_eq!(r("{{split .Config.Hostname \"c\"}}"), "[4 01db0b339 ]");
        assert_eq!(r("{{len (split \"a,b,c\" \",\")}}"), "3");
        assert_eq!(r("{{upper .State.Status}}"), "RUNNING");
        assert_eq!(r("{{lower \"MiXeD\"}}"), "mixed");
        assert_eq!(r("{{title \"hello wor-ld_x\"}}"), "Hello Wor-Ld_x");
        assert_eq!(r("[{{pad .State.Status 2 1}}]"), "[  running ]");
        assert_eq!(r("[{{pad \"\" 2 1}}]"), "[]");
        assert_eq!(r("{{truncate .Id 12}}"), "4c01db0b339c");
        assert_eq!(r("{{truncate \"abc\" 12}}"), "abc");
        // A piped value becomes the last argument, as in Go: `truncate 5 .Id` is a type error.
        assert!(err("{{.Id | truncate 5}}").contains("expected string; got int"));
        assert_eq!(r("{{truncate .Id 5 | upper}}"), "4C01D");
    }

    #[test]
    fn go_builtins() {
        assert_eq!(r("{{println .Name}}"), "/web\n");
        assert_eq!(r("{{println .Name .State.Pid}}"), "/web 1234\n");
        assert_eq!(
            r("{{print .State.Pid .State.Pid \"s\" .State.Pid}}"),
            "1234 1234s1234"
        );
        assert_eq!(r("{{printf \"%s-%d\" .Name .State.Pid}}"), "/web-1234");
        assert_eq!(r("{{printf \"%v\" .Config.Cmd}}"), "[/bin/sh -c echo hi]");
        assert_eq!(r("{{.Name | printf \"%q\"}}"), "\"/web\"");
        assert_eq!(r("{{len .RepoTags}}"), "2");
        assert_eq!(r("{{len .Config.Labels}}"), "2");
        assert_eq!(r("{{len .Name}}"), "4");
        assert_eq!(r("{{index .Config.Labels \"com.example.a\"}}"), "1");
        assert_eq!(r("[{{index .Config.Labels \"nope\"}}]"), "[]");
        assert_eq!(r("{{index .RepoTags 1}}"), "alpine:latest");
        assert_eq!(r("{{index .RootFS.Layers 0}}"), "sha256:aaa");
        assert!(err("{{index .RepoTags 5}}").contains("index out of range: 5"));
        assert_eq!(
            r("{{if eq .State.Status \"running\"}}up{{else}}down{{end}}"),
            "up"
        );
        assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "up");
        assert_eq!(
            r("{{if .State.Paused}}p{{else if .State.Running}}r{{end}}"),
            "r"
        );
        assert_eq!(
            r("{{if and .State.Running (not .State.Paused)}}ok{{end}}"),
            "ok"
        );
        assert_eq!(r("{{with .State}}{{.Pid}}{{end}}"), "1234");
        assert_eq!(r("{{$n := .Name}}{{$n}}"), "/web");
        assert_eq!(r("{{eq .State.ExitCode 0}}"), "true");
        assert_eq!(r("{{eq .State.Status \"exited\" \"running\"}}"), "true");
        assert_eq!(r("{{eq .State.Status \"exited\" \"dead\"}}"), "false");
        assert_eq!(
            r("{{ne .State.Pid 1234}} {{ne .Name \"/db\"}}"),
            "false true"
        );
        assert_eq!(
            r("{{eq .Ratio 0.25}} {{eq .State.Pid 1234.0}}"),
            "true true"
        );
    }

    #[test]
    fn control_structures_nest_inside_rewritten_ranges() {
        assert_eq!(
            r("{{range .RepoTags}}{{if eq . \"alpine:latest\"}}L{{else}}o{{end}}{{else}}E{{end}}"),
            "oL"
        );
        assert_eq!(
            r("{{with .Config}}{{range $k, $v := .Labels}}{{$k}} {{end}}{{else}}none{{end}}"),
            "com.example.a com.example.b "
        );
        assert_eq!(
            r("{{define \"tag\"}}<{{.}}>{{end}}{{range .RepoTags}}{{template \"tag\" .}}{{end}}"),
            "<alpine:3.19><alpine:latest>"
        );
        assert_eq!(
            r("{{range .RepoTags}}{{range $.RootFS.Layers}}.{{end}}|{{end}}"),
            "..|..|"
        );
    }

    #[test]
    fn template_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Template>();
    }

    #[test]
    fn multi_line_actions_and_raw_strings() {
        assert_eq!(r("{{.Name\n}}"), "/web");
        assert_eq!(r("{{printf `%s\n` .Name}}"), "/web\n");
    }

    #[test]
    fn parse_errors_are_go_worded() {
        assert_eq!(
            err("{{foo .Id}}"),
            "template parsing error: template: :1: function \"foo\" not defined"
        );
        assert_eq!(
            err("line\n{{.Id}}\n{{bar}}"),
            "template parsing error: template: :3: function \"bar\" not defined"
        );
        assert_eq!(
            err("{{.Id"),
            "template parsing error: template: :1: unclosed action"
        );
        assert_eq!(
            err("{{end}}"),
            "template parsing error: template: :1: unexpected {{end}}"
        );
        assert_eq!(
            err("{{if .Id}}x"),
            "template parsing error: template: :1: unexpected EOF"
        );
        assert!(err("{{range .RepoTags}}{{break}}{{end}}").contains("not supported"));
    }

    #[test]
    fn function_names_skip_fields_literals_and_numbers() {
        assert_eq!(
            rewrite::function_names(r#"printf "%s x" .a.b $v.c 1e+3 -2 'y' (len .d)"#),
            vec!["printf", "len"]
        );
    }

    #[test]
    fn execution_errors_are_reported() {
        assert!(
            err("{{upper .State.Pid}}").contains("wrong type for value; expected string; got int")
        );
        assert!(err("{{.Name.Foo}}").starts_with("template parsing error: template: executing"));
    }

    #[test]
    fn headers_render_with_header_functions() {
        let mut headers = Map::new();
        headers.insert("Repository".into(), json!("REPOSITORY"));
        headers.insert("ID".into(), json!("IMAGE ID"));
        headers.insert("Tag".into(), json!("TAG"));
        let tmpl = "{{.Repository}}\t{{.ID}}\t{{lower .Tag}}\t{{json .Tag}}\t{{pad .Tag 1 1}}";
        assert_eq!(
            render_header(tmpl, &headers).unwrap(),
            "REPOSITORY\tIMAGE ID\tTAG\tTAG\t TAG "
        );
        let parsed = Template::parse("{{.Repository}}:{{upper .Tag}}").unwrap();
        let row = json!({"Repository": "alpine", "Tag": "latest"});
        assert_eq!(parsed.execute(&row).unwrap(), "alpine:LATEST");
        assert_eq!(parsed.execute_header(&headers).unwrap(), "REPOSITORY:TAG");
    }

    #[test]
    fn format_parse_classifies_like_docker() {
        assert_eq!(Format::parse("json"), Format::Json);
        assert_eq!(
            Format::parse("table {{.ID}}\\t{{.Size}}"),
            Format::Table("{{.ID}}\t{{.Size}}".into())
        );
        assert_eq!(Format::parse("table"), Format::Table(String::new()));
        assert_eq!(
            Format::parse(" {{.ID}}\\n "),
            Format::Raw("{{.ID}}\n".into())
        );
        assert_eq!(Format::parse(" json"), Format::Raw("json".into()));
        assert_eq!(Format::Json.template(), "{{json .}}");
        assert!(Format::parse("table {{.ID}}").is_table());
    }
}
