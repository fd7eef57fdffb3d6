//! `configurations`: extra field specifications (kustomize's transformer configs) that teach
//! the built-in transformers about custom resources: where their labels, annotations,
//! namespaces, images and replica counts live, and which of their fields name other objects.

use serde_json::Value;

use crate::error::Error;
use crate::resource::Gvk;

/// A path in objects of some kinds, read from a configuration file.
#[derive(Debug, Clone, Default)]
pub struct DynSpec {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    /// Path segments (`/`-separated in the file, `\/` escaping a slash).
    pub path: Vec<String>,
    pub create: bool,
}

impl DynSpec {
    /// Whether this spec applies to objects of `gvk`.
    pub fn applies(&self, gvk: &Gvk) -> bool {
        self.group.as_ref().is_none_or(|g| *g == gvk.group)
            && self.version.as_ref().is_none_or(|v| *v == gvk.version)
            && self.kind.as_ref().is_none_or(|k| *k == gvk.kind)
    }

    /// The path as string slices, for the walker.
    pub fn segs(&self) -> Vec<&str> {
        self.path.iter().map(|s| s.trim_end_matches("[]")).collect()
    }
}

/// Configured specs, merged over every kustomization of a build.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub common_labels: Vec<DynSpec>,
    pub common_annotations: Vec<DynSpec>,
    pub namespace: Vec<DynSpec>,
    pub images: Vec<DynSpec>,
    pub replicas: Vec<DynSpec>,
    /// (referenced kind, referenced group, referrer field)
    pub name_reference: Vec<(String, Option<String>, DynSpec)>,
}

pub(crate) fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn field_err(file: &str, key: &str, message: &str) -> Error {
    Error::Field {
        file: file.into(),
        key: key.into(),
        message: message.into(),
    }
}

fn opt_str(
    m: &serde_json::Map<String, Value>,
    k: &str,
    file: &str,
    key: &str,
) -> Result<Option<String>, Error> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_err(file, &format!("{key}.{k}"), "expected a string")),
    }
}

fn spec(v: &Value, file: &str, key: &str) -> Result<DynSpec, Error> {
    let m = v
        .as_object()
        .ok_or_else(|| field_err(file, key, "expected a mapping"))?;
    for k in m.keys() {
        if !["group", "version", "kind", "path", "create", "behavior"].contains(&k.as_str()) {
            return Err(field_err(file, &format!("{key}.{k}"), "unknown field"));
        }
    }
    let path =
        opt_str(m, "path", file, key)?.ok_or_else(|| field_err(file, key, "`path` is required"))?;
    Ok(DynSpec {
        group: opt_str(m, "group", file, key)?,
        version: opt_str(m, "version", file, key)?,
        kind: opt_str(m, "kind", file, key)?,
        path: split_path(&path),
        create: m.get("create").and_then(Value::as_bool).unwrap_or(false),
    })
}

pub(crate) fn specs(v: &Value, file: &str, key: &str) -> Result<Vec<DynSpec>, Error> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| spec(x, file, &format!("{key}[{i}]")))
            .collect(),
        _ => Err(field_err(file, key, "expected a list of field specs")),
    }
}

impl Config {
    /// Reads one configuration file and adds its specs.
    ///
    /// # Errors
    /// [`Error::Field`] for unknown or malformed entries; [`Error::Unsupported`] for
    /// `varReference`.
    pub fn merge_file(&mut self, v: &Value, file: &str) -> Result<(), Error> {
        let Some(m) = v.as_object() else {
            return if v.is_null() {
                Ok(())
            } else {
                Err(field_err(file, "(root)", "expected a mapping"))
            };
        };
        for (k, val) in m {
            match k.as_str() {
                "commonLabels" => self.common_labels.extend(specs(val, file, k)?),
                "commonAnnotations" => self.common_annotations.extend(specs(val, file, k)?),
                "namespace" => self.namespace.extend(specs(val, file, k)?),
                "images" => self.images.extend(specs(val, file, k)?),
                "replicas" => self.replicas.extend(specs(val, file, k)?),
                // Prefixes and suffixes apply to `metadata/name` of every kind already.
                "namePrefix" | "nameSuffix" => {
                    specs(val, file, k)?;
                }
                "nameReference" => {
                    let items = val
                        .as_array()
                        .ok_or_else(|| field_err(file, k, "expected a list"))?;
                    for (i, it) in items.iter().enumerate() {
                        let key = format!("nameReference[{i}]");
                        let im = it
                            .as_object()
                            .ok_or_else(|| field_err(file, &key, "expected a mapping"))?;
                        for kk in im.keys() {
                            if !["group", "version", "kind", "fieldSpecs"].contains(&kk.as_str()) {
                                return Err(field_err(
                                    file,
                                    &format!("{key}.{kk}"),
                                    "unknown field",
                                ));
                            }
                        }
                        let kind = opt_str(im, "kind", file, &key)?
                            .ok_or_else(|| field_err(file, &key, "`kind` is required"))?;
                        let group = opt_str(im, "group", file, &key)?;
                        for s in specs(
                            im.get("fieldSpecs").unwrap_or(&Value::Null),
                            file,
                            &format!("{key}.fieldSpecs"),
                        )? {
                            self.name_reference.push((kind.clone(), group.clone(), s));
                        }
                    }
                }
                "varReference" => {
                    return Err(Error::Unsupported {
                        file: file.into(),
                        key: "varReference".into(),
                    });
                }
                other => return Err(field_err(file, other, "unknown field")),
            }
        }
        Ok(())
    }
}
