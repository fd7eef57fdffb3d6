//! Apply stage: server-side apply of rendered objects with field manager `pi-agent`, in order
//! (Namespaces and CRDs, then other cluster-scoped objects, then namespaced ones).
//!
//! Before anything is written, every object that can be checked is sent as a server-side dry run:
//! a schema or admission error in one object stops the whole revision with the cluster untouched.

mod diff;
mod drift;
pub mod ignore;
mod inventory;
mod rules;
mod takeover;
mod tenancy;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

pub use diff::{Change, unified};
pub use drift::{DriftCounts, DriftWatcher, OnDrift};
pub use inventory::{ObjectId, entry_for, inventory_of, stale};
pub use rules::{ApplyRules, RulesCache, RulesError};
pub use tenancy::Tenancy;

use self::ignore::{IgnoreRules, Resolution};
use crate::api::{FIELD_MANAGER, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, PRUNE_ANNOTATION};
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
    /// Deleting an object that left Git failed.
    #[error("pruning {object} failed: {message}")]
    PruneFailed { object: String, message: String },
    /// The object is outside what the Application may touch.
    #[error("{object} (from `{origin}`) is refused: {why}")]
    TenancyViolation {
        object: String,
        origin: String,
        why: String,
    },
}

/// The Application that owns applied objects: set as labels on each, checked before pruning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Application name.
    pub name: String,
    /// Application namespace.
    pub namespace: String,
}

/// An object as applied: where it went and the exact body (the desired state drift is measured
/// against).
#[derive(Clone, Debug)]
pub struct Applied {
    /// Its inventory entry.
    pub entry: crate::api::InventoryEntry,
    /// Its API resource.
    pub resource: ApiResource,
    /// Its namespace; `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The desired body: what was applied, before the fields that `spec.sync.ignore` leaves to
    /// other managers were taken out against the live object (the drift watcher does that
    /// again against the object it corrects).
    pub body: Value,
    /// Its metadata as the API server returned it after the apply (without managed fields).
    pub meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// The object as returned after the apply when it was not yet healthy (for the health
    /// check); `None` when it was already `Current`.
    pub live: Option<Value>,
    /// Not written: the same body as last time, unchanged since (see
    /// [`Applier::apply_changed`]); `meta` is then empty.
    pub unchanged: bool,
}

/// Whether writing a body again would change nothing (the drift watcher knows):
/// `(resource, namespace, name, body) → unchanged`.
pub type Unchanged<'a> = &'a (dyn Fn(&ApiResource, Option<&str>, &str, &Value) -> bool + Sync);

/// What is kept of the API server's answer to one apply: its metadata, whether client-side
/// managers own fields (take-over), and the whole object only when the health check will need it.
struct Patched {
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    live: Option<Value>,
    takeover: bool,
    unchanged: bool,
}

impl Patched {
    /// An object not written; `live` when it was read for its health.
    fn unchanged(live: Option<Value>, rules: &ApplyRules) -> Self {
        let mut patched = match live {
            Some(live) => Patched::new(live, rules),
            None => Patched {
                meta: Default::default(),
                live: None,
                takeover: false,
                unchanged: true,
            },
        };
        patched.unchanged = true;
        patched
    }
}

impl Patched {
    /// What is kept of `live`; its health by the work's rules (CEL checks, else kstatus).
    fn new(mut live: Value, rules: &ApplyRules) -> Self {
        let takeover = takeover::needed(&live);
        if let Some(meta) = live.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let meta = live
            .get("metadata")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        let current = rules.health_of(&live).status == crate::health::Status::Current;
        Patched {
            meta,
            live: (!current).then_some(live),
            takeover,
            unchanged: false,
        }
    }
}

/// What a prune did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Objects deleted (`Kind ns/name`).
    pub deleted: Vec<String>,
    /// Objects left in place: gone already, opted out, or owned by someone else (with why).
    pub skipped: Vec<String>,
}

impl ApplyError {
    /// Refusals of the object itself are terminal; the rest is worth a retry.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            // 404: the kind went away (discovery is refreshed); 409/429: conflict, throttling.
            ApplyError::Rejected { code, .. }
                if (400..500).contains(code) && ![404, 409, 429].contains(code) =>
            {
                RetryClass::Terminal
            }
            ApplyError::TenancyViolation { .. } => RetryClass::Terminal,
            _ => RetryClass::Transient,
        }
    }

    /// The status reason: `TenancyViolation`, `PruneFailed`, or `ApplyFailed`.
    pub fn reason(&self) -> &'static str {
        use crate::error::reason;
        match self {
            ApplyError::TenancyViolation { .. } => reason::TENANCY_VIOLATION,
            ApplyError::PruneFailed { .. } => reason::PRUNE_FAILED,
            _ => reason::APPLY_FAILED,
        }
    }
}

impl crate::error::StageError for ApplyError {
    fn reason(&self) -> &'static str {
        ApplyError::reason(self)
    }
    fn retry_class(&self) -> RetryClass {
        ApplyError::retry_class(self)
    }
}

/// What one run of [`Applier::run`] does: write, dry-run first, skip what is unchanged.
#[derive(Clone, Copy)]
struct Pass<'u> {
    write: bool,
    dry_run: bool,
    unchanged: Option<Unchanged<'u>>,
}

impl Pass<'_> {
    const CHECKED_APPLY: Pass<'static> = Pass {
        write: true,
        dry_run: true,
        unchanged: None,
    };
    const CHECK: Pass<'static> = Pass {
        write: false,
        dry_run: true,
        unchanged: None,
    };
    const APPLY: Pass<'static> = Pass {
        write: true,
        dry_run: false,
        unchanged: None,
    };
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
        tenancy: &Tenancy,
    ) -> Result<Resolved<'a>, ApplyError> {
        let (resource, caps) = self.resolve_kind(object).await?;
        let namespace = match caps.scope {
            Scope::Namespaced => Some(object.namespace().unwrap_or(&tenancy.namespace).to_owned()),
            Scope::Cluster => None,
        };
        tenancy
            .check(&resource.group, &resource.kind, namespace.as_deref())
            .map_err(|why| ApplyError::TenancyViolation {
                object: object.display_id(),
                origin: object.origin.clone(),
                why,
            })?;
        Ok(Resolved {
            object,
            resource,
            namespace,
        })
    }

    async fn patch(
        &self,
        r: &Resolved<'_>,
        owner: &Owner,
        rules: &ApplyRules,
        dry_run: bool,
    ) -> Result<Patched, ApplyError> {
        let mut body = desired_body(r.object, r.namespace.as_deref(), owner);
        let id = match &r.namespace {
            Some(ns) => format!("{} {ns}/{}", r.object.kind(), r.object.name()),
            None => r.object.display_id(),
        };
        self.leave_ignored(
            &r.resource,
            r.namespace.as_deref(),
            r.object.name(),
            &mut body,
            &rules.ignore,
        )
        .await
        .map_err(|e| ApplyError::Unavailable {
            object: id.clone(),
            message: format!("reading it for `spec.sync.ignore`: {e}"),
        })?;
        self.apply_body(
            &r.resource,
            r.namespace.as_deref(),
            r.object.name(),
            &body,
            dry_run,
        )
        .await
        // Reduced at once to what is kept: a thousand whole responses are never held together.
        .map(|o| Patched::new(serde_json::to_value(o).unwrap_or_default(), rules))
        .map_err(|e| match e {
            // The kind is no longer served (its CRD was deleted or changed version): forget the
            // cached discovery so the next attempt asks the API server again.
            kube::Error::Api(s) if s.code == 404 => {
                let gvk =
                    GroupVersionKind::gvk(&r.resource.group, &r.resource.version, &r.resource.kind);
                self.discovery
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&gvk);
                ApplyError::Rejected {
                    object: id,
                    origin: r.object.origin.clone(),
                    message: s.message.clone(),
                    code: s.code,
                }
            }
            kube::Error::Api(s) => ApplyError::Rejected {
                object: id,
                origin: r.object.origin.clone(),
                message: s.message.clone(),
                code: s.code,
            },
            e => ApplyError::Unavailable {
                object: id,
                message: e.to_string(),
            },
        })
    }

    /// Server-side applies one body (force, field manager `pi-agent`); returns what the API
    /// server stored (or would store, in a dry run).
    ///
    /// # Errors
    /// The API server's error.
    pub async fn apply_body(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        body: &Value,
        dry_run: bool,
    ) -> Result<DynamicObject, kube::Error> {
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        if dry_run {
            params = params.dry_run();
        }
        api.patch(name, &params, &Patch::Apply(body)).await
    }

    /// Rewrites `body` so that the fields `ignore` leaves to other managers stay as the
    /// cluster has them (see [`ignore`]); reads the live object only when a rule applies to
    /// the body. Returns what was left to whom (no values).
    ///
    /// # Errors
    /// The live object cannot be read.
    pub async fn leave_ignored(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        body: &mut Value,
        ignore: &IgnoreRules,
    ) -> Result<Vec<Resolution>, kube::Error> {
        if ignore.paths_for(body).is_empty() {
            return Ok(Vec::new());
        }
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        let live = api
            .get_opt(name)
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or_default());
        let done = ignore.prepare(body, live.as_ref(), FIELD_MANAGER);
        for d in &done {
            tracing::debug!(kind = %resource.kind, namespace = ?namespace, name, resolution = ?d, "field left to another manager");
        }
        Ok(done)
    }
}

/// The body pi-agent applies for an object: its namespace set, and the owner labels.
fn desired_body(object: &Object, namespace: Option<&str>, owner: &Owner) -> Value {
    let mut body = object.value.clone();
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), Value::String(ns.to_owned()));
        }
        set_owner_labels(meta, owner);
    }
    body
}

impl Applier {
    /// Applies `objects` in order; namespaced objects without a namespace go to `default_ns`.
    /// Returns what was applied, in apply order.
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
        tenancy: &Tenancy,
        owner: &Owner,
        rules: &ApplyRules,
    ) -> Result<Vec<Applied>, ApplyError> {
        self.run(objects, tenancy, owner, rules, Pass::CHECKED_APPLY)
            .await
    }

    /// Checks `objects` as [`Applier::apply`] would (discovery, tenancy, server-side dry run of
    /// every object whose kind and namespace exist), writing nothing.
    ///
    /// # Errors
    /// As [`Applier::apply`].
    pub async fn check(
        &self,
        objects: &[Object],
        tenancy: &Tenancy,
        owner: &Owner,
        rules: &ApplyRules,
    ) -> Result<(), ApplyError> {
        self.run(objects, tenancy, owner, rules, Pass::CHECK)
            .await
            .map(|_| ())
    }

    /// [`Applier::apply`] without the dry-run pass, for objects already checked: a re-sync of
    /// the revision that was applied last, or a wave after [`Applier::check`]. Halves the API
    /// server's work on periodic re-syncs.
    ///
    /// # Errors
    /// As [`Applier::apply`], except that a refused object may leave earlier ones applied.
    pub async fn apply_checked(
        &self,
        objects: &[Object],
        tenancy: &Tenancy,
        owner: &Owner,
        rules: &ApplyRules,
    ) -> Result<Vec<Applied>, ApplyError> {
        self.run(objects, tenancy, owner, rules, Pass::APPLY).await
    }

    /// [`Applier::apply_checked`] that does not write the objects `unchanged` vouches for (the
    /// body pi-agent wrote last, changed by no one since): a periodic re-sync of a thousand
    /// Applications then costs the API server a read of the objects whose health must be
    /// assessed, and nothing for the others. Namespaces and CRDs are always written.
    ///
    /// # Errors
    /// As [`Applier::apply_checked`].
    pub async fn apply_changed(
        &self,
        objects: &[Object],
        tenancy: &Tenancy,
        owner: &Owner,
        rules: &ApplyRules,
        unchanged: Unchanged<'_>,
    ) -> Result<Vec<Applied>, ApplyError> {
        self.run(
            objects,
            tenancy,
            owner,
            rules,
            Pass {
                unchanged: Some(unchanged),
                ..Pass::APPLY
            },
        )
        .await
    }

    async fn run(
        &self,
        objects: &[Object],
        tenancy: &Tenancy,
        owner: &Owner,
        rules: &ApplyRules,
        pass: Pass<'_>,
    ) -> Result<Vec<Applied>, ApplyError> {
        let Pass {
            write,
            dry_run,
            unchanged,
        } = pass;
        let default_ns = tenancy.namespace.as_str();
        // Phase 0: Namespaces and CRDs. What they create cannot be dry-run before they exist.
        let (first, rest): (Vec<&Object>, Vec<&Object>) =
            objects.iter().partition(|o| is_phase_zero(o));
        let new_namespaces: BTreeSet<&str> = first
            .iter()
            .filter(|o| o.kind() == "Namespace")
            .map(|o| o.name())
            .collect();
        // (group, kind) → scope of the kinds this revision's CRDs define.
        let new_kinds: HashMap<(String, String), String> = first
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
            .filter_map(|o| crd_group_kind(&o.value))
            .collect();

        let mut phase0 = Vec::new();
        for o in &first {
            phase0.push(self.resolve(o, tenancy).await?);
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
            let depends_on_new = new_kinds.contains_key(&(group.to_owned(), o.kind().to_owned()))
                || o.namespace().is_some_and(|ns| new_namespaces.contains(ns))
                || (o.namespace().is_none() && new_namespaces.contains(default_ns));
            if depends_on_new {
                later.push(*o);
            } else {
                checked.push(self.resolve(o, tenancy).await?);
            }
        }
        // Objects that wait for a new CRD or Namespace are checked against the tenancy limits now,
        // before the first write: their scope comes from the CRD of this revision, or discovery.
        for o in &later {
            let group = o
                .api_version()
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or_default();
            let namespaced = match new_kinds.get(&(group.to_owned(), o.kind().to_owned())) {
                Some(scope) => scope == "Namespaced",
                None => matches!(self.resolve_kind(o).await?.1.scope, Scope::Namespaced),
            };
            let namespace = namespaced.then(|| o.namespace().unwrap_or(default_ns));
            tenancy.check(group, o.kind(), namespace).map_err(|why| {
                ApplyError::TenancyViolation {
                    object: o.display_id(),
                    origin: o.origin.clone(),
                    why,
                }
            })?;
        }
        // Only whether each object needs a take-over is kept of the dry-run results (they are
        // whole objects with their managed fields: not worth holding for a thousand objects).
        let mut takeover = Vec::new();
        if dry_run {
            for part in [&phase0, &checked] {
                let dry = self.patch_all(part, owner, rules, true).await?;
                takeover.extend(dry.iter().map(|p| p.takeover));
            }
        }
        if !write {
            return Ok(Vec::new());
        }
        // Fields that `kubectl apply` (client-side) or `kubectl create` set are owned by those
        // managers: server-side apply alone would never remove them when they leave Git. Hand
        // them to pi-agent first (the dry run shows which objects have such managers).
        for (r, needed) in phase0.iter().chain(&checked).zip(&takeover) {
            if *needed {
                self.take_over(r).await?;
            }
        }

        let live0 = self.patch_all(&phase0, owner, rules, false).await?;
        // Objects that depend on CRDs of this revision: resolve now that the CRDs exist.
        let mut deferred = Vec::new();
        for o in later {
            deferred.push(self.resolve_when_established(o, tenancy).await?);
        }
        checked.extend(deferred);
        checked.sort_by_key(|r| r.namespace.is_some());
        let (cluster, namespaced): (Vec<_>, Vec<_>) =
            checked.into_iter().partition(|r| r.namespace.is_none());
        let (live1, live2) = match unchanged {
            None => (
                self.patch_all(&cluster, owner, rules, false).await?,
                self.patch_all(&namespaced, owner, rules, false).await?,
            ),
            Some(unchanged) => (
                self.patch_changed(&cluster, owner, rules, unchanged)
                    .await?,
                self.patch_changed(&namespaced, owner, rules, unchanged)
                    .await?,
            ),
        };

        Ok(phase0
            .iter()
            .chain(&cluster)
            .chain(&namespaced)
            .zip(live0.into_iter().chain(live1).chain(live2))
            .map(
                |(
                    r,
                    Patched {
                        meta,
                        live,
                        unchanged,
                        ..
                    },
                )| Applied {
                    entry: entry_for(r.object, r.namespace.as_deref()),
                    resource: r.resource.clone(),
                    namespace: r.namespace.clone(),
                    name: r.object.name().to_owned(),
                    body: desired_body(r.object, r.namespace.as_deref(), owner),
                    meta,
                    live,
                    unchanged,
                },
            )
            .collect())
    }

    /// Discovery of a kind whose CRD was just applied: the API server serves it once the CRD is
    /// Established, usually within a second. Bounded wait.
    async fn resolve_when_established<'a>(
        &self,
        o: &'a Object,
        ns: &Tenancy,
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

    async fn patch_all(
        &self,
        items: &[Resolved<'_>],
        owner: &Owner,
        rules: &ApplyRules,
        dry_run: bool,
    ) -> Result<Vec<Patched>, ApplyError> {
        // Futures are built before the stream so it stores no closure (keeps the future Send).
        let mut patches = Vec::with_capacity(items.len());
        for r in items {
            patches.push(self.patch(r, owner, rules, dry_run));
        }
        // `buffered` keeps the input order, so results line up with `items`.
        futures::stream::iter(patches)
            .buffered(CONCURRENCY)
            .try_collect::<Vec<Patched>>()
            .await
    }
}

impl Applier {
    /// As `patch_all` (no dry run), except for the objects `unchanged` vouches for: those are
    /// not written; the ones whose health depends on their live state are read instead, and one
    /// found missing is written after all.
    async fn patch_changed(
        &self,
        items: &[Resolved<'_>],
        owner: &Owner,
        rules: &ApplyRules,
        unchanged: Unchanged<'_>,
    ) -> Result<Vec<Patched>, ApplyError> {
        let mut steps = Vec::with_capacity(items.len());
        for r in items {
            let body = desired_body(r.object, r.namespace.as_deref(), owner);
            let skip = unchanged(&r.resource, r.namespace.as_deref(), r.object.name(), &body);
            drop(body);
            steps.push(async move {
                if skip {
                    // A kind with a CEL health check is read whatever kstatus thinks of it.
                    if !crate::health::reads_live_state(&r.resource.group, &r.resource.kind)
                        && !rules
                            .health
                            .supports(&r.resource.api_version, &r.resource.kind)
                    {
                        return Ok(Patched::unchanged(None, rules));
                    }
                    // Gone, or unreadable: written as if it had changed.
                    if let Ok(Some(live)) = self
                        .get_object(&r.resource, r.namespace.as_deref(), r.object.name())
                        .await
                    {
                        return Ok(Patched::unchanged(Some(live), rules));
                    }
                }
                self.patch(r, owner, rules, false).await
            });
        }
        futures::stream::iter(steps)
            .buffered(CONCURRENCY)
            .try_collect::<Vec<Patched>>()
            .await
    }

    /// Rewrites the live object's managed fields so that what client-side managers own becomes
    /// pi-agent's (see [`takeover`]).
    async fn take_over(&self, r: &Resolved<'_>) -> Result<(), ApplyError> {
        let api: Api<DynamicObject> = match &r.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            None => Api::all_with(self.client.clone(), &r.resource),
        };
        let id = r.object.display_id();
        let failed = |e: kube::Error| ApplyError::Unavailable {
            object: id.clone(),
            message: format!("taking over fields: {e}"),
        };
        let Some(live) = api.get_opt(r.object.name()).await.map_err(failed)? else {
            return Ok(());
        };
        let Some(fields) = takeover::rewrite(
            &live.metadata.managed_fields.clone().unwrap_or_default(),
            FIELD_MANAGER,
        ) else {
            return Ok(());
        };
        let patch = serde_json::json!({"metadata": {"resourceVersion": live.metadata.resource_version, "managedFields": fields}});
        api.patch(
            r.object.name(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(failed)?;
        tracing::info!(object = %id, "took over fields owned by client-side managers");
        Ok(())
    }

    /// The live object, or `None` when it does not exist.
    ///
    /// # Errors
    /// The API server's error.
    pub async fn get_live(&self, a: &Applied) -> Result<Option<Value>, kube::Error> {
        self.get_object(&a.resource, a.namespace.as_deref(), &a.name)
            .await
    }

    /// The live object `name` of `resource` (in `namespace` when namespaced), as JSON.
    ///
    /// # Errors
    /// The API server's error; a missing object is `Ok(None)`.
    pub async fn get_object(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, kube::Error> {
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        Ok(api
            .get_opt(name)
            .await?
            .map(|o| serde_json::to_value(o).unwrap_or_default()))
    }

    /// The API resource of a group/version/kind (cached discovery).
    ///
    /// # Errors
    /// [`ApplyError::UnknownKind`] when the API server does not serve it.
    pub async fn resource_of(
        &self,
        id: &ObjectId,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let api_version = if id.group.is_empty() {
            id.version.clone()
        } else {
            format!("{}/{}", id.group, id.version)
        };
        let probe = Object {
            value: serde_json::json!({"apiVersion": api_version, "kind": id.kind, "metadata": {"name": id.name}}),
            origin: "inventory".into(),
        };
        self.resolve_kind(&probe).await
    }

    /// Deletes the objects of `ids` that this Application still owns, in the given order.
    /// An object is kept when it is already gone, annotated `gitops.pi-agent.io/prune: disabled`,
    /// or labelled as owned by another Application (it moved): pruning never deletes what this
    /// Application does not own.
    ///
    /// # Errors
    /// The first deletion the API server refuses; objects deleted before it stay deleted.
    ///
    /// # Guarantees
    /// Idempotent: pruning the same ids twice deletes nothing the second time.
    pub async fn prune(&self, ids: &[ObjectId], owner: &Owner) -> Result<PruneReport, ApplyError> {
        let mut report = PruneReport::default();
        for id in ids {
            let (resource, caps) = match self.resource_of(id).await {
                Ok(r) => r,
                Err(ApplyError::UnknownKind { .. }) => {
                    // The kind is gone (its CRD was deleted): so are its objects.
                    report
                        .skipped
                        .push(format!("{} (kind no longer served)", id.display()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => {
                    Api::namespaced_with(self.client.clone(), &id.namespace, &resource)
                }
                Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            };
            let failed = |e: kube::Error| ApplyError::PruneFailed {
                object: id.display(),
                message: e.to_string(),
            };
            let Some(live) = api.get_metadata_opt(&id.name).await.map_err(failed)? else {
                report
                    .skipped
                    .push(format!("{} (already gone)", id.display()));
                continue;
            };
            let annotations = live.metadata.annotations.unwrap_or_default();
            if annotations
                .get(PRUNE_ANNOTATION)
                .is_some_and(|v| v == "disabled")
            {
                report
                    .skipped
                    .push(format!("{} ({PRUNE_ANNOTATION}: disabled)", id.display()));
                continue;
            }
            let labels = live.metadata.labels.unwrap_or_default();
            let owned = labels.get(OWNER_NAME_LABEL) == Some(&owner.name)
                && labels.get(OWNER_NAMESPACE_LABEL) == Some(&owner.namespace);
            if !owned {
                report
                    .skipped
                    .push(format!("{} (not owned by this Application)", id.display()));
                continue;
            }
            let params = kube::api::DeleteParams::background();
            match api.delete(&id.name, &params).await {
                Ok(_) => report.deleted.push(id.display()),
                Err(kube::Error::Api(s)) if s.code == 404 => report
                    .skipped
                    .push(format!("{} (already gone)", id.display())),
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(report)
    }
}

fn set_owner_labels(meta: &mut serde_json::Map<String, Value>, owner: &Owner) {
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if !labels.is_object() {
        *labels = Value::Object(Default::default());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(OWNER_NAME_LABEL.into(), Value::String(owner.name.clone()));
        labels.insert(
            OWNER_NAMESPACE_LABEL.into(),
            Value::String(owner.namespace.clone()),
        );
    }
}

fn is_phase_zero(o: &Object) -> bool {
    (o.kind() == "Namespace" && o.api_version() == "v1")
        || (o.kind() == "CustomResourceDefinition"
            && o.api_version().starts_with("apiextensions.k8s.io/"))
}

/// The (group, kind) a CRD object defines, and its scope (`Namespaced` or `Cluster`).
fn crd_group_kind(crd: &Value) -> Option<((String, String), String)> {
    let group = crd.pointer("/spec/group")?.as_str()?;
    let kind = crd.pointer("/spec/names/kind")?.as_str()?;
    let scope = crd
        .pointer("/spec/scope")
        .and_then(Value::as_str)
        .unwrap_or("Namespaced");
    Some(((group.to_owned(), kind.to_owned()), scope.to_owned()))
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
    fn owner_labels_should_be_added_next_to_existing_ones() {
        let owner = Owner {
            name: "web".into(),
            namespace: "team-a".into(),
        };
        let mut meta = json!({"name": "x", "labels": {"app": "web"}});
        set_owner_labels(meta.as_object_mut().unwrap(), &owner);
        assert_eq!(
            meta["labels"],
            json!({"app": "web", OWNER_NAME_LABEL: "web", OWNER_NAMESPACE_LABEL: "team-a"})
        );
        let mut meta = json!({"name": "x", "labels": null});
        set_owner_labels(meta.as_object_mut().unwrap(), &owner);
        assert_eq!(meta["labels"][OWNER_NAME_LABEL], "web");
    }

    #[test]
    fn crd_group_kind_should_read_the_spec() {
        let crd = json!({"spec":{"group":"x.io","names":{"kind":"Widget"},"scope":"Cluster"}});
        assert_eq!(
            crd_group_kind(&crd),
            Some((("x.io".into(), "Widget".into()), "Cluster".into()))
        );
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
