//! Stage `apply`: server-side apply of the planned objects as the work's identity (its
//! ServiceAccount, impersonated, or the agent's own). One wave: a dry run of the whole revision
//! then the apply (a re-sync skips the dry run). Several waves: the whole revision is checked
//! first, then each wave is applied and, with `wait`, must be healthy before the next. The
//! drift watcher is held off this work until the prune that follows has run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use super::wait::{HealthError, wait_healthy};
use crate::api::InventoryEntry;
use crate::apply::{self as applying, Applier, ApplyError, ApplyRules};
use crate::bluegreen::Switches;
use crate::context::Context;
use crate::error::{RetryClass, StageError};
use crate::render::Object;
use crate::report::conditions::reason;
use crate::report::recorder::{Outcome, Record};
use crate::work::{Prior, Work};

use super::Planned;

/// How often the health check polls objects that are not ready yet.
pub const HEALTH_POLL: Duration = Duration::from_secs(1);

/// A revision written to the cluster (not yet pruned).
pub struct Applied {
    /// `main@sha1:…`.
    pub revision: String,
    /// What was applied, in apply order (bodies released; live state of the objects that were
    /// not ready yet, for the health check).
    pub applied: Vec<applying::Applied>,
    /// The inventory of what was applied.
    pub inventory: Vec<InventoryEntry>,
    /// The blue-green switches of the revision.
    pub switches: Switches,
    /// The identity that applied it (prune and health use it too).
    pub applier: Arc<Applier>,
    // Holds the drift watcher off this work until the prune is done.
    pub(super) drift_lock: OwnedMutexGuard<()>,
}

impl Outcome for Applied {
    fn record(&self, record: &mut Record<'_>) {
        record.switched(&self.switches);
    }
}

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyStageError {
    /// The API server refused an object, or could not be reached.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A wave did not become healthy before the next.
    #[error(transparent)]
    Health(#[from] HealthError),
    /// The work's ServiceAccount cannot be impersonated.
    #[error("invalid spec: {0}")]
    Identity(String),
}

impl Outcome for ApplyStageError {}

impl StageError for ApplyStageError {
    fn reason(&self) -> &'static str {
        match self {
            ApplyStageError::Apply(e) => e.reason(),
            ApplyStageError::Health(_) => reason::HEALTH_CHECK_FAILED,
            ApplyStageError::Identity(_) => reason::INVALID_SPEC,
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            ApplyStageError::Apply(e) => e.retry_class(),
            ApplyStageError::Health(e) => e.retry_class(),
            ApplyStageError::Identity(_) => RetryClass::Terminal,
        }
    }
}

/// Applies a planned revision.
///
/// # Errors
/// The first object refused (with its file), a tenancy violation, an unreachable API server,
/// or a wave that did not become healthy.
pub async fn apply(
    work: &Work,
    _prior: &Prior,
    ctx: &Context,
    rules: &Arc<ApplyRules>,
    planned: Planned,
) -> Result<Applied, ApplyStageError> {
    let Planned {
        revision,
        waves,
        switches,
        resync,
    } = planned;
    let owner = work.subject.owner();
    // The drift watcher must not correct an object while its new revision is applied.
    let drift_lock = ctx.drift.lock_for(&owner).lock_owned().await;
    let applier = ctx
        .applier_for(
            &work.subject.namespace,
            work.sync.service_account.as_deref(),
        )
        .map_err(ApplyStageError::Identity)?;
    let tenancy = &work.tenancy;
    let mut applied = if let [(_, objects)] = waves.as_slice() {
        if resync {
            // A re-sync of the revision applied last: objects written by pi-agent and changed by
            // no one since are not written again.
            let unchanged = |r: &kube::discovery::ApiResource,
                             ns: Option<&str>,
                             name: &str,
                             body: &serde_json::Value| {
                ctx.drift.unchanged(&owner, r, ns, name, body)
            };
            applier
                .apply_changed(objects, tenancy, &owner, rules, &unchanged)
                .await?
        } else {
            applier.apply(objects, tenancy, &owner, rules).await?
        }
    } else {
        // Sync waves: the whole revision is checked first (nothing written if any object is
        // refused), then each wave is applied and, with `wait`, must be healthy before the next.
        let all: Vec<Object> = waves.iter().flat_map(|(_, o)| o.iter().cloned()).collect();
        applier.check(&all, tenancy, &owner, rules).await?;
        drop(all);
        let mut done = Vec::new();
        for (i, (wave, members)) in waves.iter().enumerate() {
            let batch = applier.apply(members, tenancy, &owner, rules).await?;
            tracing::info!(wave, objects = batch.len(), "wave applied");
            if work.sync.wait && i + 1 < waves.len() {
                let watched: Vec<_> = batch
                    .iter()
                    .filter(|a| {
                        !switches.skip_health(a.namespace.as_deref(), &a.resource.kind, &a.name)
                    })
                    .cloned()
                    .collect();
                wait_healthy(&applier, &watched, rules, work.sync.timeout, HEALTH_POLL).await?;
            }
            done.extend(batch);
        }
        done
    };
    // The rendered revision is not needed past this point (the health wait may be long).
    drop(waves);
    let inventory = applying::inventory_of(applied.iter().map(|a| &a.entry));
    ctx.drift
        .track(&owner, work.sync.self_heal, &applier, rules, &applied);
    // The drift watcher keeps its own compact copy of the bodies: release these now.
    for a in &mut applied {
        a.body = serde_json::Value::Null;
    }
    // Versions that take no traffic are not waited for (the switch itself waits for them).
    applied.retain(|a| !switches.skip_health(a.namespace.as_deref(), &a.resource.kind, &a.name));
    Ok(Applied {
        revision,
        applied,
        inventory,
        switches,
        applier,
        drift_lock,
    })
}
