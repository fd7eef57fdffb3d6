//! Calls: Go's `evalCall`, `evalArg` and `validateType` — the reflective checks of argument
//! counts and types that give Go's error messages — and the built-in `call`.

use std::rc::Rc;

use super::{At, Ctx, EResult, RV, State, truth};
use crate::template::Func;
use crate::template::funcs::{self, Builtin};
use crate::template::node::Arg;
use crate::value::{Type, Value};

impl<'t> State<'t> {
    pub(super) fn eval_call(
        &mut self,
        dot: &RV,
        callee: Callee,
        node: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<RV>,
    ) -> EResult<RV> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let (fixed, variadic) = callee.params();
        let num_in_sig = fixed.len() + usize::from(variadic.is_some());
        let num_in = args.len() + usize::from(fin.is_some());
        let mut num_fixed = args.len();
        if variadic.is_some() {
            num_fixed = fixed.len();
            if num_in < num_fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    fixed.len(),
                    args.len()
                ));
            }
        } else if num_in != num_in_sig {
            return self.errorf(format!(
                "wrong number of args for {name}: want {num_in_sig} got {num_in}"
            ));
        }
        if let Callee::Builtin(b @ (Builtin::And | Builtin::Or)) = callee {
            let or = b == Builtin::Or;
            let mut v: RV = None;
            for a in args {
                v = self.eval_arg(dot, Some(&P::Reflect), a)?;
                if truth(&v) == or {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = self.validate_type(f, Some(&P::Reflect))?;
            }
            return Ok(v);
        }
        let mut argv: Vec<RV> = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(&fixed[i]), &args[i])?);
            i += 1;
        }
        if let Some(vt) = &variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(vt), &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = fin {
            let t = match &variadic {
                Some(vt) => {
                    if num_in - 1 < num_fixed {
                        fixed[num_in - 1].clone()
                    } else {
                        vt.clone()
                    }
                }
                None => fixed[num_in_sig - 1].clone(),
            };
            argv.push(self.validate_type(f, Some(&t))?);
        }
        let result = match callee {
            Callee::Builtin(Builtin::Call) => {
                let callee_name = if args.is_empty() {
                    // Go prints the final value's String(): for a func, "<func(...) Value>".
                    match argv.first() {
                        Some(Some(v)) => format!("<{} Value>", v.type_name()),
                        _ => "<invalid Value>".to_string(),
                    }
                } else {
                    args[0].to_string()
                };
                self.call_value(&callee_name, argv)
            }
            Callee::Builtin(b) => funcs::call_builtin(b, argv),
            Callee::User(f) => {
                let vals: Vec<Value> = argv.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect();
                let mut ctx = Ctx {
                    templates: self.set,
                    depth: self.depth,
                    steps: self.steps.clone(),
                };
                f.call(&mut ctx, vals).map(Some)
            }
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(node);
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    /// The built-in `call`.
    pub(super) fn call_value(&mut self, name: &str, argv: Vec<RV>) -> Result<RV, String> {
        let mut it = argv.into_iter();
        let f = it.next().flatten();
        let f = match f {
            None | Some(Value::Nil) => return Err("call of nil".into()),
            Some(Value::Func(f)) => f,
            Some(v) => return Err(format!("non-function {name} of type {}", v.type_name())),
        };
        let args: Vec<RV> = it.collect();
        let n = f.params.len();
        if f.variadic.is_some() {
            if args.len() < n {
                return Err(format!(
                    "wrong number of args for {name}: got {} want at least {n}",
                    args.len()
                ));
            }
        } else if args.len() != n {
            return Err(format!(
                "wrong number of args for {name}: got {} want {n}",
                args.len()
            ));
        }
        let mut vals = Vec::with_capacity(args.len());
        for (i, a) in args.into_iter().enumerate() {
            let a = match a {
                Some(Value::Nil) => None,
                a => a,
            };
            let t = if i < n {
                f.params[i].clone()
            } else {
                f.variadic.clone().unwrap_or(Type::Interface)
            };
            match prepare_arg(a, &t) {
                Ok(v) => vals.push(v),
                Err(e) => return Err(format!("arg {i}: {e}")),
            }
        }
        let mut ctx = Ctx {
            templates: self.set,
            depth: self.depth,
            steps: self.steps.clone(),
        };
        f.call(&mut ctx, vals).map(Some)
    }

    pub(super) fn validate_type(&self, value: RV, typ: Option<&P>) -> EResult<RV> {
        let Some(typ) = typ else { return Ok(value) };
        let t = match typ {
            P::Reflect => return Ok(value),
            P::T(t) => t,
        };
        match value {
            None => {
                if t.can_be_nil() {
                    return Ok(Some(t.zero_nil()));
                }
                self.errorf(format!("invalid value; expected {t}"))
            }
            Some(Value::Nil) => {
                if *t == Type::Interface {
                    return Ok(Some(Value::Nil));
                }
                self.errorf(format!(
                    "wrong type for value; expected {t}; got interface {{}}"
                ))
            }
            Some(v) => {
                if v.assignable_to(t) {
                    return Ok(Some(v));
                }
                self.errorf(format!(
                    "wrong type for value; expected {t}; got {}",
                    v.type_name()
                ))
            }
        }
    }

    pub(super) fn eval_arg(&mut self, dot: &RV, typ: Option<&P>, n: &'t Arg) -> EResult<RV> {
        self.at(At::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), typ),
            Arg::Nil { .. } => {
                return match typ {
                    Some(P::Reflect) => Ok(None),
                    Some(P::T(t)) if t.can_be_nil() => Ok(Some(t.zero_nil())),
                    Some(P::T(t)) => self.errorf(format!("cannot assign nil to {t}")),
                    None => self.errorf("cannot assign nil to <nil>"),
                };
            }
            Arg::Field { ident, .. } => {
                let v = self.eval_field_node(dot, n, ident, std::slice::from_ref(n), None)?;
                return self.validate_type(v, typ);
            }
            Arg::Variable(v) => {
                let v = self.eval_variable_node(dot, v, &[], None)?;
                return self.validate_type(v, typ);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, typ);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, n, At::Arg(n), name, &[], None)?;
                return self.validate_type(v, typ);
            }
            Arg::Chain { node, fields, .. } => {
                let v = self.eval_chain_node(dot, n, node, fields, &[], None)?;
                return self.validate_type(v, typ);
            }
            _ => {}
        }
        let t = match typ {
            None | Some(P::Reflect) => return self.eval_empty_interface(dot, n),
            Some(P::T(t)) => t,
        };
        match t {
            Type::Bool => match n {
                Arg::Bool { val, .. } => Ok(Some(Value::Bool(*val))),
                _ => self.errorf(format!("expected bool; found {n}")),
            },
            Type::Float64 => match n {
                Arg::Number(x) if x.is_float => Ok(Some(Value::Float64(x.float64))),
                _ => self.errorf(format!("expected float; found {n}")),
            },
            Type::Int | Type::Int64 => match n {
                Arg::Number(x) if x.is_int => Ok(Some(if *t == Type::Int {
                    Value::Int(x.int64)
                } else {
                    Value::Int64(x.int64)
                })),
                _ => self.errorf(format!("expected integer; found {n}")),
            },
            Type::Uint | Type::Uint8 => match n {
                Arg::Number(x) if x.is_uint => Ok(Some(if *t == Type::Uint {
                    Value::Uint(x.uint64)
                } else {
                    Value::Uint8(x.uint64 as u8)
                })),
                _ => self.errorf(format!("expected unsigned integer; found {n}")),
            },
            Type::String => match n {
                Arg::String { text, .. } => Ok(Some(Value::from(text.as_str()))),
                _ => self.errorf(format!("expected string; found {n}")),
            },
            Type::Interface => self.eval_empty_interface(dot, n),
            _ => self.errorf(format!("can't handle {n} for arg of type {t}")),
        }
    }

    pub(super) fn eval_empty_interface(&mut self, dot: &RV, n: &'t Arg) -> EResult<RV> {
        self.at(At::Arg(n));
        match n {
            Arg::Bool { val, .. } => Ok(Some(Value::Bool(*val))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Field { ident, .. } => self.eval_field_node(dot, n, ident, &[], None),
            Arg::Identifier { name, .. } => self.eval_function(dot, n, At::Arg(n), name, &[], None),
            Arg::Nil { .. } => self.errorf("evalEmptyInterface: nil (can't happen)"),
            Arg::Number(_) => self.ideal_constant(n),
            Arg::String { text, .. } => Ok(Some(Value::from(text.as_str()))),
            Arg::Variable(v) => self.eval_variable_node(dot, v, &[], None),
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Chain { .. } => self.errorf(format!(
                "can't handle assignment of {n} to empty interface argument"
            )),
        }
    }
}

/// A parameter type: Go's `reflect.Value` (built-ins see "no value" as such) or a Go type.
#[derive(Clone, Debug)]
pub(crate) enum P {
    Reflect,
    T(Type),
}

pub(super) enum Callee {
    Builtin(Builtin),
    User(Rc<Func>),
}

impl Callee {
    fn params(&self) -> (Vec<P>, Option<P>) {
        match self {
            Callee::Builtin(b) => b.signature(),
            Callee::User(f) => (
                f.params.iter().cloned().map(P::T).collect(),
                f.variadic.clone().map(P::T),
            ),
        }
    }
}

/// Go's `prepareArg` (used by `call`).
fn prepare_arg(value: RV, t: &Type) -> Result<Value, String> {
    let Some(v) = value else {
        if !t.can_be_nil() {
            return Err(format!("value is nil; should be of type {t}"));
        }
        return Ok(t.zero_nil());
    };
    if v.assignable_to(t) {
        return Ok(v);
    }
    let int_like = |t: &Type| matches!(t, Type::Int | Type::Int64 | Type::Uint | Type::Uint8);
    if let Some(vt) = v.go_type()
        && int_like(&vt)
        && int_like(t)
    {
        let n: i128 = match &v {
            Value::Int(i) | Value::Int64(i) => *i as i128,
            Value::Uint(u) => *u as i128,
            Value::Uint8(u) => *u as i128,
            _ => 0,
        };
        return Ok(match t {
            Type::Int => Value::Int(n as i64),
            Type::Int64 => Value::Int64(n as i64),
            Type::Uint => Value::Uint(n as u64),
            _ => Value::Uint8(n as u8),
        });
    }
    Err(format!("value has type {}; should be {t}", v.type_name()))
}

impl Type {
    /// The zero value of a nilable type as a value (a nil map or slice stays typed).
    pub(crate) fn zero_nil(&self) -> Value {
        match self {
            Type::Slice(_) | Type::Map(_) => self.zero(),
            _ => Value::Nil,
        }
    }
}
