//! Strategic merge patches, ported from kyaml's `merge2` (the `Merger` visitor driven by
//! `walk.Walker` over the target and the patch), as kustomize v5.8.1 runs it.
//!
//! Maps merge field by field, `null` deletes; lists with merge keys (from the Kubernetes schema
//! kyaml embeds) merge element by element (`assoc`); other lists are replaced by the patch's,
//! verbatim; `$patch: delete|replace|merge` directives on maps and on keyed lists. Like kyaml,
//! the walk visits the whole target, not only what the patch names, and a part of the patch
//! that the target lacks is walked against itself (directives applied, `null` fields dropped).

use serde_json::{Map, Value};

/// API groups whose kinds kustomize knows the schema of.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "certificates.k8s.io",
    "node.k8s.io",
    "extensions",
];

/// What the patch does to the whole object.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object was patched in place.
    Patched,
    /// The patch said `$patch: delete` at the top: drop the object.
    Delete,
}

/// Whether objects of this apiVersion have a known schema (built-in kinds).
pub fn is_builtin(api_version: &str) -> bool {
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    BUILTIN_GROUPS.contains(&group)
}

/// Applies `patch` to `target`.
///
/// # Errors
/// A message for malformed directives and for a patch whose shape differs from the target's
/// (a map against a scalar or a list), as kyaml reports them.
pub fn apply(target: &mut Value, patch: &Value) -> Result<Outcome, String> {
    let builtin = is_builtin(
        target
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let kind = target
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let cx = Cx {
        builtin,
        kind: &kind,
    };
    let mut path = Vec::new();
    match walk_pair(Some(std::mem::take(target)), Some(patch), &mut path, &cx)? {
        Some(v) => {
            *target = v;
            Ok(Outcome::Patched)
        }
        None => Ok(Outcome::Delete),
    }
}

/// What the walk knows of the object: whether it has a schema, and its kind.
pub(super) struct Cx<'a> {
    pub(super) builtin: bool,
    pub(super) kind: &'a str,
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
    cx: &Cx<'_>,
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
    cx: &Cx<'_>,
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
    cx: &Cx<'_>,
) -> Result<Option<Value>, String> {
    if !cx.builtin || !is_keyed(path, cx) {
        // A list without merge keys: the patch's, verbatim (`null` clears).
        return Ok(match patch {
            Some(Value::Null) => None,
            Some(p) => Some(p.clone()),
            None => dest,
        });
    }
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
    if let Some(keys) = merge_keys(path, cx.builtin, cx.kind) {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
        super::assoc::merge(&mut d, Some(&p), &keys, path, cx)?;
    } else {
        merge_primitive(&mut d, &p);
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
    cx: &Cx<'_>,
) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(mut m) => match map_directive(&mut m)? {
            Directive::Delete => Ok(None),
            Directive::Replace | Directive::Merge => Ok(Some(same_map_fields(m, path, cx)?)),
        },
        Value::Array(mut a) => {
            if !cx.builtin || !is_keyed(path, cx) {
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
    cx: &Cx<'_>,
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
    cx: &Cx<'_>,
) -> Result<Option<Value>, String> {
    match merge_keys(path, cx.builtin, cx.kind) {
        Some(keys) => {
            let keys: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
            super::assoc::merge(&mut a, None, &keys, path, cx)?;
        }
        None => {
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

/// Whether the list at `path` merges (keys, or a set of scalars) rather than being replaced.
fn is_keyed(path: &[String], cx: &Cx<'_>) -> bool {
    merge_keys(path, cx.builtin, cx.kind).is_some()
        || path.last().is_some_and(|f| f == "finalizers")
}

/// The merge keys of the list at `path`, if it is associative (kyaml's
/// `PatchStrategyAndKeyList` over the Kubernetes v1.21.2 schema it embeds:
/// `x-kubernetes-list-map-keys` when the field has them, else `x-kubernetes-patch-merge-key`).
fn merge_keys(path: &[String], builtin: bool, kind: &str) -> Option<&'static [&'static str]> {
    let field = path.last()?.as_str();
    if !builtin {
        // Without a schema (custom resources) kustomize replaces lists wholesale.
        return None;
    }
    let parent = if path.len() >= 2 {
        path[path.len() - 2].as_str()
    } else {
        ""
    };
    let keys: &'static [&'static str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "webhooks" => &["name"],
        "secrets" if kind == "ServiceAccount" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "ports" => {
            if kind == "Service" && parent == "spec" {
                &["port", "protocol"]
            } else if parent == "ephemeralContainers" {
                // EphemeralContainer's ports have no patch strategy in the schema.
                return None;
            } else {
                &["containerPort", "protocol"]
            }
        }
        _ => return None,
    };
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
