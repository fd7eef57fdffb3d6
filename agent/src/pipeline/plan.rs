//! Stage `plan`: what the apply will do — the blue-green rewrite of opted-in Deployments (from
//! their live state), the refusal of an empty revision that would prune everything, the sync
//! waves, and whether this is a re-sync of what was applied last (already checked).

use crate::bluegreen::{BlueGreenError, Switches};
use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::render::{Object, RenderError};
use crate::report::recorder::Outcome;
use crate::work::{Prior, Work};

use super::Admitted;

/// What to apply, in order.
pub struct Planned {
    /// `main@sha1:…`.
    pub revision: String,
    /// The objects by sync wave, ascending.
    pub waves: Vec<(i64, Vec<Object>)>,
    /// The blue-green switches of the revision.
    pub switches: Switches,
    /// The revision applied last, at the same generation: it was checked when first applied.
    pub resync: bool,
}

impl Outcome for Planned {}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A blue-green Deployment is misconfigured, or its live state cannot be read.
    #[error(transparent)]
    BlueGreen(#[from] BlueGreenError),
    /// A sync-wave annotation is not an integer.
    #[error(transparent)]
    Waves(#[from] RenderError),
    /// The revision renders nothing and would prune the whole inventory.
    #[error(
        "the revision renders no object; refusing to prune the {count} objects of the inventory (set `spec.sync.allowEmpty: true` to allow it)"
    )]
    EmptyRender { count: usize },
}

impl Outcome for PlanError {}

impl StageError for PlanError {
    fn reason(&self) -> &'static str {
        match self {
            PlanError::BlueGreen(BlueGreenError::InvalidSpec { .. }) => reason::INVALID_SPEC,
            PlanError::BlueGreen(_) => reason::APPLY_FAILED,
            PlanError::Waves(_) => reason::RENDER_FAILED,
            PlanError::EmptyRender { .. } => reason::PRUNE_FAILED,
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            PlanError::BlueGreen(e) => e.retry_class(),
            PlanError::Waves(e) => e.retry_class(),
            PlanError::EmptyRender { .. } => RetryClass::Terminal,
        }
    }
}

/// Plans the apply of an admitted revision.
///
/// # Errors
/// A wrong blue-green annotation, an unreadable live state, an empty revision that would
/// prune everything, a sync wave that is not an integer.
pub async fn plan(
    work: &Work,
    prior: &Prior,
    ctx: &Context,
    admitted: Admitted,
) -> Result<Planned, PlanError> {
    let Admitted {
        revision, objects, ..
    } = admitted;
    // Blue-green: opted-in Deployments become versions; their Services follow the live one.
    let (objects, switches) = crate::bluegreen::stage(
        &ctx.client,
        &work.tenancy.namespace,
        &work.subject.owner(),
        work.sync.prune,
        objects,
    )
    .await?;
    check_not_empty(&objects, prior, work.sync.allow_empty)?;
    let waves = crate::render::into_waves(objects)?;
    // A re-sync of the revision applied last, at the same generation, was fully checked when
    // it was first applied: the apply skips the dry-run pass (half the API server's work).
    let resync = prior.last_applied_revision.as_deref() == Some(revision.as_str())
        && prior.observed_generation == work.generation;
    Ok(Planned {
        revision,
        waves,
        switches,
        resync,
    })
}

/// An empty revision would prune everything: refused unless asked for. Pure.
fn check_not_empty(objects: &[Object], prior: &Prior, allow_empty: bool) -> Result<(), PlanError> {
    if objects.is_empty() && !prior.inventory.is_empty() && !allow_empty {
        return Err(PlanError::EmptyRender {
            count: prior.inventory.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::InventoryEntry;

    #[test]
    fn an_empty_render_should_refuse_to_prune_everything_unless_allowed() {
        let prior = Prior {
            inventory: vec![InventoryEntry {
                id: "n_a__ConfigMap".into(),
                v: "v1".into(),
            }],
            ..Default::default()
        };
        let e = check_not_empty(&[], &prior, false).unwrap_err();
        assert_eq!(e.reason(), reason::PRUNE_FAILED);
        assert!(e.to_string().contains("refusing to prune the 1 objects"));
        assert!(check_not_empty(&[], &prior, true).is_ok());
        assert!(check_not_empty(&[], &Prior::default(), false).is_ok());
    }
}
