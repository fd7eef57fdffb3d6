//! `configMapGenerator` and `secretGenerator`, and the content hash kustomize appends to
//! generated names.

use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::kustomization::{Generator, GeneratorOptions};
use crate::resource::{Generated, Resource};

/// What the generator needs from the build: reading files below the kustomization directory.
pub trait Loader {
    /// Reads `rel` relative to the kustomization directory, enforcing the load restrictor.
    fn load(&self, rel: &str) -> Result<Vec<u8>, Error>;
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn is_env_var_name(k: &str) -> bool {
    !k.is_empty()
        && !k.as_bytes()[0].is_ascii_digit()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Builds the ConfigMap or Secret for one generator entry.
///
/// # Errors
/// [`Error::Generator`] for malformed literals or env files, duplicate keys, unreadable files.
pub fn generate(
    g: &Generator,
    secret: bool,
    global: Option<&GeneratorOptions>,
    loader: &dyn Loader,
    file: &str,
) -> Result<Resource, Error> {
    let gerr = |m: String| Error::Generator {
        file: file.into(),
        name: g.name.clone(),
        message: m,
    };
    if g.name.is_empty() {
        return Err(gerr("a generator needs a `name`".into()));
    }
    let mut data: Vec<(String, Vec<u8>)> = Vec::new();
    let push = |k: String, v: Vec<u8>, data: &mut Vec<(String, Vec<u8>)>| -> Result<(), Error> {
        if data.iter().any(|(x, _)| *x == k) {
            return Err(gerr(format!(
                "cannot add key `{k}`, another key by that name already exists"
            )));
        }
        data.push((k, v));
        Ok(())
    };
    for env in &g.envs {
        let bytes = loader.load(env)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| gerr(format!("env file `{env}` is not valid UTF-8")))?;
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = match line.split_once('=') {
                Some((k, v)) => (k, v),
                None => {
                    return Err(gerr(format!(
                        "`{env}` line {}: `{line}` has no `=`; reading values from the process environment is not supported",
                        i + 1
                    )));
                }
            };
            if !is_env_var_name(k) {
                return Err(gerr(format!("`{env}` line {}: invalid key `{k}`", i + 1)));
            }
            push(k.to_string(), v.as_bytes().to_vec(), &mut data)?;
        }
    }
    for lit in &g.literals {
        if lit.starts_with('=') {
            return Err(gerr(format!(
                "invalid literal source `{lit}`, expected key=value"
            )));
        }
        let (k, v) = lit.split_once('=').ok_or_else(|| {
            gerr(format!(
                "invalid literal source `{lit}`, expected key=value"
            ))
        })?;
        push(
            k.to_string(),
            remove_quotes(v).as_bytes().to_vec(),
            &mut data,
        )?;
    }
    for f in &g.files {
        let (k, p) = match f.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() || p.is_empty() {
                    return Err(gerr(format!("invalid file source `{f}`")));
                }
                (k.to_string(), p.to_string())
            }
            None => {
                let base = Path::new(f)
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (base, f.clone())
            }
        };
        let bytes = loader.load(&p)?;
        push(k, bytes, &mut data)?;
    }

    let mut md = Map::new();
    md.insert("name".into(), Value::String(g.name.clone()));
    if !g.namespace.is_empty() {
        md.insert("namespace".into(), Value::String(g.namespace.clone()));
    }
    let opts = merge_global_options_into_local(g.options.as_ref(), global);
    let labels = opts.labels;
    let annotations = opts.annotations;
    let hash = !opts.disable_name_suffix_hash.unwrap_or(false);
    let immutable = opts.immutable.unwrap_or(false);
    if !labels.is_empty() {
        md.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        md.insert("annotations".into(), Value::Object(annotations));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(if secret { "Secret" } else { "ConfigMap" }.into()),
    );
    obj.insert("metadata".into(), Value::Object(md));
    let mut text = Map::new();
    let mut binary = Map::new();
    for (k, v) in data {
        if secret {
            text.insert(k, Value::String(wrapped_base64(&v)));
        } else {
            match String::from_utf8(v) {
                Ok(s) => {
                    text.insert(k, Value::String(s));
                }
                Err(e) => {
                    binary.insert(k, Value::String(wrapped_base64(e.as_bytes())));
                }
            }
        }
    }
    // A generated Secret always has `data`, a ConfigMap only when it has entries.
    if secret || !text.is_empty() {
        obj.insert("data".into(), Value::Object(text));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if secret {
        let t = if g.secret_type.is_empty() {
            "Opaque"
        } else {
            &g.secret_type
        };
        obj.insert("type".into(), Value::String(t.into()));
    }
    // Only `true` is written: Go's `bool` cannot tell `false` from absent.
    if immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj), file.to_string());
    r.generated = Some(Generated {
        hash,
        behavior: if g.behavior.is_empty() {
            "create".into()
        } else {
            g.behavior.clone()
        },
    });
    Ok(r)
}

/// kustomize's `types.MergeGlobalOptionsIntoLocal`: a generator's own `options` completed by
/// the kustomization's `generatorOptions`. The options are Go values, so `false` is the same as
/// absent: either side saying `true` for `disableNameSuffixHash` or `immutable` wins, and a
/// label or annotation comes from the generator when it has that key, else from the global.
pub fn merge_global_options_into_local(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    let Some(global) = global else {
        return out;
    };
    for (k, v) in &global.labels {
        out.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &global.annotations {
        out.annotations
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    if global.disable_name_suffix_hash == Some(true) {
        out.disable_name_suffix_hash = Some(true);
    }
    if global.immutable == Some(true) {
        out.immutable = Some(true);
    }
    out
}

/// Base64 as kustomize writes generated data: lines of 70 characters, each ended by a newline
/// once there is more than one line.
fn wrapped_base64(v: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(v);
    let lines = enc.len() / 70 + 1;
    if lines == 1 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + lines);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Go's `json.Marshal` of a string (HTML-safe escaping included).
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Marshal` of a decoded JSON value (map keys sorted).
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                if let Some(x) = m.get(*k) {
                    go_json(x, out);
                }
            }
            out.push('}');
        }
    }
}

/// kustomize's content hash of a ConfigMap or Secret (`api/hasher`): sha256 of the JSON of
/// kind, (empty) name, data, binaryData or type and stringData, first ten hex digits mapped
/// through a vowel-free alphabet.
pub fn hash(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // kustomize looks the name up as one key literally called "metadata/name", which never
    // exists, so the hash always sees an empty name.
    let name = Value::String(String::new());
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.into()));
    m.insert("name".into(), name);
    m.insert("data".into(), field("data"));
    if kind == "Secret" {
        m.insert("type".into(), field("type"));
        if obj.get("stringData").is_some_and(Value::is_object) {
            m.insert("stringData".into(), field("stringData"));
        }
    } else if obj.get("binaryData").is_some_and(Value::is_object) {
        m.insert("binaryData".into(), field("binaryData"));
    }
    let mut text = String::new();
    go_json(&Value::Object(m), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod options_tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> GeneratorOptions {
        let m = v.as_object().cloned().unwrap_or_default();
        GeneratorOptions {
            labels: m
                .get("labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            annotations: m
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            disable_name_suffix_hash: m.get("disableNameSuffixHash").and_then(Value::as_bool),
            immutable: m.get("immutable").and_then(Value::as_bool),
        }
    }

    #[test]
    fn local_false_does_not_override_global_true() {
        let l =
            opts(json!({"disableNameSuffixHash": false, "immutable": false, "labels": {"a": "l"}}));
        let g = opts(
            json!({"disableNameSuffixHash": true, "immutable": true, "labels": {"a": "g", "b": "g"}}),
        );
        let m = merge_global_options_into_local(Some(&l), Some(&g));
        assert_eq!(m.disable_name_suffix_hash, Some(true));
        assert_eq!(m.immutable, Some(true));
        assert_eq!(Value::Object(m.labels), json!({"a": "l", "b": "g"}));
    }

    #[test]
    fn local_true_survives_global_false() {
        let l = opts(json!({"disableNameSuffixHash": true}));
        let g = opts(json!({"disableNameSuffixHash": false, "immutable": false}));
        let m = merge_global_options_into_local(Some(&l), Some(&g));
        assert_eq!(m.disable_name_suffix_hash, Some(true));
        assert_ne!(m.immutable, Some(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_kustomize() {
        assert_eq!(
            hash(&json!({"kind": "ConfigMap", "metadata": {"name": "p-c"}, "data": {"A": "1"}})),
            "89g4tffbfk"
        );
        assert_eq!(
            hash(
                &json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"MODE": "base", "REGION": "eu"}})
            ),
            "27bt425db6"
        );
    }
}
