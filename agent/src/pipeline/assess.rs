//! Stage `assess`: with `wait`, every applied object must become healthy (its kind's CEL health
//! check, else kstatus) within the work's timeout; one progress message says how many are still pending.

use super::wait::{HealthError, wait_healthy};
use crate::apply::ApplyRules;
use crate::context::Context;
use crate::error::{RetryClass, StageError, StatusError};
use crate::report::conditions::reason;
use crate::report::recorder::{Done, Outcome, Recorder};
use crate::work::Work;

use super::Pruned;
use super::apply::HEALTH_POLL;

impl Outcome for Done {}

/// Why the assessment failed.
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// An object failed or did not become healthy in time.
    #[error(transparent)]
    Health(#[from] HealthError),
    /// The progress message could not be written.
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl Outcome for AssessError {}

impl StageError for AssessError {
    fn reason(&self) -> &'static str {
        match self {
            AssessError::Health(_) => reason::HEALTH_CHECK_FAILED,
            AssessError::Status(e) => e.reason(),
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            AssessError::Health(e) => e.retry_class(),
            AssessError::Status(e) => e.retry_class(),
        }
    }
}

/// Waits for the applied objects to be healthy (with `wait`).
///
/// # Errors
/// An object that failed, or objects not ready at the deadline (named).
pub async fn assess(
    work: &Work,
    _ctx: &Context,
    rules: &ApplyRules,
    rec: &Recorder<'_>,
    pruned: Pruned,
) -> Result<Done, AssessError> {
    if work.sync.wait {
        let pending = pruned.applied.iter().filter(|a| a.live.is_some()).count();
        if pending > 0 {
            rec.progress(&format!(
                "Applied revision {}; waiting for {pending} objects to be ready",
                pruned.revision
            ))
            .await?;
        }
        wait_healthy(
            &pruned.applier,
            &pruned.applied,
            rules,
            work.sync.timeout,
            HEALTH_POLL,
        )
        .await?;
    }
    Ok(Done {
        revision: pruned.revision,
        interval: work.interval,
        switches: pruned.switches,
    })
}
