//! Helm's values: a plain tree with Go's dynamic types (what `sigs.k8s.io/yaml` and Helm's
//! `strvals` produce), Helm's `MergeMaps`, `CoalesceValues` (null deletes a key, `global`
//! propagation, parent overrides child) and the `--set` parser.

use std::collections::BTreeMap;

use crate::value::{Type, Value};

/// A value as Helm's chart code holds it (`map[string]interface {}` trees).
#[derive(Clone, Debug, PartialEq)]
pub enum Y {
    Nil,
    Bool(bool),
    /// `int64` (from `--set`).
    I64(i64),
    /// `float64` (every number read from YAML or JSON).
    F64(f64),
    Str(String),
    List(Vec<Y>),
    Map(Table),
}

/// `map[string]interface {}`.
pub type Table = BTreeMap<String, Y>;

impl Y {
    /// From a JSON value (sigs.k8s.io/yaml: YAML → JSON → `encoding/json`).
    pub fn from_json(j: &serde_json::Value) -> Y {
        match j {
            serde_json::Value::Null => Y::Nil,
            serde_json::Value::Bool(b) => Y::Bool(*b),
            serde_json::Value::Number(n) => Y::F64(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Y::Str(s.clone()),
            serde_json::Value::Array(a) => Y::List(a.iter().map(Y::from_json).collect()),
            serde_json::Value::Object(o) => Y::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Y::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The template value.
    pub fn to_value(&self) -> Value {
        match self {
            Y::Nil => Value::Nil,
            Y::Bool(b) => Value::Bool(*b),
            Y::I64(i) => Value::Int64(*i),
            Y::F64(f) => Value::Float64(*f),
            Y::Str(s) => Value::from(s.as_str()),
            Y::List(l) => Value::list(l.iter().map(Y::to_value).collect()),
            Y::Map(m) => table_value(m),
        }
    }

    /// The table, if the value is one.
    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Y::Map(m) => Some(m),
            _ => None,
        }
    }

    fn is_table(&self) -> bool {
        matches!(self, Y::Map(_))
    }
}

/// A `map[string]interface {}` value.
pub fn table_value(m: &Table) -> Value {
    Value::dict(m.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
}

/// `common.Values` (a named map type): `%T` prints `common.Values`.
pub fn named_values(m: &Table) -> Value {
    let v = table_value(m);
    if let Value::Map(map) = &v {
        map.borrow_mut().name = Some(std::rc::Rc::from("common.Values"));
    }
    v
}

/// Helm's `loader.MergeMaps`: `b` over `a`, tables merged recursively.
pub fn merge_maps(a: &Table, b: &Table) -> Table {
    let mut out = a.clone();
    for (k, v) in b {
        if let (Y::Map(vm), Some(Y::Map(bv))) = (v, out.get(k)) {
            let merged = merge_maps(bv, vm);
            out.insert(k.clone(), Y::Map(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// `cleanNilValues`.
pub fn clean_nil(m: &mut Table) {
    m.retain(|_, v| !matches!(v, Y::Nil));
    for v in m.values_mut() {
        if let Y::Map(sub) = v {
            clean_nil(sub);
        }
    }
}

/// `coalesceTablesFullKey`: `src` into `dst`; `dst` wins; with `merge` false a null in `dst`
/// deletes the key.
pub fn coalesce_tables(dst: &mut Table, mut src: Table, merge: bool) {
    let src_non_nil: std::collections::BTreeSet<String> = src
        .iter()
        .filter(|(_, v)| !matches!(v, Y::Nil))
        .map(|(k, _)| k.clone())
        .collect();
    for (k, v) in dst.iter() {
        if matches!(v, Y::Nil) {
            src.insert(k.clone(), Y::Nil);
        }
    }
    for (key, val) in src {
        let dv = dst.get_mut(&key);
        match dv {
            Some(Y::Nil) if !merge && src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => {
                if let (Y::Map(vm), Y::Map(dm)) = (val, dv) {
                    coalesce_tables(dm, vm, merge);
                }
            }
        }
    }
}

/// `coalesceGlobals`: the parent's `global` table copied into the child's.
pub fn coalesce_globals(dest: &mut Table, src: &Table) {
    let mut dg = match dest.get("global") {
        None => Table::new(),
        Some(Y::Map(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => Table::new(),
        Some(Y::Map(m)) => m.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        if let Y::Map(vm) = &val {
            let mut vv = vm.clone();
            match dg.get(&key) {
                None => {
                    dg.insert(key, Y::Map(vv));
                }
                Some(Y::Map(destv)) => {
                    // coalesceTablesFullKey(vv, destvmap, merge=true): the child's own wins.
                    coalesce_tables(&mut vv, destv.clone(), true);
                    dg.insert(key, Y::Map(vv));
                }
                Some(_) => {}
            }
        } else if dg.get(&key).is_some_and(Y::is_table) {
            // "key is table. Skipping"
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global".into(), Y::Map(dg));
}

/// A parse error of a `--set` argument.
#[derive(Debug)]
pub struct SetError(pub String);

/// Helm's `strvals.ParseInto` (`--set`, `string` false) and `ParseIntoString` (`--set-string`):
/// `a.b=c,d=e`, `a={x,y}`, `a[0]=x`, `\` escapes.
///
/// # Errors
/// strvals' messages (`key "a" has no value`).
pub fn parse_set(s: &str, dest: &mut Table, string: bool) -> Result<(), SetError> {
    let chars: Vec<char> = s.chars().collect();
    let mut p = SetParser {
        s: chars,
        i: 0,
        st: string,
    };
    p.parse(dest)
}

struct SetParser {
    s: Vec<char>,
    i: usize,
    st: bool,
}

impl SetParser {
    fn parse(&mut self, dest: &mut Table) -> Result<(), SetError> {
        while self.i < self.s.len() {
            self.key(dest)?;
        }
        Ok(())
    }

    /// Reads until one of `stops`; returns the text and the stop (None at the end).
    fn run_until(&mut self, stops: &[char]) -> (String, Option<char>) {
        let mut out = String::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            if c == '\\' {
                if self.i < self.s.len() {
                    out.push(self.s[self.i]);
                    self.i += 1;
                }
                continue;
            }
            if stops.contains(&c) {
                return (out, Some(c));
            }
            out.push(c);
        }
        (out, None)
    }

    fn typed(&self, v: String) -> Y {
        if self.st {
            return Y::Str(v);
        }
        if v.eq_ignore_ascii_case("true") {
            return Y::Bool(true);
        }
        if v.eq_ignore_ascii_case("false") {
            return Y::Bool(false);
        }
        if v.eq_ignore_ascii_case("null") {
            return Y::Nil;
        }
        if v == "0" {
            return Y::I64(0);
        }
        if !v.is_empty()
            && !v.starts_with('0')
            && let Some(i) = go_parse_int64(&v)
        {
            return Y::I64(i);
        }
        Y::Str(v)
    }

    fn key(&mut self, data: &mut Table) -> Result<(), SetError> {
        let (k, stop) = self.run_until(&['=', '[', ',', '.']);
        match stop {
            None => {
                if k.is_empty() {
                    return Ok(());
                }
                Err(SetError(format!(
                    "key {} has no value",
                    crate::gofmt::quote(&k)
                )))
            }
            Some(',') => {
                if k.is_empty() {
                    return Ok(());
                }
                Err(SetError(format!(
                    "key {} has no value (cannot end with ,)",
                    crate::gofmt::quote(&k)
                )))
            }
            Some('=') => {
                if self.s.get(self.i) == Some(&'{') {
                    self.i += 1;
                    let list = self.list_values()?;
                    data.insert(k, Y::List(list));
                    // consume a following comma
                    if self.s.get(self.i) == Some(&',') {
                        self.i += 1;
                    }
                    return Ok(());
                }
                let (v, _) = self.run_until(&[',']);
                let val = self.typed(v);
                data.insert(k, val);
                Ok(())
            }
            Some('.') => {
                if k.is_empty() {
                    return Err(SetError(format!(
                        "key {} has no value",
                        crate::gofmt::quote(&k)
                    )));
                }
                let mut inner = match data.remove(&k) {
                    Some(Y::Map(m)) => m,
                    _ => Table::new(),
                };
                let r = self.key(&mut inner);
                data.insert(k, Y::Map(inner));
                r
            }
            _ => Err(SetError(
                "list indexes in --set are not supported by helm-rs yet".into(),
            )),
        }
    }

    fn list_values(&mut self) -> Result<Vec<Y>, SetError> {
        let mut out = Vec::new();
        loop {
            let (v, stop) = self.run_until(&[',', '}']);
            match stop {
                Some(',') => out.push(self.typed(v)),
                Some('}') => {
                    if !(v.is_empty() && out.is_empty()) {
                        out.push(self.typed(v));
                    }
                    return Ok(out);
                }
                _ => return Err(SetError("list must terminate with '}'".into())),
            }
        }
    }
}

fn go_parse_int64(s: &str) -> Option<i64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// `Type` of `.Values` maps (for callers building their own objects).
pub fn values_type() -> Type {
    Type::Named(std::rc::Rc::from("common.Values"))
}
