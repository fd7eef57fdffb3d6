//! Wires the front doors to kube-runtime: one reconcile per Application, triggered by spec and
//! annotation changes, the interval, forced syncs from the HTTP API, drift, and changes to the
//! Secrets, ConfigMaps and trust files it reads. The reconcile itself is the Application's
//! lifecycle (`application.rs`) running the [`crate::pipeline`] over the work its spec
//! describes ([`crate::work::application`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};
use tracing::{Instrument, field, info, info_span, warn};

use crate::api::{Application, SubstituteKind};
use crate::error::Failure;
use crate::work;

mod application;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

pub use crate::context::Context;

/// Reconciles one Application (its lifecycle, then the pipeline), counting it and its failures.
///
/// # Errors
/// The failing stage's error, after it was written to status.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Failure> {
    let span = info_span!("reconcile", app = %format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()), revision = field::Empty);
    async move {
        let key = ObjectRef::from_obj(app.as_ref());
        // Someone waits for it when its `requestedAt` annotation is not handled yet.
        let requested = app.annotations().get(crate::api::REQUESTED_AT_ANNOTATION)
            != app
                .status
                .as_ref()
                .and_then(|s| s.last_handled_reconcile_at.as_ref());
        let slot = ctx.slots.acquire(&key, requested).await;
        let start = Instant::now();
        let result = application::reconcile(&app, &ctx, slot).await;
        let subject = work::application::subject_of(&app);
        crate::report::recorder::reconciled(
            &ctx.metrics,
            &subject,
            start.elapsed(),
            result.as_ref().map(|_| ()),
        );
        let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                failures.remove(&key);
            }
            Err(_) => *failures.entry(key).or_default() += 1,
        }
        result
    }
    .instrument(span)
    .await
}

/// Requeue delay after a failure, by retry class and consecutive failures.
pub fn error_policy(app: Arc<Application>, error: &Failure, ctx: Arc<Context>) -> Action {
    let interval = work::application::interval_or_default(&app);
    let failures = ctx
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&ObjectRef::from_obj(app.as_ref()))
        .copied()
        .unwrap_or(1);
    Action::requeue(error.retry_class().requeue_after(interval, failures))
}

/// A kind of object an Application reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Referenced {
    Secret,
    ConfigMap,
}

/// The names of the Secrets (or ConfigMaps) an Application reads: trust material, the source
/// credentials, the SOPS keys and the substitution variables.
fn referenced(app: &Application, kind: Referenced) -> Vec<&str> {
    let v = &app.spec.verify;
    let keys = [&v.allowed_signers, &v.openpgp_keys].into_iter().flatten();
    let mut names: Vec<&str> = keys
        .filter_map(|k| match kind {
            Referenced::Secret => k.secret_ref.as_ref(),
            Referenced::ConfigMap => k.config_map_ref.as_ref(),
        })
        .map(|r| r.name.as_str())
        .collect();
    if kind == Referenced::Secret {
        names.extend(app.spec.source.secret_ref.as_ref().map(|r| r.name.as_str()));
        names.extend(
            app.spec
                .decryption
                .as_ref()
                .and_then(|d| d.secret_ref.as_ref())
                .map(|r| r.name.as_str()),
        );
    }
    // The variables of post-build substitution.
    let wanted = match kind {
        Referenced::Secret => SubstituteKind::Secret,
        Referenced::ConfigMap => SubstituteKind::ConfigMap,
    };
    names.extend(
        app.spec
            .post_build
            .iter()
            .flat_map(|p| &p.substitute_from)
            .filter(|r| r.kind == wanted)
            .map(|r| r.name.as_str()),
    );
    names
}

/// The Applications of the object's namespace that read it.
fn readers_of<K: Resource>(
    apps: &Store<Application>,
    object: &K,
    kind: Referenced,
) -> Vec<ObjectRef<Application>> {
    let (ns, name) = (
        object.meta().namespace.clone().unwrap_or_default(),
        object.meta().name.clone().unwrap_or_default(),
    );
    apps.state()
        .iter()
        .filter(|a| {
            a.metadata.namespace.as_deref() == Some(ns.as_str())
                && referenced(a, kind).contains(&name.as_str())
        })
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// Handles the HTTP server gets to the controller.
#[derive(Clone)]
pub struct Handles {
    /// The controller's cache of Applications.
    pub store: Store<Application>,
    /// Sends an immediate reconcile.
    pub trigger: futures::channel::mpsc::Sender<ObjectRef<Application>>,
    /// True once the cache is synced.
    pub ready: Arc<AtomicBool>,
    /// The reconcile slots: a forced sync takes the urgent lane.
    pub slots: Arc<crate::context::Slots>,
    /// True when this agent is one shard (`--watch-label-selector`): an Application missing
    /// from its cache may belong to another shard.
    pub sharded: bool,
}

/// Starts the controller over every Application the client may see (or one namespace; reconciles
/// run as the context's slots allow); returns the handles for the HTTP server and the future that runs the controller until `shutdown`.
pub fn start(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    selector: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> (Handles, impl std::future::Future<Output = ()>) {
    let api: Api<Application> = match namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    // Status writes change neither the generation nor the annotations: filtering on both keeps
    // our own status updates from triggering reconciles, while spec edits and the
    // `requestedAt` annotation still do.
    let mut config = watcher::Config::default().any_semantic();
    if let Some(selector) = selector {
        // A shard: the other shards' Applications are not even in this cache.
        config = config.labels(selector);
    }
    let stream = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            // Not the finalizers: adding ours would start a second full reconcile.
            predicates::generation
                .combine(predicates::annotations)
                .combine(|app: &Application| app.metadata.deletion_timestamp.as_ref().map(|_| 1)),
            Default::default(),
        );
    let (trigger, triggers) = futures::channel::mpsc::channel(1024);
    *ctx.trigger.lock().unwrap_or_else(|p| p.into_inner()) = Some(trigger.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let handles = Handles {
        store: reader.clone(),
        trigger,
        ready: ready.clone(),
        slots: ctx.slots.clone(),
        sharded: selector.is_some(),
    };
    // Trust material and credentials are read at every reconcile; a change to a Secret or
    // ConfigMap an Application reads triggers that reconcile at once (metadata-only watches).
    let (secrets, config_maps) = match namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let secret_events = watcher::<PartialObjectMeta<Secret>>(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let config_map_events =
        watcher::<PartialObjectMeta<ConfigMap>>(config_maps, watcher::Config::default())
            .default_backoff()
            .touched_objects();
    let (apps_s, apps_c) = (reader.clone(), reader.clone());
    let trust_changes = watch_trust_files(ctx.clone(), reader.clone());
    let controller = kube::runtime::Controller::for_stream(stream, reader.clone())
        .watches_stream(secret_events, move |s| {
            readers_of(&apps_s, &s, Referenced::Secret)
        })
        .watches_stream(config_map_events, move |c| {
            readers_of(&apps_c, &c, Referenced::ConfigMap)
        })
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    let run = async move {
        let wait_ready = async move {
            if reader.wait_until_ready().await.is_ok() {
                ready.store(true, Ordering::SeqCst);
                info!("cache synced; ready");
            }
        };
        futures::join!(controller, wait_ready, trust_changes);
    };
    (handles, run)
}

/// Reconciles the Applications that use the region's trust files whenever the files change.
async fn watch_trust_files(ctx: Arc<Context>, apps: reflector::Store<Application>) {
    if ctx.trust_files.is_empty() {
        return;
    }
    let (_watcher, mut changes) = match ctx.trust_files.watch(Duration::from_millis(200)) {
        Ok(w) => w,
        Err(e) => {
            // Reconciles still read the files every time; only the immediate reaction is lost.
            warn!(error = %e, "trust files are not watched; changes apply at the next reconcile");
            return;
        }
    };
    while changes.recv().await.is_some() {
        let trigger = ctx
            .trigger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(mut trigger) = trigger else {
            continue;
        };
        let users: Vec<_> = apps
            .state()
            .into_iter()
            .filter(|a| {
                a.spec.verify.allowed_signers.is_none() && a.spec.verify.openpgp_keys.is_none()
            })
            .collect();
        info!(applications = users.len(), "trust files changed");
        for app in users {
            let _ = trigger.try_send(ObjectRef::from_obj(&*app));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn referenced_objects_should_cover_trust_material_and_credentials() {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"source": {"url": "https://x/y.git", "secretRef": {"name": "creds"}},
                     "verify": {"allowedSigners": {"secretRef": {"name": "signers", "key": "k"}},
                                "openpgpKeys": {"configMapRef": {"name": "keys", "key": "k"}}},
                     "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}},
                     "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                                                      {"kind": "Secret", "name": "secret-vars"}]}}
        }))
        .unwrap();
        assert_eq!(
            referenced(&app, Referenced::Secret),
            ["signers", "creds", "sops-keys", "secret-vars"]
        );
        assert_eq!(referenced(&app, Referenced::ConfigMap), ["keys", "vars"]);
    }
}
