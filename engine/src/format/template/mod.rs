//! Docker's `--format` / `-f` Go templates (`docker inspect -f '{{.Config.Cmd}}'`, `docker
//! images --format 'table {{.Repository}}\t{{.Tag}}'`): an interpreter of Go's
//! `text/template` language over the JSON document the command would print.
//!
//! The pipeline is `lex` (tokens) → `parse` (tree, Go's parse errors) → `exec` (Go's
//! execution rules and errors), with `funcs` (Go's builtins and Docker's functions) and
//! `gofmt` (Go's `%v` printing and `printf`).
//!
//! The data is what Go would see after decoding the JSON into `interface{}`, except that
//! integers stay integers (`{{.Size}}` prints `7377000`, not `7.377e+06`, as with Docker's
//! typed structs) and objects keep their key order for `{{json}}`. Objects print and range
//! in sorted key order (`map[a:1 b:2]`). JSON `null` is a nil `interface{}`: it prints
//! `<no value>` (like a missing key), is false, ranges as empty and `{{json}}` prints
//! `null`; where Docker's typed structs would hold a nil slice or map, `len` gives 0,
//! `index` gives `""` and `join` gives `""`.
//!
//! Supported: text, comments and trim markers; actions with pipelines, parenthesized
//! arguments, field chains and variables (`$`, `$x :=`, `$x =`); `if`/`else if`, `with`/`else
//! with`, `range` (slices, maps by sorted key, integers; `$i, $v`; `else`; `break` and
//! `continue`), `define`, `template` and `block`; Go's literals; Go's builtins and Docker's
//! functions (see `funcs`). Not supported: custom delimiters, complex and hexadecimal
//! floating-point literals, and methods and function values (JSON has none; `call` always
//! fails as it does in Go on a non-function).

mod ast;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod value;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value as Json};
use thiserror::Error;

/// A template that failed to parse or execute; `Display` matches the Docker CLI's wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The template text is invalid, e.g. `template: :1: function "foo" not defined`.
    #[error("template parsing error: {0}")]
    Parse(String),
    /// Executing the template failed (Docker reports this as a parsing error too), e.g.
    /// `template: :1:7: executing "" at <.Name.Foo>: can't evaluate field Foo in type string`.
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

/// A parsed template, reusable for every row of a listing (and across threads).
#[derive(Debug)]
pub struct Template {
    source: String,
    templates: parse::Templates,
}

impl Template {
    /// Parses a Go template with Docker's function set.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let templates = parse::parse(text).map_err(TemplateError::Parse)?;
        Ok(Template {
            source: text.to_string(),
            templates,
        })
    }

    /// The template text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Executes the template with `data` as dot.
    pub fn execute(&self, data: &Json) -> Result<String, TemplateError> {
        exec::execute(&self.source, &self.templates, data, false).map_err(TemplateError::Execute)
    }

    /// Executes the template on a header map with Docker's `HeaderFunctions`.
    pub fn execute_header(&self, headers: &Map<String, Json>) -> Result<String, TemplateError> {
        let data = Json::Object(headers.clone());
        exec::execute(&self.source, &self.templates, &data, true).map_err(TemplateError::Execute)
    }
}
