//! Values with Go's type identity.
//!
//! Go templates dispatch on dynamic types: `eq 1 1.0` is an error (`int` and `float64`), Sprig's
//! `typeOf` prints `float64` for a number from a values file, `%v` prints a float64 1000000 as
//! `1e+06`. [`Value`] therefore keeps the Go type of every value, not just its JSON shape.
//!
//! Maps are reference values with interior mutability, as Go maps are: Sprig's `set` and `merge`
//! change a `dict` in place and every variable holding it sees the change.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A Go type, as far as templates can observe it (`%T`, assignability, zero values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// `interface {}`.
    Interface,
    Bool,
    /// Go's `int` (64 bits here, as on every platform Helm ships for).
    Int,
    Int64,
    Uint,
    Uint8,
    Float64,
    Complex128,
    String,
    /// `[]T`.
    Slice(Rc<Type>),
    /// `map[string]T`.
    Map(Rc<Type>),
    /// A function; its Go signature, for `%T`.
    Func(Rc<str>),
    /// A named type (a struct, a pointer to one, a named map), by its Go name (`*chart.Metadata`).
    Named(Rc<str>),
}

impl Type {
    /// `[]interface {}`.
    pub fn any_slice() -> Type {
        Type::Slice(Rc::new(Type::Interface))
    }
    /// `map[string]interface {}`.
    pub fn any_map() -> Type {
        Type::Map(Rc::new(Type::Interface))
    }

    /// The zero value of the type, as a template sees it (`None` for nil interfaces, which the
    /// executor treats as "no value").
    pub fn zero(&self) -> Value {
        match self {
            Type::Interface | Type::Func(_) | Type::Named(_) => Value::Nil,
            Type::Bool => Value::Bool(false),
            Type::Int => Value::Int(0),
            Type::Int64 => Value::Int64(0),
            Type::Uint => Value::Uint(0),
            Type::Uint8 => Value::Uint8(0),
            Type::Float64 => Value::Float64(0.0),
            Type::Complex128 => Value::Complex(0.0, 0.0),
            Type::String => Value::from(""),
            Type::Slice(e) => Value::Slice(Rc::new(Slice {
                elem: (**e).clone(),
                items: Vec::new(),
                nil: true,
                name: None,
                methods: None,
            })),
            Type::Map(e) => Value::Map(Rc::new(RefCell::new(Map {
                elem: (**e).clone(),
                entries: BTreeMap::new(),
                name: None,
                methods: None,
            }))),
        }
    }

    /// Whether a value of this type can be nil (Go's `canBeNil`).
    pub fn can_be_nil(&self) -> bool {
        matches!(
            self,
            Type::Interface | Type::Slice(_) | Type::Map(_) | Type::Func(_) | Type::Named(_)
        )
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Interface => f.write_str("interface {}"),
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Int64 => f.write_str("int64"),
            Type::Uint => f.write_str("uint"),
            Type::Uint8 => f.write_str("uint8"),
            Type::Float64 => f.write_str("float64"),
            Type::Complex128 => f.write_str("complex128"),
            Type::String => f.write_str("string"),
            Type::Slice(e) => write!(f, "[]{e}"),
            Type::Map(e) => write!(f, "map[string]{e}"),
            Type::Func(sig) => f.write_str(sig),
            Type::Named(n) => f.write_str(n),
        }
    }
}

/// Methods of a named slice or map type (Helm's `chartutil.VersionSet`, `chartutil.Values`):
/// looked up before fields and keys, as Go does.
pub trait MethodSet: std::fmt::Debug {
    /// The method `name` bound to `receiver`, or `None`.
    fn method(&self, name: &str, receiver: &Value) -> Option<Rc<crate::template::Func>>;
    /// `String()` if the type is a `fmt.Stringer`.
    fn stringer(&self, _receiver: &Value) -> Option<String> {
        None
    }
}

/// A Go slice: its element type and its elements.
#[derive(Clone, Debug)]
pub struct Slice {
    /// The element type (`interface {}` for lists from YAML and Sprig's `list`).
    pub elem: Type,
    /// The elements; each has the element type, or is `Nil` in an `interface {}` slice.
    pub items: Vec<Value>,
    /// A nil slice (`%#v` and `eq nil` tell it from an empty one).
    pub nil: bool,
    /// The name of a named slice type (`chartutil.VersionSet`), for `%T`.
    pub name: Option<Rc<str>>,
    /// The methods of a named slice type.
    pub methods: Option<Rc<dyn MethodSet>>,
}

/// A Go map with string keys, iterated in Go's sorted key order.
#[derive(Clone, Debug)]
pub struct Map {
    /// The element type (`interface {}` for YAML objects and Sprig's `dict`).
    pub elem: Type,
    /// The entries, sorted by key bytes as `fmt` and `range` iterate them.
    pub entries: BTreeMap<String, Value>,
    /// The name of a named map type (`chartutil.Values`), for `%T`.
    pub name: Option<Rc<str>>,
    /// The methods of a named map type.
    pub methods: Option<Rc<dyn MethodSet>>,
}

// Values built by templates can nest arbitrarily deep (`$d = dict "x" $d` in a loop): drop
// them iteratively, not by recursion.
impl Drop for Map {
    fn drop(&mut self) {
        let mut stack: Vec<Value> = std::mem::take(&mut self.entries).into_values().collect();
        drain(&mut stack);
    }
}

impl Drop for Slice {
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.items);
        drain(&mut stack);
    }
}

fn drain(stack: &mut Vec<Value>) {
    while let Some(v) = stack.pop() {
        match v {
            Value::Map(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    let mut m = cell.into_inner();
                    stack.extend(std::mem::take(&mut m.entries).into_values());
                }
            }
            Value::Slice(rc) => {
                if let Ok(mut s) = Rc::try_unwrap(rc) {
                    stack.append(&mut s.items);
                }
            }
            _ => {}
        }
    }
}

/// A Go value of one of the types templates meet.
#[derive(Clone, Default)]
pub enum Value {
    /// An untyped or interface nil.
    #[default]
    Nil,
    Bool(bool),
    /// Go's `int`.
    Int(i64),
    Int64(i64),
    Uint(u64),
    Uint8(u8),
    Float64(f64),
    /// `time.Duration` (nanoseconds; prints as `1h2m3s`).
    Duration(i64),
    /// `complex128` (template constants like `1+2i`).
    Complex(f64, f64),
    String(Rc<str>),
    /// `[]byte`.
    Bytes(Rc<[u8]>),
    Slice(Rc<Slice>),
    Map(Rc<RefCell<Map>>),
    Func(Rc<crate::template::Func>),
    /// A struct or pointer to one (Helm's `.Chart`, `.Capabilities`, `.Files`).
    Object(Rc<dyn Object>),
}

/// A Go struct (or pointer to one) exposed to templates: fields and methods by name.
pub trait Object {
    /// Its Go type name, for `%T` and error messages (`*chart.Metadata`).
    fn type_name(&self) -> String;
    /// An exported field, or `None` if there is none by that name.
    fn field(&self, name: &str) -> Option<Value>;
    /// A method, or `None` if there is none by that name. Methods win over fields, as in Go.
    fn method(&self, _name: &str) -> Option<Rc<crate::template::Func>> {
        None
    }
    /// `String()` if the type is a `fmt.Stringer`.
    fn stringer(&self) -> Option<String> {
        None
    }
    /// `String()` of a pointer to this (non-pointer, addressable) struct: the executor prints
    /// it when it prints the value itself, as Go's `printValue` does; functions receiving the
    /// value see the struct.
    fn pointer_stringer(&self) -> Option<String> {
        None
    }
    /// The field values in declaration order, for `%v` (`{a b}`); a pointer prints `&{a b}`.
    fn fields(&self) -> Vec<Value> {
        Vec::new()
    }
    /// Whether the object is a pointer (prints `&{…}` at top level).
    fn is_pointer(&self) -> bool {
        true
    }
    /// The object as `Any`, for functions that take this concrete type.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::gofmt::sprintf("%#v", std::slice::from_ref(self)))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Rc::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Rc::from(s))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float64(f)
    }
}

impl Value {
    /// A `[]interface {}`.
    pub fn list(items: Vec<Value>) -> Value {
        Value::Slice(Rc::new(Slice {
            elem: Type::Interface,
            items,
            nil: false,
            name: None,
            methods: None,
        }))
    }
    /// A slice of the given element type.
    pub fn typed_slice(elem: Type, items: Vec<Value>) -> Value {
        Value::Slice(Rc::new(Slice {
            elem,
            items,
            nil: false,
            name: None,
            methods: None,
        }))
    }
    /// A `map[string]interface {}`.
    pub fn dict(entries: BTreeMap<String, Value>) -> Value {
        Value::typed_map(Type::Interface, entries)
    }
    /// A map of the given element type.
    pub fn typed_map(elem: Type, entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(RefCell::new(Map {
            elem,
            entries,
            name: None,
            methods: None,
        })))
    }

    /// The value of a JSON document as Go's `encoding/json` decodes it into `interface {}`
    /// (every number a float64), which is also what Helm's values are.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::dict(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The dynamic Go type; `None` for nil.
    pub fn go_type(&self) -> Option<Type> {
        Some(match self {
            Value::Nil => return None,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Int64(_) => Type::Int64,
            Value::Uint(_) => Type::Uint,
            Value::Uint8(_) => Type::Uint8,
            Value::Float64(_) => Type::Float64,
            Value::Duration(_) => crate::duration::duration_type(),
            Value::Complex(..) => Type::Complex128,
            Value::String(_) => Type::String,
            Value::Bytes(_) => Type::Slice(Rc::new(Type::Uint8)),
            Value::Slice(s) => match &s.name {
                Some(n) => Type::Named(n.clone()),
                None => Type::Slice(Rc::new(s.elem.clone())),
            },
            Value::Map(m) => {
                let m = m.borrow();
                match &m.name {
                    Some(n) => Type::Named(n.clone()),
                    None => Type::Map(Rc::new(m.elem.clone())),
                }
            }
            Value::Func(f) => Type::Func(f.signature()),
            Value::Object(o) => Type::Named(Rc::from(o.type_name())),
        })
    }

    /// `%T` of the value (`<nil>` for nil).
    pub fn type_name(&self) -> String {
        match self.go_type() {
            Some(t) => t.to_string(),
            None => "<nil>".to_string(),
        }
    }

    /// Go's `reflect.Kind` name of the value (`map`, `slice`, `float64`, `ptr`, `invalid`), for
    /// Sprig's `kindOf`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "uint",
            Value::Uint8(_) => "uint8",
            Value::Float64(_) => "float64",
            Value::Duration(_) => "int64",
            Value::Complex(..) => "complex128",
            Value::String(_) => "string",
            Value::Bytes(_) | Value::Slice(_) => "slice",
            Value::Map(_) => "map",
            Value::Func(_) => "func",
            Value::Object(o) => {
                if o.is_pointer() {
                    "ptr"
                } else {
                    "struct"
                }
            }
        }
    }

    /// Go's template truth (`if`, `with`, `and`, `or`, `not`): false for nil, zero numbers, empty
    /// strings and collections.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) | Value::Duration(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Uint8(u) => *u != 0,
            Value::Float64(f) => *f != 0.0,
            Value::Complex(r, i) => *r != 0.0 || *i != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::Slice(s) => !s.items.is_empty(),
            Value::Map(m) => !m.borrow().entries.is_empty(),
            Value::Func(_) | Value::Object(_) => true,
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value is nil.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Whether a value of this dynamic type can be assigned to `t` (Go's `AssignableTo`).
    pub fn assignable_to(&self, t: &Type) -> bool {
        if *t == Type::Interface {
            return true;
        }
        match (self, t) {
            (Value::Nil, t) => t.can_be_nil(),
            // A named map (chartutil.Values) is assignable to its underlying unnamed type.
            (Value::Map(m), Type::Map(e)) => m.borrow().elem == **e,
            (Value::Slice(s), Type::Slice(e)) => s.elem == **e,
            (v, t) => v.go_type().as_ref() == Some(t),
        }
    }
}

/// Builds a `map[string]interface {}` from pairs (tests and built-in objects).
pub fn dict<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::dict(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}
