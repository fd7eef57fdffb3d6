//! Go's `text/template`: [`Templates`] is a set of named templates sharing functions and
//! options (Go's `*template.Template` and its "common" part); parse text into it, then execute
//! one of its templates.
//!
//! ```
//! use helm::template::Templates;
//! use helm::value::{Value, dict};
//! let mut t = Templates::new();
//! t.parse("page", r#"{{define "x"}}[{{.}}]{{end}}{{range $k, $v := .}}{{$k}}={{template "x" $v}} {{end}}"#).unwrap();
//! let data = dict([("b", Value::Float64(1e6)), ("a", Value::from("y"))]);
//! assert_eq!(t.execute("page", &data).unwrap(), "a=[y] b=[1e+06] ");
//! ```

mod exec;
mod funcs;
mod lex;
pub mod node;
mod number;
pub mod parse;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::value::{Type, Value};
pub use exec::Ctx;
use node::{Tree, is_empty_list};

/// An error from parsing or executing a template, with Go's message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Whether the error happened while parsing (else while executing).
    pub parse: bool,
    /// The message exactly as Go prints it (`template: x:1:5: executing "x" at <.a>: …`).
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// What a missing map key evaluates to (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// `<no value>` (`missingkey=default` / `invalid`).
    #[default]
    Invalid,
    /// The zero value of the map's element type (`missingkey=zero`).
    Zero,
    /// An error (`missingkey=error`).
    Error,
}

/// The implementation of a template function.
pub type FuncImpl = dyn Fn(&mut Ctx<'_>, Vec<Value>) -> Result<Value, String>;

/// A function callable from templates, with its Go signature (argument counts and types are
/// checked, and constants converted, exactly as Go's reflection-based calls do).
pub struct Func {
    /// The name it is registered under (for messages).
    pub name: String,
    /// Fixed parameter types.
    pub params: Vec<Type>,
    /// The element type of a final variadic parameter.
    pub variadic: Option<Type>,
    /// The result type (for `%T`).
    pub result: Type,
    /// Whether it also returns an `error`.
    pub returns_error: bool,
    imp: Box<FuncImpl>,
}

impl Func {
    /// A function of the given signature.
    pub fn new(
        name: &str,
        params: Vec<Type>,
        variadic: Option<Type>,
        result: Type,
        imp: impl Fn(&mut Ctx<'_>, Vec<Value>) -> Result<Value, String> + 'static,
    ) -> Func {
        Func {
            name: name.to_string(),
            params,
            variadic,
            result,
            returns_error: true,
            imp: Box::new(imp),
        }
    }

    /// A method without arguments returning `value` (a field-like method of an object:
    /// `.Major` of a version, `.Year` of a time).
    pub fn constant(name: &str, result: Type, value: Value) -> Rc<Func> {
        Rc::new(Func::new(
            name,
            vec![],
            None,
            result,
            move |_: &mut Ctx<'_>, _| Ok(value.clone()),
        ))
    }

    /// Go's spelling of the signature (`func(string, ...interface {}) string`).
    pub fn signature(&self) -> Rc<str> {
        let mut s = String::from("func(");
        let mut first = true;
        for p in &self.params {
            if !first {
                s.push_str(", ");
            }
            first = false;
            s.push_str(&p.to_string());
        }
        if let Some(v) = &self.variadic {
            if !first {
                s.push_str(", ");
            }
            s.push_str("...");
            s.push_str(&v.to_string());
        }
        s.push_str(") ");
        if self.returns_error {
            s.push_str(&format!("({}, error)", self.result));
        } else {
            s.push_str(&self.result.to_string());
        }
        Rc::from(s)
    }

    /// Calls the function.
    ///
    /// # Errors
    /// The function's own error text.
    pub fn call(&self, ctx: &mut Ctx<'_>, args: Vec<Value>) -> Result<Value, String> {
        (self.imp)(ctx, args)
    }
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({})", self.name)
    }
}

/// Bounds on one execution, so a hostile template cannot exhaust the host.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Nesting of `{{template}}` (and `include`) calls. Go allows 100000; a native stack does
    /// not, so this is lower.
    pub max_depth: usize,
    /// Bytes of output of one execution.
    pub max_output: usize,
    /// Steps (actions, iterations) of one execution, includes and `tpl` included: bounds the
    /// time a template can take (`{{range 1000000000}}{{end}}`) without a clock.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            max_output: 64 << 20,
            max_steps: 50_000_000,
        }
    }
}

/// A set of named templates with their functions and options.
#[derive(Default, Clone)]
pub struct Templates {
    trees: HashMap<String, Arc<Tree>>,
    funcs: HashMap<String, Rc<Func>>,
    /// The `missingkey` option.
    pub missing_key: MissingKey,
    /// Action delimiters (empty: `{{` and `}}`).
    pub delims: (String, String),
    /// Execution bounds.
    pub limits: Limits,
    /// The name of the first template parsed (Go's name of the set's template).
    name: String,
}

impl Templates {
    /// An empty set with only the built-in functions.
    pub fn new() -> Self {
        Templates::default()
    }

    /// Adds (or replaces) functions.
    pub fn add_func(&mut self, f: Func) {
        self.funcs.insert(f.name.clone(), Rc::new(f));
    }

    /// The names of the registered functions, sorted.
    pub fn func_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.funcs.keys().cloned().collect();
        v.sort();
        v
    }

    /// The function registered under `name`.
    pub fn func(&self, name: &str) -> Option<&Rc<Func>> {
        self.funcs.get(name)
    }

    /// Sets an option as Go's `Option` does (`missingkey=zero`).
    ///
    /// # Errors
    /// An unknown option.
    pub fn option(&mut self, opt: &str) -> Result<(), Error> {
        self.missing_key = match opt {
            "missingkey=invalid" | "missingkey=default" => MissingKey::Invalid,
            "missingkey=zero" => MissingKey::Zero,
            "missingkey=error" => MissingKey::Error,
            _ => {
                return Err(Error {
                    parse: true,
                    message: format!("unrecognized option: {opt}"),
                });
            }
        };
        Ok(())
    }

    /// Parses `text` as the body of template `name`; its `define`s become templates of the set.
    /// A template defined again replaces the earlier one, except that an empty body never
    /// replaces a non-empty one (Go's rule that lets a chart override a subchart's `define`).
    ///
    /// # Errors
    /// Go's parse error (`template: NAME:LINE: …`).
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let funcs = &self.funcs;
        let has = |n: &str| funcs.contains_key(n);
        let opts = parse::ParseOptions {
            left_delim: self.delims.0.clone(),
            right_delim: self.delims.1.clone(),
            parse_comments: false,
            skip_func_check: false,
            has_function: Some(&has),
        };
        if self.name.is_empty() {
            self.name = name.to_string();
        }
        let trees = parse::parse(name, text, &opts).map_err(|message| Error {
            parse: true,
            message,
        })?;
        for tree in trees {
            if self.trees.contains_key(&tree.name) && is_empty_list(&tree.root) {
                continue;
            }
            self.trees.insert(tree.name.clone(), Arc::new(tree));
        }
        Ok(())
    }

    /// The set's name: the first template parsed, or the one given to [`Templates::set_name`]
    /// (Helm names its set `gotpl`; `tpl` parses its text under this name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names the set (Go's `template.New(name)`).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// Whether a template of that name is defined.
    pub fn has_template(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The parse tree of template `name` printed as Go's `Tree.Root.String()`.
    pub fn tree_string(&self, name: &str) -> Option<String> {
        self.trees.get(name).map(|t| t.root.to_string())
    }

    /// The functions each template calls, by template name (for warnings such as "uses `now`").
    pub fn functions_used(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        use node::{Arg, List, Node, Pipe};
        fn arg(a: &Arg, out: &mut std::collections::BTreeSet<String>) {
            match a {
                Arg::Identifier { name, .. } => {
                    out.insert(name.clone());
                }
                Arg::Pipe(p) => pipe(p, out),
                Arg::Chain { node, .. } => arg(node, out),
                _ => {}
            }
        }
        fn pipe(p: &Pipe, out: &mut std::collections::BTreeSet<String>) {
            for c in &p.cmds {
                for a in &c.args {
                    arg(a, out);
                }
            }
        }
        fn list(l: &List, out: &mut std::collections::BTreeSet<String>) {
            for n in &l.nodes {
                match n {
                    Node::Action { pipe: p, .. } => pipe(p, out),
                    Node::If(b) | Node::Range(b) | Node::With(b) => {
                        pipe(&b.pipe, out);
                        list(&b.list, out);
                        if let Some(e) = &b.else_list {
                            list(e, out);
                        }
                    }
                    Node::Template { pipe: Some(p), .. } => pipe(p, out),
                    _ => {}
                }
            }
        }
        self.trees
            .iter()
            .map(|(name, t)| {
                let mut used = std::collections::BTreeSet::new();
                list(&t.root, &mut used);
                (name.clone(), used)
            })
            .collect()
    }

    /// The names of the defined templates, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.trees.keys().cloned().collect();
        v.sort();
        v
    }

    /// Executes template `name` with `data` as dot.
    ///
    /// # Errors
    /// Go's execution error (`template: NAME:LINE:COL: executing "NAME" at <…>: …`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        self.execute_counting(name, data, &std::rc::Rc::new(std::cell::Cell::new(0)))
    }

    /// [`Templates::execute`] with a step counter shared between executions, so that
    /// [`Limits::max_steps`] bounds them together (Helm renders every template of a chart).
    ///
    /// # Errors
    /// As [`Templates::execute`].
    pub fn execute_counting(
        &self,
        name: &str,
        data: &Value,
        steps: &std::rc::Rc<std::cell::Cell<u64>>,
    ) -> Result<String, Error> {
        let dot = if data.is_nil() {
            None
        } else {
            Some(data.clone())
        };
        exec::execute(self, name, dot, 0, steps.clone())
    }
}
