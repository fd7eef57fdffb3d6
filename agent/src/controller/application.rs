//! The lifecycle of pi-agent's `Application`: the current object read, the finalizer added,
//! deletion (prune or orphan), suspension, then the pipeline over the work its spec describes.

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

use crate::api::{Application, DeletionPolicy, FINALIZER, REQUESTED_AT_ANNOTATION};
use crate::apply::stale;
use crate::context::Context;
use crate::error::{Failure, SpecError, StatusError};
use crate::report::recorder::Recorder;
use crate::report::subject::Reported;
use crate::work::application::{self, Sink};

/// Reconciles one Application: its lifecycle, then the pipeline over the work it describes.
///
/// # Errors
/// The failing stage, after it was written to status.
///
/// # Guarantees
/// A failure before apply leaves the cluster untouched; the status always says what happened.
pub async fn reconcile(
    cached: &Application,
    ctx: &Context,
    slot: crate::context::Slot,
) -> Result<Action, Failure> {
    let api: Api<Application> =
        Api::namespaced(ctx.client.clone(), &cached.namespace().unwrap_or_default());
    // The cache may lag behind our own last status write (a reconcile can start right after one):
    // then work from the current object, so an old status is never written back. When the
    // cached object holds our last write, it is the current one as far as we know: no read.
    let namespace = cached.namespace().unwrap_or_default();
    let app = if ctx.written.is_current(
        &namespace,
        &cached.name_any(),
        cached.resource_version().as_deref(),
    ) {
        cached.clone()
    } else {
        let Some(app) = api
            .get_opt(&cached.name_any())
            .await
            .map_err(|e| Failure::new("spec", StatusError(e)))?
        else {
            return Ok(Action::await_change());
        };
        app
    };
    if app.meta().deletion_timestamp.is_some() {
        return finalize(&app, ctx, &api).await;
    }
    if !app.finalizers().iter().any(|f| f == FINALIZER) {
        // Added before anything is applied, so an Application deleted at any point still
        // prunes what it applied.
        let mut finalizers = app.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        let patch = json!({"metadata": {"resourceVersion": app.resource_version(), "finalizers": finalizers}});
        let patched = api
            .patch(
                &app.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        ctx.written.note(
            &namespace,
            &app.name_any(),
            patched.as_ref().ok().and_then(|a| a.resource_version()),
        );
        patched.map_err(|e| Failure::new("spec", StatusError(e)))?;
    }

    let subject = application::subject_of(&app);
    let requested_at = app.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let status = app.status.clone().unwrap_or_default();
    let prior = application::prior_of(&status);
    let corrected = ctx.drift.take_counts(&subject.owner()).corrected;
    let sink = Sink::new(api, namespace, app.name_any(), ctx.written.clone());
    let reported = Reported {
        subject,
        report: app.spec.report.clone(),
    };
    let rec = Recorder::new(
        &ctx.metrics,
        &ctx.reporter,
        reported,
        app.meta().generation,
        &sink,
        status,
    );
    // Drift corrected since the last reconcile, counted in status.
    rec.update(|s| s.drift_corrections += corrected);
    if app.spec.sync.suspend {
        return rec.suspended(requested_at).await;
    }
    let result = match application::work_of(&app) {
        Ok(work) => crate::pipeline::run(&work, &prior, ctx, &rec, slot).await,
        Err(e) => Err(Failure::new("spec", e)),
    };
    rec.finish(result, requested_at).await
}

/// The Application is being deleted: prune its inventory (deletion policy `Delete`, not
/// suspended) or leave it (`Orphan`), then remove the finalizer.
///
/// # Guarantees
/// Idempotent; the finalizer is removed only after every object is deleted, so a failure or a
/// crash retries the cleanup.
async fn finalize(
    app: &Application,
    ctx: &Context,
    api: &Api<Application>,
) -> Result<Action, Failure> {
    let Some(index) = app.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(Action::await_change());
    };
    let owner = application::subject_of(app).owner();
    let inventory = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    let delete = app.spec.sync.deletion_policy == DeletionPolicy::Delete && !app.spec.sync.suspend;
    if delete {
        let lock = ctx.drift.lock_for(&owner);
        let _guard = lock.lock().await;
        ctx.drift.untrack(&owner);
        let (ids, _) = stale(&inventory, &[]);
        let applier = ctx
            .applier_for(
                &owner.namespace,
                app.spec.destination.service_account_name.as_deref(),
            )
            .map_err(|e| Failure::new("prune", SpecError(e)))?;
        let report = applier
            .prune(&ids, &owner)
            .await
            .map_err(|e| Failure::new("prune", e))?;
        info!(
            deleted = report.deleted.len(),
            kept = report.skipped.len(),
            "Application deleted: inventory pruned"
        );
    } else {
        ctx.drift.untrack(&owner);
        info!(
            objects = inventory.len(),
            "Application deleted: objects orphaned"
        );
    }
    let mut finalizers = app.finalizers().to_vec();
    finalizers.remove(index);
    let patch =
        json!({"metadata": {"resourceVersion": app.resource_version(), "finalizers": finalizers}});
    match api
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(Failure::new("prune", StatusError(e))),
    }
    ctx.metrics.forget(&owner.namespace, &owner.name);
    ctx.rules.forget(&owner);
    ctx.written.forget(&owner.namespace, &owner.name);
    Ok(Action::await_change())
}
