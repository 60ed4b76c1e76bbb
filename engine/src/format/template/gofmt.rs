//! Go's `fmt` for template values: `%v` printing (`[a b]`, `map[k:v]` with sorted keys,
//! `<nil>`), `%T` type names as text/template sees decoded JSON, `strconv.Quote`, and
//! `fmt.Sprintf` with Go's verbs, flags and `%!v(MISSING)`-style diagnostics.

use serde_json::{Map, Number, Value as Json};

use crate::format::units::{go_format_float, go_format_g};

/// An object's entries in Go's printing and `range` order: sorted by key.
pub(super) fn sorted_entries(map: &Map<String, Json>) -> Vec<(&String, &Json)> {
    let mut entries: Vec<(&String, &Json)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Go's `%v` of a value (`fmt.Sprint`): nil → `<nil>`, `[a b]`, `map[a:1 b:2]`.
pub(super) fn sprint(v: &Json) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    out
}

/// Appends Go's `%v` of `v` to `out`.
pub(super) fn write_value(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("<nil>"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::String(s) => out.push_str(s),
        Json::Number(n) => out.push_str(&number_text(n)),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push_str("map[");
            for (i, (key, value)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_value(value, out);
            }
            out.push(']');
        }
    }
}

/// A number as Go prints it: integers in decimal, floats with `%v` (`1e+06`, `0.25`).
pub(super) fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        go_format_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Go's `%T` of a value as text/template sees it after JSON decoding (integers are `int`).
pub(super) fn go_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::String(_) => "string",
        Json::Number(n) if n.is_f64() => "float64",
        Json::Number(n) if n.is_u64() && n.as_i64().is_none() => "uint64",
        Json::Number(_) => "int",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%#U` of a character: `U+002D '-'` (the quoted form only when printable).
pub(super) fn unicode_repr(c: char) -> String {
    if c == ' ' || !(c.is_control() || c.is_whitespace()) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

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
pub(super) fn sprintf(format: &str, args: &[&Json]) -> String {
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
        let mut bad_index = arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
        if chars.get(i) == Some(&'*') {
            i += 1;
            match args.get(next_arg).and_then(|a| as_int(a)) {
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
                match args.get(next_arg).and_then(|a| as_int(a)) {
                    Some(p) if p >= 0 => spec.precision = Some(p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
                bad_index |= arg_index(&chars, &mut i, &mut next_arg, &mut reordered, args.len());
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
        let extra: Vec<String> = args[next_arg..].iter().map(|a| describe(a)).collect();
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

fn as_int(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn as_float(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64)),
        _ => None,
    }
}

/// `type=value` as in Go's `%!verb(type=value)` diagnostics.
fn describe(v: &Json) -> String {
    match v {
        Json::Null => "<nil>".to_string(),
        v => format!("{}={}", go_type(v), sprint(v)),
    }
}

fn bad_verb(verb: char, v: &Json) -> String {
    format!("%!{verb}({})", describe(v))
}

fn format_arg(v: &Json, verb: char, spec: Spec) -> String {
    if verb == 'T' {
        return pad(go_type(v).to_string(), spec);
    }
    match v {
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().map(|x| format_arg(x, verb, spec)).collect();
            format!("[{}]", parts.join(" "))
        }
        Json::Object(map) => {
            let parts: Vec<String> = sorted_entries(map)
                .into_iter()
                .map(|(k, v)| {
                    let key = format_arg(&Json::String(k.clone()), verb, spec);
                    format!("{key}:{}", format_arg(v, verb, spec))
                })
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Json::Null => match verb {
            'v' => pad("<nil>".to_string(), spec),
            _ => bad_verb(verb, v),
        },
        Json::Bool(b) => match verb {
            'v' | 't' => pad(b.to_string(), spec),
            _ => bad_verb(verb, v),
        },
        Json::String(s) => format_string(s, verb, spec).unwrap_or_else(|| bad_verb(verb, v)),
        Json::Number(n) if !n.is_f64() => {
            let i = n
                .as_i64()
                .map_or_else(|| i128::from(n.as_u64().unwrap_or(0)), i128::from);
            format_int(i, verb, spec).unwrap_or_else(|| bad_verb(verb, v))
        }
        Json::Number(n) => match verb {
            'v' if spec.precision.is_none() => pad_number(number_text(n), spec),
            _ => format_float(as_float(v).unwrap_or(f64::NAN), verb, spec)
                .unwrap_or_else(|| bad_verb(verb, v)),
        },
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
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
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

    fn f(format: &str, args: &[Json]) -> String {
        sprintf(format, &args.iter().collect::<Vec<_>>())
    }

    #[test]
    fn verbs_and_flags_match_go() {
        let s = Json::from("hi");
        let n = Json::from(42);
        let neg = Json::from(-7i64);
        let x = Json::from(1.23456f64);
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
        assert_eq!(f("%.1f", &[Json::from(2)]), "2.0");
        assert_eq!(
            f("%t|%v", &[Json::Bool(true), Json::Bool(false)]),
            "true|false"
        );
        assert_eq!(
            f("%T %T %T", &[Json::from("a"), Json::from(1), Json::Null]),
            "string int <nil>"
        );
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%q", &[Json::from("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(f("%+q", &[Json::from("é")]), "\"\\u00e9\"");
        assert_eq!(f("%#q", &[Json::from("x\"y")]), "`x\"y`");
    }

    #[test]
    fn collections_apply_the_verb_to_elements() {
        let list = Json::Array(vec![Json::from("a"), Json::from("b")]);
        assert_eq!(f("%v", std::slice::from_ref(&list)), "[a b]");
        assert_eq!(f("%q", &[list]), "[\"a\" \"b\"]");
        assert_eq!(f("%v", &[Json::Null]), "<nil>");
    }

    #[test]
    fn go_error_annotations() {
        assert_eq!(f("%d %s", &[Json::from(1)]), "1 %!s(MISSING)");
        assert_eq!(f("%d", &[Json::from("x")]), "%!d(string=x)");
        assert_eq!(f("%s", &[Json::from(5)]), "%!s(int=5)");
        assert_eq!(f("%s", &[Json::Null]), "%!s(<nil>)");
        assert_eq!(
            f("x", &[Json::from(1), Json::from("y")]),
            "x%!(EXTRA int=1, string=y)"
        );
        assert_eq!(f("%[2]s %[1]s", &[Json::from("a"), Json::from("b")]), "b a");
        assert_eq!(f("%*d", &[Json::from(4), Json::from(7)]), "   7");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
    }
}
