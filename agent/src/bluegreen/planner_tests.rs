//! Planner tests over a small simulated cluster: each plan is "applied" (versions stored with
//! their annotations, a status saying whether their pods are ready, versions no longer planned
//! pruned, Services' selectors recorded), then planned again, as the controller loop does.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::bluegreen::{
    self, ACTIVE_SERVICE, AUTO_PROMOTION, AUTO_PROMOTION_SECONDS, PENDING, PRE_PROMOTION_JOB,
    PREVIEW_SERVICE, PROGRESS_DEADLINE_SECONDS, Switches,
};
use crate::render::Object;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn render(image: &str, replicas: i64, annotations: Value) -> Vec<Object> {
    let mut a = json!({ACTIVE_SERVICE: "web", PREVIEW_SERVICE: "web-preview"});
    for (k, v) in annotations.as_object().unwrap() {
        a[k] = v.clone();
    }
    let o = |v: Value| Object {
        value: v,
        origin: "app/web.yaml".into(),
    };
    vec![
        o(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": a},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}
        })),
        o(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        o(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-preview"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        o(
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "smoke"},
                 "spec": {"template": {"spec": {"restartPolicy": "Never",
                          "containers": [{"name": "t", "image": "curl"}]}}}}),
        ),
        o(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}})),
    ]
}

#[derive(Default)]
struct Cluster {
    versions: BTreeMap<String, Value>,
    active: Option<String>,
    preview: Option<String>,
    jobs: BTreeMap<String, Value>,
    /// Revisions whose pods never become ready.
    broken: BTreeSet<String>,
    /// The check Job's outcome: `Complete`, `Failed`, or running (None).
    check: Option<&'static str>,
    prune: bool,
    /// A plain Deployment `web` applied before the workload opted in, and its pods' hash.
    legacy: Option<Value>,
    legacy_hash: Option<String>,
    /// What the active Service selects the plain Deployment's pods by, if it does.
    active_hash: Option<String>,
}

impl Cluster {
    fn new() -> Self {
        Cluster {
            prune: true,
            ..Default::default()
        }
    }

    fn live(&self, w: &Workload) -> Live {
        Live {
            versions: self.versions.values().cloned().collect(),
            active_revision: self.active.clone(),
            check_job: w
                .check_name(&w.revision)
                .and_then(|n| self.jobs.get(&n).cloned()),
            legacy: self
                .legacy
                .clone()
                .map(|object| crate::bluegreen::live::Legacy {
                    object,
                    pod_template_hash: self.legacy_hash.clone(),
                }),
        }
    }

    /// Plans `objects` at `now` and applies the plan.
    fn reconcile(&mut self, objects: &[Object], now: Timestamp) -> (Vec<Object>, Switches) {
        let workloads = bluegreen::workloads(objects, "prod").unwrap();
        let lives: Vec<Live> = workloads.iter().map(|w| self.live(w)).collect();
        let (out, switches) =
            bluegreen::plan(objects.to_vec(), &workloads, &lives, now, self.prune);
        self.apply(&out);
        (out, switches)
    }

    fn apply(&mut self, objects: &[Object]) {
        let mut versions = BTreeMap::new();
        let mut jobs = BTreeMap::new();
        let mut legacy = None;
        for o in objects {
            let rev = o
                .value
                .pointer("/metadata/labels/bluegreen.pi-agent.io~1revision")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match (o.kind(), rev) {
                ("Deployment", Some(rev)) => {
                    let mut v = o.value.clone();
                    // What the CLI wrote (its own field manager) survives our applies.
                    if let Some(old) = self.versions.get(o.name()) {
                        for k in [PROMOTE, ABORT, ABORT_AT] {
                            if let Some(x) =
                                old.pointer("/metadata/annotations").and_then(|a| a.get(k))
                            {
                                v["metadata"]["annotations"][k] = x.clone();
                            }
                        }
                    }
                    let n = v["spec"]["replicas"].as_i64().unwrap_or(1);
                    let ready = if self.broken.contains(&rev) { 0 } else { n };
                    v["metadata"]["namespace"] = json!("prod");
                    v["metadata"]["generation"] = json!(1);
                    v["status"] = json!({"observedGeneration": 1, "replicas": n,
                        "updatedReplicas": n, "readyReplicas": ready, "availableReplicas": ready});
                    versions.insert(o.name().to_owned(), v);
                }
                ("Deployment", None) => {
                    let mut v = o.value.clone();
                    v["status"] = self
                        .legacy
                        .as_ref()
                        .map_or(json!({}), |l| l["status"].clone());
                    v["metadata"]["generation"] = json!(1);
                    legacy = Some(v);
                }
                ("Job", _) => {
                    let mut j = o.value.clone();
                    if let Some(c) = self.check {
                        j["status"] = json!({"conditions": [{"type": c, "status": "True", "reason": "BackoffLimitExceeded", "message": "failed"}]});
                    }
                    jobs.insert(o.name().to_owned(), j);
                }
                ("Service", _) => {
                    let sel = o.value["spec"]["selector"]["bluegreen.pi-agent.io/revision"]
                        .as_str()
                        .map(str::to_owned);
                    if o.name() == "web" {
                        self.active = sel;
                        self.active_hash = o.value["spec"]["selector"]["pod-template-hash"]
                            .as_str()
                            .map(str::to_owned);
                    } else {
                        self.preview = sel;
                    }
                }
                _ => {}
            }
        }
        if !self.prune {
            // Without pruning nothing planned before disappears.
            for (k, v) in std::mem::take(&mut self.versions) {
                versions.entry(k).or_insert(v);
            }
        }
        self.versions = versions;
        self.jobs = jobs;
        if self.prune || legacy.is_some() {
            self.legacy = legacy;
        }
    }

    fn annotate(&mut self, name: &str, key: &str, value: &str) {
        self.versions.get_mut(name).unwrap()["metadata"]["annotations"][key] = json!(value);
    }

    fn replicas(&self, name: &str) -> i64 {
        self.versions[name]["spec"]["replicas"].as_i64().unwrap()
    }
}

fn rev(objects: &[Object]) -> String {
    bluegreen::workloads(objects, "prod").unwrap()[0]
        .revision
        .clone()
}

fn phase(s: &Switches) -> &Phase {
    &s.workloads[0].phase
}

fn events(s: &Switches) -> Vec<&'static str> {
    s.workloads[0]
        .events
        .iter()
        .map(|e| match e {
            Event::Started { .. } => "started",
            Event::Promoted { .. } => "promoted",
            Event::Aborted { .. } => "aborted",
        })
        .collect()
}

/// Brings up a first version and returns its revision.
fn first(c: &mut Cluster, objects: &[Object]) -> String {
    c.reconcile(objects, t(0));
    c.reconcile(objects, t(1));
    let r = rev(objects);
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
    r
}

#[test]
fn first_deployment_should_select_pending_until_the_version_is_available() {
    let mut c = Cluster::new();
    c.broken.insert(rev(&render("app:1", 2, json!({}))));
    let objects = render("app:1", 2, json!({}));
    let r = rev(&objects);
    let (out, s) = c.reconcile(&objects, t(0));
    assert_eq!(c.active.as_deref(), Some(PENDING));
    assert_eq!(c.preview.as_deref(), Some(r.as_str()));
    assert!(matches!(phase(&s), Phase::Progressing(m) if m.contains("waiting for `web-")));
    assert_eq!(events(&s), ["started"]);
    assert_eq!(s.workloads[0].requeue, Some(PROGRESS_POLL));
    // The Git Deployment is replaced by its version; other objects pass through.
    let names: Vec<&str> = out.iter().map(Object::name).collect();
    assert!(names.contains(&format!("web-{r}").as_str()) && names.contains(&"other"));
    assert!(
        !names.contains(&"web")
            || out
                .iter()
                .any(|o| o.kind() == "Service" && o.name() == "web")
    );
    assert!(
        !out.iter()
            .any(|o| o.kind() == "Deployment" && o.name() == "web")
    );
    let v = &c.versions[&format!("web-{r}")];
    assert_eq!(
        v["spec"]["selector"]["matchLabels"]["bluegreen.pi-agent.io/revision"],
        json!(r)
    );
    assert_eq!(
        v["spec"]["template"]["metadata"]["labels"]["bluegreen.pi-agent.io/revision"],
        json!(r)
    );
    assert_eq!(
        v["metadata"]["labels"]["bluegreen.pi-agent.io/workload"],
        json!("web")
    );
    assert!(s.skip_health(Some("prod"), "Deployment", &format!("web-{r}")));

    c.broken.clear();
    c.reconcile(&objects, t(1)); // now Available in the simulated cluster
    let (_, s) = c.reconcile(&objects, t(2));
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
    assert_eq!(events(&s), ["promoted"]);
    let (_, s) = c.reconcile(&objects, t(3));
    assert_eq!(phase(&s), &Phase::Stable);
    assert!(events(&s).is_empty());
    assert!(!s.skip_health(Some("prod"), "Deployment", &format!("web-{r}")));
}

#[test]
fn a_new_template_should_switch_only_once_available_and_keep_the_old_version_for_the_delay() {
    let mut c = Cluster::new();
    let v1 = render("app:1", 2, json!({}));
    let r1 = first(&mut c, &v1);
    let v2 = render("app:2", 2, json!({}));
    let r2 = rev(&v2);
    assert_ne!(r1, r2);
    c.broken.insert(r2.clone());
    let (_, s) = c.reconcile(&v2, t(10));
    assert_eq!(events(&s), ["started"]);
    assert_eq!(
        c.active.as_deref(),
        Some(r1.as_str()),
        "never switched to an unready version"
    );
    assert_eq!(c.preview.as_deref(), Some(r2.as_str()));
    assert_eq!(s.workloads[0].preview.as_deref(), Some(r2.as_str()));
    for i in 11..20 {
        c.reconcile(&v2, t(i));
        assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    }
    c.broken.clear();
    c.reconcile(&v2, t(20)); // the simulated pods become ready
    let (_, s) = c.reconcile(&v2, t(21));
    assert_eq!(c.active.as_deref(), Some(r2.as_str()));
    assert!(
        matches!(&s.workloads[0].events[..], [Event::Promoted { seconds, .. }] if *seconds == 11.0)
    );
    assert!(matches!(phase(&s), Phase::Promoted(m) if m.contains(&format!("web-{r1}"))));
    let old = format!("web-{r1}");
    assert_eq!(
        c.replicas(&old),
        2,
        "the old version stays up for the delay"
    );
    assert_eq!(
        c.versions[&old]["metadata"]["labels"][SCALE_DOWN_AT],
        json!(t(51).as_second().to_string())
    );
    assert_eq!(
        s.workloads[0].requeue,
        Some(std::time::Duration::from_secs(31))
    );
    c.reconcile(&v2, t(50));
    assert!(c.versions.contains_key(&old));
    let (_, s) = c.reconcile(&v2, t(51));
    assert!(!c.versions.contains_key(&old), "pruned after the delay");
    assert_eq!(phase(&s), &Phase::Stable);
}

#[test]
fn a_replica_change_should_not_start_a_switch() {
    let mut c = Cluster::new();
    let r1 = first(&mut c, &render("app:1", 2, json!({})));
    let scaled = render("app:1", 5, json!({}));
    assert_eq!(rev(&scaled), r1);
    let (_, s) = c.reconcile(&scaled, t(10));
    assert_eq!(phase(&s), &Phase::Stable);
    assert!(events(&s).is_empty());
    assert_eq!(c.replicas(&format!("web-{r1}")), 5);
    assert_eq!(c.versions.len(), 1);
}

#[test]
fn a_version_that_never_becomes_available_should_be_aborted_at_the_deadline() {
    let mut c = Cluster::new();
    let r1 = first(
        &mut c,
        &render("app:1", 2, json!({PROGRESS_DEADLINE_SECONDS: "60"})),
    );
    let bad = render("app:broken", 2, json!({PROGRESS_DEADLINE_SECONDS: "60"}));
    let r2 = rev(&bad);
    c.broken.insert(r2.clone());
    c.reconcile(&bad, t(100));
    let (_, s) = c.reconcile(&bad, t(159));
    assert!(matches!(phase(&s), Phase::Progressing(_)));
    let (_, s) = c.reconcile(&bad, t(160));
    let Phase::Aborted(why) = phase(&s) else {
        panic!("{:?}", phase(&s))
    };
    assert!(
        why.contains("did not become Available within 60s (0/2 available"),
        "{why}"
    );
    assert_eq!(events(&s), ["aborted"]);
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    assert_eq!(c.replicas(&format!("web-{r2}")), 0);
    assert_eq!(c.replicas(&format!("web-{r1}")), 2);
    // Stays aborted: the same inputs later give the same verdict, without a new event.
    let (_, s) = c.reconcile(&bad, t(500));
    assert!(matches!(phase(&s), Phase::Aborted(w) if w == why));
    assert!(events(&s).is_empty());
    assert_eq!(s.workloads[0].requeue, None);
    assert!(s.aborted().unwrap().contains("aborted: `web-"));
    // A later commit tries again; the aborted version is pruned.
    let fixed = render("app:3", 2, json!({PROGRESS_DEADLINE_SECONDS: "60"}));
    let (_, s) = c.reconcile(&fixed, t(600));
    assert_eq!(events(&s), ["started"]);
    assert!(!c.versions.contains_key(&format!("web-{r2}")));
    c.reconcile(&fixed, t(601));
    assert_eq!(c.active.as_deref(), Some(rev(&fixed).as_str()));
}

#[test]
fn the_check_job_should_run_once_available_and_gate_the_promotion() {
    let mut c = Cluster::new();
    let a = json!({PRE_PROMOTION_JOB: "smoke"});
    let r1 = first_with_check(&mut c, &render("app:1", 1, a.clone()));
    let v2 = render("app:2", 1, a.clone());
    let r2 = rev(&v2);
    c.check = None;
    c.broken.insert(r2.clone());
    let (out, _) = c.reconcile(&v2, t(10));
    assert!(
        !out.iter().any(|o| o.kind() == "Job"),
        "not before the version is Available"
    );
    c.broken.clear();
    c.reconcile(&v2, t(11));
    let (out, s) = c.reconcile(&v2, t(12));
    let job = out.iter().find(|o| o.kind() == "Job").expect("check job");
    assert_eq!(job.name(), format!("smoke-{r2}"));
    let env = &job.value["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "PREVIEW_SERVICE", "value": "web-preview"}))
    );
    assert!(matches!(phase(&s), Phase::Progressing(m) if m.contains("is running")));
    assert!(s.skip_health(Some("prod"), "Job", &format!("smoke-{r2}")));
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    // The Job fails: aborted, the Job is no longer applied (pruned).
    c.check = Some("Failed");
    c.reconcile(&v2, t(13)); // the simulated Job now reports Failed
    let (out, s) = c.reconcile(&v2, t(14));
    assert!(
        matches!(phase(&s), Phase::Aborted(m) if m.contains(&format!("pre-promotion check Job `smoke-{r2}` failed")))
    );
    assert!(!out.iter().any(|o| o.kind() == "Job"));
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    assert_eq!(c.replicas(&format!("web-{r2}")), 0);
}

fn first_with_check(c: &mut Cluster, objects: &[Object]) -> String {
    c.check = Some("Complete");
    c.reconcile(objects, t(0));
    c.reconcile(objects, t(1));
    let (out, _) = c.reconcile(objects, t(2));
    assert!(
        !out.iter().any(|o| o.kind() == "Job"),
        "the Job leaves once promoted"
    );
    let r = rev(objects);
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
    r
}

#[test]
fn the_same_inputs_should_give_the_same_plan_as_after_a_restart() {
    let mut c = Cluster::new();
    first(&mut c, &render("app:1", 2, json!({})));
    let v2 = render("app:2", 2, json!({}));
    c.broken.insert(rev(&v2));
    c.reconcile(&v2, t(10));
    let w = bluegreen::workloads(&v2, "prod").unwrap();
    let live = c.live(&w[0]);
    let a = bluegreen::plan(v2.clone(), &w, std::slice::from_ref(&live), t(12), true);
    let b = bluegreen::plan(v2.clone(), &w, std::slice::from_ref(&live), t(12), true);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.workloads[0].phase, b.1.workloads[0].phase);
    // A fresh agent sees the same started-at: the deadline does not restart.
    let started = |o: &[Object]| {
        o.iter()
            .find(|o| o.kind() == "Deployment" && o.name().ends_with(&rev(&v2)))
            .map(|o| o.value["metadata"]["labels"][STARTED_AT].clone())
    };
    assert_eq!(started(&a.0), Some(json!(t(10).as_second().to_string())));
    assert!(a.1.workloads[0].events.is_empty(), "no second `started`");
}

#[test]
fn going_back_to_the_previous_template_should_reuse_its_revision() {
    let mut c = Cluster::new();
    let v1 = render("app:1", 2, json!({}));
    let r1 = first(&mut c, &v1);
    let v2 = render("app:2", 2, json!({}));
    c.reconcile(&v2, t(10));
    c.reconcile(&v2, t(11));
    assert_eq!(c.active.as_deref(), Some(rev(&v2).as_str()));
    // Back to v1 while its version is still kept for the scale-down delay: a switch to r1,
    // promoted at once since r1 is still Available.
    let (_, s) = c.reconcile(&v1, t(20));
    assert_eq!(rev(&v1), r1);
    assert_eq!(events(&s), ["started", "promoted"]);
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    let back = &c.versions[&format!("web-{r1}")];
    assert!(back["metadata"]["labels"].get(SCALE_DOWN_AT).is_none());
    assert_eq!(
        back["metadata"]["labels"][STARTED_AT],
        json!(t(20).as_second().to_string())
    );
    assert!(
        c.versions[&format!("web-{}", rev(&v2))]["metadata"]["labels"]
            .get(SCALE_DOWN_AT)
            .is_some()
    );
}

#[test]
fn a_newer_revision_should_supersede_one_in_progress_which_is_never_promoted() {
    let mut c = Cluster::new();
    let r1 = first(&mut c, &render("app:1", 2, json!({})));
    let v2 = render("app:2", 2, json!({}));
    let v3 = render("app:3", 2, json!({}));
    let (r2, r3) = (rev(&v2), rev(&v3));
    c.broken.insert(r2.clone());
    c.broken.insert(r3.clone());
    c.reconcile(&v2, t(10));
    let (_, s) = c.reconcile(&v3, t(11));
    assert_eq!(events(&s), ["started"]);
    assert!(
        !c.versions.contains_key(&format!("web-{r2}")),
        "superseded: removed"
    );
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    c.broken.clear();
    c.reconcile(&v3, t(12));
    c.reconcile(&v3, t(13));
    assert_eq!(c.active.as_deref(), Some(r3.as_str()));
}

#[test]
fn manual_promotion_should_wait_for_the_promote_request() {
    let mut c = Cluster::new();
    let a = json!({AUTO_PROMOTION: "false"});
    // The first version too waits for a promotion.
    let v1 = render("app:1", 1, a.clone());
    let r1 = rev(&v1);
    c.reconcile(&v1, t(0));
    let (_, s) = c.reconcile(&v1, t(1));
    assert!(
        matches!(phase(&s), Phase::Progressing(m) if m.contains("waiting for `pi-agent promote -n prod web`"))
    );
    assert_eq!(s.workloads[0].requeue, None);
    assert_eq!(c.active.as_deref(), Some(PENDING));
    c.annotate(&format!("web-{r1}"), PROMOTE, &t(5).to_string());
    let (_, s) = c.reconcile(&v1, t(6));
    assert_eq!(events(&s), ["promoted"]);
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    // An old promote request does not promote the next switch.
    let v2 = render("app:2", 1, a.clone());
    c.reconcile(&v2, t(10));
    let (_, s) = c.reconcile(&v2, t(11));
    assert!(matches!(phase(&s), Phase::Progressing(_)));
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
}

#[test]
fn abort_and_promote_requests_should_abort_then_retry() {
    let mut c = Cluster::new();
    let a = json!({AUTO_PROMOTION_SECONDS: "60"});
    let r1 = first_auto_wait(&mut c, &render("app:1", 1, a.clone()));
    let v2 = render("app:2", 1, a.clone());
    let r2 = rev(&v2);
    let name = format!("web-{r2}");
    c.reconcile(&v2, t(100));
    let (_, s) = c.reconcile(&v2, t(101));
    assert!(matches!(phase(&s), Phase::Progressing(m) if m.contains("promoted in 60s")));
    c.annotate(&name, ABORT, "bad metrics");
    c.annotate(&name, ABORT_AT, &t(102).to_string());
    let (_, s) = c.reconcile(&v2, t(103));
    assert!(matches!(phase(&s), Phase::Aborted(m) if m.contains("bad metrics")));
    assert_eq!(c.replicas(&name), 0);
    assert_eq!(c.active.as_deref(), Some(r1.as_str()));
    // `pi-agent promote` removes the abort request and asks for a retry, promoted without the wait.
    let annotations = c.versions.get_mut(&name).unwrap()["metadata"]["annotations"]
        .as_object_mut()
        .unwrap();
    annotations.remove(ABORT);
    annotations.remove(ABORT_AT);
    c.annotate(&name, PROMOTE, &t(110).to_string());
    let (_, s) = c.reconcile(&v2, t(111));
    assert_eq!(events(&s), ["started"]);
    assert_eq!(c.replicas(&name), 1);
    let (_, s) = c.reconcile(&v2, t(112));
    assert_eq!(events(&s), ["promoted"]);
    assert_eq!(c.active.as_deref(), Some(r2.as_str()));
}

fn first_auto_wait(c: &mut Cluster, objects: &[Object]) -> String {
    c.reconcile(objects, t(0));
    c.reconcile(objects, t(1));
    c.reconcile(objects, t(60));
    assert_eq!(c.active.as_deref(), Some(PENDING));
    c.reconcile(objects, t(61));
    let r = rev(objects);
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
    r
}

#[test]
fn without_pruning_retired_versions_should_be_scaled_to_zero() {
    let mut c = Cluster::new();
    c.prune = false;
    let r1 = first(&mut c, &render("app:1", 2, json!({})));
    let v2 = render("app:2", 2, json!({}));
    c.reconcile(&v2, t(10));
    c.reconcile(&v2, t(11));
    c.reconcile(&v2, t(100));
    assert_eq!(c.replicas(&format!("web-{r1}")), 0);
    assert_eq!(c.active.as_deref(), Some(rev(&v2).as_str()));
}

#[test]
fn a_plain_deployment_should_serve_until_the_first_version_takes_over() {
    let mut c = Cluster::new();
    // `web` as applied before it opted in: 2 replicas, Available, pods of hash `5d4f`.
    c.legacy = Some(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "generation": 1,
                     "labels": {"gitops.pi-agent.io/name": "app"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "app:1"}]}}},
        "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                   "readyReplicas": 2, "availableReplicas": 2}
    }));
    c.legacy_hash = Some("5d4f".into());
    let objects = render("app:2", 2, json!({}));
    let r = rev(&objects);
    c.broken.insert(r.clone());
    // While the first version comes up, the Service selects exactly the plain Deployment's pods:
    // never `pending`, never the new pods.
    for s in 0..3 {
        let (_, switches) = c.reconcile(&objects, t(s));
        assert_eq!(c.active, None);
        assert_eq!(c.active_hash.as_deref(), Some("5d4f"));
        assert!(c.legacy.is_some(), "the plain Deployment is still applied");
        assert_eq!(phase(&switches).name(), "Progressing");
    }
    // Available: one apply switches the Service to the version (by revision, not by hash).
    c.broken.remove(&r);
    c.reconcile(&objects, t(3));
    let (_, switches) = c.reconcile(&objects, t(4));
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
    assert_eq!(c.active_hash, None);
    assert!(c.legacy.is_some(), "kept for the scale-down delay");
    assert_eq!(phase(&switches).name(), "Promoted");
    // Same plan after a restart, then retired once the delay is over.
    c.reconcile(&objects, t(10));
    assert!(c.legacy.is_some());
    c.reconcile(&objects, t(40));
    assert!(c.legacy.is_none(), "pruned after the scale-down delay");
    assert_eq!(c.active.as_deref(), Some(r.as_str()));
}

#[test]
fn a_plain_deployment_not_available_should_leave_the_service_on_pending() {
    let mut c = Cluster::new();
    c.legacy = Some(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "generation": 2},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 1}
    }));
    let objects = render("app:2", 2, json!({}));
    c.broken.insert(rev(&objects));
    c.reconcile(&objects, t(0));
    assert_eq!(c.active_hash, None);
    assert_eq!(c.active.as_deref(), Some(PENDING));
}
