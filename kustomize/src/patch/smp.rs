//! Strategic merge patches, ported from kyaml's `merge2` (the `Merger` visitor driven by
//! `walk.Walker` over the target and the patch), as kustomize v5.8.1 runs it.
//!
//! Maps merge field by field, `null` deletes; lists with merge keys (from the Kubernetes schema
//! kyaml embeds) merge element by element (`assoc`); other lists are replaced by the patch's,
//! verbatim; `$patch: delete|replace|merge` directives on maps and on keyed lists. Like kyaml,
//! the walk visits the whole target, not only what the patch names, and a part of the patch
//! that the target lacks is walked against itself (directives applied, `null` fields dropped).

use serde_json::{Map, Value};

use super::schema;

/// What the patch does to the whole object.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object was patched in place.
    Patched,
    /// The patch said `$patch: delete` at the top: drop the object.
    Delete,
}

/// Applies `patch` to `target`.
///
/// # Errors
/// A message for malformed directives and for a patch whose shape differs from the target's
/// (a map against a scalar or a list), as kyaml reports them; `target` is then unspecified
/// (kustomize fails the whole build).
pub fn apply(target: &mut Value, patch: &Value) -> Result<Outcome, String> {
    let field = |k: &str| target.get(k).and_then(Value::as_str).unwrap_or("");
    let cx = Cx {
        root: schema_root(field("apiVersion"), field("kind")),
    };
    let mut path = Vec::new();
    // kustomize keeps the object it merged into in place and ignores the value the walk
    // returns (`Resource.ApplyFilter`): a top-level `$patch: replace`, whose walk returns the
    // patch instead, leaves the object as it was.
    let replace = patch
        .get("$patch")
        .is_some_and(|d| node_text(d) == "replace");
    let kept = replace.then(|| target.clone());
    match walk_pair(Some(std::mem::take(target)), Some(patch), &mut path, &cx)? {
        Some(v) => {
            *target = kept.unwrap_or(v);
            Ok(Outcome::Patched)
        }
        None => Ok(Outcome::Delete),
    }
}

/// What the walk knows of the object: its type's definition in kyaml's schema, if it has one
/// with merged lists.
pub(super) struct Cx {
    pub(super) root: Option<u16>,
}

/// The schema definition of a type, by exact `apiVersion` and `kind` (kyaml's
/// `SchemaForResourceType`): `apps/v1beta1` Deployments or `autoscaling/v2` HPAs, absent from
/// Kubernetes v1.21.2, have none, and every list of theirs is replaced like a custom resource's.
fn schema_root(api_version: &str, kind: &str) -> Option<u16> {
    schema::ROOTS
        .binary_search_by(|(a, k, _)| (*a, *k).cmp(&(api_version, kind)))
        .ok()
        .map(|i| schema::ROOTS[i].2)
}

/// The keys of the list at `path` when the schema merges it (empty for a set of scalars), or
/// `None` when the list is replaced. `path` holds field names only: list elements are
/// transparent, as kyaml's `Elements()` is.
pub(super) fn list_keys(path: &[String], cx: &Cx) -> Option<&'static [&'static str]> {
    let mut def = cx.root?;
    let (last, parents) = path.split_last()?;
    for seg in parents {
        def = field(def, seg)?.2?;
    }
    field(def, last)?.1
}

fn field(def: u16, name: &str) -> Option<&'static schema::Field> {
    let fields = schema::DEFS.get(usize::from(def))?;
    fields
        .binary_search_by(|f| f.0.cmp(name))
        .ok()
        .and_then(|i| fields.get(i))
}

/// A `$patch` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directive {
    Merge,
    Replace,
    Delete,
}

/// The text kyaml compares a scalar by (`yaml.Node.Value`); empty for maps and lists.
pub(super) fn node_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Object(_) | Value::Array(_) => String::new(),
    }
}

fn directive_named(text: &str) -> Result<Directive, String> {
    match text {
        "merge" => Ok(Directive::Merge),
        "replace" => Ok(Directive::Replace),
        "delete" => Ok(Directive::Delete),
        other => Err(format!("unknown patch strategy '{other}'")),
    }
}

/// kyaml's `determineMappingNodePatchStrategy`: the map's `$patch`, removed from it.
pub(super) fn map_directive(m: &mut Map<String, Value>) -> Result<Directive, String> {
    let Some(v) = m.get("$patch") else {
        return Ok(Directive::Merge);
    };
    let d = directive_named(&node_text(v))?;
    m.remove("$patch");
    Ok(d)
}

/// kyaml's `determineSequenceNodePatchStrategy`: the first element holding `$patch` names the
/// list's directive when `$patch` is its only field; then every element with that `$patch`
/// (and every empty element) is removed from the list.
fn list_directive(list: &mut Vec<Value>) -> Result<Directive, String> {
    let first = list
        .iter()
        .filter_map(Value::as_object)
        .find(|m| m.contains_key("$patch"));
    let Some(m) = first else {
        return Ok(Directive::Merge);
    };
    if m.len() > 1 {
        return Ok(Directive::Merge);
    }
    let text = m.get("$patch").map(node_text).unwrap_or_default();
    let d = directive_named(&text)?;
    list.retain(|e| match e {
        Value::Null => false,
        Value::Object(m) => !m.is_empty() && m.get("$patch").is_none_or(|v| node_text(v) != text),
        _ => true,
    });
    Ok(d)
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "a map",
        Value::Array(_) => "a list",
        _ => "a scalar",
    }
}

fn wrong_kind(path: &[String], want: &Value, got: &Value) -> String {
    format!(
        "wrong node kind at `{}`: expected {} but got {}",
        path.join("."),
        shape(want),
        shape(got)
    )
}

/// kyaml's `Walker.Walk` over `[dest, patch]`: the merged value, or `None` to clear the field.
pub(super) fn walk_pair(
    dest: Option<Value>,
    patch: Option<&Value>,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Option<Value>, String> {
    fn present(v: Option<&Value>) -> Option<&Value> {
        v.filter(|v| !v.is_null())
    }
    let leading = present(dest.as_ref()).or(present(patch)).cloned();
    if let Some(lead) = &leading {
        for v in [present(dest.as_ref()), present(patch)]
            .into_iter()
            .flatten()
        {
            if shape(v) != shape(lead) {
                return Err(wrong_kind(path, lead, v));
            }
        }
    }
    match leading {
        Some(Value::Array(_)) => walk_list_pair(dest, patch, path, cx),
        Some(Value::Object(_)) | None => walk_map_pair(dest, patch, path, cx),
        // VisitScalar: the patch's value (a `null` clears), else the target's.
        Some(_) => Ok(match patch {
            Some(Value::Null) => None,
            Some(p) => Some(p.clone()),
            None => dest,
        }),
    }
}

fn walk_map_pair(
    dest: Option<Value>,
    patch: Option<&Value>,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Option<Value>, String> {
    let Some(Value::Object(mut d)) = dest else {
        // The target lacks the field (or has `null`).
        let Some(p) = patch else {
            // kyaml keeps the target's explicit `null` (MakePersistentNullNode).
            return Ok(dest);
        };
        let Value::Object(p) = p else {
            return Ok(None);
        };
        let mut p = p.clone();
        // Errors are ignored here: an unknown `$patch` stays in the output.
        return match map_directive(&mut p) {
            Ok(Directive::Delete) => Ok(None),
            _ => Ok(Some(same_map_fields(p, path, cx)?)),
        };
    };
    let p = match patch {
        None => None,
        Some(Value::Null) => return Ok(None),
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Ok(None),
    };
    let mut elided;
    let p = match p {
        None => None,
        Some(p) => {
            elided = p.clone();
            match map_directive(&mut elided)? {
                Directive::Delete => return Ok(None),
                Directive::Replace => return Ok(Some(same_map_fields(elided, path, cx)?)),
                Directive::Merge => Some(&elided),
            }
        }
    };
    let mut keys: Vec<String> = d.keys().cloned().collect();
    if let Some(p) = p {
        keys.extend(p.keys().filter(|k| !d.contains_key(*k)).cloned());
    }
    for k in keys {
        path.push(k.clone());
        let r = walk_pair(d.remove(&k), p.and_then(|p| p.get(&k)), path, cx);
        path.pop();
        if let Some(v) = r? {
            d.insert(k, v);
        }
    }
    Ok(Some(Value::Object(d)))
}

fn walk_list_pair(
    dest: Option<Value>,
    patch: Option<&Value>,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Option<Value>, String> {
    let Some(keys) = list_keys(path, cx) else {
        // A list the schema does not merge: the patch's, verbatim (`null` clears).
        return Ok(match patch {
            Some(Value::Null) => None,
            Some(p) => Some(p.clone()),
            None => dest,
        });
    };
    let Some(Value::Array(mut d)) = dest else {
        // VisitList returns the patch's list as it is (no directive), walked against itself.
        return match patch {
            Some(Value::Array(p)) => same_keyed_list(p.clone(), path, cx),
            _ => Ok(None),
        };
    };
    let p = match patch {
        None => Vec::new(),
        Some(Value::Null) => return Ok(None),
        Some(Value::Array(p)) => {
            let mut p = p.clone();
            match list_directive(&mut p)? {
                Directive::Delete => return Ok(None),
                Directive::Replace => return same_keyed_list(p, path, cx),
                Directive::Merge => p,
            }
        }
        Some(_) => return Ok(None),
    };
    if keys.is_empty() {
        merge_primitive(&mut d, &p);
    } else {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
        super::assoc::merge(&mut d, Some(&p), &keys, path, cx)?;
    }
    Ok(Some(Value::Array(d)))
}

/// Lists of scalars the schema merges as sets (`finalizers`): the patch's values first, then
/// the target's others, without repeats.
fn merge_primitive(d: &mut Vec<Value>, p: &[Value]) {
    let mut out: Vec<Value> = Vec::new();
    for v in p.iter().chain(d.iter()) {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    *d = out;
}

/// kyaml walking a part of the patch against itself (`[p, p]`, the same node twice), as it does
/// for what the target lacks: directives are applied and removed, `null` fields dropped, keyed
/// lists merged with themselves; other lists kept verbatim.
pub(super) fn walk_same(
    v: Value,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(mut m) => match map_directive(&mut m)? {
            Directive::Delete => Ok(None),
            Directive::Replace | Directive::Merge => Ok(Some(same_map_fields(m, path, cx)?)),
        },
        Value::Array(mut a) => {
            if list_keys(path, cx).is_none() {
                return Ok(Some(Value::Array(a)));
            }
            match list_directive(&mut a)? {
                Directive::Delete => Ok(None),
                Directive::Replace | Directive::Merge => same_keyed_list(a, path, cx),
            }
        }
        scalar => Ok(Some(scalar)),
    }
}

/// The fields of a patch map walked against themselves.
pub(super) fn same_map_fields(
    m: Map<String, Value>,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, v) in m {
        path.push(k.clone());
        let r = walk_same(v, path, cx);
        path.pop();
        if let Some(v) = r? {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

/// A keyed list of the patch merged with itself.
fn same_keyed_list(
    mut a: Vec<Value>,
    path: &mut Vec<String>,
    cx: &Cx,
) -> Result<Option<Value>, String> {
    match list_keys(path, cx) {
        Some(keys) if !keys.is_empty() => {
            let keys: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
            super::assoc::merge(&mut a, None, &keys, path, cx)?;
        }
        _ => {
            let mut out: Vec<Value> = Vec::new();
            for v in a {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            a = out;
        }
    }
    Ok(Some(Value::Array(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys_at(api_version: &str, kind: &str, path: &str) -> Option<&'static [&'static str]> {
        let cx = Cx {
            root: schema_root(api_version, kind),
        };
        let path: Vec<String> = path.split('.').map(String::from).collect();
        list_keys(&path, &cx)
    }

    #[test]
    fn merge_keys_come_from_the_schema_of_the_exact_type() {
        let ports = "spec.template.spec.containers.ports";
        assert_eq!(
            keys_at("apps/v1", "Deployment", ports),
            Some(&["containerPort", "protocol"][..])
        );
        assert_eq!(
            keys_at("v1", "Service", "spec.ports"),
            Some(&["port", "protocol"][..])
        );
        assert_eq!(
            keys_at(
                "apps/v1",
                "Deployment",
                "spec.template.spec.ephemeralContainers.ports"
            ),
            None
        );
        // Not in Kubernetes v1.21.2: no schema, lists replaced.
        assert_eq!(keys_at("apps/v1beta1", "Deployment", ports), None);
        assert_eq!(keys_at("v1", "ServiceAccount", "imagePullSecrets"), None);
        assert_eq!(
            keys_at("v1", "ServiceAccount", "secrets"),
            Some(&["name"][..])
        );
        assert_eq!(
            keys_at("v1", "ConfigMap", "metadata.finalizers"),
            Some(&[][..])
        );
    }

    #[test]
    fn containers_merge_by_name() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}, {"name": "a", "$patch": "delete"}]}}}});
        apply(&mut d, &p).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])
        );
    }

    #[test]
    fn null_deletes_and_replace_replaces() {
        let mut d = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"}, "x": {"y": 1, "z": 2}});
        apply(
            &mut d,
            &json!({"data": {"a": null}, "x": {"$patch": "replace", "w": 3}}),
        )
        .unwrap();
        assert_eq!(d["data"], json!({"b": "2"}));
        assert_eq!(d["x"], json!({"w": 3}));
    }
}
