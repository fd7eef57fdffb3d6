//! Name-reference fix-ups: after prefixes, suffixes and content hashes changed names, every
//! field that refers to a renamed object by name is rewritten (kustomize's `nameReference`).

use serde_json::{Map, Value};

use crate::error::Error;
use crate::fieldspec;
use crate::resource::{ResMap, is_namespaced};

/// Paths to the pod spec in each workload kind.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
];

const CM_POD_PATHS: &[&str] = &[
    "volumes/configMap/name",
    "containers/env/valueFrom/configMapKeyRef/name",
    "initContainers/env/valueFrom/configMapKeyRef/name",
    "containers/envFrom/configMapRef/name",
    "initContainers/envFrom/configMapRef/name",
    "volumes/projected/sources/configMap/name",
];

const SECRET_POD_PATHS: &[&str] = &[
    "volumes/secret/secretName",
    "containers/env/valueFrom/secretKeyRef/name",
    "initContainers/env/valueFrom/secretKeyRef/name",
    "containers/envFrom/secretRef/name",
    "initContainers/envFrom/secretRef/name",
    "imagePullSecrets/name",
    "volumes/projected/sources/secret/name",
];

/// (referenced kind, referrer kind, path).
fn specs() -> Vec<(&'static str, &'static str, String)> {
    let mut v: Vec<(&str, &str, String)> = Vec::new();
    for (kind, pre) in POD_SPECS {
        for p in CM_POD_PATHS {
            v.push(("ConfigMap", kind, format!("{pre}/{p}")));
        }
        for p in SECRET_POD_PATHS {
            v.push(("Secret", kind, format!("{pre}/{p}")));
        }
        v.push(("ServiceAccount", kind, format!("{pre}/serviceAccountName")));
        v.push((
            "PersistentVolumeClaim",
            kind,
            format!("{pre}/volumes/persistentVolumeClaim/claimName"),
        ));
        v.push(("PriorityClass", kind, format!("{pre}/priorityClassName")));
    }
    let fixed: &[(&str, &str, &str)] = &[
        ("ConfigMap", "Node", "spec/configSource/configMap"),
        ("ConfigMap", "Role", "rules/resourceNames"),
        ("ConfigMap", "ClusterRole", "rules/resourceNames"),
        ("Secret", "Ingress", "spec/tls/secretName"),
        (
            "Secret",
            "Ingress",
            "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Secret",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        ),
        (
            "Secret",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
        ),
        (
            "ConfigMap",
            "Ingress",
            "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        ),
        ("Secret", "ServiceAccount", "imagePullSecrets/name"),
        ("Secret", "StorageClass", "parameters/secretName"),
        ("Secret", "StorageClass", "parameters/adminSecretName"),
        ("Secret", "StorageClass", "parameters/userSecretName"),
        ("Secret", "StorageClass", "parameters/secretRef"),
        ("Secret", "Role", "rules/resourceNames"),
        ("Secret", "ClusterRole", "rules/resourceNames"),
        ("Secret", "PersistentVolume", "spec/azureFile/secretName"),
        ("Service", "StatefulSet", "spec/serviceName"),
        (
            "Service",
            "Ingress",
            "spec/rules/http/paths/backend/serviceName",
        ),
        ("Service", "Ingress", "spec/backend/serviceName"),
        (
            "Service",
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
        ),
        ("Service", "Ingress", "spec/defaultBackend/service/name"),
        ("Service", "APIService", "spec/service/name"),
        (
            "Service",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
        (
            "Service",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
        ("Service", "HTTPRoute", "spec/rules/backendRefs/name"),
        ("Role", "RoleBinding", "roleRef/name"),
        ("ClusterRole", "RoleBinding", "roleRef/name"),
        ("ClusterRole", "ClusterRoleBinding", "roleRef/name"),
        ("ServiceAccount", "RoleBinding", "subjects"),
        ("ServiceAccount", "ClusterRoleBinding", "subjects"),
        (
            "PersistentVolume",
            "PersistentVolumeClaim",
            "spec/volumeName",
        ),
        ("PersistentVolume", "ClusterRole", "rules/resourceNames"),
        ("StorageClass", "PersistentVolume", "spec/storageClassName"),
        (
            "StorageClass",
            "PersistentVolumeClaim",
            "spec/storageClassName",
        ),
        (
            "StorageClass",
            "StatefulSet",
            "spec/volumeClaimTemplates/spec/storageClassName",
        ),
        // kustomize's IngressClass entry names group `networking.k8s.io/v1`, so it never
        // matches and `ingressClassName` is never rewritten: not listed here.
        (
            "Deployment",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "ReplicationController",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "ReplicaSet",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
        (
            "StatefulSet",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        ),
    ];
    for (a, b, c) in fixed {
        v.push((a, b, (*c).to_string()));
    }
    v
}

/// Kind, every (name, namespace) held, current name, current namespace.
type Known = (String, Vec<(String, String)>, String, String);

/// (current name, current namespace) of the referral for `old`, if exactly one resource fits.
struct Candidate {
    name: String,
    namespace: String,
}

/// How a reference's namespace selects among same-named objects.
#[derive(Clone, Copy)]
enum NsRule<'a> {
    /// A plain name: the referrer's own namespace (for namespaced referrers).
    Referrer(Option<&'a str>),
    /// A `{name, namespace}` reference (a role-binding subject, a webhook's service): the
    /// object's original or current namespace, as kustomize matches ids.
    OrgOrCur(&'a str),
}

fn eff(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

fn find(
    all: &[Known],
    kind: &str,
    old: &str,
    rule: NsRule<'_>,
) -> Result<Option<Candidate>, String> {
    let mut c: Vec<&Known> = all
        .iter()
        .filter(|(k, ids, _, _)| k == kind && ids.iter().any(|(n, _)| n == old))
        .collect();
    match rule {
        NsRule::OrgOrCur(ns) => c.retain(|(_, ids, _, cur)| {
            eff(cur) == eff(ns) || ids.first().is_some_and(|(_, org)| eff(org) == eff(ns))
        }),
        NsRule::Referrer(Some(rns)) if is_namespaced(kind) => {
            c.retain(|(_, _, _, cur)| eff(cur) == eff(rns))
        }
        NsRule::Referrer(_) => {}
    }
    match c.len() {
        0 => Ok(None),
        1 => Ok(Some(Candidate {
            name: c[0].2.clone(),
            namespace: c[0].3.clone(),
        })),
        _ => {
            if c.iter().all(|x| x.2 == c[0].2) {
                Ok(Some(Candidate {
                    name: c[0].2.clone(),
                    namespace: c[0].3.clone(),
                }))
            } else {
                Err(format!(
                    "found multiple possible referrals for {kind} `{old}`"
                ))
            }
        }
    }
}

/// Rewrites references to renamed objects.
///
/// # Errors
/// [`Error::Reference`] when a reference is ambiguous.
pub fn fix(rm: &mut ResMap, cfg: &crate::config::Config) -> Result<(), Error> {
    let all: Vec<Known> = rm
        .list
        .iter()
        .map(|r| {
            (
                r.kind().to_string(),
                r.all_ids(),
                r.name().to_string(),
                r.namespace().to_string(),
            )
        })
        .collect();
    let mut specs: Vec<(String, String, String)> = specs()
        .into_iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c))
        .collect();
    // Configured references: referenced kind, referrer kind (a spec without a kind applies to
    // every kind, so it is expanded over the kinds present), path.
    let kinds: Vec<String> = rm.list.iter().map(|r| r.kind().to_string()).collect();
    for (target, _group, spec) in &cfg.name_reference {
        let path = spec.path.join("/");
        match &spec.kind {
            Some(k) => specs.push((target.clone(), k.clone(), path)),
            None => {
                for k in &kinds {
                    specs.push((target.clone(), k.clone(), path.clone()));
                }
            }
        }
    }
    specs.sort();
    specs.dedup();
    for r in &mut rm.list {
        let kind = r.kind().to_string();
        let origin = r.origin.clone();
        let rns = if is_namespaced(&kind) {
            Some(r.namespace().to_string())
        } else {
            None
        };
        for (target_kind, referrer, path) in &specs {
            if *referrer != kind {
                continue;
            }
            let owned = crate::config::split_path(path);
            let segs: Vec<&str> = owned.iter().map(|s| s.trim_end_matches("[]")).collect();
            let mut failure: Option<String> = None;
            let role_ref_kind = r
                .obj
                .get("roleRef")
                .and_then(|x| x.get("kind"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if path == "roleRef/name" && role_ref_kind.as_deref() != Some(target_kind.as_str()) {
                continue;
            }
            fieldspec::visit(
                &mut r.obj,
                &segs,
                false,
                &mut |m: &mut Map<String, Value>, k: &str| {
                    let Some(v) = m.get_mut(k) else { return };
                    let res = rewrite(v, k, target_kind, &all, rns.as_deref());
                    if let Err(e) = res {
                        failure.get_or_insert(e);
                    }
                },
            );
            if let Some(message) = failure {
                return Err(Error::Reference {
                    file: origin,
                    message,
                });
            }
        }
    }
    Ok(())
}

fn rewrite(
    v: &mut Value,
    key: &str,
    kind: &str,
    all: &[Known],
    rns: Option<&str>,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(c) = find(all, kind, s, NsRule::Referrer(rns))? {
                *s = c.name;
            }
        }
        Value::Array(items) if key == "subjects" => {
            for sub in items {
                let Some(m) = sub.as_object_mut() else {
                    continue;
                };
                if m.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                    continue;
                }
                let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
                    continue;
                };
                let sns = m
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(c) = find(
                    all,
                    kind,
                    &name,
                    match (sns.as_deref(), rns) {
                        (Some(n), _) => NsRule::OrgOrCur(n),
                        (None, Some(r)) => NsRule::OrgOrCur(r),
                        (None, None) => NsRule::Referrer(None),
                    },
                )? {
                    m.insert("name".into(), Value::String(c.name));
                    if !c.namespace.is_empty() {
                        m.insert("namespace".into(), Value::String(c.namespace));
                    }
                }
            }
        }
        Value::Array(items) => {
            for it in items {
                if let Value::String(s) = it
                    && let Some(c) = find(all, kind, s, NsRule::Referrer(rns))?
                {
                    *s = c.name;
                }
            }
        }
        Value::Object(m) => {
            let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
                return Ok(());
            };
            let ns = m
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(c) = find(
                all,
                kind,
                &name,
                match ns.as_deref() {
                    Some(n) => NsRule::OrgOrCur(n),
                    None => NsRule::Referrer(rns),
                },
            )? {
                m.insert("name".into(), Value::String(c.name));
                if ns.is_some() && !c.namespace.is_empty() {
                    m.insert("namespace".into(), Value::String(c.namespace));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Appends the content hash to every generated ConfigMap and Secret that wants one.
pub fn add_hashes(rm: &mut ResMap) {
    for r in &mut rm.list {
        if r.generated.as_ref().is_some_and(|g| g.hash) {
            let h = crate::generator::hash(&r.obj);
            let n = format!("{}-{h}", r.name());
            r.set_name(&n);
        }
    }
}
