//! Manual control of a switch (`pi-agent promote`, `pi-agent abort`): an annotation on the version
//! being switched to, written with its own field manager, and an immediate reconcile of its
//! Application. The agent acts on it at that reconcile; nothing else is needed for it to survive
//! a restart.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::{
    ABORT, ABORT_AT, ABORTED, ACTIVE_SERVICE, CLI_FIELD_MANAGER, PROMOTE, PROMOTED_AT,
    REVISION_LABEL, STARTED_AT, WORKLOAD_LABEL,
};
use crate::api::{Application, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, REQUESTED_AT_ANNOTATION};

/// What is asked of the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Promote once Available and checked (skips the auto-promotion wait or the manual gate);
    /// after an abort, try again.
    Promote,
    /// Abort, with a reason.
    Abort(String),
}

/// Why a request was not made.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// There is no switch to act on (exit code 1).
    #[error("{0}")]
    NoSwitch(String),
    /// The API server refused or failed (exit code 2).
    #[error("{0}")]
    Failed(String),
}

/// Annotates the version of `deployment` being switched to and asks its Application for a
/// reconcile. Returns what was done, for the user.
///
/// # Errors
/// No switch to act on, or the API server's error, as a message.
pub async fn request(
    client: &kube::Client,
    namespace: &str,
    deployment: &str,
    request: &Request,
) -> Result<String, ControlError> {
    use ControlError::{Failed, NoSwitch};
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let versions = api
        .list(&ListParams::default().labels(&format!("{WORKLOAD_LABEL}={deployment}")))
        .await
        .map_err(|e| {
            Failed(format!(
                "listing the versions of `{namespace}/{deployment}`: {e}"
            ))
        })?
        .items;
    let first = versions.first().ok_or_else(|| {
        NoSwitch(format!("Deployment `{namespace}/{deployment}` has no blue-green versions (is it annotated `{ACTIVE_SERVICE}`?)"))
    })?;
    let annotation = |d: &Deployment, k: &str| {
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
    };
    let active = match annotation(first, ACTIVE_SERVICE) {
        Some(service) => Api::<Service>::namespaced(client.clone(), namespace)
            .get_opt(&service)
            .await
            .map_err(|e| Failed(format!("reading Service `{namespace}/{service}`: {e}")))?
            .and_then(|s| s.spec?.selector?.remove(REVISION_LABEL)),
        None => None,
    };
    let revision = |d: &Deployment| {
        d.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL))
            .cloned()
    };
    // The version being switched to: not active, never promoted; the latest started.
    let target = versions
        .iter()
        .filter(|d| revision(d).is_some() && revision(d) != active)
        .filter(|d| {
            d.metadata
                .labels
                .as_ref()
                .is_none_or(|l| !l.contains_key(PROMOTED_AT))
        })
        .filter(|d| matches!(request, Request::Promote) || annotation(d, ABORTED).is_none())
        .max_by_key(|d| {
            d.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(STARTED_AT))
                .and_then(|t| t.parse::<i64>().ok())
        })
        .ok_or_else(|| {
            NoSwitch(format!(
                "Deployment `{namespace}/{deployment}` has no switch in progress{} (the active Service selects `{}`)",
                if matches!(request, Request::Abort(_)) { " to abort" } else { "" },
                active.as_deref().unwrap_or("nothing")
            ))
        })?;
    let name = target.metadata.name.clone().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now();
    let now = k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    // Our own field manager: the agent's applies never remove these, and writing one request
    // removes the other (server-side apply drops the fields this manager no longer sets).
    let annotations = match request {
        Request::Promote => json!({PROMOTE: now.to_string()}),
        Request::Abort(reason) => json!({ABORT: reason, ABORT_AT: now.to_string()}),
    };
    let body = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
    });
    api.patch(
        &name,
        &PatchParams::apply(CLI_FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| Failed(format!("annotating Deployment `{namespace}/{name}`: {e}")))?;
    let labels = target.metadata.labels.clone().unwrap_or_default();
    let mut done = format!(
        "{} requested for Deployment `{namespace}/{name}`",
        match request {
            Request::Promote => "promotion",
            Request::Abort(_) => "abort",
        }
    );
    if let (Some(app), Some(app_ns)) = (
        labels.get(OWNER_NAME_LABEL),
        labels.get(OWNER_NAMESPACE_LABEL),
    ) {
        let apps: Api<Application> = Api::namespaced(client.clone(), app_ns);
        let patch: Value =
            json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: now.to_string()}}});
        apps.patch(app, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                Failed(format!(
                    "asking Application `{app_ns}/{app}` for a reconcile: {e}"
                ))
            })?;
        done.push_str(&format!("; Application `{app_ns}/{app}` reconciles now"));
    }
    Ok(done)
}
