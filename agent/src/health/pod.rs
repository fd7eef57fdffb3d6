//! Rules for bare Pods: by phase, then by the `Ready` condition and container states.

use serde_json::Value;

use super::fields::{self, Malformed, conditions};
use super::{Health, Status, current, detail, failed, in_progress};

/// Pod: `Current` once Ready (or Succeeded), `Failed` when it cannot get there.
pub(super) fn pod(o: &Value) -> Result<Health, Malformed> {
    let conditions = conditions(o)?;
    match fields::string(o, "status.phase")?.unwrap_or_default() {
        "Succeeded" => Ok(current("completed successfully")),
        // kstatus calls a Failed pod Current (it has finished reconciling); for an agent that
        // waits on what it applied, a pod that ran and failed is a failed rollout.
        "Failed" => {
            let reason = fields::string(o, "status.reason")?.unwrap_or_default();
            let message = fields::string(o, "status.message")?.unwrap_or_default();
            Ok(failed(format!(
                "phase Failed{}",
                detail(&fields::explain(reason, message))
            )))
        }
        "Running" => running(o, &conditions),
        "Pending" => pending(o, &conditions),
        "" => Ok(in_progress("phase not yet reported")),
        other => Ok(Health {
            status: Status::Unknown,
            message: format!("unknown phase {other}"),
        }),
    }
}

fn running(o: &Value, conditions: &[fields::Condition<'_>]) -> Result<Health, Malformed> {
    if fields::find(conditions, "Ready", "True").is_some() {
        return Ok(current("Ready"));
    }
    let containers = containers(o, "status.containerStatuses")?;
    let crash_looping = crash_looping(&containers);
    if !crash_looping.is_empty() {
        return Ok(failed(format!(
            "containers in CrashLoopBackOff: {}",
            crash_looping.join(", ")
        )));
    }
    // With restartPolicy Never a container that exited non-zero stays dead; the pod stays
    // Running (and never Ready) while its other containers run. kstatus has no rule for it.
    if fields::string(o, "spec.restartPolicy")? == Some("Never")
        && let Some(c) = containers
            .iter()
            .find(|c| c.exit_code.is_some_and(|code| code != 0))
    {
        let code = c.exit_code.unwrap_or_default();
        return Ok(failed(format!(
            "container {} exited with code {code} and restartPolicy is Never",
            c.name
        )));
    }
    let why = fields::find_type(conditions, "Ready")
        .map(|c| c.explain())
        .unwrap_or_default();
    Ok(in_progress(format!(
        "running but not Ready{}",
        detail(&why)
    )))
}

fn pending(o: &Value, conditions: &[fields::Condition<'_>]) -> Result<Health, Malformed> {
    // kstatus waits 15 s after creation before calling this Failed; we have no clock and
    // report it at once (the scheduler sets the reason only after a failed attempt).
    if let Some(c) =
        fields::find(conditions, "PodScheduled", "False").filter(|c| c.reason == "Unschedulable")
    {
        return Ok(failed(format!("cannot be scheduled{}", detail(c.message))));
    }
    // An init container in a crash loop keeps the pod Pending for ever; kstatus only looks at
    // app containers, which exist in Running pods.
    let init = containers(o, "status.initContainerStatuses")?;
    let crash_looping = crash_looping(&init);
    if !crash_looping.is_empty() {
        return Ok(failed(format!(
            "init containers in CrashLoopBackOff: {}",
            crash_looping.join(", ")
        )));
    }
    let app = containers(o, "status.containerStatuses")?;
    let waiting: Vec<String> = init
        .iter()
        .chain(&app)
        .filter(|c| !c.waiting.is_empty() && c.waiting != "PodInitializing")
        .map(|c| format!("{} {}", c.name, c.waiting))
        .collect();
    if waiting.is_empty() {
        Ok(in_progress("phase Pending"))
    } else {
        Ok(in_progress(format!(
            "phase Pending, waiting: {}",
            waiting.join(", ")
        )))
    }
}

/// What the rules need from one entry of `containerStatuses`.
struct ContainerState<'v> {
    name: &'v str,
    /// `state.waiting.reason`, empty when not waiting.
    waiting: &'v str,
    /// `state.terminated.exitCode`.
    exit_code: Option<i64>,
}

fn containers<'v>(o: &'v Value, path: &str) -> Result<Vec<ContainerState<'v>>, Malformed> {
    fields::array(o, path)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            // A non-object item fails the first read, naming the item itself.
            let read = || -> Result<ContainerState<'v>, Malformed> {
                fields::object(item, "state")?;
                Ok(ContainerState {
                    name: fields::string(item, "name")?.unwrap_or_default(),
                    waiting: fields::string(item, "state.waiting.reason")?.unwrap_or_default(),
                    exit_code: fields::int(item, "state.terminated.exitCode")?,
                })
            };
            read().map_err(|m| m.within(&format!("{path}[{i}]")))
        })
        .collect()
}

fn crash_looping<'v>(containers: &[ContainerState<'v>]) -> Vec<&'v str> {
    containers
        .iter()
        .filter(|c| c.waiting == "CrashLoopBackOff")
        .map(|c| c.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn pod(spec: Value, status: Value) -> Value {
        object("v1", "Pod", spec, status)
    }

    fn waiting(name: &str, reason: &str) -> Value {
        json!({"name": name, "state": {"waiting": {"reason": reason}}})
    }

    #[test]
    fn succeeded_pod_should_be_current() {
        assert_health(
            pod(json!({}), json!({"phase": "Succeeded"})),
            Status::Current,
            "completed successfully",
        );
    }

    #[test]
    fn failed_pod_should_be_failed() {
        assert_health(
            pod(
                json!({}),
                json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
            ),
            Status::Failed,
            "phase Failed: Evicted: low on memory",
        );
        assert_health(
            pod(json!({}), json!({"phase": "Failed"})),
            Status::Failed,
            "phase Failed",
        );
    }

    #[test]
    fn ready_running_pod_should_be_current() {
        let p = pod(
            json!({}),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_health(p, Status::Current, "Ready");
    }

    #[test]
    fn running_pod_not_ready_should_be_in_progress() {
        let p = pod(
            json!({}),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                                                      "message": "containers with unready status: [app]"}]}),
        );
        assert_health(
            p,
            Status::InProgress,
            "running but not Ready: ContainersNotReady: containers with unready status: [app]",
        );
        assert_health(
            pod(json!({}), json!({"phase": "Running"})),
            Status::InProgress,
            "running but not Ready",
        );
    }

    #[test]
    fn crash_looping_pod_should_be_failed() {
        let p = pod(
            json!({}),
            json!({"phase": "Running", "containerStatuses": [
                waiting("app", "CrashLoopBackOff"), {"name": "ok", "state": {"running": {}}},
                {"name": "new"}, waiting("side", "CrashLoopBackOff")]}),
        );
        assert_health(
            p,
            Status::Failed,
            "containers in CrashLoopBackOff: app, side",
        );
    }

    #[test]
    fn container_failed_with_restart_policy_never_should_be_failed() {
        let status = json!({"phase": "Running", "containerStatuses": [
            {"name": "done", "state": {"terminated": {"exitCode": 0}}},
            {"name": "app", "state": {"terminated": {"exitCode": 2}}}]});
        assert_health(
            pod(json!({"restartPolicy": "Never"}), status.clone()),
            Status::Failed,
            "container app exited with code 2 and restartPolicy is Never",
        );
        // With restarts it may still recover (or crash loop, which is caught above).
        assert_health(
            pod(json!({"restartPolicy": "Always"}), status),
            Status::InProgress,
            "running but not Ready",
        );
    }

    #[test]
    fn container_succeeded_with_restart_policy_never_should_not_fail() {
        let status = json!({"phase": "Running", "containerStatuses": [
            {"name": "done", "state": {"terminated": {"exitCode": 0}}}]});
        assert_health(
            pod(json!({"restartPolicy": "Never"}), status),
            Status::InProgress,
            "running but not Ready",
        );
    }

    #[test]
    fn unschedulable_pod_should_be_failed() {
        let p = pod(
            json!({}),
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                      "message": "0/3 nodes are available"}]}),
        );
        assert_health(
            p,
            Status::Failed,
            "cannot be scheduled: 0/3 nodes are available",
        );
    }

    #[test]
    fn pending_pod_should_be_in_progress_naming_waiting_containers() {
        let p = pod(
            json!({}),
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulerError"}],
                   "initContainerStatuses": [waiting("init", "PodInitializing")],
                   "containerStatuses": [waiting("app", "ImagePullBackOff"), waiting("side", "ContainerCreating")]}),
        );
        assert_health(
            p,
            Status::InProgress,
            "phase Pending, waiting: app ImagePullBackOff, side ContainerCreating",
        );
        assert_health(
            pod(json!({}), json!({"phase": "Pending"})),
            Status::InProgress,
            "phase Pending",
        );
    }

    #[test]
    fn pending_pod_with_crash_looping_init_container_should_be_failed() {
        let p = pod(
            json!({}),
            json!({"phase": "Pending", "initContainerStatuses": [waiting("migrate", "CrashLoopBackOff")]}),
        );
        assert_health(
            p,
            Status::Failed,
            "init containers in CrashLoopBackOff: migrate",
        );
    }

    #[test]
    fn pod_without_phase_should_be_in_progress() {
        assert_health(
            pod(json!({}), json!(null)),
            Status::InProgress,
            "phase not yet reported",
        );
    }

    #[test]
    fn pod_with_unknown_phase_should_be_unknown() {
        assert_health(
            pod(json!({}), json!({"phase": "Unknown"})),
            Status::Unknown,
            "unknown phase Unknown",
        );
    }

    #[test]
    fn pod_with_malformed_container_statuses_should_be_unknown() {
        let bad = [
            (
                json!({"phase": "Running", "containerStatuses": "x"}),
                "`status.containerStatuses` is not an array",
            ),
            (
                json!({"phase": "Running", "containerStatuses": [1]}),
                "`status.containerStatuses[0]` is not an object",
            ),
            (
                json!({"phase": "Running", "containerStatuses": [{"name": 1}]}),
                "`status.containerStatuses[0].name` is not a string",
            ),
            (
                json!({"phase": "Running", "containerStatuses": [{"state": []}]}),
                "`status.containerStatuses[0].state` is not an object",
            ),
            (
                json!({"phase": "Pending", "initContainerStatuses": [{"state": {"waiting": {"reason": 5}}}]}),
                "`status.initContainerStatuses[0].state.waiting.reason` is not a string",
            ),
            (
                json!({"phase": "Running", "containerStatuses": [{"state": {"terminated": {"exitCode": "1"}}}]}),
                "`status.containerStatuses[0].state.terminated.exitCode` is not an integer",
            ),
            (json!({"phase": 3}), "`status.phase` is not a string"),
            (
                json!({"phase": "Failed", "reason": 3}),
                "`status.reason` is not a string",
            ),
            (
                json!({"phase": "Failed", "message": 3}),
                "`status.message` is not a string",
            ),
        ];
        for (status, why) in bad {
            assert_health(
                pod(json!({}), status),
                Status::Unknown,
                &format!("cannot assess: {why}"),
            );
        }
        let bad_policy = pod(json!({"restartPolicy": 1}), json!({"phase": "Running"}));
        assert_health(
            bad_policy,
            Status::Unknown,
            "cannot assess: `spec.restartPolicy` is not a string",
        );
    }
}
