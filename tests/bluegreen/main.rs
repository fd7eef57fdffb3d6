//! End-to-end tests of blue-green switching (issue #7) on a real control plane with kwok nodes:
//! Deployments, ReplicaSets and Jobs run for real (kube-controller-manager, kube-scheduler), kwok
//! makes scheduled pods Ready and completes the pods of Jobs.
//!
//! One control plane and one agent for the binary (the agent is restarted by one test); tests run
//! one at a time, each in its own namespace. During every test an invariant checker polls every
//! 100 ms: the active Service selects only pods of a version Deployment that is fully Available
//! (checked strictly whenever the selected revision changes, and at least one available replica
//! while it stays), or, before any version, no pod at all.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::agent::Agent;
use harness::cluster::ControlPlane;
use harness::git::Repo;
use harness::trial::runtime;
use harness::{eventually, http};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use libtest_mimic::{Arguments, Failed, Trial};
use pi_agent::api::Application;
use serde_json::json;

const REVISION: &str = "bluegreen.pi-agent.io/revision";

struct Env {
    client: kube::Client,
    agent: Mutex<Option<Agent>>,
    // Dropped last: stops the control plane.
    cluster: ControlPlane,
}

static ENV: Mutex<Option<Arc<Env>>> = Mutex::new(None);
// One test at a time: one of them restarts the shared agent, and the machine is small.
static SERIAL: Mutex<()> = Mutex::new(());

fn env() -> Arc<Env> {
    let mut slot = ENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = slot.as_ref() {
        return e.clone();
    }
    let e = runtime().block_on(async {
        let cluster = ControlPlane::start();
        let client = cluster.client().await;
        harness::trial::install_crd(&client).await;
        let agent = Agent::start(&cluster.kubeconfig, &[]).await;
        Arc::new(Env {
            client,
            agent: Mutex::new(Some(agent)),
            cluster,
        })
    });
    *slot = Some(e.clone());
    e
}

impl Env {
    fn log_text(&self) -> String {
        let guard = self.agent.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(Agent::log_text).unwrap_or_default()
    }

    fn agent_addr(&self) -> String {
        let guard = self.agent.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|a| a.addr.clone()).unwrap_or_default()
    }
}

/// What one test works with: its namespace, repository and Application `web`.
struct Case {
    env: Arc<Env>,
    ns: String,
    repo: Repo,
}

#[derive(Clone)]
struct Version<'a> {
    image: &'a str,
    replicas: u32,
    annotations: Vec<(&'a str, &'a str)>,
    /// Pods that never schedule: the version never becomes Available.
    unschedulable: bool,
    /// A pre-promotion Job `smoke`; `false`: one that fails (never schedules, deadline 3 s).
    check: Option<bool>,
    /// A plain Deployment (not opted in to blue-green).
    plain: bool,
}

fn version(image: &str) -> Version<'_> {
    Version {
        image,
        replicas: 2,
        annotations: Vec::new(),
        unschedulable: false,
        check: None,
        plain: false,
    }
}

/// A version with annotations of its own (besides the blue-green ones).
fn annotated<'a>(image: &'a str, annotations: &[(&'a str, &'a str)]) -> Version<'a> {
    Version {
        annotations: annotations.to_vec(),
        ..version(image)
    }
}

fn manifests(v: &Version) -> String {
    let mut annotations = String::new();
    let opted_in: &[(&str, &str)] = if v.plain {
        &[("example.com/plain", "true")]
    } else {
        &[
            ("bluegreen.pi-agent.io/active-service", "web"),
            ("bluegreen.pi-agent.io/preview-service", "web-preview"),
            ("bluegreen.pi-agent.io/scale-down-delay-seconds", "3"),
        ]
    };
    for (k, val) in opted_in
        .iter()
        .copied()
        .chain(v.annotations.iter().copied())
    {
        annotations.push_str(&format!("    {k}: \"{val}\"\n"));
    }
    if v.check.is_some() {
        annotations.push_str("    bluegreen.pi-agent.io/pre-promotion-job: smoke\n");
    }
    let node_selector = if v.unschedulable {
        "      nodeSelector: {no-such-node: \"true\"}\n"
    } else {
        ""
    };
    let mut yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n{annotations}spec:\n  replicas: {}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n{node_selector}      containers: [{{name: web, image: \"{}\"}}]\n",
        v.replicas, v.image
    );
    for s in ["web", "web-preview"] {
        yaml.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: {s}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"));
    }
    match v.check {
        Some(true) => yaml.push_str("---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: smoke}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: smoke, image: \"registry.example/curl:1\"}]\n"),
        Some(false) => yaml.push_str("---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: smoke}\nspec:\n  backoffLimit: 0\n  activeDeadlineSeconds: 3\n  template:\n    spec:\n      restartPolicy: Never\n      nodeSelector: {no-such-node: \"true\"}\n      containers: [{name: smoke, image: \"registry.example/curl:1\"}]\n"),
        None => {}
    }
    yaml
}

/// The revision the agent computes for a version (same render, same hash).
fn revision(v: &Version) -> String {
    let dir = harness::TempDir::new("bg-render");
    std::fs::write(dir.path().join("app.yaml"), manifests(v)).expect("write");
    let fs = kustomize::DiskFs::new(dir.path().to_path_buf());
    let objects = pi_agent::render::render(&fs, "").expect("render");
    let w = pi_agent::bluegreen::workloads(&objects, "x").expect("workloads");
    w[0].revision.clone()
}

impl Case {
    async fn new(ns: &str) -> Case {
        let env = env();
        let nss: Api<Namespace> = Api::all(env.client.clone());
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
        )
        .await
        .expect("namespace");
        Case {
            env,
            ns: ns.to_owned(),
            repo: Repo::new(),
        }
    }

    fn client(&self) -> kube::Client {
        self.env.client.clone()
    }

    /// Commits a version and makes the agent see it now (creating the Application the first
    /// time). Returns the moment of the request.
    async fn deploy(&self, v: &Version<'_>) -> Instant {
        self.repo
            .commit(&[("app/app.yaml", &manifests(v))], v.image);
        let apps: Api<Application> = Api::namespaced(self.client(), &self.ns);
        let at = Instant::now();
        if apps.get_opt("web").await.expect("get app").is_none() {
            let app: Application = serde_json::from_value(json!({
                "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "web", "namespace": self.ns},
                "spec": {"source": {"url": self.repo.url(), "path": "app", "interval": "1h"},
                         "verify": {"mode": "None"}}
            }))
            .expect("app");
            apps.create(&PostParams::default(), &app)
                .await
                .expect("create");
        } else {
            let stamp = format!("{:?}", std::time::SystemTime::now());
            let patch =
                json!({"metadata": {"annotations": {"reconcile.pi-agent.io/requestedAt": stamp}}});
            apps.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("trigger");
        }
        at
    }

    /// Deploys `v` and waits (at most 60 s) until the active Service selects it; its revision.
    async fn bring_up(&self, v: &Version<'_>) -> String {
        let r = revision(v);
        self.deploy(v).await;
        self.wait_active(&r, Duration::from_secs(60)).await;
        r
    }

    async fn active(&self) -> Option<String> {
        let services: Api<Service> = Api::namespaced(self.client(), &self.ns);
        services
            .get_opt("web")
            .await
            .ok()
            .flatten()
            .and_then(|s| s.spec?.selector?.remove(REVISION))
    }

    /// Waits until the active Service selects `rev`; returns when it was seen.
    async fn wait_active(&self, rev: &str, within: Duration) -> Instant {
        eventually(
            &format!("the active Service to select `{rev}`"),
            within,
            || async {
                match self.active().await {
                    Some(a) if a == rev => Ok(Instant::now()),
                    other => Err(format!(
                        "selects {other:?}; Ready: {:?}",
                        self.ready().await
                    )),
                }
            },
        )
        .await
    }

    /// (status, reason, message) of `Ready`.
    async fn ready(&self) -> Option<(String, String, String)> {
        let apps: Api<Application> = Api::namespaced(self.client(), &self.ns);
        let app = apps.get_opt("web").await.ok()??;
        let c = app
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        Some((c.status, c.reason, c.message))
    }

    async fn wait_ready(&self, status: &str, reason: &str, within: Duration) -> String {
        eventually(
            &format!("Ready={status} reason {reason}"),
            within,
            || async {
                match self.ready().await {
                    Some((s, r, m)) if s == status && r == reason => Ok(m),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
    }

    async fn deployments(&self) -> BTreeMap<String, Deployment> {
        let api: Api<Deployment> = Api::namespaced(self.client(), &self.ns);
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|d| (d.metadata.name.clone().unwrap_or_default(), d))
            .collect()
    }

    async fn status_blue_green(&self) -> serde_json::Value {
        let apps: Api<Application> = Api::namespaced(self.client(), &self.ns);
        let app = apps.get("web").await.expect("app");
        serde_json::to_value(app.status.unwrap_or_default().blue_green).expect("json")
    }
}

/// The invariant checker: polls every 100 ms until stopped.
struct Checker {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Observed>,
    client: kube::Client,
    ns: String,
}

#[derive(Debug, Default)]
struct Observed {
    polls: u64,
    violations: Vec<String>,
    /// The revisions the active Service selected, in order (consecutive duplicates removed).
    timeline: Vec<String>,
}

impl Checker {
    fn start(client: kube::Client, ns: &str) -> Checker {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (c, n) = (client.clone(), ns.to_owned());
        let ns = ns.to_owned();
        let task = tokio::spawn(async move {
            let mut seen = Observed::default();
            while !s.load(Ordering::SeqCst) {
                if let Err(v) = check_once(&client, &ns, &mut seen).await {
                    seen.violations.push(v);
                }
                seen.polls += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        });
        Checker {
            stop,
            task,
            client: c,
            ns: n,
        }
    }

    async fn finish(self) -> Observed {
        self.stop.store(true, Ordering::SeqCst);
        let mut seen = self.task.await.expect("checker");
        // One last look, so the final state is in the timeline even if the last switch came
        // between two polls of a slow (loaded) checker.
        if let Err(v) = check_once(&self.client, &self.ns, &mut seen).await {
            seen.violations.push(v);
        }
        assert!(
            seen.violations.is_empty(),
            "invariant violated ({} of {} polls): {:#?}",
            seen.violations.len(),
            seen.polls,
            seen.violations
        );
        println!(
            "  invariant held over {} polls; active revisions: {:?}",
            seen.polls, seen.timeline
        );
        // Whether `pending` was caught before the first version is a matter of timing.
        seen.timeline.retain(|r| r != "pending");
        seen
    }
}

async fn check_once(client: &kube::Client, ns: &str, seen: &mut Observed) -> Result<(), String> {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let Ok(Some(service)) = services.get_opt("web").await else {
        return Ok(()); // not created yet (or a transient read error: not a verdict)
    };
    let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
    let Some(rev) = selector.get(REVISION).cloned() else {
        return check_plain(client, ns, &selector, seen).await;
    };
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Ok(selected) = pods
        .list(&ListParams::default().labels(&labels.join(",")))
        .await
    else {
        return Ok(());
    };
    let newly = seen.timeline.last() != Some(&rev);
    if newly {
        seen.timeline.push(rev.clone());
    }
    if rev == "pending" {
        if !selected.items.is_empty() {
            return Err(format!("`pending` selects {} pods", selected.items.len()));
        }
        return Ok(());
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let Ok(found) = deployments.get_opt(&format!("web-{rev}")).await else {
        return Ok(());
    };
    let Some(d) = found else {
        return Err(format!(
            "the active Service selects `{rev}`, which has no Deployment"
        ));
    };
    let spec = d.spec.replicas.unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let (current, updated, available) = (
        st.replicas.unwrap_or(0),
        st.updated_replicas.unwrap_or(0),
        st.available_replicas.unwrap_or(0),
    );
    let observed = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let full = observed && current == spec && updated == spec && available == spec;
    if newly && !full {
        return Err(format!(
            "the active Service switched to `{rev}` while it was not fully Available: spec {spec}, replicas {current}, updated {updated}, available {available}, generation {:?} observed {:?}",
            d.metadata.generation, st.observed_generation
        ));
    }
    if spec > 0 && available == 0 {
        return Err(format!("the active version `{rev}` has no available pod"));
    }
    for p in &selected.items {
        let pod_rev = p.metadata.labels.as_ref().and_then(|l| l.get(REVISION));
        if pod_rev != Some(&rev) {
            return Err(format!(
                "pod {:?} of revision {pod_rev:?} is selected",
                p.metadata.name
            ));
        }
    }
    Ok(())
}

/// The active Service before any version is live: the plain Deployment `web` still serves,
/// selected as a whole before it opts in (`plain`), then by its pods' `pod-template-hash`
/// (`legacy`) while the first version comes up. Either way only pods of a fully Available
/// Deployment, and never after a version was selected.
async fn check_plain(
    client: &kube::Client,
    ns: &str,
    selector: &BTreeMap<String, String>,
    seen: &mut Observed,
) -> Result<(), String> {
    let state = if selector.contains_key("pod-template-hash") {
        "legacy"
    } else {
        "plain"
    };
    if seen.timeline.iter().any(|r| r != "plain" && r != "legacy") {
        return Err(format!(
            "the active Service went back to the plain Deployment ({state}): {selector:?}"
        ));
    }
    if seen.timeline.last().map(String::as_str) != Some(state) {
        seen.timeline.push(state.to_owned());
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let Ok(Some(d)) = deployments.get_opt("web").await else {
        return Err(format!(
            "the active Service selects {selector:?} but `web` is gone"
        ));
    };
    let spec = d.spec.replicas.unwrap_or(1);
    let st = d.status.unwrap_or_default();
    if st.available_replicas.unwrap_or(0) != spec {
        return Err(format!(
            "the plain Deployment is selected ({state}) while not fully Available"
        ));
    }
    if state == "legacy" {
        let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        if let Ok(selected) = pods
            .list(&ListParams::default().labels(&labels.join(",")))
            .await
            && let Some(p) = selected.items.iter().find(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(REVISION))
            })
        {
            return Err(format!(
                "a pod of a version is selected with the plain ones: {:?}",
                p.metadata.name
            ));
        }
    }
    Ok(())
}

async fn happy_path_with_a_passing_check() {
    let c = Case::new("bg-happy").await;
    let checker = Checker::start(c.client(), &c.ns);
    let mut v1 = version("registry.example/web:1");
    v1.check = Some(true);
    let r1 = revision(&v1);
    let t = c.deploy(&v1).await;
    let seen = c.wait_active(&r1, Duration::from_secs(60)).await;
    println!(
        "  first version `{r1}` active {:?} after the commit",
        seen - t
    );
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let mut v2 = version("registry.example/web:2");
    v2.check = Some(true);
    let r2 = revision(&v2);
    let t = c.deploy(&v2).await;
    let seen = c.wait_active(&r2, Duration::from_secs(60)).await;
    println!(
        "  switch `{r1}` -> `{r2}` (2 replicas, passing check Job): {:?} from the commit to the active Service switching",
        seen - t
    );
    // The old version is kept for its scale-down delay (3 s), then removed.
    let ds = c.deployments().await;
    assert!(
        ds.contains_key(&format!("web-{r1}")),
        "old version kept: {:?}",
        ds.keys()
    );
    eventually(
        "the old version removed",
        Duration::from_secs(30),
        || async {
            let ds = c.deployments().await;
            if ds.contains_key(&format!("web-{r1}")) {
                Err(format!("{:?}", ds.keys()))
            } else {
                Ok(())
            }
        },
    )
    .await;
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let bg = c.status_blue_green().await;
    assert_eq!(bg[0]["activeRevision"], json!(r2), "{bg}");
    assert_eq!(bg[0]["phase"], json!("Stable"), "{bg}");
    // The check Job ran once per switch and was pruned with the promotion.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(c.client(), &c.ns);
    assert!(
        jobs.list(&ListParams::default())
            .await
            .expect("jobs")
            .items
            .is_empty()
    );
    let (_, metrics) = http::request(&c.env.agent_addr(), "GET", "/metrics", &[], "")
        .await
        .expect("metrics");
    for line in [
        "pi_agent_bluegreen_switches_total{namespace=\"bg-happy\",name=\"web\",result=\"started\"} 2",
        "pi_agent_bluegreen_switches_total{namespace=\"bg-happy\",name=\"web\",result=\"promoted\"} 2",
        "pi_agent_bluegreen_switch_duration_seconds_count",
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
    let seen = checker.finish().await;
    assert_eq!(seen.timeline, [r1.clone(), r2.clone()]);
}

async fn a_version_that_never_becomes_ready_is_aborted() {
    let c = Case::new("bg-never-ready").await;
    let checker = Checker::start(c.client(), &c.ns);
    let deadline = [("bluegreen.pi-agent.io/progress-deadline-seconds", "8")];
    let r1 = c
        .bring_up(&annotated("registry.example/web:1", &deadline))
        .await;
    let mut bad = annotated("registry.example/web:2", &deadline);
    bad.unschedulable = true;
    let r2 = revision(&bad);
    c.deploy(&bad).await;
    let msg = c
        .wait_ready("False", "RolloutAborted", Duration::from_secs(60))
        .await;
    println!("  aborted: {msg}");
    assert!(msg.contains("did not become Available within 8s"), "{msg}");
    assert_eq!(c.active().await.as_deref(), Some(r1.as_str()));
    let ds = c.deployments().await;
    assert_eq!(ds[&format!("web-{r2}")].spec.replicas, Some(0));
    assert_eq!(ds[&format!("web-{r1}")].spec.replicas, Some(2));
    let bg = c.status_blue_green().await;
    assert_eq!(bg[0]["phase"], json!("Aborted"), "{bg}");
    assert_eq!(bg[0]["previewRevision"], json!(r2), "{bg}");
    // A later commit tries again.
    c.bring_up(&annotated("registry.example/web:3", &deadline))
        .await;
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let seen = checker.finish().await;
    assert!(!seen.timeline.contains(&r2));
}

async fn a_failing_check_aborts_the_switch() {
    let c = Case::new("bg-failing-check").await;
    let checker = Checker::start(c.client(), &c.ns);
    let r1 = c.bring_up(&version("registry.example/web:1")).await;
    let mut v2 = version("registry.example/web:2");
    v2.check = Some(false);
    let r2 = revision(&v2);
    c.deploy(&v2).await;
    let msg = c
        .wait_ready("False", "RolloutAborted", Duration::from_secs(60))
        .await;
    println!("  aborted: {msg}");
    assert!(
        msg.contains(&format!("pre-promotion check Job `smoke-{r2}` failed")),
        "{msg}"
    );
    assert_eq!(c.active().await.as_deref(), Some(r1.as_str()));
    let ds = c.deployments().await;
    assert_eq!(ds[&format!("web-{r2}")].spec.replicas, Some(0));
    let seen = checker.finish().await;
    assert_eq!(seen.timeline, [r1]);
}

async fn the_agent_killed_in_the_middle_of_a_switch_resumes_it() {
    let c = Case::new("bg-agent-killed").await;
    let checker = Checker::start(c.client(), &c.ns);
    // A 6 s promotion wait keeps the switch open while the agent is killed.
    let wait = [("bluegreen.pi-agent.io/auto-promotion-seconds", "6")];
    let r1 = c
        .bring_up(&annotated("registry.example/web:1", &wait))
        .await;
    let v2 = annotated("registry.example/web:2", &wait);
    let r2 = revision(&v2);
    c.deploy(&v2).await;
    eventually(
        "the switch in progress",
        Duration::from_secs(60),
        || async {
            match c.ready().await {
                // With at least 3 s left, so the kill lands before the promotion.
                Some((s, r, m))
                    if s == "False"
                        && r == "Progressing"
                        && promoted_in(&m).is_some_and(|left| left >= 3) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    {
        let mut guard = c.env.agent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut agent) = guard.take() {
            agent.kill(); // SIGKILL, by PID
        }
    }
    assert_eq!(c.active().await.as_deref(), Some(r1.as_str()));
    let agent = Agent::start(&c.env.cluster.kubeconfig, &[]).await;
    *c.env.agent.lock().unwrap_or_else(|p| p.into_inner()) = Some(agent);
    c.wait_active(&r2, Duration::from_secs(60)).await;
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(60))
        .await;
    let seen = checker.finish().await;
    assert_eq!(seen.timeline, [r1.clone(), r2.clone()]);
}

/// The seconds left in a "promoted in Ns" status message.
fn promoted_in(message: &str) -> Option<u64> {
    let rest = &message[message.find("promoted in ")? + "promoted in ".len()..];
    rest.split('s').next()?.parse().ok()
}

async fn two_commits_in_quick_succession_switch_to_the_last() {
    let c = Case::new("bg-two-commits").await;
    let checker = Checker::start(c.client(), &c.ns);
    let wait = [("bluegreen.pi-agent.io/auto-promotion-seconds", "3")];
    c.bring_up(&annotated("registry.example/web:1", &wait))
        .await;
    let v2 = annotated("registry.example/web:2", &wait);
    let v3 = annotated("registry.example/web:3", &wait);
    let (r2, r3) = (revision(&v2), revision(&v3));
    c.deploy(&v2).await;
    eventually(
        "the second version started",
        Duration::from_secs(30),
        || async {
            let ds = c.deployments().await;
            if ds.contains_key(&format!("web-{r2}")) {
                Ok(())
            } else {
                Err(format!("{:?}", ds.keys()))
            }
        },
    )
    .await;
    c.deploy(&v3).await;
    c.wait_active(&r3, Duration::from_secs(60)).await;
    let ds = c.deployments().await;
    assert!(
        !ds.contains_key(&format!("web-{r2}")),
        "superseded version removed: {:?}",
        ds.keys()
    );
    let seen = checker.finish().await;
    assert!(
        !seen.timeline.contains(&r2),
        "the superseded version was never active"
    );
}

async fn a_replica_change_does_not_switch() {
    let c = Case::new("bg-replicas").await;
    let checker = Checker::start(c.client(), &c.ns);
    let v1 = version("registry.example/web:1");
    let r1 = c.bring_up(&v1).await;
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let mut scaled = v1.clone();
    scaled.replicas = 3;
    assert_eq!(revision(&scaled), r1);
    c.deploy(&scaled).await;
    eventually("3 replicas available", Duration::from_secs(60), || async {
        let ds = c.deployments().await;
        let d = &ds[&format!("web-{r1}")];
        let available = d.status.as_ref().and_then(|s| s.available_replicas);
        if ds.len() == 1 && available == Some(3) {
            Ok(())
        } else {
            Err(format!("{:?} available {available:?}", ds.keys()))
        }
    })
    .await;
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let seen = checker.finish().await;
    assert_eq!(seen.timeline, std::slice::from_ref(&r1));
}

async fn going_back_to_the_previous_commit_switches_back() {
    let c = Case::new("bg-back").await;
    let checker = Checker::start(c.client(), &c.ns);
    let v1 = version("registry.example/web:1");
    let v2 = version("registry.example/web:2");
    let (r1, r2) = (revision(&v1), revision(&v2));
    c.deploy(&v1).await;
    c.wait_active(&r1, Duration::from_secs(60)).await;
    c.deploy(&v2).await;
    c.wait_active(&r2, Duration::from_secs(60)).await;
    // The previous commit's content again (a revert): the same revision as before.
    let t = c.deploy(&v1).await;
    let seen = c.wait_active(&r1, Duration::from_secs(60)).await;
    println!("  back to `{r1}` in {:?}", seen - t);
    c.wait_ready("True", "ReconciliationSucceeded", Duration::from_secs(30))
        .await;
    let seen = checker.finish().await;
    assert_eq!(seen.timeline, [r1.clone(), r2.clone(), r1.clone()]);
}

async fn a_plain_deployment_opting_in_keeps_serving() {
    let c = Case::new("bg-plain").await;
    let mut plain = version("registry.example/web:1");
    plain.plain = true;
    c.deploy(&plain).await;
    eventually(
        "the plain Deployment Available",
        Duration::from_secs(60),
        || {
            let deployments: Api<Deployment> = Api::namespaced(c.client(), &c.ns);
            async move {
                let d = deployments
                    .get_opt("web")
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no Deployment yet")?;
                let available = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
                (available == 2)
                    .then_some(())
                    .ok_or(format!("{available}/2 available"))
            }
        },
    )
    .await;
    let checker = Checker::start(c.client(), &c.ns);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Opting in with a new image: the plain Deployment serves until the version takes over.
    let r2 = c.bring_up(&version("registry.example/web:2")).await;
    eventually(
        "the plain Deployment retired",
        Duration::from_secs(30),
        || {
            let deployments: Api<Deployment> = Api::namespaced(c.client(), &c.ns);
            async move {
                match deployments
                    .get_opt("web")
                    .await
                    .map_err(|e| e.to_string())?
                {
                    None => Ok(()),
                    Some(_) => Err("still there".to_owned()),
                }
            }
        },
    )
    .await;
    let seen = checker.finish().await;
    assert_eq!(seen.timeline.first().map(String::as_str), Some("plain"));
    assert!(
        seen.timeline.contains(&"legacy".to_owned()),
        "the Service selected the plain pods by hash while the version came up: {:?}",
        seen.timeline
    );
    assert_eq!(seen.timeline.last(), Some(&r2));
}

fn run(body: impl std::future::Future<Output = ()>) -> Result<(), Failed> {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let env = env();
    harness::trial::run_body(body, || Some(env.log_text()))
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("happy_path_with_a_passing_check", || {
            run(happy_path_with_a_passing_check())
        }),
        Trial::test("a_version_that_never_becomes_ready_is_aborted", || {
            run(a_version_that_never_becomes_ready_is_aborted())
        }),
        Trial::test("a_failing_check_aborts_the_switch", || {
            run(a_failing_check_aborts_the_switch())
        }),
        Trial::test(
            "the_agent_killed_in_the_middle_of_a_switch_resumes_it",
            || run(the_agent_killed_in_the_middle_of_a_switch_resumes_it()),
        ),
        Trial::test("two_commits_in_quick_succession_switch_to_the_last", || {
            run(two_commits_in_quick_succession_switch_to_the_last())
        }),
        Trial::test("a_replica_change_does_not_switch", || {
            run(a_replica_change_does_not_switch())
        }),
        Trial::test("a_plain_deployment_opting_in_keeps_serving", || {
            run(a_plain_deployment_opting_in_keeps_serving())
        }),
        Trial::test("going_back_to_the_previous_commit_switches_back", || {
            run(going_back_to_the_previous_commit_switches_back())
        }),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // The agent and the control plane are stopped by PID before exiting.
    if let Some(env) = ENV.lock().unwrap_or_else(|p| p.into_inner()).take() {
        drop(env.agent.lock().unwrap_or_else(|p| p.into_inner()).take());
        drop(Arc::try_unwrap(env).ok());
    }
    conclusion.exit();
}
