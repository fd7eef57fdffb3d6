//! The built-in functions of Go's `text/template/funcs.go`.

use super::exec::P;
use crate::gofmt;
use crate::value::{Slice, Type, Value};
use std::rc::Rc;

type RV = Option<Value>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Builtin {
    And,
    Call,
    Html,
    Index,
    Slice,
    Js,
    Len,
    Not,
    Or,
    Print,
    Printf,
    Println,
    Urlquery,
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
    Ne,
}

impl Builtin {
    pub fn by_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "and" => Builtin::And,
            "call" => Builtin::Call,
            "html" => Builtin::Html,
            "index" => Builtin::Index,
            "slice" => Builtin::Slice,
            "js" => Builtin::Js,
            "len" => Builtin::Len,
            "not" => Builtin::Not,
            "or" => Builtin::Or,
            "print" => Builtin::Print,
            "printf" => Builtin::Printf,
            "println" => Builtin::Println,
            "urlquery" => Builtin::Urlquery,
            "eq" => Builtin::Eq,
            "ge" => Builtin::Ge,
            "gt" => Builtin::Gt,
            "le" => Builtin::Le,
            "lt" => Builtin::Lt,
            "ne" => Builtin::Ne,
            _ => return None,
        })
    }

    /// The Go signature: fixed parameters and the variadic element type.
    pub fn signature(self) -> (Vec<P>, Option<P>) {
        use Builtin::*;
        let any = || P::T(Type::Interface);
        match self {
            And | Or | Call | Index | Slice | Eq => (vec![P::Reflect], Some(P::Reflect)),
            Html | Js | Urlquery | Print | Println => (vec![], Some(any())),
            Printf => (vec![P::T(Type::String)], Some(any())),
            Len | Not => (vec![P::Reflect], None),
            Ge | Gt | Le | Lt | Ne => (vec![P::Reflect, P::Reflect], None),
        }
    }
}

fn iface(v: RV) -> RV {
    match v {
        Some(Value::Nil) => None,
        v => v,
    }
}

pub(super) fn call_builtin(b: Builtin, argv: Vec<RV>) -> Result<RV, String> {
    use Builtin::*;
    let vals = |argv: Vec<RV>| -> Vec<Value> {
        argv.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect()
    };
    match b {
        Print => Ok(Some(Value::from(gofmt::sprint(&vals(argv))))),
        Println => Ok(Some(Value::from(gofmt::sprintln(&vals(argv))))),
        Printf => {
            let v = vals(argv);
            let f = v[0].as_str().unwrap_or("").to_string();
            Ok(Some(Value::from(gofmt::sprintf(&f, &v[1..]))))
        }
        Html => Ok(Some(Value::from(html_escape(&eval_args(&vals(argv)))))),
        Js => Ok(Some(Value::from(js_escape(&eval_args(&vals(argv)))))),
        Urlquery => Ok(Some(Value::from(query_escape(&eval_args(&vals(argv)))))),
        Not => Ok(Some(Value::Bool(!super::exec::truth(&argv[0])))),
        Len => length(argv.into_iter().next().flatten()),
        Index => {
            let mut it = argv.into_iter();
            let item = it.next().unwrap_or(None);
            index(item, it.collect())
        }
        Slice => {
            let mut it = argv.into_iter();
            let item = it.next().unwrap_or(None);
            slice(item, it.collect())
        }
        Eq => {
            let mut it = argv.into_iter();
            let a = it.next().unwrap_or(None);
            eq(a, it.collect()).map(|b| Some(Value::Bool(b)))
        }
        Ne => {
            let mut it = argv.into_iter();
            let (a, b) = (it.next().unwrap_or(None), it.next().unwrap_or(None));
            eq(a, vec![b]).map(|b| Some(Value::Bool(!b)))
        }
        Lt => {
            let (a, b) = two(argv);
            lt(a, b).map(|b| Some(Value::Bool(b)))
        }
        Le => {
            let (a, b) = two(argv);
            le(a, b).map(|b| Some(Value::Bool(b)))
        }
        Gt => {
            let (a, b) = two(argv);
            le(a, b).map(|b| Some(Value::Bool(!b)))
        }
        Ge => {
            let (a, b) = two(argv);
            lt(a, b).map(|b| Some(Value::Bool(!b)))
        }
        And | Or | Call => Err("unreachable".into()),
    }
}

fn two(argv: Vec<RV>) -> (RV, RV) {
    let mut it = argv.into_iter();
    (it.next().unwrap_or(None), it.next().unwrap_or(None))
}

fn index_arg(index: &RV, cap: usize) -> Result<usize, String> {
    let x: i128 = match index {
        Some(Value::Int(i) | Value::Int64(i)) => *i as i128,
        Some(Value::Uint(u)) => *u as i128,
        Some(Value::Uint8(u)) => *u as i128,
        None => return Err("cannot index slice/array with nil".into()),
        Some(v) => return Err(format!("cannot index slice/array with type {}", type_of(v))),
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn type_of(v: &Value) -> String {
    match v {
        Value::Nil => "interface {}".into(),
        v => v.type_name(),
    }
}

fn index(item: RV, indexes: Vec<RV>) -> Result<RV, String> {
    let Some(mut item) = iface(item) else {
        return Err("index of untyped nil".into());
    };
    for index in indexes {
        let index = iface(index);
        if item.is_nil() {
            return Err("index of nil pointer".into());
        }
        item = match &item {
            Value::Slice(s) => {
                let x = index_arg(&index, s.items.len())?;
                s.items
                    .get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::Bytes(b) => {
                let x = index_arg(&index, b.len())?;
                Value::Uint8(*b.get(x).ok_or("reflect: slice index out of range")?)
            }
            Value::String(s) => {
                let x = index_arg(&index, s.len())?;
                Value::Uint8(
                    *s.as_bytes()
                        .get(x)
                        .ok_or("reflect: string index out of range")?,
                )
            }
            Value::Map(m) => {
                let key = match &index {
                    None => return Err("value is nil; should be of type string".into()),
                    Some(Value::String(k)) => k.clone(),
                    Some(v) => {
                        return Err(format!("value has type {}; should be string", type_of(v)));
                    }
                };
                let m = m.borrow();
                match m.entries.get(&*key) {
                    Some(v) => v.clone(),
                    None => m.elem.zero(),
                }
            }
            v => return Err(format!("can't index item of type {}", type_of(v))),
        };
    }
    Ok(Some(item))
}

fn slice(item: RV, indexes: Vec<RV>) -> Result<RV, String> {
    let Some(item) = iface(item) else {
        return Err("slice of untyped nil".into());
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let (cap, len) = match &item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), s.len())
        }
        Value::Slice(s) => (s.items.len(), s.items.len()),
        Value::Bytes(b) => (b.len(), b.len()),
        v => return Err(format!("can't slice item of type {}", type_of(v))),
    };
    let mut idx = [0usize, len, 0];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(&iface(index.clone()), cap)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(Some(match &item {
        Value::String(s) => {
            Value::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::Bytes(b) => Value::Bytes(Rc::from(&b[idx[0]..idx[1]])),
        Value::Slice(s) => Value::Slice(Rc::new(Slice {
            elem: s.elem.clone(),
            items: s.items[idx[0]..idx[1]].to_vec(),
            nil: false,
        })),
        _ => unreachable_value(),
    }))
}

fn unreachable_value() -> Value {
    Value::Nil
}

fn length(item: RV) -> Result<RV, String> {
    let n = match item {
        None => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Some(Value::Nil) => return Err("len of nil pointer".into()),
        Some(Value::String(s)) => s.len(),
        Some(Value::Slice(s)) => s.items.len(),
        Some(Value::Bytes(b)) => b.len(),
        Some(Value::Map(m)) => m.borrow().entries.len(),
        Some(v) => return Err(format!("len of type {}", v.type_name())),
    };
    Ok(Some(Value::Int(n as i64)))
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Complex,
    String,
    Uint,
}

fn basic_kind(v: &RV) -> Kind {
    match v {
        Some(Value::Bool(_)) => Kind::Bool,
        Some(Value::Int(_) | Value::Int64(_)) => Kind::Int,
        Some(Value::Uint(_) | Value::Uint8(_)) => Kind::Uint,
        Some(Value::Float64(_)) => Kind::Float,
        Some(Value::Complex(..)) => Kind::Complex,
        Some(Value::String(_)) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn as_int(v: &RV) -> i64 {
    match v {
        Some(Value::Int(i) | Value::Int64(i)) => *i,
        _ => 0,
    }
}
fn as_uint(v: &RV) -> u64 {
    match v {
        Some(Value::Uint(u)) => *u,
        Some(Value::Uint8(u)) => *u as u64,
        _ => 0,
    }
}
fn as_float(v: &RV) -> f64 {
    match v {
        Some(Value::Float64(f)) => *f,
        _ => 0.0,
    }
}
fn as_complex(v: &RV) -> (f64, f64) {
    match v {
        Some(Value::Complex(r, i)) => (*r, *i),
        _ => (0.0, 0.0),
    }
}
fn as_str(v: &RV) -> &str {
    match v {
        Some(Value::String(s)) => s,
        _ => "",
    }
}
fn as_bool(v: &RV) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn rv_type(v: &RV) -> String {
    match v {
        None => "<nil>".into(),
        Some(v) => type_of(v),
    }
}

/// Go's reflect kind name, for canCompare.
fn reflect_kind(v: &RV) -> &'static str {
    match v {
        None => "invalid",
        Some(v) => v.kind_name(),
    }
}

fn is_nil(v: &RV) -> bool {
    match v {
        None | Some(Value::Nil) => true,
        Some(Value::Slice(s)) => s.nil,
        _ => false,
    }
}

fn eq(arg1: RV, arg2: Vec<RV>) -> Result<bool, String> {
    let arg1 = iface(arg1);
    if arg2.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(&arg1);
    for arg in arg2 {
        let arg = iface(arg);
        let k2 = basic_kind(&arg);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) => {
                    as_int(&arg1) >= 0 && as_int(&arg1) as u64 == as_uint(&arg)
                }
                (Kind::Uint, Kind::Int) => {
                    as_int(&arg) >= 0 && as_uint(&arg1) == as_int(&arg) as u64
                }
                _ => {
                    if arg1.is_some() && arg.is_some() {
                        return Err(format!(
                            "incompatible types for comparison: {} and {}",
                            rv_type(&arg1),
                            rv_type(&arg)
                        ));
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => as_bool(&arg1) == as_bool(&arg),
                Kind::Float => as_float(&arg1) == as_float(&arg),
                Kind::Complex => as_complex(&arg1) == as_complex(&arg),
                Kind::Int => as_int(&arg1) == as_int(&arg),
                Kind::String => as_str(&arg1) == as_str(&arg),
                Kind::Uint => as_uint(&arg1) == as_uint(&arg),
                Kind::Invalid => {
                    let (ka, kb) = (reflect_kind(&arg1), reflect_kind(&arg));
                    if !(ka == kb || ka == "invalid" || kb == "invalid") {
                        let a1 = arg1.clone().unwrap_or_default();
                        let a = arg.clone().unwrap_or_default();
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(&a1)),
                            rv_type(&arg1),
                            rv_type(&arg),
                            gofmt::sprint(std::slice::from_ref(&a))
                        ));
                    }
                    if is_nil(&arg1) || is_nil(&arg) {
                        is_nil(&arg) == is_nil(&arg1)
                    } else {
                        match (&arg1, &arg) {
                            (Some(Value::Object(a)), Some(Value::Object(b))) => Rc::ptr_eq(a, b),
                            _ => {
                                let a = arg.clone().unwrap_or_default();
                                return Err(format!(
                                    "non-comparable type {}: {}",
                                    gofmt::sprintf("%s", std::slice::from_ref(&a)),
                                    rv_type(&arg)
                                ));
                            }
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(arg1: RV, arg2: RV) -> Result<bool, String> {
    let bad = || "invalid type for comparison".to_string();
    let arg1 = iface(arg1);
    let k1 = basic_kind(&arg1);
    if k1 == Kind::Invalid {
        return Err(bad());
    }
    let arg2 = iface(arg2);
    let k2 = basic_kind(&arg2);
    if k2 == Kind::Invalid {
        return Err(bad());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) => {
                Ok(as_int(&arg1) < 0 || (as_int(&arg1) as u64) < as_uint(&arg2))
            }
            (Kind::Uint, Kind::Int) => {
                Ok(as_int(&arg2) >= 0 && as_uint(&arg1) < as_int(&arg2) as u64)
            }
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                rv_type(&arg1),
                rv_type(&arg2)
            )),
        };
    }
    match k1 {
        Kind::Bool | Kind::Complex => Err(bad()),
        Kind::Float => Ok(as_float(&arg1) < as_float(&arg2)),
        Kind::Int => Ok(as_int(&arg1) < as_int(&arg2)),
        Kind::String => Ok(as_str(&arg1) < as_str(&arg2)),
        Kind::Uint => Ok(as_uint(&arg1) < as_uint(&arg2)),
        Kind::Invalid => Err(bad()),
    }
}

fn le(arg1: RV, arg2: RV) -> Result<bool, String> {
    let l = lt(arg1.clone(), arg2.clone())?;
    if l {
        return Ok(true);
    }
    eq(arg1, vec![arg2])
}

/// Go's `evalArgs` for `html`, `js`, `urlquery`.
fn eval_args(args: &[Value]) -> String {
    if args.len() == 1
        && let Value::String(s) = &args[0]
    {
        return s.to_string();
    }
    // A nil argument prints as "<no value>" (printableValue of an invalid reflect.Value).
    let mapped: Vec<Value> = args
        .iter()
        .map(|a| {
            if a.is_nil() {
                Value::from("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    gofmt::sprint(&mapped)
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if (c as u32) < 0x80 => out.push(c),
            c => {
                if gofmt::is_print(c) {
                    out.push(c)
                } else {
                    out.push_str(&format!("\\u{:04X}", c as u32))
                }
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
