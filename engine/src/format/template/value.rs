//! Values during execution: JSON borrowed from the data or the template where possible.

use std::rc::Rc;

use serde_json::Value as Json;

use super::gofmt;

/// JSON `null`, the nil `interface{}` of Go's decoded JSON.
pub(super) static NULL: Json = Json::Null;

/// A value as text/template sees it: nothing at all (Go's invalid `reflect.Value`, e.g. a
/// missing map key) or a JSON value, borrowed or produced by a function.
#[derive(Debug, Clone)]
pub(super) enum Value<'a> {
    /// No value: a missing key or an unset pipeline; prints `<no value>`.
    Missing,
    /// Part of the data or a template literal.
    Ref(&'a Json),
    /// A function result.
    Own(Rc<Json>),
}

impl<'a> Value<'a> {
    /// Wraps a computed value.
    pub fn own(v: Json) -> Value<'a> {
        Value::Own(Rc::new(v))
    }

    /// The JSON value, or `None` when missing.
    pub fn get(&self) -> Option<&Json> {
        match self {
            Value::Missing => None,
            Value::Ref(v) => Some(v),
            Value::Own(v) => Some(v),
        }
    }

    /// The JSON value, with a missing value seen as `null` (Go's nil `interface{}`).
    pub fn json(&self) -> &Json {
        self.get().unwrap_or(&NULL)
    }

    /// Missing or `null`.
    pub fn is_nil(&self) -> bool {
        self.json().is_null()
    }

    /// A part of this value (`f` picks it), borrowed when this value is.
    pub fn project(&self, f: impl for<'j> Fn(&'j Json) -> Option<&'j Json>) -> Value<'a> {
        match self {
            Value::Missing => Value::Missing,
            Value::Ref(v) => f(v).map_or(Value::Missing, Value::Ref),
            Value::Own(v) => f(v).map_or(Value::Missing, |part| Value::own(part.clone())),
        }
    }

    /// Go's truth: false for missing, nil, `false`, zero numbers and empty collections.
    pub fn truth(&self) -> bool {
        match self.json() {
            Json::Null => false,
            Json::Bool(b) => *b,
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i != 0,
                (_, Some(u)) => u != 0,
                _ => n.as_f64().unwrap_or(0.0) != 0.0,
            },
            Json::String(s) => !s.is_empty(),
            Json::Array(items) => !items.is_empty(),
            Json::Object(map) => !map.is_empty(),
        }
    }

    /// Go's type name in messages such as "wrong type for value; … got int".
    pub fn type_name(&self) -> &'static str {
        match self.json() {
            Json::Null => "interface {}",
            v => gofmt::go_type(v),
        }
    }

    /// What an action prints: `<no value>` for nil, otherwise Go's `%v`.
    pub fn write_printed(&self, out: &mut String) {
        match self.json() {
            Json::Null => out.push_str("<no value>"),
            Json::String(s) => out.push_str(s),
            v => gofmt::write_value(v, out),
        }
    }
}
