//! How the runner speaks: the learner's language (`--lang`, else `LANG`), colors unless
//! `NO_COLOR` or not a terminal.

use std::io::IsTerminal;

use crate::lab::Text;

/// A language of the labs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Lang {
    /// Português.
    Pt,
    /// English.
    En,
}

impl Lang {
    /// From `LANG`/`LC_ALL`/`LC_MESSAGES`: Portuguese for `pt*`, else English.
    pub fn from_env() -> Lang {
        let v = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_default();
        if v.starts_with("pt") {
            Lang::Pt
        } else {
            Lang::En
        }
    }

    /// `t` in this language.
    pub fn pick<'a>(&self, t: &'a Text) -> &'a str {
        match self {
            Lang::Pt => &t.pt,
            Lang::En => &t.en,
        }
    }

    /// One of two fixed phrases of the runner itself.
    pub fn say<'a>(&self, pt: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Pt => pt,
            Lang::En => en,
        }
    }
}

/// Whether to color output: stdout is a terminal and `NO_COLOR` is not set.
pub fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `s` in an ANSI style (`1` bold, `32` green, `31` red, `2` dim) when coloring.
pub fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
