//! Health assessment: whether a live object has reached the state its spec asks for.
//!
//! [`assess`] reads one object as JSON, as fetched from the API server, and returns its
//! [`Health`]: a kstatus [`Status`] and a message saying why. It is pure (no client, no clock)
//! and follows kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus/status`, which Flux uses), in the
//! same order:
//!
//! 1. generic rules for every kind: `metadata.deletionTimestamp` → `Terminating`;
//!    `metadata.generation` not yet observed in `status.observedGeneration` → `InProgress`;
//!    a `Reconciling=True` condition → `InProgress`, `Stalled=True` → `Failed`;
//! 2. rules for the built-in kinds that do not use those conditions (Deployment, StatefulSet,
//!    DaemonSet, ReplicaSet, Job, Pod, PersistentVolumeClaim, Service, PodDisruptionBudget,
//!    CustomResourceDefinition, Namespace; ConfigMap, Secret and CronJob are always current);
//! 3. any other kind is `Current`, unless its `Ready` condition is `False` (`InProgress`).
//!
//! [`summarize`] turns the health of many objects into one status message. Input of any shape
//! is assessed without panicking: a field of the wrong type makes the object `Unknown`, naming
//! the field (kstatus returns an error there, which its poller reports as `Unknown`).
//!
//! # Differences from kstatus
//!
//! Each is explained where the rule is written. kstatus calls a Pod in phase Failed `Current`
//! (done); here it is `Failed`, as is a Running pod whose container exited non-zero under
//! `restartPolicy: Never` and a Pending pod whose init container crash-loops. An unschedulable
//! Pod is `Failed` at once (kstatus waits 15 s; we have no clock). A LoadBalancer Service waits
//! for `status.loadBalancer.ingress` (kstatus checks only `spec.clusterIP`). A
//! PodDisruptionBudget waits for `currentHealthy >= desiredHealthy` (kstatus: always `Current`).
//! A paused Deployment is `InProgress` saying so. Kinds without rules wait on `Ready=False`, and a
//! Namespace in phase Terminating is `Terminating`.

pub mod cel;
mod daemon_set;
mod deployment;
mod fields;
mod generic;
mod job;
mod pod;
mod resources;
mod stateful_set;
mod summary;
#[cfg(test)]
mod testing;

use std::fmt;

use serde_json::Value;

use fields::Malformed;
pub use summary::summarize;

/// The kstatus status of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The object has reached the state its spec asks for.
    Current,
    /// The object is on its way; waiting is expected to help.
    InProgress,
    /// The object will not get there without a change (deadline exceeded, crash loop, job failed).
    Failed,
    /// The object is being deleted.
    Terminating,
    /// The object does not exist. [`assess`] never returns it; see [`Health::not_found`].
    NotFound,
    /// The object could not be assessed (it is not a Kubernetes object, or a field is malformed).
    Unknown,
}

impl Status {
    /// The kstatus name: `Current`, `InProgress`, `Failed`, `Terminating`, `NotFound`, `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "Current",
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
            Status::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one object: its status and why, e.g. `Deployment web: 1/2 replicas available`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The kstatus status.
    pub status: Status,
    /// Why, starting with the object's kind and name.
    pub message: String,
}

impl Health {
    /// The health of an object that the API server does not have; `id` names it in the message.
    pub fn not_found(id: &str) -> Health {
        Health {
            status: Status::NotFound,
            message: format!("{id}: not found"),
        }
    }

    fn new(status: Status, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
        }
    }
}

/// `Current` with why; the kind and name are prefixed by [`assess`].
fn current(why: impl Into<String>) -> Health {
    Health::new(Status::Current, why)
}

/// `InProgress` with why.
fn in_progress(why: impl Into<String>) -> Health {
    Health::new(Status::InProgress, why)
}

/// `Failed` with why.
fn failed(why: impl Into<String>) -> Health {
    Health::new(Status::Failed, why)
}

/// `": detail"`, or nothing when `detail` is empty.
fn detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// Assesses the health of one live object (`apiVersion`, `kind`, `metadata`, `spec`, `status`).
///
/// The message starts with the kind and name (`Deployment web: …`). Never panics: an input that
/// is not a Kubernetes object, or has a field of the wrong type, is [`Status::Unknown`].
pub fn assess(object: &Value) -> Health {
    if !object.is_object() {
        return Health::new(
            Status::Unknown,
            "not a Kubernetes object: expected a JSON object",
        );
    }
    let Some(kind) = object
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    else {
        return Health::new(
            Status::Unknown,
            "not a Kubernetes object: `kind` is missing",
        );
    };
    let name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("<unnamed>");
    let health = judge(object, kind).unwrap_or_else(|malformed| {
        Health::new(Status::Unknown, format!("cannot assess: {malformed}"))
    });
    Health {
        status: health.status,
        message: format!("{kind} {name}: {}", health.message),
    }
}

/// False for the kinds whose health never depends on their live state (they have no status:
/// [`assess`] finds them `Current` whatever the API server holds), so that an unchanged object
/// of such a kind need not be read to be assessed. True for every other kind, custom ones
/// included.
pub fn reads_live_state(group: &str, kind: &str) -> bool {
    !matches!(
        (group, kind),
        (
            "",
            "ConfigMap" | "Secret" | "ServiceAccount" | "LimitRange" | "Endpoints"
        ) | (
            "rbac.authorization.k8s.io",
            "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding"
        ) | ("scheduling.k8s.io", "PriorityClass")
            | ("storage.k8s.io", "StorageClass")
            | ("networking.k8s.io", "IngressClass")
    )
}

/// The status and why, without the kind and name.
fn judge(object: &Value, kind: &str) -> Result<Health, Malformed> {
    let api_version = fields::string(object, "apiVersion")?.unwrap_or_default();
    if api_version.is_empty() {
        return Ok(Health::new(
            Status::Unknown,
            "not a Kubernetes object: `apiVersion` is missing",
        ));
    }
    // `apps/v1` is group `apps`; `v1` is the core group. kstatus keys its rules by group and
    // kind, never version, so `extensions/v1beta1` Deployments get the Deployment rules.
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    fields::object(object, "metadata")?;
    fields::object(object, "status")?;
    if let Some(health) = generic::generic(object)? {
        return Ok(health);
    }
    match (group, kind) {
        ("apps" | "extensions", "Deployment") => deployment::deployment(object),
        ("apps", "StatefulSet") => stateful_set::stateful_set(object),
        ("apps" | "extensions", "DaemonSet") => daemon_set::daemon_set(object),
        ("apps" | "extensions", "ReplicaSet") => deployment::replica_set(object),
        ("batch", "Job") => job::job(object),
        ("", "Pod") => pod::pod(object),
        ("", "PersistentVolumeClaim") => resources::persistent_volume_claim(object),
        ("", "Service") => resources::service(object),
        ("", "Namespace") => resources::namespace(object),
        ("policy", "PodDisruptionBudget") => resources::pod_disruption_budget(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            resources::custom_resource_definition(object)
        }
        ("", "ConfigMap" | "Secret") | ("batch", "CronJob") => {
            Ok(current("always current (no status to wait for)"))
        }
        _ => generic::ready_condition(object),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn kinds_without_status_should_not_need_their_live_state() {
        for (group, kind) in [
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ] {
            assert!(!super::reads_live_state(group, kind), "{kind}");
            // Whatever the live object holds, it is Current.
            let live = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}});
            assert_eq!(super::assess(&live).status, super::Status::Current);
        }
        for (group, kind) in [
            ("apps", "Deployment"),
            ("", "Service"),
            ("networking.k8s.io", "Ingress"),
            ("example.com", "Widget"),
            ("", "Namespace"),
        ] {
            assert!(super::reads_live_state(group, kind), "{kind}");
        }
    }

    use super::*;

    fn assert_health(object: Value, status: Status, message: &str) {
        let health = assess(&object);
        assert_eq!(
            health,
            Health {
                status,
                message: message.to_owned()
            },
            "for {object}"
        );
    }

    #[test]
    fn non_objects_should_be_unknown() {
        for input in [
            json!(null),
            json!([]),
            json!("Deployment"),
            json!(1),
            json!(true),
        ] {
            assert_health(
                input,
                Status::Unknown,
                "not a Kubernetes object: expected a JSON object",
            );
        }
    }

    #[test]
    fn object_without_kind_should_be_unknown() {
        let message = "not a Kubernetes object: `kind` is missing";
        assert_health(json!({"apiVersion": "v1"}), Status::Unknown, message);
        assert_health(
            json!({"apiVersion": "v1", "kind": ""}),
            Status::Unknown,
            message,
        );
        assert_health(
            json!({"apiVersion": "v1", "kind": 3}),
            Status::Unknown,
            message,
        );
    }

    #[test]
    fn object_without_api_version_should_be_unknown() {
        let message = "ConfigMap c: not a Kubernetes object: `apiVersion` is missing";
        assert_health(
            json!({"kind": "ConfigMap", "metadata": {"name": "c"}}),
            Status::Unknown,
            message,
        );
        assert_health(
            json!({"kind": "ConfigMap", "apiVersion": 1, "metadata": {"name": "c"}}),
            Status::Unknown,
            "ConfigMap c: cannot assess: `apiVersion` is not a string",
        );
    }

    #[test]
    fn object_without_name_should_say_unnamed() {
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
            Status::Current,
            "ConfigMap <unnamed>: always current (no status to wait for)",
        );
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 7}}),
            Status::Current,
            "ConfigMap <unnamed>: always current (no status to wait for)",
        );
    }

    #[test]
    fn malformed_metadata_or_status_should_be_unknown() {
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}),
            Status::Unknown,
            "ConfigMap <unnamed>: cannot assess: `metadata` is not an object",
        );
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": "ok"}),
            Status::Unknown,
            "Widget w: cannot assess: `status` is not an object",
        );
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "generation": "1"}}),
            Status::Unknown,
            "ConfigMap c: cannot assess: `metadata.generation` is not an integer",
        );
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": 5}}),
            Status::Unknown,
            "ConfigMap c: cannot assess: `metadata.deletionTimestamp` is not a string",
        );
    }

    #[test]
    fn config_map_secret_and_cron_job_should_be_current() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("batch/v1", "CronJob"),
        ] {
            let health = assess(
                &json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"},
                                        "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            );
            assert_eq!(health.status, Status::Current, "{kind}");
        }
    }

    #[test]
    fn status_should_display_its_kstatus_name() {
        let all = [
            (Status::Current, "Current"),
            (Status::InProgress, "InProgress"),
            (Status::Failed, "Failed"),
            (Status::Terminating, "Terminating"),
            (Status::NotFound, "NotFound"),
            (Status::Unknown, "Unknown"),
        ];
        for (status, name) in all {
            assert_eq!(status.to_string(), name);
        }
    }

    #[test]
    fn not_found_should_name_the_object() {
        assert_eq!(
            Health::not_found("Deployment prod/web"),
            Health {
                status: Status::NotFound,
                message: "Deployment prod/web: not found".to_owned()
            }
        );
    }
}
