//! Rules for the other built-in kinds with a status worth waiting for: PersistentVolumeClaim,
//! Service, Namespace, PodDisruptionBudget and CustomResourceDefinition.

use serde_json::Value;

use super::fields::{self, Malformed, conditions, plural};
use super::{Health, Status, current, failed, in_progress};

/// PersistentVolumeClaim: `Current` once Bound.
pub(super) fn persistent_volume_claim(o: &Value) -> Result<Health, Malformed> {
    Ok(match fields::string(o, "status.phase")? {
        Some("Bound") => current("Bound"),
        Some(phase) if !phase.is_empty() => in_progress(format!("phase {phase}, not Bound")),
        _ => in_progress("phase not yet reported"),
    })
}

/// Service: a LoadBalancer waits for its ingress address; other types are current.
///
/// kstatus only checks that a LoadBalancer has `spec.clusterIP`, which the API server sets on
/// create; we wait for `status.loadBalancer.ingress`, the address clients use.
pub(super) fn service(o: &Value) -> Result<Health, Malformed> {
    let type_ = fields::string(o, "spec.type")?.unwrap_or("ClusterIP");
    if type_ != "LoadBalancer" {
        return Ok(current(format!("type {type_}")));
    }
    let ingress = fields::array(o, "status.loadBalancer.ingress")?;
    if ingress.is_empty() {
        return Ok(in_progress("waiting for the load balancer address"));
    }
    let mut addresses = Vec::with_capacity(ingress.len());
    for (i, entry) in ingress.iter().enumerate() {
        let at = |m: Malformed| m.within(&format!("status.loadBalancer.ingress[{i}]"));
        let ip = fields::string(entry, "ip").map_err(at)?;
        let hostname = fields::string(entry, "hostname").map_err(at)?;
        addresses.extend(ip.or(hostname));
    }
    if addresses.is_empty() {
        return Ok(current("load balancer ready"));
    }
    Ok(current(format!(
        "load balancer at {}",
        addresses.join(", ")
    )))
}

/// Namespace: `Terminating` while its phase is Terminating, otherwise current.
pub(super) fn namespace(o: &Value) -> Result<Health, Malformed> {
    // The phase can outlive the deletionTimestamp check in kstatus' generic rules only in
    // hand-made input, but it is what `kubectl get ns` shows, so honour it.
    Ok(match fields::string(o, "status.phase")? {
        Some("Terminating") => Health {
            status: Status::Terminating,
            message: "phase Terminating".to_owned(),
        },
        _ => current("Active"),
    })
}

/// PodDisruptionBudget: observed by the disruption controller, with enough healthy pods.
///
/// kstatus calls every PDB past the generic generation check Current; we also wait for the
/// controller's first observation and for `currentHealthy >= desiredHealthy`, so a rollout is not
/// called done while the budget it relies on is already spent.
pub(super) fn pod_disruption_budget(o: &Value) -> Result<Health, Malformed> {
    if fields::int(o, "status.observedGeneration")?.is_none() {
        return Ok(in_progress("not yet observed by the disruption controller"));
    }
    let healthy = fields::int_or(o, "status.currentHealthy", 0)?;
    let desired = fields::int_or(o, "status.desiredHealthy", 0)?;
    if healthy < desired {
        return Ok(in_progress(format!("{healthy}/{desired} healthy pods")));
    }
    let allowed = fields::int_or(o, "status.disruptionsAllowed", 0)?;
    Ok(current(format!(
        "{healthy}/{desired} healthy pods, {} allowed",
        plural(allowed, "disruption")
    )))
}

/// CustomResourceDefinition: `Current` once Established, `Failed` when its names clash.
pub(super) fn custom_resource_definition(o: &Value) -> Result<Health, Malformed> {
    for c in conditions(o)? {
        if c.is("NamesAccepted", "False") {
            return Ok(failed(format!("names not accepted: {}", c.explain())));
        }
        if c.type_ == "Established" {
            if c.status == "True" {
                return Ok(current("Established"));
            }
            // Installing is the normal, transient reason right after create.
            if c.status == "False" && c.reason != "Installing" {
                return Ok(failed(format!("not Established: {}", c.explain())));
            }
        }
    }
    Ok(in_progress("not yet Established"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::health::Status;
    use crate::health::testing::{assert_health, object};

    fn pvc(status: Value) -> Value {
        object("v1", "PersistentVolumeClaim", json!({}), status)
    }

    #[test]
    fn bound_claim_should_be_current() {
        assert_health(pvc(json!({"phase": "Bound"})), Status::Current, "Bound");
    }

    #[test]
    fn unbound_claim_should_be_in_progress() {
        assert_health(
            pvc(json!({"phase": "Pending"})),
            Status::InProgress,
            "phase Pending, not Bound",
        );
        assert_health(
            pvc(json!({"phase": "Lost"})),
            Status::InProgress,
            "phase Lost, not Bound",
        );
        assert_health(pvc(json!({})), Status::InProgress, "phase not yet reported");
        assert_health(
            pvc(json!({"phase": ""})),
            Status::InProgress,
            "phase not yet reported",
        );
    }

    fn service(spec: Value, status: Value) -> Value {
        object("v1", "Service", spec, status)
    }

    #[test]
    fn cluster_ip_and_other_services_should_be_current() {
        assert_health(
            service(json!({}), json!({})),
            Status::Current,
            "type ClusterIP",
        );
        assert_health(
            service(json!({"type": "NodePort"}), json!({})),
            Status::Current,
            "type NodePort",
        );
        assert_health(
            service(json!({"type": "ExternalName"}), json!(null)),
            Status::Current,
            "type ExternalName",
        );
    }

    #[test]
    fn load_balancer_without_ingress_should_be_in_progress() {
        let spec = json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1"});
        assert_health(
            service(spec.clone(), json!({})),
            Status::InProgress,
            "waiting for the load balancer address",
        );
        assert_health(
            service(spec, json!({"loadBalancer": {"ingress": []}})),
            Status::InProgress,
            "waiting for the load balancer address",
        );
    }

    #[test]
    fn load_balancer_with_ingress_should_be_current() {
        let spec = json!({"type": "LoadBalancer"});
        assert_health(
            service(
                spec.clone(),
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example"}]}}),
            ),
            Status::Current,
            "load balancer at 203.0.113.7, lb.example",
        );
        assert_health(
            service(
                spec,
                json!({"loadBalancer": {"ingress": [{"ipMode": "VIP"}]}}),
            ),
            Status::Current,
            "load balancer ready",
        );
    }

    #[test]
    fn load_balancer_with_malformed_ingress_should_be_unknown() {
        let spec = json!({"type": "LoadBalancer"});
        assert_health(
            service(
                spec.clone(),
                json!({"loadBalancer": {"ingress": [{"ip": 1}]}}),
            ),
            Status::Unknown,
            "cannot assess: `status.loadBalancer.ingress[0].ip` is not a string",
        );
        assert_health(
            service(
                spec.clone(),
                json!({"loadBalancer": {"ingress": ["1.2.3.4"]}}),
            ),
            Status::Unknown,
            "cannot assess: `status.loadBalancer.ingress[0]` is not an object",
        );
        assert_health(
            service(
                spec,
                json!({"loadBalancer": {"ingress": {"ip": "1.2.3.4"}}}),
            ),
            Status::Unknown,
            "cannot assess: `status.loadBalancer.ingress` is not an array",
        );
    }

    fn namespace(status: Value) -> Value {
        object("v1", "Namespace", json!({}), status)
    }

    #[test]
    fn active_namespace_should_be_current() {
        assert_health(
            namespace(json!({"phase": "Active"})),
            Status::Current,
            "Active",
        );
        assert_health(namespace(json!(null)), Status::Current, "Active");
    }

    #[test]
    fn terminating_namespace_should_be_terminating() {
        assert_health(
            namespace(json!({"phase": "Terminating"})),
            Status::Terminating,
            "phase Terminating",
        );
    }

    fn pdb(status: Value) -> Value {
        object(
            "policy/v1",
            "PodDisruptionBudget",
            json!({"minAvailable": 2}),
            status,
        )
    }

    #[test]
    fn pdb_with_enough_healthy_pods_should_be_current() {
        let p = pdb(
            json!({"observedGeneration": 2, "currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1}),
        );
        assert_health(p, Status::Current, "3/2 healthy pods, 1 disruption allowed");
    }

    #[test]
    fn pdb_with_too_few_healthy_pods_should_be_in_progress() {
        let p = pdb(json!({"observedGeneration": 2, "currentHealthy": 1, "desiredHealthy": 2}));
        assert_health(p, Status::InProgress, "1/2 healthy pods");
    }

    #[test]
    fn unobserved_pdb_should_be_in_progress() {
        assert_health(
            pdb(json!({})),
            Status::InProgress,
            "not yet observed by the disruption controller",
        );
    }

    fn crd(conditions: Value) -> Value {
        object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            json!({}),
            json!({"conditions": conditions}),
        )
    }

    #[test]
    fn established_crd_should_be_current() {
        let c = crd(
            json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]),
        );
        assert_health(c, Status::Current, "Established");
    }

    #[test]
    fn crd_with_rejected_names_should_be_failed() {
        let c = crd(
            json!([{"type": "NamesAccepted", "status": "False", "reason": "MultipleNamesNotAllowed",
                           "message": "\"widgets\" is already in use"}]),
        );
        assert_health(
            c,
            Status::Failed,
            "names not accepted: MultipleNamesNotAllowed: \"widgets\" is already in use",
        );
    }

    #[test]
    fn crd_not_established_for_a_reason_other_than_installing_should_be_failed() {
        let c = crd(json!([{"type": "Established", "status": "False", "reason": "NotAccepted"}]));
        assert_health(c, Status::Failed, "not Established: NotAccepted");
    }

    #[test]
    fn installing_crd_should_be_in_progress() {
        let installing =
            crd(json!([{"type": "Established", "status": "False", "reason": "Installing"}]));
        assert_health(installing, Status::InProgress, "not yet Established");
        let unknown = crd(json!([{"type": "Established", "status": "Unknown"}]));
        assert_health(unknown, Status::InProgress, "not yet Established");
        assert_health(crd(json!(null)), Status::InProgress, "not yet Established");
    }
}
