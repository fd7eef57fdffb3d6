//! Sprig's list functions (`list.go`).

use std::rc::Rc;

use super::{deep_equal, empty, reg, strval, to_int64};
use crate::template::Templates;
use crate::value::{Slice, Type, Value};

/// The elements of a slice, or Sprig's error naming the reflect kind (`Cannot find first on
/// type string`); a nil argument is Go's nil-pointer panic inside `reflect.TypeOf(nil).Kind()`.
fn elems(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::Slice(s) => Ok(s.items.clone()),
        Value::Bytes(b) => Ok(b.iter().map(|b| Value::Uint8(*b)).collect()),
        Value::Nil => {
            Err("runtime error: invalid memory address or nil pointer dereference".into())
        }
        v => Err(format!("{what} {}", v.kind_name())),
    }
}

fn nil_list() -> Value {
    Type::any_slice().zero()
}

fn in_list(hay: &[Value], needle: &Value) -> bool {
    hay.iter().any(|h| deep_equal(needle, h))
}

pub(super) fn add(t: &mut Templates) {
    let any = || Type::Interface;
    let anys = Type::any_slice;
    for (name, must) in [
        ("append", false),
        ("push", false),
        ("mustAppend", true),
        ("mustPush", true),
    ] {
        let _ = must;
        reg(t, name, vec![any(), any()], None, anys(), |a| {
            let mut v = elems(&a[0], "Cannot push on type")?;
            v.push(a[1].clone());
            Ok(Value::list(v))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        reg(t, name, vec![any(), any()], None, anys(), |a| {
            let mut v = elems(&a[0], "Cannot prepend on type")?;
            v.insert(0, a[1].clone());
            Ok(Value::list(v))
        });
    }
    for name in ["chunk", "mustChunk"] {
        reg(
            t,
            name,
            vec![Type::Int, any()],
            None,
            Type::Slice(Rc::new(anys())),
            |a| {
                let size = to_int64(&a[0]);
                let v = elems(&a[1], "Cannot chunk type")?;
                if size <= 0 {
                    return Err("runtime error: integer divide by zero".into());
                }
                let chunks: Vec<Value> = v
                    .chunks(size as usize)
                    .map(|c| Value::list(c.to_vec()))
                    .collect();
                Ok(Value::typed_slice(Type::any_slice(), chunks))
            },
        );
    }
    for name in ["first", "mustFirst"] {
        reg(t, name, vec![any()], None, any(), |a| {
            Ok(elems(&a[0], "Cannot find first on type")?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        reg(t, name, vec![any()], None, any(), |a| {
            Ok(elems(&a[0], "Cannot find last on type")?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        reg(t, name, vec![any()], None, anys(), |a| {
            let v = elems(&a[0], "Cannot find rest on type")?;
            if v.is_empty() {
                return Ok(nil_list());
            }
            Ok(Value::list(v[1..].to_vec()))
        });
    }
    for name in ["initial", "mustInitial"] {
        reg(t, name, vec![any()], None, anys(), |a| {
            let v = elems(&a[0], "Cannot find initial on type")?;
            if v.is_empty() {
                return Ok(nil_list());
            }
            Ok(Value::list(v[..v.len() - 1].to_vec()))
        });
    }
    for name in ["reverse", "mustReverse"] {
        reg(t, name, vec![any()], None, anys(), |a| {
            let mut v = elems(&a[0], "Cannot find reverse on type")?;
            v.reverse();
            Ok(Value::list(v))
        });
    }
    for name in ["compact", "mustCompact"] {
        reg(t, name, vec![any()], None, anys(), |a| {
            let v = elems(&a[0], "Cannot compact on type")?;
            Ok(Value::list(v.into_iter().filter(|x| !empty(x)).collect()))
        });
    }
    for name in ["uniq", "mustUniq"] {
        reg(t, name, vec![any()], None, anys(), |a| {
            let v = elems(&a[0], "Cannot find uniq on type")?;
            let mut dest: Vec<Value> = Vec::new();
            for x in v {
                if !in_list(&dest, &x) {
                    dest.push(x);
                }
            }
            Ok(Value::list(dest))
        });
    }
    for name in ["without", "mustWithout"] {
        reg(t, name, vec![any()], Some(any()), anys(), |a| {
            let v = elems(&a[0], "Cannot find without on type")?;
            let omit = &a[1..];
            Ok(Value::list(
                v.into_iter().filter(|x| !in_list(omit, x)).collect(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        reg(t, name, vec![any(), any()], None, Type::Bool, |a| {
            if a[1].is_nil() {
                return Ok(Value::Bool(false));
            }
            let v = elems(&a[1], "Cannot find has on type")?;
            Ok(Value::Bool(in_list(&v, &a[0])))
        });
    }
    for name in ["slice", "mustSlice"] {
        reg(t, name, vec![any()], Some(any()), any(), |a| {
            let (elem, v) = match &a[0] {
                Value::Slice(s) => (s.elem.clone(), s.items.clone()),
                Value::Nil => {
                    return Err(
                        "runtime error: invalid memory address or nil pointer dereference".into(),
                    );
                }
                v => {
                    return Err(format!(
                        "list should be type of slice or array but {}",
                        v.kind_name()
                    ));
                }
            };
            if v.is_empty() {
                return Ok(Value::Nil);
            }
            let start = a.get(1).map(to_int64).unwrap_or(0);
            let end = if a.len() < 3 {
                v.len() as i64
            } else {
                to_int64(&a[2])
            };
            if start < 0 || end < start || end as usize > v.len() {
                return Err("reflect: slice index out of range".into());
            }
            Ok(Value::Slice(Rc::new(Slice {
                elem,
                items: v[start as usize..end as usize].to_vec(),
                nil: false,
            })))
        });
    }
    reg(t, "concat", vec![], Some(any()), any(), |a| {
        let mut res = Vec::new();
        for l in &a {
            match l {
                Value::Slice(s) => res.extend(s.items.iter().cloned()),
                Value::Nil => {
                    return Err(
                        "runtime error: invalid memory address or nil pointer dereference".into(),
                    );
                }
                v => return Err(format!("Cannot concat type {} as list", v.kind_name())),
            }
        }
        if res.is_empty() {
            return Ok(nil_list());
        }
        Ok(Value::list(res))
    });
    reg(
        t,
        "sortAlpha",
        vec![any()],
        None,
        Type::Slice(Rc::new(Type::String)),
        |a| {
            let mut v = match &a[0] {
                Value::Slice(_) | Value::Bytes(_) => super::strslice(&a[0]),
                v => vec![strval(v)],
            };
            v.sort();
            Ok(super::strings(v))
        },
    );
}
