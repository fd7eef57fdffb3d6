//! Sprig v3.3.0 (the version Helm pins), the string, list, dict, default, conversion and
//! arithmetic functions, with Sprig's Go signatures (so argument errors are Go's) and semantics.
//! Register them with [`add_to`].
//!
//! Not yet here: regular expressions, dates, semver, crypto generators, `toYaml` (Helm's own).

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::gofmt;
use crate::template::{Ctx, Func, Templates};
use crate::value::{Type, Value};

mod case;
pub mod json;
mod lists;
mod more;
pub mod semver;

type R = Result<Value, String>;

fn st() -> Type {
    Type::String
}
fn any() -> Type {
    Type::Interface
}
fn any_map() -> Type {
    Type::any_map()
}

fn reg(
    t: &mut Templates,
    name: &str,
    params: Vec<Type>,
    variadic: Option<Type>,
    result: Type,
    f: fn(Vec<Value>) -> R,
) {
    let mut func = Func::new(name, params, variadic, result, move |_: &mut Ctx<'_>, a| {
        f(a)
    });
    func.returns_error = false;
    t.add_func(func);
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Uint8(u) => *u as i64,
        _ => 0,
    }
}

/// Sprig's `strval`: strings as they are, `[]byte` as text, anything else in `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        v => gofmt::sprintf("%v", std::slice::from_ref(v)),
    }
}

/// Sprig's `empty`.
pub fn empty(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        v => !v.truth(),
    }
}

/// spf13/cast `ToInt64` as Sprig uses it (errors give 0): strings in Go's base-prefixed
/// syntax, with a zero fraction trimmed ("12.00").
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Uint8(u) => *u as i64,
        Value::Float64(f) => gofmt::go_f64_to_i64(*f),
        Value::Bool(b) => *b as i64,
        Value::String(s) => {
            let t = trim_zero_decimal(s);
            match crate::template::parse::parse_int_base0(t, true) {
                Some((neg, mag)) if mag <= i64::MAX as u64 => {
                    if neg {
                        -(mag as i64)
                    } else {
                        mag as i64
                    }
                }
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// spf13/cast's `trimZeroDecimal`.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// spf13/cast `ToFloat64`.
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Uint8(u) => *u as f64,
        Value::Float64(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::String(s) => s.parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `strslice`.
fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::Slice(s) => s.items.iter().filter(|i| !i.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

fn list_of(v: Vec<Value>) -> Value {
    Value::list(v)
}

fn strings(v: Vec<String>) -> Value {
    Value::typed_slice(Type::String, v.into_iter().map(Value::from).collect())
}

/// strings.Title (Go's deprecated word-capitalising rule).
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        };
    }
    out
}

/// Go's `json.Marshal` of a template value (HTML-safe escaping, sorted keys).
///
/// # Errors
/// Go's error for values JSON cannot hold (functions, NaN).
pub fn to_json(v: &Value, out: &mut String) -> Result<(), String> {
    out.push_str(&json::encode(v, json::MARSHAL)?);
    Ok(())
}

/// mergo.Merge(dst, src) without overwrite, as Sprig's `merge` calls it.
fn merge_into(dst: &Value, src: &Value) {
    let (Value::Map(d), Value::Map(sm)) = (dst, src) else {
        return;
    };
    if Rc::ptr_eq(d, sm) {
        return;
    }
    let src_entries: Vec<(String, Value)> = sm
        .borrow()
        .entries
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, sv) in src_entries {
        if sv.is_nil() {
            continue; // mergo skips nil source values unless overwriting
        }
        let dv = d.borrow().entries.get(&k).cloned();
        match dv {
            None => {
                d.borrow_mut().entries.insert(k, sv);
            }
            Some(dv @ Value::Map(_)) if matches!(sv, Value::Map(_)) => merge_into(&dv, &sv),
            Some(dv) if empty(&dv) => {
                d.borrow_mut().entries.insert(k, sv);
            }
            Some(_) => {}
        }
    }
}

fn get_map(v: &Value) -> Option<Rc<std::cell::RefCell<crate::value::Map>>> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// Registers the Sprig functions implemented so far.
pub fn add_to(t: &mut Templates) {
    add_base(t);
    lists::add(t);
    more::add(t);
    semver::add(t);
}

fn add_base(t: &mut Templates) {
    reg(t, "snakecase", vec![st()], None, st(), |a| {
        Ok(case::to_lower_case(s(&a[0]), '_').into())
    });
    reg(t, "kebabcase", vec![st()], None, st(), |a| {
        Ok(case::to_lower_case(s(&a[0]), '-').into())
    });
    reg(t, "tuple", vec![], Some(any()), Type::any_slice(), |a| {
        Ok(list_of(a))
    });
    // Defaults.
    reg(t, "default", vec![any()], Some(any()), any(), |a| {
        if a.len() < 2 || empty(&a[1]) {
            Ok(a[0].clone())
        } else {
            Ok(a[1].clone())
        }
    });
    reg(t, "empty", vec![any()], None, Type::Bool, |a| {
        Ok(Value::Bool(empty(&a[0])))
    });
    reg(t, "coalesce", vec![], Some(any()), any(), |a| {
        Ok(a.into_iter().find(|v| !empty(v)).unwrap_or(Value::Nil))
    });
    reg(
        t,
        "ternary",
        vec![any(), any(), Type::Bool],
        None,
        any(),
        |a| {
            Ok(if matches!(a[2], Value::Bool(true)) {
                a[0].clone()
            } else {
                a[1].clone()
            })
        },
    );
    reg(t, "toJson", vec![any()], None, st(), |a| {
        let mut out = String::new();
        Ok(match to_json(&a[0], &mut out) {
            Ok(()) => Value::from(out),
            Err(_) => Value::from(""),
        })
    });
    // Strings.
    reg(t, "quote", vec![], Some(any()), st(), |a| {
        let v: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| gofmt::quote(&strval(v)))
            .collect();
        Ok(v.join(" ").into())
    });
    reg(t, "squote", vec![], Some(any()), st(), |a| {
        let v: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", strval(v)))
            .collect();
        Ok(v.join(" ").into())
    });
    reg(t, "cat", vec![], Some(any()), st(), |a| {
        let v: Vec<Value> = a.into_iter().filter(|v| !v.is_nil()).collect();
        let f = vec!["%v"; v.len()].join(" ");
        Ok(gofmt::sprintf(&f, &v).into())
    });
    reg(t, "upper", vec![st()], None, st(), |a| {
        Ok(s(&a[0]).to_uppercase().into())
    });
    reg(t, "lower", vec![st()], None, st(), |a| {
        Ok(s(&a[0]).to_lowercase().into())
    });
    reg(t, "title", vec![st()], None, st(), |a| {
        Ok(title(s(&a[0])).into())
    });
    reg(t, "trim", vec![st()], None, st(), |a| {
        Ok(s(&a[0]).trim_matches(go_space).to_string().into())
    });
    reg(t, "trimAll", vec![st(), st()], None, st(), |a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        Ok(s(&a[1])
            .trim_matches(|c| cut.contains(&c))
            .to_string()
            .into())
    });
    reg(t, "trimPrefix", vec![st(), st()], None, st(), |a| {
        Ok(s(&a[1])
            .strip_prefix(s(&a[0]))
            .unwrap_or(s(&a[1]))
            .to_string()
            .into())
    });
    reg(t, "trimSuffix", vec![st(), st()], None, st(), |a| {
        Ok(s(&a[1])
            .strip_suffix(s(&a[0]))
            .unwrap_or(s(&a[1]))
            .to_string()
            .into())
    });
    reg(t, "replace", vec![st(), st(), st()], None, st(), |a| {
        Ok(go_replace(s(&a[2]), s(&a[0]), s(&a[1])).into())
    });
    reg(t, "contains", vec![st(), st()], None, Type::Bool, |a| {
        Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))
    });
    reg(t, "hasPrefix", vec![st(), st()], None, Type::Bool, |a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    });
    reg(t, "hasSuffix", vec![st(), st()], None, Type::Bool, |a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    });
    reg(t, "indent", vec![Type::Int, st()], None, st(), |a| {
        Ok(indent(int(&a[0]), s(&a[1])).into())
    });
    reg(t, "nindent", vec![Type::Int, st()], None, st(), |a| {
        Ok(format!("\n{}", indent(int(&a[0]), s(&a[1]))).into())
    });
    reg(t, "repeat", vec![Type::Int, st()], None, st(), |a| {
        let n = int(&a[0]);
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        Ok(s(&a[1]).repeat(n as usize).into())
    });
    reg(t, "trunc", vec![Type::Int, st()], None, st(), |a| {
        let (c, v) = (int(&a[0]), s(&a[1]));
        let l = v.len() as i64;
        let r = if c < 0 && l + c > 0 {
            v.get((l + c) as usize..).unwrap_or(v)
        } else if c >= 0 && l > c {
            v.get(..c as usize).unwrap_or(v)
        } else {
            v
        };
        Ok(r.to_string().into())
    });
    // goutils.DeleteWhiteSpace reads the string byte by byte as Latin-1 runes: when it removes
    // anything, multi-byte characters come back re-encoded byte by byte, as in Go.
    reg(t, "nospace", vec![st()], None, st(), |a| {
        let v = s(&a[0]);
        let mut out = String::new();
        let mut count = 0;
        for b in v.bytes() {
            let c = b as char;
            if !matches!(
                c,
                '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}'
            ) {
                out.push(c);
                count += 1;
            }
        }
        Ok(if count == v.len() {
            a[0].clone()
        } else {
            out.into()
        })
    });
    reg(t, "toString", vec![any()], None, st(), |a| {
        Ok(strval(&a[0]).into())
    });
    reg(t, "b64enc", vec![st()], None, st(), |a| {
        use base64::Engine;
        Ok(base64::engine::general_purpose::STANDARD
            .encode(s(&a[0]).as_bytes())
            .into())
    });
    reg(t, "b64dec", vec![st()], None, st(), |a| {
        use base64::Engine;
        Ok(
            match base64::engine::general_purpose::STANDARD.decode(s(&a[0]).as_bytes()) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned().into(),
                Err(_) => "illegal base64 data at input byte 0".into(),
            },
        )
    });
    reg(t, "sha256sum", vec![st()], None, st(), |a| {
        use sha2::Digest;
        let d = sha2::Sha256::digest(s(&a[0]).as_bytes());
        Ok(d.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into())
    });
    reg(t, "join", vec![st(), any()], None, st(), |a| {
        Ok(strslice(&a[1]).join(s(&a[0])).into())
    });
    reg(
        t,
        "splitList",
        vec![st(), st()],
        None,
        Type::Slice(Rc::new(st())),
        |a| Ok(strings(go_split(s(&a[1]), s(&a[0])))),
    );
    reg(
        t,
        "split",
        vec![st(), st()],
        None,
        Type::Map(Rc::new(st())),
        |a| {
            let parts = go_split(s(&a[1]), s(&a[0]));
            let m: BTreeMap<String, Value> = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect();
            Ok(Value::typed_map(Type::String, m))
        },
    );
    // Types.
    reg(t, "typeOf", vec![any()], None, st(), |a| {
        Ok(gofmt::sprintf("%T", &a[..1]).into())
    });
    reg(t, "kindOf", vec![any()], None, st(), |a| {
        Ok(a[0].kind_name().into())
    });
    reg(t, "kindIs", vec![st(), any()], None, Type::Bool, |a| {
        Ok(Value::Bool(a[1].kind_name() == s(&a[0])))
    });
    reg(t, "typeIs", vec![st(), any()], None, Type::Bool, |a| {
        Ok(Value::Bool(gofmt::sprintf("%T", &a[1..2]) == s(&a[0])))
    });
    // Conversions and arithmetic (int64 results, as Sprig's).
    reg(t, "int", vec![any()], None, Type::Int, |a| {
        Ok(Value::Int(to_int64(&a[0])))
    });
    reg(t, "int64", vec![any()], None, Type::Int64, |a| {
        Ok(Value::Int64(to_int64(&a[0])))
    });
    reg(t, "float64", vec![any()], None, Type::Float64, |a| {
        Ok(Value::Float64(to_float64(&a[0])))
    });
    reg(t, "atoi", vec![st()], None, Type::Int, |a| {
        Ok(Value::Int(s(&a[0]).parse::<i64>().unwrap_or(0)))
    });
    reg(t, "add", vec![], Some(any()), Type::Int64, |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(0i64, i64::wrapping_add),
        ))
    });
    reg(t, "add1", vec![any()], None, Type::Int64, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    reg(t, "sub", vec![any(), any()], None, Type::Int64, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    reg(t, "mul", vec![any()], Some(any()), Type::Int64, |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
        ))
    });
    reg(t, "div", vec![any(), any()], None, Type::Int64, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_div(d)))
    });
    reg(t, "mod", vec![any(), any()], None, Type::Int64, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(d)))
    });
    reg(t, "max", vec![any()], Some(any()), Type::Int64, |a| {
        Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    reg(t, "min", vec![any()], Some(any()), Type::Int64, |a| {
        Ok(Value::Int64(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    // Lists.
    reg(t, "list", vec![], Some(any()), Type::any_slice(), |a| {
        Ok(list_of(a))
    });
    // Dicts.
    reg(t, "dict", vec![], Some(any()), any_map(), |a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            let k = strval(&a[i]);
            let v = a.get(i + 1).cloned().unwrap_or_else(|| Value::from(""));
            m.insert(k, v);
            i += 2;
        }
        Ok(Value::dict(m))
    });
    reg(t, "get", vec![any_map(), st()], None, any(), |a| {
        let m = get_map(&a[0]).ok_or("get of non-map")?;
        Ok(m.borrow()
            .entries
            .get(s(&a[1]))
            .cloned()
            .unwrap_or_else(|| Value::from("")))
    });
    reg(
        t,
        "set",
        vec![any_map(), st(), any()],
        None,
        any_map(),
        |a| {
            let m = get_map(&a[0]).ok_or("set of non-map")?;
            m.borrow_mut()
                .entries
                .insert(s(&a[1]).to_string(), a[2].clone());
            Ok(a[0].clone())
        },
    );
    reg(t, "unset", vec![any_map(), st()], None, any_map(), |a| {
        let m = get_map(&a[0]).ok_or("unset of non-map")?;
        m.borrow_mut().entries.remove(s(&a[1]));
        Ok(a[0].clone())
    });
    reg(t, "hasKey", vec![any_map(), st()], None, Type::Bool, |a| {
        let m = get_map(&a[0]).ok_or("hasKey of non-map")?;
        Ok(Value::Bool(m.borrow().entries.contains_key(s(&a[1]))))
    });
    reg(
        t,
        "keys",
        vec![],
        Some(any_map()),
        Type::Slice(Rc::new(st())),
        |a| {
            // Go's map iteration order is random; charts sort the result (`keys | sortAlpha`).
            let mut v = Vec::new();
            for m in &a {
                if let Some(m) = get_map(m) {
                    v.extend(m.borrow().entries.keys().cloned());
                }
            }
            Ok(strings(v))
        },
    );
    reg(t, "merge", vec![any_map()], Some(any_map()), any(), |a| {
        for src in &a[1..] {
            merge_into(&a[0], src);
        }
        Ok(a[0].clone())
    });
}

fn go_space(c: char) -> bool {
    c.is_whitespace()
}

fn indent(n: i64, v: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", v.replace('\n', &format!("\n{pad}")))
}

/// strings.Replace(s, old, new, -1), including Go's rule for an empty `old`.
fn go_replace(src: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in src.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    src.replace(old, new)
}

/// strings.Split, including Go's rule for an empty separator.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(|c| c.to_string()).collect();
    }
    s.split(sep).map(String::from).collect()
}

/// reflect.DeepEqual for template values.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Uint8(x), Value::Uint8(y)) => x == y,
        (Value::Float64(x), Value::Float64(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Slice(x), Value::Slice(y)) => {
            x.elem == y.elem
                && x.items.len() == y.items.len()
                && x.items.iter().zip(&y.items).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.elem == y.elem
                && x.entries.len() == y.entries.len()
                && x.entries
                    .iter()
                    .all(|(k, v)| y.entries.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}
