//! YAML text back to JSON the way kustomize-controller reads a substituted object:
//! `sigs.k8s.io/yaml.YAMLToJSON`, which decodes with go-yaml v2 (YAML 1.1 rules) and then
//! encodes JSON with Go's `encoding/json`. So after substitution `replicas: 3` is the number 3,
//! `enabled: on` is `true`, `version: 1.0` is the number 1 (Go prints an integral float without
//! a fraction), `date: 2024-01-01` stays the string it was, and a quoted scalar is a string.
//! Duplicate keys: the last wins; `<<` merges as go-yaml v2 does (a later merge overrides
//! earlier keys). Only the first document is read, as `YAMLToJSON` does.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 200;
/// Most nodes one document may expand to (aliases included), so an alias bomb is refused.
const MAX_NODES: usize = 1_000_000;

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    line: usize,
}

/// Parses the first document of `text` into JSON. An empty stream is `null`.
///
/// # Errors
/// A YAML syntax error (with its line, no text of the document), a key JSON cannot hold (a
/// list, a map, `null`), a value JSON cannot hold (`.inf`, `.nan`), too deep a nesting or too
/// many nodes.
pub fn parse_first_document(text: &str) -> Result<Value, String> {
    // libyaml reads NEL (U+0085) as a line break, the YAML 1.2 parser does not.
    let normalised;
    let text = if text.contains('\u{85}') {
        normalised = text.replace('\u{85}', "\n");
        normalised.as_str()
    } else {
        text
    };
    let mut l = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        line: 1,
    };
    loop {
        let (ev, span) = l.next()?;
        match ev {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => return Ok(Value::Null),
            Event::DocumentStart(_) => {
                let (ev, span) = l.next()?;
                if matches!(ev, Event::DocumentEnd) {
                    return Ok(Value::Null);
                }
                return l.node(ev, span, 0);
            }
            other => {
                let _ = span;
                return Err(l.err(&format!("unexpected {other:?}")));
            }
        }
    }
}

impl<'a> Loader<'a> {
    fn err(&self, what: &str) -> String {
        format!("line {}: {what}", self.line)
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), String> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => {
                self.line = span.start.line();
                Ok((ev, span))
            }
            Some(Err(e)) => Err(format!("line {}: {}", e.marker().line(), e.info())),
            None => Err(self.err("unexpected end of the document")),
        }
    }

    fn count(&mut self, v: &Value) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(size(v));
        if self.nodes > MAX_NODES {
            return Err(self.err(&format!(
                "the document expands to more than {MAX_NODES} nodes"
            )));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let line = span.start.line();
        let (v, anchor) = match ev {
            Event::Alias(id) => {
                let v = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.err("unknown alias"))?;
                self.count(&v)?;
                return Ok(v);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let v = scalar(&text, style, tag.as_deref())
                    .map_err(|m| format!("line {line}: {m}"))?;
                (v, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                loop {
                    let (ev, kspan) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let is_merge =
                        matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
                    let key = self.node(ev, kspan, depth + 1)?;
                    let (vev, vspan) = self.next()?;
                    let value = self.node(vev, vspan, depth + 1)?;
                    if is_merge {
                        merge(&mut map, value).map_err(|m| format!("line {line}: {m}"))?;
                        continue;
                    }
                    let key = json_key(&key).map_err(|m| format!("line {line}: {m}"))?;
                    map.insert(key, value);
                }
                (Value::Object(map), anchor)
            }
            other => return Err(self.err(&format!("unexpected {other:?}"))),
        };
        self.nodes = self.nodes.saturating_add(1);
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        Ok(v)
    }
}

fn size(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(size).fold(1, usize::saturating_add),
        Value::Object(m) => m.values().map(size).fold(1, usize::saturating_add),
        _ => 1,
    }
}

/// go-yaml v2 merges into the same map, so a merged key overrides one set before it.
fn merge(map: &mut Map<String, Value>, value: Value) -> Result<(), String> {
    match value {
        Value::Object(m) => {
            map.extend(m);
            Ok(())
        }
        Value::Array(items) => {
            // go-yaml v2 merges a sequence of maps last first, so earlier maps win.
            for it in items.into_iter().rev() {
                match it {
                    Value::Object(m) => map.extend(m),
                    _ => {
                        return Err(
                            "map merge requires map or sequence of maps as the value".into()
                        );
                    }
                }
            }
            Ok(())
        }
        _ => Err("map merge requires map or sequence of maps as the value".into()),
    }
}

/// A map key as `YAMLToJSON` writes it.
fn json_key(k: &Value) -> Result<String, String> {
    match k {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) if n.is_f64() => {
            // strconv.FormatFloat(f, 'g', -1, 32)
            let f = n.as_f64().unwrap_or_default();
            #[allow(
                clippy::cast_possible_truncation,
                reason = "Go formats keys as float32"
            )]
            let g = f as f32;
            Ok(go_g(f64::from(g)))
        }
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err("a `null` map key cannot be written as JSON".into()),
        _ => Err("a list or map cannot be a map key".into()),
    }
}

/// Go's `%g` with the shortest representation (enough for map keys).
fn go_g(f: f64) -> String {
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i64
    };
    if (-4..21).contains(&exp) {
        let s = format!("{f}");
        s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
    } else {
        let s = format!("{f:e}");
        // Go writes the exponent with a sign and at least two digits: 1e+21.
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    if let Some(tag) = tag {
        match tag {
            "!!str" | "tag:yaml.org,2002:str" | "!!binary" | "tag:yaml.org,2002:binary" => {
                return Ok(Value::String(text.to_owned()));
            }
            "!!null" | "tag:yaml.org,2002:null" => return Ok(Value::Null),
            _ => {}
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_owned()));
    }
    resolve(text)
}

/// go-yaml v2's resolution of a plain scalar, then Go's JSON encoding of the result.
pub(super) fn resolve(s: &str) -> Result<Value, String> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false));
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("json: unsupported value: `{s}` (infinity or NaN)"));
        }
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return float(f);
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            // A timestamp (`2024-01-01`) is kept as its text by go-yaml v2; none of them parses
            // as a number below, so they fall through to the string case.
            let plain = s.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                if let Ok(i) = i64::try_from(i) {
                    return Ok(Value::Number(i.into()));
                }
                if let Ok(u) = u64::try_from(i)
                    && !plain.starts_with('-')
                {
                    return Ok(Value::Number(u.into()));
                }
            }
            if is_yaml_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return float(f);
            }
            // go-yaml v2 also reads `0b…` binary literals (Go's ParseInt base 0 does already).
        }
        _ => {}
    }
    Ok(Value::String(s.to_owned()))
}

/// Go's `encoding/json` writes an integral float without a fraction (`1` for 1.0), which the API
/// server then reads as an integer.
fn float(f: f64) -> Result<Value, String> {
    if !f.is_finite() {
        return Err("json: unsupported value: infinity".into());
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        #[allow(clippy::cast_possible_truncation, reason = "checked range")]
        if f.abs() < 9.0e18 {
            return Ok(Value::Number((f as i64).into()));
        }
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "json: unsupported value".into())
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint`, as one wide integer: sign, `0x`, `0o`,
/// `0b` or a leading `0` (octal).
fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    let v = i128::from(v);
    Some(if neg { -v } else { v })
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms the YAML float pattern admits.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s.bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_should_resolve_as_go_yaml_v2() {
        let v = parse_first_document(
            "a: 3\nb: on\nc: 1.0\nd: 2024-01-01\ne: '3'\nf: 010\ng: 0x1F\nh: 1_000\ni: ~\nj: no\nk: 0.5\nl: 1e3\nm: -.5\nbig: 18446744073709551615\no: \"yes\"\np: y\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 3, "b": true, "c": 1, "d": "2024-01-01", "e": "3", "f": 8, "g": 31,
                   "h": 1000, "i": null, "j": false, "k": 0.5, "l": 1000, "m": -0.5,
                   "big": 18446744073709551615u64, "o": "yes", "p": true})
        );
    }

    #[test]
    fn keys_should_become_json_strings() {
        let v = parse_first_document("1: a\ntrue: b\n1.5: c\n").unwrap();
        assert_eq!(v, json!({"1": "a", "true": "b", "1.5": "c"}));
        assert!(parse_first_document("~: a\n").is_err());
        assert!(parse_first_document("[a]: b\n").is_err());
    }

    #[test]
    fn duplicates_and_merges_should_follow_go_yaml_v2() {
        assert_eq!(
            parse_first_document("a: 1\na: 2\n").unwrap(),
            json!({"a": 2})
        );
        let v = parse_first_document("b: &b {k: 1, l: 1}\nm:\n  k: 0\n  <<: *b\n  l: 2\n").unwrap();
        assert_eq!(
            v["m"],
            json!({"k": 1, "l": 2}),
            "a merge overrides keys set before it"
        );
        assert_eq!(
            parse_first_document("y: 1\n").unwrap(),
            json!({"true": 1}),
            "YAML 1.1 keys"
        );
    }

    #[test]
    fn infinities_and_bombs_should_be_refused() {
        assert!(parse_first_document("a: .inf\n").is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse_first_document(&bomb).unwrap_err();
        assert!(e.contains("nodes"), "{e}");
        assert!(parse_first_document(&"[".repeat(500)).is_err());
    }

    #[test]
    fn only_the_first_document_should_be_read() {
        assert_eq!(
            parse_first_document("a: 1\n---\nb: 2\n").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(parse_first_document("").unwrap(), Value::Null);
        let e = parse_first_document("a: [1\n").unwrap_err();
        assert!(e.starts_with("line "), "{e}");
    }

    #[test]
    fn go_float_keys_should_format_like_go() {
        assert_eq!(go_g(1.5), "1.5");
        assert_eq!(go_g(2.0), "2");
        assert_eq!(go_g(1e21), "1e+21");
    }
}
