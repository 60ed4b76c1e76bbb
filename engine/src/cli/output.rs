//! Printing lists and objects the way the docker CLI does: a row object per line rendered through a
//! Go template (`--format`, or the command's default `table …`), aligned like Go's tabwriter.

use anyhow::{Context, Result};
use baleia_engine::format::units::human_duration;
use baleia_engine::format::{table, template};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Map, Value};

/// The flags every list command shares (`images`, `history`, and later `ps`, `network ls`).
#[derive(Debug, Args)]
pub struct ListFlags {
    /// Only show IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template).
    #[arg(long)]
    pub format: Option<String>,
}

/// Docker's CREATED column: "3 minutes ago", or "N/A" when the time is unknown.
pub fn created_since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map(|c| format!("{} ago", human_duration(now - c)))
        .unwrap_or_else(|| "N/A".into())
}

/// Print `rows` with the user's `--format` or the command's `default` one. `headers` maps row
/// fields to column titles for `table` formats.
pub fn print_list(
    format: Option<&str>,
    default: &str,
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<()> {
    // Plain `table` means the command's own table.
    let fmt = format
        .filter(|f| !f.is_empty() && f.trim() != "table")
        .unwrap_or(default);
    let out = match template::Format::parse(fmt) {
        template::Format::Json => rows
            .iter()
            .map(|r| Ok(format!("{}\n", serde_json::to_string(r)?)))
            .collect::<Result<String>>()?,
        template::Format::Raw(t) => {
            let t = template::Template::parse(&t)?;
            rows.iter()
                .map(|r| Ok(format!("{}\n", t.execute(r)?)))
                .collect::<Result<String>>()?
        }
        template::Format::Table(t) => {
            let t = template::Template::parse(&t)?;
            let titles: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            let mut text = format!("{}\n", t.execute_header(&titles)?);
            for r in rows {
                text.push_str(&t.execute(r)?);
                text.push('\n');
            }
            table::align(&text)
        }
    };
    print!("{out}");
    Ok(())
}

/// Render one object through a `-f` template, with a newline, as `inspect -f` does.
pub fn render_object(format: &str, v: &Value) -> Result<String> {
    let t = match template::Format::parse(format) {
        template::Format::Json => return Ok(format!("{}\n", serde_json::to_string(v)?)),
        template::Format::Raw(t) | template::Format::Table(t) => t,
    };
    let mut s = template::render(&t, v)?;
    s.push('\n');
    Ok(s)
}

/// JSON as `docker inspect` prints it: 4-space indent, `<`, `>` and `&` escaped as Go does.
pub fn docker_json(v: &Value) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).context("serializing JSON")?;
    let s = String::from_utf8(buf)?;
    Ok(s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// Docker's `Ellipsis`: cut to `max` characters, the last one replaced by `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Docker's prune prompt: `warning`, then `Are you sure you want to continue? [y/N]` on a terminal
/// (without one, the answer is yes, as a script piping into us expects).
pub fn confirm(warning: &str) -> Result<bool> {
    use std::io::{IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// Print inspected objects: through `-f` one by one, else as Docker's JSON array; then exit 1 if
/// some name was not found (its error already printed).
pub fn print_inspected(found: &[Value], format: Option<&str>, failed: bool) -> Result<()> {
    match format {
        Some(f) => {
            let mut out = String::new();
            for v in found {
                out.push_str(&render_object(f, v)?);
            }
            print!("{out}");
        }
        None => println!("{}", docker_json(&Value::Array(found.to_vec()))?),
    }
    if failed {
        return Err(super::Reported(1).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_json_is_indented_and_escaped_like_docker() {
        let v = serde_json::json!([{"Cmd": ["/bin/sh", "-c", "a && b > c"]}]);
        let s = docker_json(&v).unwrap();
        assert!(
            s.starts_with("[\n    {\n        \"Cmd\": [\n            \"/bin/sh\""),
            "{s}"
        );
        assert!(s.contains(r#""a \u0026\u0026 b \u003e c""#), "{s}");
    }

    #[test]
    fn ellipsis_cuts_like_docker() {
        assert_eq!(ellipsis("abc", 3), "abc");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }
}
