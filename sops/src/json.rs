//! JSON documents into sops trees, as sops' JSON store reads them with Go's token decoder: one
//! top-level object whose keys keep their order (duplicates included), numbers as integers when
//! they fit 64 bits and floats otherwise, anything after the top-level object ignored.
//!
//! Written by hand because `serde_json`'s `preserve_order` feature would change the key order
//! of every `serde_json::Map` in the workspace (kustomize-rs relies on sorted maps).

use crate::Error;
use crate::tree::{Entry, Node};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 200;

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

fn err(p: &P<'_>, message: impl Into<String>) -> Error {
    let line = 1 + p.b[..p.i.min(p.b.len())]
        .iter()
        .filter(|c| **c == b'\n')
        .count();
    Error::Syntax {
        format: "JSON",
        line,
        message: message.into(),
    }
}

/// Reads the top-level object of `text`.
///
/// # Errors
/// A syntax error (with its line), a top-level value that is not an object, a number that does
/// not fit a float, too deep a nesting.
pub fn load(text: &str) -> Result<Vec<Entry>, Error> {
    let mut p = P {
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    match p.peek() {
        Some(b'{') => {}
        Some(_) => {
            return Err(err(
                &p,
                "SOPS only supports JSON files with a top-level object",
            ));
        }
        None => return Err(err(&p, "empty input")),
    }
    match p.value(0)? {
        Node::Map(entries) => Ok(entries),
        _ => Err(err(&p, "expected an object")),
    }
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(err(self, format!("expected `{}`", char::from(c))))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, Error> {
        if depth > MAX_DEPTH {
            return Err(err(self, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Node::Map(entries));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(err(self, "expected an object key"));
                    }
                    let k = self.string()?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    entries.push(Entry::Pair(k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Node::Map(entries));
                        }
                        _ => return Err(err(self, "expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Node::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Node::List(items));
                        }
                        _ => return Err(err(self, "expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => Ok(Node::Str(self.string()?)),
            Some(b't') => self.word("true", Node::Bool(true)),
            Some(b'f') => self.word("false", Node::Bool(false)),
            Some(b'n') => self.word("null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(err(self, "invalid character")),
            None => Err(err(self, "unexpected end of input")),
        }
    }

    fn word(&mut self, w: &str, n: Node) -> Result<Node, Error> {
        if self.b[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(n)
        } else {
            Err(err(self, "invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Node, Error> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i - s
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(err(self, "invalid number")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.i += 1;
            if digits(self) == 0 {
                return Err(err(self, "invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integral = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(err(self, "invalid number"));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("0");
        // json.Number.Int64 first, then Float64 (an overflow there is an error).
        if integral && let Ok(i) = text.parse::<i64>() {
            return Ok(Node::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Node::Float(f)),
            _ => Err(err(self, "a number does not fit a 64-bit float")),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.b.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(err(self, "unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(err(self, "unterminated string"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4().ok_or_else(|| err(self, "invalid \\u escape"))?;
                            if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair, or U+FFFD as Go writes a lone surrogate.
                                let save = self.i;
                                let lo = if self.b[self.i..].starts_with(b"\\u") {
                                    self.i += 2;
                                    self.hex4()
                                } else {
                                    None
                                };
                                match lo {
                                    Some(lo) if (0xDC00..0xE000).contains(&lo) => char::from_u32(
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                    )
                                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                                    _ => {
                                        self.i = save;
                                        char::REPLACEMENT_CHARACTER
                                    }
                                }
                            } else {
                                char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER)
                            }
                        }
                        _ => return Err(err(self, "invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(err(self, "control character in a string")),
                c => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_should_keep_their_order_and_numbers_their_kind() {
        let e = load(r#" {"z": 1, "a": [1.5, -0, 1e2, 9223372036854775808], "s": "\u00e9\ud83d\ude00\n", "n": null, "z": true} trailing"#).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Pair("z".into(), Node::Int(1)),
                Entry::Pair(
                    "a".into(),
                    Node::List(vec![
                        Node::Float(1.5),
                        Node::Int(0),
                        Node::Float(100.0),
                        Node::Float(9_223_372_036_854_775_808.0)
                    ])
                ),
                Entry::Pair("s".into(), Node::Str("é😀\n".into())),
                Entry::Pair("n".into(), Node::Null),
                Entry::Pair("z".into(), Node::Bool(true)),
            ]
        );
    }

    #[test]
    fn malformed_json_should_be_refused() {
        for bad in [
            "",
            "[1]",
            "\"s\"",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":\"\x01\"}",
            "{\"a\":1e999}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
        ] {
            assert!(load(bad).is_err(), "{bad:?}");
        }
        assert!(load(&format!("{}{}", "{\"a\":".repeat(2000), "1")).is_err());
    }
}
