//! Helm's own template functions (Helm v4 `pkg/engine/funcs.go` and the late-bound ones of
//! `engine.go`): `include`, `tpl`, `required`, `fail`, `toYaml`, `fromYaml`, `toJson`,
//! `fromJson` and their variants, `lookup` (always an empty map, as `helm template` has no
//! cluster), `getHostByName` (always empty: Helm disables DNS by default).
//!
//! Not yet: `toToml`/`fromToml`/`mustToToml`, `toYamlPretty` (go-yaml v3's encoder), the
//! `duration*` functions.

use std::collections::BTreeMap;

use crate::sprig::json;
use crate::template::{Ctx, Func, MissingKey, Templates};
use crate::value::{Type, Value};

/// Helm's marker around `required` and `fail` messages (Helm strips it when it reports).
pub fn warn_wrap(warn: &str) -> String {
    format!("HELM_ERR_START{warn}HELM_ERR_END")
}

fn reg(
    t: &mut Templates,
    name: &str,
    params: Vec<Type>,
    result: Type,
    returns_error: bool,
    f: fn(&mut Ctx<'_>, Vec<Value>) -> Result<Value, String>,
) {
    let mut func = Func::new(name, params, None, result, f);
    func.returns_error = returns_error;
    t.add_func(func);
}

/// `sigs.k8s.io/yaml.Marshal`: Go's JSON encoding, then go-yaml v2's emitter (kustomize-rs has
/// the same emitter for the same reason).
///
/// # Errors
/// The JSON encoding error (functions, NaN).
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let j = json::encode(v, json::MARSHAL)?;
    // sigs.k8s.io/yaml reads the JSON back with go-yaml v2, whose reader refuses characters
    // outside YAML's printable set (DEL, C1 controls, U+FFFE/U+FFFF) that Go's JSON encoder
    // leaves unescaped.
    if j.chars().any(|c| {
        let u = c as u32;
        !(matches!(u, 0x09 | 0x0A | 0x0D | 0x85)
            || (0x20..=0x7E).contains(&u)
            || (0xA0..=0xD7FF).contains(&u)
            || (0xE000..=0xFFFD).contains(&u)
            || u >= 0x10000)
    }) {
        return Err(
            "error converting JSON to YAML: yaml: control characters are not allowed".into(),
        );
    }
    let j: serde_json::Value = serde_json::from_str(&j).map_err(|e| e.to_string())?;
    if let serde_json::Value::String(s) = &j {
        return Ok(top_level_string(s));
    }
    Ok(kustomize::yaml::to_yaml_document(&j))
}

/// A string at the root of a document. kustomize-rs's emitter only writes mappings at the
/// root, so the string is emitted as a mapping value (same style choice and indentation: go-yaml
/// indents a root scalar by 2, as a value) and the key removed; a folded plain or single-quoted
/// scalar is folded again from column 0.
fn top_level_string(s: &str) -> String {
    let mut m = serde_json::Map::new();
    m.insert("k".into(), serde_json::Value::String(s.to_string()));
    let out = kustomize::yaml::to_yaml_document(&serde_json::Value::Object(m));
    let body = out.strip_prefix("k: ").unwrap_or(&out).to_string();
    let first = body.chars().next().unwrap_or(' ');
    let folded = body.trim_end_matches('\n').contains('\n');
    if !folded || first == '|' || first == '>' || first == '"' {
        return body;
    }
    // Plain or single-quoted and folded: every fold replaced one space.
    let lines: Vec<&str> = body.trim_end_matches('\n').split('\n').collect();
    let mut text = lines[0].to_string();
    for l in &lines[1..] {
        text.push(' ');
        text.push_str(l.strip_prefix("  ").unwrap_or(l));
    }
    let quoted = first == '\'';
    let chars: Vec<char> = text.chars().collect();
    let (start, end) = if quoted {
        (1, chars.len() - 1)
    } else {
        (0, chars.len())
    };
    let mut res = String::new();
    let mut column = 0usize;
    if quoted {
        res.push('\'');
        column = 1;
    }
    let mut spaces = false;
    for i in start..end {
        let c = chars[i];
        if c == ' ' {
            let next_space = chars.get(i + 1).is_some_and(|n| *n == ' ');
            let edge = quoted && (i == start || i + 1 == end);
            if !spaces && column > 80 && !next_space && !edge {
                res.push_str("\n  ");
                column = 2;
            } else {
                res.push(' ');
                column += 1;
            }
            spaces = true;
        } else {
            res.push(c);
            column += 1;
            spaces = false;
        }
    }
    if quoted {
        res.push('\'');
    }
    res.push('\n');
    res
}

/// `sigs.k8s.io/yaml.Unmarshal` into `interface {}`.
///
/// sigs.k8s.io/yaml reads with go-yaml v2, whose YAML 1.1 rules make `y`, `n`, `yes`, `on` …
/// booleans; kustomize-rs reads kustomization files with the same rules.
fn from_yaml(text: &str) -> Result<Value, String> {
    let docs = kustomize::yaml::parse_kustomization_documents(text).map_err(|e| {
        format!(
            "error converting YAML to JSON: yaml: line {}: {}",
            e.line, e.message
        )
    })?;
    let j = docs.into_iter().next().unwrap_or(serde_json::Value::Null);
    Ok(Value::from_json(&j))
}

fn go_json_unmarshal(text: &str) -> Result<Value, String> {
    let j: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        }
    })?;
    Ok(Value::from_json(&j))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Registers Sprig (as Helm exposes it) and Helm's functions.
pub fn add_to(t: &mut Templates) {
    crate::sprig::add_to(t);
    use Type::{Interface as Any, String as Str};
    let am = Type::any_map;
    reg(t, "toYaml", vec![Any], Str, false, |_, a| {
        Ok(to_yaml(&a[0])
            .map(|y| y.trim_end_matches('\n').to_string())
            .unwrap_or_default()
            .into())
    });
    reg(t, "mustToYaml", vec![Any], Str, false, |_, a| {
        Ok(to_yaml(&a[0])?.trim_end_matches('\n').to_string().into())
    });
    reg(t, "fromYaml", vec![Str], am(), false, |_, a| {
        Ok(match from_yaml(s(&a[0])) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(Value::Nil) => Value::dict(BTreeMap::new()),
            Ok(other) => Value::dict(BTreeMap::from([(
                "Error".to_string(),
                Value::from(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
            )])),
            Err(e) => Value::dict(BTreeMap::from([("Error".to_string(), Value::from(e))])),
        })
    });
    reg(
        t,
        "fromYamlArray",
        vec![Str],
        Type::any_slice(),
        false,
        |_, a| {
            Ok(match from_yaml(s(&a[0])) {
                Ok(Value::Slice(l)) => Value::Slice(l),
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::from(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::from(e)]),
            })
        },
    );
    reg(t, "toJson", vec![Any], Str, false, |_, a| {
        Ok(json::encode(&a[0], json::MARSHAL)
            .unwrap_or_default()
            .into())
    });
    reg(t, "mustToJson", vec![Any], Str, false, |_, a| {
        Ok(json::encode(&a[0], json::MARSHAL)?.into())
    });
    reg(t, "fromJson", vec![Str], am(), false, |_, a| {
        Ok(match go_json_unmarshal(s(&a[0])) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(Value::Nil) => Value::dict(BTreeMap::new()),
            Ok(other) => Value::dict(BTreeMap::from([(
                "Error".to_string(),
                Value::from(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
            )])),
            Err(e) => Value::dict(BTreeMap::from([("Error".to_string(), Value::from(e))])),
        })
    });
    reg(
        t,
        "fromJsonArray",
        vec![Str],
        Type::any_slice(),
        false,
        |_, a| {
            Ok(match go_json_unmarshal(s(&a[0])) {
                Ok(Value::Slice(l)) => Value::Slice(l),
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::from(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::from(e)]),
            })
        },
    );
    let mut lookup = Func::new("lookup", vec![Str, Str, Str, Str], None, am(), |_, _| {
        Ok(Value::dict(BTreeMap::new()))
    });
    lookup.returns_error = true;
    t.add_func(lookup);
    reg(t, "getHostByName", vec![Str], Str, false, |_, _| {
        Ok("".into())
    });
    reg(t, "include", vec![Str, Any], Str, true, |ctx, a| {
        let name = s(&a[0]).to_string();
        ctx.execute_template(&name, &a[1]).map(Value::from)
    });
    reg(t, "tpl", vec![Str, Any], Str, true, |ctx, a| {
        let text = s(&a[0]).to_string();
        let mut clone = ctx.templates.clone();
        clone.missing_key = MissingKey::Zero;
        let name = clone.name().to_string();
        clone.parse(&name, &text).map_err(|e| {
            format!(
                "cannot parse template {}: {}",
                crate::gofmt::quote(&text),
                e.message
            )
        })?;
        let mut inner = Ctx {
            templates: &clone,
            depth: ctx.depth,
        };
        let out = inner.execute_template(&name, &a[1]).map_err(|e| {
            format!(
                "error during tpl function execution for {}: {e}",
                crate::gofmt::quote(&text)
            )
        })?;
        Ok(out.replace("<no value>", "").into())
    });
    reg(t, "required", vec![Str, Any], Any, true, |_, a| {
        match &a[1] {
            Value::Nil => Err(warn_wrap(s(&a[0]))),
            Value::String(v) if v.is_empty() => Err(warn_wrap(s(&a[0]))),
            v => Ok(v.clone()),
        }
    });
    reg(t, "fail", vec![Str], Str, true, |_, a| {
        Err(warn_wrap(s(&a[0])))
    });
}

/// The JSON kind Go's decoder names in a type mismatch.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Float64(_) | Value::Int(_) | Value::Int64(_) => "number",
        Value::String(_) => "string",
        Value::Slice(_) => "array",
        Value::Map(_) => "object",
        _ => "null",
    }
}
