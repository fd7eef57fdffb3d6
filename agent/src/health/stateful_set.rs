//! Rules for StatefulSets: replica counts, the partition and the update revision.

use serde_json::Value;

use super::fields::{self, Malformed, int_or, plural};
use super::{Health, current, in_progress};

/// StatefulSet: all replicas ready at the update revision (or up to the partition).
///
/// The StatefulSet controller sets no conditions, so only counts and revisions tell.
pub(super) fn stateful_set(o: &Value) -> Result<Health, Malformed> {
    if fields::string(o, "spec.updateStrategy.type")? == Some("OnDelete") {
        return Ok(current(
            "uses the OnDelete update strategy (pods update when deleted)",
        ));
    }
    let spec = int_or(o, "spec.replicas", 1)?;
    let replicas = int_or(o, "status.replicas", 0)?;
    let ready = int_or(o, "status.readyReplicas", 0)?;
    let at_current = int_or(o, "status.currentReplicas", 0)?;
    let updated = int_or(o, "status.updatedReplicas", 0)?;
    let partition = fields::int(o, "spec.updateStrategy.rollingUpdate.partition")?;
    if spec > replicas {
        return Ok(in_progress(format!("{replicas}/{spec} replicas created")));
    }
    if spec > ready {
        return Ok(in_progress(format!("{ready}/{spec} replicas ready")));
    }
    if replicas > spec {
        let extra = replicas.saturating_sub(spec);
        return Ok(in_progress(format!(
            "{} pending termination",
            plural(extra, "replica")
        )));
    }
    // Pods with an ordinal below the partition keep the old revision by design, so the
    // revisions never match; count only the pods at or above it (as kstatus does).
    if let Some(partition) = partition {
        let expected = spec.saturating_sub(partition);
        if updated < expected {
            return Ok(in_progress(format!(
                "{updated}/{expected} replicas updated (partition {partition})"
            )));
        }
        return Ok(current(format!(
            "partitioned rollout complete: {} updated",
            plural(updated, "replica")
        )));
    }
    if spec > at_current {
        return Ok(in_progress(format!(
            "{at_current}/{spec} replicas at the current revision"
        )));
    }
    let current_revision = fields::string(o, "status.currentRevision")?.unwrap_or_default();
    let update_revision = fields::string(o, "status.updateRevision")?.unwrap_or_default();
    if current_revision != update_revision {
        return Ok(in_progress(format!(
            "waiting for update revision {update_revision} to become current (current revision {current_revision})"
        )));
    }
    Ok(current(format!("{ready}/{spec} replicas ready")))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn stateful_set(spec: Value, status: Value) -> Value {
        object("apps/v1", "StatefulSet", spec, status)
    }

    fn settled_stateful_set_status() -> Value {
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
               "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"})
    }

    #[test]
    fn settled_stateful_set_should_be_current() {
        let s = stateful_set(
            json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}}),
            settled_stateful_set_status(),
        );
        assert_health(s, Status::Current, "3/3 replicas ready");
    }

    #[test]
    fn on_delete_stateful_set_should_be_current() {
        let s = stateful_set(
            json!({"replicas": 3, "updateStrategy": {"type": "OnDelete"}}),
            json!({}),
        );
        assert_health(
            s,
            Status::Current,
            "uses the OnDelete update strategy (pods update when deleted)",
        );
    }

    #[test]
    fn stateful_set_with_missing_replicas_should_be_in_progress() {
        let s = stateful_set(json!({"replicas": 3}), json!({"replicas": 2}));
        assert_health(s, Status::InProgress, "2/3 replicas created");
    }

    #[test]
    fn stateful_set_with_unready_replicas_should_be_in_progress() {
        let s = stateful_set(json!({}), json!({"replicas": 1}));
        assert_health(s, Status::InProgress, "0/1 replicas ready");
    }

    #[test]
    fn stateful_set_scaling_down_should_be_in_progress() {
        let s = stateful_set(
            json!({"replicas": 1}),
            json!({"replicas": 3, "readyReplicas": 3}),
        );
        assert_health(s, Status::InProgress, "2 replicas pending termination");
    }

    #[test]
    fn stateful_set_with_partition_should_count_only_pods_above_it() {
        let spec = json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
        let mut status = settled_stateful_set_status();
        status["updatedReplicas"] = json!(1);
        assert_health(
            stateful_set(spec.clone(), status.clone()),
            Status::InProgress,
            "1/2 replicas updated (partition 1)",
        );
        status["updatedReplicas"] = json!(2);
        status["updateRevision"] = json!("db-2");
        assert_health(
            stateful_set(spec, status),
            Status::Current,
            "partitioned rollout complete: 2 replicas updated",
        );
    }

    #[test]
    fn stateful_set_with_pods_at_old_revision_should_be_in_progress() {
        let mut status = settled_stateful_set_status();
        status["currentReplicas"] = json!(2);
        assert_health(
            stateful_set(json!({"replicas": 3}), status),
            Status::InProgress,
            "2/3 replicas at the current revision",
        );
    }

    #[test]
    fn stateful_set_with_revision_mismatch_should_be_in_progress() {
        let mut status = settled_stateful_set_status();
        status["updateRevision"] = json!("db-2");
        assert_health(
            stateful_set(json!({"replicas": 3}), status),
            Status::InProgress,
            "waiting for update revision db-2 to become current (current revision db-1)",
        );
    }
}
