//! YAML text to JSON values, resolving plain scalars the way go-yaml v3 does when kustomize
//! converts its nodes to JSON (`1_000` is 1000, `010` is 8, `yes` is a string, plain timestamps
//! become RFC 3339 strings).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::gofmt;

/// Deepest nesting of collections accepted, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 200;

/// A syntax or structure error in a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    last_line: usize,
    /// Keys from the document root to the node being read.
    keys: Vec<String>,
    /// Maps under `metadata` whose scalar values are read as strings, verbatim.
    verbatim: &'a [&'a str],
    /// Read `yes`/`no`/`on`/`off`/`y`/`n` as booleans (YAML 1.1, as kustomization files are).
    yaml11: bool,
}

/// Parses every document of a YAML stream. Empty documents come back as `Value::Null`.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_documents_verbatim(text, &[])
}

/// Like [`parse_documents`], but the scalar values of the maps `metadata.<name>` named in
/// `verbatim` are kept as strings with their source text, as kustomize does for annotations
/// (`1.0` stays `"1.0"`, `null` becomes `"null"`).
pub fn parse_documents_verbatim<'a>(
    text: &'a str,
    verbatim: &'a [&'a str],
) -> Result<Vec<Value>, YamlError> {
    parse_with(text, verbatim, false)
}

/// Parses a kustomization file: kustomize reads those with YAML 1.1 rules, so `yes`, `no`,
/// `on`, `off`, `y` and `n` are booleans there.
pub fn parse_kustomization_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    parse_with(text, &[], true)
}

fn parse_with(text: &str, verbatim: &[&str], yaml11: bool) -> Result<Vec<Value>, YamlError> {
    // libyaml (and so kustomize) reads NEL (U+0085) as a line break, as YAML 1.1 says; the
    // YAML 1.2 parser does not, so normalise it first.
    if text.contains('\u{85}') {
        let normalised = text.replace('\u{85}', "\n");
        return parse_normalised(&normalised, verbatim, yaml11);
    }
    parse_normalised(text, verbatim, yaml11)
}

fn parse_normalised<'a>(
    text: &'a str,
    verbatim: &'a [&'a str],
    yaml11: bool,
) -> Result<Vec<Value>, YamlError> {
    let mut l = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        last_line: 1,
        keys: Vec::new(),
        verbatim,
        yaml11,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, _) = l.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                l.anchors.clear();
                let (ev, span) = l.next()?;
                if matches!(ev, Event::DocumentEnd) {
                    docs.push(Value::Null);
                    continue;
                }
                let v = l.node(ev, span, 0)?;
                docs.push(v);
            }
            other => return Err(l.err(format!("unexpected event {other:?}"))),
        }
    }
    Ok(docs)
}

/// Parses a stream that must hold at most one document.
pub fn parse_one(text: &str) -> Result<Value, YamlError> {
    let docs = parse_documents(text)?;
    Ok(docs
        .into_iter()
        .find(|d| !d.is_null())
        .unwrap_or(Value::Null))
}

impl<'a> Loader<'a> {
    fn err(&self, message: String) -> YamlError {
        YamlError {
            line: self.last_line,
            message,
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => {
                self.last_line = span.start.line();
                Ok((ev, span))
            }
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                message: e.info().to_string(),
            }),
            None => Err(self.err("unexpected end of stream".into())),
        }
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Value, YamlError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match ev {
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| self.err("unknown alias".into())),
            Event::Scalar(text, style, anchor, tag)
                if self.keys.len() == 3
                    && self.keys[0] == "metadata"
                    && self.verbatim.contains(&self.keys[1].as_str()) =>
            {
                let _ = (style, tag);
                let v = Value::String(text.to_string());
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Scalar(text, _, anchor, _)
                if self.keys.len() == 3
                    && self.keys[0] == "metadata"
                    && self.verbatim.contains(&self.keys[1].as_str()) =>
            {
                let v = Value::String(text.to_string());
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Scalar(text, ScalarStyle::Plain, anchor, None)
                if self.yaml11
                    && matches!(
                        text.as_ref(),
                        "y" | "Y"
                            | "yes"
                            | "Yes"
                            | "YES"
                            | "on"
                            | "On"
                            | "ON"
                            | "n"
                            | "N"
                            | "no"
                            | "No"
                            | "NO"
                            | "off"
                            | "Off"
                            | "OFF"
                    ) =>
            {
                let v = Value::Bool(matches!(
                    text.as_ref(),
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
                ));
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag_suffix = tag.as_ref().map(|t| (t.handle.clone(), t.suffix.clone()));
                let v = scalar_value(
                    &text,
                    style,
                    tag_suffix.as_ref().map(|(h, s)| (h.as_str(), s.as_str())),
                )
                .map_err(|m| YamlError {
                    line: span.start.line(),
                    message: m,
                })?;
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
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
                let v = Value::Array(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                let mut merged: Vec<Map<String, Value>> = Vec::new();
                loop {
                    let (ev, kspan) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let is_merge =
                        matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
                    let saved = std::mem::take(&mut self.keys);
                    let key = self.node(ev, kspan, depth + 1);
                    self.keys = saved;
                    let key = key?;
                    let key = match key {
                        Value::String(s) => s,
                        Value::Null => "null".to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(YamlError {
                                line: kspan.start.line(),
                                message: "mapping key must be a scalar".into(),
                            });
                        }
                    };
                    let (vev, vspan) = self.next()?;
                    self.keys.push(key.clone());
                    let value = self.node(vev, vspan, depth + 1);
                    self.keys.pop();
                    let value = value?;
                    if is_merge {
                        match value {
                            Value::Object(m) => merged.push(m),
                            Value::Array(items) => {
                                for it in items {
                                    match it {
                                        Value::Object(m) => merged.push(m),
                                        _ => return Err(YamlError { line: vspan.start.line(), message: "map merge requires map or sequence of maps as the value".into() }),
                                    }
                                }
                            }
                            _ => {
                                return Err(YamlError {
                                    line: vspan.start.line(),
                                    message:
                                        "map merge requires map or sequence of maps as the value"
                                            .into(),
                                });
                            }
                        }
                        continue;
                    }
                    // Kustomization files go through go-yaml v2, where the last duplicate wins.
                    if map.contains_key(&key) && !self.yaml11 {
                        return Err(YamlError {
                            line: kspan.start.line(),
                            message: format!("mapping key {key:?} already defined"),
                        });
                    }
                    map.insert(key, value);
                }
                for m in merged {
                    for (k, v) in m {
                        map.entry(k).or_insert(v);
                    }
                }
                let v = Value::Object(map);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(self.err(format!("unexpected event {other:?}"))),
        }
    }
}

fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<(&str, &str)>,
) -> Result<Value, String> {
    if let Some((handle, suffix)) = tag
        && (handle == "!!" || handle == "tag:yaml.org,2002:")
    {
        match suffix {
            "str" | "binary" => return Ok(Value::String(text.to_string())),
            "null" => return Ok(Value::Null),
            _ => {}
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    resolve_plain(text)
}

/// go-yaml v3's resolution of a plain scalar.
pub fn resolve_plain(s: &str) -> Result<Value, String> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Err(format!("json: unsupported value: {s}")),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if let Some(f) = gofmt::go_parse_float(s) {
                return float_value(f, s);
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(ts) = gofmt::timestamp_rfc3339nano(s) {
                return Ok(Value::String(ts));
            }
            let plain = s.replace('_', "");
            if let Some(Some(v)) = gofmt::go_parse_int(&plain) {
                if let Ok(i) = i64::try_from(v) {
                    return Ok(Value::Number(i.into()));
                }
                if let Ok(u) = u64::try_from(v)
                    && !plain.starts_with(['+', '-'])
                {
                    return Ok(Value::Number(u.into()));
                }
            }
            if gofmt::is_yaml_style_float(&plain)
                && let Some(f) = gofmt::go_parse_float(&plain)
            {
                return float_value(f, s);
            }
        }
        _ => {}
    }
    Ok(Value::String(s.to_string()))
}

fn float_value(f: f64, s: &str) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("json: unsupported value: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_like_go_yaml_v3() {
        let v =
            parse_one("a: 1_000\nb: 010\nc: yes\nd: 0x1F\ne: '1'\nf: 1.0\ng: ~\nh: 2024-01-01\n")
                .unwrap();
        assert_eq!(
            v,
            json!({"a": 1000, "b": 8, "c": "yes", "d": 31, "e": "1", "f": 1.0, "g": null, "h": "2024-01-01T00:00:00Z"})
        );
    }

    #[test]
    fn merges_and_aliases() {
        let v = parse_one("base: &b {k: v}\nm:\n  <<: *b\n  z: 1\n").unwrap();
        assert_eq!(v["m"], json!({"k": "v", "z": 1}));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(1000);
        assert!(parse_documents(&s).is_err());
    }
}
