//! `record`: what a lab run showed, kept for the book — a transcript (JSON: each step's
//! narration, command, terminal output, observations and checks) and one asciicast v2 file per
//! terminal (`.cast`, playable with asciinema).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lab::{Key, Text};

/// An observation as recorded: its kind, title, the table as text, and its facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservationRecord {
    /// `namespaces`, `capture`…
    pub kind: String,
    /// Its title.
    pub title: String,
    /// The table or lines, as printed without color.
    pub text: String,
    /// The same facts as data.
    pub data: serde_json::Value,
}

/// A check as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    /// `container`, `output`…
    pub kind: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it found, in words, in both languages.
    pub message: Text,
}

/// One step as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Its index (0-based).
    pub index: usize,
    /// The terminal.
    pub terminal: String,
    /// Narration (templates rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<Text>,
    /// The learner's task, for an exercise (templates rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<Text>,
    /// The exercise's hint (templates rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    /// The prompt the command was typed at.
    pub prompt: String,
    /// The command typed (rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Keys pressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
    /// What the terminal showed (the echo of the command included, the next prompt not).
    pub output: String,
    /// Exit status, at the host shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// Seconds from typing to the end of the command (the runner's own time included).
    pub seconds: f64,
    /// Observations drawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<ObservationRecord>,
    /// Checks made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transcript {
    /// The lab's id.
    pub lab: String,
    /// Its title.
    pub title: Text,
    /// The fingerprint of the lab file it ran ([`crate::lab::digest`]).
    #[serde(default)]
    pub lab_digest: String,
    /// When it ran (RFC 3339, UTC).
    #[serde(default)]
    pub recorded: String,
    /// What ran it: `baleia version …` or the docker CLI's version line.
    #[serde(default)]
    pub engine: String,
    /// The lab file's steps, in order, as they ran.
    pub steps: Vec<StepRecord>,
}

impl Transcript {
    /// Read one written by [`Transcript::write`].
    pub fn read(path: &Path) -> std::io::Result<Transcript> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Write it as pretty JSON.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut b = serde_json::to_vec_pretty(self)?;
        b.push(b'\n');
        std::fs::write(path, b)
    }
}

/// Write an asciicast v2 file of one terminal's output chunks (seconds since it started).
pub fn write_cast(
    path: &Path,
    title: &str,
    size: (u16, u16),
    chunks: &[(f64, String)],
) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header = serde_json::json!({
        "version": 2, "width": size.1, "height": size.0, "title": title,
        "env": {"TERM": "xterm", "SHELL": "/bin/bash"},
    });
    writeln!(f, "{header}")?;
    for (t, data) in chunks {
        writeln!(
            f,
            "{}",
            serde_json::json!([(t * 1000.0).round() / 1000.0, "o", data])
        )?;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_are_asciicast_v2() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t1.cast");
        write_cast(
            &p,
            "lab t1",
            (24, 80),
            &[(0.0, "t1$ ".into()), (0.51234, "ls\r\n".into())],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[2], serde_json::json!([0.512, "o", "ls\r\n"]));
    }
}
