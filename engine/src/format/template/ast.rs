//! The parse tree. `Display` renders nodes the way Go's `Node.String()` does; execution
//! errors quote them (`executing "" at <.Name.Foo>: …`).

use std::fmt::{self, Display, Formatter};

use serde_json::Value as Json;

use super::funcs::Func;

/// A sequence of nodes (a template body or a branch).
pub(super) type List = Vec<Node>;

/// A statement-level node.
#[derive(Debug)]
pub(super) enum Node {
    /// Literal text, printed as is.
    Text(String),
    /// `{{pipeline}}`: printed unless it declares or assigns variables.
    Action(Pipe),
    /// `{{if}}`.
    If(Control),
    /// `{{range}}`.
    Range(Control),
    /// `{{with}}`.
    With(Control),
    /// `{{template "name" pipeline}}` (also what `{{block}}` becomes).
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
}

/// The parts of `if`, `range` and `with`.
#[derive(Debug)]
pub(super) struct Control {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// `[$x[, $y] := | =] command | command …`.
#[derive(Debug)]
pub(super) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline: an operand followed by arguments.
#[derive(Debug)]
pub(super) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub(super) enum Arg {
    /// `.A.B`: field names of dot.
    Field { pos: usize, names: Vec<String> },
    /// `$x.A.B`.
    Variable {
        pos: usize,
        name: String,
        fields: Vec<String>,
    },
    /// `(pipeline).A.B`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
    /// A function name.
    Function { pos: usize, func: &'static Func },
    /// `.`.
    Dot { pos: usize },
    /// `nil`.
    Nil { pos: usize },
    /// `true` / `false`, kept as JSON so execution can borrow it.
    Bool { pos: usize, value: Json },
    /// A number literal.
    Number(Box<Number>),
    /// A string literal: its source text and value.
    String {
        pos: usize,
        quoted: String,
        value: Json,
    },
}

/// A number literal with the interpretations Go's `NumberNode` allows.
#[derive(Debug)]
pub(super) struct Number {
    pub pos: usize,
    pub text: String,
    /// The value as an `int` argument, when the literal is integral.
    pub int: Option<Json>,
    /// The value where no type is known (Go's `idealConstant`); `None` overflows `int`.
    pub ideal: Option<Json>,
}

impl Arg {
    /// Byte offset of the operand in the source, as Go reports it.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Function { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
            Arg::Number(n) => n.pos,
        }
    }
}

fn write_fields(f: &mut Formatter<'_>, fields: &[String]) -> fmt::Result {
    fields.iter().try_for_each(|name| write!(f, ".{name}"))
}

impl Display for Arg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { names, .. } => write_fields(f, names),
            Arg::Variable { name, fields, .. } => {
                f.write_str(name)?;
                write_fields(f, fields)
            }
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                write_fields(f, fields)
            }
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Function { func, .. } => f.write_str(func.0),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
        }
    }
}

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match arg {
                Arg::Pipe(p) => write!(f, "({p})")?,
                other => write!(f, "{other}")?,
            }
        }
        Ok(())
    }
}

impl Display for Pipe {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

fn write_control(f: &mut Formatter<'_>, word: &str, c: &Control) -> fmt::Result {
    write!(f, "{{{{{word} {}}}}}", c.pipe)?;
    c.list.iter().try_for_each(|n| write!(f, "{n}"))?;
    if let Some(else_list) = &c.else_list {
        f.write_str("{{else}}")?;
        else_list.iter().try_for_each(|n| write!(f, "{n}"))?;
    }
    f.write_str("{{end}}")
}

impl Display for Node {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text(text) => f.write_str(text),
            Node::Action(pipe) => write!(f, "{{{{{pipe}}}}}"),
            Node::If(c) => write_control(f, "if", c),
            Node::Range(c) => write_control(f, "range", c),
            Node::With(c) => write_control(f, "with", c),
            Node::Template { name, pipe, .. } => {
                let name = super::gofmt::quote(name, false);
                match pipe {
                    Some(p) => write!(f, "{{{{template {name} {p}}}}}"),
                    None => write!(f, "{{{{template {name}}}}}"),
                }
            }
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}
