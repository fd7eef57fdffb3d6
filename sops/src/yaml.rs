//! YAML documents into sops trees, as sops' YAML store reads them (go-yaml v3 nodes): one branch
//! per document, keys in order, plain scalars resolved by go-yaml v3 (`3` an int, `1.0` a float,
//! `2024-01-01` a timestamp, `yes` a string), quoted and block scalars strings, aliases expanded,
//! `<<` an ordinary key. Comments are not read: they are outside the MAC, and files whose
//! metadata makes comments decide what is encrypted are refused by the metadata layer.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::Error;
use crate::gotime::GoTime;
use crate::tree::{Branches, Entry, Node, size};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 200;
/// Most nodes a file may expand to through aliases.
pub const MAX_NODES: usize = 1_000_000;

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    line: usize,
    nodes: usize,
    /// Duplicate keys are refused in the first document (go-yaml's check when sops decodes it
    /// into a map first).
    check_duplicates: bool,
}

fn syntax(line: usize, message: impl Into<String>) -> Error {
    Error::Syntax {
        format: "YAML",
        line,
        message: message.into(),
    }
}

/// Reads every document of `text`.
///
/// # Errors
/// A syntax error (with its line), a document that is a list or a scalar, a key that is not a
/// string, a duplicate key in the first document, an invalid tagged value, too deep a nesting
/// or too many nodes.
pub fn load(text: &str) -> Result<Branches, Error> {
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
        line: 1,
        nodes: 0,
        check_duplicates: true,
    };
    let mut branches = Vec::new();
    loop {
        let (ev, _) = l.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                l.anchors.clear();
                let (ev, span) = l.next()?;
                let branch = match ev {
                    Event::DocumentEnd => Vec::new(),
                    ev => match l.node(ev, span, 0)? {
                        Node::Map(entries) => entries,
                        Node::Null => Vec::new(),
                        Node::List(_) => {
                            return Err(syntax(
                                l.line,
                                "YAML documents that are sequences are not supported",
                            ));
                        }
                        _ => {
                            return Err(syntax(
                                l.line,
                                "YAML documents that are values are not supported",
                            ));
                        }
                    },
                };
                branches.push(branch);
                l.check_duplicates = false;
            }
            other => return Err(syntax(l.line, format!("unexpected {other:?}"))),
        }
    }
    Ok(branches)
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Error> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => {
                self.line = span.start.line();
                Ok((ev, span))
            }
            Some(Err(e)) => Err(syntax(e.marker().line(), e.info())),
            None => Err(syntax(self.line, "unexpected end of the document")),
        }
    }

    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(syntax(
                self.line,
                format!("the document expands to more than {MAX_NODES} nodes"),
            ));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, Error> {
        if depth > MAX_DEPTH {
            return Err(syntax(
                self.line,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let line = span.start.line();
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                let n = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax(line, "unknown alias"))?;
                self.count(size(&n))?;
                return Ok(n);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                let n = scalar(&text, style, tag.as_deref()).map_err(|m| syntax(line, m))?;
                (n, anchor)
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
                (Node::List(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                let mut seen: HashMap<String, usize> = HashMap::new();
                loop {
                    let (ev, kspan) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let kline = kspan.start.line();
                    let raw = match &ev {
                        Event::Scalar(t, ..) => Some(t.to_string()),
                        _ => None,
                    };
                    let key = self.node(ev, kspan, depth + 1)?;
                    let key = match key {
                        Node::Str(s) => s,
                        other => {
                            return Err(syntax(
                                kline,
                                format!(
                                    "a map key is a {}: only string keys are supported",
                                    other.type_name()
                                ),
                            ));
                        }
                    };
                    if self.check_duplicates
                        && let Some(raw) = raw
                    {
                        if let Some(first) = seen.get(&raw) {
                            return Err(syntax(
                                kline,
                                format!("mapping key {raw:?} already defined at line {first}"),
                            ));
                        }
                        seen.insert(raw, kline);
                    }
                    let (vev, vspan) = self.next()?;
                    let value = self.node(vev, vspan, depth + 1)?;
                    entries.push(Entry::Pair(key, value));
                }
                (Node::Map(entries), anchor)
            }
            other => return Err(syntax(line, format!("unexpected {other:?}"))),
        };
        self.count(1)?;
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

/// `!!int`, `!!str`… for the core schema; other tags as written.
fn short_tag(handle: &str, suffix: &str) -> String {
    let full = if handle == "!!" {
        format!("tag:yaml.org,2002:{suffix}")
    } else {
        format!("{handle}{suffix}")
    };
    match full.strip_prefix("tag:yaml.org,2002:") {
        Some(rest) => format!("!!{rest}"),
        None => full,
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Node, String> {
    let quoted = style != ScalarStyle::Plain;
    match tag {
        Some("!!str") => Ok(Node::Str(text.to_owned())),
        None | Some("!") if quoted => Ok(Node::Str(text.to_owned())),
        Some("!!binary") => {
            let clean: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            let bytes = crate::cipher::go_base64(&clean)
                .ok_or("!!binary value contains invalid base64 data")?;
            String::from_utf8(bytes)
                .map(Node::Str)
                .map_err(|_| "a !!binary value that is not UTF-8 text is not supported".into())
        }
        None => resolve(text, None),
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            resolve(text, Some(t))
        }
        // Tags go-yaml cannot resolve leave the text as a string.
        Some(_) => Ok(Node::Str(text.to_owned())),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` (after `_` removal), as i128 with the u64 range too.
pub(crate) fn go_parse_int(s: &str) -> Option<i128> {
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
    let v = i128::from(u64::from_str_radix(digits, radix).ok()?);
    Some(if neg { -v } else { v })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
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

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: an overflow is an error there.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s.bytes().any(|c| c.is_ascii_digit())
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// How go-yaml v3 would read `s` written plain (the emitter quotes what is not a string).
pub(crate) fn resolve_for_emit(s: &str) -> Node {
    resolve_plain(s, None).unwrap_or(Node::Int(0))
}

/// go-yaml v3's `resolve` of a plain scalar, optionally under an explicit core tag.
fn resolve(s: &str, tag: Option<&str>) -> Result<Node, String> {
    let resolved = resolve_plain(s, tag)?;
    let Some(tag) = tag else {
        return Ok(resolved);
    };
    let got = match &resolved {
        Node::Int(_) => "!!int",
        Node::Float(_) => "!!float",
        Node::Bool(_) => "!!bool",
        Node::Null => "!!null",
        Node::Time(_) => "!!timestamp",
        _ => "!!str",
    };
    match (tag, &resolved) {
        (t, _) if t == got => Ok(resolved),
        ("!!float", Node::Int(i)) =>
        {
            #[allow(clippy::cast_precision_loss, reason = "Go's float64(int)")]
            Ok(Node::Float(*i as f64))
        }
        // go-yaml does not resolve these tags: the text stays a string.
        ("!!null", _) => Ok(Node::Str(s.to_owned())),
        _ => Err(format!("cannot decode {got} `{s}` as a {tag}")),
    }
}

fn resolve_plain(s: &str, tag: Option<&str>) -> Result<Node, String> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Node::Null),
        "true" | "True" | "TRUE" => return Ok(Node::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Node::Bool(false)),
        ".nan" | ".NaN" | ".NAN" => return Ok(Node::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Ok(Node::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Node::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return Ok(Node::Float(f));
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if (tag.is_none() || tag == Some("!!timestamp"))
                && let Some(t) = GoTime::parse_yaml(s)
            {
                return Ok(Node::Time(t));
            }
            let plain = s.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                return i64::try_from(i).map(Node::Int).map_err(|_| {
                    format!("`{s}` is above the largest integer sops supports (2^63-1)")
                });
            }
            if is_yaml_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Ok(Node::Float(f));
            }
        }
        _ => {}
    }
    Ok(Node::Str(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<Entry> {
        let mut b = load(text).unwrap();
        assert_eq!(b.len(), 1);
        b.remove(0)
    }

    fn pair(k: &str, v: Node) -> Entry {
        Entry::Pair(k.into(), v)
    }

    #[test]
    fn plain_scalars_should_resolve_as_go_yaml_v3() {
        let b = one(
            "a: 3\nb: 1.0\nc: yes\nd: 2024-01-02\ne: '3'\nf: 010\ng: 0x1F\nh: 1_000\ni: ~\nj: .5\nk: 1e400\nl: |\n  x\nm: !!str 3\nn: !!float 2\no: true\n",
        );
        let t = GoTime::parse_yaml("2024-01-02").unwrap();
        assert_eq!(
            b,
            vec![
                pair("a", Node::Int(3)),
                pair("b", Node::Float(1.0)),
                pair("c", Node::Str("yes".into())),
                pair("d", Node::Time(t)),
                pair("e", Node::Str("3".into())),
                pair("f", Node::Int(8)),
                pair("g", Node::Int(31)),
                pair("h", Node::Int(1000)),
                pair("i", Node::Null),
                pair("j", Node::Float(0.5)),
                pair("k", Node::Str("1e400".into())),
                pair("l", Node::Str("x\n".into())),
                pair("m", Node::Str("3".into())),
                pair("n", Node::Float(2.0)),
                pair("o", Node::Bool(true)),
            ]
        );
    }

    #[test]
    fn order_and_documents_should_be_kept() {
        let b = load("z: 1\na: 2\n---\nb: [x, {c: d}]\n---\n").unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0], vec![pair("z", Node::Int(1)), pair("a", Node::Int(2))]);
        assert_eq!(b[2], Vec::<Entry>::new());
    }

    #[test]
    fn invalid_documents_should_be_refused() {
        for bad in [
            "- a\n",
            "just a string\n",
            "a: 1\na: 2\n",
            "1: x\n",
            "a: !!int x\n",
            "a: [1\n",
            "? [a]\n: b\n",
        ] {
            assert!(load(bad).is_err(), "{bad:?}");
        }
        // Duplicates are checked in the first document only, as sops does.
        assert!(load("a: 1\n---\nb: 1\nb: 2\n").is_ok());
        let e = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn aliases_should_expand_and_bombs_should_be_refused() {
        let b = one("a: &x {k: v}\nb: *x\n<<: *x\n");
        assert_eq!(b[1], b[0].clone().rename("b"));
        assert!(matches!(&b[2], Entry::Pair(k, Node::Map(_)) if k == "<<"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("b{}", i - 1)
            };
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert!(load(&bomb).is_err());
        assert!(load(&"[".repeat(1000)).is_err());
    }

    impl Entry {
        fn rename(self, k: &str) -> Entry {
            match self {
                Entry::Pair(_, v) => Entry::Pair(k.into(), v),
                c => c,
            }
        }
    }
}
