//! Strategic merge patches, following kustomize's kyaml merge: maps merge, `null` deletes,
//! lists with a merge key merge element by element (kept in the target's order, new elements
//! appended), other lists are replaced; `$patch: delete|replace|merge` directives.

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
/// A message for malformed directives.
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
    if let Some(p) = patch.as_object()
        && directive(p) == Some("delete")
    {
        return Ok(Outcome::Delete);
    }
    let mut path = Vec::new();
    merge_value(target, patch, &mut path, builtin, &kind)?;
    Ok(Outcome::Patched)
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

/// Removes `$patch` and other directive keys from a value that is being inserted wholesale.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "$patch")
                .filter(|(_, v)| !v.is_null())
                .filter(|(_, v)| v.as_object().is_none_or(|m| directive(m) != Some("delete")))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => {
            // kustomize's quirk for a list the target does not have: a `$patch: replace`
            // element is kept as the only element.
            if a.iter().any(|e| {
                e.as_object()
                    .is_some_and(|m| directive(m) == Some("replace"))
            }) {
                let mut m = Map::new();
                m.insert("$patch".into(), Value::String("replace".into()));
                return Value::Array(vec![Value::Object(m)]);
            }
            Value::Array(
                a.iter()
                    .filter(|e| e.as_object().is_none_or(|m| directive(m) != Some("delete")))
                    .map(strip)
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

fn merge_value(
    dst: &mut Value,
    src: &Value,
    path: &mut Vec<String>,
    builtin: bool,
    kind: &str,
) -> Result<(), String> {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => merge_map(d, s, path, builtin, kind),
        (Value::Array(d), Value::Array(s)) => {
            merge_list(d, s, path, builtin, kind)?;
            Ok(())
        }
        (d, s) => {
            *d = strip(s);
            Ok(())
        }
    }
}

fn merge_map(
    d: &mut Map<String, Value>,
    s: &Map<String, Value>,
    path: &mut Vec<String>,
    builtin: bool,
    kind: &str,
) -> Result<(), String> {
    match directive(s) {
        Some("replace") => {
            *d = match strip(&Value::Object(s.clone())) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            return Ok(());
        }
        Some("merge") | None => {}
        Some("delete") => {
            d.clear();
            return Ok(());
        }
        Some(other) => return Err(format!("unknown $patch directive `{other}`")),
    }
    for (k, sv) in s {
        if k == "$patch" {
            continue;
        }
        if sv.is_null() {
            d.remove(k);
            continue;
        }
        if let Some(sm) = sv.as_object()
            && directive(sm) == Some("delete")
        {
            d.remove(k);
            continue;
        }
        path.push(k.clone());
        match d.get_mut(k) {
            Some(dv) if !dv.is_null() => merge_value(dv, sv, path, builtin, kind)?,
            _ => {
                d.insert(k.clone(), strip(sv));
            }
        }
        path.pop();
    }
    Ok(())
}

/// The merge key of the list at `path`, if it is associative.
fn merge_key(
    path: &[String],
    d: &[Value],
    s: &[Value],
    builtin: bool,
    kind: &str,
) -> Option<String> {
    let field = path.last()?.as_str();
    if builtin {
        let parent = if path.len() >= 2 {
            path[path.len() - 2].as_str()
        } else {
            ""
        };
        let key = match field {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "webhooks" => "name",
            "secrets" if kind == "ServiceAccount" => "name",
            "volumeMounts" => "mountPath",
            "volumeDevices" => "devicePath",
            "hostAliases" => "ip",
            "topologySpreadConstraints" => "topologyKey",
            "conditions" => "type",
            "ownerReferences" => "uid",
            "ports" => {
                if kind == "Service" && parent == "spec" {
                    "port"
                } else {
                    "containerPort"
                }
            }
            _ => return None,
        };
        return Some(key.to_string());
    }
    // Without a schema (custom resources) kustomize replaces lists wholesale.
    let _ = (d, s);
    None
}

fn merge_list(
    d: &mut Vec<Value>,
    s: &[Value],
    path: &mut Vec<String>,
    builtin: bool,
    kind: &str,
) -> Result<(), String> {
    if s.iter().any(|e| {
        e.as_object()
            .is_some_and(|m| directive(m) == Some("replace"))
    }) {
        *d = s
            .iter()
            .filter(|e| {
                e.as_object()
                    .is_none_or(|m| directive(m) != Some("replace"))
            })
            .map(strip)
            .collect();
        return Ok(());
    }
    // Lists of scalars the API merges as sets (patch values first, then the target's others).
    if builtin && path.last().is_some_and(|f| f == "finalizers") {
        let mut out: Vec<Value> = Vec::new();
        for v in s.iter().chain(d.iter()) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        *d = out;
        return Ok(());
    }
    let Some(key) = merge_key(path, d, s, builtin, kind) else {
        *d = strip(&Value::Array(s.to_vec()))
            .as_array()
            .cloned()
            .unwrap_or_default();
        return Ok(());
    };
    // Like the API server's strategic merge: the patch's elements first, in patch order
    // (merged into their counterparts), then the target's elements the patch did not mention.
    let mut out = Vec::with_capacity(d.len() + s.len());
    let mut used = vec![false; d.len()];
    for se in s {
        let Some(sm) = se.as_object() else {
            out.push(strip(se));
            continue;
        };
        let kv = sm.get(&key);
        let pos = kv.and_then(|kv| d.iter().position(|de| de.get(&key) == Some(kv)));
        if let Some(i) = pos {
            used[i] = true;
        }
        if directive(sm) == Some("delete") {
            continue;
        }
        match pos {
            Some(i) => {
                let mut merged = d[i].clone();
                merge_value(&mut merged, se, path, builtin, kind)?;
                out.push(merged);
            }
            None => out.push(strip(se)),
        }
    }
    for (i, de) in d.iter().enumerate() {
        if !used[i] {
            out.push(de.clone());
        }
    }
    *d = out;
    Ok(())
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
