//! The executor: walks the parse tree over a JSON value, following Go's `text/template`
//! `exec.go` (variable scoping, `range` order, argument checking, error wording).

use serde_json::Value as Json;

use super::ast::{Arg, Command, Control, List, Node, Pipe};
use super::funcs::{self, Func, Param};
use super::gofmt;
use super::parse::Templates;
use super::value::{Value, NULL};

/// How deep `{{template}}` calls may nest (Go allows 100000; Rust stacks are smaller).
const MAX_TEMPLATE_DEPTH: usize = 100;

/// Executes the main template of `templates` (parsed from `src`) with `data` as dot.
pub(super) fn execute(
    src: &str,
    templates: &Templates,
    data: &Json,
    header: bool,
) -> Result<String, String> {
    let Some(root) = templates.get("") else {
        return Err("template: \"\" is an incomplete or empty template".into());
    };
    let mut state = State {
        src,
        templates,
        header,
        out: String::with_capacity(src.len() + 64),
        vars: vec![("$", Value::Ref(data))],
        at: At::None,
        name: "",
        depth: 0,
    };
    match state.walk_list(&Value::Ref(data), root) {
        Ok(()) => Ok(state.out),
        Err(Stop::Error(e)) => Err(e),
        // The parser rejects {{break}} and {{continue}} outside {{range}}.
        Err(Stop::Break | Stop::Continue) => Ok(state.out),
    }
}

/// Why a walk stopped early.
enum Stop {
    Break,
    Continue,
    Error(String),
}

type R<T> = Result<T, Stop>;

/// The node being executed, for error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Node(&'a Node, usize),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
}

struct State<'a> {
    src: &'a str,
    templates: &'a Templates,
    header: bool,
    out: String,
    vars: Vec<(&'a str, Value<'a>)>,
    at: At<'a>,
    /// The template being executed (`""` or a `{{define}}` name).
    name: &'a str,
    depth: usize,
}

impl<'a> State<'a> {
    /// Go's `state.errorf`: `template: :LINE:COL: executing "NAME" at <NODE>: MESSAGE`.
    fn error<T>(&self, msg: impl std::fmt::Display) -> R<T> {
        let name = gofmt::quote(self.name, false);
        let (pos, context) = match self.at {
            At::None => return Err(Stop::Error(format!("template: {name}: {msg}"))),
            At::Node(n, pos) => (pos, n.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Arg(a) => (a.pos(), a.to_string()),
        };
        let before = &self.src[..pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        Err(Stop::Error(format!(
            "template: :{line}:{col}: executing {name} at <{context}>: {msg}"
        )))
    }

    fn walk_list(&mut self, dot: &Value<'a>, list: &'a List) -> R<()> {
        list.iter().try_for_each(|node| self.walk(dot, node))
    }

    fn walk(&mut self, dot: &Value<'a>, node: &'a Node) -> R<()> {
        match node {
            Node::Text(text) => self.out.push_str(text),
            Node::Action(pipe) => {
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    value.write_printed(&mut self.out);
                }
            }
            Node::If(c) => self.walk_if_or_with(false, dot, c)?,
            Node::With(c) => self.walk_if_or_with(true, dot, c)?,
            Node::Range(c) => self.walk_range(dot, node, c)?,
            Node::Template { pos, name, pipe } => {
                self.at = At::Node(node, *pos);
                self.walk_template(dot, name, pipe.as_ref())?
            }
            Node::Break => return Err(Stop::Break),
            Node::Continue => return Err(Stop::Continue),
        }
        Ok(())
    }

    /// `if` and `with`: variables declared inside vanish at `{{end}}`.
    fn walk_if_or_with(&mut self, with: bool, dot: &Value<'a>, c: &'a Control) -> R<()> {
        let mark = self.vars.len();
        let result = self.eval_pipeline(dot, &c.pipe).and_then(|value| {
            if value.truth() {
                self.walk_list(if with { &value } else { dot }, &c.list)
            } else if let Some(else_list) = &c.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(())
            }
        });
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value<'a>, node: &'a Node, c: &'a Control) -> R<()> {
        self.at = At::Node(node, c.pipe.pos);
        let mark = self.vars.len();
        let result = self.range_body(dot, c);
        self.vars.truncate(mark);
        result
    }

    fn range_body(&mut self, dot: &Value<'a>, c: &'a Control) -> R<()> {
        let value = self.eval_pipeline(dot, &c.pipe)?;
        let items: Vec<(Value<'a>, Value<'a>)> = match value.json() {
            Json::Array(items) => (0..items.len())
                .map(|i| {
                    let index = Value::own(Json::from(i));
                    (index, value.project(|v| v.as_array()?.get(i)))
                })
                .collect(),
            Json::Object(map) => gofmt::sorted_entries(map)
                .into_iter()
                .map(|(k, _)| {
                    let key = Value::own(Json::String(k.clone()));
                    (key, value.project(|v| v.get(k.as_str())))
                })
                .collect(),
            Json::Null => Vec::new(),
            Json::Number(n) if n.as_i64().is_some() => {
                if c.pipe.decl.len() > 1 {
                    let v = gofmt::sprint(value.json());
                    return self.error(format_args!(
                        "can't use {v} to iterate over more than one variable"
                    ));
                }
                let n = n.as_i64().unwrap_or_default().max(0);
                (0..n)
                    .map(|i| (Value::Missing, Value::own(Json::from(i))))
                    .collect()
            }
            other => {
                let v = gofmt::sprint(other);
                return self.error(format_args!("range can't iterate over {v}"));
            }
        };
        if items.is_empty() {
            if let Some(else_list) = &c.else_list {
                return self.walk_list(dot, else_list);
            }
            return Ok(());
        }
        let pipe = &c.pipe;
        let mark = self.vars.len();
        for (index, elem) in items {
            match pipe.decl.as_slice() {
                [] => {}
                [v] if pipe.is_assign => self.set_var(v, elem.clone())?,
                [k, v] if pipe.is_assign => {
                    self.set_var(k, index)?;
                    self.set_var(v, elem.clone())?;
                }
                [_] => self.vars[mark - 1].1 = elem.clone(),
                _ => {
                    self.vars[mark - 1].1 = elem.clone();
                    self.vars[mark - 2].1 = index;
                }
            }
            let result = self.walk_list(&elem, &c.list);
            self.vars.truncate(mark);
            match result {
                Ok(()) | Err(Stop::Continue) => {}
                Err(Stop::Break) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Value<'a>, name: &'a str, pipe: Option<&'a Pipe>) -> R<()> {
        let Some(list) = self.templates.get(name) else {
            let name = gofmt::quote(name, false);
            return self.error(format_args!("template {name} not defined"));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return self.error(format_args!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            ));
        }
        let dot = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Missing,
        };
        // No dynamic scoping: the called template sees only `$`.
        let vars = std::mem::replace(&mut self.vars, vec![("$", dot.clone())]);
        let caller = std::mem::replace(&mut self.name, name);
        self.depth += 1;
        let result = self.walk_list(&dot, list);
        self.depth -= 1;
        self.name = caller;
        self.vars = vars;
        result
    }

    fn set_var(&mut self, name: &str, value: Value<'a>) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.error(format_args!("undefined variable: {name}")),
        }
    }

    fn var_value(&self, name: &str) -> R<Value<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.error(format_args!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> R<Value<'a>> {
        self.at = At::Pipe(pipe);
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    /// One pipeline stage; `last` is the previous stage's value (the final argument).
    fn eval_command(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a Command,
        last: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || last.is_some();
        match first {
            Arg::Field { names, .. } => {
                self.at = At::Arg(first);
                return self.eval_fields(dot.clone(), names, has_args);
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, has_args),
            Arg::Variable { .. } => return self.eval_variable(first, has_args),
            Arg::Function { func, .. } => {
                self.at = At::Arg(first);
                return self.eval_call(dot, func, At::Cmd(cmd), &cmd.args[1..], last);
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(first, has_args)?;
                return self.eval_pipeline(dot, pipe);
            }
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(first, has_args)?;
        match first {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.error("nil is not a command"),
            _ => self.literal(first, Param::Any),
        }
    }

    fn not_a_function(&self, arg: &Arg, has_args: bool) -> R<()> {
        if has_args {
            return self.error(format_args!("can't give argument to non-function {arg}"));
        }
        Ok(())
    }

    /// `.A.B.C` applied to `receiver`.
    fn eval_fields(
        &self,
        receiver: Value<'a>,
        names: &'a [String],
        has_args: bool,
    ) -> R<Value<'a>> {
        let mut value = receiver;
        for (i, name) in names.iter().enumerate() {
            value = self.eval_field(value, name, has_args && i + 1 == names.len())?;
        }
        Ok(value)
    }

    /// Go's `evalField` for values decoded from JSON: objects are maps, anything else has
    /// no fields; a missing receiver gives no value.
    fn eval_field(&self, receiver: Value<'a>, name: &str, has_args: bool) -> R<Value<'a>> {
        match receiver.get() {
            None => Ok(Value::Missing),
            Some(Json::Null) => {
                self.error(format_args!("nil pointer evaluating interface {{}}.{name}"))
            }
            Some(Json::Object(_)) if has_args => {
                self.error(format_args!("{name} is not a method but has arguments"))
            }
            Some(Json::Object(_)) => Ok(receiver.project(|v| v.get(name))),
            Some(other) => {
                let typ = gofmt::go_type(other);
                self.error(format_args!("can't evaluate field {name} in type {typ}"))
            }
        }
    }

    fn eval_variable(&mut self, arg: &'a Arg, has_args: bool) -> R<Value<'a>> {
        let Arg::Variable { name, fields, .. } = arg else {
            return self.error("internal error: not a variable");
        };
        self.at = At::Arg(arg);
        let value = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(arg, has_args)?;
            return Ok(value);
        }
        self.eval_fields(value, fields, has_args)
    }

    fn eval_chain(&mut self, dot: &Value<'a>, arg: &'a Arg, has_args: bool) -> R<Value<'a>> {
        let Arg::Chain { node, fields, .. } = arg else {
            return self.error("internal error: not a chain");
        };
        self.at = At::Arg(arg);
        // Like Go, errors in the fields are reported at the last node evaluated.
        let receiver = self.eval_arg(dot, Param::Value, node)?;
        self.eval_fields(receiver, fields, has_args)
    }

    /// Calls `func` with `args` (and the previous pipeline value as the last argument).
    fn eval_call(
        &mut self,
        dot: &Value<'a>,
        func: &'static Func,
        node: At<'a>,
        args: &'a [Arg],
        last: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        let func = func.for_header(self.header);
        let name = func.0;
        let num_in = args.len() + usize::from(last.is_some());
        match func.arity() {
            (want, true) if num_in < want => {
                let got = args.len();
                return self.error(format_args!(
                    "wrong number of args for {name}: want at least {want} got {got}"
                ));
            }
            (want, false) if num_in != want => {
                return self.error(format_args!(
                    "wrong number of args for {name}: want {want} got {num_in}"
                ));
            }
            _ => {}
        }
        if name == "and" || name == "or" {
            // Short-circuit: the first false (and) or true (or) argument, else the last.
            let mut value = Value::Missing;
            for arg in args {
                value = self.eval_arg(dot, Param::Value, arg)?;
                if value.truth() == (name == "or") {
                    return Ok(value);
                }
            }
            return Ok(last.unwrap_or(value));
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, func.param(i), arg)?);
        }
        if let Some(last) = last {
            argv.push(self.check_type(last, func.param(num_in - 1))?);
        }
        funcs::call(func, self.header, argv).or_else(|e| {
            self.at = node;
            self.error(format_args!("error calling {name}: {e}"))
        })
    }

    /// Evaluates an argument for a parameter of type `param` (Go's `evalArg`).
    fn eval_arg(&mut self, dot: &Value<'a>, param: Param, arg: &'a Arg) -> R<Value<'a>> {
        self.at = At::Arg(arg);
        let value = match arg {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match param {
                    Param::Any | Param::StrSlice => Ok(Value::Ref(&NULL)),
                    Param::Value => Ok(Value::Missing),
                    Param::Str => self.error("cannot assign nil to string"),
                    Param::Int => self.error("cannot assign nil to int"),
                }
            }
            Arg::Field { names, .. } => self.eval_fields(dot.clone(), names, false)?,
            Arg::Variable { .. } => self.eval_variable(arg, false)?,
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Function { func, .. } => self.eval_call(dot, func, At::Arg(arg), &[], None)?,
            Arg::Chain { .. } => self.eval_chain(dot, arg, false)?,
            _ => return self.literal(arg, param),
        };
        self.check_type(value, param)
    }

    /// A literal argument (bool, number, string) for a parameter of type `param`.
    fn literal(&self, arg: &'a Arg, param: Param) -> R<Value<'a>> {
        match (param, arg) {
            (Param::Str, Arg::String { value, .. }) => Ok(Value::Ref(value)),
            (Param::Str, _) => self.error(format_args!("expected string; found {arg}")),
            (Param::Int, Arg::Number(n)) if n.int.is_some() => {
                Ok(n.int.as_ref().map_or(Value::Missing, Value::Ref))
            }
            (Param::Int, _) => self.error(format_args!("expected integer; found {arg}")),
            (Param::StrSlice, _) => {
                self.error(format_args!("can't handle {arg} for arg of type []string"))
            }
            (_, Arg::String { value, .. } | Arg::Bool { value, .. }) => Ok(Value::Ref(value)),
            (_, Arg::Number(n)) => match &n.ideal {
                Some(v) => Ok(Value::Ref(v)),
                None => self.error(format_args!("{} overflows int", n.text)),
            },
            _ => self.error(format_args!(
                "can't handle assignment of {arg} to empty interface argument"
            )),
        }
    }

    /// Go's `validateType` for a computed value.
    fn check_type(&self, value: Value<'a>, param: Param) -> R<Value<'a>> {
        let ok = match (param, value.get()) {
            (Param::Value, _) => true,
            (Param::Any | Param::StrSlice, None) => return Ok(Value::Ref(&NULL)),
            (Param::Any, Some(_)) => true,
            (Param::StrSlice, Some(v)) => v.is_array() || v.is_null(),
            (Param::Str | Param::Int, None) => {
                let typ = if param == Param::Str { "string" } else { "int" };
                return self.error(format_args!("invalid value; expected {typ}"));
            }
            (Param::Str, Some(v)) => v.is_string(),
            (Param::Int, Some(v)) => v.is_i64(),
        };
        if ok {
            return Ok(value);
        }
        let want = match param {
            Param::Str => "string",
            Param::Int => "int",
            _ => "[]string",
        };
        let got = value.type_name();
        self.error(format_args!(
            "wrong type for value; expected {want}; got {got}"
        ))
    }
}
