//! Go's `encoding/json` encoding of template values (`json.Marshal`, `MarshalIndent`, and an
//! `Encoder` with `SetEscapeHTML(false)`), for `toJson`, `toPrettyJson`, `toRawJson`.

use std::rc::Rc;

use crate::gofmt;
use crate::value::{Type, Value};

/// Options of one encoding.
#[derive(Clone, Copy)]
pub struct Style {
    /// `MarshalIndent(v, "", indent)`.
    pub indent: Option<&'static str>,
    /// Escape `<`, `>`, `&` (the default of `json.Marshal`).
    pub html: bool,
}

/// `json.Marshal`.
pub const MARSHAL: Style = Style {
    indent: None,
    html: true,
};

/// Encodes `v`; the error is Go's (`json: unsupported type: func() string`).
pub fn encode(v: &Value, style: Style) -> Result<String, String> {
    let mut out = String::new();
    value(v, style, 0, &mut out)?;
    Ok(out)
}

fn newline(style: Style, depth: usize, out: &mut String) {
    if let Some(ind) = style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn value(v: &Value, style: Style, depth: usize, out: &mut String) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Uint8(u) => out.push_str(&u.to_string()),
        Value::Float64(f) => float(*f, out)?,
        Value::String(s) => string(s, style.html, out),
        Value::Bytes(b) => {
            use base64::Engine;
            string(
                &base64::engine::general_purpose::STANDARD.encode(b),
                style.html,
                out,
            )
        }
        Value::Slice(sl) => {
            if sl.nil {
                out.push_str("null");
                return Ok(());
            }
            if sl.elem == Type::Uint8 {
                let bytes: Vec<u8> = sl
                    .items
                    .iter()
                    .map(|v| if let Value::Uint8(b) = v { *b } else { 0 })
                    .collect();
                return value(&Value::Bytes(Rc::from(bytes)), style, depth, out);
            }
            out.push('[');
            if sl.items.is_empty() {
                out.push(']');
                return Ok(());
            }
            for (i, it) in sl.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(style, depth + 1, out);
                value(it, style, depth + 1, out)?;
            }
            newline(style, depth, out);
            out.push(']');
        }
        Value::Map(m) => {
            let entries: Vec<(String, Value)> = m
                .borrow()
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push('{');
            if entries.is_empty() {
                out.push('}');
                return Ok(());
            }
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(style, depth + 1, out);
                string(k, style.html, out);
                out.push(':');
                if style.indent.is_some() {
                    out.push(' ');
                }
                value(v, style, depth + 1, out)?;
            }
            newline(style, depth, out);
            out.push('}');
        }
        Value::Complex(..) => return Err("json: unsupported type: complex128".into()),
        Value::Func(f) => return Err(format!("json: unsupported type: {}", f.signature())),
        Value::Object(o) => return Err(format!("json: unsupported type: {}", o.type_name())),
    }
    Ok(())
}

/// Go's float encoding: `%f`-like below 1e21 and above 1e-6, else exponent form with `e-7`.
pub fn float(f: f64, out: &mut String) -> Result<(), String> {
    if f.is_nan() || f.is_infinite() {
        return Err(format!(
            "json: unsupported value: {}",
            gofmt::format_float(f, 'g', -1)
        ));
    }
    let a = f.abs();
    let e = a != 0.0 && !(1e-6..1e21).contains(&a);
    let mut b = gofmt::format_float(f, if e { 'e' } else { 'f' }, -1);
    if e {
        let n = b.len();
        if n >= 4 && &b[n - 4..n - 2] == "e-" && &b[n - 2..n - 1] == "0" {
            b.remove(n - 2);
        }
    }
    out.push_str(&b);
    Ok(())
}

/// Go's string encoding (`\u003c` for `<` when `html`, `\u2028`, control characters).
pub fn string(s: &str, html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
