//! Reading a lab file: YAML through serde, then the rules serde cannot say (one kind per check,
//! terminals that exist…). Every error names the file, the line and the place in the lab:
//! `labs/08-bridge.yaml:41: step 7: unknown check "contain"`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::{Check, Lab, Show};

/// A lab file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LabError {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based), when known.
    pub line: Option<usize>,
    /// Where in the lab (`step 7`), when it is in a step.
    pub place: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(p) = &self.place {
            write!(f, "{p}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Read and check the lab at `path`.
pub fn load(path: &Path) -> Result<Lab, LabError> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError {
        file: path.into(),
        line: None,
        place: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(path, &text)
}

/// Parse lab `text` (read from `path`, which only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Lab, LabError> {
    let de = yaml_serde::Deserializer::from_str(text);
    let mut lab: Lab = serde_path_to_error::deserialize(de).map_err(|e| {
        let line = e.inner().location().map(|l| l.line());
        let (place, message) = describe(e.path(), &e.inner().to_string());
        LabError {
            file: path.into(),
            line,
            place,
            message,
        }
    })?;
    lab.path = path.into();
    lab.step_lines = step_lines(text);
    validate(&lab)?;
    Ok(lab)
}

/// `steps[6].check[0]` and serde's message → `step 7`, and a message in the lab's own terms.
fn describe(path: &serde_path_to_error::Path, raw: &str) -> (Option<String>, String) {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let mut place = None;
    let mut list = None;
    let mut i = 0;
    while i < segments.len() {
        if let (Segment::Map { key }, Some(Segment::Seq { index })) =
            (segments[i], segments.get(i + 1))
        {
            if key == "steps" {
                place = Some(format!("step {}", index + 1));
            } else {
                list = Some(key.clone());
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    // serde_yaml-style messages start with the path and end with the position: keep the middle.
    let msg = raw
        .split_once(": ")
        .filter(|(p, _)| p.contains('.') || p.contains('['))
        .map(|(_, m)| m)
        .unwrap_or(raw);
    let msg = msg.split(" at line ").next().unwrap_or(msg).to_string();
    let unknown = msg
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
        .map(|(f, _)| f.to_string());
    let message = match (unknown, list.as_deref()) {
        (Some(f), Some("check")) => format!("unknown check \"{f}\""),
        (Some(f), Some("show")) => format!("unknown observation \"{f}\""),
        (Some(f), _) => format!("unknown field \"{f}\""),
        (None, _) => {
            let field = segments.iter().rev().find_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                _ => None,
            });
            match field {
                Some(f) if !msg.contains(&f) => format!("{f}: {msg}"),
                _ => msg,
            }
        }
    };
    (place, message)
}

/// The line on which each step's item (`- `) starts.
fn step_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_steps = false;
    let mut indent = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 {
            in_steps = trimmed.starts_with("steps:");
            continue;
        }
        if !in_steps || !trimmed.starts_with('-') {
            continue;
        }
        match indent {
            None => {
                indent = Some(depth);
                lines.push(n + 1);
            }
            Some(d) if d == depth => lines.push(n + 1),
            _ => {}
        }
    }
    lines
}

/// Exactly one of the optional kinds set: its name; else the error.
fn one_kind(kinds: &[(&'static str, bool)], what: &str) -> Result<&'static str, String> {
    let set: Vec<&str> = kinds.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    match set.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "empty {what}: give one of {}",
            kinds.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )),
        many => Err(format!("one {what} per item, found {}", many.join(" and "))),
    }
}

/// The kind of a check (`container`, `output`…).
pub fn check_kind(c: &Check) -> Result<&'static str, String> {
    one_kind(
        &[
            ("exit", c.exit.is_some()),
            ("output", c.output.is_some()),
            ("regex", c.regex.is_some()),
            ("container", c.container.is_some()),
            ("image", c.image.is_some()),
            ("file", c.file.is_some()),
            ("network", c.network.is_some()),
            ("resolves", c.resolves.is_some()),
            ("port", c.port.is_some()),
            ("packet", c.packet.is_some()),
            ("iptables", c.iptables.is_some()),
        ],
        "check",
    )
}

/// The kind of an observation (`namespaces`, `capture`…).
pub fn show_kind(s: &Show) -> Result<&'static str, String> {
    one_kind(
        &[
            ("namespaces", s.namespaces.is_some()),
            ("processes", s.processes.is_some()),
            ("layers", s.layers.is_some()),
            ("cgroups", s.cgroups.is_some()),
            ("links", s.links.is_some()),
            ("iptables", s.iptables.is_some()),
            ("capture", s.capture.is_some()),
            ("files", s.files.is_some()),
        ],
        "observation",
    )
}

/// What serde cannot check: kinds, names that must exist, steps that do something.
fn validate(lab: &Lab) -> Result<(), LabError> {
    let err = |step: Option<usize>, message: String| LabError {
        file: lab.path.clone(),
        line: step.and_then(|i| lab.step_lines.get(i).copied()),
        place: step.map(|i| format!("step {}", i + 1)),
        message,
    };
    let stem = lab
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref().is_some_and(|s| s != lab.id) {
        return Err(err(
            None,
            format!("id \"{}\" differs from the file's name", lab.id),
        ));
    }
    if lab.steps.is_empty() {
        return Err(err(None, "a lab needs steps".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for t in &lab.terminals {
        if !names.insert(t.name()) {
            return Err(err(
                None,
                format!("terminal \"{}\" is declared twice", t.name()),
            ));
        }
        if let Some(c) = t.client() {
            if !lab.clients.iter().any(|x| x == c) {
                return Err(err(
                    None,
                    format!(
                        "terminal \"{}\" runs in client \"{c}\", which is not in clients",
                        t.name()
                    ),
                ));
            }
        }
    }
    let mut step_ids = std::collections::BTreeSet::new();
    for (i, s) in lab.steps.iter().enumerate() {
        if let Some(t) = &s.terminal {
            if !names.contains(t.as_str()) {
                return Err(err(Some(i), format!("unknown terminal \"{t}\"")));
            }
        }
        if let Some(id) = &s.id {
            if !step_ids.insert(id.as_str()) {
                return Err(err(Some(i), format!("step id \"{id}\" is used twice")));
            }
        }
        let does_something = s.say.is_some()
            || s.run.is_some()
            || !s.keys.is_empty()
            || s.wait.is_some()
            || !s.show.is_empty()
            || !s.check.is_empty();
        if !does_something {
            return Err(err(Some(i), "an empty step".into()));
        }
        if s.exercise.is_some() && s.check.is_empty() {
            return Err(err(Some(i), "an exercise needs a check".into()));
        }
        for c in &s.check {
            check_kind(c).map_err(|m| err(Some(i), m))?;
            if let Some(p) = c.port.as_ref().and_then(|p| p.from.as_ref()) {
                if !lab.clients.contains(p) {
                    return Err(err(
                        Some(i),
                        format!("port check from unknown client \"{p}\""),
                    ));
                }
            }
        }
        for o in &s.show {
            show_kind(o).map_err(|m| err(Some(i), m))?;
        }
        if let Some(w) = &s.wait {
            if w.output.is_none() && w.container.is_none() {
                return Err(err(Some(i), "wait: give output or container".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_str_for_tests(text: &str) -> Result<Lab, LabError> {
        parse(Path::new("test.yaml"), text)
    }

    const GOOD: &str = "\
id: test
title: {pt: Teste, en: Test}
source: [000.txt]
terminals: [t1, t2]
steps:
  - say: {pt: Olá, en: Hello}
  - terminal: t2
    run: echo hi
    check:
      - output: hi
";

    #[test]
    fn a_good_lab_reads_with_its_step_lines() {
        let lab = from_str_for_tests(GOOD).unwrap();
        assert_eq!(lab.steps.len(), 2);
        assert_eq!(lab.step_lines, vec![6, 7]);
        assert_eq!(lab.terminals[1].name(), "t2");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_step() {
        let bad = GOOD.replace("- output: hi", "- contain: hi");
        let e = from_str_for_tests(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.yaml:10: step 2: unknown check \"contain\""
        );
        let bad = GOOD.replace("terminal: t2", "terminal: t9");
        let e = from_str_for_tests(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.yaml:7: step 2: unknown terminal \"t9\""
        );
        let bad = GOOD.replace("run: echo hi", "run: echo hi\n    background: maybe");
        let e = from_str_for_tests(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.yaml:9: step 2: background: invalid type: string \"maybe\", expected a boolean"
        );
        assert!(e.to_string().contains("background"), "{e}");
        let bad = GOOD.replace("title: {pt: Teste, en: Test}", "title: {pt: Teste}");
        let e = from_str_for_tests(&bad).unwrap_err();
        assert!(e.to_string().starts_with("test.yaml:2: "), "{e}");
        assert!(e.to_string().contains("en"), "{e}");
        let bad = GOOD.replace("      - output: hi", "      - output: hi\n        exit: 0");
        let e = from_str_for_tests(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.yaml:7: step 2: one check per item, found exit and output"
        );
    }
}
