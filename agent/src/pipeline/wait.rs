//! Waiting for applied objects to become healthy: the I/O edge of the health assessment (the
//! assessment itself, kstatus, is pure: [`crate::health`]). Used between sync waves by `apply`
//! and after the prune by `assess`.

use std::time::{Duration, Instant};

use crate::apply::{Applied, Applier};
use crate::error::RetryClass;
use crate::health::{Health, Status, assess, summarize};

/// Why the health check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// An object reached a state it will not leave by itself.
    #[error("health check failed: {0}")]
    Failed(String),
    /// Not every object became healthy in time.
    #[error("health check timed out after {seconds}s: {summary}")]
    TimedOut { seconds: u64, summary: String },
}

impl HealthError {
    /// A workload may still recover (an image pull, a node): retried with backoff.
    pub fn retry_class(&self) -> RetryClass {
        RetryClass::Transient
    }
}

fn display(a: &Applied) -> String {
    match &a.namespace {
        Some(ns) => format!("{} {ns}/{}", a.resource.kind, a.name),
        None => format!("{} {}", a.resource.kind, a.name),
    }
}

/// The first poll after an apply: most objects that are not ready at once (a Deployment whose
/// controller has not observed the new generation yet) are a few tens of milliseconds later.
const FIRST_POLL: Duration = Duration::from_millis(50);

/// Waits until every applied object is `Current` (kstatus), polling after 50 ms, then twice as
/// late each time up to every `poll`, for at most `timeout`. Objects already `Current` right after the apply (all those without health
/// semantics, most of the others on a re-sync) cost no request.
///
/// # Errors
/// [`HealthError::Failed`] as soon as an object is `Failed`; [`HealthError::TimedOut`] naming the
/// objects not ready at the deadline.
pub async fn wait_healthy(
    applier: &Applier,
    applied: &[Applied],
    timeout: Duration,
    poll: Duration,
) -> Result<(), HealthError> {
    let start = Instant::now();
    let mut pending: Vec<(&Applied, Health)> = applied
        .iter()
        .filter_map(|a| a.live.as_ref().map(|live| (a, assess(live))))
        .filter(|(_, h)| h.status != Status::Current)
        .collect();
    let mut delay = FIRST_POLL.min(poll);
    loop {
        let failed: Vec<(String, &Health)> = pending
            .iter()
            .filter(|(_, h)| h.status == Status::Failed)
            .map(|(a, h)| (display(a), h))
            .collect();
        if !failed.is_empty() {
            let summary =
                summarize(failed.iter().map(|(id, h)| (id.as_str(), *h))).unwrap_or_default();
            return Err(HealthError::Failed(summary));
        }
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let ids: Vec<(String, &Health)> =
                pending.iter().map(|(a, h)| (display(a), h)).collect();
            let summary =
                summarize(ids.iter().map(|(id, h)| (id.as_str(), *h))).unwrap_or_default();
            return Err(HealthError::TimedOut {
                seconds: timeout.as_secs(),
                summary,
            });
        }
        tokio::time::sleep(delay.min(timeout.saturating_sub(start.elapsed()))).await;
        delay = (delay * 2).min(poll);
        let mut next = Vec::with_capacity(pending.len());
        for (a, previous) in pending {
            let health = match applier.get_live(a).await {
                Ok(Some(live)) => assess(&live),
                Ok(None) => Health::not_found(&display(a)),
                // A read error is not a health verdict: keep the last one and poll again.
                Err(_) => previous,
            };
            if health.status != Status::Current {
                next.push((a, health));
            }
        }
        pending = next;
    }
}
