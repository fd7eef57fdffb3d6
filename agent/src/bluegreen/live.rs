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
    Ok(Live {
        versions,
        active_revision,
        check_job,
    })
}
