//! What every reconcile shares: the cluster client, the fetcher, the appliers, the drift
//! watcher, the image verifier, the reporter and the metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::ObjectRef;

use crate::api::Application;
use crate::apply::{Applier, DriftWatcher, Owner, RulesCache};
use crate::report::Metrics;
use crate::report::metrics::OutcomeLabels;
use crate::source::{Fetcher, TrustFiles};

/// Sends an immediate reconcile of one Application.
pub type Trigger = futures::channel::mpsc::Sender<ObjectRef<Application>>;

/// Default of `--concurrent`: enough to keep the API server and the health waits busy on a
/// region of a thousand Applications, few enough to bound the memory of renders in flight.
pub const DEFAULT_CONCURRENT: u16 = 64;

/// What every reconcile shares.
pub struct Context {
    /// The cluster.
    pub client: kube::Client,
    /// Repositories.
    pub fetcher: Fetcher,
    /// Server-side apply with the agent's own identity.
    pub applier: Arc<Applier>,
    // Appliers impersonating ServiceAccounts, by user name.
    impersonating: Mutex<HashMap<String, Arc<Applier>>>,
    config: kube::Config,
    /// Drift correction.
    pub drift: Arc<DriftWatcher>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The region's default trust files, for Applications that name no trust material.
    pub trust_files: TrustFiles,
    /// Image verification (one verdict cache for every Application).
    pub images: Arc<provenance::Verifier>,
    /// The compiled health checks and ignore rules of each Application, per generation.
    pub rules: RulesCache,
    /// The region's age key file (`--sops-age-key-file`, a mounted Secret), for Applications
    /// whose `spec.decryption` names no Secret; read at each use.
    pub sops_age_key_file: Option<std::path::PathBuf>,
    /// Events, console and commit-status reports of each outcome.
    pub reporter: Arc<crate::report::Reporter>,
    /// Consecutive failures per Application, for the error policy's backoff.
    pub(crate) failures: Mutex<HashMap<ObjectRef<Application>, u32>>,
    // Set by the controller when it starts: lets the drift watcher ask for a reconcile, which
    // records the correction in status.
    pub(crate) trigger: Arc<Mutex<Option<Trigger>>>,
    /// The resourceVersion of each Application after pi-agent's last write to it.
    pub written: Arc<Written>,
    /// The reconciles that may run at once (`--concurrent`), with a lane for forced syncs.
    pub slots: Arc<Slots>,
}

/// Reconciles running at once: `--concurrent` for the queue, plus a separate lane for
/// Applications someone is waiting for (a forced sync, a push webhook, a `requestedAt`
/// annotation not handled yet), so that with a thousand Applications queued, the one asked for
/// starts at once instead of behind the others. A reconcile gives its slot back before its final
/// health wait: a slow workload never holds a slot others need.
pub struct Slots {
    queue: Arc<tokio::sync::Semaphore>,
    urgent_lane: Arc<tokio::sync::Semaphore>,
    asked: Mutex<std::collections::HashSet<ObjectRef<Application>>>,
    // Wakes the reconciles waiting in the queue when one of them is asked for.
    asked_changed: tokio::sync::Notify,
}

/// A slot held by one reconcile; dropped (or [`Slot::release`]d) to give it back.
pub struct Slot(Option<tokio::sync::OwnedSemaphorePermit>);

impl Slot {
    /// Gives the slot back now (before a long wait that needs no CPU).
    pub fn release(&mut self) {
        self.0 = None;
    }
}

impl Slots {
    /// `concurrent` slots for the queue (at least one) and a quarter of that (1 to 16) for
    /// Applications asked for.
    pub fn new(concurrent: usize) -> Self {
        let concurrent = concurrent.max(1);
        Slots {
            queue: Arc::new(tokio::sync::Semaphore::new(concurrent)),
            urgent_lane: Arc::new(tokio::sync::Semaphore::new((concurrent / 4).clamp(1, 16))),
            asked: Mutex::default(),
            asked_changed: tokio::sync::Notify::new(),
        }
    }

    /// Marks `key` as asked for: its next reconcile takes the urgent lane.
    pub fn ask(&self, key: ObjectRef<Application>) {
        self.asked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        self.asked_changed.notify_waiters();
    }

    /// Waits for a slot for `key`: the urgent lane if it was asked for (or `requested` says
    /// so), else the queue — and moves to the urgent lane if it is asked for while it waits
    /// in the queue (a forced sync of an Application queued behind a thousand others).
    pub async fn acquire(&self, key: &ObjectRef<Application>, requested: bool) -> Slot {
        loop {
            // Registered before the check, so an `ask` between the two is not missed.
            let notified = self.asked_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let asked = self
                .asked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            if asked || requested {
                // The semaphores are never closed.
                return Slot(self.urgent_lane.clone().acquire_owned().await.ok());
            }
            tokio::select! {
                permit = self.queue.clone().acquire_owned() => return Slot(permit.ok()),
                () = &mut notified => {}
            }
        }
    }
}

/// The resourceVersion each Application had after this process last wrote it (its finalizer or
/// its status), so that a reconcile can tell whether the cached object already holds that write
/// and skip reading it again.
#[derive(Default)]
pub struct Written(Mutex<HashMap<(String, String), Option<String>>>);

impl Written {
    /// Notes the outcome of a write: the version it produced, or `None` when it failed (it may
    /// still have happened: the object must then be read before it is trusted).
    pub fn note(&self, namespace: &str, name: &str, version: Option<String>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((namespace.to_owned(), name.to_owned()), version);
    }

    /// True if a cached object at `version` holds every write this process made to it (it made
    /// none, or the last one produced exactly this version).
    pub fn is_current(&self, namespace: &str, name: &str, version: Option<&str>) -> bool {
        match self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(namespace.to_owned(), name.to_owned()))
        {
            None => true,
            Some(written) => written.is_some() && written.as_deref() == version,
        }
    }

    /// Forgets a deleted Application.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(namespace.to_owned(), name.to_owned()));
    }
}

impl Context {
    /// A context over a client.
    ///
    /// # Errors
    /// When no client can be built from `config`.
    pub fn new(
        config: kube::Config,
        fetcher: Fetcher,
        metrics: Arc<Metrics>,
    ) -> Result<Self, kube::Error> {
        let client = kube::Client::try_from(config.clone())?;
        let applier = Arc::new(Applier::new(client.clone()));
        let m = metrics.clone();
        let trigger: Arc<Mutex<Option<Trigger>>> = Arc::default();
        let t = trigger.clone();
        let on_drift = Box::new(move |owner: &Owner, _object: &str, corrected: bool| {
            let labels = OutcomeLabels {
                namespace: owner.namespace.clone(),
                name: owner.name.clone(),
                result: if corrected { "corrected" } else { "ignored" }.to_owned(),
            };
            m.drift.get_or_create(&labels).inc();
            // A correction is recorded in status by a reconcile; with selfHeal off, no reconcile
            // is asked for (it would re-apply, which is the correction the user turned off).
            if !corrected {
                return;
            }
            if let Some(tx) = t.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                let _ = tx.try_send(ObjectRef::new(&owner.name).within(&owner.namespace));
            }
        });
        let drift = DriftWatcher::new(client.clone(), on_drift);
        Ok(Context {
            trust_files: TrustFiles::default(),
            images: Arc::new(provenance::Verifier::new(Default::default())),
            reporter: crate::report::Reporter::new(
                client.clone(),
                Default::default(),
                metrics.clone(),
            ),
            applier,
            rules: RulesCache::default(),
            sops_age_key_file: None,
            impersonating: Default::default(),
            config,
            drift,
            client,
            fetcher,
            metrics,
            failures: Default::default(),
            trigger,
            written: Default::default(),
            slots: Arc::new(Slots::new(usize::from(DEFAULT_CONCURRENT))),
        })
    }

    /// The applier for a ServiceAccount of `namespace` (impersonation), or the agent's own.
    ///
    /// # Errors
    /// When the impersonating client cannot be built: the message names the user.
    pub fn applier_for(
        &self,
        namespace: &str,
        service_account: Option<&str>,
    ) -> Result<Arc<Applier>, String> {
        let Some(sa) = service_account else {
            return Ok(self.applier.clone());
        };
        let user = format!("system:serviceaccount:{namespace}:{sa}");
        let mut cache = self.impersonating.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = cache.get(&user) {
            return Ok(a.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_groups = None;
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("cannot impersonate `{user}`: {e}"))?;
        let applier = Arc::new(Applier::new(client));
        cache.insert(user, applier.clone());
        Ok(applier)
    }

    /// Sets the number of reconciles that may run at once (`--concurrent`).
    pub fn with_concurrency(mut self, concurrent: usize) -> Self {
        self.slots = Arc::new(Slots::new(concurrent));
        self
    }

    /// Asks for an immediate reconcile of an Application (drift, trust changes). Returns false
    /// when the controller has not started or its queue is full.
    pub fn request_reconcile(&self, key: ObjectRef<Application>) -> bool {
        match self
            .trigger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(tx) => tx.try_send(key).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Slots, Written};
    use kube::runtime::reflector::ObjectRef;

    #[tokio::test]
    async fn an_application_asked_for_should_not_wait_behind_the_queue() {
        let slots = Slots::new(2);
        let key = |n: &str| ObjectRef::new(n).within("ns");
        let _a = slots.acquire(&key("a"), false).await;
        let mut b = slots.acquire(&key("b"), false).await;
        // The queue is full: a third waits…
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            slots.acquire(&key("c"), false),
        )
        .await;
        assert!(waiting.is_err(), "the queue has two slots");
        // …but one asked for (forced sync, webhook) or annotated takes the lane.
        slots.ask(key("d"));
        let _d = slots.acquire(&key("d"), false).await;
        drop(_d);
        let _e = slots.acquire(&key("e"), true).await;
        // Asking is used once.
        slots.ask(key("f"));
        drop(_e);
        let _f = slots.acquire(&key("f"), false).await;
        // One already waiting in the queue moves to the lane when it is asked for.
        let one = std::sync::Arc::new(Slots::new(1));
        let _held = one.acquire(&key("x"), false).await;
        let waiter = {
            let one = one.clone();
            tokio::spawn(async move { one.acquire(&ObjectRef::new("y").within("ns"), false).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        one.ask(key("y"));
        tokio::time::timeout(std::time::Duration::from_millis(500), waiter)
            .await
            .expect("moved to the urgent lane")
            .expect("task");
        // A released slot is free at once.
        b.release();
        let _g = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            slots.acquire(&key("g"), false),
        )
        .await
        .expect("a released slot");
    }

    #[test]
    fn a_cached_object_should_be_current_only_if_it_holds_our_last_write() {
        let w = Written::default();
        // Never written by this process: the cache (listed at start) is as good as a read.
        assert!(w.is_current("n", "a", Some("10")));
        w.note("n", "a", Some("12".into()));
        assert!(!w.is_current("n", "a", Some("10")), "cache lags our write");
        assert!(w.is_current("n", "a", Some("12")));
        assert!(
            !w.is_current("n", "a", Some("13")),
            "written since by someone else"
        );
        // A failed write may have happened: read the object.
        w.note("n", "a", None);
        assert!(!w.is_current("n", "a", Some("12")));
        w.forget("n", "a");
        assert!(w.is_current("n", "a", Some("12")));
        assert!(w.is_current("n", "b", None));
    }
}
