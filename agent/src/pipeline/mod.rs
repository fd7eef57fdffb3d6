//! The reconcile as a pipeline of typed stages, each a function from the previous stage's output
//! to its own, with its own error enum (status reason and retry class):
//!
//! ```text
//! spec → depends → fetch → verify → inputs → render → admit → plan → apply → prune → assess
//! Compiled         Fetched  Verified Inputs  Rendered Admitted Planned Applied Pruned  Done
//! ```
//!
//! `spec` compiles the work's CEL health checks and ignore rules (once per generation);
//! `inputs` reads what the pure render needs from the cluster (SOPS keys, substitution
//! variables); `render` builds, decrypts and substitutes, as Flux orders it.
//!
//! Stages read only the [`Work`] (never the resource that asked for it) and what came before;
//! every outcome goes through the [`Recorder`]. Pure stages (render, the blue-green planner,
//! the prune-set computation) take no client. Any failure before `apply` leaves the cluster
//! untouched; a failure in `apply` or later leaves it on the last good state.
//!
//! Adding a stage is one file here and one line in [`run`].

mod admit;
mod apply;
mod assess;
mod depends;
mod fetch;
mod inputs;
mod plan;
mod prune;
mod render;
mod spec;
mod verify;
mod wait;

pub use admit::{AdmitError, Admitted};
pub use apply::{Applied, ApplyStageError};
pub use assess::AssessError;
pub use depends::DependencyError;
pub use fetch::{FetchError, Fetched};
pub use inputs::{Inputs, InputsError};
pub use plan::{PlanError, Planned};
pub use prune::{PruneError, Pruned};
pub use render::{RenderStageError, Rendered, render_tree};
pub use spec::{Compiled, SpecStageError};
pub use verify::{Verified, VerifyError};
pub use wait::{HealthError, wait_healthy};

use crate::context::Context;
use crate::error::Failure;
use crate::report::recorder::{Done, Recorder};
use crate::work::{Prior, Work};

/// Runs the stages in order for one piece of work.
///
/// # Errors
/// The failure of the first stage that failed; the recorder has noted it.
pub async fn run(
    work: &Work,
    prior: &Prior,
    ctx: &Context,
    rec: &Recorder<'_>,
    mut slot: crate::context::Slot,
) -> Result<Done, Failure> {
    let Compiled(rules) = rec.stage("spec", spec::compile(work, ctx)).await?;
    rec.stage("depends", depends::check(work, ctx)).await?;
    let fetched = rec
        .stage("fetch", fetch::fetch(work, prior, ctx, rec))
        .await?;
    let verified = rec
        .stage("verify", verify::verify(work, prior, ctx, fetched))
        .await?;
    let inputs = rec.stage("inputs", inputs::read(work, ctx)).await?;
    let rendered = rec
        .stage("render", render::render(work, inputs, verified))
        .await?;
    let admitted = rec
        .stage("admit", admit::admit(work, ctx, rendered))
        .await?;
    let planned = rec
        .stage("plan", plan::plan(work, prior, ctx, admitted))
        .await?;
    let applied = rec
        .stage("apply", apply::apply(work, prior, ctx, &rules, planned))
        .await?;
    let pruned = rec
        .stage("prune", prune::prune(work, prior, ctx, applied))
        .await?;
    // The final health wait needs no CPU: its slot goes to the next Application.
    slot.release();
    rec.stage("assess", assess::assess(work, ctx, &rules, rec, pruned))
        .await
}
