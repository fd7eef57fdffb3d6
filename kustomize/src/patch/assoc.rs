//! Merging associative lists (lists with merge keys), ported from kyaml's
//! `walk/associative_sequence.go` as kustomize v5.8.1 runs it (`MergeOptionsListPrepend`).
//!
//! kyaml compares elements by the *text* of their key fields, and a list may have several keys
//! (`ports` of a Service: `port` and `protocol`; of a container: `containerPort` and `protocol`;
//! `topologySpreadConstraints`: `topologyKey` and `whenUnsatisfiable`). Its rules, kept here
//! with their quirks because kustomize's output depends on them:
//!
//! - the key values of every element, the patch's first, then the target's, without repeats;
//!   with several keys, two value tuples that agree on one key and differ only where one of
//!   them is empty are merged into one (`mergeValues`), so a patch entry without `protocol`
//!   names the target's `TCP` (or, with both `TCP` and `UDP` present, the last of them);
//! - keys that are empty in every tuple are dropped (`validateKeys`); an element is then found
//!   in each list by the tuple's non-empty keys, all of which must be present and equal;
//! - a found target element is merged in place with the found patch element; a patch element
//!   alone is inserted; neither, or a `$patch: delete`, deletes the target's element;
//! - the result is the merged elements in tuple order, then the target's elements appended
//!   through kyaml's `ElementSetter` (which, with several keys, moves an element already
//!   there to the end).
//!
//! Elements are held in an arena and the lists are indexes into it: kyaml's lists share the
//! target's nodes, so an element merged in place is the same node in both.

use serde_json::{Map, Value};

use super::smp::{Cx, Directive, map_directive, node_text, same_map_fields, walk_pair, walk_same};
use crate::yaml::resolve_plain;

/// `node_text(v) == want`, without allocating for strings (the common case).
fn text_is(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        other => node_text(other) == want,
    }
}

/// kyaml's `ElementValuesList` for one element: the key's text, or "" when the field is
/// missing, null, an empty map or an empty list (or the element is not a map).
fn key_text(elem: &Value, key: &str) -> String {
    match elem.as_object().and_then(|m| m.get(key)) {
        None | Some(Value::Null) => String::new(),
        Some(v) => node_text(v),
    }
}

/// kyaml's `validateKeys`: the keys that have a value in at least one tuple of `all`, and the
/// values of `values` for them; every key when none has a value.
fn validate_keys(
    all: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: Vec<&String> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            all.iter()
                .any(|vs| vs.get(*i).is_some_and(|v| !v.is_empty()))
        })
        .map(|(_, k)| k)
        .collect();
    if valid.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    let vk = keys.iter().filter(|k| valid.contains(k)).cloned().collect();
    let vv = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || keys.get(*i).is_some_and(|k| valid.contains(&k)))
        .map(|(_, v)| v.clone())
        .collect();
    (vk, vv)
}

/// kyaml's `match`: tuples agreeing on at least one position and differing only where one of
/// them is empty; the merged tuple.
fn match_tuples(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        }
    }
    if !common {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .map(|(x, y)| if x.is_empty() { y.clone() } else { x.clone() })
            .collect(),
    )
}

/// kyaml's `mergeValues`, including its in-place updates while it iterates.
fn merge_tuples(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        let first = list[i].clone();
        for j in 0..list.len() {
            if let Some(res) = match_tuples(&first, &list[j]) {
                list[i] = res.clone();
                list[j] = res;
            }
        }
    }
}

/// kyaml's `MatchElementList`: the first map element whose every key is present with that text.
fn element_list(
    arena: &[Value],
    list: &[usize],
    keys: &[String],
    values: &[String],
) -> Option<usize> {
    if keys.len() != values.len() {
        return None;
    }
    list.iter().copied().find(|&id| {
        arena[id].as_object().is_some_and(|m| {
            keys.iter()
                .zip(values)
                .all(|(k, v)| m.get(k).is_some_and(|f| text_is(f, v)))
        })
    })
}

/// kyaml's `ElementSetter` on a list of maps: removes every element matching `values` on
/// `keys` (an empty value matches any value; keys past the end of `values` repeat the last
/// comparison), drops empty elements, and puts `element` in place of each match, or at the
/// end when nothing matched. Without `element` it only deletes.
fn element_setter(
    arena: &[Value],
    list: &mut Vec<usize>,
    element: Option<usize>,
    keys: &[String],
    values: &[String],
) -> Result<(), String> {
    let mapping_setter = keys.first().is_some_and(|k| !k.is_empty())
        && values.first().is_some_and(|v| !v.is_empty());
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut found_any = false;
    for &id in list.iter() {
        let v = &arena[id];
        if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        let Some(m) = v.as_object() else {
            if mapping_setter {
                out.push(id);
                continue;
            }
            return Err(format!(
                "wrong node kind: expected a mapping in a list merged by {}",
                keys.join(", ")
            ));
        };
        let mut matched = false;
        let mut found = true;
        for (j, k) in keys.iter().enumerate() {
            if let Some(want) = values.get(j) {
                matched = m
                    .get(k)
                    .is_some_and(|f| want.is_empty() || text_is(f, want));
            }
            if !matched {
                found = false;
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                out.push(id);
            }
            continue;
        }
        found_any = true;
        if let Some(e) = element {
            out.push(e);
        }
    }
    *list = out;
    if let Some(e) = element
        && !found_any
    {
        list.push(e);
    }
    Ok(())
}

/// kyaml's `appendListNode(dst, src, keys)`.
fn append_list(
    arena: &[Value],
    dst: &mut Vec<usize>,
    src: &[usize],
    keys: &[String],
) -> Result<(), String> {
    for &id in src {
        let mut values = Vec::with_capacity(keys.len());
        for k in keys {
            let field = match &arena[id] {
                Value::Null => None,
                Value::Object(m) => m.get(k),
                _ => {
                    return Err(format!(
                        "wrong node kind: expected a mapping in a list merged by {}",
                        keys.join(", ")
                    ));
                }
            };
            match field {
                // An element without the key is appended as it is (once per missing key).
                None => dst.push(id),
                Some(f) => values.push(node_text(f)),
            }
        }
        if keys.len() > 1 {
            element_setter(arena, dst, None, keys, &values)?;
        }
        element_setter(arena, dst, Some(id), keys, &values)?;
    }
    Ok(())
}

fn is_empty_map(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(Map::is_empty)
}

/// Merges the patch list `s` into the target list `d` by `keys`; with `s` absent, merges `d`
/// with itself (kyaml walking a part of the patch the target lacks: both sources are the same
/// list, so a deletion from one is a deletion from the other).
///
/// # Errors
/// Malformed directives, or a list mixing maps and scalars where kyaml fails too.
pub(super) fn merge(
    d: &mut Vec<Value>,
    s: Option<&[Value]>,
    keys: &[String],
    path: &mut Vec<String>,
    cx: &Cx<'_>,
) -> Result<(), String> {
    let aliased = s.is_none();
    let mut arena: Vec<Value> = std::mem::take(d);
    let mut dest: Vec<usize> = (0..arena.len()).collect();
    let patch: Vec<usize> = match s {
        Some(s) => {
            let ids = (arena.len()..arena.len() + s.len()).collect();
            arena.extend(s.iter().cloned());
            ids
        }
        None => Vec::new(),
    };

    let mut tuples: Vec<Vec<String>> = Vec::new();
    let mut seen: std::collections::HashSet<Vec<String>> = std::collections::HashSet::new();
    let sources: Vec<usize> = if aliased {
        dest.clone()
    } else {
        patch.iter().chain(dest.iter()).copied().collect()
    };
    for id in sources {
        let t: Vec<String> = keys.iter().map(|k| key_text(&arena[id], k)).collect();
        if seen.insert(t.clone()) {
            tuples.push(t);
        }
    }
    if keys.len() > 1 {
        merge_tuples(&mut tuples);
    }

    let mut items: Vec<usize> = Vec::new();
    let mut last_keys = keys.to_vec();
    for values in &tuples {
        let (vk, vv) = validate_keys(&tuples, values, keys);
        let (ek, ev) = validate_keys(std::slice::from_ref(&vv), &vv, &vk);
        let de = element_list(&arena, &dest, &ek, &ev);
        let pe = if aliased {
            de
        } else {
            element_list(&arena, &patch, &ek, &ev)
        };
        let val = walk_element(&mut arena, de, pe, aliased, path, cx)?;
        match val {
            Some(id) if !is_empty_map(&arena[id]) => {
                // kyaml makes sure the element carries the key values it was found by.
                if let Some(m) = arena[id].as_object_mut() {
                    for (k, v) in vk.iter().zip(&vv) {
                        if !m.contains_key(k) && !v.is_empty() {
                            let scalar =
                                resolve_plain(v).unwrap_or_else(|_| Value::String(v.clone()));
                            m.insert(k.clone(), scalar);
                        }
                    }
                }
                element_setter(&arena, &mut items, Some(id), &vk, &vv)?;
            }
            _ => element_setter(&arena, &mut dest, None, &vk, &vv)?,
        }
        last_keys = vk;
    }
    if !tuples.is_empty() {
        append_list(&arena, &mut items, &dest, &last_keys)?;
        dest = items;
    }
    *d = dest.into_iter().map(|id| arena[id].clone()).collect();
    Ok(())
}

/// kyaml walking one element, `[target's, patch's]`: the arena index of the result (the
/// target's node merged in place, or the patch's node), or `None` to delete it.
fn walk_element(
    arena: &mut [Value],
    de: Option<usize>,
    pe: Option<usize>,
    aliased: bool,
    path: &mut Vec<String>,
    cx: &Cx<'_>,
) -> Result<Option<usize>, String> {
    match (de, pe) {
        (Some(di), Some(_)) if aliased => match walk_same(arena[di].clone(), path, cx)? {
            Some(v) => {
                arena[di] = v;
                Ok(Some(di))
            }
            None => {
                // The directive was removed from the node, which stays in the list.
                arena[di] = elided(std::mem::take(&mut arena[di]));
                Ok(None)
            }
        },
        (Some(di), Some(pi)) => {
            let mut p = match &arena[pi] {
                Value::Object(m) => m.clone(),
                _ => return Ok(Some(di)),
            };
            match map_directive(&mut p)? {
                Directive::Delete => {
                    arena[pi] = Value::Object(p);
                    Ok(None)
                }
                // The patch's node takes the place of the target's in the walk; the target's
                // stays in the target list.
                Directive::Replace => {
                    arena[pi] = same_map_fields(p, path, cx)?;
                    Ok(Some(pi))
                }
                Directive::Merge => {
                    let pv = arena[pi].clone();
                    match walk_pair(Some(std::mem::take(&mut arena[di])), Some(&pv), path, cx)? {
                        Some(v) => {
                            arena[di] = v;
                            Ok(Some(di))
                        }
                        None => Ok(None),
                    }
                }
            }
        }
        (Some(di), None) => {
            match walk_pair(Some(std::mem::take(&mut arena[di])), None, path, cx)? {
                Some(v) => {
                    arena[di] = v;
                    Ok(Some(di))
                }
                None => Ok(None),
            }
        }
        (None, Some(pi)) => {
            let Value::Object(m) = &arena[pi] else {
                return Ok(None);
            };
            let mut p = m.clone();
            // The target lacks it: an unknown directive is ignored here, as kyaml does.
            match map_directive(&mut p) {
                Ok(Directive::Delete) => {
                    arena[pi] = Value::Object(p);
                    Ok(None)
                }
                _ => {
                    arena[pi] = same_map_fields(p, path, cx)?;
                    Ok(Some(pi))
                }
            }
        }
        (None, None) => Ok(None),
    }
}

fn elided(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            m.remove("$patch");
            Value::Object(m)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(d: Value, s: Value, keys: &[&str]) -> Value {
        let mut d = d.as_array().cloned().unwrap_or_default();
        let s = s.as_array().cloned().unwrap_or_default();
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
        let cx = Cx {
            builtin: true,
            kind: "Service",
        };
        merge(&mut d, Some(&s), &keys, &mut vec!["ports".into()], &cx).unwrap();
        Value::Array(d)
    }

    #[test]
    fn patch_without_protocol_names_the_target_tcp_but_is_not_applied() {
        let got = run(
            json!([{"port": 80, "protocol": "TCP", "targetPort": 8080}]),
            json!([{"port": 80, "targetPort": 9090}]),
            &["port", "protocol"],
        );
        assert_eq!(
            got,
            json!([{"port": 80, "protocol": "TCP", "targetPort": 8080}])
        );
    }

    #[test]
    fn same_port_other_protocol_is_another_element() {
        let got = run(
            json!([{"name": "dns", "port": 53, "protocol": "TCP"}]),
            json!([{"name": "dns-udp", "port": 53, "protocol": "UDP"}]),
            &["port", "protocol"],
        );
        assert_eq!(
            got,
            json!([{"name": "dns-udp", "port": 53, "protocol": "UDP"}, {"name": "dns", "port": 53, "protocol": "TCP"}])
        );
    }

    #[test]
    fn without_any_protocol_ports_merge_by_port_in_patch_order() {
        let got = run(
            json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}]),
            json!([{"port": 443, "targetPort": 8443}, {"name": "m", "port": 9090}]),
            &["port", "protocol"],
        );
        assert_eq!(
            got,
            json!([{"name": "https", "port": 443, "targetPort": 8443}, {"name": "m", "port": 9090}, {"name": "http", "port": 80}])
        );
    }

    #[test]
    fn hostile_lists_do_not_panic() {
        for (d, s) in [
            (
                json!([1, null, {}, [], {"port": {}}]),
                json!([null, "x", {"protocol": "UDP"}]),
            ),
            (
                json!([{"protocol": "UDP"}, {"port": 1}]),
                json!([{}, {"port": 1, "$patch": "delete"}]),
            ),
            (json!([]), json!([])),
        ] {
            let mut d = d.as_array().cloned().unwrap_or_default();
            let s = s.as_array().cloned().unwrap_or_default();
            let keys = vec!["port".to_string(), "protocol".to_string()];
            let cx = Cx {
                builtin: true,
                kind: "Service",
            };
            let _ = merge(&mut d, Some(&s), &keys, &mut vec!["ports".into()], &cx);
            let _ = merge(&mut d, None, &keys, &mut vec!["ports".into()], &cx);
        }
    }
}
