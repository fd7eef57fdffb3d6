//! Blue-green switching of Deployments that opt in with annotations (the names of Argo Rollouts'
//! `blueGreen` strategy), between the image stage and apply.
//!
//! A Deployment `web` annotated `bluegreen.pi-agent.io/active-service: web` is never applied as
//! such: it becomes *version* Deployments `web-<rev>`, one per pod template (`rev`: 10 hex of the
//! sha256 of the canonical selector and pod template), labelled with their revision. The active
//! Service selects the live version's revision; a new version is brought up beside it, must be
//! fully Available (and pass the pre-promotion Job) before the active Service's selector switches
//! in one write; the old version is kept for the scale-down delay, then pruned.
//!
//! Where to start: [`workloads`] finds the opted-in Deployments of a render, [`live::read`] reads
//! what the cluster holds for one, [`plan`] (pure) rewrites the render and says in which phase
//! each switch is. All switch state lives in the cluster (labels on the version Deployments,
//! the active Service's selector), so an agent restarted at any moment plans the same thing again.

pub mod control;
pub mod live;
mod metrics;
mod planner;
mod spec;

use std::time::Duration;

pub use live::Live;
pub use metrics::{Metrics, SwitchLabels};
pub use planner::{Event, Phase, WorkloadPlan, plan_workload};
pub use spec::{Strategy, Workload, revision_of, workloads};

use crate::api::BlueGreenStatus;
use crate::error::RetryClass;
use crate::render::Object;

/// Prefix of every blue-green annotation and label.
pub const PREFIX: &str = "bluegreen.pi-agent.io/";
/// The Service that receives production traffic (required: it opts the Deployment in).
pub const ACTIVE_SERVICE: &str = "bluegreen.pi-agent.io/active-service";
/// A Service that selects the new version while it is being brought up.
pub const PREVIEW_SERVICE: &str = "bluegreen.pi-agent.io/preview-service";
/// `"true"` (default) or `"false"`: promote without `pi-agent promote`.
pub const AUTO_PROMOTION: &str = "bluegreen.pi-agent.io/auto-promotion";
/// Seconds to wait, once the new version is Available and checked, before promoting it.
pub const AUTO_PROMOTION_SECONDS: &str = "bluegreen.pi-agent.io/auto-promotion-seconds";
/// Seconds the previous version is kept after a switch (default 30).
pub const SCALE_DOWN_DELAY_SECONDS: &str = "bluegreen.pi-agent.io/scale-down-delay-seconds";
/// Seconds the new version has to become Available (default 600).
pub const PROGRESS_DEADLINE_SECONDS: &str = "bluegreen.pi-agent.io/progress-deadline-seconds";
/// A Job of the same revision, run once per switch (`<job>-<rev>`), that must complete before
/// promotion.
pub const PRE_PROMOTION_JOB: &str = "bluegreen.pi-agent.io/pre-promotion-job";

/// Label of version Deployments (and their check Jobs): the Git Deployment's name.
pub const WORKLOAD_LABEL: &str = "bluegreen.pi-agent.io/workload";
/// Label of version Deployments, their pods, selectors and the Services' selectors.
pub const REVISION_LABEL: &str = "bluegreen.pi-agent.io/revision";
/// The active Service selects this revision (no pod) until a first version is Available.
pub const PENDING: &str = "pending";

/// State labels on version Deployments (Unix seconds), written by the agent: when the switch to
/// the version started.
pub const STARTED_AT: &str = "bluegreen.pi-agent.io/started-at";
/// When the version was first seen fully Available.
pub const AVAILABLE_AT: &str = "bluegreen.pi-agent.io/available-at";
/// When the active Service was switched to the version.
pub const PROMOTED_AT: &str = "bluegreen.pi-agent.io/promoted-at";
/// When a version that is no longer active is removed.
pub const SCALE_DOWN_AT: &str = "bluegreen.pi-agent.io/scale-down-at";
/// Why the switch to this version was aborted (an annotation).
pub const ABORTED: &str = "bluegreen.pi-agent.io/aborted";
/// When it was aborted.
pub const ABORTED_AT: &str = "bluegreen.pi-agent.io/aborted-at";

/// Written by `pi-agent promote` (field manager [`CLI_FIELD_MANAGER`]): the time of the request.
pub const PROMOTE: &str = "bluegreen.pi-agent.io/promote";
/// Written by `pi-agent abort`: the reason.
pub const ABORT: &str = "bluegreen.pi-agent.io/abort";
/// Written by `pi-agent abort`: the time of the request.
pub const ABORT_AT: &str = "bluegreen.pi-agent.io/abort-at";
/// Field manager of `pi-agent promote` and `pi-agent abort`.
pub const CLI_FIELD_MANAGER: &str = "pi-agent-cli";

/// Status reason of an Application whose switch was aborted.
pub const ROLLOUT_ABORTED: &str = "RolloutAborted";

/// How often a reconcile runs while a switch progresses.
pub const PROGRESS_POLL: Duration = Duration::from_secs(2);

/// Why the blue-green stage failed.
#[derive(Debug, thiserror::Error)]
pub enum BlueGreenError {
    /// An annotation or a referenced object is wrong.
    #[error("Deployment `{deployment}` (from `{origin}`): {why}")]
    InvalidSpec {
        deployment: String,
        origin: String,
        why: String,
    },
    /// The live state could not be read.
    #[error("reading the blue-green state of Deployment `{deployment}` failed: {source}")]
    ReadFailed {
        deployment: String,
        #[source]
        source: kube::Error,
    },
}

impl BlueGreenError {
    /// A wrong annotation is terminal; a read failure is worth a retry.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            BlueGreenError::InvalidSpec { .. } => RetryClass::Terminal,
            BlueGreenError::ReadFailed { .. } => RetryClass::Transient,
        }
    }
}

/// What the blue-green stage decided for one reconcile.
#[derive(Debug, Default)]
pub struct Switches {
    /// One plan per opted-in Deployment.
    pub workloads: Vec<WorkloadPlan>,
}

impl Switches {
    /// Whether the health check should skip an applied object: the versions that take no
    /// traffic (being brought up, aborted, waiting to be removed) and the check Jobs.
    pub fn skip_health(&self, namespace: Option<&str>, kind: &str, name: &str) -> bool {
        self.workloads.iter().any(|w| {
            Some(w.namespace.as_str()) == namespace
                && w.skip_health.iter().any(|(k, n)| k == kind && n == name)
        })
    }

    /// `status.blueGreen`.
    pub fn status(&self) -> Vec<BlueGreenStatus> {
        self.workloads
            .iter()
            .map(|w| BlueGreenStatus {
                deployment: w.name.clone(),
                namespace: w.namespace.clone(),
                active_revision: w.active.clone(),
                preview_revision: w.preview.clone(),
                phase: w.phase.name().to_owned(),
                message: w.phase.message(&w.name),
            })
            .collect()
    }

    /// The first aborted switch, as a status message.
    pub fn aborted(&self) -> Option<String> {
        self.workloads.iter().find_map(|w| match &w.phase {
            Phase::Aborted(why) => Some(format!(
                "blue-green switch of Deployment `{}/{}` aborted: {why}",
                w.namespace, w.name
            )),
            _ => None,
        })
    }

    /// The first switch in progress, as a status message.
    pub fn progressing(&self) -> Option<String> {
        self.workloads.iter().find_map(|w| match &w.phase {
            Phase::Progressing(why) => Some(format!(
                "blue-green switch of Deployment `{}/{}`: {why}",
                w.namespace, w.name
            )),
            _ => None,
        })
    }

    /// When the next reconcile must run at the latest (a switch to drive, an old version to
    /// remove), if sooner than the interval.
    pub fn requeue(&self, interval: Duration) -> Duration {
        self.workloads
            .iter()
            .filter_map(|w| w.requeue)
            .fold(interval, Duration::min)
    }

    /// Counts the events of this plan (call once it was applied).
    pub fn record(&self, metrics: &Metrics, app_namespace: &str, app_name: &str) {
        for w in &self.workloads {
            for e in &w.events {
                metrics.record(app_namespace, app_name, e);
            }
        }
    }
}

/// Rewrites a render for its blue-green workloads: each opted-in Deployment (and its check Job)
/// is replaced by the version objects of its plan, and its Services select the revisions the plan
/// says. Pure.
pub fn plan(
    objects: Vec<Object>,
    workloads: &[Workload],
    lives: &[Live],
    now: k8s_openapi::jiff::Timestamp,
    prune: bool,
) -> (Vec<Object>, Switches) {
    let plans: Vec<WorkloadPlan> = workloads
        .iter()
        .zip(lives)
        .map(|(w, l)| plan_workload(w, l, now, prune))
        .collect();
    let mut out = Vec::with_capacity(objects.len());
    for mut o in objects {
        let ns_of =
            |w: &Workload, o: &Object| o.namespace().unwrap_or(&w.default_namespace) == w.namespace;
        let mut replaced = false;
        for (w, p) in workloads.iter().zip(&plans) {
            if !ns_of(w, &o) {
                continue;
            }
            match (o.kind(), o.api_version()) {
                ("Deployment", "apps/v1") if o.name() == w.name => {
                    replaced = true;
                }
                ("Job", "batch/v1")
                    if w.strategy.pre_promotion_job.as_deref() == Some(o.name()) =>
                {
                    replaced = true;
                }
                ("Service", "v1") if o.name() == w.strategy.active_service => {
                    match (&p.active, &p.legacy_selector) {
                        (None, Some((key, value))) => select(&mut o.value, key, value),
                        (active, _) => select(
                            &mut o.value,
                            REVISION_LABEL,
                            active.as_deref().unwrap_or(PENDING),
                        ),
                    }
                }
                ("Service", "v1") if w.strategy.preview_service.as_deref() == Some(o.name()) => {
                    select(&mut o.value, REVISION_LABEL, &p.preview_target);
                }
                _ => {}
            }
        }
        if !replaced {
            out.push(o);
        }
    }
    for (w, p) in workloads.iter().zip(&plans) {
        out.extend(p.objects.iter().map(|v| Object {
            value: v.clone(),
            origin: format!("{} (blue-green)", w.origin),
        }));
    }
    (out, Switches { workloads: plans })
}

/// The stage: finds the opted-in Deployments of `objects`, reads their live state, and rewrites
/// the render by [`plan`].
///
/// # Errors
/// A wrong annotation ([`BlueGreenError::InvalidSpec`]) or an unreadable live state.
pub async fn stage(
    client: &kube::Client,
    default_namespace: &str,
    owner: &crate::apply::Owner,
    prune: bool,
    objects: Vec<Object>,
) -> Result<(Vec<Object>, Switches), BlueGreenError> {
    let workloads = workloads(&objects, default_namespace)?;
    if workloads.is_empty() {
        return Ok((objects, Switches::default()));
    }
    let mut lives = Vec::with_capacity(workloads.len());
    for w in &workloads {
        lives.push(live::read(client, w, owner).await?);
    }
    Ok(plan(
        objects,
        &workloads,
        &lives,
        k8s_openapi::jiff::Timestamp::now(),
        prune,
    ))
}

/// Adds `key: value` to a Service's selector.
fn select(service: &mut serde_json::Value, key: &str, value: &str) {
    if let Some(selector) = service
        .pointer_mut("/spec/selector")
        .and_then(serde_json::Value::as_object_mut)
    {
        selector.insert(key.into(), value.into());
    }
}
