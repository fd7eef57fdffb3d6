//! Apply stage: server-side apply of rendered objects with field manager `pi-agent`, in order
//! (Namespaces and CRDs, then other cluster-scoped objects, then namespaced ones).
//!
//! Before anything is written, every object that can be checked is sent as a server-side dry run:
//! a schema or admission error in one object stops the whole revision with the cluster untouched.

mod inventory;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

pub use inventory::{entry_for, inventory_of};

use crate::api::FIELD_MANAGER;
use crate::error::RetryClass;
use crate::render::Object;

/// How many objects of one phase are applied at once.
const CONCURRENCY: usize = 8;

/// Why applying failed; each variant names the object.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server does not serve this kind.
    #[error("{object} (from `{origin}`): the API server has no kind `{kind}` in `{api_version}`")]
    UnknownKind {
        object: String,
        origin: String,
        api_version: String,
        kind: String,
    },
    /// The API server refused the object (validation, admission, conflict).
    #[error("{object} (from `{origin}`) was refused: {message}")]
    Rejected {
        object: String,
        origin: String,
        message: String,
        code: u16,
    },
    /// The API server could not be reached or failed.
    #[error("applying {object} failed: {message}")]
    Unavailable { object: String, message: String },
}

impl ApplyError {
    /// Refusals of the object itself are terminal; the rest is worth a retry.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ApplyError::Rejected { code, .. }
                if (400..500).contains(code) && *code != 409 && *code != 429 =>
            {
                RetryClass::Terminal
            }
            _ => RetryClass::Transient,
        }
    }
}

/// A rendered object together with where it goes.
struct Resolved<'a> {
    object: &'a Object,
    resource: ApiResource,
    namespace: Option<String>,
}

/// Applies objects to one cluster; caches discovery.
pub struct Applier {
    client: kube::Client,
    discovery: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

impl Applier {
    /// An applier over a client.
    pub fn new(client: kube::Client) -> Self {
        Applier {
            client,
            discovery: Mutex::default(),
        }
    }

    async fn resolve_kind(
        &self,
        object: &Object,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let (group, version) = match object.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", object.api_version()),
        };
        let gvk = GroupVersionKind::gvk(group, version, object.kind());
        if let Some(hit) = self
            .discovery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&gvk)
        {
            return Ok(hit.clone());
        }
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => {
                self.discovery
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(gvk, found.clone());
                Ok(found)
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Err(self.unknown_kind(object)),
            Err(kube::Error::Discovery(_)) => Err(self.unknown_kind(object)),
            Err(e) => Err(ApplyError::Unavailable {
                object: object.display_id(),
                message: e.to_string(),
            }),
        }
    }

    fn unknown_kind(&self, object: &Object) -> ApplyError {
        ApplyError::UnknownKind {
            object: object.display_id(),
            origin: object.origin.clone(),
            api_version: object.api_version().to_owned(),
            kind: object.kind().to_owned(),
        }
    }

    async fn resolve<'a>(
        &self,
        object: &'a Object,
        default_ns: &str,
    ) -> Result<Resolved<'a>, ApplyError> {
        let (resource, caps) = self.resolve_kind(object).await?;
        let namespace = match caps.scope {
            Scope::Namespaced => Some(object.namespace().unwrap_or(default_ns).to_owned()),
            Scope::Cluster => None,
        };
        Ok(Resolved {
            object,
            resource,
            namespace,
        })
    }

    async fn patch(&self, r: &Resolved<'_>, dry_run: bool) -> Result<(), ApplyError> {
        let api: Api<DynamicObject> = match &r.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            None => Api::all_with(self.client.clone(), &r.resource),
        };
        let mut body = r.object.value.clone();
        if let (Some(ns), Some(meta)) = (
            &r.namespace,
            body.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        if dry_run {
            params = params.dry_run();
        }
        let id = match &r.namespace {
            Some(ns) => format!("{} {ns}/{}", r.object.kind(), r.object.name()),
            None => r.object.display_id(),
        };
        match api
            .patch(r.object.name(), &params, &Patch::Apply(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) => Err(ApplyError::Rejected {
                object: id,
                origin: r.object.origin.clone(),
                message: s.message.clone(),
                code: s.code,
            }),
            Err(e) => Err(ApplyError::Unavailable {
                object: id,
                message: e.to_string(),
            }),
        }
    }

    /// Applies `objects` in order; namespaced objects without a namespace go to `default_ns`.
    /// Returns the inventory of what was applied.
    ///
    /// # Errors
    /// The first object refused or not applicable. Objects checkable by dry run are all checked
    /// before the first write, so a refused object leaves the cluster as it was.
    ///
    /// # Guarantees
    /// Idempotent: applying the same objects twice changes nothing the second time.
    pub async fn apply(
        &self,
        objects: &[Object],
        default_ns: &str,
    ) -> Result<Vec<crate::api::InventoryEntry>, ApplyError> {
        // Phase 0: Namespaces and CRDs. What they create cannot be dry-run before they exist.
        let (first, rest): (Vec<&Object>, Vec<&Object>) =
            objects.iter().partition(|o| is_phase_zero(o));
        let new_namespaces: BTreeSet<&str> = first
            .iter()
            .filter(|o| o.kind() == "Namespace")
            .map(|o| o.name())
            .collect();
        let new_kinds: BTreeSet<(String, String)> = first
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
            .filter_map(|o| crd_group_kind(&o.value))
            .collect();

        let mut phase0 = Vec::new();
        for o in &first {
            phase0.push(self.resolve(o, default_ns).await?);
        }
        // Dry run of everything whose kind and namespace exist already.
        let mut later = Vec::new();
        let mut checked = Vec::new();
        for o in &rest {
            let group = o
                .api_version()
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or_default();
            let depends_on_new = new_kinds.contains(&(group.to_owned(), o.kind().to_owned()))
                || o.namespace().is_some_and(|ns| new_namespaces.contains(ns))
                || (o.namespace().is_none() && new_namespaces.contains(default_ns));
            if depends_on_new {
                later.push(*o);
            } else {
                checked.push(self.resolve(o, default_ns).await?);
            }
        }
        self.patch_all(&phase0, true).await?;
        self.patch_all(&checked, true).await?;

        self.patch_all(&phase0, false).await?;
        // Objects that depend on CRDs of this revision: resolve now that the CRDs exist.
        let mut deferred = Vec::new();
        for o in later {
            deferred.push(self.resolve_when_established(o, default_ns).await?);
        }
        checked.extend(deferred);
        checked.sort_by_key(|r| r.namespace.is_some());
        let (cluster, namespaced): (Vec<_>, Vec<_>) =
            checked.into_iter().partition(|r| r.namespace.is_none());
        self.patch_all(&cluster, false).await?;
        self.patch_all(&namespaced, false).await?;

        let mut inventory: Vec<_> = phase0
            .iter()
            .chain(&cluster)
            .chain(&namespaced)
            .map(|r| entry_for(r.object, r.namespace.as_deref()))
            .collect();
        inventory.sort();
        inventory.dedup();
        Ok(inventory)
    }

    /// Discovery of a kind whose CRD was just applied: the API server serves it once the CRD is
    /// Established, usually within a second. Bounded wait.
    async fn resolve_when_established<'a>(
        &self,
        o: &'a Object,
        ns: &str,
    ) -> Result<Resolved<'a>, ApplyError> {
        let mut last = None;
        for _ in 0..40 {
            match self.resolve(o, ns).await {
                Ok(r) => return Ok(r),
                Err(e @ ApplyError::UnknownKind { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last.unwrap_or_else(|| self.unknown_kind(o)))
    }

    async fn patch_all(&self, items: &[Resolved<'_>], dry_run: bool) -> Result<(), ApplyError> {
        // Futures are built before the stream so it stores no closure (keeps the future Send).
        let mut patches = Vec::with_capacity(items.len());
        for r in items {
            patches.push(self.patch(r, dry_run));
        }
        futures::stream::iter(patches)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

fn is_phase_zero(o: &Object) -> bool {
    (o.kind() == "Namespace" && o.api_version() == "v1")
        || (o.kind() == "CustomResourceDefinition"
            && o.api_version().starts_with("apiextensions.k8s.io/"))
}

/// The (group, kind) a CRD object defines.
fn crd_group_kind(crd: &Value) -> Option<(String, String)> {
    let group = crd.pointer("/spec/group")?.as_str()?;
    let kind = crd.pointer("/spec/names/kind")?.as_str()?;
    Some((group.to_owned(), kind.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object {
            value: v,
            origin: "t.yaml".into(),
        }
    }

    #[test]
    fn namespaces_and_crds_should_go_first() {
        assert!(is_phase_zero(&obj(
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}})
        )));
        assert!(is_phase_zero(&obj(
            json!({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"a"}})
        )));
        assert!(!is_phase_zero(&obj(
            json!({"apiVersion":"example.com/v1","kind":"Namespace","metadata":{"name":"a"}})
        )));
        assert!(!is_phase_zero(&obj(
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})
        )));
    }

    #[test]
    fn crd_group_kind_should_read_the_spec() {
        let crd = json!({"spec":{"group":"x.io","names":{"kind":"Widget"}}});
        assert_eq!(crd_group_kind(&crd), Some(("x.io".into(), "Widget".into())));
        assert_eq!(crd_group_kind(&json!({})), None);
    }

    #[test]
    fn refusals_should_be_terminal_and_outages_transient() {
        let rejected = |code| ApplyError::Rejected {
            object: "o".into(),
            origin: "f".into(),
            message: "m".into(),
            code,
        };
        assert_eq!(rejected(422).retry_class(), RetryClass::Terminal);
        assert_eq!(rejected(409).retry_class(), RetryClass::Transient);
        assert_eq!(rejected(503).retry_class(), RetryClass::Transient);
        let down = ApplyError::Unavailable {
            object: "o".into(),
            message: "m".into(),
        };
        assert_eq!(down.retry_class(), RetryClass::Transient);
    }
}
