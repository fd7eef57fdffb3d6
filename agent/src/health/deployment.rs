//! Rules for Deployments and their ReplicaSets: replica counts and the rollout conditions.
//!
//! Each check runs in the order kstatus runs it, so the first unmet one names why the object is
//! not current.

use serde_json::Value;

use super::fields::{self, Malformed, conditions, int_or, plural};
use super::{Health, current, detail, failed, in_progress};

/// Deployment: rollout finished, all replicas updated, ready and available.
pub(super) fn deployment(o: &Value) -> Result<Health, Malformed> {
    let conditions = conditions(o)?;
    // The controller sets this reason (with status False) once the rollout made no progress
    // for progressDeadlineSeconds; it will not recover without a change.
    if let Some(c) = conditions
        .iter()
        .find(|c| c.type_ == "Progressing" && c.reason == "ProgressDeadlineExceeded")
    {
        return Ok(failed(format!(
            "progress deadline exceeded{}",
            detail(c.message)
        )));
    }
    // Without a deadline (unset, or i32::MAX which the controller treats as unset) the
    // controller never sets Progressing, so there is nothing to wait for there.
    let deadline = fields::int(o, "spec.progressDeadlineSeconds")?;
    let progressing = deadline.is_none_or(|d| d == i64::from(i32::MAX))
        || fields::find(&conditions, "Progressing", "True")
            .is_some_and(|c| c.reason == "NewReplicaSetAvailable");
    // kstatus has no rule of its own here: a paused Deployment gets Progressing=Unknown
    // (DeploymentPaused) and so stays InProgress. We say why.
    if fields::boolean(o, "spec.paused")?.unwrap_or(false) {
        return Ok(in_progress("rollout is paused"));
    }
    let spec = int_or(o, "spec.replicas", 1)?;
    let replicas = int_or(o, "status.replicas", 0)?;
    let updated = int_or(o, "status.updatedReplicas", 0)?;
    let ready = int_or(o, "status.readyReplicas", 0)?;
    let available = int_or(o, "status.availableReplicas", 0)?;
    if spec > replicas {
        return Ok(in_progress(format!("{replicas}/{spec} replicas created")));
    }
    if spec > updated {
        return Ok(in_progress(format!("{updated}/{spec} replicas updated")));
    }
    if replicas > spec {
        let extra = replicas.saturating_sub(spec);
        return Ok(in_progress(format!(
            "{} pending termination",
            plural(extra, "old replica")
        )));
    }
    if updated > available {
        return Ok(in_progress(format!(
            "{available}/{updated} replicas available"
        )));
    }
    if spec > ready {
        return Ok(in_progress(format!("{ready}/{spec} replicas ready")));
    }
    if !progressing {
        let why = fields::find_type(&conditions, "Progressing")
            .map(|c| c.explain())
            .unwrap_or_default();
        return Ok(in_progress(format!(
            "new ReplicaSet not yet available{}",
            detail(&why)
        )));
    }
    if fields::find(&conditions, "Available", "True").is_none() {
        let why = fields::find_type(&conditions, "Available")
            .map(|c| c.explain())
            .unwrap_or_default();
        return Ok(in_progress(format!("not Available{}", detail(&why))));
    }
    Ok(current(format!("{available}/{spec} replicas available")))
}

/// ReplicaSet: all replicas labelled, available and ready, none extra.
pub(super) fn replica_set(o: &Value) -> Result<Health, Malformed> {
    let conditions = conditions(o)?;
    // ReplicaFailure (quota, admission) may clear on its own, so kstatus keeps waiting.
    if let Some(c) = fields::find(&conditions, "ReplicaFailure", "True") {
        return Ok(in_progress(format!(
            "replica failure{}",
            detail(&c.explain())
        )));
    }
    let spec = int_or(o, "spec.replicas", 1)?;
    let replicas = int_or(o, "status.replicas", 0)?;
    let ready = int_or(o, "status.readyReplicas", 0)?;
    let available = int_or(o, "status.availableReplicas", 0)?;
    let labelled = int_or(o, "status.fullyLabeledReplicas", 0)?;
    if spec > labelled {
        return Ok(in_progress(format!(
            "{labelled}/{spec} replicas fully labelled"
        )));
    }
    if spec > available {
        return Ok(in_progress(format!(
            "{available}/{spec} replicas available"
        )));
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
    Ok(current(format!("{available}/{spec} replicas available")))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn deployment(spec: Value, status: Value) -> Value {
        object("apps/v1", "Deployment", spec, status)
    }

    fn complete_deployment_status() -> Value {
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
               "availableReplicas": 2, "conditions": [
                   {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                   {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
    }

    #[test]
    fn complete_deployment_should_be_current() {
        let d = deployment(
            json!({"replicas": 2, "progressDeadlineSeconds": 600}),
            complete_deployment_status(),
        );
        assert_health(d, Status::Current, "2/2 replicas available");
    }

    #[test]
    fn deployment_past_its_progress_deadline_should_be_failed() {
        let d = deployment(
            json!({"replicas": 2, "progressDeadlineSeconds": 600}),
            json!({"observedGeneration": 2, "replicas": 2, "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"web-1\" has timed out progressing."}]}),
        );
        assert_health(
            d,
            Status::Failed,
            "progress deadline exceeded: ReplicaSet \"web-1\" has timed out progressing.",
        );
    }

    #[test]
    fn deployment_with_unobserved_generation_should_be_in_progress() {
        let mut status = complete_deployment_status();
        status["observedGeneration"] = json!(1);
        let d = deployment(json!({"replicas": 2}), status);
        assert_health(
            d,
            Status::InProgress,
            "generation 2 not yet observed (observed generation 1)",
        );
    }

    #[test]
    fn paused_deployment_should_be_in_progress() {
        let d = deployment(
            json!({"replicas": 2, "paused": true}),
            complete_deployment_status(),
        );
        assert_health(d, Status::InProgress, "rollout is paused");
    }

    #[test]
    fn deployment_without_status_should_default_to_one_replica() {
        let d = deployment(json!({}), json!(null));
        assert_health(d, Status::InProgress, "0/1 replicas created");
    }

    #[test]
    fn deployment_with_unupdated_replicas_should_be_in_progress() {
        let d = deployment(
            json!({"replicas": 2}),
            json!({"replicas": 2, "updatedReplicas": 1}),
        );
        assert_health(d, Status::InProgress, "1/2 replicas updated");
    }

    #[test]
    fn deployment_with_old_replicas_left_should_be_in_progress() {
        let d = deployment(
            json!({"replicas": 2}),
            json!({"replicas": 3, "updatedReplicas": 2}),
        );
        assert_health(d, Status::InProgress, "1 old replica pending termination");
    }

    #[test]
    fn deployment_with_unavailable_replicas_should_be_in_progress() {
        let d = deployment(
            json!({"replicas": 2}),
            json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}),
        );
        assert_health(d, Status::InProgress, "1/2 replicas available");
    }

    #[test]
    fn deployment_with_unready_replicas_should_be_in_progress() {
        let d = deployment(
            json!({"replicas": 2}),
            json!({"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 2}),
        );
        assert_health(d, Status::InProgress, "1/2 replicas ready");
    }

    #[test]
    fn deployment_with_deadline_but_rollout_not_finished_should_be_in_progress() {
        let mut status = complete_deployment_status();
        status["conditions"][1] =
            json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"});
        let d = deployment(
            json!({"replicas": 2, "progressDeadlineSeconds": 600}),
            status,
        );
        assert_health(
            d,
            Status::InProgress,
            "new ReplicaSet not yet available: ReplicaSetUpdated",
        );
        let d = deployment(
            json!({"replicas": 0, "progressDeadlineSeconds": 600}),
            json!({"conditions": [{"type": "Available", "status": "True"}]}),
        );
        assert_health(d, Status::InProgress, "new ReplicaSet not yet available");
    }

    #[test]
    fn deployment_without_deadline_should_not_wait_for_progressing() {
        let available = json!({"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                               "conditions": [{"type": "Available", "status": "True"}]});
        let d = deployment(json!({}), available.clone());
        assert_health(d, Status::Current, "1/1 replicas available");
        let d = deployment(json!({"progressDeadlineSeconds": 2147483647}), available);
        assert_health(d, Status::Current, "1/1 replicas available");
    }

    #[test]
    fn deployment_without_available_condition_should_be_in_progress() {
        let mut status = complete_deployment_status();
        status["conditions"][0] =
            json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"});
        let d = deployment(json!({"replicas": 2}), status);
        assert_health(
            d,
            Status::InProgress,
            "not Available: MinimumReplicasUnavailable",
        );
        let d = deployment(json!({"replicas": 0}), json!({}));
        assert_health(d, Status::InProgress, "not Available");
    }

    #[test]
    fn deployment_in_extensions_group_should_get_deployment_rules() {
        let d = object(
            "extensions/v1beta1",
            "Deployment",
            json!({"replicas": 2}),
            json!({}),
        );
        assert_health(d, Status::InProgress, "0/2 replicas created");
    }

    #[test]
    fn deployment_with_malformed_replicas_should_be_unknown() {
        let d = deployment(json!({"replicas": "2"}), json!({}));
        assert_health(
            d,
            Status::Unknown,
            "cannot assess: `spec.replicas` is not an integer",
        );
        let d = deployment(json!({"paused": "yes"}), json!({}));
        assert_health(
            d,
            Status::Unknown,
            "cannot assess: `spec.paused` is not a boolean",
        );
        let d = deployment(json!({"progressDeadlineSeconds": "600"}), json!({}));
        assert_health(
            d,
            Status::Unknown,
            "cannot assess: `spec.progressDeadlineSeconds` is not an integer",
        );
    }

    #[test]
    fn deployment_with_extreme_counts_should_not_overflow() {
        let d = deployment(json!({"replicas": i64::MIN}), json!({"replicas": i64::MAX}));
        assert_health(
            d,
            Status::InProgress,
            &format!("{} old replicas pending termination", i64::MAX),
        );
    }

    fn replica_set(status: Value) -> Value {
        object("apps/v1", "ReplicaSet", json!({"replicas": 2}), status)
    }

    #[test]
    fn replica_set_with_all_replicas_should_be_current() {
        let r = replica_set(
            json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}),
        );
        assert_health(r, Status::Current, "2/2 replicas available");
    }

    #[test]
    fn replica_set_with_replica_failure_should_be_in_progress() {
        let r = replica_set(
            json!({"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                                   "message": "exceeded quota"}]}),
        );
        assert_health(
            r,
            Status::InProgress,
            "replica failure: FailedCreate: exceeded quota",
        );
    }

    #[test]
    fn replica_set_with_missing_replicas_should_be_in_progress() {
        let base = json!({"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2, "readyReplicas": 2});
        for (field, value, why) in [
            ("fullyLabeledReplicas", 1, "1/2 replicas fully labelled"),
            ("availableReplicas", 1, "1/2 replicas available"),
            ("readyReplicas", 1, "1/2 replicas ready"),
            ("replicas", 3, "1 replica pending termination"),
        ] {
            let mut status = base.clone();
            status[field] = json!(value);
            assert_health(replica_set(status), Status::InProgress, why);
        }
    }
}
