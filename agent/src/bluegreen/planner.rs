//! The switch planner (state in labels, see `state_place`): from the rendered Deployment, what the cluster holds and the time, the
//! objects to apply and the phase of the switch. Pure: the same inputs give the same plan, which
//! is what makes a restarted agent resume where the last one stopped.
//!
//! The state machine of the Git revision `d` (its pod template's revision):
//!
//! ```text
//!            d == active ───────────────────────────────────────────────▶ Stable
//!  (none) ──▶ started ──▶ Available ──▶ check Job Complete ──▶ promoted ──▶ Stable / Promoted
//!                │  deadline     │ check Job Failed            (active Service switched;
//!                ▼               ▼ or `pi-agent abort`          old version kept until
//!             Aborted (replicas 0, active unchanged)            scale-down-at, then pruned)
//!                │ `pi-agent promote` (after the abort)
//!                └──▶ started again
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{
    ABORT, ABORT_AT, ABORTED, ABORTED_AT, AVAILABLE_AT, Live, PREFIX, PROGRESS_POLL, PROMOTE,
    PROMOTED_AT, REVISION_LABEL, SCALE_DOWN_AT, STARTED_AT, WORKLOAD_LABEL, Workload,
};

/// Where a switch stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The active Service selects the Git revision; nothing else runs.
    Stable,
    /// The new version is being brought up or checked, or waits for promotion (why).
    Progressing(String),
    /// The active Service selects the Git revision; a previous version waits for its scale-down.
    Promoted(String),
    /// The switch was aborted (why): the active Service stays on the previous version.
    Aborted(String),
}

impl Phase {
    /// The name in `status.blueGreen[].phase`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Stable => "Stable",
            Phase::Progressing(_) => "Progressing",
            Phase::Promoted(_) => "Promoted",
            Phase::Aborted(_) => "Aborted",
        }
    }

    /// The message in `status.blueGreen[].message`.
    pub fn message(&self, deployment: &str) -> String {
        match self {
            Phase::Stable => {
                format!("`{deployment}`: the active Service selects the revision of Git")
            }
            Phase::Progressing(m) | Phase::Promoted(m) | Phase::Aborted(m) => m.clone(),
        }
    }
}

/// Something that happened in this plan (counted once the plan is applied).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A switch to `revision` started.
    Started { revision: String },
    /// The active Service now selects `revision`; `seconds` since the switch started.
    Promoted { revision: String, seconds: f64 },
    /// The switch to `revision` was aborted.
    Aborted { revision: String, why: String },
}

/// The plan of one workload.
#[derive(Clone, Debug)]
pub struct WorkloadPlan {
    /// Namespace of the Deployment.
    pub namespace: String,
    /// The Git Deployment's name.
    pub name: String,
    /// The revision the active Service selects after this plan (`None`: no version yet).
    pub active: Option<String>,
    /// While no version is active: the label the active Service selects the pods of the plain
    /// Deployment it replaces with (`pod-template-hash`), instead of no pod at all.
    pub legacy_selector: Option<(String, String)>,
    /// The revision being switched to, when it is not the active one.
    pub preview: Option<String>,
    /// What the preview Service selects (the Git revision).
    pub preview_target: String,
    /// The phase.
    pub phase: Phase,
    /// Version Deployments and check Job to apply.
    pub objects: Vec<Value>,
    /// What happened.
    pub events: Vec<Event>,
    /// Applied objects (kind, name) the health check must not wait for.
    pub skip_health: Vec<(String, String)>,
    /// The next reconcile must run within this delay.
    pub requeue: Option<Duration>,
}

/// Plans one workload. `now` is truncated to the second (the precision of the annotations).
pub fn plan_workload(w: &Workload, live: &Live, now: Timestamp, prune: bool) -> WorkloadPlan {
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let d = w.revision.clone();
    let versions: BTreeMap<String, &Value> = live
        .versions
        .iter()
        .filter_map(|v| Some((label(v, REVISION_LABEL)?.to_owned(), v)))
        .collect();
    let mut p = WorkloadPlan {
        namespace: w.namespace.clone(),
        name: w.name.clone(),
        // The active Service's selector is the single source of truth, if its version exists.
        active: live
            .active_revision
            .clone()
            .filter(|r| versions.contains_key(r)),
        legacy_selector: None,
        preview: None,
        preview_target: d.clone(),
        phase: Phase::Stable,
        objects: Vec::new(),
        events: Vec::new(),
        skip_health: Vec::new(),
        requeue: None,
    };
    let live_d = versions.get(&d).copied();
    if p.active.as_deref() == Some(d.as_str()) {
        let mut state = kept_state(live_d, &[STARTED_AT, AVAILABLE_AT, PROMOTED_AT]);
        state.entry(PROMOTED_AT).or_insert_with(|| secs(now));
        p.objects.push(version_from_git(w, &state, false));
    } else {
        switch(w, live, live_d, now, &mut p);
    }

    // Every other version: the active one while a switch runs, previous ones during their
    // scale-down delay, the rest retired (pruned, as they are no longer applied).
    for (rev, v) in &versions {
        if *rev == d {
            continue;
        }
        let vname = w.version_name(rev);
        if p.active.as_deref() == Some(rev.as_str()) {
            let mut set = Vec::new();
            if label(v, PROMOTED_AT).is_none() {
                set.push((PROMOTED_AT, secs(now)));
            }
            p.objects
                .push(version_from_live(v, &set, &[SCALE_DOWN_AT], None));
            continue;
        }
        p.skip_health.push(("Deployment".into(), vname.clone()));
        if label(v, PROMOTED_AT).is_some() {
            let at = time(v, SCALE_DOWN_AT)
                .unwrap_or_else(|| plus(now, w.strategy.scale_down_delay_seconds));
            let what = format!("the previous version `{vname}`");
            retire(v, at, now, prune, &what, w, &mut p);
            continue;
        }
        retire(v, now, now, prune, "", w, &mut p);
    }
    legacy(w, live, now, prune, &mut p);
    if p.active.as_deref() != Some(d.as_str()) {
        p.preview = Some(d.clone());
        p.skip_health
            .push(("Deployment".into(), w.version_name(&d)));
    }
    if let Some(job) = w.check_name(&d) {
        p.skip_health.push(("Job".into(), job));
    }
    p
}

/// The plain Deployment of a workload that just opted in: it stays production (the active
/// Service selecting exactly its current pods) until a version takes over, then is kept for the
/// scale-down delay like any previous version, then retired.
fn legacy(w: &Workload, live: &Live, now: Timestamp, prune: bool, p: &mut WorkloadPlan) {
    let Some(legacy) = &live.legacy else {
        return;
    };
    let v = &legacy.object;
    match (&p.active, time(v, SCALE_DOWN_AT)) {
        (None, _) => {
            if let Some(hash) = &legacy.pod_template_hash {
                p.legacy_selector = Some(("pod-template-hash".into(), hash.clone()));
            }
            p.objects
                .push(version_from_live(v, &[], &[SCALE_DOWN_AT], None));
        }
        (Some(_), at) => {
            let at = at.unwrap_or_else(|| plus(now, w.strategy.scale_down_delay_seconds));
            p.skip_health.push(("Deployment".into(), w.name.clone()));
            let what = format!("the plain Deployment `{}` it replaces", w.name);
            retire(v, at, now, prune, &what, w, p);
        }
    }
}

/// A Deployment that no longer takes traffic (`what`, for the status message): kept as it is
/// until its scale-down time `at`; after it, no longer applied, so pruned (or, without pruning,
/// scaled to zero).
fn retire(
    v: &Value,
    at: Timestamp,
    now: Timestamp,
    prune: bool,
    what: &str,
    w: &Workload,
    p: &mut WorkloadPlan,
) {
    if now < at {
        p.objects.push(version_from_live(
            v,
            &[(SCALE_DOWN_AT, secs(at))],
            &[],
            None,
        ));
        let left = Duration::try_from(at.duration_since(now)).unwrap_or_default();
        p.requeue = min_requeue(p.requeue, left + Duration::from_secs(1));
        if p.phase == Phase::Stable {
            p.phase = Phase::Promoted(format!(
                "`{}` is active; {what} is removed at {at}",
                w.version_name(&w.revision)
            ));
        }
    } else if !prune {
        p.objects
            .push(version_from_live(v, &[], &[SCALE_DOWN_AT], Some(0)));
    }
}

/// The Git revision `d` is not active: bring it up, check it, promote or abort it.
fn switch(w: &Workload, live: &Live, live_d: Option<&Value>, now: Timestamp, p: &mut WorkloadPlan) {
    let d = w.revision.clone();
    let vname = w.version_name(&d);
    let promote_at = live_d.and_then(|v| requested(v, PROMOTE));
    // A version that was active before (going back to it) or never started is started afresh.
    let fresh =
        live_d.is_none_or(|v| label(v, PROMOTED_AT).is_some() || time(v, STARTED_AT).is_none());
    let mut state: BTreeMap<&'static str, String> = BTreeMap::new();
    if fresh {
        state.insert(STARTED_AT, secs(now));
        p.events.push(Event::Started {
            revision: d.clone(),
        });
    } else if let Some(why) = live_d.and_then(|v| annotation(v, ABORTED)) {
        let aborted_at = live_d.and_then(|v| time(v, ABORTED_AT));
        match promote_at {
            // `pi-agent promote` after the abort: try again, the deadline counting from the request.
            Some(at) if aborted_at.is_none_or(|a| at > a) => {
                state.insert(STARTED_AT, secs(at));
                p.events.push(Event::Started {
                    revision: d.clone(),
                });
            }
            _ => {
                let mut state = kept_state(live_d, &[STARTED_AT, ABORTED_AT]);
                state.insert(ABORTED, why.to_owned());
                p.objects.push(version_from_git(w, &state, true));
                p.phase = Phase::Aborted(why.to_owned());
                return;
            }
        }
    } else {
        state = kept_state(live_d, &[STARTED_AT, AVAILABLE_AT]);
    }
    let started = state
        .get(STARTED_AT)
        .and_then(|t| parse_secs(t))
        .unwrap_or(now);
    let manual = promote_at.is_some_and(|at| at >= started);
    let user_abort = live_d
        .filter(|v| requested(v, ABORT_AT).is_some_and(|at| at >= started))
        .map(|v| annotation(v, ABORT).unwrap_or("no reason given").to_owned());
    let (available, summary) = match live_d {
        Some(v) => availability(v, w.replicas),
        None => (false, "not created yet".to_owned()),
    };

    let abort = |p: &mut WorkloadPlan, mut state: BTreeMap<&'static str, String>, why: String| {
        state.insert(ABORTED, why.clone());
        state.insert(ABORTED_AT, secs(now));
        state.remove(AVAILABLE_AT);
        p.objects.push(version_from_git(w, &state, true));
        p.events.push(Event::Aborted {
            revision: d.clone(),
            why: why.clone(),
        });
        p.phase = Phase::Aborted(why);
    };
    if let Some(reason) = user_abort {
        return abort(p, state, format!("aborted with `pi-agent abort`: {reason}"));
    }
    if !available {
        if now >= plus(started, w.strategy.progress_deadline_seconds) {
            let why = format!(
                "`{vname}` did not become Available within {}s ({summary}); the active Service stays on {}",
                w.strategy.progress_deadline_seconds,
                p.active
                    .as_deref()
                    .map_or("no version".to_owned(), |a| format!(
                        "`{}`",
                        w.version_name(a)
                    ))
            );
            return abort(p, state, why);
        }
        p.objects.push(version_from_git(w, &state, false));
        p.phase = Phase::Progressing(format!(
            "waiting for `{vname}` to become Available ({summary})"
        ));
        p.requeue = Some(PROGRESS_POLL);
        return;
    }
    let available_at = state
        .get(AVAILABLE_AT)
        .and_then(|t| parse_secs(t))
        .unwrap_or(now);
    state.insert(AVAILABLE_AT, secs(available_at));

    // The check Job is applied until the promotion (so it is neither pruned nor run again), then
    // left out: pruned with the promotion.
    let mut check = None;
    if let (Some(job), Some(template)) = (w.check_name(&d), &w.check) {
        match job_state(live.check_job.as_ref()) {
            JobState::Complete => {}
            JobState::Failed(message) => {
                let why = format!("pre-promotion check Job `{job}` failed: {message}");
                return abort(p, state, why);
            }
            JobState::Running => {
                p.objects.push(version_from_git(w, &state, false));
                p.objects.push(check_job(w, template, &job));
                p.phase = Phase::Progressing(format!(
                    "`{vname}` is Available; pre-promotion check Job `{job}` is running"
                ));
                p.requeue = Some(PROGRESS_POLL);
                return;
            }
        }
        check = Some(check_job(w, template, &job));
    }
    let promote_after = plus(available_at, w.strategy.auto_promotion_seconds);
    if !manual && !w.strategy.auto_promotion {
        p.objects.push(version_from_git(w, &state, false));
        p.objects.extend(check);
        p.phase = Phase::Progressing(format!(
            "`{vname}` is Available and checked; waiting for `pi-agent promote -n {} {}`",
            w.namespace, w.name
        ));
        return;
    }
    if !manual && now < promote_after {
        let left = Duration::try_from(promote_after.duration_since(now)).unwrap_or_default();
        p.objects.push(version_from_git(w, &state, false));
        p.objects.extend(check);
        p.phase = Phase::Progressing(format!(
            "`{vname}` is Available and checked; promoted in {}s",
            left.as_secs()
        ));
        p.requeue = Some(left.clamp(Duration::from_secs(1), PROGRESS_POLL));
        return;
    }
    // Promotion: the active Service's selector switches to `d` in the same apply.
    state.insert(PROMOTED_AT, secs(now));
    p.objects.push(version_from_git(w, &state, false));
    let took = now.duration_since(started).as_secs_f64().max(0.0);
    p.events.push(Event::Promoted {
        revision: d.clone(),
        seconds: took,
    });
    p.active = Some(d);
}

fn min_requeue(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// `t` plus `n` seconds (saturating).
fn plus(t: Timestamp, n: u64) -> Timestamp {
    let d = SignedDuration::from_secs(i64::try_from(n).unwrap_or(i64::MAX));
    t.saturating_add(d).unwrap_or(Timestamp::MAX)
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// A time written by `pi-agent promote` / `abort` (an annotation, RFC 3339).
fn requested(v: &Value, key: &str) -> Option<Timestamp> {
    annotation(v, key).and_then(|t| t.parse().ok())
}

/// A state time (a label, in Unix seconds).
fn time(v: &Value, key: &str) -> Option<Timestamp> {
    label(v, key).and_then(parse_secs)
}

fn parse_secs(text: &str) -> Option<Timestamp> {
    Timestamp::from_second(text.parse().ok()?).ok()
}

/// A time as a state label value.
fn secs(t: Timestamp) -> String {
    t.as_second().to_string()
}

/// The state labels of `keys` the live version has.
fn kept_state(v: Option<&Value>, keys: &[&'static str]) -> BTreeMap<&'static str, String> {
    keys.iter()
        .filter_map(|k| Some((*k, label(v?, k)?.to_owned())))
        .collect()
}

/// Whether a version Deployment is fully Available at `replicas`: its controller saw its current
/// spec, and every replica is updated and available. With a one-line summary.
pub(crate) fn availability(v: &Value, replicas: i64) -> (bool, String) {
    let int = |p: &str| v.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = int("/metadata/generation");
    let observed = int("/status/observedGeneration");
    let spec = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let (current, updated, ready, available) = (
        int("/status/replicas"),
        int("/status/updatedReplicas"),
        int("/status/readyReplicas"),
        int("/status/availableReplicas"),
    );
    let ok = observed >= generation
        && spec == replicas
        && current == replicas
        && updated == replicas
        && available == replicas
        && ready == replicas;
    (
        ok,
        format!("{available}/{replicas} available, {ready} ready, {updated} updated"),
    )
}

enum JobState {
    Running,
    Complete,
    Failed(String),
}

fn job_state(job: Option<&Value>) -> JobState {
    let conditions = job
        .and_then(|j| j.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is = |t: &str| {
        conditions.iter().find(|c| {
            c.get("type").and_then(Value::as_str) == Some(t)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    };
    if is("Complete").is_some() {
        JobState::Complete
    } else if let Some(c) = is("Failed") {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
        JobState::Failed(format!("{}: {}", text("reason"), text("message")))
    } else {
        JobState::Running
    }
}

/// Where a state key is written. Times are labels: the Deployment strategy bumps
/// `metadata.generation` on annotation changes (not on label changes), and a version must not get
/// a new generation in the very apply that switches the active Service to it (its controller
/// would not have observed it yet). The abort reason, free text, is an annotation (an aborted
/// version takes no traffic).
fn state_place(key: &str) -> &'static str {
    if key == ABORTED {
        "/metadata/annotations"
    } else {
        "/metadata/labels"
    }
}

/// The version Deployment of the Git revision, with the state annotations of `state`.
fn version_from_git(
    w: &Workload,
    state: &BTreeMap<&'static str, String>,
    scaled_down: bool,
) -> Value {
    let mut v = w.deployment.clone();
    let rev = w.revision.as_str();
    set(&mut v, "/metadata/name", json!(w.version_name(rev)));
    insert(&mut v, "/metadata/labels", WORKLOAD_LABEL, &w.name);
    insert(&mut v, "/metadata/labels", REVISION_LABEL, rev);
    insert(&mut v, "/spec/selector/matchLabels", REVISION_LABEL, rev);
    insert(
        &mut v,
        "/spec/template/metadata/labels",
        REVISION_LABEL,
        rev,
    );
    for (k, val) in state {
        insert(&mut v, state_place(k), k, val);
    }
    if scaled_down {
        set(&mut v, "/spec/replicas", json!(0));
    }
    v
}

/// A version Deployment as it is live, re-applied so that it stays as it is (server-side apply
/// keeps what it keeps owning), with state annotations set or removed, and maybe scaled.
fn version_from_live(
    live: &Value,
    set_state: &[(&str, String)],
    remove: &[&str],
    replicas: Option<i64>,
) -> Value {
    let mut annotations: serde_json::Map<String, Value> = live
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(PREFIX) && ![PROMOTE, ABORT, ABORT_AT].contains(&k.as_str()))
        .filter(|(k, _)| !remove.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut labels: serde_json::Map<String, Value> = live
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in remove {
        labels.remove(*k);
    }
    for (k, val) in set_state {
        if state_place(k) == "/metadata/labels" {
            labels.insert((*k).to_owned(), json!(val));
        } else {
            annotations.insert((*k).to_owned(), json!(val));
        }
    }
    let mut spec = live.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(n) = replicas {
        spec["replicas"] = json!(n);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": live.pointer("/metadata/name"),
            "namespace": live.pointer("/metadata/namespace"),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    })
}

/// The check Job of revision `d`: the Git Job renamed, labelled, told the preview Service.
fn check_job(w: &Workload, template: &Value, name: &str) -> Value {
    let mut j = template.clone();
    let rev = w.revision.as_str();
    set(&mut j, "/metadata/name", json!(name));
    insert(&mut j, "/metadata/labels", WORKLOAD_LABEL, &w.name);
    insert(&mut j, "/metadata/labels", REVISION_LABEL, rev);
    let mut env = vec![json!({"name": "PREVIEW_REVISION", "value": rev})];
    let service = w
        .strategy
        .preview_service
        .as_deref()
        .unwrap_or(&w.strategy.active_service);
    env.push(json!({"name": "PREVIEW_SERVICE", "value": service}));
    env.push(json!({"name": "PREVIEW_DEPLOYMENT", "value": w.version_name(rev)}));
    if let Some(containers) = j
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            let list = c
                .as_object_mut()
                .map(|c| c.entry("env").or_insert_with(|| json!([])));
            if let Some(Value::Array(list)) = list {
                list.retain(|e| {
                    !e.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.starts_with("PREVIEW_"))
                });
                list.extend(env.iter().cloned());
            }
        }
    }
    j
}

fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    ensure_object(v, parent);
    if let Some(o) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
        o.insert(key.to_owned(), value);
    }
}

fn insert(v: &mut Value, pointer: &str, key: &str, value: &str) {
    ensure_object(v, pointer);
    if let Some(o) = v.pointer_mut(pointer).and_then(Value::as_object_mut) {
        o.insert(key.to_owned(), json!(value));
    }
}

/// Makes every step of `pointer` an object (creating or replacing nulls).
fn ensure_object(v: &mut Value, pointer: &str) {
    let mut cur = v;
    for part in pointer.split('/').skip(1) {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        cur = o.entry(part.to_owned()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
