//! `replacements`: copy a field of one resource (all of it, or one part of a delimited string)
//! into fields of others. Runs after the other transformers, as in kustomize.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::kustomization::{Replacement, Selector};
use crate::resource::{ResMap, Resource};
use crate::select::Matcher;

/// Splits `a.b.[name=x].c` at dots outside brackets.
fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

enum Seg<'a> {
    Key(&'a str),
    Match(&'a str, &'a str),
    Index(usize),
    All,
}

fn seg(s: &str) -> Seg<'_> {
    if s == "*" {
        return Seg::All;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return match inner.split_once('=') {
            Some((k, v)) => Seg::Match(k, v),
            None => Seg::Key(inner),
        };
    }
    match s.parse::<usize>() {
        Ok(i) => Seg::Index(i),
        Err(_) => Seg::Key(s),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn element_matches(e: &Value, k: &str, v: &str) -> bool {
    e.get(k).and_then(scalar_text).is_some_and(|x| x == v)
}

fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = match (seg(p), cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Match(k, val), Value::Array(a)) => {
                a.iter().find(|e| element_matches(e, k, val))?
            }
            (Seg::Index(i), Value::Array(a)) => a.get(i)?,
            (Seg::Key(k), Value::Array(a)) => a.iter().find(|e| element_matches(e, "name", k))?,
            _ => return None,
        };
    }
    Some(cur)
}

struct Put<'a> {
    value: &'a Value,
    delimiter: &'a str,
    index: i64,
    create: bool,
}

impl Put<'_> {
    fn leaf(&self, cur: &mut Value) -> Result<(), String> {
        let mut value = self.value.clone();
        if !self.delimiter.is_empty() {
            let old =
                scalar_text(cur).ok_or("delimiter option can only be used with scalar nodes")?;
            let v =
                scalar_text(&value).ok_or("delimiter option can only be used with scalar nodes")?;
            let mut parts: Vec<String> = old.split(self.delimiter).map(str::to_string).collect();
            if self.index < 0 {
                parts.insert(0, v);
            } else if self.index as usize >= parts.len() {
                parts.push(v);
            } else {
                parts[self.index as usize] = v;
            }
            value = Value::String(parts.join(self.delimiter));
        }
        // Like kustomize, a scalar target keeps its own type and takes only the text; a new
        // (or null) field reads the text as a plain scalar.
        *cur = match (&*cur, scalar_text(&value)) {
            (Value::String(_), Some(text)) => Value::String(text),
            (Value::Number(_) | Value::Bool(_) | Value::Null, Some(text)) => {
                crate::yaml::resolve_plain(&text).unwrap_or(Value::String(text))
            }
            _ => value,
        };
        Ok(())
    }

    fn put(&self, cur: &mut Value, path: &[String], full: &str) -> Result<(), String> {
        let Some((first, rest)) = path.split_first() else {
            return self.leaf(cur);
        };
        let missing = || format!("unable to find field `{full}` in replacement target");
        if cur.is_null() && self.create {
            *cur = match seg(first) {
                Seg::Key(_) => Value::Object(Map::new()),
                _ => Value::Array(Vec::new()),
            };
        }
        match (seg(first), cur) {
            (Seg::Key(k), Value::Object(m)) => {
                if !m.contains_key(k) {
                    if !self.create {
                        return Err(missing());
                    }
                    m.insert(k.to_string(), Value::Null);
                }
                match m.get_mut(k) {
                    Some(next) => self.put(next, rest, full),
                    None => Err(missing()),
                }
            }
            (Seg::Match(k, val), Value::Array(a)) => {
                let mut found = false;
                for e in a.iter_mut().filter(|e| element_matches(e, k, val)) {
                    found = true;
                    self.put(e, rest, full)?;
                }
                if !found {
                    if !self.create {
                        return Err(missing());
                    }
                    let mut m = Map::new();
                    m.insert(k.to_string(), Value::String(val.to_string()));
                    a.push(Value::Object(m));
                    if let Some(e) = a.last_mut() {
                        self.put(e, rest, full)?;
                    }
                }
                Ok(())
            }
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(i) {
                Some(e) => self.put(e, rest, full),
                None => Err(missing()),
            },
            (Seg::All, Value::Array(a)) => {
                for e in a.iter_mut() {
                    self.put(e, rest, full)?;
                }
                Ok(())
            }
            _ => Err(missing()),
        }
    }
}

fn exact(sel: &Selector) -> Result<Matcher, String> {
    let mut s = sel.clone();
    s.name = regex::escape(&s.name);
    s.namespace = regex::escape(&s.namespace);
    Matcher::new(&s)
}

fn source_value(rm: &ResMap, r: &Replacement) -> Result<Value, String> {
    let m = exact(&r.source)?;
    let hits: Vec<&Resource> = rm.list.iter().filter(|x| m.matches(x)).collect();
    let src = match hits.as_slice() {
        [one] => *one,
        [] => return Err(format!("nothing selected by source {}", r.source)),
        _ => return Err(format!("more than one match for source {}", r.source)),
    };
    let field = if r.source_field.is_empty() {
        "metadata.name"
    } else {
        &r.source_field
    };
    let v = get(&src.obj, &split_path(field)).ok_or_else(|| {
        format!(
            "fieldPath `{field}` is missing for replacement source {}",
            r.source
        )
    })?;
    if r.source_delimiter.is_empty() {
        return Ok(v.clone());
    }
    let text = scalar_text(v).ok_or("delimiter option can only be used with scalar nodes")?;
    let parts: Vec<&str> = text.split(r.source_delimiter.as_str()).collect();
    usize::try_from(r.source_index)
        .ok()
        .and_then(|i| parts.get(i))
        .map(|p| Value::String((*p).to_string()))
        .ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {text}",
                r.source_index
            )
        })
}

/// Applies replacements in order.
///
/// # Errors
/// [`Error::Field`] naming the replacement when its source or a target field is missing.
pub fn apply(rm: &mut ResMap, reps: &[(Replacement, String)]) -> Result<(), Error> {
    for (i, (r, file)) in reps.iter().enumerate() {
        let err = |message: String| Error::Field {
            file: file.clone(),
            key: format!("replacements[{i}]"),
            message,
        };
        let value = source_value(rm, r).map_err(err)?;
        for t in &r.targets {
            let sel = exact(&t.select).map_err(err)?;
            let rejects: Vec<Matcher> = t
                .reject
                .iter()
                .map(exact)
                .collect::<Result<_, _>>()
                .map_err(err)?;
            for res in rm.list.iter_mut() {
                if !sel.matches(res) || rejects.iter().any(|m| m.matches(res)) {
                    continue;
                }
                let put = Put {
                    value: &value,
                    delimiter: &t.delimiter,
                    index: t.index,
                    create: t.create,
                };
                for fp in &t.field_paths {
                    put.put(&mut res.obj, &split_path(fp), fp)
                        .map_err(|m| err(format!("{m} {}", res.id_string())))?;
                }
            }
        }
    }
    Ok(())
}
