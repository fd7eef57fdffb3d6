//! The built-in transformers a kustomization configures, in kustomize's order.

use serde_json::{Map, Value};

use crate::config::{Config, DynSpec};
use crate::error::Error;
use crate::fieldspec::{self, FieldSpec, SELECTOR_LABELS, TEMPLATE_ANNOTATIONS, TEMPLATE_LABELS};
use crate::kustomization::{Image, Replica};
use crate::resource::{ResMap, Resource, schema_cluster_scoped};

fn merge_into(m: &mut Map<String, Value>, key: &str, pairs: &Map<String, Value>, create: bool) {
    let exists = m.get(key).is_some_and(Value::is_object);
    if !exists {
        if !create {
            return;
        }
        m.insert(key.to_string(), Value::Object(Map::new()));
    }
    if let Some(Value::Object(t)) = m.get_mut(key) {
        for (k, v) in pairs {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn apply_specs(r: &mut Resource, specs: &[FieldSpec], pairs: &Map<String, Value>) {
    let gvk = r.gvk();
    for s in specs {
        if !s.applies(&gvk.group, &gvk.kind) {
            continue;
        }
        let segs = fieldspec::segments(s.path);
        fieldspec::visit(&mut r.obj, &segs, s.create, &mut |m, k| {
            merge_into(m, k, pairs, s.create)
        });
    }
}

fn apply_dyn(r: &mut Resource, specs: &[DynSpec], pairs: &Map<String, Value>) {
    let gvk = r.gvk();
    for s in specs.iter().filter(|s| s.applies(&gvk)) {
        fieldspec::visit(&mut r.obj, &s.segs(), s.create, &mut |m, k| {
            merge_into(m, k, pairs, s.create)
        });
    }
}

/// `commonLabels` / `labels`: metadata labels, and optionally selectors and templates.
pub fn labels(
    rm: &mut ResMap,
    pairs: &Map<String, Value>,
    selectors: bool,
    templates: bool,
    cfg: &Config,
) {
    if pairs.is_empty() {
        return;
    }
    for r in &mut rm.list {
        let md = r.metadata_mut();
        merge_into(md, "labels", pairs, true);
        if selectors || templates {
            apply_specs(r, TEMPLATE_LABELS, pairs);
        }
        if selectors {
            apply_specs(r, SELECTOR_LABELS, pairs);
            apply_dyn(r, &cfg.common_labels, pairs);
        }
    }
}

/// `labels[].fields`: the labels also go to these paths.
pub fn label_fields(rm: &mut ResMap, pairs: &Map<String, Value>, fields: &[DynSpec]) {
    if pairs.is_empty() || fields.is_empty() {
        return;
    }
    for r in &mut rm.list {
        apply_dyn(r, fields, pairs);
    }
}

/// `commonAnnotations`: metadata and pod-template annotations.
pub fn annotations(rm: &mut ResMap, pairs: &Map<String, Value>, cfg: &Config) {
    if pairs.is_empty() {
        return;
    }
    for r in &mut rm.list {
        let md = r.metadata_mut();
        merge_into(md, "annotations", pairs, true);
        apply_specs(r, TEMPLATE_ANNOTATIONS, pairs);
        apply_dyn(r, &cfg.common_annotations, pairs);
    }
}

/// `namespace`: kustomize's namespace transformer (`filters/namespace`). It sets
/// `metadata.namespace` of every object its schema does not know as cluster-scoped (by
/// `apiVersion` and `kind`: a custom kind called `Namespace` is namespaced), renames `v1`
/// `Namespace` objects to the namespace (the default field spec `metadata/name` of kind
/// `Namespace`, which kustomize keeps for `apiVersion: v1` only), sets the namespace of every
/// RoleBinding / ClusterRoleBinding subject named `default` whatever its kind
/// (`setRoleBindingSubjects: defaultOnly`), and of webhook service references.
///
/// # Errors
/// [`Error::Reference`] when two objects end with the same id (kustomize's "namespace
/// transformation produces ID conflict"), e.g. two Namespaces, or one name in two namespaces.
pub fn namespace(rm: &mut ResMap, ns: &str, cfg: &Config, file: &str) -> Result<(), Error> {
    if ns.is_empty() {
        return Ok(());
    }
    let before: Vec<String> = rm.list.iter().map(Resource::id_string).collect();
    for r in &mut rm.list {
        let kind = r.kind().to_string();
        let api_version = r.api_version().to_string();
        if !schema_cluster_scoped(&api_version, &kind) {
            r.set_namespace(ns);
        }
        if kind == "Namespace" && api_version == "v1" {
            r.set_name(ns);
        }
        let gvk = r.gvk();
        for spec in cfg.namespace.iter().filter(|sp| sp.applies(&gvk)) {
            let segs = spec.segs();
            // kustomize drops these paths from the field specs: `metadata/namespace` is set
            // above, `metadata/name` only for `apiVersion: v1`.
            if segs == ["metadata", "namespace"]
                || (segs == ["metadata", "name"] && api_version != "v1")
            {
                continue;
            }
            if segs == ["metadata", "name"] {
                if spec.create || r.obj.pointer("/metadata/name").is_some() {
                    r.set_name(ns);
                }
                continue;
            }
            fieldspec::visit(&mut r.obj, &segs, spec.create, &mut |m, k| {
                if spec.create || m.contains_key(k) {
                    m.insert(k.to_string(), Value::String(ns.into()));
                }
            });
        }
        if (kind == "RoleBinding" || kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects {
                if let Some(m) = s.as_object_mut()
                    && m.get("name").and_then(Value::as_str) == Some("default")
                {
                    m.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        if kind == "APIService" && r.gvk().group == "apiregistration.k8s.io" {
            fieldspec::visit(
                &mut r.obj,
                &["spec", "service", "namespace"],
                true,
                &mut |m, k| {
                    m.insert(k.to_string(), Value::String(ns.into()));
                },
            );
        }
        if kind == "CustomResourceDefinition" && r.gvk().group == "apiextensions.k8s.io" {
            let path = [
                "spec",
                "conversion",
                "webhook",
                "clientConfig",
                "service",
                "namespace",
            ];
            fieldspec::visit(&mut r.obj, &path, false, &mut |m, k| {
                m.insert(k.to_string(), Value::String(ns.into()));
            });
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (i, r) in rm.list.iter().enumerate() {
        let key = (
            r.gvk().key(),
            Resource::effective_ns(r.kind(), r.namespace()),
            r.name().to_string(),
        );
        if let Some(first) = seen.insert(key, i) {
            return Err(Error::Reference {
                file: file.into(),
                message: format!(
                    "namespace transformation produces ID conflict: `{}` and `{}` both become `{}`",
                    before[first],
                    before[i],
                    r.id_string()
                ),
            });
        }
    }
    Ok(())
}

/// `namePrefix` / `nameSuffix`.
pub fn prefix_suffix(rm: &mut ResMap, prefix: &str, suffix: &str) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    for r in &mut rm.list {
        let gvk = r.gvk();
        if gvk.kind == "CustomResourceDefinition"
            || gvk.kind == "Namespace"
            || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
        {
            continue;
        }
        let n = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&n);
    }
}

/// Splits an image reference into name, tag and digest the way kustomize does.
pub fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let id = search.find('@');
    let ic = search.find(':');
    match (ic, id) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (ic, Some(id)) if ic.is_none_or(|c| id < c) => {
            let id = id + slash;
            (
                image[..id].to_string(),
                String::new(),
                image[id + 1..].to_string(),
            )
        }
        (Some(ic), Some(id)) => {
            let (ic, id) = (ic + slash, id + slash);
            (
                image[..ic].to_string(),
                image[ic + 1..id].to_string(),
                image[id + 1..].to_string(),
            )
        }
        (Some(ic), None) => {
            let ic = ic + slash;
            (
                image[..ic].to_string(),
                image[ic + 1..].to_string(),
                String::new(),
            )
        }
        (None, Some(_)) => (image.to_string(), String::new(), String::new()),
    }
}

fn update_image(value: &str, im: &Image) -> Option<String> {
    let (mut name, mut tag, mut digest) = split_image(value);
    if name != im.name {
        return None;
    }
    if !im.new_name.is_empty() {
        name = im.new_name.clone();
    }
    if !im.new_tag.is_empty() && !im.digest.is_empty() {
        tag = im.new_tag.clone();
        digest = im.digest.clone();
    } else if !im.new_tag.is_empty() {
        tag = im.new_tag.clone();
        digest.clear();
    } else if !im.digest.is_empty() {
        tag.clear();
        digest = im.digest.clone();
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

fn walk_containers(v: &mut Value, im: &Image, depth: usize) {
    if depth > crate::yaml::MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && child.is_array()
                    && let Some(items) = child.as_array_mut()
                {
                    for c in items {
                        if let Some(Value::String(img)) = c.get_mut("image")
                            && let Some(new) = update_image(img, im)
                        {
                            *img = new;
                        }
                    }
                }
                walk_containers(child, im, depth + 1);
            }
        }
        Value::Array(a) => {
            for it in a {
                walk_containers(it, im, depth + 1);
            }
        }
        _ => {}
    }
}

/// `images`: rewrites `image` fields of containers and init containers anywhere in objects.
pub fn images(rm: &mut ResMap, images: &[Image], cfg: &Config) {
    for im in images {
        for r in &mut rm.list {
            walk_containers(&mut r.obj, im, 0);
            let gvk = r.gvk();
            for spec in cfg.images.iter().filter(|sp| sp.applies(&gvk)) {
                fieldspec::visit(&mut r.obj, &spec.segs(), false, &mut |m, k| {
                    if let Some(Value::String(img)) = m.get_mut(k)
                        && let Some(new) = update_image(img, im)
                    {
                        *img = new;
                    }
                });
            }
        }
    }
}

/// `replicas`: sets `spec.replicas` of the named workloads.
///
/// # Errors
/// [`Error::Field`] when no workload has that name.
pub fn replicas(
    rm: &mut ResMap,
    replicas: &[Replica],
    file: &str,
    cfg: &Config,
) -> Result<(), Error> {
    const KINDS: &[&str] = &[
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ];
    for rep in replicas {
        let mut found = false;
        for r in &mut rm.list {
            if !r.has_had_name(&rep.name) {
                continue;
            }
            let gvk = r.gvk();
            let custom: Vec<&DynSpec> = cfg.replicas.iter().filter(|sp| sp.applies(&gvk)).collect();
            if !custom.is_empty() {
                found = true;
                for spec in custom {
                    fieldspec::visit(&mut r.obj, &spec.segs(), spec.create, &mut |m, k| {
                        if spec.create || m.contains_key(k) {
                            m.insert(k.to_string(), Value::Number(rep.count.into()));
                        }
                    });
                }
                continue;
            }
            if !KINDS.contains(&r.kind()) {
                continue;
            }
            found = true;
            let obj = crate::resource::ensure_object(&mut r.obj);
            let spec = crate::resource::ensure_object(
                obj.entry("spec")
                    .or_insert_with(|| Value::Object(Map::new())),
            );
            spec.insert("replicas".into(), Value::Number(rep.count.into()));
        }
        if !found {
            return Err(Error::Field {
                file: file.into(),
                key: "replicas".into(),
                message: format!(
                    "resource with name `{}` does not match a Deployment, ReplicationController, ReplicaSet or StatefulSet",
                    rep.name
                ),
            });
        }
    }
    Ok(())
}
