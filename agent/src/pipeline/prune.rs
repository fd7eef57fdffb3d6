//! Stage `prune`: objects of the previous inventory that left Git are deleted (only those
//! carrying this work's owner labels, never those annotated `gitops.pi-agent.io/prune:
//! disabled`); without `prune`, they stay in the inventory. Runs only after everything
//! applied: a failed apply never deletes anything.

use std::sync::Arc;

use crate::api::InventoryEntry;
use crate::apply::{self as applying, Applier, ApplyError, ObjectId};
use crate::bluegreen::Switches;
use crate::context::Context;
use crate::error::{RetryClass, StageError};
use crate::report::recorder::{Outcome, Record};
use crate::work::{Prior, Work};

use super::Applied;

/// A revision applied and pruned.
pub struct Pruned {
    /// `main@sha1:…`.
    pub revision: String,
    /// What was applied (for the health check).
    pub applied: Vec<applying::Applied>,
    /// The inventory now: what was applied, and what left Git but is kept (prune off).
    pub inventory: Vec<InventoryEntry>,
    /// The blue-green switches of the revision.
    pub switches: Switches,
    /// The identity that applied it.
    pub applier: Arc<Applier>,
    applied_count: usize,
    pruned: usize,
}

impl Outcome for Pruned {
    fn record(&self, record: &mut Record<'_>) {
        record.pruned(self.pruned);
        // The objects exist now: recorded whatever the health check says.
        record.inventory(self.inventory.clone(), Some(self.applied_count));
    }
}

/// Why pruning failed; every stale entry is kept, so the next reconcile retries.
#[derive(Debug, thiserror::Error)]
#[error("{failed}")]
pub struct PruneError {
    failed: ApplyError,
    keep: Vec<InventoryEntry>,
}

impl Outcome for PruneError {
    fn record(&self, record: &mut Record<'_>) {
        record.inventory(self.keep.clone(), None);
    }
}

impl StageError for PruneError {
    fn reason(&self) -> &'static str {
        self.failed.reason()
    }
    fn retry_class(&self) -> RetryClass {
        self.failed.retry_class()
    }
}

/// Prunes what left Git.
///
/// # Errors
/// A delete that failed; every stale entry stays in the inventory.
pub async fn prune(
    work: &Work,
    prior: &Prior,
    _ctx: &Context,
    applied: Applied,
) -> Result<Pruned, PruneError> {
    let Applied {
        revision,
        applied,
        inventory,
        switches,
        applier,
        drift_lock,
    } = applied;
    let owner = work.subject.owner();
    // The prune set (pure): what the previous inventory holds and this revision does not.
    let (ids, unparsable) = applying::stale(&prior.inventory, &inventory);
    let mut pruned = 0;
    let mut kept = Vec::new();
    if work.sync.prune {
        for e in &unparsable {
            tracing::warn!(id = %e.id, "inventory entry does not parse; not pruned");
        }
        match applier.prune(&ids, &owner).await {
            Ok(report) => {
                for d in &report.deleted {
                    tracing::info!(object = %d, "pruned");
                }
                pruned = report.deleted.len();
            }
            Err(failed) => {
                return Err(PruneError {
                    failed,
                    keep: applying::inventory_of(inventory.iter().chain(prior.inventory.iter())),
                });
            }
        }
    } else {
        // Without pruning, objects that left Git stay in the inventory: still ours.
        kept = prior
            .inventory
            .iter()
            .filter(|e| ObjectId::parse(e).is_some_and(|id| ids.contains(&id)))
            .cloned()
            .collect();
    }
    drop(drift_lock);
    let applied_count = inventory.len();
    let inventory = applying::inventory_of(inventory.iter().chain(kept.iter()));
    Ok(Pruned {
        revision,
        applied,
        inventory,
        switches,
        applier,
        applied_count,
        pruned,
    })
}
