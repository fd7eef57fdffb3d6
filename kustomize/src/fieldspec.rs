//! Field specifications: which paths of which kinds a transformer touches (kustomize's
//! `fieldSpecs`), and a walker that visits them.

use serde_json::{Map, Value};

/// A path in objects of a kind.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Kind filter; empty matches all kinds.
    pub kind: &'static str,
    /// Group filter; `None` matches any group.
    pub group: Option<&'static str>,
    /// `/`-separated path; lists are traversed implicitly.
    pub path: &'static str,
    /// Whether missing maps along the path are created.
    pub create: bool,
}

const fn fs(
    kind: &'static str,
    group: Option<&'static str>,
    path: &'static str,
    create: bool,
) -> FieldSpec {
    FieldSpec {
        kind,
        group,
        path,
        create,
    }
}

impl FieldSpec {
    /// Whether this spec applies to an object of `group`/`kind`.
    pub fn applies(&self, group: &str, kind: &str) -> bool {
        (self.kind.is_empty() || self.kind == kind) && self.group.is_none_or(|g| g == group)
    }
}

/// Labels on pod templates (and job templates) of workloads.
pub const TEMPLATE_LABELS: &[FieldSpec] = &[
    fs(
        "ReplicationController",
        Some(""),
        "spec/template/metadata/labels",
        true,
    ),
    fs("Deployment", None, "spec/template/metadata/labels", true),
    fs("ReplicaSet", None, "spec/template/metadata/labels", true),
    fs("DaemonSet", None, "spec/template/metadata/labels", true),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/metadata/labels",
        true,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/volumeClaimTemplates/metadata/labels",
        true,
    ),
    fs("Job", Some("batch"), "spec/template/metadata/labels", true),
    fs(
        "CronJob",
        Some("batch"),
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    fs(
        "CronJob",
        Some("batch"),
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Label selectors that `commonLabels` (and `labels` with `includeSelectors`) also change.
pub const SELECTOR_LABELS: &[FieldSpec] = &[
    fs("Service", Some(""), "spec/selector", true),
    fs("ReplicationController", Some(""), "spec/selector", true),
    fs("Deployment", None, "spec/selector/matchLabels", true),
    fs(
        "Deployment",
        Some("apps"),
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "Deployment",
        Some("apps"),
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "Deployment",
        Some("apps"),
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "Deployment",
        Some("apps"),
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "Deployment",
        Some("apps"),
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    fs("ReplicaSet", None, "spec/selector/matchLabels", true),
    fs("DaemonSet", None, "spec/selector/matchLabels", true),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/selector/matchLabels",
        true,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        false,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        false,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
        false,
    ),
    fs("Job", Some("batch"), "spec/selector/matchLabels", false),
    fs(
        "CronJob",
        Some("batch"),
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    fs(
        "PodDisruptionBudget",
        Some("policy"),
        "spec/selector/matchLabels",
        false,
    ),
    fs(
        "NetworkPolicy",
        Some("networking.k8s.io"),
        "spec/podSelector/matchLabels",
        false,
    ),
    fs(
        "NetworkPolicy",
        Some("networking.k8s.io"),
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    fs(
        "NetworkPolicy",
        Some("networking.k8s.io"),
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

/// Annotations on pod templates.
pub const TEMPLATE_ANNOTATIONS: &[FieldSpec] = &[
    fs(
        "ReplicationController",
        Some(""),
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "Deployment",
        None,
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "ReplicaSet",
        None,
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "DaemonSet",
        None,
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "StatefulSet",
        Some("apps"),
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "Job",
        Some("batch"),
        "spec/template/metadata/annotations",
        true,
    ),
    fs(
        "CronJob",
        Some("batch"),
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    fs(
        "CronJob",
        Some("batch"),
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Visits every value at `path` below `v`, creating maps on the way when `create` is set.
/// `f` receives the parent map and the last key.
pub fn visit(
    v: &mut Value,
    path: &[&str],
    create: bool,
    f: &mut dyn FnMut(&mut Map<String, Value>, &str),
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match v {
        Value::Array(items) => {
            for it in items {
                visit(it, path, create, f);
            }
        }
        Value::Object(m) => {
            if rest.is_empty() {
                f(m, first);
                return;
            }
            if !m.contains_key(*first) || m.get(*first).is_some_and(Value::is_null) {
                if !create {
                    return;
                }
                m.insert((*first).to_string(), Value::Object(Map::new()));
            }
            if let Some(next) = m.get_mut(*first) {
                visit(next, rest, create, f);
            }
        }
        _ => {}
    }
}

/// Splits a fieldspec path (`a/b/c`) into segments, dropping `[]` markers.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').map(|s| s.trim_end_matches("[]")).collect()
}
