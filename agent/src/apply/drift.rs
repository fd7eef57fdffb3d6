//! Drift correction: watch the applied objects and put back what another field manager changed.
//!
//! One metadata-only watch per kind, shared by every Application and filtered on the owner label,
//! keeps memory small. When an event shows that the last writer of an object was not pi-agent
//! (status writes aside), the object's desired body is applied again with server-side apply: the
//! API server itself decides whether a managed field differs, so defaulted or webhook-mutated
//! fields never count as drift. A changed `resourceVersion` after that apply means a correction
//! happened; it is counted in status and metrics. A deleted object is re-created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::{Applied, Applier, ApplyRules, Owner};
use crate::api::OWNER_NAME_LABEL;

/// An object, by kind and place.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct ObjectKey {
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

/// A watched kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct KindKey {
    group: String,
    version: String,
    kind: String,
}

struct Desired {
    owner: Owner,
    // Applies as the Application's identity (impersonation), like its reconciles.
    applier: Arc<Applier>,
    self_heal: bool,
    // The fields left to other managers are left to them by corrections too.
    rules: Arc<ApplyRules>,
    resource: ApiResource,
    namespace: Option<String>,
    // The desired body, serialized: a compact copy (a `Value` costs several times its JSON), read
    // back only when a correction is needed.
    body: Box<[u8]>,
    // What the object looked like after pi-agent last wrote it: an event with the same
    // fingerprint changed nothing that matters (a status update, our own write).
    seen: Fingerprint,
    // No change by anyone else since pi-agent last wrote it (false once drift is seen and not
    // corrected): a re-sync of the same body may then skip the write.
    clean: bool,
}

/// What tells a change of desired state from a status update in a metadata-only event: for kinds
/// with `metadata.generation`, the generation (spec changes bump it) with the labels and
/// annotations; for the others (ConfigMap, Secret…, which have no status), the resourceVersion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Fingerprint {
    #[default]
    Unknown,
    Generation(i64, u64),
    Version(String),
}

fn fingerprint(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Fingerprint {
    use std::hash::{Hash, Hasher};
    match meta.generation {
        Some(g) if g > 0 => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            meta.labels.hash(&mut h);
            meta.annotations.hash(&mut h);
            Fingerprint::Generation(g, h.finish())
        }
        _ => Fingerprint::Version(meta.resource_version.clone().unwrap_or_default()),
    }
}

/// What the drift watcher found and did, per Application, since the last reconcile read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriftCounts {
    /// Changes reverted.
    pub corrected: i64,
    /// Changes seen on an Application with `selfHeal: false` (left in place).
    pub ignored: i64,
}

/// Called when a correction happens (for metrics).
pub type OnDrift = Box<dyn Fn(&Owner, &str, bool) + Send + Sync>;

/// Watches applied objects and corrects drift.
pub struct DriftWatcher {
    client: kube::Client,
    desired: Mutex<HashMap<ObjectKey, Desired>>,
    watches: Mutex<HashMap<KindKey, tokio::task::JoinHandle<()>>>,
    // Kinds whose watch has listed every object and is following events: only for those is a
    // missing event proof that nothing changed.
    synced: Mutex<std::collections::HashSet<KindKey>>,
    counts: Mutex<HashMap<Owner, DriftCounts>>,
    // One lock per Application: a correction never interleaves with a reconcile's apply, so it
    // can never put back the previous revision over the new one.
    locks: Mutex<HashMap<Owner, Arc<tokio::sync::Mutex<()>>>>,
    on_drift: OnDrift,
}

impl std::hash::Hash for Owner {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.namespace.hash(state);
    }
}

impl DriftWatcher {
    /// A watcher applying through `applier`.
    pub fn new(client: kube::Client, on_drift: OnDrift) -> Arc<Self> {
        Arc::new(DriftWatcher {
            client,
            desired: Mutex::default(),
            watches: Mutex::default(),
            synced: Mutex::default(),
            counts: Mutex::default(),
            locks: Mutex::default(),
            on_drift,
        })
    }

    /// The lock a reconcile holds while it applies and tracks for `owner`.
    pub fn lock_for(&self, owner: &Owner) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(owner.clone())
            .or_default()
            .clone()
    }

    /// Replaces what `owner` manages with `applied`, and makes sure each kind is watched.
    pub fn track(
        self: &Arc<Self>,
        owner: &Owner,
        self_heal: bool,
        applier: &Arc<Applier>,
        rules: &Arc<ApplyRules>,
        applied: &[Applied],
    ) {
        {
            let mut desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
            let mine: Vec<ObjectKey> = desired
                .iter()
                .filter(|(_, d)| &d.owner == owner)
                .map(|(k, _)| k.clone())
                .collect();
            let mut previous: HashMap<ObjectKey, Desired> = mine
                .into_iter()
                .filter_map(|k| desired.remove(&k).map(|d| (k, d)))
                .collect();
            for a in applied {
                let key = ObjectKey {
                    group: a.resource.group.clone(),
                    kind: a.resource.kind.clone(),
                    namespace: a.namespace.clone().unwrap_or_default(),
                    name: a.name.clone(),
                };
                // Not written this time (unchanged): what was seen of it still holds.
                if a.unchanged
                    && let Some(mut kept) = previous.remove(&key)
                {
                    kept.applier = applier.clone();
                    kept.self_heal = self_heal;
                    desired.insert(key, kept);
                    continue;
                }
                desired.insert(
                    key,
                    Desired {
                        owner: owner.clone(),
                        applier: applier.clone(),
                        self_heal,
                        rules: rules.clone(),
                        resource: a.resource.clone(),
                        namespace: a.namespace.clone(),
                        body: serde_json::to_vec(&a.body)
                            .unwrap_or_default()
                            .into_boxed_slice(),
                        seen: fingerprint(&a.meta),
                        clean: true,
                    },
                );
            }
        }
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        for a in applied {
            let key = KindKey {
                group: a.resource.group.clone(),
                version: a.resource.version.clone(),
                kind: a.resource.kind.clone(),
            };
            if watches.get(&key).is_some_and(|h| !h.is_finished()) {
                continue;
            }
            let this = self.clone();
            let resource = a.resource.clone();
            watches.insert(
                key,
                tokio::spawn(async move { this.watch_kind(resource).await }),
            );
        }
    }

    /// True if writing `body` again for this object would change nothing: pi-agent wrote this
    /// very body last, for the same owner, and the kind's watch (synced) has seen no change by
    /// anyone else since. A re-sync then skips the write (drift is corrected by the watch
    /// itself, or marks the object as not clean when `selfHeal` is off).
    pub fn unchanged(
        &self,
        owner: &Owner,
        resource: &ApiResource,
        namespace: Option<&str>,
        name: &str,
        body: &Value,
    ) -> bool {
        let kind = KindKey {
            group: resource.group.clone(),
            version: resource.version.clone(),
            kind: resource.kind.clone(),
        };
        if !self
            .synced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&kind)
        {
            return false;
        }
        let key = ObjectKey {
            group: kind.group,
            kind: kind.kind,
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        desired.get(&key).is_some_and(|d| {
            d.clean
                && &d.owner == owner
                && d.resource.version == resource.version
                && serde_json::to_vec(body).is_ok_and(|b| *b == *d.body)
        })
    }

    fn set_synced(&self, resource: &ApiResource, synced: bool) {
        let kind = KindKey {
            group: resource.group.clone(),
            version: resource.version.clone(),
            kind: resource.kind.clone(),
        };
        let mut kinds = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if synced {
            kinds.insert(kind);
        } else {
            kinds.remove(&kind);
        }
    }

    fn set_clean(&self, key: &ObjectKey, clean: bool) {
        if let Some(d) = self
            .desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(key)
        {
            d.clean = clean;
        }
    }

    /// Forgets `owner` (its Application was deleted).
    pub fn untrack(&self, owner: &Owner) {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, d| &d.owner != owner);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
    }

    /// Takes the counts gathered for `owner` since the last call.
    pub fn take_counts(&self, owner: &Owner) -> DriftCounts {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner)
            .unwrap_or_default()
    }

    async fn watch_kind(self: Arc<Self>, resource: ApiResource) {
        // `Api<PartialObjectMeta<_>>` makes metadata-only requests: no spec or status in memory.
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), &resource);
        let config = watcher::Config::default().labels(OWNER_NAME_LABEL);
        let mut events = watcher(api, config).default_backoff().boxed();
        debug!(kind = %resource.kind, "drift watch started");
        while let Some(event) = events.next().await {
            match event {
                // Objects listed when the watch (re)starts are checked too: a change made while
                // the watch was not running is drift all the same.
                Ok(watcher::Event::Apply(meta) | watcher::Event::InitApply(meta)) => {
                    self.on_event(&resource, &meta, false).await
                }
                Ok(watcher::Event::Delete(meta)) => self.on_event(&resource, &meta, true).await,
                Ok(watcher::Event::Init) => self.set_synced(&resource, false),
                Ok(watcher::Event::InitDone) => self.set_synced(&resource, true),
                Err(e) => {
                    // Events may be missed until the watch lists again.
                    self.set_synced(&resource, false);
                    debug!(kind = %resource.kind, error = %e, "drift watch error (retrying)")
                }
            }
        }
    }

    async fn on_event(
        &self,
        resource: &ApiResource,
        meta: &PartialObjectMeta<DynamicObject>,
        deleted: bool,
    ) {
        let m = &meta.metadata;
        let key = ObjectKey {
            group: resource.group.clone(),
            kind: resource.kind.clone(),
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
        };
        let owner = match self
            .desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            Some(d) if deleted || d.seen != fingerprint(m) => d.owner.clone(),
            _ => return,
        };
        if !deleted && m.deletion_timestamp.is_some() {
            return;
        }
        let lock = self.lock_for(&owner);
        let _guard = lock.lock().await;
        // Re-read after the lock: a reconcile may have changed what is desired meanwhile.
        let (self_heal, applier, rules, resource, namespace, body) = {
            let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
            let Some(d) = desired.get(&key) else { return };
            (
                d.self_heal,
                d.applier.clone(),
                d.rules.clone(),
                d.resource.clone(),
                d.namespace.clone(),
                d.body.clone(),
            )
        };
        let shown = format!(
            "{} {}{}",
            key.kind,
            namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default(),
            key.name
        );
        if !self_heal {
            self.set_clean(&key, false);
            self.count(&owner, false);
            (self.on_drift)(&owner, &shown, false);
            info!(app = %format!("{}/{}", owner.namespace, owner.name), object = %shown, "drift detected; selfHeal is off, left in place");
            return;
        }
        // Corrected means our apply changed the object: its fingerprint (generation and
        // metadata, or resourceVersion for kinds without a generation) moved. A status write by a
        // controller in between does not count.
        let before = if deleted {
            Fingerprint::Unknown
        } else {
            fingerprint(m)
        };
        let mut body: Value = match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                warn!(object = %shown, error = %e, "desired body unreadable; the next reconcile re-applies");
                return;
            }
        };
        // A change to a field left to another manager is not drift: the body keeps it as the
        // cluster has it (removed, or set to the live value), so the apply leaves it alone.
        if let Err(e) = applier
            .leave_ignored(
                &resource,
                namespace.as_deref(),
                &key.name,
                &mut body,
                &rules.ignore,
            )
            .await
        {
            self.set_clean(&key, false);
            warn!(object = %shown, error = %e, "drift correction failed reading the object; the next reconcile retries");
            return;
        }
        match applier
            .apply_body(&resource, namespace.as_deref(), &key.name, &body, false)
            .await
        {
            Ok(after) if deleted || fingerprint(&after.metadata) != before => {
                self.remember(&key, &after.metadata);
                self.count(&owner, true);
                (self.on_drift)(&owner, &shown, true);
                info!(app = %format!("{}/{}", owner.namespace, owner.name), object = %shown, deleted, "drift corrected");
            }
            Ok(after) => {
                self.remember(&key, &after.metadata);
                debug!(object = %shown, "change by another manager left managed fields intact")
            }
            Err(e) => {
                self.set_clean(&key, false);
                warn!(object = %shown, error = %e, "drift correction failed; the next reconcile retries")
            }
        }
    }

    fn remember(
        &self,
        key: &ObjectKey,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) {
        if let Some(d) = self
            .desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(key)
        {
            d.seen = fingerprint(meta);
            d.clean = true;
        }
    }

    fn count(&self, owner: &Owner, corrected: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = counts.entry(owner.clone()).or_default();
        if corrected {
            c.corrected += 1;
        } else {
            c.ignored += 1;
        }
    }
}

impl Drop for DriftWatcher {
    fn drop(&mut self) {
        for (_, h) in self
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn fingerprints_should_ignore_status_updates_but_not_spec_or_metadata_changes() {
        let mut meta = ObjectMeta {
            generation: Some(3),
            resource_version: Some("10".into()),
            ..Default::default()
        };
        let base = fingerprint(&meta);
        meta.resource_version = Some("11".into());
        assert_eq!(
            fingerprint(&meta),
            base,
            "a status write bumps only the resourceVersion"
        );
        meta.generation = Some(4);
        assert_ne!(
            fingerprint(&meta),
            base,
            "a spec change bumps the generation"
        );
        meta.generation = Some(3);
        meta.labels = Some([("team".to_owned(), "a".to_owned())].into());
        assert_ne!(fingerprint(&meta), base, "a label change is a change");
        let cm = ObjectMeta {
            resource_version: Some("5".into()),
            ..Default::default()
        };
        assert_eq!(fingerprint(&cm), Fingerprint::Version("5".into()));
    }
}
