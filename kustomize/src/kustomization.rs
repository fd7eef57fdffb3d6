//! The kustomization file: reading it and checking every field.

use serde_json::{Map, Value};

use crate::error::Error;

/// A patch target selector.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = [
            ("group", &self.group),
            ("version", &self.version),
            ("kind", &self.kind),
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("labelSelector", &self.label_selector),
            ("annotationSelector", &self.annotation_selector),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if shown.is_empty() {
            f.write_str("(any resource)")
        } else {
            f.write_str(&shown.join(" "))
        }
    }
}

/// One entry of `patches` (or of the legacy patch lists).
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    /// Legacy `patchesJson6902` entries are always JSON patches.
    pub json6902: bool,
    /// `options.allowNameChange`: a strategic merge patch may rename its target.
    pub allow_name_change: bool,
    /// `options.allowKindChange`: a strategic merge patch may change its target's kind.
    pub allow_kind_change: bool,
}

/// `images` entry.
#[derive(Debug, Clone, Default)]
pub struct Image {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
}

/// `replicas` entry.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// `labels` entry.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub pairs: Map<String, Value>,
    pub include_selectors: bool,
    pub include_templates: bool,
    /// `fields`: more places to put the labels.
    pub fields: Vec<crate::config::DynSpec>,
}

/// Options shared by generators.
#[derive(Debug, Clone, Default)]
pub struct GeneratorOptions {
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default)]
pub struct Generator {
    pub name: String,
    pub namespace: String,
    pub behavior: String,
    pub literals: Vec<String>,
    pub files: Vec<String>,
    pub envs: Vec<String>,
    pub secret_type: String,
    pub options: Option<GeneratorOptions>,
}

/// A parsed kustomization (or component).
#[derive(Debug, Clone, Default)]
pub struct Kustomization {
    pub is_component: bool,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub namespace: String,
    pub name_prefix: String,
    pub name_suffix: String,
    pub common_labels: Map<String, Value>,
    pub labels: Vec<Labels>,
    pub common_annotations: Map<String, Value>,
    pub images: Vec<Image>,
    pub replicas: Vec<Replica>,
    pub patches: Vec<Patch>,
    pub patches_strategic_merge: Vec<String>,
    pub patches_json6902: Vec<Patch>,
    pub config_map_generator: Vec<Generator>,
    pub secret_generator: Vec<Generator>,
    pub generator_options: Option<GeneratorOptions>,
    pub replacements: Vec<ReplacementEntry>,
    pub sort_options: Option<SortOptions>,
    pub configurations: Vec<String>,
    /// Nothing but `apiVersion`/`kind` (or zero values): kustomize refuses such a file.
    pub empty: bool,
}

/// `sortOptions`: the output order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortOptions {
    /// `fifo` keeps the order resources were read in; otherwise kustomize's legacy order.
    pub fifo: bool,
    pub order_first: Option<Vec<String>>,
    pub order_last: Option<Vec<String>>,
}

/// `replacements` entry: inline, or a file holding one replacement or a list of them.
#[derive(Debug, Clone)]
pub enum ReplacementEntry {
    Inline(Box<Replacement>),
    Path(String),
}

/// Copies a field of one resource into fields of others.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    pub source: Selector,
    pub source_field: String,
    pub source_delimiter: String,
    pub source_index: i64,
    pub targets: Vec<ReplacementTarget>,
}

/// Where a replacement writes.
#[derive(Debug, Clone, Default)]
pub struct ReplacementTarget {
    pub select: Selector,
    pub reject: Vec<Selector>,
    pub field_paths: Vec<String>,
    pub delimiter: String,
    pub index: i64,
    pub create: bool,
}

const UNSUPPORTED: &[&str] = &[
    "vars",
    "generators",
    "transformers",
    "validators",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
    "crds",
    "openapi",
    "buildMetadata",
    "inventory",
    "replacementTransformer",
];

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::Field {
            file: self.file.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn obj<'v>(&self, v: &'v Value, key: &str) -> Result<&'v Map<String, Value>, Error> {
        v.as_object()
            .ok_or_else(|| self.err(key, "expected a mapping"))
    }

    fn check_keys(&self, m: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<(), Error> {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                let full = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                return Err(self.err(&full, "unknown field"));
            }
        }
        Ok(())
    }

    fn string(&self, v: Option<&Value>, key: &str) -> Result<String, Error> {
        match v {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }

    fn bool(&self, v: Option<&Value>, key: &str) -> Result<Option<bool>, Error> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "expected a boolean")),
        }
    }

    fn strings(&self, v: Option<&Value>, key: &str) -> Result<Vec<String>, Error> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.err(&format!("{key}[{i}]"), "expected a string")),
                })
                .collect(),
            Some(_) => Err(self.err(key, "expected a list of strings")),
        }
    }

    fn string_map(&self, v: Option<&Value>, key: &str) -> Result<Map<String, Value>, Error> {
        match v {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => {
                let mut out = Map::new();
                for (k, x) in m {
                    let s = match x {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        _ => return Err(self.err(&format!("{key}.{k}"), "expected a string value")),
                    };
                    out.insert(k.clone(), Value::String(s));
                }
                Ok(out)
            }
            Some(_) => Err(self.err(key, "expected a mapping of strings")),
        }
    }

    fn list<'v>(&self, v: Option<&'v Value>, key: &str) -> Result<Vec<&'v Value>, Error> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().collect()),
            Some(_) => Err(self.err(key, "expected a list")),
        }
    }

    fn selector(&self, v: &Value, key: &str) -> Result<Selector, Error> {
        let m = self.obj(v, key)?;
        self.check_keys(
            m,
            key,
            &[
                "group",
                "version",
                "kind",
                "name",
                "namespace",
                "labelSelector",
                "annotationSelector",
            ],
        )?;
        Ok(Selector {
            group: self.string(m.get("group"), &format!("{key}.group"))?,
            version: self.string(m.get("version"), &format!("{key}.version"))?,
            kind: self.string(m.get("kind"), &format!("{key}.kind"))?,
            name: self.string(m.get("name"), &format!("{key}.name"))?,
            namespace: self.string(m.get("namespace"), &format!("{key}.namespace"))?,
            label_selector: self.string(m.get("labelSelector"), &format!("{key}.labelSelector"))?,
            annotation_selector: self.string(
                m.get("annotationSelector"),
                &format!("{key}.annotationSelector"),
            )?,
        })
    }

    fn int(&self, v: Option<&Value>, key: &str) -> Result<i64, Error> {
        match v {
            None | Some(Value::Null) => Ok(0),
            Some(x) => x
                .as_i64()
                .ok_or_else(|| self.err(key, "expected an integer")),
        }
    }

    fn replacement(&self, v: &Value, key: &str) -> Result<Replacement, Error> {
        let m = self.obj(v, key)?;
        self.check_keys(m, key, &["source", "targets"])?;
        let sk = format!("{key}.source");
        let src = self.obj(m.get("source").unwrap_or(&Value::Null), &sk)?;
        self.check_keys(
            src,
            &sk,
            &[
                "group",
                "version",
                "kind",
                "name",
                "namespace",
                "fieldPath",
                "options",
            ],
        )?;
        let mut sel_only = src.clone();
        sel_only.remove("fieldPath");
        sel_only.remove("options");
        let source = self.selector(&Value::Object(sel_only), &sk)?;
        let (mut sd, mut si) = (String::new(), 0);
        if let Some(o) = src.get("options").filter(|o| !o.is_null()) {
            let ok = format!("{sk}.options");
            let om = self.obj(o, &ok)?;
            self.check_keys(om, &ok, &["delimiter", "index", "create"])?;
            sd = self.string(om.get("delimiter"), &format!("{ok}.delimiter"))?;
            si = self.int(om.get("index"), &format!("{ok}.index"))?;
        }
        let mut targets = Vec::new();
        for (i, t) in self
            .list(m.get("targets"), &format!("{key}.targets"))?
            .into_iter()
            .enumerate()
        {
            let tk = format!("{key}.targets[{i}]");
            let tm = self.obj(t, &tk)?;
            self.check_keys(tm, &tk, &["select", "reject", "fieldPaths", "options"])?;
            let select = self.selector(
                tm.get("select").unwrap_or(&Value::Null),
                &format!("{tk}.select"),
            )?;
            let mut reject = Vec::new();
            for (j, r) in self
                .list(tm.get("reject"), &format!("{tk}.reject"))?
                .into_iter()
                .enumerate()
            {
                reject.push(self.selector(r, &format!("{tk}.reject[{j}]"))?);
            }
            let mut tgt = ReplacementTarget {
                select,
                reject,
                field_paths: self.strings(tm.get("fieldPaths"), &format!("{tk}.fieldPaths"))?,
                ..Default::default()
            };
            if let Some(o) = tm.get("options").filter(|o| !o.is_null()) {
                let ok = format!("{tk}.options");
                let om = self.obj(o, &ok)?;
                self.check_keys(om, &ok, &["delimiter", "index", "create"])?;
                tgt.delimiter = self.string(om.get("delimiter"), &format!("{ok}.delimiter"))?;
                tgt.index = self.int(om.get("index"), &format!("{ok}.index"))?;
                tgt.create = self
                    .bool(om.get("create"), &format!("{ok}.create"))?
                    .unwrap_or(false);
            }
            targets.push(tgt);
        }
        Ok(Replacement {
            source,
            source_field: self.string(src.get("fieldPath"), &format!("{sk}.fieldPath"))?,
            source_delimiter: sd,
            source_index: si,
            targets,
        })
    }

    fn options(&self, v: &Value, key: &str) -> Result<GeneratorOptions, Error> {
        let m = self.obj(v, key)?;
        self.check_keys(
            m,
            key,
            &[
                "labels",
                "annotations",
                "disableNameSuffixHash",
                "immutable",
            ],
        )?;
        Ok(GeneratorOptions {
            labels: self.string_map(m.get("labels"), &format!("{key}.labels"))?,
            annotations: self.string_map(m.get("annotations"), &format!("{key}.annotations"))?,
            disable_name_suffix_hash: self.bool(
                m.get("disableNameSuffixHash"),
                &format!("{key}.disableNameSuffixHash"),
            )?,
            immutable: self.bool(m.get("immutable"), &format!("{key}.immutable"))?,
        })
    }

    fn generator(&self, v: &Value, key: &str, secret: bool) -> Result<Generator, Error> {
        let m = self.obj(v, key)?;
        let mut allowed = vec![
            "name",
            "namespace",
            "behavior",
            "literals",
            "files",
            "envs",
            "env",
            "options",
            "kvSources",
        ];
        if secret {
            allowed.push("type");
        }
        self.check_keys(m, key, &allowed)?;
        if m.contains_key("kvSources") {
            return Err(Error::Unsupported {
                file: self.file.into(),
                key: format!("{key}.kvSources"),
            });
        }
        let mut envs = self.strings(m.get("envs"), &format!("{key}.envs"))?;
        let env = self.string(m.get("env"), &format!("{key}.env"))?;
        if !env.is_empty() {
            envs.push(env);
        }
        let behavior = self.string(m.get("behavior"), &format!("{key}.behavior"))?;
        if !matches!(behavior.as_str(), "" | "create" | "merge" | "replace") {
            return Err(self.err(
                &format!("{key}.behavior"),
                format!("unknown behavior `{behavior}`"),
            ));
        }
        Ok(Generator {
            name: self.string(m.get("name"), &format!("{key}.name"))?,
            namespace: self.string(m.get("namespace"), &format!("{key}.namespace"))?,
            behavior,
            literals: self.strings(m.get("literals"), &format!("{key}.literals"))?,
            files: self.strings(m.get("files"), &format!("{key}.files"))?,
            envs,
            secret_type: self.string(m.get("type"), &format!("{key}.type"))?,
            options: m
                .get("options")
                .map(|o| self.options(o, &format!("{key}.options")))
                .transpose()?,
        })
    }
}

/// Reads the replacements of a `replacements[].path` file: one replacement or a list.
///
/// # Errors
/// [`Error::Field`] for malformed entries.
pub fn parse_replacements(v: &Value, file: &str) -> Result<Vec<Replacement>, Error> {
    let c = Ctx { file };
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, r)| c.replacement(r, &format!("[{i}]")))
            .collect(),
        other => Ok(vec![c.replacement(other, "(root)")?]),
    }
}

/// Reads a kustomization from its parsed YAML. `file` names it in errors.
///
/// # Errors
/// [`Error::Field`] for unknown or mistyped fields, [`Error::Unsupported`] for kustomize
/// features this crate does not implement.
pub fn parse(v: &Value, file: &str) -> Result<Kustomization, Error> {
    let c = Ctx { file };
    if v.is_null() {
        return Ok(Kustomization {
            empty: true,
            ..Default::default()
        });
    }
    let m = c.obj(v, "(root)")?;
    let mut k = Kustomization {
        empty: !m.iter().any(|(key, val)| {
            key != "apiVersion"
                && key != "kind"
                && !matches!(val, Value::Null | Value::Bool(false))
                && val.as_str() != Some("")
                && val.as_i64() != Some(0)
        }),
        ..Default::default()
    };
    for (key, val) in m {
        let key = key.as_str();
        if UNSUPPORTED.contains(&key) {
            return Err(Error::Unsupported {
                file: file.into(),
                key: key.into(),
            });
        }
        match key {
            "apiVersion" | "metadata" => {}
            "kind" => {
                let kind = c.string(Some(val), key)?;
                match kind.as_str() {
                    "Kustomization" | "" => {}
                    "Component" => k.is_component = true,
                    other => return Err(c.err(key, format!("unknown kind `{other}`"))),
                }
            }
            "resources" | "bases" => k.resources.extend(c.strings(Some(val), key)?),
            "components" => k.components = c.strings(Some(val), key)?,
            "namespace" => k.namespace = c.string(Some(val), key)?,
            "namePrefix" => k.name_prefix = c.string(Some(val), key)?,
            "nameSuffix" => k.name_suffix = c.string(Some(val), key)?,
            "commonLabels" => k.common_labels = c.string_map(Some(val), key)?,
            "commonAnnotations" => k.common_annotations = c.string_map(Some(val), key)?,
            "labels" => {
                for (i, l) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("labels[{i}]");
                    let lm = c.obj(l, &kk)?;
                    c.check_keys(
                        lm,
                        &kk,
                        &["pairs", "includeSelectors", "includeTemplates", "fields"],
                    )?;
                    k.labels.push(Labels {
                        pairs: c.string_map(lm.get("pairs"), &format!("{kk}.pairs"))?,
                        include_selectors: c
                            .bool(lm.get("includeSelectors"), &kk)?
                            .unwrap_or(false),
                        include_templates: c
                            .bool(lm.get("includeTemplates"), &kk)?
                            .unwrap_or(false),
                        fields: crate::config::specs(
                            lm.get("fields").unwrap_or(&Value::Null),
                            file,
                            &format!("{kk}.fields"),
                        )?,
                    });
                }
            }
            "images" => {
                for (i, im) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("images[{i}]");
                    let imm = c.obj(im, &kk)?;
                    c.check_keys(
                        imm,
                        &kk,
                        &["name", "newName", "newTag", "digest", "tagSuffix"],
                    )?;
                    if imm.contains_key("tagSuffix") {
                        return Err(Error::Unsupported {
                            file: file.into(),
                            key: format!("{kk}.tagSuffix"),
                        });
                    }
                    k.images.push(Image {
                        name: c.string(imm.get("name"), &format!("{kk}.name"))?,
                        new_name: c.string(imm.get("newName"), &format!("{kk}.newName"))?,
                        new_tag: c.string(imm.get("newTag"), &format!("{kk}.newTag"))?,
                        digest: c.string(imm.get("digest"), &format!("{kk}.digest"))?,
                    });
                }
            }
            "replicas" => {
                for (i, r) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("replicas[{i}]");
                    let rm = c.obj(r, &kk)?;
                    c.check_keys(rm, &kk, &["name", "count"])?;
                    let count = rm
                        .get("count")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| c.err(&format!("{kk}.count"), "expected an integer"))?;
                    k.replicas.push(Replica {
                        name: c.string(rm.get("name"), &format!("{kk}.name"))?,
                        count,
                    });
                }
            }
            "patches" => {
                for (i, p) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("patches[{i}]");
                    let pm = c.obj(p, &kk)?;
                    c.check_keys(pm, &kk, &["path", "patch", "target", "options"])?;
                    let path = c.string(pm.get("path"), &format!("{kk}.path"))?;
                    let patch = c.string(pm.get("patch"), &format!("{kk}.patch"))?;
                    if path.is_empty() == patch.is_empty() {
                        return Err(c.err(&kk, "exactly one of `path` and `patch` must be set"));
                    }
                    let (mut allow_name_change, mut allow_kind_change) = (false, false);
                    if let Some(o) = pm.get("options").filter(|o| !o.is_null()) {
                        let ok = format!("{kk}.options");
                        let om = c.obj(o, &ok)?;
                        c.check_keys(om, &ok, &["allowNameChange", "allowKindChange"])?;
                        allow_name_change = c
                            .bool(om.get("allowNameChange"), &format!("{ok}.allowNameChange"))?
                            .unwrap_or(false);
                        allow_kind_change = c
                            .bool(om.get("allowKindChange"), &format!("{ok}.allowKindChange"))?
                            .unwrap_or(false);
                    }
                    k.patches.push(Patch {
                        path: (!path.is_empty()).then_some(path),
                        patch: (!patch.is_empty()).then_some(patch),
                        target: pm
                            .get("target")
                            .filter(|t| !t.is_null())
                            .map(|t| c.selector(t, &format!("{kk}.target")))
                            .transpose()?,
                        json6902: false,
                        allow_name_change,
                        allow_kind_change,
                    });
                }
            }
            "patchesStrategicMerge" => k.patches_strategic_merge = c.strings(Some(val), key)?,
            "patchesJson6902" => {
                for (i, p) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("patchesJson6902[{i}]");
                    let pm = c.obj(p, &kk)?;
                    c.check_keys(pm, &kk, &["path", "patch", "target"])?;
                    let path = c.string(pm.get("path"), &format!("{kk}.path"))?;
                    let patch = c.string(pm.get("patch"), &format!("{kk}.patch"))?;
                    let target = pm
                        .get("target")
                        .map(|t| c.selector(t, &format!("{kk}.target")))
                        .transpose()?
                        .ok_or_else(|| c.err(&kk, "`target` is required"))?;
                    k.patches_json6902.push(Patch {
                        path: (!path.is_empty()).then_some(path),
                        patch: (!patch.is_empty()).then_some(patch),
                        target: Some(target),
                        json6902: true,
                        allow_name_change: false,
                        allow_kind_change: false,
                    });
                }
            }
            "configMapGenerator" => {
                for (i, g) in c.list(Some(val), key)?.into_iter().enumerate() {
                    k.config_map_generator.push(c.generator(
                        g,
                        &format!("configMapGenerator[{i}]"),
                        false,
                    )?);
                }
            }
            "secretGenerator" => {
                for (i, g) in c.list(Some(val), key)?.into_iter().enumerate() {
                    k.secret_generator.push(c.generator(
                        g,
                        &format!("secretGenerator[{i}]"),
                        true,
                    )?);
                }
            }
            "generatorOptions" => k.generator_options = Some(c.options(val, key)?),
            "configurations" => k.configurations = c.strings(Some(val), key)?,
            "sortOptions" => {
                let m = c.obj(val, key)?;
                c.check_keys(m, key, &["order", "legacySortOptions"])?;
                let order = c.string(m.get("order"), "sortOptions.order")?;
                let fifo = match order.as_str() {
                    "fifo" => true,
                    "legacy" | "" => false,
                    other => {
                        return Err(c.err("sortOptions.order", format!("unknown order `{other}`")));
                    }
                };
                let mut so = SortOptions {
                    fifo,
                    ..Default::default()
                };
                if let Some(l) = m.get("legacySortOptions").filter(|l| !l.is_null()) {
                    let lk = "sortOptions.legacySortOptions";
                    let lm = c.obj(l, lk)?;
                    c.check_keys(lm, lk, &["orderFirst", "orderLast"])?;
                    if fifo {
                        return Err(c.err(lk, "legacySortOptions requires order `legacy`"));
                    }
                    so.order_first =
                        Some(c.strings(lm.get("orderFirst"), &format!("{lk}.orderFirst"))?);
                    so.order_last =
                        Some(c.strings(lm.get("orderLast"), &format!("{lk}.orderLast"))?);
                }
                k.sort_options = Some(so);
            }
            "replacements" => {
                for (i, r) in c.list(Some(val), key)?.into_iter().enumerate() {
                    let kk = format!("replacements[{i}]");
                    match r.get("path") {
                        Some(p) => {
                            let rm = c.obj(r, &kk)?;
                            c.check_keys(rm, &kk, &["path"])?;
                            k.replacements.push(ReplacementEntry::Path(
                                c.string(Some(p), &format!("{kk}.path"))?,
                            ));
                        }
                        None => k
                            .replacements
                            .push(ReplacementEntry::Inline(Box::new(c.replacement(r, &kk)?))),
                    }
                }
            }
            other => return Err(c.err(other, "unknown field")),
        }
    }
    Ok(k)
}
