//! Reports each reconcile outcome — a Kubernetes Event on the Application, a console event
//! (per Application and agent-wide), a commit status — once per distinct outcome.
//!
//! The controller calls [`Reporter::outcome`] with the status it just wrote; everything else
//! happens on a background task, in order, so a reconcile never waits for a report.
//!
//! # Guarantees
//! - Deduplicated: an outcome with the same `Ready` status, reason, message and revision as the
//!   last one reported for that Application is not reported again (interval re-syncs and
//!   retries of the same failure stay quiet). The memory of the last outcome is per process: a
//!   restarted agent reports the current outcome once more.
//! - No secret in a payload: tokens and HMAC keys only go into headers or signatures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::api::{ApplicationStatus, CommitStatusProvider};
use crate::report::Metrics;
use crate::report::conditions::truncate;
use crate::report::metrics::ReportLabels;
use crate::report::outbox::{Delivery, Outbox, OutboxConfig};
use crate::report::payload::{self, CommitStatus, Outcome, REPORTING_CONTROLLER};
pub use crate::report::subject::{Reported, Subject};

/// Annotation carrying the revision on each Event (as Flux's `…/revision`).
pub const REVISION_ANNOTATION: &str = "gitops.pi-agent.io/revision";
/// The Event action of every outcome.
pub const EVENT_ACTION: &str = "Reconcile";

/// Agent-wide reporting settings.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    /// The region name, in console metadata and commit status contexts (`--region`).
    pub region: String,
    /// This agent instance (pod name), `reportingInstance`.
    pub instance: String,
    /// Agent-wide console (`--report-url`): every Application's outcomes go there.
    pub console_url: Option<String>,
    /// File holding the HMAC key of the agent-wide console (`--report-hmac-key-file`), read at
    /// each report so a rotated Secret applies at once.
    pub console_key_file: Option<PathBuf>,
    /// Kubernetes Events on/off.
    pub events: bool,
    /// The outbox.
    pub outbox: OutboxConfig,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            region: "default".into(),
            instance: default_instance(),
            console_url: None,
            console_key_file: None,
            events: true,
            outbox: OutboxConfig::default(),
        }
    }
}

/// `POD_NAME`, else `HOSTNAME`, else `pi-agent`.
pub fn default_instance() -> String {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| REPORTING_CONTROLLER.to_owned())
}

type Job = (Arc<Reported>, Outcome);

/// Reports outcomes; shared by every reconcile.
pub struct Reporter {
    client: kube::Client,
    config: ReportConfig,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    last: Mutex<HashMap<(String, String), Outcome>>,
    jobs: mpsc::Sender<Job>,
    // Taken by the first outcome, which starts the background tasks on the runtime.
    pending: Mutex<Option<mpsc::Receiver<Job>>>,
}

/// True when `next` differs from what was reported last (and remembers it).
pub fn is_new(
    last: &mut HashMap<(String, String), Outcome>,
    key: (String, String),
    next: &Outcome,
) -> bool {
    if last.get(&key) == Some(next) {
        return false;
    }
    last.insert(key, next.clone());
    true
}

/// Least room for outcomes waiting to become reports.
const JOB_QUEUE: usize = 1024;

impl Reporter {
    /// A reporter; its background tasks start with the first outcome.
    pub fn new(client: kube::Client, config: ReportConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        // Outcomes wait here while their reports are built (an Event write each): a burst must
        // not be lost before it reaches the outbox, whose own bound is what drops reports.
        let (jobs, rx) = mpsc::channel(config.outbox.capacity.max(JOB_QUEUE));
        let outbox = Outbox::new(config.outbox.clone(), metrics.clone());
        Arc::new(Reporter {
            client,
            config,
            outbox,
            metrics,
            last: Mutex::default(),
            jobs,
            pending: Mutex::new(Some(rx)),
        })
    }

    /// The outbox (for tests and metrics).
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Reports that a verified revision is being applied: commit status `running` (GitHub
    /// `pending`); no Event or console event (it is not an outcome). Never waits.
    pub fn progress(self: &Arc<Self>, app: &Reported, revision: &str) {
        self.send(
            app,
            Outcome {
                ready: false,
                reason: crate::report::conditions::reason::PROGRESSING.to_owned(),
                message: format!("Applying revision {revision}"),
                revision: Some(revision.to_owned()),
            },
        );
    }

    /// Reports the outcome `status` describes, unless it is the one reported last. Never waits:
    /// the report is built and sent in the background.
    pub fn outcome(self: &Arc<Self>, app: &Reported, status: &ApplicationStatus) {
        let Some(outcome) = Outcome::from_status(status) else {
            return;
        };
        self.send(app, outcome);
    }

    fn send(self: &Arc<Self>, app: &Reported, outcome: Outcome) {
        let key = (app.subject.namespace.clone(), app.subject.name.clone());
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if !is_new(&mut last, key, &outcome) {
                return;
            }
        }
        self.start();
        if self
            .jobs
            .try_send((Arc::new(app.clone()), outcome))
            .is_err()
        {
            self.metrics.outbox_dropped.inc();
            warn!("report queue full: an outcome was not reported");
        }
    }

    fn start(self: &Arc<Self>) {
        let Some(mut rx) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        rt.spawn(self.outbox.clone().run(client));
        let me = self.clone();
        rt.spawn(async move {
            while let Some((app, outcome)) = rx.recv().await {
                me.report(&app, &outcome).await;
            }
        });
    }

    fn count(&self, kind: &str, result: &str) {
        self.metrics
            .reports
            .get_or_create(&ReportLabels {
                kind: kind.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    async fn report(&self, app: &Reported, outcome: &Outcome) {
        let now = k8s_openapi::jiff::Timestamp::now();
        // A revision being applied is not an outcome: only the commit status shows it.
        let outcome_only = !outcome.in_progress();
        if self.config.events && outcome_only {
            match self.event(app, outcome, now).await {
                Ok(()) => self.count("event", "delivered"),
                Err(e) => {
                    self.count("event", "failed");
                    warn!(error = %e, "could not record the Event");
                }
            }
        }
        let timestamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let event = payload::console_event(
            &app.subject,
            outcome,
            &self.config.region,
            &self.config.instance,
            &timestamp,
        );
        if let Some(url) = self.config.console_url.as_ref().filter(|_| outcome_only) {
            let key = self.config.console_key_file.as_ref().and_then(|f| {
                crate::secrets::read_secret_file(f)
                    .inspect_err(|e| warn!(file = %f.display(), error = %e, "cannot read the console HMAC key; sending unsigned"))
                    .ok()
            });
            self.enqueue(
                "console",
                payload::console_request(url, &event, key.as_deref()),
            );
        }
        let Some(report) = &app.report else {
            return;
        };
        if let Some(console) = report.console.as_ref().filter(|_| outcome_only) {
            let key = match &console.secret_ref {
                None => Ok(None),
                Some(r) => self.secret_key(app, &r.name, "hmacKey").await.map(Some),
            };
            match key {
                Ok(key) => self.enqueue(
                    "console",
                    payload::console_request(&console.url, &event, key.as_deref()),
                ),
                Err(e) => {
                    self.count("console", "failed");
                    warn!("`spec.report.console`: {e}; not reported");
                }
            }
        }
        if let Some(cs) = &report.commit_status {
            let Some(sha) = outcome.commit() else {
                debug!(reason = %outcome.reason, "no commit to report a status on");
                return;
            };
            let kind = match cs.provider {
                CommitStatusProvider::Gitlab => "gitlab",
                CommitStatusProvider::Github => "github",
            };
            let token = match self.secret_key(app, &cs.secret_ref.name, "token").await {
                Ok(t) => String::from_utf8_lossy(&t).into_owned(),
                Err(e) => {
                    self.count(kind, "failed");
                    warn!("`spec.report.commitStatus`: {e}; not reported");
                    return;
                }
            };
            let status = CommitStatus {
                state: outcome.state(),
                sha,
                reference: outcome.reference(),
                context: payload::status_context(
                    &self.config.region,
                    &app.subject.namespace,
                    &app.subject.name,
                ),
                description: &outcome.message,
            };
            match payload::commit_status_request(
                cs.provider,
                cs.url.as_deref(),
                &cs.project,
                &token,
                &status,
            ) {
                Ok(request) => self.enqueue(kind, request),
                Err(e) => {
                    self.count(kind, "failed");
                    warn!("{e}; not reported");
                }
            }
        }
    }

    fn enqueue(&self, kind: &'static str, request: payload::Request) {
        self.outbox.enqueue(Delivery { kind, request });
    }

    /// One key of a Secret of the resource's namespace, trimmed.
    async fn secret_key(&self, app: &Reported, name: &str, key: &str) -> Result<Vec<u8>, String> {
        crate::secrets::secret_key(&self.client, &app.subject.namespace, name, key).await
    }

    async fn event(
        &self,
        app: &Reported,
        outcome: &Outcome,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<(), kube::Error> {
        let ev = event_for(&app.subject, outcome, &self.config.instance, now);
        let api: Api<Event> = Api::namespaced(self.client.clone(), &app.subject.namespace);
        api.create(&PostParams::default(), &ev).await.map(|_| ())
    }
}

/// The `events.k8s.io/v1` Event of an outcome: `Normal` on success, `Warning` on failure,
/// reason and note as the `Ready` condition, the revision as an annotation.
pub fn event_for(
    app: &Subject,
    outcome: &Outcome,
    instance: &str,
    now: k8s_openapi::jiff::Timestamp,
) -> Event {
    let name = &app.name;
    let annotations = outcome
        .revision
        .as_ref()
        .map(|r| [(REVISION_ANNOTATION.to_owned(), r.clone())].into());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(app.namespace.clone()),
            annotations,
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some(EVENT_ACTION.to_owned()),
        reason: Some(truncate(&outcome.reason, 120)),
        note: Some(truncate(&outcome.message, 1000)),
        regarding: Some(app.object_ref()),
        reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
        reporting_instance: Some(truncate(instance, 120)),
        type_: Some(
            if outcome.ready || outcome.in_progress() {
                "Normal"
            } else {
                "Warning"
            }
            .to_owned(),
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(ready: bool, message: &str, rev: &str) -> Outcome {
        Outcome {
            ready,
            reason: if ready {
                "ReconciliationSucceeded"
            } else {
                "RenderFailed"
            }
            .into(),
            message: message.into(),
            revision: Some(rev.into()),
        }
    }

    #[test]
    fn the_same_outcome_should_be_reported_once() {
        let mut last = HashMap::new();
        let k = || ("ns".to_owned(), "web".to_owned());
        let a = outcome(true, "Applied revision: main@sha1:a", "main@sha1:a");
        assert!(is_new(&mut last, k(), &a));
        assert!(!is_new(&mut last, k(), &a));
        let failed = outcome(false, "bad yaml", "main@sha1:b");
        assert!(is_new(&mut last, k(), &failed));
        assert!(!is_new(&mut last, k(), &failed));
        // Same message on another revision is news.
        assert!(is_new(
            &mut last,
            k(),
            &outcome(false, "bad yaml", "main@sha1:c")
        ));
        // Back to the first outcome: reported again.
        assert!(is_new(&mut last, k(), &a));
        assert!(is_new(&mut last, ("other".into(), "web".into()), &a));
    }

    #[test]
    fn events_should_carry_the_ready_reason_message_and_revision() {
        let app: crate::api::Application = serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1"},
            "spec": {"source": {"url": "https://x/y.git"}}
        }))
        .unwrap();
        let app = crate::work::application::subject_of(&app);
        let now: k8s_openapi::jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let e = event_for(
            &app,
            &outcome(false, "bad yaml", "main@sha1:b"),
            "pod-0",
            now,
        );
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reason.as_deref(), Some("RenderFailed"));
        assert_eq!(e.note.as_deref(), Some("bad yaml"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("team-a"));
        assert!(e.metadata.name.unwrap().starts_with("web."));
        assert_eq!(
            e.metadata.annotations.unwrap()[REVISION_ANNOTATION],
            "main@sha1:b"
        );
        let r = e.regarding.unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.uid.as_deref()),
            (Some("Application"), Some("u-1"))
        );
        let ok = event_for(&app, &outcome(true, "Applied", "main@sha1:a"), "pod-0", now);
        assert_eq!(ok.type_.as_deref(), Some("Normal"));
        let long = "x".repeat(5000);
        let e = event_for(&app, &outcome(false, &long, "r"), "pod-0", now);
        assert!(e.note.unwrap().len() <= 1024);
    }
}
