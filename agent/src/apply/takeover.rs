//! Field take-over: the fields set by client-side managers (`kubectl apply` without
//! `--server-side`, `kubectl create`, and the `before-first-apply` entry the API server makes when
//! an object is first server-side applied) are handed to pi-agent, so a field removed from Git is
//! removed from the cluster. Without this, both Argo CD and Flux leave such fields behind when a
//! cluster migrates from `kubectl apply`. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use serde_json::Value;

/// Managers whose fields pi-agent takes over.
pub const CLIENT_SIDE_MANAGERS: [&str; 3] =
    ["kubectl", "kubectl-client-side-apply", "before-first-apply"];

fn is_client_side(e: &ManagedFieldsEntry) -> bool {
    e.operation.as_deref() == Some("Update")
        && e.subresource.as_deref().unwrap_or_default().is_empty()
        && e.manager
            .as_deref()
            .is_some_and(|m| CLIENT_SIDE_MANAGERS.contains(&m))
}

/// Whether an object (as returned by the API server) has fields owned by client-side managers.
pub fn needed(object: &Value) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(|m| serde_json::from_value::<Vec<ManagedFieldsEntry>>(m.clone()).ok())
        .is_some_and(|entries| entries.iter().any(is_client_side))
}

/// Union of two `fieldsV1` sets (nested maps of `f:`/`k:`/`v:`/`i:` keys; `.` marks a leaf).
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (a, b) if a.is_null() => *a = b.clone(),
        _ => {}
    }
}

/// The managed fields with every client-side entry folded into `manager`'s `Apply` entry of the
/// same API version (created if absent). `None` when there is nothing to take over.
pub fn rewrite(entries: &[ManagedFieldsEntry], manager: &str) -> Option<Vec<ManagedFieldsEntry>> {
    if !entries.iter().any(is_client_side) {
        return None;
    }
    let mut out: Vec<ManagedFieldsEntry> = entries
        .iter()
        .filter(|e| !is_client_side(e))
        .cloned()
        .collect();
    for taken in entries.iter().filter(|e| is_client_side(e)) {
        let target = out.iter().position(|e| {
            e.manager.as_deref() == Some(manager)
                && e.operation.as_deref() == Some("Apply")
                && e.api_version == taken.api_version
        });
        let fields = taken
            .fields_v1
            .as_ref()
            .map(|f| f.0.clone())
            .unwrap_or(Value::Null);
        match target {
            Some(i) => {
                let mut merged = out[i]
                    .fields_v1
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or(Value::Null);
                merge(&mut merged, &fields);
                out[i].fields_v1 = Some(FieldsV1(merged));
            }
            None => out.push(ManagedFieldsEntry {
                manager: Some(manager.to_owned()),
                operation: Some("Apply".to_owned()),
                api_version: taken.api_version.clone(),
                fields_type: Some("FieldsV1".to_owned()),
                fields_v1: Some(FieldsV1(fields)),
                time: taken.time.clone(),
                subresource: None,
            }),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, op: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(op.into()),
            api_version: Some("v1".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_should_change_without_client_side_managers() {
        let e = [
            entry("pi-agent", "Apply", json!({"f:data": {"f:a": {}}})),
            entry("kube-controller-manager", "Update", json!({})),
        ];
        assert_eq!(rewrite(&e, "pi-agent"), None);
        assert!(!needed(&json!({"metadata": {"managedFields": e}})));
    }

    #[test]
    fn client_side_fields_should_be_folded_into_the_apply_entry() {
        let e = [
            entry(
                "kubectl-client-side-apply",
                "Update",
                json!({"f:data": {"f:extra": {}, "f:color": {}}, "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}}),
            ),
            entry("pi-agent", "Apply", json!({"f:data": {"f:color": {}}})),
            entry("kubectl-edit", "Update", json!({"f:data": {"f:x": {}}})),
        ];
        assert!(needed(&json!({"metadata": {"managedFields": e}})));
        let out = rewrite(&e, "pi-agent").unwrap();
        assert_eq!(out.len(), 2);
        let mine = out
            .iter()
            .find(|e| e.manager.as_deref() == Some("pi-agent"))
            .unwrap();
        assert_eq!(
            mine.fields_v1.as_ref().unwrap().0,
            json!({"f:data": {"f:color": {}, "f:extra": {}}, "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
        );
        assert!(
            out.iter()
                .any(|e| e.manager.as_deref() == Some("kubectl-edit")),
            "other managers are left alone"
        );
    }

    #[test]
    fn an_apply_entry_should_be_created_when_absent() {
        let e = [entry(
            "before-first-apply",
            "Update",
            json!({"f:spec": {"f:replicas": {}}}),
        )];
        let out = rewrite(&e, "pi-agent").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].operation.as_deref(), Some("Apply"));
        assert_eq!(
            out[0].fields_v1.as_ref().unwrap().0,
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn server_side_kubectl_and_status_writes_should_not_be_taken_over() {
        let mut status = entry("kubectl", "Update", json!({}));
        status.subresource = Some("status".into());
        let e = [entry("kubectl", "Apply", json!({})), status];
        assert_eq!(rewrite(&e, "pi-agent"), None);
    }
}
