//! Resources and the ordered map of them that a build produces.

use serde_json::{Map, Value};

use crate::yaml;

/// Kinds that are never namespaced (kustomize's `NotNamespaceableKinds`).
pub const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "Cluster",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// The types kustomize's built-in OpenAPI schema (Kubernetes v1.21.2) knows as cluster-scoped,
/// by `apiVersion` and `kind` (kyaml's `precomputedIsNamespaceScoped`); every other type,
/// custom kinds included, is namespaced to the namespace transformer.
const SCHEMA_CLUSTER_SCOPED: &[(&str, &str)] = &[
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "PriorityLevelConfiguration",
    ),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
];

/// Whether kustomize's schema knows objects of this `apiVersion` and `kind` as cluster-scoped.
pub fn schema_cluster_scoped(api_version: &str, kind: &str) -> bool {
    SCHEMA_CLUSTER_SCOPED.contains(&(api_version, kind))
}

/// Whether objects of `kind` live in a namespace.
pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED.contains(&kind)
}

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` and pairs it with `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// kustomize's `Gvk.String()`.
    pub fn key(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }
}

/// Where a resource came from and what it was called along the way.
#[derive(Debug, Clone)]
pub struct Resource {
    pub(crate) obj: Value,
    /// The file the resource was read from (or the kustomization that generated it).
    pub(crate) origin: String,
    /// Names and namespaces this resource has had, oldest first (not including the current one).
    pub(crate) prev: Vec<(String, String)>,
    /// Set for ConfigMaps and Secrets made by a generator.
    pub(crate) generated: Option<Generated>,
    /// A `metadata.name` written as a non-string scalar (`name: 123`), kept to be restored
    /// when the name is left unchanged.
    pub(crate) typed_name: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub hash: bool,
    pub behavior: String,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

impl Resource {
    pub(crate) fn new(obj: Value, origin: String) -> Self {
        let mut obj = obj;
        let mut typed_name = None;
        if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut)
            && let Some(n @ (Value::Number(_) | Value::Bool(_))) = md.get("name").cloned()
        {
            let text = match &n {
                Value::Number(x) => x.to_string(),
                other => other.to_string(),
            };
            md.insert("name".into(), Value::String(text));
            typed_name = Some(n);
        }
        Resource {
            obj,
            origin,
            prev: Vec::new(),
            generated: None,
            typed_name,
        }
    }

    /// The file the resource was read from, or the kustomization that generated it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The object, taken out of the resource (no copy).
    pub fn into_object(self) -> Value {
        self.obj
    }

    /// The object.
    pub fn object(&self) -> &Value {
        &self.obj
    }

    pub fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }
    pub fn api_version(&self) -> &str {
        str_at(&self.obj, &["apiVersion"])
    }
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    /// The original name (before any transformation).
    pub fn org_name(&self) -> &str {
        self.prev
            .first()
            .map(|p| p.0.as_str())
            .unwrap_or_else(|| self.name())
    }
    /// The original namespace.
    pub fn org_namespace(&self) -> &str {
        self.prev
            .first()
            .map(|p| p.1.as_str())
            .unwrap_or_else(|| self.namespace())
    }

    /// kustomize's effective namespace: `default` for unset, a marker for cluster-scoped kinds.
    pub fn effective_ns(kind: &str, ns: &str) -> String {
        if !is_namespaced(kind) {
            "_non_namespaceable_".into()
        } else if ns.is_empty() {
            "default".into()
        } else {
            ns.into()
        }
    }

    /// `group_version_kind|namespace|name`, as kustomize prints ids.
    pub fn id_string(&self) -> String {
        let ns = if self.namespace().is_empty() {
            "~X"
        } else {
            self.namespace()
        };
        let nm = if self.name().is_empty() {
            "~N"
        } else {
            self.name()
        };
        format!("{}|{}|{}", self.gvk().key(), ns, nm)
    }

    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_object(&mut self.obj);
        ensure_object(
            obj.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new())),
        )
    }

    /// Renames the resource, remembering its previous id.
    pub(crate) fn set_name(&mut self, name: &str) {
        let (n, ns) = (self.name().to_string(), self.namespace().to_string());
        if n == name {
            return;
        }
        self.prev.push((n, ns));
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    pub(crate) fn set_namespace(&mut self, namespace: &str) {
        let (n, ns) = (self.name().to_string(), self.namespace().to_string());
        if ns == namespace {
            return;
        }
        self.prev.push((n, ns));
        self.metadata_mut()
            .insert("namespace".into(), Value::String(namespace.into()));
    }

    /// Whether the resource is or was called `name`.
    pub(crate) fn has_had_name(&self, name: &str) -> bool {
        self.name() == name || self.prev.iter().any(|(n, _)| n == name)
    }

    /// All (name, namespace) pairs the resource has had, including the current one.
    pub(crate) fn all_ids(&self) -> Vec<(String, String)> {
        let mut v = self.prev.clone();
        v.push((self.name().to_string(), self.namespace().to_string()));
        v
    }

    pub(crate) fn labels(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
    pub(crate) fn annotations(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

pub(crate) fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The resources of a build, in kustomize's output order once the build is done.
#[derive(Debug, Clone, Default)]
pub struct ResMap {
    pub(crate) list: Vec<Resource>,
}

impl ResMap {
    /// Exactly what `kustomize build` prints.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.list.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            match &r.typed_name {
                Some(n) if r.prev.is_empty() => {
                    let mut obj = r.obj.clone();
                    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                        md.insert("name".into(), n.clone());
                    }
                    out.push_str(&yaml::to_yaml_document(&obj));
                }
                _ => out.push_str(&yaml::to_yaml_document(&r.obj)),
            }
        }
        out
    }

    /// The rendered objects, in output order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.list.iter().map(|r| &r.obj)
    }

    /// The resources, in output order.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.list.iter()
    }

    /// The resources, in output order, taken out of the map (no copy).
    pub fn into_resources(self) -> Vec<Resource> {
        self.list
    }

    /// How many resources there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the build produced nothing.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sorts in kustomize's default ("legacy") order: by kind priority, then by id.
    pub(crate) fn sort_legacy(&mut self) {
        self.sort_legacy_with(None, None);
    }

    /// The legacy order with custom first and last kinds (`sortOptions.legacySortOptions`).
    pub(crate) fn sort_legacy_with(&mut self, first: Option<&[String]>, last: Option<&[String]>) {
        const FIRST: &[&str] = &[
            "Namespace",
            "ResourceQuota",
            "StorageClass",
            "CustomResourceDefinition",
            "ServiceAccount",
            "PodSecurityPolicy",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "ConfigMap",
            "Secret",
            "Endpoints",
            "Service",
            "LimitRange",
            "PriorityClass",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Deployment",
            "StatefulSet",
            "CronJob",
            "PodDisruptionBudget",
        ];
        const LAST: &[&str] = &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ];
        let first: Vec<&str> = match first {
            Some(f) => f.iter().map(String::as_str).collect(),
            None => FIRST.to_vec(),
        };
        let last: Vec<&str> = match last {
            Some(l) => l.iter().map(String::as_str).collect(),
            None => LAST.to_vec(),
        };
        let order = |k: &str| -> i64 {
            if let Some(i) = first.iter().position(|x| *x == k) {
                i as i64 - first.len() as i64
            } else if let Some(i) = last.iter().position(|x| *x == k) {
                i as i64 + 1
            } else {
                0
            }
        };
        // (kind priority, group_version_kind, id): kustomize's comparison, computed once each.
        // kustomize's `gvkLessThan` reverses the group_version_kind order of two Namespace
        // kinds when one of them is in the core group, so `v1` Namespaces come first.
        let keys: Vec<(i64, String, String, bool)> = self
            .list
            .iter()
            .map(|r| {
                let gvk = r.gvk();
                let core_ns = gvk.kind == "Namespace" && gvk.group.is_empty();
                (order(&gvk.kind), gvk.key(), r.id_string(), core_ns)
            })
            .collect();
        let mut idx: Vec<usize> = (0..self.list.len()).collect();
        idx.sort_by(|&a, &b| {
            let (ka, kb) = (&keys[a], &keys[b]);
            ka.0.cmp(&kb.0).then_with(|| {
                if ka.1 == kb.1 {
                    ka.2.cmp(&kb.2)
                } else if self.list[a].kind() == "Namespace"
                    && self.list[b].kind() == "Namespace"
                    && (ka.3 || kb.3)
                {
                    kb.1.cmp(&ka.1)
                } else {
                    ka.1.cmp(&kb.1)
                }
            })
        });
        let mut slots: Vec<Option<Resource>> = std::mem::take(&mut self.list)
            .into_iter()
            .map(Some)
            .collect();
        self.list = idx.into_iter().filter_map(|i| slots[i].take()).collect();
    }
}
