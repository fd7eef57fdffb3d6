//! Which Deployments of a render opted in, with what strategy: the annotations, parsed and
//! checked. Pure.

use std::fmt::Write;

use serde_json::Value;

use super::{
    ACTIVE_SERVICE, AUTO_PROMOTION, AUTO_PROMOTION_SECONDS, BlueGreenError, PRE_PROMOTION_JOB,
    PREFIX, PREVIEW_SERVICE, PROGRESS_DEADLINE_SECONDS, SCALE_DOWN_DELAY_SECONDS,
};
use crate::render::Object;

/// The blue-green strategy of one Deployment (Argo Rollouts' `blueGreen` fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// `active-service`.
    pub active_service: String,
    /// `preview-service`.
    pub preview_service: Option<String>,
    /// `auto-promotion` (default true).
    pub auto_promotion: bool,
    /// `auto-promotion-seconds` (default 0).
    pub auto_promotion_seconds: u64,
    /// `scale-down-delay-seconds` (default 30).
    pub scale_down_delay_seconds: u64,
    /// `progress-deadline-seconds` (default 600).
    pub progress_deadline_seconds: u64,
    /// `pre-promotion-job`.
    pub pre_promotion_job: Option<String>,
}

/// An opted-in Deployment of the render.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its namespace (resolved).
    pub namespace: String,
    /// The namespace objects without one go to.
    pub default_namespace: String,
    /// The Git Deployment's name.
    pub name: String,
    /// Where it was rendered from.
    pub origin: String,
    /// Its strategy.
    pub strategy: Strategy,
    /// The Deployment as rendered (images pinned).
    pub deployment: Value,
    /// The revision of its pod template.
    pub revision: String,
    /// `spec.replicas` (default 1).
    pub replicas: i64,
    /// The pre-promotion Job as rendered.
    pub check: Option<Value>,
}

impl Workload {
    /// The version Deployment's name for a revision.
    pub fn version_name(&self, revision: &str) -> String {
        format!("{}-{revision}", self.name)
    }

    /// The check Job's name for a revision.
    pub fn check_name(&self, revision: &str) -> Option<String> {
        self.strategy
            .pre_promotion_job
            .as_ref()
            .map(|j| format!("{j}-{revision}"))
    }
}

/// The revision of a Deployment: 10 hex digits of the sha256 of its selector and pod template
/// (canonical JSON: keys sorted). The selector is included because it is immutable: a new
/// selector needs a new Deployment.
pub fn revision_of(deployment: &Value) -> String {
    let mut text = String::new();
    canonical(
        &serde_json::json!({
            "selector": deployment.pointer("/spec/selector"),
            "template": deployment.pointer("/spec/template"),
        }),
        &mut text,
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut hex = String::with_capacity(10);
    for b in &digest.as_ref()[..5] {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// JSON with object keys sorted, whatever the map's order.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The opted-in Deployments of a render (those with an `active-service` annotation), checked:
/// their Services and Job exist in the render, every annotation parses.
///
/// # Errors
/// [`BlueGreenError::InvalidSpec`] naming the Deployment and the annotation.
pub fn workloads(objects: &[Object], default_ns: &str) -> Result<Vec<Workload>, BlueGreenError> {
    let mut out = Vec::new();
    for o in objects {
        if o.kind() != "Deployment" || o.api_version() != "apps/v1" {
            continue;
        }
        let annotations = o
            .value
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
        let Some(active) = get(ACTIVE_SERVICE) else {
            if let Some(key) = annotations
                .into_iter()
                .flat_map(|a| a.keys())
                .find(|k| k.starts_with(PREFIX))
            {
                return Err(invalid(
                    o,
                    default_ns,
                    format!("annotation `{key}` needs `{ACTIVE_SERVICE}`"),
                ));
            }
            continue;
        };
        let namespace = o.namespace().unwrap_or(default_ns).to_owned();
        let bad = |key: &str, why: String| {
            invalid(
                o,
                default_ns,
                format!(
                    "annotation `{key}`: `{}` {why}",
                    get(key).unwrap_or_default()
                ),
            )
        };
        let seconds = |key: &str, default: u64| -> Result<u64, BlueGreenError> {
            match get(key) {
                None => Ok(default),
                Some(t) => t
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 7 * 24 * 3600)
                    .ok_or_else(|| bad(key, "is not a number of seconds (0 to 604800)".into())),
            }
        };
        let auto_promotion = match get(AUTO_PROMOTION) {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(bad(AUTO_PROMOTION, "is not `true` or `false`".into())),
        };
        let strategy = Strategy {
            active_service: active.to_owned(),
            preview_service: get(PREVIEW_SERVICE).map(str::to_owned),
            auto_promotion,
            auto_promotion_seconds: seconds(AUTO_PROMOTION_SECONDS, 0)?,
            scale_down_delay_seconds: seconds(SCALE_DOWN_DELAY_SECONDS, 30)?,
            progress_deadline_seconds: seconds(PROGRESS_DEADLINE_SECONDS, 600)?,
            pre_promotion_job: get(PRE_PROMOTION_JOB).map(str::to_owned),
        };
        if strategy.progress_deadline_seconds == 0 {
            return Err(bad(PROGRESS_DEADLINE_SECONDS, "must be above 0".into()));
        }
        let in_ns = |x: &&Object| x.namespace().unwrap_or(default_ns) == namespace.as_str();
        let find = |kind: &str, api: &str, name: &str| {
            objects
                .iter()
                .filter(in_ns)
                .find(|x| x.kind() == kind && x.api_version() == api && x.name() == name)
        };
        for (key, service) in [
            (ACTIVE_SERVICE, Some(&strategy.active_service)),
            (PREVIEW_SERVICE, strategy.preview_service.as_ref()),
        ] {
            let Some(service) = service else { continue };
            let Some(s) = find("Service", "v1", service) else {
                return Err(bad(
                    key,
                    format!("names no Service of the revision in namespace `{namespace}`"),
                ));
            };
            if s.value
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                return Err(bad(key, "names a Service without a selector".into()));
            }
        }
        if strategy.preview_service.as_ref() == Some(&strategy.active_service) {
            return Err(bad(PREVIEW_SERVICE, "is also the active Service".into()));
        }
        let check = match &strategy.pre_promotion_job {
            None => None,
            Some(job) => {
                let Some(j) = find("Job", "batch/v1", job) else {
                    return Err(bad(
                        PRE_PROMOTION_JOB,
                        format!("names no Job of the revision in namespace `{namespace}`"),
                    ));
                };
                // `<job>-<rev>` must fit a label value (the Job controller labels its pods with it).
                if job.len() + 11 > 63 {
                    return Err(bad(
                        PRE_PROMOTION_JOB,
                        "is too long: `<name>-<10 hex>` must fit in 63 characters".into(),
                    ));
                }
                Some(j.value.clone())
            }
        };
        if o.value
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
        {
            return Err(invalid(
                o,
                default_ns,
                "a blue-green Deployment needs pod template labels".into(),
            ));
        }
        if o.name().len() + 11 > 253 {
            return Err(invalid(o, default_ns, "the name is too long".into()));
        }
        out.push(Workload {
            namespace,
            default_namespace: default_ns.to_owned(),
            name: o.name().to_owned(),
            origin: o.origin.clone(),
            strategy,
            revision: revision_of(&o.value),
            replicas: o
                .value
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            deployment: o.value.clone(),
            check,
        });
    }
    Ok(out)
}

fn invalid(o: &Object, default_ns: &str, why: String) -> BlueGreenError {
    BlueGreenError::InvalidSpec {
        deployment: format!("{}/{}", o.namespace().unwrap_or(default_ns), o.name()),
        origin: o.origin.clone(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn obj(v: Value) -> Object {
        Object {
            value: v,
            origin: "app/web.yaml".into(),
        }
    }

    fn deployment(annotations: Value) -> Object {
        obj(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": annotations},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}
        }))
    }

    fn service(name: &str) -> Object {
        obj(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        )
    }

    #[test]
    fn annotations_should_parse_with_argo_defaults() {
        let objects = [deployment(json!({ACTIVE_SERVICE: "web"})), service("web")];
        let w = workloads(&objects, "team-a").unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].strategy,
            Strategy {
                active_service: "web".into(),
                preview_service: None,
                auto_promotion: true,
                auto_promotion_seconds: 0,
                scale_down_delay_seconds: 30,
                progress_deadline_seconds: 600,
                pre_promotion_job: None,
            }
        );
        assert_eq!(w[0].namespace, "team-a");
        assert_eq!(w[0].replicas, 2);
        assert_eq!(w[0].revision.len(), 10);
    }

    #[test]
    fn deployments_without_the_annotation_should_be_left_alone() {
        let objects = [deployment(json!({"other": "x"}))];
        assert!(workloads(&objects, "n").unwrap().is_empty());
    }

    #[test]
    fn bad_annotations_should_name_the_deployment_and_the_annotation() {
        for (annotations, expected) in [
            (
                json!({ACTIVE_SERVICE: "web", AUTO_PROMOTION: "yes"}),
                "annotation `bluegreen.pi-agent.io/auto-promotion`: `yes` is not `true` or `false`",
            ),
            (
                json!({ACTIVE_SERVICE: "web", SCALE_DOWN_DELAY_SECONDS: "30s"}),
                "`30s` is not a number of seconds",
            ),
            (
                json!({ACTIVE_SERVICE: "nope"}),
                "`nope` names no Service of the revision in namespace `n`",
            ),
            (
                json!({ACTIVE_SERVICE: "web", PRE_PROMOTION_JOB: "smoke"}),
                "`smoke` names no Job",
            ),
            (
                json!({PREVIEW_SERVICE: "web"}),
                "annotation `bluegreen.pi-agent.io/preview-service` needs `bluegreen.pi-agent.io/active-service`",
            ),
            (
                json!({ACTIVE_SERVICE: "web", PROGRESS_DEADLINE_SECONDS: "0"}),
                "must be above 0",
            ),
        ] {
            let objects = [deployment(annotations), service("web")];
            let e = workloads(&objects, "n").unwrap_err().to_string();
            assert!(
                e.starts_with("Deployment `n/web` (from `app/web.yaml`)") && e.contains(expected),
                "{e}"
            );
        }
    }

    #[test]
    fn revision_should_follow_the_template_not_the_replicas_nor_key_order() {
        let a = deployment(json!({})).value;
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(5);
        assert_eq!(revision_of(&a), revision_of(&b));
        let reordered: Value = serde_json::from_str(
            r#"{"spec":{"template":{"spec":{"containers":[{"image":"x:1","name":"c"}]},"metadata":{"labels":{"app":"web"}}},"selector":{"matchLabels":{"app":"web"}}}}"#,
        )
        .unwrap();
        assert_eq!(revision_of(&a), revision_of(&reordered));
        let mut c = a.clone();
        c["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x:2");
        assert_ne!(revision_of(&a), revision_of(&c));
        assert!(revision_of(&a).chars().all(|c| c.is_ascii_hexdigit()));
    }
}
