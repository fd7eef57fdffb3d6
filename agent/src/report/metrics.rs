//! Prometheus metrics, exposed on `/metrics` in the text format.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-Application series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    /// Namespace of the Application.
    pub namespace: String,
    /// Name of the Application.
    pub name: String,
}

/// Labels of reconcile outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Namespace of the Application.
    pub namespace: String,
    /// Name of the Application.
    pub name: String,
    /// `success` or the failing stage's status reason.
    pub result: String,
}

/// Labels of HTTP API requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The endpoint (`sync`).
    pub endpoint: String,
    /// The HTTP status code returned.
    pub code: String,
}

/// Labels of webhook requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `gitlab`, `github` or `generic`.
    pub receiver: String,
    /// `triggered`, `no_match`, `ping`, `ignored`, `duplicate`, `unauthorized`, `bad_request`,
    /// `too_large`, `rate_limited`, `unavailable`.
    pub result: String,
}

/// Labels of outgoing reports.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReportLabels {
    /// `event` (Kubernetes Event), `console`, `gitlab` or `github`.
    pub kind: String,
    /// `delivered`, `retried` (a failed attempt, to be retried), `rejected` (a 4xx answer: not
    /// retried), `failed` (an Event the API server refused).
    pub result: String,
}

/// The label of per-stage metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// The stage (`fetch`, `verify`, `render`, `admit`, `plan`, `apply`, `prune`, `assess`…).
    pub stage: String,
}

/// Build information.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: String,
}

/// Every metric pi-agent exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// `pi_agent_reconcile_total{namespace,name,result}`.
    pub reconciles: Family<OutcomeLabels, Counter>,
    /// `pi_agent_reconcile_duration_seconds{namespace,name}`.
    pub reconcile_duration: Family<AppLabels, Histogram>,
    /// `pi_agent_fetch_duration_seconds{namespace,name}`.
    pub fetch_duration: Family<AppLabels, Histogram>,
    /// `pi_agent_stage_duration_seconds{stage}`: how long each stage of the pipeline takes,
    /// over every Application (a slow stage shows at scale without a series per Application).
    pub stage_duration: Family<StageLabels, Histogram>,
    /// `pi_agent_applied_objects{namespace,name}`: inventory size after the last success.
    pub applied_objects: Family<AppLabels, Gauge>,
    /// `pi_agent_api_requests_total{endpoint,code}`.
    pub api_requests: Family<RequestLabels, Counter>,
    /// `pi_agent_drift_total{namespace,name,result}`: changes by other managers, `corrected` or
    /// `ignored` (selfHeal off).
    pub drift: Family<OutcomeLabels, Counter>,
    /// `pi_agent_signature_verifications_total{namespace,name,result}`: `verified`, `refused`,
    /// `disabled`.
    pub verifications: Family<OutcomeLabels, Counter>,
    /// `pi_agent_image_verifications_total{namespace,name,result}`: images `verified` (per
    /// distinct image of a revision) or revisions `refused` (one per refusal).
    pub image_verifications: Family<OutcomeLabels, Counter>,
    /// `pi_agent_pruned_objects_total{namespace,name}`.
    pub pruned_objects: Family<AppLabels, Counter>,
    /// `pi_agent_leader`: 1 while this replica runs the controller (the leader, or the only
    /// replica without leader election), 0 otherwise.
    pub leader: Gauge,
    /// `pi_agent_webhook_requests_total{receiver,result}`.
    pub webhook_requests: Family<WebhookLabels, Counter>,
    /// `pi_agent_reports_total{kind,result}`: Events, console events and commit statuses.
    pub reports: Family<ReportLabels, Counter>,
    /// `pi_agent_outbox_depth`: reports waiting for delivery.
    pub outbox_depth: Gauge,
    /// `pi_agent_outbox_dropped_total`: reports dropped because the outbox was full (the oldest
    /// goes first).
    pub outbox_dropped: Counter,
    /// `pi_agent_bluegreen_switches_total{namespace,name,result}` and
    /// `pi_agent_bluegreen_switch_duration_seconds`.
    pub bluegreen: crate::bluegreen::Metrics,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ])
}

// Stages are often fast (a cached render, a no-op dry run): finer buckets at the bottom.
fn stage_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pi_agent");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciles by outcome (success or the failing stage reason)",
            reconciles.clone(),
        );
        let reconcile_duration = Family::<AppLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            reconcile_duration.clone(),
        );
        let fetch_duration = Family::<AppLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "fetch_duration_seconds",
            "Duration of source fetches",
            fetch_duration.clone(),
        );
        let stage_duration = Family::<StageLabels, Histogram>::new_with_constructor(
            stage_histogram as fn() -> Histogram,
        );
        registry.register(
            "stage_duration_seconds",
            "Duration of each stage of the reconcile pipeline, over every Application",
            stage_duration.clone(),
        );
        let applied_objects = Family::<AppLabels, Gauge>::default();
        registry.register(
            "applied_objects",
            "Objects in the inventory of the last applied revision",
            applied_objects.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "Requests to the HTTP API by endpoint and status code",
            api_requests.clone(),
        );
        let drift = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "drift",
            "Changes to managed objects by other field managers, corrected or ignored",
            drift.clone(),
        );
        let verifications = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "signature_verifications",
            "Source revisions verified, refused, or not verified (mode None)",
            verifications.clone(),
        );
        let image_verifications = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "image_verifications",
            "Container images verified (per distinct image) and revisions refused for an image",
            image_verifications.clone(),
        );
        let pruned_objects = Family::<AppLabels, Counter>::default();
        registry.register(
            "pruned_objects",
            "Objects deleted because they left Git",
            pruned_objects.clone(),
        );
        let webhook_requests = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhook_requests",
            "Push webhook requests by receiver and result",
            webhook_requests.clone(),
        );
        let reports = Family::<ReportLabels, Counter>::default();
        registry.register(
            "reports",
            "Outgoing reports (Events, console events, commit statuses) by kind and result",
            reports.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_depth",
            "Reports waiting in the outbox for delivery",
            outbox_depth.clone(),
        );
        let outbox_dropped = Counter::default();
        registry.register(
            "outbox_dropped",
            "Reports dropped because the outbox was full (oldest first)",
            outbox_dropped.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "Build information (always 1)", build);
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica runs the controller (holds the leader lease), else 0",
            leader.clone(),
        );
        let bluegreen = crate::bluegreen::Metrics::register(&mut registry);
        Metrics {
            registry: Mutex::new(registry),
            reconciles,
            reconcile_duration,
            fetch_duration,
            stage_duration,
            applied_objects,
            api_requests,
            drift,
            verifications,
            image_verifications,
            pruned_objects,
            leader,
            webhook_requests,
            reports,
            outbox_depth,
            outbox_dropped,
            bluegreen,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.push_str("# error: metrics encoding failed\n");
        }
        out
    }

    /// Forget an Application's series (it was deleted).
    pub fn forget(&self, namespace: &str, name: &str) {
        let app = AppLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.reconcile_duration.remove(&app);
        self.fetch_duration.remove(&app);
        self.applied_objects.remove(&app);
        self.pruned_objects.remove(&app);
        self.bluegreen.forget(namespace, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_should_expose_documented_names() {
        let m = Metrics::default();
        let app = AppLabels {
            namespace: "a".into(),
            name: "b".into(),
        };
        m.reconciles
            .get_or_create(&OutcomeLabels {
                namespace: "a".into(),
                name: "b".into(),
                result: "success".into(),
            })
            .inc();
        m.reconcile_duration.get_or_create(&app).observe(0.2);
        m.applied_objects.get_or_create(&app).set(3);
        m.stage_duration
            .get_or_create(&StageLabels {
                stage: "render".into(),
            })
            .observe(0.002);
        m.image_verifications
            .get_or_create(&OutcomeLabels {
                namespace: "a".into(),
                name: "b".into(),
                result: "refused".into(),
            })
            .inc();
        m.webhook_requests
            .get_or_create(&WebhookLabels {
                receiver: "gitlab".into(),
                result: "triggered".into(),
            })
            .inc();
        let text = m.encode();
        for name in [
            "pi_agent_reconcile_total{namespace=\"a\",name=\"b\",result=\"success\"} 1",
            "pi_agent_reconcile_duration_seconds_bucket",
            "pi_agent_applied_objects{namespace=\"a\",name=\"b\"} 3",
            "pi_agent_build_info{version=",
            "pi_agent_stage_duration_seconds_bucket{le=\"0.005\",stage=\"render\"} 1",
            "pi_agent_outbox_depth 0",
            "pi_agent_outbox_dropped_total 0",
            "pi_agent_image_verifications_total{namespace=\"a\",name=\"b\",result=\"refused\"} 1",
            "pi_agent_webhook_requests_total{receiver=\"gitlab\",result=\"triggered\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        m.forget("a", "b");
        assert!(!m.encode().contains("pi_agent_applied_objects{"));
    }
}
