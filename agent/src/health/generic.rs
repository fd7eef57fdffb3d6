//! The rules kstatus applies to every kind, and the fallback for kinds without rules of their own.

use serde_json::Value;

use super::fields::{self, Malformed, conditions};
use super::{Health, Status, current, detail, failed, in_progress};

/// The rules kstatus applies to every kind before the kind's own; `None` when they do not decide.
pub(super) fn generic(object: &Value) -> Result<Option<Health>, Malformed> {
    if fields::string(object, "metadata.deletionTimestamp")?.is_some_and(|t| !t.is_empty()) {
        let finalizers: Vec<&str> = fields::array(object, "metadata.finalizers")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let why = if finalizers.is_empty() {
            "scheduled for deletion".to_owned()
        } else {
            format!(
                "scheduled for deletion, waiting for finalizers {}",
                finalizers.join(", ")
            )
        };
        return Ok(Some(Health::new(Status::Terminating, why)));
    }
    // Only when both are set: many kinds have no observedGeneration (kstatus does the same).
    // Any difference counts, as in kstatus; observed can only run ahead in hand-made input.
    let generation = fields::int(object, "metadata.generation")?;
    let observed = fields::int(object, "status.observedGeneration")?;
    if let (Some(generation), Some(observed)) = (generation, observed)
        && generation != observed
    {
        return Ok(Some(in_progress(format!(
            "generation {generation} not yet observed (observed generation {observed})"
        ))));
    }
    // The first of the kstatus conditions decides, in the order the controller listed them.
    for c in conditions(object)? {
        if c.is("Reconciling", "True") {
            return Ok(Some(in_progress(format!(
                "reconciling{}",
                detail(&c.explain())
            ))));
        }
        if c.is("Stalled", "True") {
            return Ok(Some(failed(format!("stalled{}", detail(&c.explain())))));
        }
    }
    Ok(None)
}

/// Kinds without rules of their own: `Current` unless `Ready` is `False`.
///
/// kstatus itself reads no `Ready` condition and calls such objects `Current`; we wait on
/// `Ready=False` because many controllers (cert-manager, Crossplane, Cluster API) report
/// progress only there. `Ready=Unknown` is left `Current`, as kstatus would.
pub(super) fn ready_condition(object: &Value) -> Result<Health, Malformed> {
    let conditions = conditions(object)?;
    Ok(match fields::find(&conditions, "Ready", "False") {
        Some(c) => in_progress(format!("not Ready{}", detail(&c.explain()))),
        None => current("current"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::{Health, Status, assess};

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
    fn object_with_deletion_timestamp_should_be_terminating() {
        assert_health(
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            Status::Terminating,
            "Deployment web: scheduled for deletion",
        );
    }

    #[test]
    fn terminating_object_should_name_its_finalizers() {
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
                   "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/b", "c/d"]}}),
            Status::Terminating,
            "ConfigMap c: scheduled for deletion, waiting for finalizers a/b, c/d",
        );
    }

    #[test]
    fn terminating_object_with_malformed_finalizers_should_be_unknown() {
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
                   "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": "a/b"}}),
            Status::Unknown,
            "ConfigMap c: cannot assess: `metadata.finalizers` is not an array",
        );
    }

    #[test]
    fn empty_deletion_timestamp_should_be_ignored() {
        assert_health(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": ""}}),
            Status::Current,
            "ConfigMap c: always current (no status to wait for)",
        );
    }

    #[test]
    fn unobserved_generation_should_be_in_progress() {
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                   "metadata": {"name": "w", "generation": 3}, "status": {"observedGeneration": 2}}),
            Status::InProgress,
            "Widget w: generation 3 not yet observed (observed generation 2)",
        );
    }

    #[test]
    fn generation_without_observed_generation_should_not_decide() {
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 3}}),
            Status::Current,
            "Widget w: current",
        );
    }

    #[test]
    fn reconciling_condition_should_be_in_progress() {
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Reconciling", "status": "True", "reason": "Progressing", "message": "fetching"}
            ]}}),
            Status::InProgress,
            "Widget w: reconciling: Progressing: fetching",
        );
    }

    #[test]
    fn stalled_condition_should_be_failed() {
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                   "status": {"conditions": [{"type": "Stalled", "status": "True"}]}}),
            Status::Failed,
            "Widget w: stalled",
        );
    }

    #[test]
    fn first_true_kstatus_condition_should_decide() {
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "status": {"conditions": [
                {"type": "Reconciling", "status": "False"},
                {"type": "Stalled", "status": "True", "message": "bad spec"},
                {"type": "Reconciling", "status": "True"}
            ]}}),
            Status::Failed,
            "Widget w: stalled: bad spec",
        );
    }

    #[test]
    fn kstatus_conditions_should_override_kind_rules() {
        // A Pod that has never been scheduled would be InProgress by the Pod rules.
        assert_health(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "X"}]}}),
            Status::Failed,
            "Pod p: stalled: X",
        );
    }

    #[test]
    fn unknown_kind_with_ready_false_should_be_in_progress() {
        assert_health(
            json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "tls"},
                   "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Issuing",
                                              "message": "Issuing certificate as Secret does not exist"}]}}),
            Status::InProgress,
            "Certificate tls: not Ready: Issuing: Issuing certificate as Secret does not exist",
        );
    }

    #[test]
    fn unknown_kind_with_ready_true_or_unknown_should_be_current() {
        for ready in ["True", "Unknown"] {
            assert_health(
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                       "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
                Status::Current,
                "Widget w: current",
            );
        }
    }

    #[test]
    fn unknown_kind_without_status_should_be_current() {
        assert_health(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}),
            Status::Current,
            "Role r: current",
        );
    }

    #[test]
    fn built_in_kind_name_in_another_group_should_get_generic_rules() {
        // Only core-group Secrets are always current; an example.com Secret is some CRD.
        assert_health(
            json!({"apiVersion": "example.com/v1", "kind": "Secret", "metadata": {"name": "s"},
                   "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            Status::InProgress,
            "Secret s: not Ready",
        );
    }
}
