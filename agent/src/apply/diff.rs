//! What applying would change: each object is server-side applied as a dry run (so defaulting,
//! admission and field ownership are the API server's own) and compared with the live object.

use serde_json::Value;

use super::{Applier, ApplyError, Tenancy};
use crate::api::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use crate::render::Object;

/// The difference for one object.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The object does not exist yet.
    Added(String),
    /// The object would change: a unified diff of its YAML.
    Changed(String),
}

/// Fields that change on every write or belong to the server, left out of the comparison.
fn normalize(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "generation",
                "uid",
                "creationTimestamp",
            ] {
                meta.remove(k);
            }
        }
    }
    v
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
}

/// A unified diff of two documents, `None` when equal.
pub fn unified(id: &str, live: &Value, desired: &Value) -> Option<String> {
    let (a, b) = (
        yaml(&normalize(live.clone())),
        yaml(&normalize(desired.clone())),
    );
    if a == b {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&a, &b);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("{id} (live)"), &format!("{id} (desired)"))
            .to_string(),
    )
}

impl Applier {
    /// Compares every object with the cluster, through a server-side dry-run apply as
    /// `pi-agent`. Owner labels found on a live object are kept, so an object an Application
    /// manages shows no spurious difference.
    ///
    /// # Errors
    /// An object the API server refuses, or an unknown kind.
    pub async fn diff(
        &self,
        objects: &[Object],
        tenancy: &Tenancy,
    ) -> Result<Vec<(String, Change)>, ApplyError> {
        let mut out = Vec::new();
        for o in objects {
            let r = self.resolve(o, tenancy).await?;
            let id = match &r.namespace {
                Some(ns) => format!("{} {ns}/{}", o.kind(), o.name()),
                None => o.display_id(),
            };
            let unavailable = |e: kube::Error| ApplyError::Unavailable {
                object: id.clone(),
                message: e.to_string(),
            };
            let live = self
                .get_object(&r.resource, r.namespace.as_deref(), o.name())
                .await
                .map_err(unavailable)?;
            let mut body = o.value.clone();
            if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                if let Some(ns) = &r.namespace {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
                let owner_labels = live
                    .as_ref()
                    .and_then(|l| l.pointer("/metadata/labels"))
                    .cloned();
                for key in [OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL] {
                    if let Some(v) = owner_labels.as_ref().and_then(|l| l.get(key)) {
                        let labels = meta
                            .entry("labels")
                            .or_insert_with(|| Value::Object(Default::default()));
                        if let Some(labels) = labels.as_object_mut() {
                            labels.insert(key.into(), v.clone());
                        }
                    }
                }
            }
            let dry = self
                .apply_body(&r.resource, r.namespace.as_deref(), o.name(), &body, true)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) => ApplyError::Rejected {
                        object: id.clone(),
                        origin: o.origin.clone(),
                        message: s.message.clone(),
                        code: s.code,
                    },
                    e => unavailable(e),
                })?;
            let dry = serde_json::to_value(dry).unwrap_or_default();
            match live {
                None => out.push((id, Change::Added(yaml(&normalize(dry))))),
                Some(live) => {
                    if let Some(d) = unified(&id, &live, &dry) {
                        out.push((id, Change::Changed(d)));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_should_not_count_as_differences() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "1", "uid": "u", "managedFields": []}, "data": {"k": "v"}, "status": {"x": 1}});
        let same = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "v"}});
        assert_eq!(unified("ConfigMap a", &live, &same), None);
    }

    #[test]
    fn changes_should_show_as_a_unified_diff() {
        let live = json!({"metadata": {"name": "a"}, "data": {"k": "old"}});
        let desired = json!({"metadata": {"name": "a"}, "data": {"k": "new"}});
        let d = unified("ConfigMap ns/a", &live, &desired).unwrap();
        assert!(
            d.contains("--- ConfigMap ns/a (live)") && d.contains("+++ ConfigMap ns/a (desired)"),
            "{d}"
        );
        assert!(d.contains("-  k: old") && d.contains("+  k: new"), "{d}");
    }
}
