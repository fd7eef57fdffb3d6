//! Rules for DaemonSets: a pod on every node that should run one.

use serde_json::Value;

use super::fields::{self, Malformed, int_or};
use super::{Health, current, in_progress};

/// DaemonSet: a pod on every node that should run one, updated, available and ready.
pub(super) fn daemon_set(o: &Value) -> Result<Health, Malformed> {
    // The generic check is lenient when either generation field is unset. The DaemonSet
    // controller always sets observedGeneration once it has acted, so here unset means "not yet".
    if fields::int(o, "metadata.generation")?.is_none() {
        return Ok(in_progress("metadata.generation not set"));
    }
    if fields::int(o, "status.observedGeneration")?.is_none() {
        return Ok(in_progress("not yet observed by the DaemonSet controller"));
    }
    let Some(desired) = fields::int(o, "status.desiredNumberScheduled")? else {
        return Ok(in_progress(
            "status.desiredNumberScheduled not yet reported",
        ));
    };
    let scheduled = int_or(o, "status.currentNumberScheduled", 0)?;
    let updated = int_or(o, "status.updatedNumberScheduled", 0)?;
    let available = int_or(o, "status.numberAvailable", 0)?;
    let ready = int_or(o, "status.numberReady", 0)?;
    if desired > scheduled {
        return Ok(in_progress(format!("{scheduled}/{desired} pods scheduled")));
    }
    if desired > updated {
        return Ok(in_progress(format!("{updated}/{desired} pods updated")));
    }
    if desired > available {
        return Ok(in_progress(format!("{available}/{desired} pods available")));
    }
    if desired > ready {
        return Ok(in_progress(format!("{ready}/{desired} pods ready")));
    }
    Ok(current(format!("{available}/{desired} pods available")))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn daemon_set(status: Value) -> Value {
        object("apps/v1", "DaemonSet", json!({}), status)
    }

    #[test]
    fn daemon_set_on_every_node_should_be_current() {
        let d = daemon_set(
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                                  "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3}),
        );
        assert_health(d, Status::Current, "3/3 pods available");
    }

    #[test]
    fn daemon_set_without_generation_should_be_in_progress() {
        let mut d = daemon_set(json!({"desiredNumberScheduled": 0}));
        d["metadata"] = json!({"name": "x"});
        assert_health(d, Status::InProgress, "metadata.generation not set");
    }

    #[test]
    fn unobserved_daemon_set_should_be_in_progress() {
        assert_health(
            daemon_set(json!({})),
            Status::InProgress,
            "not yet observed by the DaemonSet controller",
        );
    }

    #[test]
    fn daemon_set_without_desired_number_should_be_in_progress() {
        let d = daemon_set(json!({"observedGeneration": 2}));
        assert_health(
            d,
            Status::InProgress,
            "status.desiredNumberScheduled not yet reported",
        );
    }

    #[test]
    fn daemon_set_with_missing_pods_should_be_in_progress() {
        let base = json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                          "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3});
        for (field, why) in [
            ("currentNumberScheduled", "2/3 pods scheduled"),
            ("updatedNumberScheduled", "2/3 pods updated"),
            ("numberAvailable", "2/3 pods available"),
            ("numberReady", "2/3 pods ready"),
        ] {
            let mut status = base.clone();
            status[field] = json!(2);
            assert_health(daemon_set(status), Status::InProgress, why);
        }
    }
}
