//! Docker's `go-units` helpers: human-readable sizes and durations, and RAM size parsing.
//!
//! Ported from `github.com/docker/go-units` (`size.go`, `duration.go`), including the exact
//! output of Go's `%.*g` verb, which decides how sizes such as `13.3kB` or `1e+03kB` look.

use chrono::TimeDelta;
use thiserror::Error;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// A size string that `parse_ram` could not understand; messages match go-units.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnitsError {
    /// No digit at all, or a negative size: `invalid size: '<input>'`.
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
    /// An unknown unit suffix: `invalid suffix: '<suffix>'`.
    #[error("invalid suffix: '{0}'")]
    InvalidSuffix(String),
    /// The numeric part is not a float, worded like Go's `strconv.ParseFloat` error.
    #[error("strconv.ParseFloat: parsing {0:?}: {1}")]
    ParseFloat(String, &'static str),
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)` (decimal units), as in `docker images`.
///
/// `13256` → `"13.3kB"`, `1000` → `"1kB"`, `999999` → `"1e+03kB"` (a real Docker quirk).
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// Docker's `units.HumanSizeWithPrecision`: decimal units and `%.*g` with `precision` digits.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{}", go_format_g(size, Some(precision)), unit)
}

/// Docker's `units.BytesSize` (binary units, `%.4g`), as in `docker stats` and `docker info`.
///
/// `1_048_576` → `"1MiB"`, `2_048_000` → `"1.953MiB"`.
pub fn bytes_size(bytes: u64) -> String {
    let (size, unit) = size_and_unit(bytes as f64, 1024.0, &BINARY_UNITS);
    format!("{}{}", go_format_g(size, Some(4)), unit)
}

fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// Docker's `units.HumanDuration`: `"About a minute"`, `"7 months"`, …
///
/// Negative durations (clock skew) give `"Less than a second"`, as in Go.
pub fn human_duration(d: TimeDelta) -> String {
    let secs = d.num_seconds() as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs / 3600.0 + 0.5) as i64;
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
    }
}

/// Docker's `units.RAMInBytes`: `"512m"`, `"1.5g"`, `"1GiB"`, `"100"`; binary multiples, any case.
pub fn parse_ram(s: &str) -> Result<i64, UnitsError> {
    let (num, suffix) = match s.split_once(' ') {
        Some(parts) => parts,
        None => {
            let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.') else {
                return Err(UnitsError::InvalidSize(s.to_string()));
            };
            s.split_at(sep + 1)
        }
    };
    let mut size = parse_go_float(num)?;
    if size < 0.0 {
        return Err(UnitsError::InvalidSize(s.to_string()));
    }
    if suffix.is_empty() {
        return Ok(size as i64);
    }
    if suffix.len() > 3 {
        return Err(UnitsError::InvalidSuffix(suffix.to_string()));
    }
    let lower = suffix.to_lowercase();
    let bad = || UnitsError::InvalidSuffix(lower.clone());
    let mut chars = lower.chars();
    let multiplier: i64 = match chars.next() {
        Some('b') if lower.len() == 1 => return Ok(size as i64),
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        _ => return Err(bad()),
    };
    size *= multiplier as f64;
    let rest = chars.as_str();
    if !(rest.is_empty() || rest == "b" || rest == "ib") {
        return Err(bad());
    }
    Ok(size as i64)
}

/// Parses like Go's `strconv.ParseFloat(s, 64)` for the inputs `parse_ram` can hand it.
fn parse_go_float(num: &str) -> Result<f64, UnitsError> {
    let lower = num.to_ascii_lowercase();
    let special = ["inf", "infinity", "nan"].contains(&lower.trim_start_matches(['+', '-']));
    match num.parse::<f64>() {
        Ok(v) if v.is_infinite() && !special => Err(UnitsError::ParseFloat(
            num.to_string(),
            "value out of range",
        )),
        Ok(v) if !v.is_nan() => Ok(v),
        _ => Err(UnitsError::ParseFloat(num.to_string(), "invalid syntax")),
    }
}

/// Go's `%v` for a float64 (`strconv` `'g'`, shortest precision): `1e+06`, `123456`, `0.0001`.
pub(crate) fn go_format_float(v: f64) -> String {
    go_format_g(v, None)
}

/// Go's `%.{prec}g` (or shortest `%v` when `prec` is `None`) for a float64.
pub(crate) fn go_format_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = v.is_sign_negative();
    let (digits, dp) = decimal_digits(v.abs(), prec);
    let nd = digits.len() as i64;
    let (mut prec, eprec) = match prec {
        None => (nd, 6),
        Some(p) => {
            let p = p.max(1) as i64;
            let eprec = if p > nd && nd >= dp { nd } else { p };
            (p, eprec)
        }
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        prec = prec.min(nd);
        push_exponent_form(&mut out, &digits, dp, (prec - 1).max(0) as usize);
    } else {
        if prec > dp {
            prec = nd;
        }
        push_fixed_form(&mut out, &digits, dp, (prec - dp).max(0) as usize);
    }
    out
}

/// Go's `encoding/json` float encoding: `'f'` form, or exponent form (`1e+21`, `1e-7`)
/// when `abs < 1e-6 || abs >= 1e21`.
pub(crate) fn go_json_float(v: f64) -> String {
    if !v.is_finite() {
        return "null".to_string();
    }
    let abs = v.abs();
    let (digits, dp) = decimal_digits(abs, None);
    let nd = digits.len() as i64;
    let mut out = String::new();
    if v.is_sign_negative() && abs != 0.0 {
        out.push('-');
    }
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        push_exponent_form(&mut out, &digits, dp, (nd - 1).max(0) as usize);
        // Go trims a leading zero of a negative exponent: e-07 → e-7.
        if let Some(pos) = out.rfind("e-0") {
            out.remove(pos + 2);
        }
    } else {
        push_fixed_form(&mut out, &digits, dp, (nd - dp).max(0) as usize);
    }
    out
}

/// Decimal digits (trailing zeros trimmed) and decimal-point position of a non-negative float:
/// the value is `0.d1d2d3… × 10^dp`. Shortest round-trip digits when `prec` is `None`,
/// otherwise rounded (half to even, exactly) to `prec` significant digits. Zero has no digits.
fn decimal_digits(abs: f64, prec: Option<usize>) -> (Vec<u8>, i64) {
    if abs == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match prec {
        None => format!("{abs:e}"),
        Some(p) => format!("{:.*e}", p.max(1) - 1, abs),
    };
    let (mantissa, exp) = sci.split_once('e').expect("{:e} output has an exponent");
    let exp: i64 = exp.parse().expect("{:e} exponent is an integer");
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// `d.ddde±XX` with `decimals` digits after the point (Go's `fmtE`).
fn push_exponent_form(out: &mut String, digits: &[u8], dp: i64, decimals: usize) {
    out.push(char::from(*digits.first().unwrap_or(&b'0')));
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals {
            out.push(char::from(*digits.get(i).unwrap_or(&b'0')));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.abs();
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// `ddd.ddd` with `decimals` digits after the point (Go's `fmtF`).
fn push_fixed_form(out: &mut String, digits: &[u8], dp: i64, decimals: usize) {
    let digit = |i: i64| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |&d| char::from(d))
    };
    if dp > 0 {
        (0..dp).for_each(|i| out.push(digit(i)));
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        (0..decimals as i64).for_each(|i| out.push(digit(dp + i)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_docker_images_column() {
        let cases = [
            (0, "0B"),
            (1, "1B"),
            (999, "999B"),
            (1000, "1kB"),
            (1500, "1.5kB"),
            (13_256, "13.3kB"),
            (13_000, "13kB"),
            (12_250, "12.2kB"), // exact tie rounds half to even, like Go
            (72_800_000, "72.8MB"),
            (124_000_000, "124MB"),
            (1_234_567_890, "1.23GB"),
            (999_999, "1e+03kB"), // Go's %.3g switches to exponent form
            (7_780_000_000_000, "7.78TB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_size(bytes), want, "human_size({bytes})");
        }
    }

    #[test]
    fn human_size_with_precision_four_is_go_units_human_size() {
        assert_eq!(human_size_with_precision(2_746_000.0, 4), "2.746MB");
        assert_eq!(human_size_with_precision(796_000.0, 4), "796kB");
    }

    #[test]
    fn bytes_size_matches_go_units() {
        let cases = [
            (0, "0B"),
            (1023, "1023B"),
            (1024, "1KiB"),
            (1024 * 1024, "1MiB"),
            (2_048_000, "1.953MiB"),
            (16_728_842_240, "15.58GiB"),
            (3 * 1024 * 1024 * 1024 * 1024, "3TiB"),
            (1_073_741_823, "1024MiB"), // 1023.999… rounds up but stays in MiB
        ];
        for (bytes, want) in cases {
            assert_eq!(bytes_size(bytes), want, "bytes_size({bytes})");
        }
    }

    #[test]
    fn go_format_g_shortest_matches_percent_v() {
        let cases = [
            (1e6, "1e+06"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.0, "0"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(go_format_float(v), want, "%v of {v}");
        }
    }

    #[test]
    fn go_json_float_matches_encoding_json() {
        let cases = [
            (1.5, "1.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
            (-0.5, "-0.5"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            assert_eq!(go_json_float(v), want, "json of {v}");
        }
    }

    fn secs(s: i64) -> TimeDelta {
        TimeDelta::seconds(s)
    }

    #[test]
    fn human_duration_boundaries_match_go_units() {
        let cases = [
            (TimeDelta::milliseconds(999), "Less than a second"),
            (secs(-5), "Less than a second"),
            (secs(1), "1 second"),
            (TimeDelta::milliseconds(1999), "1 second"),
            (secs(2), "2 seconds"),
            (secs(59), "59 seconds"),
            (secs(60), "About a minute"),
            (secs(119), "About a minute"),
            (secs(120), "2 minutes"),
            (secs(59 * 60 + 59), "59 minutes"),
            (secs(3600), "About an hour"),
            (secs(89 * 60 + 59), "About an hour"),
            (secs(90 * 60), "2 hours"),
            (secs(47 * 3600), "47 hours"),
            (secs(47 * 3600 + 30 * 60), "2 days"), // hours round to 48
            (secs(13 * 86400), "13 days"),
            (secs(14 * 86400), "2 weeks"),
            (secs(59 * 86400), "8 weeks"),
            (secs(60 * 86400), "2 months"),
            (secs(7 * 30 * 86400), "7 months"),
            (secs(729 * 86400), "24 months"),
            (secs(730 * 86400), "2 years"),
            (secs(3 * 365 * 86400 + 86400), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "human_duration({d})");
        }
    }

    #[test]
    fn parse_ram_accepts_docker_memory_flags() {
        let cases = [
            ("100", 100),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("512m", 512 << 20),
            ("1024k", 1 << 20),
            ("1.5g", 3 << 29),
            ("1gb", 1 << 30),
            ("1GiB", 1 << 30),
            ("32kib", 32 << 10),
            ("10b", 10),
            ("1 m", 1 << 20),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("0.5k", 512),
            ("1e3", 1000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_ram(s), Ok(want), "parse_ram({s:?})");
        }
    }

    #[test]
    fn parse_ram_rejects_garbage_with_go_units_wording() {
        let err = |s: &str| parse_ram(s).unwrap_err().to_string();
        assert_eq!(err("1x"), "invalid suffix: 'x'");
        assert_eq!(err("1X"), "invalid suffix: 'x'");
        assert_eq!(err("1gg"), "invalid suffix: 'gg'");
        assert_eq!(err("1gab"), "invalid suffix: 'gab'");
        assert_eq!(err("1bb"), "invalid suffix: 'bb'");
        assert_eq!(err("1kilo"), "invalid suffix: 'kilo'");
        assert_eq!(err("abc"), "invalid size: 'abc'");
        assert_eq!(err(""), "invalid size: ''");
        assert_eq!(err("-1"), "invalid size: '-1'");
        assert_eq!(
            err("1.2.3g"),
            "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax"
        );
        assert_eq!(
            err("1e999"),
            "strconv.ParseFloat: parsing \"1e999\": value out of range"
        );
    }
}
