//! `helm template`'s output: `releaseutil.SortManifests` (install order, hooks apart), CRDs,
//! `# Source:` lines.

use std::collections::BTreeMap;

use super::load::Chart;
use super::{ChartError, Options, err};

/// Helm's `releaseutil.InstallOrder`.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One manifest of the release.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The template it came from (`chart/templates/x.yaml`).
    pub path: String,
    /// The document text.
    pub content: String,
    /// Its `kind`.
    pub kind: String,
    /// Hook events (`helm.sh/hook`), empty for a plain manifest.
    pub events: Vec<String>,
}

/// `releaseutil.SplitManifests`: documents split at `^---[ \t]*`, in order.
pub fn split_manifests(big: &str) -> Vec<String> {
    let s = big.trim_start();
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut at_line_start = true;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if at_line_start && s[i..].starts_with("---") {
            docs.push(std::mem::take(&mut cur));
            i += 3;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            at_line_start = false;
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        cur.push(ch);
        at_line_start = ch == '\n';
        i += ch.len_utf8();
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim_start().to_string())
        .collect()
}

fn kind_rank(k: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|x| *x == k)
}

fn less_by_kind(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (kind_rank(a), kind_rank(b)) {
        (None, None) => a.cmp(b),
        (None, Some(_)) => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

/// `releaseutil.SortManifests` with `InstallOrder`: (hooks, manifests).
///
/// # Errors
/// `YAML parse error on PATH: …`.
pub fn sort_manifests(
    files: &BTreeMap<String, String>,
) -> Result<(Vec<Manifest>, Vec<Manifest>), ChartError> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, content) in files {
        if path.rsplit('/').next().unwrap_or("").starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for m in split_manifests(content) {
            let docs = kustomize::yaml::parse_kustomization_documents(&m).map_err(|e| {
                err(format!(
                    "YAML parse error on {path}: error converting YAML to JSON: yaml: line {}: {}",
                    e.line, e.message
                ))
            })?;
            let head = docs.into_iter().next().unwrap_or(serde_json::Value::Null);
            let what = match &head {
                serde_json::Value::String(_) => Some("string"),
                serde_json::Value::Array(_) => Some("array"),
                serde_json::Value::Number(_) => Some("number"),
                serde_json::Value::Bool(_) => Some("bool"),
                _ => None,
            };
            if let Some(w) = what {
                return Err(err(format!(
                    "YAML parse error on {path}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {w} into Go value of type util.SimpleHead"
                )));
            }
            // sigs.k8s.io/yaml converts scalars to the string fields of the target struct.
            let as_string = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Number(_) => {
                    crate::gofmt::sprint(&[crate::value::Value::from_json(v)])
                }
                other => other.to_string(),
            };
            let kind = head.get("kind").map(as_string).unwrap_or_default();
            let hook = head
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("helm.sh/hook"))
                .map(as_string);
            let Some(hook) = hook else {
                generic.push(Manifest {
                    path: path.clone(),
                    content: m,
                    kind,
                    events: Vec::new(),
                });
                continue;
            };
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook.split(',') {
                let t = t.trim().to_lowercase();
                if !HOOK_EVENTS.contains(&t.as_str()) {
                    unknown = true;
                    break;
                }
                events.push(if t == "test-success" {
                    "test".into()
                } else {
                    t
                });
            }
            if unknown {
                continue;
            }
            hooks.push(Manifest {
                path: path.clone(),
                content: m,
                kind,
                events,
            });
        }
    }
    hooks.sort_by(|a, b| less_by_kind(&a.kind, &b.kind));
    generic.sort_by(|a, b| less_by_kind(&a.kind, &b.kind));
    Ok((hooks, generic))
}

fn crds(c: &Chart, out: &mut Vec<(String, Vec<u8>)>) {
    for (name, data) in &c.files {
        let lower = name.to_lowercase();
        if name.starts_with("crds/")
            && (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json"))
        {
            out.push((format!("{}/{name}", c.full_path()), data.clone()));
        }
    }
    for d in &c.deps {
        crds(d, out);
    }
}

/// What `helm template` prints for the rendered files.
///
/// # Errors
/// A rendered manifest that is not YAML.
pub fn print(
    chart: &Chart,
    mut files: BTreeMap<String, String>,
    opts: &Options,
) -> Result<String, ChartError> {
    files.retain(|k, _| !k.ends_with("NOTES.txt"));
    let (hooks, manifests) = sort_manifests(&files)?;
    let mut b = String::new();
    if opts.include_crds {
        let mut list = Vec::new();
        crds(chart, &mut list);
        for (name, data) in list {
            b.push_str(&format!(
                "---\n# Source: {name}\n{}\n",
                String::from_utf8_lossy(&data)
            ));
        }
    }
    for m in &manifests {
        b.push_str(&format!("---\n# Source: {}\n{}\n", m.path, m.content));
    }
    let mut out = b.trim().to_string();
    out.push('\n');
    if !opts.no_hooks {
        for h in &hooks {
            if opts.skip_tests && h.events.iter().any(|e| e == "test") {
                continue;
            }
            out.push_str(&format!("---\n# Source: {}\n{}\n", h.path, h.content));
        }
    }
    Ok(out)
}
