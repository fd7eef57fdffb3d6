//! RFC 6902 JSON patches over JSON values.

use serde_json::Value;

/// Applies a list of operations (`[{op, path, value|from}]`) to `doc`.
///
/// # Errors
/// A message naming the failing operation's index and path.
pub fn apply(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    for (i, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|e| format!("operation {i}: {e}"))?;
    }
    Ok(())
}

fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    if !path.starts_with('/') {
        return Err(format!("path `{path}` must start with `/`"));
    }
    Ok(path[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn field<'a>(op: &'a Value, key: &str) -> Result<&'a Value, String> {
    op.get(key).ok_or_else(|| format!("missing `{key}`"))
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = field(op, "op")?.as_str().ok_or("`op` must be a string")?;
    let path = field(op, "path")?
        .as_str()
        .ok_or("`path` must be a string")?;
    let p = pointer(path)?;
    match kind {
        "add" => add(doc, &p, field(op, "value")?.clone(), path),
        "remove" => remove(doc, &p, path).map(|_| ()),
        "replace" => {
            let target =
                get_mut(doc, &p).ok_or_else(|| format!("replace: path `{path}` does not exist"))?;
            *target = field(op, "value")?.clone();
            Ok(())
        }
        "move" => {
            let from = field(op, "from")?
                .as_str()
                .ok_or("`from` must be a string")?;
            let v = remove(doc, &pointer(from)?, from)?;
            add(doc, &p, v, path)
        }
        "copy" => {
            let from = field(op, "from")?
                .as_str()
                .ok_or("`from` must be a string")?;
            let v = get_mut(doc, &pointer(from)?)
                .ok_or_else(|| format!("copy: path `{from}` does not exist"))?
                .clone();
            add(doc, &p, v, path)
        }
        "test" => {
            let v =
                get_mut(doc, &p).ok_or_else(|| format!("test: path `{path}` does not exist"))?;
            if v != field(op, "value")? {
                return Err(format!("test failed at `{path}`"));
            }
            Ok(())
        }
        other => Err(format!("unknown op `{other}`")),
    }
}

fn get_mut<'a>(doc: &'a mut Value, p: &[String]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for seg in p {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg)?,
            Value::Array(a) => {
                let i: usize = seg.parse().ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn add(doc: &mut Value, p: &[String], v: Value, path: &str) -> Result<(), String> {
    let Some((last, parent)) = p.split_last() else {
        *doc = v;
        return Ok(());
    };
    let parent =
        get_mut(doc, parent).ok_or_else(|| format!("add: parent of `{path}` does not exist"))?;
    match parent {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("add: bad index in `{path}`"))?;
            if i > a.len() {
                return Err(format!("add: index out of range in `{path}`"));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("add: parent of `{path}` is not a container")),
    }
}

fn remove(doc: &mut Value, p: &[String], path: &str) -> Result<Value, String> {
    let (last, parent) = p.split_last().ok_or("cannot remove the whole document")?;
    let parent =
        get_mut(doc, parent).ok_or_else(|| format!("remove: path `{path}` does not exist"))?;
    match parent {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("remove: path `{path}` does not exist")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("remove: bad index in `{path}`"))?;
            if i >= a.len() {
                return Err(format!("remove: index out of range in `{path}`"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("remove: path `{path}` does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_apply_in_order() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1}});
        apply(
            &mut d,
            &json!([
                {"op": "add", "path": "/a/-", "value": 3},
                {"op": "replace", "path": "/b/c", "value": 2},
                {"op": "move", "from": "/b", "path": "/x"},
                {"op": "remove", "path": "/a/0"}
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"a": [2, 3], "x": {"c": 2}}));
    }

    #[test]
    fn missing_path_is_an_error() {
        let mut d = json!({});
        assert!(
            apply(
                &mut d,
                &json!([{"op": "replace", "path": "/nope", "value": 1}])
            )
            .is_err()
        );
    }
}
