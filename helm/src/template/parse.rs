//! The parser of Go's `text/template/parse/parse.go`, with its three-token lookahead (error
//! messages name the line of the last token read, so the lookahead is part of the behaviour).

use std::collections::HashMap;
use std::sync::Arc;

use super::lex::{Item, ItemType, Lexer};
use super::node::{Arg, Branch, Command, List, Node, Number, Pipe, Tree, Variable, is_empty_list};

type PResult<T> = Result<T, String>;

/// Parsing options.
#[derive(Clone, Default)]
pub struct ParseOptions<'f> {
    pub left_delim: String,
    pub right_delim: String,
    /// Keep comments in the tree.
    pub parse_comments: bool,
    /// Do not check that functions exist.
    pub skip_func_check: bool,
    /// Whether a function of that name is defined (besides the built-ins).
    pub has_function: Option<&'f dyn Fn(&str) -> bool>,
}

const MAX_STACK_DEPTH: usize = 10000;

enum Parsed {
    Node(Node),
    End,
    Else(usize),
}

impl Parsed {
    fn describe(&self) -> String {
        match self {
            Parsed::Node(n) => n.to_string(),
            Parsed::End => "{{end}}".into(),
            Parsed::Else(_) => "{{else}}".into(),
        }
    }
}

struct Parser<'a, 'f> {
    name: String,
    parse_name: String,
    text: Arc<str>,
    lex: Lexer<'a>,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
    opts: &'a ParseOptions<'f>,
    tree_set: &'a mut Vec<Tree>,
}

const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Parses `text` as the template `name`; returns its tree and those of the templates it
/// defines, in the order Go's `parse.Parse` adds them.
///
/// # Errors
/// Go's parse error text: `template: NAME:LINE: message`.
pub fn parse(name: &str, text: &str, opts: &ParseOptions<'_>) -> Result<Vec<Tree>, String> {
    let mut trees = Vec::new();
    let text_arc: Arc<str> = Arc::from(text);
    let eof = Item {
        typ: ItemType::Eof,
        pos: 0,
        val: String::new(),
        line: 0,
    };
    let mut lex = Lexer::new(text, &opts.left_delim, &opts.right_delim);
    lex.emit_comment = opts.parse_comments;
    let has = |n: &str| opts.has_function.map(|f| f(n)).unwrap_or(false) || BUILTINS.contains(&n);
    lex.break_ok = !has("break");
    lex.continue_ok = !has("continue");
    let mut p = Parser {
        name: name.to_string(),
        parse_name: name.to_string(),
        text: text_arc,
        lex,
        token: [eof.clone(), eof.clone(), eof],
        peek_count: 0,
        vars: vec!["$".into()],
        action_line: 0,
        range_depth: 0,
        stack_depth: 0,
        opts,
        tree_set: &mut trees,
    };
    let root = p.parse_top()?;
    p.add(p.name.clone(), root)?;
    Ok(trees)
}

impl<'a, 'f> Parser<'a, 'f> {
    fn next(&mut self) -> Item {
        if self.peek_count > 0 {
            self.peek_count -= 1;
        } else {
            self.token[0] = self.lex.next_item();
        }
        self.token[self.peek_count].clone()
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.token[1] = t1;
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.token[1] = t1;
        self.token[2] = t2;
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.peek_count > 0 {
            return self.token[self.peek_count - 1].clone();
        }
        self.peek_count = 1;
        self.token[0] = self.lex.next_item();
        self.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf<T>(&self, msg: impl AsRef<str>) -> PResult<T> {
        Err(format!(
            "template: {}:{}: {}",
            self.parse_name,
            self.token[0].line,
            msg.as_ref()
        ))
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != expected {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn expect_one_of(&mut self, e1: ItemType, e2: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != e1 && t.typ != e2 {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn unexpected<T>(&self, t: &Item, context: &str) -> PResult<T> {
        if t.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != t.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if t.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{t}{extra}"));
        }
        self.errorf(format!("unexpected {t} in {context}"))
    }

    fn has_function(&self, name: &str) -> bool {
        BUILTINS.contains(&name) || self.opts.has_function.map(|f| f(name)).unwrap_or(false)
    }

    fn add(&mut self, name: String, root: List) -> PResult<()> {
        if let Some(i) = self.tree_set.iter().position(|t| t.name == name) {
            if is_empty_list(&self.tree_set[i].root) {
                self.tree_set[i] = self.tree(name, root);
                return Ok(());
            }
            if !is_empty_list(&root) {
                return self.errorf(format!(
                    "template: multiple definition of template {}",
                    crate::gofmt::quote(&name)
                ));
            }
            return Ok(());
        }
        let t = self.tree(name, root);
        self.tree_set.push(t);
        Ok(())
    }

    fn tree(&self, name: String, root: List) -> Tree {
        Tree {
            name,
            parse_name: self.parse_name.clone(),
            root,
            text: self.text.clone(),
        }
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List {
            pos: self.peek().pos,
            nodes: Vec::new(),
        };
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                p @ (Parsed::End | Parsed::Else(_)) => {
                    return self.errorf(format!("unexpected {}", p.describe()));
                }
                Parsed::Node(n) => root.nodes.push(n),
            }
        }
        Ok(root)
    }

    /// A `define`: parsed by a fresh tree sharing the lexer (Go's `newT.startParse`).
    fn parse_definition(&mut self) -> PResult<()> {
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::take(&mut self.stack_depth);
        let context = "define clause";
        let name = self.expect_one_of(ItemType::String, ItemType::RawString, context)?;
        let name = match unquote(&name.val) {
            Ok(n) => n,
            Err(e) => return self.errorf(e),
        };
        self.expect(ItemType::RightDelim, context)?;
        let (root, end) = self.item_list()?;
        if !matches!(end, Parsed::End) {
            return self.errorf(format!("unexpected {} in {}", end.describe(), context));
        }
        self.add(name, root)?;
        self.vars = saved_vars;
        self.stack_depth = saved_depth;
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        let mut list = List {
            pos: self.peek_non_space().pos,
            nodes: Vec::new(),
        };
        while self.peek_non_space().typ != ItemType::Eof {
            let n = self.text_or_action()?;
            match n {
                Parsed::End | Parsed::Else(_) => return Ok((list, n)),
                Parsed::Node(n) => list.nodes.push(n),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text {
                pos: t.pos,
                text: t.val,
            })),
            ItemType::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            ItemType::Comment => Ok(Parsed::Node(Node::Comment {
                pos: t.pos,
                text: t.val,
            })),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Block => return self.block_control(),
            ItemType::Break => return self.break_control(t.pos, "{{break}}", true),
            ItemType::Continue => return self.break_control(t.pos, "{{continue}}", false),
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemType::If => return Ok(Parsed::Node(Node::If(self.parse_control("if")?))),
            ItemType::Range => return Ok(Parsed::Node(Node::Range(self.parse_control("range")?))),
            ItemType::Template => return self.template_control(),
            ItemType::With => return Ok(Parsed::Node(Node::With(self.parse_control("with")?))),
            _ => {}
        }
        self.backup();
        let t = self.peek();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action { pos: t.pos, pipe }))
    }

    fn break_control(&mut self, pos: usize, ctx: &str, brk: bool) -> PResult<Parsed> {
        let t = self.next_non_space();
        if t.typ != ItemType::RightDelim {
            return self.unexpected(&t, ctx);
        }
        if self.range_depth == 0 {
            return self.errorf(format!("{ctx} outside {{{{range}}}}"));
        }
        Ok(Parsed::Node(if brk {
            Node::Break { pos }
        } else {
            Node::Continue { pos }
        }))
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let t = self.peek_non_space();
        let mut pipe = Pipe {
            pos: t.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.typ == ItemType::Variable {
                self.next();
                let after = self.peek();
                let next = self.peek_non_space();
                if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        pos: v.pos,
                        ident: v.val.split('.').map(String::from).collect(),
                    });
                    self.vars.push(v.val.clone());
                } else if next.typ == ItemType::Char && next.val == "," {
                    self.next_non_space();
                    pipe.decl.push(Variable {
                        pos: v.pos,
                        ident: v.val.split('.').map(String::from).collect(),
                    });
                    self.vars.push(v.val.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue 'decls;
                            }
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                } else if after.typ == ItemType::Space {
                    self.backup3(v, after);
                } else {
                    self.backup2(v);
                }
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            match t.typ {
                x if x == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool { .. }
                    | Arg::Dot { .. }
                    | Arg::Nil { .. }
                    | Arg::Number(_)
                    | Arg::String { .. }
            ) {
                return self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let nvars = self.vars.len();
        let r = self.parse_control_inner(context);
        self.vars.truncate(nvars);
        r
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Parsed::Else(epos) = next {
            if context == "if" && self.peek().typ == ItemType::If {
                self.next();
                let b = self.parse_control("if")?;
                else_list = Some(List {
                    pos: epos,
                    nodes: vec![Node::If(b)],
                });
            } else if context == "with" && self.peek().typ == ItemType::With {
                self.next();
                let b = self.parse_control("with")?;
                else_list = Some(List {
                    pos: epos,
                    nodes: vec![Node::With(b)],
                });
            } else {
                let (l, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return self.errorf(format!("expected end; found {}", next.describe()));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(Parsed::Else(peek.pos));
        }
        let t = self.expect(ItemType::RightDelim, "else")?;
        Ok(Parsed::Else(t.pos))
    }

    fn block_control(&mut self) -> PResult<Parsed> {
        let context = "block clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        // The block's body is parsed as a new tree (fresh variables).
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::take(&mut self.stack_depth);
        let saved_range = std::mem::take(&mut self.range_depth);
        let (root, end) = self.item_list()?;
        if !matches!(end, Parsed::End) {
            return self.errorf(format!("unexpected {} in {}", end.describe(), context));
        }
        self.add(name.clone(), root)?;
        self.vars = saved_vars;
        self.stack_depth = saved_depth;
        self.range_depth = saved_range;
        Ok(Parsed::Node(Node::Template {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn template_control(&mut self) -> PResult<Parsed> {
        let context = "template clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, context)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        Ok(Parsed::Node(Node::Template {
            pos: t.pos,
            name,
            pipe,
        }))
    }

    fn parse_template_name(&self, t: &Item, context: &str) -> PResult<String> {
        match t.typ {
            ItemType::String | ItemType::RawString => match unquote(&t.val) {
                Ok(s) => Ok(s),
                Err(e) => self.errorf(e),
            },
            _ => self.unexpected(t, context),
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ == ItemType::Field {
            let pos = self.peek().pos;
            let mut fields = Vec::new();
            while self.peek().typ == ItemType::Field {
                let f = self.next().val;
                fields.push(f[1..].to_string());
            }
            return Ok(Some(match node {
                Arg::Field { ident, .. } => {
                    let mut ident = ident;
                    ident.extend(fields);
                    Arg::Field { pos, ident }
                }
                Arg::Variable(v) => {
                    let mut ident = v.ident;
                    ident.extend(fields);
                    Arg::Variable(Variable { pos, ident })
                }
                Arg::Bool { .. }
                | Arg::String { .. }
                | Arg::Number(_)
                | Arg::Nil { .. }
                | Arg::Dot { .. } => {
                    return self.errorf(format!(
                        "unexpected . after term {}",
                        crate::gofmt::quote(&node.to_string())
                    ));
                }
                node => Arg::Chain {
                    pos,
                    node: Box::new(node),
                    fields,
                },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.typ {
            ItemType::Identifier => {
                if !self.opts.skip_func_check && !self.has_function(&t.val) {
                    return self.errorf(format!(
                        "function {} not defined",
                        crate::gofmt::quote(&t.val)
                    ));
                }
                Arg::Identifier {
                    pos: t.pos,
                    name: t.val,
                }
            }
            ItemType::Dot => Arg::Dot { pos: t.pos },
            ItemType::Nil => Arg::Nil { pos: t.pos },
            ItemType::Variable => {
                let ident: Vec<String> = t.val.split('.').map(String::from).collect();
                if !self.vars.iter().any(|v| *v == ident[0]) {
                    return self.errorf(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(&ident[0])
                    ));
                }
                Arg::Variable(Variable { pos: t.pos, ident })
            }
            ItemType::Field => Arg::Field {
                pos: t.pos,
                ident: t.val[1..].split('.').map(String::from).collect(),
            },
            ItemType::Bool => Arg::Bool {
                pos: t.pos,
                val: t.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match new_number(t.pos, &t.val, t.typ) {
                    Ok(n) => Arg::Number(n),
                    Err(e) => return self.errorf(e),
                }
            }
            ItemType::LeftParen => {
                if self.stack_depth >= MAX_STACK_DEPTH {
                    return self.errorf("max expression depth exceeded");
                }
                self.stack_depth += 1;
                let r = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            ItemType::String | ItemType::RawString => match unquote(&t.val) {
                Ok(s) => Arg::String {
                    pos: t.pos,
                    quoted: t.val,
                    text: s,
                },
                Err(e) => return self.errorf(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals.
pub fn unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(err());
    }
    let q = b[0];
    if q != b[b.len() - 1] {
        return Err(err());
    }
    let inner = &s[1..s.len() - 1];
    match q {
        b'`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' | b'\'' => {
            let mut out = String::new();
            let mut rest = inner;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, q as char)?;
                if q == b'\'' && !out.is_empty() {
                    return Err(err());
                }
                out.push_str(&c);
                rest = tail;
            }
            if q == b'\'' && out.chars().count() != 1 {
                return Err(err());
            }
            Ok(out)
        }
        _ => Err(err()),
    }
}

/// Go's `strconv.UnquoteChar`: the first (possibly escaped) character of `s` and the rest.
/// Returns a string because `\xNN` may be a lone byte (kept as U+FFFD here).
pub fn unquote_char(s: &str, quote: char) -> Result<(String, &str), String> {
    let err = || "invalid syntax".to_string();
    let mut chars = s.chars();
    let c = chars.next().ok_or_else(err)?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(err());
    }
    if c != '\\' {
        if c == '\n' && quote != '`' {
            // Go allows it in UnquoteChar; the lexer never produces one.
        }
        return Ok((c.to_string(), chars.as_str()));
    }
    let e = chars.next().ok_or_else(err)?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return Err(err());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c.to_string(), rest));
    }
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            if rest.len() < n || !rest.is_char_boundary(n) {
                return Err(err());
            }
            let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| err())?;
            if !rest[..n].bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            if e == 'x' {
                // A single byte: valid UTF-8 only below 0x80.
                let c = if v < 0x80 {
                    char::from(v as u8)
                } else {
                    '\u{FFFD}'
                };
                return Ok((c.to_string(), &rest[n..]));
            }
            let c = char::from_u32(v).ok_or_else(err)?;
            Ok((c.to_string(), &rest[n..]))
        }
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2).ok_or_else(err)?);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(err());
            }
            let v = u32::from_str_radix(&digits, 8).map_err(|_| err())?;
            if v > 255 {
                return Err(err());
            }
            let c = if v < 0x80 {
                char::from(v as u8)
            } else {
                '\u{FFFD}'
            };
            Ok((c.to_string(), &rest[2..]))
        }
        _ => Err(err()),
    }
}

/// Go's `underscoreOK`.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, 0, 64)` / `ParseInt(s, 0, 64)`: the magnitude and sign.
/// `strconv.ParseInt(s, 0, 64)` (with `allow_sign`) or `ParseUint(s, 0, 64)`: sign and magnitude.
pub fn parse_int_base0(s: &str, allow_sign: bool) -> Option<(bool, u64)> {
    let mut t = s;
    let mut neg = false;
    if allow_sign && (t.starts_with('+') || t.starts_with('-')) {
        neg = t.starts_with('-');
        t = &t[1..];
    }
    if t.is_empty() {
        return None;
    }
    let (base, digits) = if t.len() >= 2 && t.as_bytes()[0] == b'0' {
        match t.as_bytes()[1] | 0x20 {
            b'x' => (16, &t[2..]),
            b'o' => (8, &t[2..]),
            b'b' => (2, &t[2..]),
            _ => (8, &t[1..]),
        }
    } else {
        (10, t)
    };
    if t.contains('_') && !underscore_ok(s) {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return if base == 8 && t.len() >= 2 && (t.as_bytes()[1] | 0x20) != b'o' {
            Some((neg, 0))
        } else {
            None
        };
    }
    u64::from_str_radix(&digits, base).ok().map(|v| (neg, v))
}

/// `strconv.ParseFloat(s, 64)` for Go literal syntax (decimal and hexadecimal, underscores).
pub fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let v = if body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X")) {
        parse_hex_float(&body[2..])?
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `simplifyComplex`: a complex constant with no imaginary part is also a float (and an
/// integer when integral).
fn simplify_complex(n: &mut Number) {
    n.is_float = n.complex.1 == 0.0;
    if n.is_float {
        let f = n.complex.0;
        n.float64 = f;
        n.is_int = f.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&f);
        if n.is_int {
            n.int64 = f as i64;
        }
        n.is_uint = f.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&f);
        if n.is_uint {
            n.uint64 = f as u64;
        }
    }
}

fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int64: 0,
        uint64: 0,
        float64: 0.0,
        complex: (0.0, 0.0),
        text: text.to_string(),
    };
    match typ {
        ItemType::CharConstant => {
            let (c, tail) = unquote_char(&text[1..], '\'')?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            let r = c.chars().next().unwrap_or('\0') as i64;
            n.int64 = r;
            n.is_int = true;
            n.uint64 = r as u64;
            n.is_uint = true;
            n.float64 = r as f64;
            n.is_float = true;
            return Ok(n);
        }
        ItemType::Complex => {
            // "re+imi" / "re-imi": split at the sign that starts the imaginary part.
            let body = &text[..text.len() - 1];
            let split = body
                .char_indices()
                .skip(1)
                .filter(|(i, c)| {
                    (*c == '+' || *c == '-')
                        && !matches!(body.as_bytes()[i - 1], b'e' | b'E' | b'p' | b'P')
                })
                .map(|(i, _)| i)
                .last();
            let (re, im) = match split {
                Some(i) => (parse_float(&body[..i]), parse_float(&body[i..])),
                None => (None, None),
            };
            let (Some(re), Some(im)) = (re, im) else {
                return Err("expected integer".to_string());
            };
            n.is_complex = true;
            n.complex = (re, im);
            simplify_complex(&mut n);
            return Ok(n);
        }
        _ => {}
    }
    if let Some(stripped) = text.strip_suffix('i')
        && let Some(f) = parse_float(stripped)
    {
        n.is_complex = true;
        n.complex = (0.0, f);
        simplify_complex(&mut n);
        return Ok(n);
    }
    let u = parse_int_base0(text, false);
    if let Some((_, u)) = u {
        n.is_uint = true;
        n.uint64 = u;
    }
    if let Some((neg, mag)) = parse_int_base0(text, true) {
        let i = if neg {
            if mag <= i64::MAX as u64 + 1 {
                Some((mag as i64).wrapping_neg())
            } else {
                None
            }
        } else if mag <= i64::MAX as u64 {
            Some(mag as i64)
        } else {
            None
        };
        if let Some(i) = i {
            n.is_int = true;
            n.int64 = i;
            if i == 0 {
                n.is_uint = true;
                n.uint64 = 0;
            }
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float64 = n.int64 as f64;
    } else if n.is_uint {
        n.is_float = true;
        n.float64 = n.uint64 as f64;
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        n.is_float = true;
        n.float64 = f;
        if f.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&f) {
            n.is_int = true;
            n.int64 = f as i64;
        }
        if f.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&f) {
            n.is_uint = true;
            n.uint64 = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text)
        ));
    }
    Ok(n)
}

/// A set of parsed trees by name.
pub type TreeSet = HashMap<String, Arc<Tree>>;
