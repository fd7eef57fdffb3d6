//! Rules for Jobs: started, then complete, failed or suspended.

use serde_json::Value;

use super::fields::{self, Malformed, conditions, int_or, plural};
use super::{Health, current, failed, in_progress};

/// Job: `InProgress` until it starts, then `Current` while running or complete (as in kstatus:
/// a running Job is what the spec asks for), `Failed` once the controller gives up.
pub(super) fn job(o: &Value) -> Result<Health, Malformed> {
    let parallelism = int_or(o, "spec.parallelism", 1)?;
    let completions = int_or(o, "spec.completions", parallelism)?;
    let succeeded = int_or(o, "status.succeeded", 0)?;
    let active = int_or(o, "status.active", 0)?;
    let failed_pods = int_or(o, "status.failed", 0)?;
    let started = fields::string(o, "status.startTime")?.is_some_and(|t| !t.is_empty());
    for c in conditions(o)? {
        match (c.type_, c.status) {
            ("Complete", "True") => {
                return Ok(current(format!(
                    "complete, {succeeded}/{completions} succeeded"
                )));
            }
            ("Failed", "True") => {
                let pods = plural(failed_pods, "pod");
                let why = c.explain();
                let why = if why.is_empty() {
                    "condition Failed is True".to_owned()
                } else {
                    why
                };
                return Ok(failed(format!("{why} ({pods} failed)")));
            }
            ("Suspended", "True") => return Ok(current("suspended")),
            _ => {}
        }
    }
    if !started {
        return Ok(in_progress("not started"));
    }
    Ok(current(format!(
        "running, {active} active, {succeeded}/{completions} succeeded, {failed_pods} failed"
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn job(spec: Value, status: Value) -> Value {
        object("batch/v1", "Job", spec, status)
    }

    #[test]
    fn complete_job_should_be_current() {
        let j = job(
            json!({"completions": 3}),
            json!({"succeeded": 3, "startTime": "t",
                   "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_health(j, Status::Current, "complete, 3/3 succeeded");
    }

    #[test]
    fn failed_job_should_be_failed() {
        let j = job(
            json!({}),
            json!({"failed": 7, "startTime": "t", "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]}),
        );
        assert_health(
            j,
            Status::Failed,
            "BackoffLimitExceeded: Job has reached the specified backoff limit (7 pods failed)",
        );
    }

    #[test]
    fn failed_job_without_reason_should_say_the_condition() {
        let j = job(
            json!({}),
            json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}),
        );
        assert_health(j, Status::Failed, "condition Failed is True (1 pod failed)");
    }

    #[test]
    fn suspended_job_should_be_current() {
        let j = job(
            json!({"suspend": true}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        assert_health(j, Status::Current, "suspended");
    }

    #[test]
    fn unstarted_job_should_be_in_progress() {
        let j = job(
            json!({}),
            json!({"conditions": [{"type": "Complete", "status": "False"}]}),
        );
        assert_health(j, Status::InProgress, "not started");
        assert_health(
            job(json!({}), json!({"startTime": ""})),
            Status::InProgress,
            "not started",
        );
    }

    #[test]
    fn running_job_should_be_current() {
        let j = job(
            json!({"parallelism": 2}),
            json!({"startTime": "t", "active": 2, "succeeded": 1, "failed": 1}),
        );
        assert_health(
            j,
            Status::Current,
            "running, 2 active, 1/2 succeeded, 1 failed",
        );
    }
}
