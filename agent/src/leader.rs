//! Leader election over a `coordination.k8s.io/v1` Lease, for several replicas of the agent.
//!
//! Only the replica holding the Lease runs the controller (reconciles, drift watches); the
//! others serve `/healthz`, `/readyz`, `/metrics` and the forced-sync API, which they hand to the
//! leader by writing the `reconcile.pi-agent.io/requestedAt` annotation.
//!
//! The Lease is taken and renewed by the crate `kube-lease-manager` (server-side apply with a
//! field manager per identity, so two candidates cannot both take a free Lease). On top of it,
//! [`Leadership::lost`] runs a watchdog that reads the Lease itself: the crate keeps saying
//! "leader" while its renewals fail (API server unreachable), and a leader that cannot prove it
//! still holds the Lease must stop before another replica may take it over.
//!
//! Losing the Lease ends the process (exit code 2): the kubelet restarts the container, which
//! comes back as a follower. Stopping in-process would have to cancel in-flight applies anyway,
//! and a crash at any point already resumes to a correct state (tests/resilience).

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tracing::{info, warn};

/// How this replica takes part in the election.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace (the agent's own).
    pub lease_namespace: String,
    /// This replica's identity in `spec.holderIdentity` (the pod name).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal (`spec.leaseDurationSeconds`).
    pub duration: Duration,
    /// How often the leader renews it; below `duration`, the difference being the tolerated
    /// clock skew between nodes.
    pub renew_period: Duration,
}

impl ElectionConfig {
    /// Checks the durations: whole seconds (the Lease counts in seconds), renewal shorter than
    /// the Lease.
    ///
    /// # Errors
    /// A message naming the offending value.
    pub fn validate(&self) -> Result<(), String> {
        let whole = |d: Duration| d.subsec_nanos() == 0 && d.as_secs() >= 1;
        if !whole(self.duration) {
            return Err(format!(
                "`--lease-duration {:?}`: must be a whole number of seconds, at least 1s",
                self.duration
            ));
        }
        if !whole(self.renew_period) || self.renew_period >= self.duration {
            return Err(format!(
                "`--lease-renew-period {:?}`: must be whole seconds, at least 1s and shorter than `--lease-duration` ({:?})",
                self.renew_period, self.duration
            ));
        }
        if self.lease_namespace.is_empty() || self.lease_name.is_empty() {
            return Err(
                "`--lease-namespace` and `--lease-name` must not be empty (set POD_NAMESPACE)"
                    .into(),
            );
        }
        Ok(())
    }

    fn grace(&self) -> Duration {
        self.duration - self.renew_period
    }
}

/// Errors of the election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be created or read.
    #[error("leader election on Lease `{namespace}/{name}`: {source}")]
    LeaseUnavailable {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The cause.
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
}

/// This replica holds the Lease, until [`Leadership::lost`] resolves.
pub struct Leadership {
    client: kube::Client,
    config: ElectionConfig,
    state: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

/// Waits until this replica holds the Lease (creating the Lease if needed).
///
/// # Errors
/// When the Lease cannot be created or read at start (RBAC, namespace missing).
pub async fn acquire(
    client: kube::Client,
    config: ElectionConfig,
) -> Result<Leadership, LeaderError> {
    let unavailable = |source| LeaderError::LeaseUnavailable {
        namespace: config.lease_namespace.clone(),
        name: config.lease_name.clone(),
        source,
    };
    let manager = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
        .with_namespace(&config.lease_namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration.as_secs())
        .with_grace(config.grace().as_secs())
        .with_field_manager(format!("pi-agent-{}", config.identity))
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await
        .map_err(unavailable)?;
    let (mut state, task) = manager.watch().await;
    info!(lease = %config.lease_name, namespace = %config.lease_namespace, identity = %config.identity,
        "waiting for the leader lease");
    // The manager task retries on API errors by itself; the channel closes only if it ends.
    while !*state.borrow_and_update() {
        if state.changed().await.is_err() {
            let result = task.await;
            let source = match result {
                Ok(Err(e)) => e,
                _ => kube_lease_manager::LeaseManagerError::InconsistentState(
                    "the lease manager task ended".into(),
                ),
            };
            return Err(unavailable(source));
        }
    }
    info!(identity = %config.identity, "acquired the leader lease; starting the controller");
    Ok(Leadership {
        client,
        config,
        state,
        task,
    })
}

impl Leadership {
    /// Resolves when this replica may no longer hold the Lease: the manager saw another holder,
    /// or the watchdog could not confirm our renewal before `renewTime + duration − grace/2`
    /// (so that we stop before any other replica may take the Lease over).
    pub async fn lost(&mut self) -> String {
        let state = &mut self.state;
        let manager = async {
            loop {
                if state.changed().await.is_err() {
                    return "the lease manager stopped".to_owned();
                }
                if !*state.borrow_and_update() {
                    return "another replica holds the lease".to_owned();
                }
            }
        };
        tokio::select! {
            why = manager => why,
            why = watchdog(&self.client, &self.config) => why,
        }
    }

    /// Gives the Lease up (on a graceful shutdown, after the controller stopped) so that a
    /// follower takes over at once rather than after the Lease expires. Bounded to 5 s.
    pub async fn release(self) {
        let Leadership { state, task, .. } = self;
        // Closing the channel makes the manager task release the Lease and end.
        drop(state);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => info!("released the leader lease"),
            Ok(Ok(Err(e))) => warn!(error = %e, "could not release the leader lease"),
            Ok(Err(e)) => warn!(error = %e, "lease manager task failed"),
            Err(_) => warn!("releasing the leader lease timed out; it will expire"),
        }
    }
}

/// Reads the Lease periodically; returns why leadership can no longer be assumed.
async fn watchdog(client: &kube::Client, config: &ElectionConfig) -> String {
    let api: Api<Lease> = Api::namespaced(client.clone(), &config.lease_namespace);
    let poll = (config.grace() / 4).clamp(Duration::from_millis(250), Duration::from_secs(2));
    let margin = config.grace() / 2;
    // Until the first read, leadership is as fresh as the acquisition that just happened.
    let mut deadline = SystemTime::now() + config.duration - margin;
    loop {
        tokio::time::sleep(poll).await;
        match tokio::time::timeout(poll * 2, api.get(&config.lease_name)).await {
            Ok(Ok(lease)) => {
                let spec = lease.spec.unwrap_or_default();
                if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
                    return format!(
                        "the lease is held by `{}`",
                        spec.holder_identity.unwrap_or_default()
                    );
                }
                if let Some(renewed) = spec.renew_time {
                    let renewed: SystemTime = renewed.0.into();
                    let valid = Duration::from_secs(
                        spec.lease_duration_seconds
                            .and_then(|s| u64::try_from(s).ok())
                            .unwrap_or(config.duration.as_secs()),
                    );
                    deadline = deadline.max(renewed + valid - margin);
                }
            }
            Ok(Err(e)) => warn!(error = %e, "cannot read the leader lease"),
            Err(_) => warn!("reading the leader lease timed out"),
        }
        if SystemTime::now() > deadline {
            return "the lease renewal could not be confirmed before it may expire".to_owned();
        }
    }
}

/// This replica's identity: `POD_NAME` (the manifests set it from the downward API), else
/// `<hostname>_<pid>` so that two local processes on one machine differ.
pub fn default_identity() -> String {
    if let Some(pod) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "pi-agent".into());
    format!("{host}_{}", std::process::id())
}

/// The namespace the Lease lives in by default: `POD_NAMESPACE`, else the in-cluster service
/// account's namespace.
pub fn default_namespace() -> Option<String> {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(duration: u64, renew: u64) -> ElectionConfig {
        ElectionConfig {
            lease_name: "pi-agent".into(),
            lease_namespace: "pi-agent-system".into(),
            identity: "a".into(),
            duration: Duration::from_secs(duration),
            renew_period: Duration::from_secs(renew),
        }
    }

    #[test]
    fn election_config_should_refuse_a_renewal_not_shorter_than_the_lease() {
        assert!(config(15, 5).validate().is_ok());
        assert!(config(4, 2).validate().is_ok());
        assert!(
            config(4, 4)
                .validate()
                .unwrap_err()
                .contains("--lease-renew-period")
        );
        assert!(
            config(0, 0)
                .validate()
                .unwrap_err()
                .contains("--lease-duration")
        );
        let mut c = config(4, 2);
        c.duration = Duration::from_millis(4500);
        assert!(c.validate().is_err());
        c = config(4, 2);
        c.lease_namespace.clear();
        assert!(c.validate().unwrap_err().contains("POD_NAMESPACE"));
    }

    #[test]
    fn grace_should_be_the_lease_minus_the_renewal() {
        assert_eq!(config(15, 5).grace(), Duration::from_secs(10));
    }
}
