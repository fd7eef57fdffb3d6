//! The one place outcomes are recorded: every stage's result goes through [`Recorder::stage`],
//! which times it (`pi_agent_stage_duration_seconds{stage}`) and lets the result say what it
//! means for status and metrics ([`Outcome::record`], [`StageError::record`]); progress
//! messages go through [`Recorder::progress`]; [`Recorder::finish`] writes the final
//! conditions, the log line, the Event and the reports.
//!
//! Status is kept as an [`ApplicationStatus`] (kstatus conditions, revisions, inventory) and
//! written by the front door's [`StatusSink`] in its resource's shape; a write is skipped when
//! nothing changed.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use tracing::{info, warn};

use crate::api::{ApplicationStatus, InventoryEntry};
use crate::bluegreen::Switches;
use crate::error::{Failure, RetryClass, StageError, StatusError};
use crate::report::Metrics;
use crate::report::conditions::{self, reason};
use crate::report::events::Reporter;
use crate::report::metrics::{AppLabels, OutcomeLabels, StageLabels};
use crate::report::subject::Reported;
use crate::report::subject::Subject;
use futures::future::BoxFuture;

/// What a stage's output means for status and metrics. Outputs that mean nothing there keep
/// the default.
pub trait Outcome {
    /// Notes this outcome.
    fn record(&self, record: &mut Record<'_>) {
        let _ = record;
    }
}

impl Outcome for () {}

/// What a stage may note: each method is one fact, and the recorder alone decides which
/// conditions and metrics it touches.
pub struct Record<'a> {
    status: &'a mut ApplicationStatus,
    metrics: &'a Metrics,
    subject: &'a Subject,
    generation: Option<i64>,
    reporter: &'a Arc<Reporter>,
    reported: &'a Reported,
}

impl Record<'_> {
    fn outcome(&self, result: &str) -> OutcomeLabels {
        OutcomeLabels {
            namespace: self.subject.namespace.clone(),
            name: self.subject.name.clone(),
            result: result.to_owned(),
        }
    }

    fn app(&self) -> AppLabels {
        AppLabels {
            namespace: self.subject.namespace.clone(),
            name: self.subject.name.clone(),
        }
    }

    /// The revision a fetch resolved, and how long the fetch took.
    pub fn fetched(&mut self, revision: &str, took: Duration) {
        self.metrics
            .fetch_duration
            .get_or_create(&self.app())
            .observe(took.as_secs_f64());
        tracing::Span::current().record("revision", revision);
        self.status.last_attempted_revision = Some(revision.to_owned());
    }

    /// The revision's signatures were checked (`signatures == 0`: verification disabled).
    pub fn verified(&mut self, signatures: usize, summary: &str) {
        let verified = signatures > 0;
        let result = if verified { "verified" } else { "disabled" };
        self.metrics
            .verifications
            .get_or_create(&self.outcome(result))
            .inc();
        let r = if verified {
            reason::VERIFIED
        } else {
            reason::VERIFICATION_DISABLED
        };
        conditions::set_condition(
            &mut self.status.conditions,
            conditions::SOURCE_VERIFIED,
            verified,
            r,
            summary,
            self.generation,
            &now(),
        );
    }

    /// The revision's signatures were refused.
    pub fn verification_refused(&mut self) {
        self.metrics
            .verifications
            .get_or_create(&self.outcome("refused"))
            .inc();
    }

    /// Images were admitted (`None`: the work has no image policy).
    pub fn images_admitted(&mut self, admitted: Option<(u64, &str)>) {
        match admitted {
            Some((count, summary)) => {
                self.metrics
                    .image_verifications
                    .get_or_create(&self.outcome("verified"))
                    .inc_by(count);
                conditions::set_condition(
                    &mut self.status.conditions,
                    conditions::IMAGES_VERIFIED,
                    true,
                    reason::VERIFIED,
                    summary,
                    self.generation,
                    &now(),
                );
            }
            None => {
                conditions::remove_condition(
                    &mut self.status.conditions,
                    conditions::IMAGES_VERIFIED,
                );
            }
        }
    }

    /// An image refused the revision.
    pub fn images_refused(&mut self) {
        self.metrics
            .image_verifications
            .get_or_create(&self.outcome("refused"))
            .inc();
    }

    /// A verified revision is about to change the cluster (a commit status `running`).
    pub fn applying(&mut self, revision: &str) {
        if self.status.last_applied_revision.as_deref() != Some(revision) {
            self.reporter.progress(self.reported, revision);
        }
    }

    /// The blue-green switches of an applied revision (their events are counted).
    pub fn switched(&mut self, switches: &Switches) {
        switches.record(
            &self.metrics.bluegreen,
            &self.subject.namespace,
            &self.subject.name,
        );
    }

    /// Objects were pruned.
    pub fn pruned(&mut self, count: usize) {
        self.metrics
            .pruned_objects
            .get_or_create(&self.app())
            .inc_by(count as u64);
    }

    /// What the cluster holds of this work now (recorded whatever happens next), and how many
    /// objects were applied.
    pub fn inventory(&mut self, inventory: Vec<InventoryEntry>, applied: Option<usize>) {
        if let Some(n) = applied {
            self.metrics
                .applied_objects
                .get_or_create(&self.app())
                .set(n as i64);
        }
        self.status.inventory = inventory;
    }
}

/// Writes the status of one resource in its own shape. The pipeline keeps status as an
/// [`ApplicationStatus`] (kstatus conditions, revisions, inventory); each front door writes it
/// as its resource expects.
pub trait StatusSink: Send + Sync {
    /// Writes `status` (server-side apply, so fields no longer set disappear).
    fn write<'a>(&'a self, status: &'a ApplicationStatus)
    -> BoxFuture<'a, Result<(), kube::Error>>;
}

/// What a successful pipeline hands the recorder.
pub struct Done {
    /// The applied revision.
    pub revision: String,
    /// The interval to requeue at.
    pub interval: Duration,
    /// The blue-green switches of the revision.
    pub switches: Switches,
}

/// Records one reconcile of one resource.
pub struct Recorder<'a> {
    metrics: &'a Metrics,
    reporter: &'a Arc<Reporter>,
    reported: Reported,
    generation: Option<i64>,
    sink: &'a dyn StatusSink,
    state: Mutex<State>,
}

struct State {
    // What this reconcile says.
    status: ApplicationStatus,
    // What the cluster holds: a status write is skipped when nothing changed.
    written: ApplicationStatus,
}

impl<'a> Recorder<'a> {
    /// A recorder over the resource's current status.
    pub fn new(
        metrics: &'a Metrics,
        reporter: &'a Arc<Reporter>,
        reported: Reported,
        generation: Option<i64>,
        sink: &'a dyn StatusSink,
        status: ApplicationStatus,
    ) -> Self {
        Recorder {
            metrics,
            reporter,
            reported,
            generation,
            sink,
            state: Mutex::new(State {
                written: status.clone(),
                status,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the status being built (for the front door's own fields).
    pub fn update(&self, f: impl FnOnce(&mut ApplicationStatus)) {
        f(&mut self.lock().status);
    }

    fn note(&self, f: impl FnOnce(&mut Record<'_>)) {
        let mut state = self.lock();
        let mut record = Record {
            status: &mut state.status,
            metrics: self.metrics,
            subject: &self.reported.subject,
            generation: self.generation,
            reporter: self.reporter,
            reported: &self.reported,
        };
        f(&mut record);
    }

    /// Runs one stage: times it, notes what its output or its error means, and names the stage
    /// in the failure.
    ///
    /// # Errors
    /// The stage's error, as a [`Failure`] of `stage`.
    pub async fn stage<T: Outcome, E: StageError + Outcome>(
        &self,
        stage: &'static str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Failure> {
        let start = Instant::now();
        let result = work.await;
        self.metrics
            .stage_duration
            .get_or_create(&StageLabels {
                stage: stage.to_owned(),
            })
            .observe(start.elapsed().as_secs_f64());
        match result {
            Ok(out) => {
                self.note(|r| out.record(r));
                Ok(out)
            }
            Err(e) => {
                self.note(|r| e.record(r));
                Err(Failure::new(stage, e))
            }
        }
    }

    /// Writes one progress message (`Reconciling=True`) at once.
    ///
    /// # Errors
    /// The status write failed.
    pub async fn progress(&self, message: &str) -> Result<(), StatusError> {
        let next = {
            let mut state = self.lock();
            conditions::set_condition(
                &mut state.status.conditions,
                conditions::RECONCILING,
                true,
                reason::PROGRESSING,
                message,
                self.generation,
                &now(),
            );
            (state.status != state.written).then(|| state.status.clone())
        };
        if let Some(status) = next {
            self.sink.write(&status).await.map_err(StatusError)?;
            self.lock().written = status;
        }
        Ok(())
    }

    /// Whether the status says the last reconcile ended Ready at this generation.
    pub fn ready_at_generation(&self) -> bool {
        let state = self.lock();
        state.status.observed_generation == self.generation
            && state
                .status
                .conditions
                .iter()
                .any(|c| c.type_ == conditions::READY && c.status == "True")
    }

    /// Records a suspended resource: nothing is reconciling.
    ///
    /// # Errors
    /// The status write failed.
    pub async fn suspended(self, requested_at: Option<String>) -> Result<Action, Failure> {
        let status = {
            let mut state = self.lock();
            conditions::remove_condition(&mut state.status.conditions, conditions::RECONCILING);
            state.status.last_handled_reconcile_at =
                requested_at.or(state.status.last_handled_reconcile_at.take());
            state.status.clone()
        };
        self.write(&status)
            .await
            .map_err(|e| Failure::new("report", e))?;
        info!("suspended");
        Ok(Action::await_change())
    }

    async fn write(&self, status: &ApplicationStatus) -> Result<(), StatusError> {
        if self.lock().written == *status {
            return Ok(());
        }
        self.sink.write(status).await.map_err(StatusError)?;
        self.lock().written = status.clone();
        Ok(())
    }

    /// Writes the outcome of the pipeline: `Ready` and its companions, revisions, the
    /// blue-green status; logs one line; reports the outcome (Event, console, commit status).
    ///
    /// # Errors
    /// The pipeline's failure, or a status write that failed after a success.
    pub async fn finish(
        self,
        result: Result<Done, Failure>,
        requested_at: Option<String>,
    ) -> Result<Action, Failure> {
        let generation = self.generation;
        let (status, result) = match result {
            Ok(done) => {
                let status = {
                    let mut state = self.lock();
                    let status = &mut state.status;
                    let mut msg = format!("Applied revision: {}", done.revision);
                    if blue_green(&done.switches, status, &msg, generation, &now()) {
                        msg = format!("{msg}; blue-green switch in progress or aborted");
                    } else {
                        conditions::set_condition(
                            &mut status.conditions,
                            conditions::READY,
                            true,
                            reason::SUCCEEDED,
                            &msg,
                            generation,
                            &now(),
                        );
                        conditions::remove_condition(
                            &mut status.conditions,
                            conditions::RECONCILING,
                        );
                        conditions::remove_condition(&mut status.conditions, conditions::STALLED);
                    }
                    status.observed_generation = generation;
                    status.last_applied_revision = Some(done.revision.clone());
                    status.last_handled_reconcile_at =
                        requested_at.or(status.last_handled_reconcile_at.take());
                    info!(objects = status.inventory.len(), "{msg}");
                    status.clone()
                };
                let result = match self.write(&status).await {
                    Ok(()) => Ok(Action::requeue(done.switches.requeue(done.interval))),
                    Err(e) => Err(Failure::new("report", e)),
                };
                (status, result)
            }
            Err(failure) => {
                let status = {
                    let mut state = self.lock();
                    fail(&mut state.status, &failure, generation, requested_at);
                    state.status.clone()
                };
                if let Err(write) = self.write(&status).await {
                    warn!(error = %write, "could not record the failure in status");
                }
                (status, Err(failure))
            }
        };
        self.reporter.outcome(&self.reported, &status);
        result
    }
}

/// Writes `status.blueGreen` and, while a switch runs or after one was aborted, the `Ready`
/// condition that says so (`Ready=False`, reason `Progressing` with `Reconciling=True`, or
/// `RolloutAborted` with `Stalled=True`: nothing changes until a new revision or a
/// `pi-agent promote`). Returns false when no switch holds the Application back (the caller
/// reports its usual success).
fn blue_green(
    switches: &Switches,
    status: &mut ApplicationStatus,
    applied: &str,
    generation: Option<i64>,
    now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> bool {
    status.blue_green = switches.status();
    let (why, stalled) = match (switches.aborted(), switches.progressing()) {
        (Some(why), _) => (why, true),
        (None, Some(why)) => (why, false),
        (None, None) => return false,
    };
    let message = format!("{applied}; {why}");
    let (held, other) = if stalled {
        (conditions::STALLED, conditions::RECONCILING)
    } else {
        (conditions::RECONCILING, conditions::STALLED)
    };
    let r = if stalled {
        crate::bluegreen::ROLLOUT_ABORTED
    } else {
        reason::PROGRESSING
    };
    conditions::set_condition(
        &mut status.conditions,
        conditions::READY,
        false,
        r,
        &message,
        generation,
        now,
    );
    conditions::set_condition(
        &mut status.conditions,
        held,
        true,
        r,
        &message,
        generation,
        now,
    );
    conditions::remove_condition(&mut status.conditions, other);
    true
}

/// The conditions of a failed reconcile: `Ready=False` with the stage's reason, then `Stalled`
/// (terminal) or `Reconciling` (retried).
fn fail(
    status: &mut ApplicationStatus,
    failure: &Failure,
    generation: Option<i64>,
    requested_at: Option<String>,
) {
    let t = now();
    let msg = failure.to_string();
    let why = failure.reason();
    if why == reason::SOURCE_VERIFICATION_FAILED {
        conditions::set_condition(
            &mut status.conditions,
            conditions::SOURCE_VERIFIED,
            false,
            why,
            &msg,
            generation,
            &t,
        );
    }
    conditions::set_condition(
        &mut status.conditions,
        conditions::READY,
        false,
        why,
        &msg,
        generation,
        &t,
    );
    if failure.retry_class() == RetryClass::Terminal {
        conditions::set_condition(
            &mut status.conditions,
            conditions::STALLED,
            true,
            why,
            &msg,
            generation,
            &t,
        );
        conditions::remove_condition(&mut status.conditions, conditions::RECONCILING);
    } else {
        conditions::set_condition(
            &mut status.conditions,
            conditions::RECONCILING,
            true,
            reason::PROGRESSING,
            &format!("Retrying: {msg}"),
            generation,
            &t,
        );
        conditions::remove_condition(&mut status.conditions, conditions::STALLED);
    }
    status.observed_generation = generation;
    status.last_handled_reconcile_at = requested_at.or(status.last_handled_reconcile_at.take());
}

/// Counts one reconcile, whatever ended it: `pi_agent_reconcile_total{result}` (success or the
/// failing stage's reason) and its duration; a failure is logged once.
pub fn reconciled(
    metrics: &Metrics,
    subject: &Subject,
    took: Duration,
    result: Result<(), &Failure>,
) {
    let labels = AppLabels {
        namespace: subject.namespace.clone(),
        name: subject.name.clone(),
    };
    metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
    let outcome = match result {
        Ok(()) => "success".to_owned(),
        Err(f) => f.reason().to_owned(),
    };
    metrics
        .reconciles
        .get_or_create(&OutcomeLabels {
            namespace: labels.namespace,
            name: labels.name,
            result: outcome,
        })
        .inc();
    if let Err(f) = result {
        warn!(reason = f.reason(), stage = f.stage, error = %f, "reconcile failed");
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SpecError;

    #[test]
    fn a_terminal_failure_should_stall_and_a_transient_one_should_retry() {
        let mut status = ApplicationStatus::default();
        let stalled = Failure::new("spec", SpecError("bad".into()));
        fail(&mut status, &stalled, Some(2), None);
        let types: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [conditions::READY, conditions::STALLED]);
        assert_eq!(status.conditions[0].message, "invalid spec: bad");
        assert_eq!(status.observed_generation, Some(2));
        let kube = kube::Error::Api(
            kube::core::Status::failure("down", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        );
        let retried = Failure::new("report", StatusError(kube));
        fail(&mut status, &retried, Some(2), Some("now".into()));
        let types: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [conditions::READY, conditions::RECONCILING]);
        assert!(status.conditions[1].message.starts_with("Retrying: "));
        assert_eq!(status.last_handled_reconcile_at.as_deref(), Some("now"));
    }
}
