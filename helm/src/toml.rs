//! Helm's `toToml` / `mustToToml`: BurntSushi/toml v1.6.0's encoder (`toml.NewEncoder(…)
//! .Encode(v)`) for template values.

use crate::gofmt;
use crate::value::{Type, Value};

struct Enc {
    out: String,
    written: bool,
}

type Key = Vec<String>;

fn bare(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|r| r.is_ascii_alphanumeric() || r == '_' || r == '-')
}

fn dbl_quoted(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn piece(k: &str) -> String {
    if k.is_empty() {
        "\"\"".into()
    } else if bare(k) {
        k.to_string()
    } else {
        format!("\"{}\"", dbl_quoted(k))
    }
}

fn key_string(k: &Key) -> String {
    k.iter().map(|p| piece(p)).collect::<Vec<_>>().join(".")
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum TomlType {
    Scalar,
    Array,
    Hash,
    ArrayHash,
}

/// `tomlTypeOfGo`: `None` for nil.
fn toml_type(v: &Value) -> Result<Option<TomlType>, String> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Map(_) => TomlType::Hash,
        Value::Slice(s) => {
            if s.nil {
                return Ok(None);
            }
            if s.items.is_empty() {
                TomlType::Array
            } else {
                let mut all_hash = true;
                for it in &s.items {
                    match toml_type(it)? {
                        None => return Err("toml: cannot encode array with nil element".into()),
                        Some(TomlType::Hash) => {}
                        Some(_) => all_hash = false,
                    }
                }
                if all_hash {
                    TomlType::ArrayHash
                } else {
                    TomlType::Array
                }
            }
        }
        Value::Bytes(_) => TomlType::Array,
        Value::Bool(_)
        | Value::Int(_)
        | Value::Int64(_)
        | Value::Uint(_)
        | Value::Uint8(_)
        | Value::Float64(_) => TomlType::Scalar,
        Value::String(_) | Value::Duration(_) => TomlType::Scalar,
        Value::Complex(..) | Value::Func(_) | Value::Object(_) => {
            return Err(format!("unsupported type: {}", v.kind_name()));
        }
    }))
}

fn is_table(v: &Value) -> Result<bool, String> {
    Ok(matches!(
        toml_type(v)?,
        Some(TomlType::Hash | TomlType::ArrayHash)
    ))
}

impl Enc {
    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.written = true;
    }

    fn newline(&mut self) {
        if self.written {
            self.write("\n");
        }
    }

    fn indent(k: &Key) -> String {
        "  ".repeat(k.len().saturating_sub(1))
    }

    fn encode(&mut self, key: &Key, v: &Value) -> Result<(), String> {
        match v {
            Value::Nil => Ok(()),
            Value::Map(_) => self.table(key, v),
            Value::Slice(s) if s.nil => Ok(()),
            Value::Slice(_) if toml_type(v)? == Some(TomlType::ArrayHash) => {
                self.array_of_tables(key, v)
            }
            Value::Complex(..) | Value::Func(_) | Value::Object(_) => Err(format!(
                "unsupported type for key '{}': {}",
                key_string(key),
                v.kind_name()
            )),
            _ => self.key_value(key, v, false),
        }
    }

    fn key_value(&mut self, key: &Key, v: &Value, inline: bool) -> Result<(), String> {
        if key.is_empty() {
            return self.element(v);
        }
        let s = format!("{}{} = ", Self::indent(key), piece(&key[key.len() - 1]));
        self.write(&s);
        self.element(v)?;
        if !inline {
            self.newline();
        }
        Ok(())
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::String(s) => self.write(&format!("\"{}\"", dbl_quoted(s))),
            Value::Duration(d) => {
                self.write(&format!("\"{}\"", dbl_quoted(&crate::duration::format(*d))))
            }
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.write(&i.to_string()),
            Value::Uint(u) => self.write(&u.to_string()),
            Value::Uint8(u) => self.write(&u.to_string()),
            Value::Float64(f) => {
                if f.is_nan() {
                    self.write(if f.is_sign_negative() { "-nan" } else { "nan" });
                } else if f.is_infinite() {
                    self.write(if *f < 0.0 { "-inf" } else { "inf" });
                } else {
                    let s = gofmt::format_float(*f, 'g', -1);
                    let s = if s.contains(['e', '.']) {
                        s
                    } else {
                        format!("{s}.0")
                    };
                    self.write(&s);
                }
            }
            Value::Slice(s) => {
                let items = s.items.clone();
                self.write("[");
                for (i, it) in items.iter().enumerate() {
                    if it.is_nil() {
                        return Err(format!(
                            "{PANIC}reflect: call of reflect.Value.Interface on zero Value"
                        ));
                    }
                    self.element(it)?;
                    if i + 1 != items.len() {
                        self.write(", ");
                    }
                }
                self.write("]");
            }
            Value::Bytes(b) => {
                let items: Vec<Value> = b.iter().map(|x| Value::Uint8(*x)).collect();
                self.element(&Value::typed_slice(Type::Uint8, items))?;
            }
            Value::Map(_) => self.map(&Vec::new(), v, true)?,
            Value::Nil => {
                return Err(format!(
                    "{PANIC}reflect: call of reflect.Value.Interface on zero Value"
                ));
            }
            v => return Err(format!("unexpected type: {}", v.type_name())),
        }
        Ok(())
    }

    fn array_of_tables(&mut self, key: &Key, v: &Value) -> Result<(), String> {
        if key.is_empty() {
            return Err("toml: top-level values must be Go maps or structs".into());
        }
        let Value::Slice(s) = v else { return Ok(()) };
        for it in s.items.clone() {
            if it.is_nil() {
                continue;
            }
            self.newline();
            let h = format!("{}[[{}]]", Self::indent(key), key_string(key));
            self.write(&h);
            self.newline();
            self.map(key, &it, false)?;
        }
        Ok(())
    }

    fn table(&mut self, key: &Key, v: &Value) -> Result<(), String> {
        if key.len() == 1 {
            self.newline();
        }
        if !key.is_empty() {
            let h = format!("{}[{}]", Self::indent(key), key_string(key));
            self.write(&h);
            self.newline();
        }
        self.map(key, v, false)
    }

    fn map(&mut self, key: &Key, v: &Value, inline: bool) -> Result<(), String> {
        let Value::Map(m) = v else { return Ok(()) };
        let entries: Vec<(String, Value)> = m
            .borrow()
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut direct = Vec::new();
        let mut sub = Vec::new();
        for (k, val) in entries {
            if is_table(&val)? {
                sub.push((k, val));
            } else {
                direct.push((k, val));
            }
        }
        if inline {
            self.write("{");
        }
        let trail = !sub.is_empty();
        for (group, trail_c) in [(direct, trail), (sub, false)] {
            let n = group.len();
            for (i, (k, val)) in group.into_iter().enumerate() {
                if val.is_nil() || matches!(&val, Value::Slice(s) if s.nil) {
                    continue;
                }
                if inline {
                    self.key_value(&vec![k], &val, true)?;
                    if trail_c || i + 1 != n {
                        self.write(", ");
                    }
                } else {
                    let mut k2 = key.clone();
                    k2.push(k);
                    self.encode(&k2, &val)?;
                }
            }
        }
        if inline {
            self.write("}");
        }
        Ok(())
    }
}

/// Marks errors that are Go panics inside the encoder (they escape `toToml` as template
/// errors), as opposed to the encoder's own errors (which `toToml` returns as its output).
const PANIC: &str = "\u{0}panic:";

/// How encoding failed.
pub enum TomlError {
    /// The encoder's error (`toml: cannot encode array with nil element` …).
    Encode(String),
    /// A Go runtime panic inside the encoder (nil values where reflection needs a value).
    Panic(String),
}

/// `toml.NewEncoder(b).Encode(v)`: the document, or how it failed.
///
/// # Errors
/// See [`TomlError`].
pub fn encode(v: &Value) -> Result<String, TomlError> {
    if v.is_nil() {
        return Err(TomlError::Panic(
            "reflect: call of reflect.Value.Type on zero Value".into(),
        ));
    }
    let mut e = Enc {
        out: String::new(),
        written: false,
    };
    match e.encode(&Vec::new(), v) {
        Ok(()) => Ok(e.out),
        Err(m) => match m.strip_prefix(PANIC) {
            Some(p) => Err(TomlError::Panic(p.to_string())),
            None => Err(TomlError::Encode(m)),
        },
    }
}
