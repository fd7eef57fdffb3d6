//! The executor of Go's `text/template/exec.go`.
//!
//! Values flow as `Option<Value>`: `None` is Go's invalid `reflect.Value` (a missing key, no
//! value), `Some(Value::Nil)` a nil interface (a `null` element of a list or map). The two
//! print the same but differ in field access: `.a.b` on a missing `.a` is `<no value>`, on a
//! null `.a` it is Go's `nil pointer evaluating interface {}.b`.

use std::cell::Cell;
use std::rc::Rc;

use super::funcs::Builtin;
use super::node::{Arg, Branch, Command, List, Node, Pipe, Tree, Variable};
use super::{Error, MissingKey, Templates};
use crate::gofmt;
use crate::value::{Type, Value};

mod call;
use call::Callee;
pub(crate) use call::P;

type RV = Option<Value>;

/// Stack left before recursion grows a new segment, and the size of a segment.
pub(super) const RED_ZONE: usize = 128 * 1024;
pub(super) const STACK_SEGMENT: usize = 2 * 1024 * 1024;
pub(super) type EResult<T> = Result<T, Error>;

/// What a function sees of the execution that calls it (Helm's `include` and `tpl` use it).
pub struct Ctx<'a> {
    /// The template set being executed.
    pub templates: &'a Templates,
    /// Template call depth at the call.
    pub depth: usize,
    /// Execution steps used so far by the whole render (shared with nested executions).
    steps: Rc<Cell<u64>>,
}

impl Ctx<'_> {
    /// Executes template `name` of the current set with `data` (Helm's `include`).
    ///
    /// # Errors
    /// The execution error's message.
    pub fn execute_template(&mut self, name: &str, data: &Value) -> Result<String, String> {
        if self.depth + 1 >= self.templates.limits.max_depth {
            return Err(format!(
                "exceeded maximum template depth ({})",
                self.templates.limits.max_depth
            ));
        }
        let dot = if data.is_nil() {
            None
        } else {
            Some(data.clone())
        };
        execute(
            self.templates,
            name,
            dot,
            self.depth + 1,
            self.steps.clone(),
        )
        .map_err(|e| e.message)
    }

    /// The same call context over another template set (Helm's `tpl` executes a clone).
    pub fn with_templates<'b>(&self, templates: &'b Templates) -> Ctx<'b> {
        Ctx {
            templates,
            depth: self.depth,
            steps: self.steps.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Arg(&'t Arg),
    Pipe(&'t Pipe),
    Var(&'t Variable),
    Cmd(&'t Command),
    List(&'t List),
}

impl At<'_> {
    fn pos_and_text(&self) -> Option<(usize, String)> {
        Some(match self {
            At::None => return None,
            At::Node(n) => (n.pos(), n.to_string()),
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Var(v) => (v.pos, v.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::List(l) => (l.pos, l.to_string()),
        })
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'t> {
    set: &'t Templates,
    tree: &'t Tree,
    name: &'t str,
    out: &'t mut String,
    node: At<'t>,
    vars: Vec<(String, RV, bool)>,
    depth: usize,
    steps: Rc<Cell<u64>>,
    /// Whether dot's static Go type is `interface {}` (an element of a `[]interface {}` or
    /// `map[string]interface {}`): Go names that type in "can't evaluate field" errors.
    dot_iface: bool,
}

/// Executes template `name` of `set`.
pub(super) fn execute(
    set: &Templates,
    name: &str,
    dot: RV,
    depth: usize,
    steps: Rc<Cell<u64>>,
) -> EResult<String> {
    let Some(tree) = set.trees.get(name) else {
        return Err(Error {
            parse: false,
            message: format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name),
                gofmt::quote(&set.name)
            ),
        });
    };
    let mut out = String::new();
    let mut s = State {
        set,
        tree,
        name: &tree.name,
        out: &mut out,
        node: At::None,
        vars: vec![("$".into(), dot.clone(), false)],
        depth,
        steps,
        dot_iface: false,
    };
    s.walk_list(&dot, &tree.root)?;
    Ok(out)
}

impl<'t> State<'t> {
    fn at(&mut self, a: At<'t>) {
        self.node = a;
    }

    fn errorf<T>(&self, msg: impl AsRef<str>) -> EResult<T> {
        Err(self.error(msg.as_ref()))
    }

    fn error(&self, msg: &str) -> Error {
        let message = match self.node.pos_and_text() {
            None => format!("template: {}: {}", self.name, msg),
            Some((pos, context)) => {
                let text = &self.tree.text[..pos.min(self.tree.text.len())];
                let col = match text.rfind('\n') {
                    None => pos,
                    Some(i) => pos - (i + 1),
                };
                let line = 1 + text.matches('\n').count();
                format!(
                    "template: {}:{}:{}: executing {} at <{}>: {}",
                    self.tree.parse_name,
                    line,
                    col,
                    gofmt::quote(self.name),
                    context,
                    msg
                )
            }
        };
        Error {
            parse: false,
            message,
        }
    }

    fn write(&mut self, s: &str) -> EResult<()> {
        if self.out.len() + s.len() > self.set.limits.max_output {
            return self.errorf(format!(
                "output exceeds {} bytes",
                self.set.limits.max_output
            ));
        }
        self.out.push_str(s);
        Ok(())
    }

    // ---- variables ----

    fn mark(&self) -> usize {
        self.vars.len()
    }

    fn pop(&mut self, mark: usize) {
        self.vars.truncate(mark);
    }

    fn set_var(&mut self, name: &str, value: RV) -> EResult<()> {
        for v in self.vars.iter_mut().rev() {
            if v.0 == name {
                v.1 = value;
                v.2 = false;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn set_top_var(&mut self, n: usize, value: RV, iface: bool) {
        let l = self.vars.len();
        self.vars[l - n].1 = value;
        self.vars[l - n].2 = iface;
    }

    fn var_value(&self, name: &str) -> EResult<(RV, bool)> {
        for v in self.vars.iter().rev() {
            if v.0 == name {
                return Ok((v.1.clone(), v.2));
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    // ---- walking ----

    fn walk_list(&mut self, dot: &RV, list: &'t List) -> EResult<Flow> {
        self.at(At::List(list));
        for n in &list.nodes {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    /// Counts one step of the render against `Limits::max_steps`.
    fn step(&mut self) -> EResult<()> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if n > self.set.limits.max_steps {
            return self.errorf(format!(
                "template execution exceeds {} steps",
                self.set.limits.max_steps
            ));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &RV, node: &'t Node) -> EResult<Flow> {
        self.step()?;
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.walk_node(dot, node))
    }

    fn walk_node(&mut self, dot: &RV, node: &'t Node) -> EResult<Flow> {
        self.at(At::Node(node));
        match node {
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(node, val)?;
                }
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
            Node::Comment { .. } => {}
            Node::If(b) => return self.walk_if_or_with(false, dot, b),
            Node::With(b) => return self.walk_if_or_with(true, dot, b),
            Node::Range(b) => return self.walk_range(dot, b, node),
            Node::Template { name, pipe, .. } => {
                self.walk_template(dot, node, name, pipe.as_ref())?
            }
            Node::Text { text, .. } => self.write(text)?,
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &RV, b: &'t Branch) -> EResult<Flow> {
        let mark = self.mark();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            let truth = is_true(&val);
            if truth {
                if with {
                    // The new dot is a pipeline result: its static type is its own.
                    let saved = std::mem::replace(&mut self.dot_iface, false);
                    let r = self.walk_list(&val, &b.list);
                    self.dot_iface = saved;
                    r
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.pop(mark);
        r
    }

    fn walk_range(&mut self, dot: &RV, r: &'t Branch, node: &'t Node) -> EResult<Flow> {
        self.at(At::Node(node));
        let mark0 = self.mark();
        let res = self.walk_range_inner(dot, r);
        self.pop(mark0);
        res.map(|flow| match flow {
            // A break or continue inside the range does not leave it.
            Flow::Break | Flow::Continue | Flow::Normal => Flow::Normal,
        })
    }

    fn one_iteration(
        &mut self,
        r: &'t Branch,
        mark: usize,
        index: RV,
        elem: RV,
        iface: bool,
    ) -> EResult<Flow> {
        self.step()?;
        let decl = &r.pipe.decl;
        if !decl.is_empty() {
            if r.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0].ident[0], index.clone())?;
                } else {
                    self.set_var(&decl[0].ident[0], elem.clone())?;
                }
            } else {
                self.set_top_var(1, elem.clone(), iface);
            }
        }
        if decl.len() > 1 {
            if r.pipe.is_assign {
                self.set_var(&decl[1].ident[0], elem.clone())?;
            } else {
                self.set_top_var(2, index, false);
            }
        }
        let saved = std::mem::replace(&mut self.dot_iface, iface);
        let flow = self.walk_list(&elem, &r.list);
        self.dot_iface = saved;
        self.pop(mark);
        flow
    }

    fn walk_range_inner(&mut self, dot: &RV, r: &'t Branch) -> EResult<Flow> {
        let val = self.eval_pipeline(dot, &r.pipe)?;
        let mark = self.mark();
        let mut ran = false;
        macro_rules! iterate {
            ($index:expr, $elem:expr, $iface:expr) => {{
                ran = true;
                match self.one_iteration(r, mark, $index, $elem, $iface)? {
                    Flow::Break => break,
                    Flow::Continue | Flow::Normal => {}
                }
            }};
        }
        match &val {
            Some(Value::Int(_) | Value::Int64(_) | Value::Uint(_) | Value::Uint8(_)) => {
                if r.pipe.decl.len() > 1 {
                    let v = gofmt::sprint(&[val.clone().unwrap_or_default()]);
                    return self.errorf(format!(
                        "can't use {v} to iterate over more than one variable"
                    ));
                }
                let (n, mk): (i128, fn(i128) -> Value) = match &val {
                    Some(Value::Int(i)) => (*i as i128, |i| Value::Int(i as i64)),
                    Some(Value::Int64(i)) => (*i as i128, |i| Value::Int64(i as i64)),
                    Some(Value::Uint(u)) => (*u as i128, |i| Value::Uint(i as u64)),
                    Some(Value::Uint8(u)) => (*u as i128, |i| Value::Uint8(i as u8)),
                    _ => (0, |_| Value::Nil),
                };
                let mut i = 0i128;
                while i < n {
                    iterate!(None, Some(mk(i)), false);
                    i += 1;
                }
            }
            Some(Value::Slice(s)) => {
                let s = s.clone();
                let iface = s.elem == Type::Interface;
                for (i, e) in s.items.iter().enumerate() {
                    iterate!(Some(Value::Int(i as i64)), Some(e.clone()), iface);
                }
            }
            Some(Value::Bytes(b)) => {
                let b = b.clone();
                for (i, e) in b.iter().enumerate() {
                    iterate!(Some(Value::Int(i as i64)), Some(Value::Uint8(*e)), false);
                }
            }
            Some(Value::Map(m)) => {
                // Go sorts the keys once, before the first iteration.
                let (entries, iface): (Vec<(String, Value)>, bool) = {
                    let m = m.borrow();
                    (
                        m.entries
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        m.elem == Type::Interface,
                    )
                };
                for (k, v) in entries {
                    iterate!(Some(Value::from(k)), Some(v), iface);
                }
            }
            None => {}
            Some(v) => {
                let v = gofmt::sprint(std::slice::from_ref(v));
                return self.errorf(format!("range can't iterate over {v}"));
            }
        }
        if !ran && let Some(e) = &r.else_list {
            return self.walk_list(dot, e);
        }
        Ok(Flow::Normal)
    }

    fn walk_template(
        &mut self,
        dot: &RV,
        node: &'t Node,
        name: &str,
        pipe: Option<&'t Pipe>,
    ) -> EResult<()> {
        self.at(At::Node(node));
        let Some(tree) = self.set.trees.get(name) else {
            return self.errorf(format!("template {} not defined", gofmt::quote(name)));
        };
        if self.depth >= self.set.limits.max_depth {
            return self.errorf(format!(
                "exceeded maximum template depth ({})",
                self.set.limits.max_depth
            ));
        }
        let dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => None,
        };
        let mut inner = State {
            set: self.set,
            tree,
            name: &tree.name,
            out: &mut *self.out,
            node: At::None,
            vars: vec![("$".into(), dot.clone(), false)],
            depth: self.depth + 1,
            steps: self.steps.clone(),
            dot_iface: false,
        };
        inner.walk_list(&dot, &tree.root)?;
        Ok(())
    }

    // ---- evaluation ----

    fn eval_pipeline(&mut self, dot: &RV, pipe: &'t Pipe) -> EResult<RV> {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
            self.eval_pipeline_inner(dot, pipe)
        })
    }

    fn eval_pipeline_inner(&mut self, dot: &RV, pipe: &'t Pipe) -> EResult<RV> {
        self.at(At::Pipe(pipe));
        let mut value: Option<RV> = None; // None = Go's missingVal
        for cmd in &pipe.cmds {
            let mut v = self.eval_command(dot, cmd, value)?;
            if let Some(Value::Nil) = v {
                v = None; // the Elem of a nil interface is invalid
            }
            value = Some(v);
        }
        let value = value.unwrap_or(None);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&var.ident[0], value.clone())?;
            } else {
                self.vars.push((var.ident[0].clone(), value.clone(), false));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<RV>) -> EResult<()> {
        if args.len() > 1 || fin.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &RV, cmd: &'t Command, fin: Option<RV>) -> EResult<RV> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { ident, .. } => {
                return self.eval_field_node(dot, first, ident, &cmd.args, fin);
            }
            Arg::Chain { node, fields, .. } => {
                return self.eval_chain_node(dot, first, node, fields, &cmd.args, fin);
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, At::Cmd(cmd), name, &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(v) => return self.eval_variable_node(dot, v, &cmd.args, fin),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Some(Value::Bool(*val))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Number(_) => self.ideal_constant(first),
            Arg::String { text, .. } => Ok(Some(Value::from(text.as_str()))),
            _ => self.errorf(format!(
                "can't evaluate command {}",
                gofmt::quote(&first.to_string())
            )),
        }
    }

    fn ideal_constant(&mut self, a: &'t Arg) -> EResult<RV> {
        self.at(At::Arg(a));
        let Arg::Number(n) = a else { return Ok(None) };
        let t = &n.text;
        let is_hex_int = t.len() > 2
            && t.starts_with('0')
            && matches!(t.as_bytes()[1], b'x' | b'X')
            && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if n.is_complex {
            return Ok(Some(Value::Complex(n.complex.0, n.complex.1)));
        }
        if n.is_float && !is_hex_int && !is_rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Some(Value::Float64(n.float64)));
        }
        if n.is_int {
            return Ok(Some(Value::Int(n.int64)));
        }
        if n.is_uint {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(None)
    }

    fn eval_field_node(
        &mut self,
        dot: &RV,
        a: &'t Arg,
        ident: &[String],
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        self.at(At::Arg(a));
        let iface = self.dot_iface;
        self.eval_field_chain(dot, dot.clone(), iface, At::Arg(a), ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &RV,
        a: &'t Arg,
        node: &'t Arg,
        fields: &[String],
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        self.at(At::Arg(a));
        if fields.is_empty() {
            return self.errorf("internal error: no fields in evalChainNode");
        }
        if let Arg::Nil { .. } = node {
            return self.errorf(format!("indirection through explicit nil in {a}"));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        // The static type of a function's result: `interface {}` for `index` of an interface
        // container and for functions declared to return `interface {}`.
        let iface = match node {
            Arg::Identifier { name, .. } => match self.set.funcs.get(name.as_str()) {
                Some(f) => f.result == Type::Interface,
                None => matches!(name.as_str(), "index" | "call"),
            },
            _ => false,
        };
        self.eval_field_chain(dot, pipe, iface, At::Arg(a), fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &RV,
        v: &'t Variable,
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        self.at(At::Var(v));
        let (value, iface) = self.var_value(&v.ident[0])?;
        if v.ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, iface, At::Var(v), &v.ident[1..], args, fin)
    }

    #[allow(clippy::too_many_arguments)] // reason: a direct port of Go's evalFieldChain
    fn eval_field_chain(
        &mut self,
        dot: &RV,
        mut receiver: RV,
        mut iface: bool,
        node: At<'t>,
        ident: &[String],
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        let n = ident.len();
        for id in &ident[..n - 1] {
            let next_iface =
                matches!(&receiver, Some(Value::Map(m)) if m.borrow().elem == Type::Interface);
            receiver = self.eval_field(dot, id, node, &[], None, receiver, iface)?;
            iface = next_iface;
        }
        self.eval_field(dot, &ident[n - 1], node, args, fin, receiver, iface)
    }

    fn eval_function(
        &mut self,
        dot: &RV,
        node: &'t Arg,
        cmd: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        self.at(At::Arg(node));
        if let Some(f) = self.set.funcs.get(name) {
            let f = f.clone();
            return self.eval_call(dot, Callee::User(f), cmd, name, args, fin);
        }
        if let Some(b) = Builtin::by_name(name) {
            return self.eval_call(dot, Callee::Builtin(b), cmd, name, args, fin);
        }
        self.errorf(format!("{} is not a defined function", gofmt::quote(name)))
    }

    #[allow(clippy::too_many_arguments)] // reason: a direct port of Go's evalField
    fn eval_field(
        &mut self,
        dot: &RV,
        field: &str,
        node: At<'t>,
        args: &'t [Arg],
        fin: Option<RV>,
        receiver: RV,
        iface: bool,
    ) -> EResult<RV> {
        let Some(recv) = receiver else {
            if self.set.missing_key == MissingKey::Error {
                return self.errorf(format!(
                    "nil data; no entry for key {}",
                    gofmt::quote(field)
                ));
            }
            return Ok(None);
        };
        let has_args = args.len() > 1 || fin.is_some();
        match &recv {
            Value::Nil => {
                return self.errorf(format!("nil pointer evaluating interface {{}}.{field}"));
            }
            Value::Object(o) => {
                if let Some(m) = o.method(field) {
                    return self.eval_call(dot, Callee::User(m), node, field, args, fin);
                }
                if let Some(v) = o.field(field) {
                    if has_args {
                        return self.errorf(format!(
                            "{field} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(Some(v));
                }
            }
            Value::Slice(s) if s.methods.is_some() => {
                if let Some(m) = s.methods.as_ref().and_then(|ms| ms.method(field, &recv)) {
                    return self.eval_call(dot, Callee::User(m), node, field, args, fin);
                }
            }
            Value::Map(m) => {
                // Methods of a named map type win over its keys, as in Go.
                let method = m
                    .borrow()
                    .methods
                    .clone()
                    .and_then(|ms| ms.method(field, &recv));
                if let Some(f) = method {
                    return self.eval_call(dot, Callee::User(f), node, field, args, fin);
                }
                if has_args {
                    return self.errorf(format!("{field} is not a method but has arguments"));
                }
                let (found, elem) = {
                    let m = m.borrow();
                    (m.entries.get(field).cloned(), m.elem.clone())
                };
                return match found {
                    Some(v) => Ok(Some(v)),
                    None => match self.set.missing_key {
                        MissingKey::Invalid => Ok(None),
                        MissingKey::Zero => Ok(Some(elem.zero())),
                        MissingKey::Error => {
                            self.errorf(format!("map has no entry for key {}", gofmt::quote(field)))
                        }
                    },
                };
            }
            _ => {}
        }
        let typ = if iface {
            "interface {}".to_string()
        } else {
            recv.type_name()
        };
        self.errorf(format!("can't evaluate field {field} in type {typ}"))
    }

    fn print_value(&mut self, node: &'t Node, v: RV) -> EResult<()> {
        self.at(At::Node(node));
        let s = match &v {
            None => "<no value>".to_string(),
            Some(Value::Func(f)) => {
                return self.errorf(format!("can't print {node} of type {}", f.signature()));
            }
            // Go's printValue takes the address of an addressable struct whose pointer is a
            // Stringer (`.Capabilities.KubeVersion`, a field of a pointer).
            Some(Value::Object(o)) if o.pointer_stringer().is_some() => {
                o.pointer_stringer().unwrap_or_default()
            }
            Some(v) => gofmt::sprint(std::slice::from_ref(v)),
        };
        self.write(&s)
    }
}

/// Go's `isTrue(indirectInterface(v))`.
pub(super) fn is_true(v: &RV) -> bool {
    match v {
        None => false,
        Some(v) => v.truth(),
    }
}

pub(super) fn truth(v: &RV) -> bool {
    is_true(v)
}
