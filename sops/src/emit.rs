//! Decrypted trees written back as sops writes them (`EmitPlainFile`): JSON through Go's
//! `encoding/json` and `json.Indent` with tabs, YAML through go-yaml v3 with an indent of 4 (no
//! line folding), dotenv (see [`crate::dotenv`]) and binary (the `data` string as it is).
//!
//! Comments of YAML files are not read, so they are not written either: that is the one known
//! difference from `sops --decrypt` (their content is outside the MAC).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;
use crate::tree::{Entry, Node};

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (`'G'` when `upper`).
pub fn go_format_g(f: f64, upper: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.2345e6`.
    let e = format!("{:e}", f.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    let nd = i32::try_from(digits.len()).unwrap_or(1);
    if !(-4..6).contains(&exp) {
        // %e with nd-1 decimals, exponent with a sign and at least two digits.
        let (first, rest) = digits.split_at(1);
        let mut s = format!("{sign}{first}");
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        let _ = write!(
            s,
            "{}{esign}{:02}",
            if upper { 'E' } else { 'e' },
            exp.unsigned_abs()
        );
        return s;
    }
    // %f with max(nd - (exp+1), 0) decimals.
    let dp = exp + 1;
    let mut s = String::from(sign);
    if dp <= 0 {
        s.push_str("0.");
        for _ in 0..(-dp) {
            s.push('0');
        }
        s.push_str(&digits);
    } else if dp >= nd {
        s.push_str(&digits);
        for _ in 0..(dp - nd) {
            s.push('0');
        }
    } else {
        let (a, b) = digits.split_at(usize::try_from(dp).unwrap_or(0));
        s.push_str(a);
        s.push('.');
        s.push_str(b);
    }
    s
}

/// Go's `strconv.FormatFloat(f, 'f', 1, 64)`.
pub fn go_format_fixed1(f: f64) -> String {
    format!("{f:.1}")
}

/// Go's `encoding/json` float encoding.
fn json_float(f: f64) -> Result<String, Error> {
    if !f.is_finite() {
        return Err(Error::Emit(format!(
            "json: unsupported value: {}",
            go_format_g(f, false)
        )));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // 'e' with the shortest digits, then `e-07` → `e-7`.
        let g = go_format_g(f, false);
        let s = if g.contains('e') { g } else { format!("{f:e}") };
        let (m, e) = s.split_once('e').unwrap_or((&s, "+00"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", e.trim_start_matches('+')),
        };
        let digits = digits.trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        return Ok(format!("{m}e{sign}{digits}"));
    }
    Ok(crate::tree::go_format_float_f(f))
}

/// Go's `json.Marshal` of a string (HTML-safe escaping).
fn json_string(s: &str, out: &mut String) {
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
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value(n: &Node, depth: usize, out: &mut String) -> Result<(), Error> {
    let indent = |out: &mut String, d: usize| {
        out.push('\n');
        for _ in 0..d {
            out.push('\t');
        }
    };
    match n {
        Node::Map(entries) => {
            let pairs: Vec<(&String, &Node)> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Pair(k, v) => Some((k, v)),
                    Entry::Comment(_) => None,
                })
                .collect();
            if pairs.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                json_string(k, out);
                out.push_str(": ");
                json_value(v, depth + 1, out)?;
            }
            indent(out, depth);
            out.push('}');
        }
        Node::List(items) => {
            let items: Vec<&Node> = items
                .iter()
                .filter(|i| !matches!(i, Node::Comment(_)))
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                json_value(v, depth + 1, out)?;
            }
            indent(out, depth);
            out.push(']');
        }
        Node::Str(s) => json_string(s, out),
        // Go's encoder writes U+FFFD for each invalid byte sequence.
        Node::Raw(b) => json_string(&String::from_utf8_lossy(b), out),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Float(f) => out.push_str(&json_float(*f)?),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Null => out.push_str("null"),
        Node::Time(t) => json_string(&t.rfc3339_nano(), out),
        Node::Bytes(b) => json_string(&STANDARD.encode(b), out),
        Node::Comment(_) => {
            return Err(Error::Emit(
                "a comment value cannot be written as JSON".into(),
            ));
        }
    }
    Ok(())
}

/// sops' JSON `EmitPlainFile`: the first document, tab-indented, with a final newline.
///
/// # Errors
/// A float that is not finite, a comment value.
pub fn json(entries: &[Entry]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    json_value(&Node::Map(entries.to_vec()), 0, &mut out)?;
    out.push('\n');
    Ok(out.into_bytes())
}

/// sops' binary `EmitPlainFile`: the `data` string.
///
/// # Errors
/// No `data` key, or one that is not a string (as sops).
pub fn binary(branches: &[Vec<Entry>]) -> Result<Vec<u8>, Error> {
    let [branch] = branches else {
        return Err(Error::Emit(
            "error emitting binary store: there must be exactly one tree branch".into(),
        ));
    };
    for e in branch {
        if let Entry::Pair(k, v) = e
            && k == "data"
        {
            return match v {
                Node::Str(s) => Ok(s.as_bytes().to_vec()),
                Node::Raw(b) => Ok(b.clone()),
                _ => Err(Error::Emit(
                    "error emitting binary store: 'data' key in tree does not have a string value"
                        .into(),
                )),
            };
        }
    }
    Err(Error::Emit(
        "error emitting binary store: no binary data found in tree".into(),
    ))
}

// ---- YAML (go-yaml v3 emitter, indent 4, unlimited width) ----

const INDENT: i32 = 4;

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_printable(c: char) -> bool {
    let c = u32::from(c);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

struct Analysis {
    multiline: bool,
    plain: bool,
    single: bool,
    block: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, block context.
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut indicators = value.starts_with("---") || value.starts_with("...");
    let (mut breaks, mut special) = (false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) =
        (false, false, false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws = i + 1 >= n || is_blank(chars[i + 1]) || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => indicators = true,
                '?' | ':' | '-' if followed_by_ws => indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => indicators = true,
                '#' if preceded_by_ws => indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            lead_space |= i == 0;
            trail_space |= i + 1 == n;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            breaks = true;
            lead_break |= i == 0;
            trail_break |= i + 1 == n;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis {
        multiline: breaks,
        plain: true,
        single: true,
        block: true,
    };
    if lead_space || lead_break || trail_space || trail_break {
        a.plain = false;
    }
    if trail_space {
        a.block = false;
    }
    if break_space {
        a.plain = false;
        a.single = false;
    }
    if space_break || special {
        a.plain = false;
        a.single = false;
        a.block = false;
    }
    if breaks || indicators {
        a.plain = false;
    }
    a
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let st = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) && i - st < 2 {
            i += 1;
        }
        match i - st {
            1 => {}
            2 if b[st] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v3's `canUsePlain`: the text resolves to a string and is not a YAML 1.1 boolean
/// or base-60 float.
fn can_use_plain(s: &str) -> bool {
    let old_bool = matches!(
        s,
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
    );
    matches!(crate::yaml::resolve_for_emit(s), Node::Str(_)) && !old_bool && !is_base60_float(s)
}

struct Yaml {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

fn next_indent(parent: i32, in_seq_item: bool) -> i32 {
    if parent < 0 {
        0
    } else if in_seq_item {
        parent + 2
    } else {
        INDENT * ((parent + INDENT) / INDENT)
    }
}

impl Yaml {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self, indent: i32) {
        let indent = usize::try_from(indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, n: &Node, parent: i32, in_seq_item: bool) {
        match n {
            Node::Map(entries) => {
                let pairs: Vec<(&String, &Node)> = entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Pair(k, v) => Some((k, v)),
                        Entry::Comment(_) => None,
                    })
                    .collect();
                if pairs.is_empty() {
                    self.indicator("{", true, true, false);
                    self.indicator("}", false, false, false);
                    return;
                }
                let indent = next_indent(parent, in_seq_item);
                for (k, v) in pairs {
                    self.write_indent(indent);
                    let simple = !analyze(k).multiline && k.chars().count() <= 128;
                    if simple {
                        self.string(k, indent, false, true);
                        self.indicator(":", false, false, false);
                    } else {
                        self.indicator("?", true, false, true);
                        self.string(k, indent, false, false);
                        self.write_indent(indent);
                        self.indicator(":", true, false, true);
                    }
                    self.node(v, indent, false);
                }
            }
            Node::List(items) => {
                let items: Vec<&Node> = items
                    .iter()
                    .filter(|i| !matches!(i, Node::Comment(_)))
                    .collect();
                if items.is_empty() {
                    self.indicator("[", true, true, false);
                    self.indicator("]", false, false, false);
                    return;
                }
                let indent = next_indent(parent, in_seq_item);
                for it in items {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.node(it, indent, true);
                }
            }
            Node::Bytes(b) => {
                let list: Vec<Node> = b.iter().map(|x| Node::Int(i64::from(*x))).collect();
                self.node(&Node::List(list), parent, in_seq_item);
            }
            Node::Str(s) | Node::Comment(s) => self.string(s, parent, in_seq_item, false),
            // go-yaml v3 writes a string that is not UTF-8 as `!!binary` base64.
            Node::Raw(b) => {
                self.indicator("!!binary", true, false, false);
                self.plain(&STANDARD.encode(b));
            }
            Node::Int(i) => self.plain(&i.to_string()),
            Node::Float(f) => {
                let s = match go_format_g(*f, false).as_str() {
                    "+Inf" => ".inf".to_owned(),
                    "-Inf" => "-.inf".to_owned(),
                    "NaN" => ".nan".to_owned(),
                    s => s.to_owned(),
                };
                self.plain(&s);
            }
            Node::Bool(b) => self.plain(if *b { "true" } else { "false" }),
            Node::Null => self.plain("null"),
            Node::Time(t) => self.plain(&t.rfc3339_nano()),
        }
    }

    fn plain(&mut self, s: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        for c in s.chars() {
            self.put(c);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn string(&mut self, s: &str, parent: i32, in_seq_item: bool, simple_key: bool) {
        let a = analyze(s);
        let mut literal = s.contains('\n');
        let mut style = if literal {
            'l'
        } else if can_use_plain(s) {
            'p'
        } else {
            'd'
        };
        if simple_key && a.multiline {
            style = 'd';
            literal = false;
        }
        if style == 'p' && (!a.plain || (s.is_empty() && simple_key)) {
            style = 's';
        }
        if style == 's' && !a.single {
            style = 'd';
        }
        if literal && style == 'l' && (!a.block || simple_key) {
            style = 'd';
        }
        let indent = next_indent(parent, in_seq_item);
        match style {
            'p' => self.plain(s),
            's' => {
                self.indicator("'", true, false, false);
                for c in s.chars() {
                    if c == '\'' {
                        self.put('\'');
                    }
                    self.put(c);
                }
                self.indicator("'", false, false, false);
                self.whitespace = false;
                self.indention = false;
            }
            'l' => self.literal(s, indent),
            _ => self.double(s),
        }
    }

    fn double(&mut self, s: &str) {
        self.indicator("\"", true, false, false);
        for c in s.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let v = u32::from(c);
                match v {
                    0x00 => self.put('0'),
                    0x07 => self.put('a'),
                    0x08 => self.put('b'),
                    0x09 => self.put('t'),
                    0x0A => self.put('n'),
                    0x0B => self.put('v'),
                    0x0C => self.put('f'),
                    0x0D => self.put('r'),
                    0x1B => self.put('e'),
                    0x22 => self.put('"'),
                    0x5C => self.put('\\'),
                    0x85 => self.put('N'),
                    0xA0 => self.put('_'),
                    0x2028 => self.put('L'),
                    0x2029 => self.put('P'),
                    _ => {
                        let (ind, w) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(ind);
                        for k in (0..w).rev() {
                            let d = (v >> (k * 4)) & 0xF;
                            self.put(char::from_digit(d, 16).unwrap_or('0').to_ascii_uppercase());
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, s: &str, indent: i32) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.indicator(&INDENT.to_string(), false, false, false);
        }
        let n = chars.len();
        let chomp = if n == 0 || !is_break(chars[n - 1]) {
            Some("-")
        } else if n == 1 || is_break(chars[n - 2]) {
            Some("+")
        } else {
            None
        };
        if let Some(h) = chomp {
            self.indicator(h, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                if c == '\n' {
                    self.put_break();
                } else {
                    self.out.push(c);
                    self.column = 0;
                }
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// sops' YAML `EmitPlainFile`: every document, separated by `---`.
pub fn yaml(branches: &[Vec<Entry>]) -> Vec<u8> {
    let mut e = Yaml {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
    };
    for (i, b) in branches.iter().enumerate() {
        if i > 0 {
            if e.column != 0 {
                e.put_break();
            }
            e.out.push_str("---");
            e.column = 3;
            e.whitespace = false;
            e.indention = false;
        }
        e.node(&Node::Map(b.clone()), -1, false);
        if e.column != 0 {
            e.put_break();
        }
        e.whitespace = true;
        e.indention = true;
    }
    e.out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Vec<Vec<Entry>> {
        crate::yaml::load(text).unwrap()
    }

    #[test]
    fn go_g_formatting_should_match_strconv() {
        for (f, s) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(go_format_g(f, false), s, "{f}");
        }
        assert_eq!(json_float(1e21).unwrap(), "1e+21");
        assert_eq!(json_float(1e-7).unwrap(), "1e-7");
        assert_eq!(json_float(100.0).unwrap(), "100");
        assert!(json_float(f64::NAN).is_err());
    }

    #[test]
    fn json_should_be_written_as_go_does() {
        let b = crate::json::load(r#"{"a": "<b>&", "n": [1, 2.5, {}], "e": [], "m": {"k": null}}"#)
            .unwrap();
        assert_eq!(
            String::from_utf8(json(&b).unwrap()).unwrap(),
            "{\n\t\"a\": \"\\u003cb\\u003e\\u0026\",\n\t\"n\": [\n\t\t1,\n\t\t2.5,\n\t\t{}\n\t],\n\t\"e\": [],\n\t\"m\": {\n\t\t\"k\": null\n\t}\n}\n"
        );
    }

    #[test]
    fn yaml_should_be_written_as_go_yaml_v3_with_indent_4() {
        let out = yaml(&doc(
            "a: 1\nb:\n  c: [x, y]\n  d:\n  - k: 1\n    l: 2\ns: \"yes\"\nt: 'x: y'\nm: |\n  two\n  lines\ne: {}\nf: 1.0\n",
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a: 1\nb:\n    c:\n        - x\n        - \"y\"\n    d:\n        - k: 1\n          l: 2\ns: \"yes\"\nt: 'x: y'\nm: |\n    two\n    lines\ne: {}\nf: 1\n"
        );
        let two = yaml(&doc("a: 1\n---\nb: 2\n"));
        assert_eq!(String::from_utf8(two).unwrap(), "a: 1\n---\nb: 2\n");
    }
}
