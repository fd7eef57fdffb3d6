//! Writes JSON values as YAML exactly as kustomize prints them. kustomize turns every resource
//! into JSON and back into YAML through go-yaml v2 (`sigs.k8s.io/yaml.JSONToYAML`), so this
//! follows libyaml's emitter as ported to Go: keys sorted in go-yaml v2's natural order,
//! sequences not indented under their key, YAML 1.1 quoting, lines folded past column 80.

use serde_json::Value;

use super::gofmt;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: i32 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

/// Serializes one document (no `---` separator), ending with a newline.
pub fn to_yaml_document(v: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
    };
    e.value(v, -1, false);
    if e.column != 0 {
        e.put_break();
    }
    e.out
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

#[derive(Default, Debug)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws = i + 1 >= n || is_blank(chars[i + 1]) || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c) || c == '\0';
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml v2 would read `s`, written plain, as something other than a string.
pub(crate) fn v2_resolves_non_string(s: &str) -> bool {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" | "n"
        | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" | ""
        | "~" | "null" | "Null" | "NULL" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF"
        | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | "<<" => return true,
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => gofmt::go_parse_float(s).is_some(),
        b'+' | b'-' | b'0'..=b'9' => {
            if gofmt::is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            if gofmt::go_parse_int(&plain).is_some() {
                return true;
            }
            gofmt::is_yaml_style_float(&plain) && gofmt::go_parse_float(&plain).is_some()
        }
        _ => false,
    }
}

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = 0;
    if b[0] == b'+' || b[0] == b'-' {
        i = 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let g = &s[st..i];
        let ok = match g.len() {
            1 => true,
            2 => g.as_bytes()[0] <= b'5',
            _ => false,
        };
        if !ok {
            // Allow the backtracking case "[0-5]?[0-9]" where two digits start above 5: not valid.
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self, indent: i32) {
        let indent = indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    /// Emits a node whose parent collection sits at `parent_indent` (-1 at the root).
    fn value(&mut self, v: &Value, parent_indent: i32, mapping_ctx: bool) {
        match v {
            Value::Object(m) if m.is_empty() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Value::Array(a) if a.is_empty() => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Value::Object(m) => {
                let indent = if parent_indent < 0 {
                    0
                } else {
                    parent_indent + BEST_INDENT
                };
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| gofmt::v2_key_cmp(a, b));
                for k in keys {
                    let a = analyze(k);
                    let simple = !a.multiline && k.len() <= 128;
                    self.write_indent(indent);
                    if simple {
                        self.string_scalar(k, indent, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.string_scalar(k, indent, false);
                        self.write_indent(indent);
                        self.write_indicator(":", true, false, true);
                    }
                    if let Some(val) = m.get(k) {
                        self.value(val, indent, true);
                    }
                }
            }
            Value::Array(items) => {
                let indentless = mapping_ctx && !self.indention;
                let indent = if parent_indent < 0 {
                    0
                } else if indentless {
                    parent_indent
                } else {
                    parent_indent + BEST_INDENT
                };
                for it in items {
                    self.write_indent(indent);
                    self.write_indicator("-", true, false, true);
                    self.value(it, indent, false);
                }
            }
            Value::String(s) => self.string_scalar(s, parent_indent, false),
            Value::Null => self.plain_scalar("null", scalar_indent(parent_indent)),
            Value::Bool(b) => self.plain_scalar(
                if *b { "true" } else { "false" },
                scalar_indent(parent_indent),
            ),
            Value::Number(n) => {
                let text = if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                    gofmt::float_after_json_roundtrip(f)
                } else {
                    n.to_string()
                };
                self.plain_scalar(&text, scalar_indent(parent_indent));
            }
        }
    }

    fn plain_scalar(&mut self, s: &str, indent: i32) {
        self.write_plain(s, true, indent);
    }

    fn string_scalar(&mut self, s: &str, parent_indent: i32, simple_key: bool) {
        let indent = scalar_indent(parent_indent);
        let can_use_plain = !v2_resolves_non_string(s) && !is_base60_float(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if can_use_plain {
            Style::Plain
        } else {
            Style::Double
        };
        let a = analyze(s);
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.write_plain(s, !simple_key, indent),
            Style::Single => self.write_single(s, !simple_key, indent),
            Style::Double => self.write_double(s, !simple_key, indent),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, allow_breaks: bool, indent: i32) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = s.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, s: &str, allow_breaks: bool, indent: i32) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < n
                    && !next_space
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, s: &str, allow_breaks: bool, indent: i32) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let v = c as u32;
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
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < n {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str, indent: i32) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
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
            self.write_indicator(h, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
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

fn scalar_indent(parent_indent: i32) -> i32 {
    if parent_indent < 0 {
        0
    } else {
        parent_indent + BEST_INDENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoting_follows_yaml_1_1() {
        let v = json!({"a": "true", "b": "yes", "c": "x: y", "d": "plain", "e": "", "f": "0o12", "n": 1});
        assert_eq!(
            to_yaml_document(&v),
            "a: \"true\"\nb: \"yes\"\nc: 'x: y'\nd: plain\ne: \"\"\nf: \"0o12\"\n\"n\": 1\n"
        );
    }

    #[test]
    fn sequences_are_not_indented_under_keys() {
        let v = json!({"l": [{"a": 1, "b": [1]}, [2]], "e": [], "m": {}});
        assert_eq!(
            to_yaml_document(&v),
            "e: []\nl:\n- a: 1\n  b:\n  - 1\n- - 2\nm: {}\n"
        );
    }

    #[test]
    fn block_scalars() {
        let v = json!({"a": "x\ny\n", "b": "x\ny", "c": "\n\nfoo"});
        assert_eq!(
            to_yaml_document(&v),
            "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |2-\n\n\n  foo\n"
        );
    }
}
