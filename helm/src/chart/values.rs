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
/// `a.b=c,d=e`, `a={x,y}`, `a[0]=x`, `a[1].b=c`, `\` escapes; a port of Helm v4.3.2's parser.
///
/// # Errors
/// strvals' messages (`key "a" has no value`).
pub fn parse_set(s: &str, dest: &mut Table, string: bool) -> Result<(), SetError> {
    parse_with(s, dest, string, None)
}

/// Helm's `strvals.ParseIntoFile` (`--set-file`): each value is a path, replaced by the
/// contents `read` returns.
///
/// # Errors
/// strvals' messages, or `read`'s.
pub fn parse_set_file(
    s: &str,
    dest: &mut Table,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(), SetError> {
    parse_with(s, dest, true, Some(read))
}

/// Helm's `strvals.ParseJSON` (`--set-json key=JSON`).
///
/// # Errors
/// strvals' messages; a JSON error as `invalid JSON`.
pub fn parse_set_json(s: &str, dest: &mut Table) -> Result<(), SetError> {
    parse_mode(s, dest, false, None, Mode::Json)
}

/// Helm's `strvals.ParseLiteralInto` (`--set-literal key=rest of the argument`).
///
/// # Errors
/// strvals' messages.
pub fn parse_set_literal(s: &str, dest: &mut Table) -> Result<(), SetError> {
    parse_mode(s, dest, true, None, Mode::Literal)
}

fn parse_with(
    s: &str,
    dest: &mut Table,
    string: bool,
    reader: Option<ReadFile<'_>>,
) -> Result<(), SetError> {
    parse_mode(s, dest, string, reader, Mode::Plain)
}

fn parse_mode(
    s: &str,
    dest: &mut Table,
    string: bool,
    reader: Option<ReadFile<'_>>,
    mode: Mode,
) -> Result<(), SetError> {
    let mut p = SetParser {
        s: s.chars().collect(),
        i: 0,
        st: string,
        reader,
        read_err: std::cell::RefCell::new(None),
        mode,
    };
    loop {
        let r = p.key(dest, 0);
        if let Some(e) = p.read_err.borrow_mut().take() {
            return Err(SetError(e));
        }
        match r {
            Ok(()) => continue,
            Err(PErr::Eof) => return Ok(()),
            Err(PErr::Msg(m)) => return Err(SetError(m)),
        }
    }
}

enum PErr {
    Eof,
    Msg(String),
}

fn msg(s: String) -> PErr {
    PErr::Msg(s)
}

/// Reads a `--set-file` path.
type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;

struct SetParser<'a> {
    s: Vec<char>,
    i: usize,
    st: bool,
    reader: Option<ReadFile<'a>>,
    read_err: std::cell::RefCell<Option<String>>,
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    /// `--set-json`: values are JSON.
    Json,
    /// `--set-literal`: no escapes, the value is the rest of the argument.
    Literal,
}

const MAX_INDEX: usize = 65536;
const MAX_NESTED: usize = 30;

impl SetParser<'_> {
    fn read(&mut self) -> Option<char> {
        let c = self.s.get(self.i).copied();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    /// `runesUntil`: the text up to a stop rune; `Err(())` at the end of input.
    fn until(&mut self, stops: &[char]) -> (String, Result<char, ()>) {
        let mut v = String::new();
        loop {
            match self.read() {
                None => return (v, Err(())),
                Some(c) if stops.contains(&c) => return (v, Ok(c)),
                Some('\\') if self.mode != Mode::Literal => match self.read() {
                    None => return (v, Err(())),
                    Some(n) => v.push(n),
                },
                Some(c) => v.push(c),
            }
        }
    }

    fn typed(&self, v: String) -> Y {
        if let Some(read) = self.reader {
            return match read(&v) {
                Ok(text) => Y::Str(text),
                Err(e) => {
                    self.read_err.borrow_mut().get_or_insert(e);
                    Y::Nil
                }
            };
        }
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

    fn key(&mut self, data: &mut Table, nested: usize) -> Result<(), PErr> {
        let stops: &[char] = if self.mode == Mode::Literal {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let (k, last) = self.until(stops);
        let q = crate::gofmt::quote;
        match last {
            Err(()) => {
                if k.is_empty() {
                    return Err(PErr::Eof);
                }
                Err(msg(format!("key {} has no value", q(&k))))
            }
            Ok('[') => {
                let i = self.key_index()?;
                let list = match data.get(&k) {
                    None => Vec::new(),
                    Some(Y::List(l)) => l.clone(),
                    Some(_) => {
                        return Err(msg(
                            "unable to parse key: interface conversion: interface {} is not []interface {}".into(),
                        ));
                    }
                };
                let (list, r) = self.list_item(list, i, nested);
                set(data, &k, Y::List(list));
                r
            }
            Ok('=') if self.mode != Mode::Plain => {
                let v = self.special_value()?;
                set(data, &k, v);
                Ok(())
            }
            Ok('=') => match self.val_list() {
                Ok(vl) => {
                    set(data, &k, Y::List(vl));
                    Ok(())
                }
                Err(ListErr::Eof) => {
                    set(data, &k, Y::Str(String::new()));
                    Err(PErr::Eof)
                }
                Err(ListErr::NotList) => {
                    let (v, _) = self.until(&[',']);
                    let v = self.typed(v);
                    set(data, &k, v);
                    Ok(())
                }
                Err(ListErr::Msg(m)) => Err(msg(m)),
            },
            Ok(',') => {
                set(data, &k, Y::Str(String::new()));
                Err(msg(format!(
                    "key {} has no value (cannot end with ,)",
                    q(&k)
                )))
            }
            Ok(_) => {
                let nested = nested + 1;
                if nested > MAX_NESTED {
                    return Err(msg(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                    )));
                }
                let mut inner = match data.get(&k) {
                    None => Table::new(),
                    Some(Y::Map(m)) => m.clone(),
                    Some(_) => {
                        return Err(msg(
                            "unable to parse key: interface conversion: interface {} is not map[string]interface {}".into(),
                        ));
                    }
                };
                let e = self.key(&mut inner, nested);
                if e.is_ok() && inner.is_empty() {
                    return Err(msg(format!("key map {} has no value", q(&k))));
                }
                if !inner.is_empty() {
                    set(data, &k, Y::Map(inner));
                }
                e
            }
        }
    }

    /// The value after `=` in JSON or literal mode.
    fn special_value(&mut self) -> Result<Y, PErr> {
        if self.mode == Mode::Literal {
            let v: String = self.s[self.i..].iter().collect();
            self.i = self.s.len();
            return Ok(Y::Str(v));
        }
        if self.empty_val() {
            return Ok(Y::Nil);
        }
        let rest: String = self.s[self.i..].iter().collect();
        let mut it = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        let v = match it.next() {
            Some(Ok(v)) => v,
            _ => return Err(msg("invalid JSON".into())),
        };
        let used = rest[..it.byte_offset()].chars().count();
        self.i += used;
        self.empty_val();
        Ok(Y::from_json(&v))
    }

    /// `emptyVal`: skips spaces; true at the end or at a `,` (consumed).
    fn empty_val(&mut self) -> bool {
        loop {
            match self.read() {
                None | Some(',') => return true,
                Some(c) if c.is_whitespace() => {}
                Some(_) => {
                    self.i -= 1;
                    return false;
                }
            }
        }
    }

    fn key_index(&mut self) -> Result<usize, PErr> {
        let (v, last) = self.until(&[']']);
        if last.is_err() {
            return Err(msg("error parsing index: EOF".into()));
        }
        match v.parse::<i64>() {
            Ok(i) if i < 0 => Err(msg(format!("negative {i} index not allowed"))),
            Ok(i) => Ok(i as usize),
            Err(_) => Err(msg(format!(
                "error parsing index: strconv.Atoi: parsing {}: invalid syntax",
                crate::gofmt::quote(&v)
            ))),
        }
    }

    fn list_item(&mut self, list: Vec<Y>, i: usize, nested: usize) -> (Vec<Y>, Result<(), PErr>) {
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return (
                list,
                Err(msg(format!(
                    "unexpected data at end of array index: {}",
                    crate::gofmt::quote(&k)
                ))),
            );
        }
        match last {
            Err(()) => (list, Err(PErr::Eof)),
            Ok('=') if self.mode != Mode::Plain => match self.special_value() {
                Ok(v) => set_index(list, i, v),
                Err(e) => (list, Err(e)),
            },
            Ok('=') => match self.val_list() {
                Ok(vl) => set_index(list, i, Y::List(vl)),
                Err(ListErr::Eof) => set_index(list, i, Y::Str(String::new())),
                Err(ListErr::NotList) => {
                    let (v, _) = self.until(&[',']);
                    let v = self.typed(v);
                    set_index(list, i, v)
                }
                Err(ListErr::Msg(m)) => (list, Err(msg(m))),
            },
            Ok('[') => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => return (list, Err(e)),
                };
                let crt = match list.get(i) {
                    Some(Y::List(l)) => l.clone(),
                    _ => Vec::new(),
                };
                let (l2, r) = self.list_item(crt, next, nested);
                if r.is_err() {
                    return (list, r);
                }
                set_index(list, i, Y::List(l2))
            }
            Ok(_) => {
                let mut inner = match list.get(i) {
                    Some(Y::Map(m)) => m.clone(),
                    _ => Table::new(),
                };
                if let Err(e) = self.key(&mut inner, nested) {
                    return (list, Err(e));
                }
                set_index(list, i, Y::Map(inner))
            }
        }
    }

    fn val_list(&mut self) -> Result<Vec<Y>, ListErr> {
        match self.read() {
            None => return Err(ListErr::Eof),
            Some('{') => {}
            Some(_) => {
                self.i -= 1;
                return Err(ListErr::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                Err(()) => return Err(ListErr::Msg("list must terminate with '}'".into())),
                Ok('}') => {
                    if let Some(c) = self.read()
                        && c != ','
                    {
                        self.i -= 1;
                    }
                    list.push(self.typed(rs));
                    return Ok(list);
                }
                Ok(_) => list.push(self.typed(rs)),
            }
        }
    }
}

enum ListErr {
    Eof,
    NotList,
    Msg(String),
}

fn set(data: &mut Table, key: &str, val: Y) {
    if !key.is_empty() {
        data.insert(key.to_string(), val);
    }
}

fn set_index(mut list: Vec<Y>, i: usize, val: Y) -> (Vec<Y>, Result<(), PErr>) {
    if i > MAX_INDEX {
        return (
            list,
            Err(msg(format!(
                "index of {i} is greater than maximum supported index of {MAX_INDEX}"
            ))),
        );
    }
    if list.len() <= i {
        list.resize(i + 1, Y::Nil);
    }
    list[i] = val;
    (list, Ok(()))
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
