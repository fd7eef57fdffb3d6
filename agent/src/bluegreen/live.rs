//! What the cluster holds for one blue-green workload: the I/O edge of the planner.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::{BlueGreenError, REVISION_LABEL, WORKLOAD_LABEL, Workload};
use crate::api::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use crate::apply::Owner;

/// The live state of one workload.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Its version Deployments (labelled with the workload and owned by the Application).
    pub versions: Vec<Value>,
    /// The revision the active Service selects (`None`: no Service, or no revision yet).
    pub active_revision: Option<String>,
    /// The check Job of the Git revision, if it exists.
    pub check_job: Option<Value>,
    /// The plain Deployment of the same name this Application applied before the workload
    /// opted in to blue-green: production until the first version takes over.
    pub legacy: Option<Legacy>,
}

/// A plain Deployment being replaced by blue-green versions.
#[derive(Clone, Debug, Default)]
pub struct Legacy {
    /// The live object.
    pub object: Value,
    /// The `pod-template-hash` of its pods when it is fully rolled out and Available (the active
    /// Service then selects exactly those pods); `None` otherwise.
    pub pod_template_hash: Option<String>,
}

/// Reads the live state of `w`.
///
/// # Errors
/// [`BlueGreenError::ReadFailed`] when the API server does not answer.
pub async fn read(
    client: &kube::Client,
    w: &Workload,
    owner: &Owner,
) -> Result<Live, BlueGreenError> {
    let failed = |source| BlueGreenError::ReadFailed {
        deployment: format!("{}/{}", w.namespace, w.name),
        source,
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &w.namespace);
    let selector = format!(
        "{WORKLOAD_LABEL}={},{OWNER_NAME_LABEL}={},{OWNER_NAMESPACE_LABEL}={}",
        w.name, owner.name, owner.namespace
    );
    let versions = deployments
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(failed)?
        .items
        .into_iter()
        .map(|d| serde_json::to_value(d).unwrap_or_default())
        .collect();
    let services: Api<Service> = Api::namespaced(client.clone(), &w.namespace);
    let active_revision = services
        .get_opt(&w.strategy.active_service)
        .await
        .map_err(failed)?
        .and_then(|s| s.spec?.selector?.remove(REVISION_LABEL));
    let check_job = match w.check_name(&w.revision) {
        Some(name) => {
            let jobs: Api<Job> = Api::namespaced(client.clone(), &w.namespace);
            jobs.get_opt(&name)
                .await
                .map_err(failed)?
                .map(|j| serde_json::to_value(j).unwrap_or_default())
        }
        None => None,
    };
    let legacy = read_legacy(client, w, owner).await.map_err(failed)?;
    Ok(Live {
        versions,
        active_revision,
        check_job,
        legacy,
    })
}

/// The plain Deployment `w.name` of this Application, if any, with the pod-template-hash of its
/// current ReplicaSet when it is fully rolled out.
async fn read_legacy(
    client: &kube::Client,
    w: &Workload,
    owner: &Owner,
) -> Result<Option<Legacy>, kube::Error> {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &w.namespace);
    let Some(d) = deployments.get_opt(&w.name).await? else {
        return Ok(None);
    };
    let labels = d.metadata.labels.clone().unwrap_or_default();
    let ours = labels.get(OWNER_NAME_LABEL) == Some(&owner.name)
        && labels.get(OWNER_NAMESPACE_LABEL) == Some(&owner.namespace)
        && !labels.contains_key(WORKLOAD_LABEL);
    if !ours {
        return Ok(None);
    }
    let object = serde_json::to_value(&d).unwrap_or_default();
    let (available, _) =
        super::planner::availability(&object, i64::from(d.spec.replicas.unwrap_or(1)));
    let revision = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .cloned();
    let mut pod_template_hash = None;
    if available && let Some(revision) = revision {
        let selector = d
            .spec
            .selector
            .match_labels
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &w.namespace);
        let uid = d.metadata.uid.clone().unwrap_or_default();
        pod_template_hash = replica_sets
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .find(|rs| {
                let owned = rs
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid);
                let current = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                    == Some(&revision);
                owned && current
            })
            .and_then(|rs| rs.metadata.labels?.remove("pod-template-hash"));
    }
    Ok(Some(Legacy {
        object,
        pod_template_hash,
    }))
}
