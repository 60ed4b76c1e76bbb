//! `files`: a file of the engine's state root (`containers/<id>/config.v2.json`) or of the host,
//! JSON narrowed by a jq-like selection (`.State.Pid`, `.Config.Env[0]`,
//! `.NetworkSettings.Networks`), other text shown as its first lines, a folder as its entries.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{human_bytes, Mark, Observation, ObserveError, Row};
use crate::backend::Backend;
use crate::lab::model::FileSpec;

/// How many lines of a file are shown (the data keeps everything).
pub const MAX_LINES: usize = 60;

/// A selection that cannot be read or does not match the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The expression is not a selection.
    #[error("select `{expr}`: {message} at character {at}")]
    Syntax {
        /// The expression.
        expr: String,
        /// Where (0-based).
        at: usize,
        /// What is wrong.
        message: String,
    },
    /// A step of the selection found nothing.
    #[error("select `{expr}`: {path} {message}")]
    NoMatch {
        /// The expression.
        expr: String,
        /// The part that matched so far.
        path: String,
        /// What was missing (`has no key "Stat"`).
        message: String,
    },
    /// The file is not JSON, so it cannot be selected in.
    #[error("{path} is not JSON, so `{expr}` cannot select in it: {message}")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The expression.
        expr: String,
        /// The parse error.
        message: String,
    },
}

/// One step of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
    Each,
}

fn parse(expr: &str) -> Result<Vec<Step>, SelectError> {
    let err = |at: usize, message: &str| SelectError::Syntax {
        expr: expr.into(),
        at,
        message: message.into(),
    };
    let b: Vec<char> = expr.trim().chars().collect();
    if b.first() != Some(&'.') {
        return Err(err(0, "a selection starts with `.`"));
    }
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < b.len() && !matches!(b[i], '.' | '[') && !b[i].is_whitespace() {
                    i += 1;
                }
                if i > start {
                    steps.push(Step::Key(b[start..i].iter().collect()));
                } else if i < b.len() && b[i] == '.' {
                    return Err(err(i, "empty key"));
                }
            }
            '[' => {
                let close = b[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| err(i, "`[` without `]`"))?;
                let inner: String = b[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner.is_empty() {
                    steps.push(Step::Each);
                } else if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_string()));
                } else {
                    let n = inner
                        .parse::<i64>()
                        .map_err(|_| err(i + 1, "expected a number, `\"key\"` or nothing"))?;
                    steps.push(Step::Index(n));
                }
                i = close + 1;
            }
            _ => return Err(err(i, "expected `.key` or `[…]`")),
        }
    }
    Ok(steps)
}

/// Apply a jq-like selection to a document: `.` is all of it, `.A.B` keys, `.["a.b"]` a key with
/// dots, `[0]` / `[-1]` array items, `[]` every item (so several results).
pub fn select(doc: &Value, expr: &str) -> Result<Vec<Value>, SelectError> {
    let steps = parse(expr)?;
    let mut current = vec![doc.clone()];
    let mut path = String::new();
    for step in steps {
        let mut next = Vec::new();
        for v in &current {
            let miss = |message: String| SelectError::NoMatch {
                expr: expr.into(),
                path: if path.is_empty() {
                    ".".into()
                } else {
                    path.clone()
                },
                message,
            };
            match (&step, v) {
                (Step::Key(k), Value::Object(m)) => match m.get(k) {
                    Some(x) => next.push(x.clone()),
                    None => {
                        let keys: Vec<&str> = m.keys().map(String::as_str).take(12).collect();
                        return Err(miss(format!(
                            "has no key {k:?} (keys: {})",
                            keys.join(", ")
                        )));
                    }
                },
                (Step::Index(n), Value::Array(a)) => {
                    let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                    match usize::try_from(idx).ok().and_then(|i| a.get(i)) {
                        Some(x) => next.push(x.clone()),
                        None => return Err(miss(format!("has no item {n} (length {})", a.len()))),
                    }
                }
                (Step::Each, Value::Array(a)) => next.extend(a.iter().cloned()),
                (Step::Each, Value::Object(m)) => next.extend(m.values().cloned()),
                (_, other) => {
                    let kind = match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        Value::String(_) => "a string",
                        Value::Array(_) => "an array",
                        Value::Object(_) => "an object",
                    };
                    return Err(miss(format!(
                        "is {kind}, not what `{}` needs",
                        step_text(&step)
                    )));
                }
            }
        }
        path.push_str(&step_text(&step));
        current = next;
    }
    Ok(current)
}

fn step_text(s: &Step) -> String {
    match s {
        Step::Key(k) if k.chars().all(|c| c.is_alphanumeric() || c == '_') => format!(".{k}"),
        Step::Key(k) => format!(".[{k:?}]"),
        Step::Index(n) => format!("[{n}]"),
        Step::Each => "[]".into(),
    }
}

/// `lines` cut to [`MAX_LINES`], saying how many were left out.
fn cut(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!("… ({more} more lines)"));
    }
    lines
}

/// Show a file (or folder) at `path` with an optional selection; `shown` is how it is named.
pub fn show_path(
    path: &Path,
    select_expr: Option<&str>,
    shown: &str,
) -> Result<Observation, ObserveError> {
    let meta = std::fs::metadata(path).map_err(|e| ObserveError::io(path, e))?;
    if meta.is_dir() {
        return show_dir(path, shown);
    }
    let bytes = std::fs::read(path).map_err(|e| ObserveError::io(path, e))?;
    let title = match select_expr {
        Some(s) => format!("{shown} | {s}"),
        None => shown.to_string(),
    };
    let mut obs = Observation::new(title, &[], json!(null));
    match (serde_json::from_slice::<Value>(&bytes), select_expr) {
        (Ok(doc), sel) => {
            let found = select(&doc, sel.unwrap_or("."))?;
            let mut lines = Vec::new();
            for v in &found {
                let text = serde_json::to_string_pretty(v).unwrap_or_default();
                lines.extend(text.lines().map(String::from));
            }
            obs.lines = cut(lines);
            let value = if found.len() == 1 {
                found.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(found)
            };
            obs.data = json!({"path": path, "select": sel, "value": value});
        }
        (Err(e), Some(sel)) => {
            return Err(SelectError::NotJson {
                path: path.into(),
                expr: sel.into(),
                message: e.to_string(),
            }
            .into())
        }
        (Err(_), None) => match std::str::from_utf8(&bytes) {
            Ok(text) => {
                obs.lines = cut(text.lines().map(String::from).collect());
                obs.data = json!({"path": path, "text": text});
            }
            Err(_) => {
                obs.lines = vec![format!("(binary, {})", human_bytes(bytes.len() as u64))];
                obs.data = json!({"path": path, "bytes": bytes.len()});
            }
        },
    }
    Ok(obs)
}

/// A folder's entries: name, type, size.
fn show_dir(path: &Path, shown: &str) -> Result<Observation, ObserveError> {
    let mut entries: Vec<(String, String, u64)> = std::fs::read_dir(path)
        .map_err(|e| ObserveError::io(path, e))?
        .flatten()
        .map(|e| {
            let m = e.path().symlink_metadata().ok();
            let kind = match &m {
                Some(m) if m.is_dir() => "dir",
                Some(m) if m.file_type().is_symlink() => "symlink",
                Some(m) if m.is_file() => "file",
                _ => "other",
            };
            let size = m
                .map(|m| if m.is_file() { m.size() } else { 0 })
                .unwrap_or(0);
            (
                e.file_name().to_string_lossy().into_owned(),
                kind.to_string(),
                size,
            )
        })
        .collect();
    entries.sort();
    let mut obs = Observation::new(format!("{shown}/"), &["name", "type", "size"], json!(null));
    for (name, kind, size) in &entries {
        let target = if kind == "symlink" {
            std::fs::read_link(path.join(name))
                .map(|t| format!(" -> {}", t.display()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        obs.rows.push(Row::new(
            vec![
                format!("{name}{target}"),
                kind.clone(),
                if kind == "file" {
                    human_bytes(*size)
                } else {
                    "-".into()
                },
            ],
            Mark::Plain,
        ));
    }
    obs.data = json!({"path": path, "entries": entries.iter().map(|(n, k, s)| json!({"name": n, "type": k, "bytes": s})).collect::<Vec<_>>()});
    Ok(obs)
}

/// A `files:` observation: `spec.path` under the backend's state root (or absolute).
pub fn files(backend: &Backend, spec: &FileSpec) -> Result<Observation, ObserveError> {
    let p = Path::new(&spec.path);
    let path = if p.is_absolute() {
        p.to_path_buf()
    } else {
        backend.root_dir()?.join(p)
    };
    show_path(&path, spec.select.as_deref(), &spec.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "State": {"Pid": 4242, "Running": true},
            "Config": {"Env": ["PATH=/bin", "LANG=C"], "Labels": {"a.b": "c"}},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
            "Mounts": [{"Source": "/a"}, {"Source": "/b"}],
        })
    }

    #[test]
    fn keys_indexes_and_iteration() {
        let d = doc();
        assert_eq!(select(&d, ".State.Pid").unwrap(), [json!(4242)]);
        assert_eq!(select(&d, ".Config.Env[0]").unwrap(), [json!("PATH=/bin")]);
        assert_eq!(select(&d, ".Config.Env[-1]").unwrap(), [json!("LANG=C")]);
        assert_eq!(
            select(&d, ".NetworkSettings.Networks").unwrap(),
            [json!({"bridge": {"IPAddress": "172.17.0.2"}})]
        );
        assert_eq!(select(&d, ".Config.Labels[\"a.b\"]").unwrap(), [json!("c")]);
        assert_eq!(
            select(&d, ".Config.Labels.[\"a.b\"]").unwrap(),
            [json!("c")]
        );
        assert_eq!(
            select(&d, ".Mounts[].Source").unwrap(),
            [json!("/a"), json!("/b")]
        );
        assert_eq!(select(&d, ".").unwrap(), vec![d.clone()]);
        assert_eq!(
            select(&d, ".NetworkSettings.Networks[].IPAddress").unwrap(),
            [json!("172.17.0.2")]
        );
    }

    #[test]
    fn misses_say_where() {
        let d = doc();
        let e = select(&d, ".State.Pidd").unwrap_err().to_string();
        assert!(e.contains(".State has no key \"Pidd\""), "{e}");
        assert!(e.contains("Pid, Running"), "{e}");
        let e = select(&d, ".Config.Env[5]").unwrap_err().to_string();
        assert!(e.contains("no item 5 (length 2)"), "{e}");
        let e = select(&d, ".State.Pid.x").unwrap_err().to_string();
        assert!(e.contains(".State.Pid is a number"), "{e}");
    }

    #[test]
    fn bad_syntax() {
        let d = doc();
        assert!(matches!(
            select(&d, "State"),
            Err(SelectError::Syntax { at: 0, .. })
        ));
        assert!(matches!(
            select(&d, ".a[1"),
            Err(SelectError::Syntax { .. })
        ));
        assert!(matches!(
            select(&d, ".a[x]"),
            Err(SelectError::Syntax { .. })
        ));
        assert!(matches!(
            select(&d, ".a..b"),
            Err(SelectError::Syntax { .. })
        ));
    }

    #[test]
    fn json_text_binary_and_folders() {
        let t = tempfile::tempdir().unwrap();
        let j = t.path().join("config.v2.json");
        std::fs::write(&j, doc().to_string()).unwrap();
        let o = show_path(&j, Some(".State"), "config.v2.json").unwrap();
        assert_eq!(o.title, "config.v2.json | .State");
        assert_eq!(
            o.lines,
            ["{", "  \"Pid\": 4242,", "  \"Running\": true", "}"]
        );
        assert_eq!(o.data["value"]["Pid"], 4242);

        let h = t.path().join("hosts");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&h, &text).unwrap();
        let o = show_path(&h, None, "hosts").unwrap();
        assert_eq!(o.lines.len(), MAX_LINES + 1);
        assert_eq!(o.lines[MAX_LINES], "… (40 more lines)");
        assert!(matches!(
            show_path(&h, Some(".a"), "hosts"),
            Err(ObserveError::Select(SelectError::NotJson { .. }))
        ));

        let b = t.path().join("blob");
        std::fs::write(&b, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(
            show_path(&b, None, "blob").unwrap().lines,
            ["(binary, 3 B)"]
        );

        let o = show_path(t.path(), None, "dir").unwrap();
        assert_eq!(o.column("name"), ["blob", "config.v2.json", "hosts"]);
        assert_eq!(o.column("size")[0], "3 B");
    }
}
