//! Conformance with Go's `text/template`: replays the table recorded by `tests/record` (Go's
//! own test cases and ours, run through the real Go engine) and requires identical output or
//! identical error text.
//!
//! Re-record: `python3 tests/record/port_go_tests.py && (cd tests/record && go run .
//! ../data/text_template_cases.json ../data/text_template.json)`.
//!
//! Known differences are listed, with their reason, in `data/text_template_known.txt`; the test
//! fails on any other difference, and also when a listed one starts to match (so the list stays
//! honest).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use helm::template::{Func, Templates};
use helm::value::{Type, Value};
use serde_json::Value as J;

fn num(j: &J) -> f64 {
    j.as_f64().unwrap_or(0.0)
}

fn i64_of(j: &J) -> i64 {
    j.as_i64().unwrap_or_else(|| num(j) as i64)
}

fn u64_of(j: &J) -> u64 {
    j.as_u64().unwrap_or_else(|| num(j) as u64)
}

fn elem(t: &str, j: &J, shared: &serde_json::Map<String, J>) -> Value {
    match t {
        "int" => Value::Int(i64_of(j)),
        "int64" => Value::Int64(i64_of(j)),
        "uint" => Value::Uint(u64_of(j)),
        "uint8" => Value::Uint8(num(j) as u8),
        "float64" => Value::Float64(num(j)),
        "string" => Value::from(j.as_str().unwrap_or("")),
        "bool" => Value::Bool(j.as_bool().unwrap_or(false)),
        _ => decode(j, shared),
    }
}

fn elem_type(t: &str) -> Type {
    match t {
        "int" => Type::Int,
        "int64" => Type::Int64,
        "uint" => Type::Uint,
        "uint8" => Type::Uint8,
        "float64" => Type::Float64,
        "string" => Type::String,
        "bool" => Type::Bool,
        _ => Type::Interface,
    }
}

fn decode(j: &J, shared: &serde_json::Map<String, J>) -> Value {
    match j {
        J::Object(o) => {
            if let Some(n) = o.get("$int") {
                return Value::Int(i64_of(n));
            }
            if let Some(n) = o.get("$int64") {
                return Value::Int64(i64_of(n));
            }
            if let Some(n) = o.get("$uint") {
                return Value::Uint(u64_of(n));
            }
            if let Some(n) = o.get("$uint8") {
                return Value::Uint8(num(n) as u8);
            }
            if let Some(s) = o.get("$bytes") {
                return Value::Bytes(Rc::from(s.as_str().unwrap_or("").as_bytes()));
            }
            if o.contains_key("$nilslice") {
                return Type::any_slice().zero();
            }
            if let Some(f) = o.get("$func") {
                return Value::Func(Rc::new(test_func(f.as_str().unwrap_or(""))));
            }
            if let Some(r) = o.get("$ref") {
                return decode(&shared[r.as_str().unwrap_or("")], shared);
            }
            if let Some(t) = o.get("$slice") {
                let t = t.as_str().unwrap_or("");
                let items = o["items"].as_array().cloned().unwrap_or_default();
                let items = items.iter().map(|i| elem(t, i, shared)).collect();
                return Value::typed_slice(elem_type(t), items);
            }
            if let Some(t) = o.get("$map") {
                let t = t.as_str().unwrap_or("");
                let entries = o["entries"].as_object().cloned().unwrap_or_default();
                let entries: BTreeMap<String, Value> = entries
                    .iter()
                    .map(|(k, v)| (k.clone(), elem(t, v, shared)))
                    .collect();
                return Value::typed_map(elem_type(t), entries);
            }
            Value::dict(
                o.iter()
                    .map(|(k, v)| (k.clone(), decode(v, shared)))
                    .collect(),
            )
        }
        J::Array(a) => Value::list(a.iter().map(|v| decode(v, shared)).collect()),
        j => Value::from_json(j),
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// The functions of `tests/record/main.go` (`testFuncs` and `dataFuncs`).
fn test_func(name: &str) -> Func {
    use Type::*;
    let st = || String;
    let strs = |v: &[Value]| v.iter().map(s).collect::<Vec<_>>();
    let f = |params: Vec<Type>,
             var: Option<Type>,
             res: Type,
             imp: fn(Vec<Value>) -> Result<Value, std::string::String>| {
        helm::template::Func::new(name, params, var, res, move |_, a| imp(a))
    };
    let _ = strs;
    match name {
        "zeroArgs" => f(vec![], None, st(), |_| Ok("zeroArgs".into())),
        "oneArg" => f(vec![st()], None, st(), |a| {
            Ok(format!("oneArg={}", s(&a[0])).into())
        }),
        "twoArgs" => f(vec![st(), st()], None, st(), |a| {
            Ok(format!("twoArgs={}{}", s(&a[0]), s(&a[1])).into())
        }),
        "dddArg" => f(vec![Int], Some(st()), st(), |a| {
            let rest = Value::typed_slice(String, a[1..].to_vec());
            Ok(helm::gofmt::sprint(&[a[0].clone(), rest]).into())
        }),
        "echo" => f(vec![Interface], None, Interface, |a| Ok(a[0].clone())),
        "typeOf" => f(vec![Interface], None, st(), |a| {
            Ok(helm::gofmt::sprintf("%T", &a[..]).into())
        }),
        "add" => f(vec![Int, Int], None, Int, |a| {
            Ok(Value::Int(int(&a[0]) + int(&a[1])))
        }),
        "errFunc" => f(vec![], None, st(), |_| Err("my error".into())),
        "die" => f(vec![], None, Bool, |_| Err("die".into())),
        "returnInt" => f(vec![], None, Int, |_| Ok(Value::Int(7))),
        "nilf" => f(vec![], None, Interface, |_| Ok(Value::Nil)),
        "toFloat" => f(vec![Int], None, Float64, |a| {
            Ok(Value::Float64(int(&a[0]) as f64))
        }),
        "makemap" => f(vec![], Some(st()), Map(Rc::new(st())), |a| {
            let mut m = BTreeMap::new();
            for p in a.chunks(2) {
                if p.len() == 2 {
                    m.insert(s(&p[0]), p[1].clone());
                }
            }
            Ok(Value::typed_map(String, m))
        }),
        "mapOfThree" => f(vec![], None, Interface, |_| {
            Ok(Value::typed_map(
                Int,
                BTreeMap::from([("three".to_string(), Value::Int(3))]),
            ))
        }),
        "strs" => f(vec![], Some(st()), Slice(Rc::new(st())), |a| {
            Ok(Value::typed_slice(String, a))
        }),
        "list" => f(vec![], Some(Interface), Slice(Rc::new(Interface)), |a| {
            Ok(Value::list(a))
        }),
        "BinaryFunc" => f(vec![st(), st()], None, st(), |a| {
            Ok(format!("[{}={}]", s(&a[0]), s(&a[1])).into())
        }),
        "VariadicFunc" => f(vec![], Some(st()), st(), |a| {
            Ok(format!("<{}>", a.iter().map(s).collect::<Vec<_>>().join("+")).into())
        }),
        "VariadicFuncInt" => f(vec![Int], Some(st()), st(), |a| {
            Ok(format!(
                "{}=<{}>",
                int(&a[0]),
                a[1..].iter().map(s).collect::<Vec<_>>().join("+")
            )
            .into())
        }),
        "ErrFunc" => f(vec![], None, st(), |_| Ok("bla".into())),
        "ErrorFunc" => f(vec![], None, st(), |_| Err("erroozle".into())),
        "PanicFunc" => f(vec![], None, st(), |_| Err("test panic".into())),
        _ => panic!("unknown test function {name}"),
    }
}

const FUNCS: &[&str] = &[
    "zeroArgs",
    "oneArg",
    "twoArgs",
    "dddArg",
    "echo",
    "typeOf",
    "add",
    "errFunc",
    "die",
    "returnInt",
    "nilf",
    "toFloat",
    "makemap",
    "mapOfThree",
    "strs",
    "list",
];

enum Outcome {
    Output(String),
    Error(String),
    Tree(String),
}

fn run(c: &J, shared: &serde_json::Map<String, J>, funcs: &str) -> Outcome {
    let name = c["name"].as_str().unwrap_or("");
    let mut t = Templates::new();
    if funcs == "helm" {
        helm::functions::add_to(&mut t);
    } else if funcs == "sprig" {
        helm::sprig::add_to(&mut t);
    } else {
        for f in FUNCS {
            t.add_func(test_func(f));
        }
    }
    if let Some(d) = c.get("delims").and_then(J::as_array) {
        t.delims = (
            d[0].as_str().unwrap_or("").into(),
            d[1].as_str().unwrap_or("").into(),
        );
    }
    for o in c.get("options").and_then(J::as_array).into_iter().flatten() {
        if let Err(e) = t.option(o.as_str().unwrap_or("")) {
            return Outcome::Error(e.message);
        }
    }
    let tmpl_name = c.get("tmpl_name").and_then(J::as_str).unwrap_or(name);
    if let Err(e) = t.parse(tmpl_name, c["text"].as_str().unwrap_or("")) {
        return Outcome::Error(e.message);
    }
    for m in c.get("more").and_then(J::as_array).into_iter().flatten() {
        if let Err(e) = t.parse(
            m["name"].as_str().unwrap_or(""),
            m["text"].as_str().unwrap_or(""),
        ) {
            return Outcome::Error(e.message);
        }
    }
    if c.get("parse_only").and_then(J::as_bool).unwrap_or(false) {
        return Outcome::Tree(t.tree_string(tmpl_name).unwrap_or_default());
    }
    let data = c
        .get("data")
        .map(|d| decode(d, shared))
        .unwrap_or(Value::Nil);
    let exec = c.get("exec").and_then(J::as_str).unwrap_or(tmpl_name);
    match t.execute(exec, &data) {
        Ok(o) => Outcome::Output(o),
        Err(e) => Outcome::Error(e.message),
    }
}

#[test]
fn go_text_template_conformance() {
    replay("text_template", "test");
}

/// Sprig v3.3.0 functions, recorded from Go with Sprig (`go run . sprig_cases.json ../data/sprig.json`).
#[test]
fn sprig_conformance() {
    replay("sprig", "sprig");
}

/// Helm's own functions (`include`, `tpl`, `required`, `toYaml` …) with Sprig, recorded from
/// Go with Helm's function definitions (`go run . helm_cases.json ../data/helm.json`).
#[test]
fn helm_functions_conformance() {
    replay("helm", "helm");
}

/// Random templates and values (`tests/record/gen_fuzz.py`, fixed seed) run through Go with
/// Helm's functions: a differential test of the whole engine.
#[test]
fn fuzz_conformance() {
    replay("fuzz", "helm");
}

/// Random values through `printf`, `print`, `toYaml`, `toJson`, `quote` and comparisons
/// (`tests/record/gen_fuzz_values.py`, fixed seed).
#[test]
fn fuzz_values_conformance() {
    replay("fuzz_values", "helm");
}

fn replay(table_name: &str, funcs: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let table: J =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{table_name}.json")).unwrap())
            .unwrap();
    let known: BTreeSet<String> = std::fs::read_to_string(format!("{dir}/{table_name}_known.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" -- ").next().unwrap_or("").trim().to_string())
        .collect();
    let shared = table["shared"].as_object().cloned().unwrap_or_default();
    let cases = table["cases"].as_array().unwrap();
    let (mut same, mut unexpected, mut fixed) = (0, Vec::new(), Vec::new());
    for c in cases {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let want = if let Some(e) = c.get("error").and_then(J::as_str) {
            Outcome::Error(e.to_string())
        } else if c.get("parse_only").and_then(J::as_bool).unwrap_or(false) {
            Outcome::Tree(c.get("tree").and_then(J::as_str).unwrap_or("").to_string())
        } else {
            Outcome::Output(c["output"].as_str().unwrap_or("").to_string())
        };
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(c, &shared, funcs)))
            .unwrap_or_else(|_| Outcome::Error("PANIC".into()));
        let (w, g) = (describe(&want), describe(&got));
        if w == g {
            same += 1;
            if known.contains(&name) {
                fixed.push(name);
            }
        } else if !known.contains(&name) {
            unexpected.push(format!(
                "{name}\n  text: {:?}\n  want: {w}\n  got:  {g}",
                c["text"].as_str().unwrap_or("")
            ));
        }
    }
    eprintln!(
        "{table_name} conformance: {same}/{} identical ({} known differences)",
        cases.len(),
        known.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected differences:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "known differences that now match (remove them from the list): {fixed:?}"
    );
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Output(s) => format!("output {s:?}"),
        Outcome::Error(s) => format!("error {s:?}"),
        Outcome::Tree(s) => format!("tree {s:?}"),
    }
}
