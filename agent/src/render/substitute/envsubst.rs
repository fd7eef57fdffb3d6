//! A port of `github.com/fluxcd/pkg/envsubst` (Flux's fork of `drone/envsubst`), the bash-like
//! `${var}` expander kustomize-controller runs over each rendered object. The scanner and the
//! parser follow the Go code step by step, quirks included, because users' manifests depend on
//! them: `$var` is text, `$$` is always one `$` (so `$${var}` is the literal `${var}`), `\/` and
//! `\\` are escapes only inside `${…}`, and a default (`${var:=x}`, `${var:-x}`, `${var=x}`)
//! is used when the variable is unset *or empty*.
//!
//! Work is on bytes, as Go's strings are: `${#var}` is a byte length and `${var:1:2}` cuts bytes.
//! An expansion that cuts a multi-byte character is an error here (Go would write the broken
//! bytes, which the YAML parser then refuses).

use std::fmt;

/// Why an expansion failed. Messages carry no text of the document, only the variable name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// `${` followed by something the grammar does not allow.
    BadSubstitution,
    /// `${name` without `}`.
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    ParseVariableName,
    /// A malformed `${…}` inside an argument.
    ParseFuncSubstitution,
    /// A malformed default (`${var:=…}`).
    ParseDefaultFunction,
    /// Strict mode: the variable is not set and the expression has no default.
    VarNotSet(String),
    /// The result is not UTF-8 (a substring cut a character).
    InvalidUtf8,
    /// `${var:pos:len}` with a negative length that ends before `pos` (Go panics there).
    NegativeLength(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSubstitution => f.write_str("bad substitution"),
            Error::MissingClosingBrace => f.write_str("missing closing brace"),
            Error::ParseVariableName => f.write_str("unable to parse variable name"),
            Error::ParseFuncSubstitution => {
                f.write_str("unable to parse substitution within function")
            }
            Error::ParseDefaultFunction => f.write_str("unable to parse default function"),
            Error::VarNotSet(v) => write!(f, "variable `{v}` is not set and has no default"),
            Error::InvalidUtf8 => {
                f.write_str("the result is not valid UTF-8 (a substring cuts a character)")
            }
            Error::NegativeLength(v) => write!(
                f,
                "`${{{v}:position:length}}`: the length ends before the position"
            ),
        }
    }
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Literal text.
    Text(Vec<u8>),
    /// `${param<name>args…}`.
    Func {
        /// The variable.
        param: String,
        /// The operator (`""`, `:=`, `//`, `#`, …).
        name: String,
        /// Its arguments.
        args: Vec<Node>,
    },
    /// A sequence.
    List(Vec<Node>),
}

const EOF: char = '\0';

const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;

const DOLLAR: u8 = 1;
const BACKSLASH: u8 = 2;
const ESCAPE_ALL: u8 = DOLLAR | BACKSLASH;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

type Accept = fn(char, usize) -> bool;

/// Go's `utf8.DecodeRune`: an invalid byte is `U+FFFD` of width 1.
fn decode(b: &[u8]) -> (char, usize) {
    let n = match b.first() {
        None => return (EOF, 0),
        Some(c) if *c < 0x80 => return (char::from(*c), 1),
        Some(c) if *c >= 0xF0 => 4,
        Some(c) if *c >= 0xE0 => 3,
        Some(_) => 2,
    };
    match b.get(..n).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => match s.chars().next() {
            Some(c) => (c, n),
            None => (char::REPLACEMENT_CHARACTER, 1),
        },
        None => (char::REPLACEMENT_CHARACTER, 1),
    }
}

struct Scanner {
    buf: Vec<u8>,
    pos: usize,
    start: usize,
    width: usize,
    mode: u8,
    escape: u8,
    accept: Accept,
}

impl Scanner {
    fn read(&mut self) -> char {
        if self.pos >= self.buf.len() {
            self.width = 0;
            return EOF;
        }
        let (r, w) = decode(&self.buf[self.pos..]);
        self.width = w;
        self.pos += w;
        r
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
    }

    /// Drops the byte just read (an escaping `$` or `\`) from the buffer.
    fn skip(&mut self) {
        if self.pos > 0 {
            self.buf.remove(self.pos - 1);
        }
    }

    fn peek(&mut self) -> char {
        let r = self.read();
        self.unread();
        r
    }

    fn string(&self) -> Vec<u8> {
        self.buf
            .get(self.start..self.pos)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos;
        let r = self.read();
        if r == EOF {
            Token::Eof
        } else if self.scan_lbrack(r) {
            Token::Lbrack
        } else if self.scan_rbrack(r) {
            Token::Rbrack
        } else if self.scan_ident(r) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, r: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(r) {
            self.skip();
        } else if !(self.accept)(r, self.pos - self.start) {
            return false;
        }
        loop {
            let r = self.read();
            if r == EOF {
                self.unread();
                break;
            }
            if self.scan_lbrack(r) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(r) {
                self.skip();
                continue;
            }
            if !(self.accept)(r, self.pos - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, r: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 {
            return false;
        }
        if r == '$' {
            if self.read() == '{' {
                return true;
            }
            self.unread();
        }
        false
    }

    fn scan_rbrack(&self, r: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && r == '}'
    }

    fn scan_escaped(&mut self, r: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        if r == '$' && self.escape & DOLLAR != 0 && self.peek() == '$' {
            return true;
        }
        r == '\\' && self.escape & BACKSLASH != 0 && matches!(self.peek(), '/' | '\\')
    }
}

// Go's unicode.IsLetter and IsDigit; Rust's classes differ only for a few non-ASCII marks.
fn accept_ident(r: char, _: usize) -> bool {
    r.is_alphabetic() || r.is_numeric() || r == '_'
}
fn accept_rune(_: char, _: usize) -> bool {
    true
}
fn accept_colon(r: char, _: usize) -> bool {
    r == ':'
}
fn accept_one_hash(r: char, i: usize) -> bool {
    r == '#' && i == 1
}
fn accept_not_closing(r: char, _: usize) -> bool {
    r != '}'
}
fn accept_hash_func(r: char, i: usize) -> bool {
    r == '#' && i < 3
}
fn accept_percent_func(r: char, i: usize) -> bool {
    r == '%' && i < 3
}
fn accept_default_func(r: char, i: usize) -> bool {
    (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+'))
}
fn accept_replace_func(r: char, i: usize) -> bool {
    (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%'))
}
fn accept_one_equal(r: char, i: usize) -> bool {
    i == 1 && r == '='
}
fn accept_one_colon(r: char, i: usize) -> bool {
    i == 1 && r == ':'
}
fn reject_colon_close(r: char, _: usize) -> bool {
    r != ':' && r != '}'
}
fn accept_slash(r: char, _: usize) -> bool {
    r == '/'
}
fn accept_not_slash(r: char, _: usize) -> bool {
    r != '/'
}
fn accept_casing_func(r: char, i: usize) -> bool {
    (r == ',' || r == '^') && i < 3
}

/// Nesting deeper than this (`${a:=${b:=${c…`) is refused, so hostile text cannot exhaust the
/// stack.
const MAX_NESTING: usize = 64;

struct Parser {
    s: Scanner,
    depth: usize,
}

fn text(b: Vec<u8>) -> Node {
    Node::Text(b)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a template.
///
/// # Errors
/// A malformed `${…}`.
pub fn parse(input: &str) -> Result<Node, Error> {
    let mut p = Parser {
        s: Scanner {
            buf: input.as_bytes().to_vec(),
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escape: 0,
            accept: accept_rune,
        },
        depth: 0,
    };
    // The Go parser returns an empty text node for an empty input.
    Ok(p.parse_any()?.unwrap_or(Node::Text(Vec::new())))
}

impl Parser {
    /// `None` is Go's `empty` sentinel (end of input).
    fn parse_any(&mut self) -> Result<Option<Node>, Error> {
        // Iterative over the top-level sequence (Go recurses once per token).
        let mut nodes = Vec::new();
        loop {
            self.s.accept = accept_rune;
            self.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.s.escape = DOLLAR;
            match self.s.scan() {
                Token::Ident => nodes.push(text(self.s.string())),
                Token::Eof => break,
                Token::Lbrack => nodes.push(self.parse_func()?),
                _ => return Err(Error::BadSubstitution),
            }
        }
        // Go builds right-nested lists: List(a, List(b, c)).
        let mut out: Option<Node> = None;
        while let Some(n) = nodes.pop() {
            out = Some(match out {
                None => n,
                Some(right) => Node::List(vec![n, right]),
            });
        }
        Ok(out)
    }

    fn parse_func(&mut self) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Error::BadSubstitution);
        }
        let r = self.parse_func_inner();
        self.depth -= 1;
        r
    }

    fn parse_func_inner(&mut self) -> Result<Node, Error> {
        self.s.escape = ESCAPE_ALL;
        if self.s.peek() == '#' {
            return self.parse_len_func();
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let name = match self.s.scan() {
            Token::Ident => lossy(&self.s.string()),
            _ => return Err(Error::ParseVariableName),
        };
        match self.s.peek() {
            ':' => return self.parse_default_or_substr(name),
            '=' => return self.parse_default_func(name),
            ',' | '^' => return self.parse_casing_func(name),
            '/' => return self.parse_replace_func(name),
            '#' => return self.parse_remove_func(name, accept_hash_func),
            '%' => return self.parse_remove_func(name, accept_percent_func),
            _ => {}
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Node::Func {
                param: name,
                name: String::new(),
                args: Vec::new(),
            }),
            _ => Err(Error::MissingClosingBrace),
        }
    }

    fn parse_param(&mut self, accept: Accept, mode: u8) -> Result<Node, Error> {
        self.s.accept = accept;
        self.s.mode = mode | SCAN_LBRACK;
        match self.s.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(text(self.s.string())),
            _ => Err(Error::ParseFuncSubstitution),
        }
    }

    fn parse_default_or_substr(&mut self, name: String) -> Result<Node, Error> {
        self.s.read();
        let r = self.s.peek();
        self.s.unread();
        match r {
            '=' | '-' | '?' | '+' => self.parse_default_func(name),
            _ => self.parse_substr_func(name),
        }
    }

    fn operator(&mut self, accept: Accept, err: Error) -> Result<String, Error> {
        self.s.accept = accept;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => Ok(lossy(&self.s.string())),
            _ => Err(err),
        }
    }

    fn parse_substr_func(&mut self, param: String) -> Result<Node, Error> {
        let name = self.operator(accept_one_colon, Error::BadSubstitution)?;
        let mut args = vec![self.parse_param(reject_colon_close, SCAN_IDENT)?];
        self.s.accept = accept_colon;
        self.s.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(Node::Func { param, name, args }),
            Token::Ident => {}
            _ => return Err(Error::BadSubstitution),
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_remove_func(&mut self, param: String, accept: Accept) -> Result<Node, Error> {
        let name = self.operator(accept, Error::BadSubstitution)?;
        let args = vec![self.parse_param(accept_not_closing, SCAN_IDENT)?];
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_replace_func(&mut self, param: String) -> Result<Node, Error> {
        let name = self.operator(accept_replace_func, Error::BadSubstitution)?;
        let mut args = vec![self.parse_param(accept_not_slash, SCAN_IDENT | SCAN_ESCAPE)?];
        self.s.accept = accept_slash;
        self.s.mode = SCAN_IDENT;
        if self.s.scan() != Token::Ident {
            return Err(Error::BadSubstitution);
        }
        if self.s.peek() == '}' {
            self.consume_rbrack()?;
            return Ok(Node::Func { param, name, args });
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_default_func(&mut self, param: String) -> Result<Node, Error> {
        let accept: Accept = if self.s.peek() == '=' {
            accept_one_equal
        } else {
            accept_default_func
        };
        let name = self.operator(accept, Error::ParseDefaultFunction)?;
        let mut args = Vec::new();
        loop {
            if self.s.peek() == '}' {
                self.consume_rbrack()?;
                return Ok(Node::Func { param, name, args });
            }
            let before = (self.s.pos, self.s.buf.len());
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
            // Go loops here without progress on an unterminated default; end it as an error.
            if (self.s.pos, self.s.buf.len()) == before {
                return Err(Error::ParseDefaultFunction);
            }
        }
    }

    fn parse_casing_func(&mut self, param: String) -> Result<Node, Error> {
        let name = self.operator(accept_casing_func, Error::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn parse_len_func(&mut self) -> Result<Node, Error> {
        let name = self.operator(accept_one_hash, Error::BadSubstitution)?;
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let param = match self.s.scan() {
            Token::Ident => lossy(&self.s.string()),
            _ => return Err(Error::BadSubstitution),
        };
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn consume_rbrack(&mut self) -> Result<(), Error> {
        self.s.mode = SCAN_RBRACK;
        if self.s.scan() != Token::Rbrack {
            return Err(Error::BadSubstitution);
        }
        Ok(())
    }
}

/// Expands `input`. `lookup` returns a variable's value, `None` when it is not set: then an
/// expression without a default fails (strict mode). For Flux's non-strict mode, return
/// `Some("")` for unset variables.
///
/// # Errors
/// A malformed `${…}`, an unset variable without a default, or a result that is not UTF-8.
pub fn eval(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    let tree = parse(input)?;
    let mut out = Vec::with_capacity(input.len());
    execute(&tree, lookup, &mut out)?;
    String::from_utf8(out).map_err(|_| Error::InvalidUtf8)
}

fn execute(
    node: &Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match node {
        Node::Text(t) => out.extend_from_slice(t),
        Node::List(nodes) => {
            for n in nodes {
                execute(n, lookup, out)?;
            }
        }
        Node::Func { param, name, args } => {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                let mut buf = Vec::new();
                execute(a, lookup, &mut buf)?;
                values.push(buf);
            }
            let v = match lookup(param) {
                Some(v) => v.into_bytes(),
                None if is_default_op(name) => Vec::new(),
                None => return Err(Error::VarNotSet(param.clone())),
            };
            let result =
                apply(name, &v, &values).ok_or_else(|| Error::NegativeLength(param.clone()))?;
            out.extend_from_slice(&result);
        }
    }
    Ok(())
}

fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

/// `None` where Go panics (a substring whose end is before its start).
fn apply(name: &str, s: &[u8], args: &[Vec<u8>]) -> Option<Vec<u8>> {
    Some(match name {
        "," => map_first(s, |c| c.to_lowercase()),
        ",," => map_all(s, |c| c.to_lowercase()),
        "^" => map_first(s, |c| c.to_uppercase()),
        "^^" => map_all(s, |c| c.to_uppercase()),
        "#" if args.is_empty() => s.len().to_string().into_bytes(),
        "#" => trim_shortest_prefix(s, args),
        "##" => trim_longest_prefix(s, args),
        "%" => trim_shortest_suffix(s, args),
        "%%" => trim_longest_suffix(s, args),
        ":" => substr(s, args)?,
        "/#" => replace_prefix(s, args),
        "/%" => replace_suffix(s, args),
        "/" => replace(s, args, Some(1)),
        "//" => replace(s, args, None),
        // `=`, `:=`, `:-`, `-`, `:?`, `:+`, `+` and a plain `${var}` all take the default when
        // the value is empty, as Go's toDefault does.
        _ => {
            if s.is_empty() && !args.is_empty() {
                args.concat()
            } else {
                s.to_vec()
            }
        }
    })
}

/// Go's `unicode.ToUpper`/`ToLower` map one rune to one rune: a character whose full mapping is
/// longer (`ß` → `SS`) is kept.
fn map_char<I: ExactSizeIterator<Item = char>>(c: char, f: impl Fn(char) -> I) -> char {
    let mut m = f(c);
    if m.len() == 1 {
        m.next().unwrap_or(c)
    } else {
        c
    }
}

fn map_first<I: ExactSizeIterator<Item = char>>(s: &[u8], f: impl Fn(char) -> I) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    let (r, n) = decode(s);
    let mut out = map_char(r, f).to_string().into_bytes();
    out.extend_from_slice(&s[n..]);
    out
}

fn map_all<I: ExactSizeIterator<Item = char>>(s: &[u8], f: impl Fn(char) -> I) -> Vec<u8> {
    lossy(s)
        .chars()
        .map(|c| map_char(c, &f))
        .collect::<String>()
        .into_bytes()
}

/// Go's `strconv.Atoi`.
fn atoi(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn substr(s: &[u8], args: &[Vec<u8>]) -> Option<Vec<u8>> {
    let Some(first) = args.first() else {
        return Some(s.to_vec());
    };
    let Some(mut pos) = atoi(first) else {
        return Some(s.to_vec());
    };
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let tail = |p: i64| -> Vec<u8> {
        if p < len {
            s[usize::try_from(p).unwrap_or(0)..].to_vec()
        } else {
            Vec::new()
        }
    };
    let Some(second) = args.get(1) else {
        return Some(tail(pos));
    };
    let Some(length) = atoi(second) else {
        return Some(s.to_vec());
    };
    if pos.saturating_add(length) >= len {
        return Some(tail(pos));
    }
    let (a, b) = (
        usize::try_from(pos).ok()?,
        usize::try_from(pos + length).ok()?,
    );
    s.get(a..b).map(<[u8]>::to_vec)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w == n)
}

/// Go's `strings.Replace(s, old, new, n)` (`None`: all).
fn replace_n(s: &[u8], old: &[u8], new: &[u8], n: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    let mut done = 0;
    if old.is_empty() {
        // Go inserts `new` before each rune and at the end.
        let mut i = 0;
        while n.is_none_or(|n| done < n) && i <= s.len() {
            out.extend_from_slice(new);
            done += 1;
            if i == s.len() {
                return out;
            }
            let (_, w) = decode(&s[i..]);
            out.extend_from_slice(&s[i..i + w]);
            i += w;
        }
        out.extend_from_slice(&s[i.min(s.len())..]);
        return out;
    }
    while n.is_none_or(|n| done < n) {
        match find(rest, old) {
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(new);
                rest = &rest[i + old.len()..];
                done += 1;
            }
            None => break,
        }
    }
    out.extend_from_slice(rest);
    out
}

fn replace(s: &[u8], args: &[Vec<u8>], n: Option<usize>) -> Vec<u8> {
    match args {
        [] => s.to_vec(),
        [old] => replace_n(s, old, b"", n),
        [old, new, ..] => replace_n(s, old, new, n),
    }
}

fn replace_prefix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args {
        [old, new] if s.starts_with(old) => replace_n(s, old, new, Some(1)),
        _ => s.to_vec(),
    }
}

fn replace_suffix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args {
        [old, new] if s.ends_with(old) => {
            let mut out = s[..s.len() - old.len()].to_vec();
            out.extend_from_slice(new);
            out
        }
        _ => s.to_vec(),
    }
}

fn reverse(s: &[u8]) -> Vec<u8> {
    lossy(s).chars().rev().collect::<String>().into_bytes()
}

fn trim_shortest_prefix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args.first() {
        Some(a) => trim_shortest(s, a),
        None => s.to_vec(),
    }
}

fn trim_longest_prefix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args.first() {
        Some(a) => trim_longest(s, a),
        None => s.to_vec(),
    }
}

fn trim_shortest_suffix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args.first() {
        Some(a) => reverse(&trim_shortest(&reverse(s), &reverse(a))),
        None => s.to_vec(),
    }
}

fn trim_longest_suffix(s: &[u8], args: &[Vec<u8>]) -> Vec<u8> {
    match args.first() {
        Some(a) => reverse(&trim_longest(&reverse(s), &reverse(a))),
        None => s.to_vec(),
    }
}

fn trim_shortest(s: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut shortest: Option<usize> = None;
    for i in 0..s.len() {
        match path_match(pattern, &s[..s.len() - i]) {
            Err(()) => return s.to_vec(),
            Ok(true) => shortest = Some(s.len() - i),
            Ok(false) => {}
        }
    }
    match shortest {
        Some(n) if n > 0 => s[n..].to_vec(),
        _ => s.to_vec(),
    }
}

fn trim_longest(s: &[u8], pattern: &[u8]) -> Vec<u8> {
    for i in 0..s.len() {
        match path_match(pattern, &s[..s.len() - i]) {
            Err(()) => return s.to_vec(),
            Ok(true) => return s[s.len() - i..].to_vec(),
            Ok(false) => {}
        }
    }
    s.to_vec()
}

/// envsubst's copy of Go's `path.Match`, where a `*` also crosses `/`.
fn path_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, ()> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(true);
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(());
        }
        if star {
            for i in 0..name.len() {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(());
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Returns (rest, ok, bad pattern).
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, bool) {
    while !chunk.is_empty() {
        if s.is_empty() {
            return (s, false, false);
        }
        match chunk[0] {
            b'[' => {
                let (r, n) = decode(s);
                s = &s[n..];
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = get_esc(chunk) else {
                        return (s, false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let Some((h, rest)) = get_esc(&chunk[1..]) else {
                            return (s, false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    return (s, false, false);
                }
            }
            b'?' => {
                let (_, n) = decode(s);
                s = &s[n..];
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == b'\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(c) => *c,
                        None => return (s, false, true),
                    }
                } else {
                    c
                };
                if c != s[0] {
                    return (s, false, false);
                }
                s = &s[1..];
                chunk = &chunk[1..];
            }
        }
    }
    (s, true, false)
}

/// A possibly escaped character of a class; `None` is a bad pattern.
fn get_esc(mut chunk: &[u8]) -> Option<(char, &[u8])> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return None;
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return None;
        }
    }
    let (r, n) = decode(chunk);
    if r == char::REPLACEMENT_CHARACTER && n == 1 {
        return None;
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return None;
    }
    Some((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expand(params: &[(&str, &str)], input: &str) -> Result<String, Error> {
        let m = vars(params);
        eval(input, &|k| Some(m.get(k).cloned().unwrap_or_default()))
    }

    fn strict(params: &[(&str, &str)], input: &str) -> Result<String, Error> {
        let m = vars(params);
        eval(input, &|k| m.get(k).cloned())
    }

    /// The table of `TestExpand` in fluxcd/pkg `envsubst/eval_test.go` (cases from tldp.org).
    #[test]
    fn flux_expand_table_should_pass() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[], "abcdEFGH28ij", "abcdEFGH28ij"),
            (&[("var01", "abcdEFGH28ij")], "${#var01}", "12"),
            (&[("var01", "abcdEFGH28ij")], "${var01^}", "AbcdEFGH28ij"),
            (&[("var01", "abcdEFGH28ij")], "${var01^^}", "ABCDEFGH28IJ"),
            (&[("var01", "ABCDEFGH28IJ")], "${var01,}", "aBCDEFGH28IJ"),
            (&[("var01", "ABCDEFGH28IJ")], "${var01,,}", "abcdefgh28ij"),
            (
                &[("path_name", "/home/bozo/ideas/thoughts.for.today")],
                "${path_name:11}",
                "ideas/thoughts.for.today",
            ),
            (
                &[("path_name", "/home/bozo/ideas/thoughts.for.today")],
                "${path_name:11:5}",
                "ideas",
            ),
            (&[("var", "abc")], "${var=xyz}", "abc"),
            (&[], "${var=xyz}", "xyz"),
            (
                &[("default_var", "foo")],
                "something ${var=${default_var}}",
                "something foo",
            ),
            (
                &[("default_var", "foo1")],
                "foo: ${var=${default_var}-suffix}",
                "foo: foo1-suffix",
            ),
            (
                &[("default_var", "foo1")],
                "foo: ${var=prefix${default_var}-suffix}",
                "foo: prefixfoo1-suffix",
            ),
            (&[], "${var:=xyz}", "xyz"),
            (
                &[("stringZ", "abcABC123ABCabc")],
                "${stringZ/%abc/XYZ}",
                "abcABC123ABCXYZ",
            ),
            (
                &[("stringZ", "abcABC123ABCabc")],
                "${stringZ/#abc/XYZ}",
                "XYZABC123ABCabc",
            ),
            (
                &[("stringZ", "abcABC123ABCabc")],
                "${stringZ//abc/xyz}",
                "xyzABC123ABCxyz",
            ),
            (
                &[("stringZ", "abcABC123ABCabc")],
                "${stringZ/abc/xyz}",
                "xyzABC123ABCabc",
            ),
            (
                &[("filename", "bash.string.txt")],
                "${filename#*.}",
                "string.txt",
            ),
            (&[("filename", "path/to/file")], "${filename#*/}", "to/file"),
            (
                &[("filename", "/path/to/file")],
                "${filename#*/}",
                "path/to/file",
            ),
            (&[("filename", "bash.string.txt")], "${filename##*.}", "txt"),
            (&[("filename", "path/to/file")], "${filename##*/}", "file"),
            (&[("filename", "/path/to/file")], "${filename##*/}", "file"),
            (
                &[("filename", "bash.string.txt")],
                "${filename%.*}",
                "bash.string",
            ),
            (
                &[("filename", "bash.string.txt")],
                "${filename%%.*}",
                "bash",
            ),
            (
                &[("var01", "abcdEFGH28ij")],
                "${var=${var01^^}}",
                "ABCDEFGH28IJ",
            ),
            (&[("var01", "abcdEFGH28ij")], "$${var01}", "${var01}"),
            (
                &[("var01", "abcdEFGH28ij")],
                "some text ${var01}$${var$${var01}$var01${var01}",
                "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
            ),
            (
                &[("default_var", "foo")],
                "something $${var=${default_var}}",
                "something ${var=foo}",
            ),
            (&[("stringZ", "foo/bar")], r"${stringZ/\//-}", "foo-bar"),
            (
                &[("stringZ", "foo/bar/baz")],
                r"${stringZ//\//-}",
                "foo-bar-baz",
            ),
            (
                &[("default_var", "foo")],
                "\\\\something ${var=${default_var}}",
                "\\\\something foo",
            ),
            (&[("stringZ", "foo.bar")], "${stringZ/./}", "foobar"),
        ];
        for (params, input, output) in cases {
            assert_eq!(expand(params, input).as_deref(), Ok(*output), "{input}");
        }
    }

    /// `TestExpandStrict` in fluxcd/pkg `envsubst/eval_test.go`, with the fluxcd/flux2#5836
    /// regression cases (a transformation of a missing variable fails).
    #[test]
    fn flux_strict_table_should_pass() {
        assert_eq!(strict(&[], "abcdEFGH28ij").as_deref(), Ok("abcdEFGH28ij"));
        assert_eq!(strict(&[("foo", "bar")], "${foo}").as_deref(), Ok("bar"));
        assert_eq!(strict(&[("foo", "")], "${foo}").as_deref(), Ok(""));
        assert_eq!(
            strict(&[("foo", "bar")], "${missing:=default}").as_deref(),
            Ok("default")
        );
        for input in [
            "${missing}",
            "${#missing}",
            "${missing^}",
            "${missing^^}",
            "${missing,}",
            "${missing,,}",
            "${missing:0}",
            "${missing:0:10}",
            "${missing/pattern/replacement}",
            "${missing//pattern/replacement}",
            "${missing/#pattern/replacement}",
            "${missing/%pattern/replacement}",
            "${missing#pattern}",
            "${missing##pattern}",
            "${missing%pattern}",
            "${missing%%pattern}",
        ] {
            assert_eq!(
                strict(&[], input),
                Err(Error::VarNotSet("missing".into())),
                "{input}"
            );
        }
        assert_eq!(
            strict(&[], "${missing:-fallback}").as_deref(),
            Ok("fallback")
        );
        assert_eq!(
            strict(&[], "${missing:=assigned}").as_deref(),
            Ok("assigned")
        );
        assert_eq!(
            strict(&[], "${missing=assigned}").as_deref(),
            Ok("assigned")
        );
    }

    /// `Test_substr` and friends in fluxcd/pkg `envsubst/funcs_test.go`.
    #[test]
    fn flux_function_tests_should_pass() {
        let a = |xs: &[&str]| xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
        let s = b"123456789123456789";
        let sub = |args: &[&str]| substr(s, &a(args)).unwrap();
        assert_eq!(sub(&["0", "8"]), b"12345678");
        assert_eq!(sub(&["1", "8"]), b"23456789");
        assert_eq!(sub(&["9"]), b"123456789");
        assert_eq!(sub(&["9", "50"]), b"123456789");
        assert_eq!(sub(&["-3", "2"]), b"78");
        assert_eq!(sub(&["-300", "3"]), b"123");
        assert_eq!(substr(b"12345678", &a(&["9", "1"])).unwrap(), b"");
        assert_eq!(
            sub(&["x", "1"]),
            s,
            "a position that is not a number leaves the value"
        );
        assert_eq!(
            substr(s, &a(&["5", "-3"])),
            None,
            "Go panics on a negative span"
        );
        let ap = |n: &str, v: &[u8], args: &[&str]| apply(n, v, &a(args)).unwrap();
        assert_eq!(
            ap(
                ":=",
                b"",
                &["Hola Mundo", "-Bonjour le monde", "-Halló heimur"]
            ),
            "Hola Mundo-Bonjour le monde-Halló heimur".as_bytes()
        );
        assert_eq!(ap(":=", b"Hello World", &["Hola Mundo"]), b"Hello World");
        assert_eq!(ap(",", b"", &[]), b"");
        assert_eq!(ap("^", b"", &[]), b"");
        assert_eq!(ap(",", b"HELLO WORLD", &[]), b"hELLO WORLD");
        assert_eq!(ap("^", b"hello world", &[]), b"Hello world");
        assert_eq!(ap("#", b"Hello World", &[]), b"11");
        assert_eq!(
            expand(&[("a", "abcdef")], "${a:4:-3}"),
            Err(Error::NegativeLength("a".into()))
        );
    }

    /// The parse table of fluxcd/pkg `envsubst/parse/parse_test.go`.
    #[test]
    fn flux_parse_table_should_pass() {
        let t = |s: &str| Node::Text(s.as_bytes().to_vec());
        let f = |p: &str, n: &str, args: Vec<Node>| Node::Func {
            param: p.into(),
            name: n.into(),
            args,
        };
        let cases: Vec<(&str, Node)> = vec![
            ("text", t("text")),
            ("}text", t("}text")),
            ("http://github.com", t("http://github.com")),
            ("$${string}", t("${string}")),
            ("$$string", t("$string")),
            (r"\\.\pipe\pipename", t(r"\\.\pipe\pipename")),
            ("${string}", f("string", "", vec![])),
            ("${string,}", f("string", ",", vec![])),
            ("${string,,}", f("string", ",,", vec![])),
            ("${string^}", f("string", "^", vec![])),
            ("${string^^}", f("string", "^^", vec![])),
            ("${string:position}", f("string", ":", vec![t("position")])),
            (
                "${string:position:length}",
                f("string", ":", vec![t("position"), t("length")]),
            ),
            (
                "${string#substring}",
                f("string", "#", vec![t("substring")]),
            ),
            (
                "${string##substring}",
                f("string", "##", vec![t("substring")]),
            ),
            (
                "${string%substring}",
                f("string", "%", vec![t("substring")]),
            ),
            (
                "${string%%substring}",
                f("string", "%%", vec![t("substring")]),
            ),
            (
                "${string/substring/replacement}",
                f("string", "/", vec![t("substring"), t("replacement")]),
            ),
            (
                "${string//substring/replacement}",
                f("string", "//", vec![t("substring"), t("replacement")]),
            ),
            (
                "${string/#substring/replacement}",
                f("string", "/#", vec![t("substring"), t("replacement")]),
            ),
            (
                "${string/%substring/replacement}",
                f("string", "/%", vec![t("substring"), t("replacement")]),
            ),
            ("${string=default}", f("string", "=", vec![t("default")])),
            ("${string:=default}", f("string", ":=", vec![t("default")])),
            ("${string:-default}", f("string", ":-", vec![t("default")])),
            ("${string:?default}", f("string", ":?", vec![t("default")])),
            ("${string:+default}", f("string", ":+", vec![t("default")])),
            ("${#string}", f("string", "#", vec![])),
            ("${string#$%:*{}", f("string", "#", vec![t("$%:*{")])),
            (
                "hello ${#string} world",
                Node::List(vec![
                    t("hello "),
                    Node::List(vec![f("string", "#", vec![]), t(" world")]),
                ]),
            ),
            (
                r"\\ hello ${#string} world \\",
                Node::List(vec![
                    t(r"\\ hello "),
                    Node::List(vec![f("string", "#", vec![]), t(r" world \\")]),
                ]),
            ),
            (
                r"${string/\/position/length}",
                f("string", "/", vec![t("/position"), t("length")]),
            ),
            (
                r"${string/\/position\\/length}",
                f("string", "/", vec![t("/position\\"), t("length")]),
            ),
            (
                r"${string/position/\/length}",
                f("string", "/", vec![t("position"), t("/length")]),
            ),
            (
                r"${string/position/\/length\\}",
                f("string", "/", vec![t("position"), t("/length\\")]),
            ),
            (
                r"${string/position/\/leng\\th}",
                f("string", "/", vec![t("position"), t("/leng\\th")]),
            ),
            (
                "${string:${position}}",
                f("string", ":", vec![f("position", "", vec![])]),
            ),
            (
                "${string:${stringy:position:length}:${stringz,,}}",
                f(
                    "string",
                    ":",
                    vec![
                        f("stringy", ":", vec![t("position"), t("length")]),
                        f("stringz", ",,", vec![]),
                    ],
                ),
            ),
            (
                "${string#${stringz}}",
                f("string", "#", vec![f("stringz", "", vec![])]),
            ),
            (
                "${string=${stringz}}",
                f("string", "=", vec![f("stringz", "", vec![])]),
            ),
            (
                "${string=prefix-${var}}",
                f("string", "=", vec![t("prefix-"), f("var", "", vec![])]),
            ),
            (
                "${string=${var}-suffix}",
                f("string", "=", vec![f("var", "", vec![]), t("-suffix")]),
            ),
            (
                "${string=prefix-${var}-suffix}",
                f(
                    "string",
                    "=",
                    vec![t("prefix-"), f("var", "", vec![]), t("-suffix")],
                ),
            ),
            (
                "${string=prefix${var} suffix}",
                f(
                    "string",
                    "=",
                    vec![t("prefix"), f("var", "", vec![]), t(" suffix")],
                ),
            ),
            (
                "${string//${stringy}/${stringz}}",
                f(
                    "string",
                    "//",
                    vec![f("stringy", "", vec![]), f("stringz", "", vec![])],
                ),
            ),
        ];
        for (input, node) in cases {
            assert_eq!(parse(input), Ok(node), "{input}");
        }
    }

    #[test]
    fn malformed_expressions_should_be_errors() {
        assert_eq!(parse("${"), Err(Error::ParseVariableName));
        assert_eq!(parse("${}"), Err(Error::ParseVariableName));
        assert_eq!(parse("${a"), Err(Error::MissingClosingBrace));
        assert_eq!(parse("${a b}"), Err(Error::MissingClosingBrace));
        assert_eq!(parse("${a:=x"), Err(Error::ParseFuncSubstitution));
        assert!(parse("${a/b").is_err());
        assert!(parse("${a,,,}").is_err());
        assert!(parse("${-a}").is_err());
        assert_eq!(parse(&"${a:=".repeat(100)), Err(Error::BadSubstitution));
    }

    #[test]
    fn dollar_forms_outside_braces_should_be_text() {
        assert_eq!(
            expand(&[("a", "1")], "$a ${a} $ {a} $").as_deref(),
            Ok("$a 1 $ {a} $")
        );
        assert_eq!(expand(&[], "cost: $$5").as_deref(), Ok("cost: $5"));
        assert_eq!(expand(&[], "").as_deref(), Ok(""));
    }

    #[test]
    fn defaults_should_apply_to_empty_values_too() {
        assert_eq!(
            expand(&[("a", "")], "${a:-d}${a:=d}${a=d}").as_deref(),
            Ok("ddd")
        );
        // Flux's README lists `${var-default}` but its parser refuses it.
        assert_eq!(parse("${a-d}"), Err(Error::MissingClosingBrace));
        assert_eq!(strict(&[("a", "")], "${a:=d}").as_deref(), Ok("d"));
    }

    #[test]
    fn byte_lengths_and_cuts_should_follow_go() {
        assert_eq!(expand(&[("a", "été")], "${#a}").as_deref(), Ok("5"));
        assert_eq!(expand(&[("a", "été")], "${a:1:1}"), Err(Error::InvalidUtf8));
        assert_eq!(
            expand(&[("a", "straße")], "${a^^}").as_deref(),
            Ok("STRAßE")
        );
    }

    #[test]
    fn glob_patterns_should_follow_go_path_match() {
        assert_eq!(path_match(b"a*c", b"abbc"), Ok(true));
        assert_eq!(path_match(b"a?c", b"abc"), Ok(true));
        assert_eq!(path_match(b"[a-c]x", b"bx"), Ok(true));
        assert_eq!(path_match(b"[^a-c]x", b"bx"), Ok(false));
        assert_eq!(path_match(b"a*", b"a/b/c"), Ok(true), "a star crosses `/`");
        assert_eq!(path_match(b"[", b"a"), Err(()));
        assert_eq!(expand(&[("f", "a.b")], "${f#[}").as_deref(), Ok("a.b"));
    }
}
