//! What is sent where, as values: the console event (Flux `generic-hmac` shape), its signature,
//! and the commit-status requests of GitLab and GitHub. Pure: no I/O, no clock.

use std::collections::BTreeMap;

use ring::hmac;
use serde::Serialize;

use crate::api::CommitStatusProvider;
use crate::report::conditions::reason;

/// The controller name in every report (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "pi-agent";
/// The header carrying the HMAC of a console event body.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// One reconcile outcome, as the `Ready` condition says it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// `Ready=True`.
    pub ready: bool,
    /// The condition's reason (`ReconciliationSucceeded`, `RenderFailed`, …).
    pub reason: String,
    /// The condition's message.
    pub message: String,
    /// `<ref>@sha1:<commit>`: the applied revision on success, the attempted one on failure.
    pub revision: Option<String>,
}

impl Outcome {
    /// The outcome a status describes: `None` while no `Ready` condition is set.
    pub fn from_status(status: &crate::api::ApplicationStatus) -> Option<Outcome> {
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == crate::report::conditions::READY)?;
        let ok = ready.status == "True";
        let revision = if ok {
            status.last_applied_revision.clone()
        } else {
            status.last_attempted_revision.clone()
        };
        Some(Outcome {
            ready: ok,
            reason: ready.reason.clone(),
            message: ready.message.clone(),
            revision,
        })
    }

    /// A verified revision being applied (not an outcome yet: reported as `running`).
    pub fn in_progress(&self) -> bool {
        !self.ready && self.reason == reason::PROGRESSING
    }

    /// `info` or `error`, as Flux's events.
    pub fn severity(&self) -> &'static str {
        if self.ready || self.in_progress() {
            "info"
        } else {
            "error"
        }
    }

    /// The commit state: applied, being applied, or refused / failed.
    pub fn state(&self) -> CommitState {
        if self.ready {
            CommitState::Success
        } else if self.in_progress() {
            CommitState::Running
        } else {
            CommitState::Failed
        }
    }

    /// The commit of the revision, when the outcome is about one: success, or a failure at or
    /// after verification (earlier failures — fetch, dependencies, spec — may carry the
    /// previous attempt's revision, which is not what failed).
    pub fn commit(&self) -> Option<&str> {
        let about_revision = self.ready
            || matches!(
                self.reason.as_str(),
                reason::PROGRESSING
                    | reason::SOURCE_VERIFICATION_FAILED
                    | reason::RENDER_FAILED
                    | reason::TENANCY_VIOLATION
                    | reason::APPLY_FAILED
                    | reason::PRUNE_FAILED
                    | reason::HEALTH_CHECK_FAILED
                    | reason::IMAGE_VERIFICATION_FAILED
                    | crate::bluegreen::ROLLOUT_ABORTED
            );
        if !about_revision {
            return None;
        }
        crate::source::revision_commit(self.revision.as_deref()?)
    }

    /// The branch or tag of the revision (`main` of `main@sha1:…`).
    pub fn reference(&self) -> Option<&str> {
        let (r, _) = self.revision.as_deref()?.split_once("@sha1:")?;
        (!r.is_empty()).then_some(r)
    }
}

/// `involvedObject` of a console event.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InvolvedObject {
    /// `Application`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// `gitops.pi-agent.io/v1alpha1`.
    pub api_version: String,
}

/// A console event: the JSON shape of Flux's `generic` / `generic-hmac` providers, so a console
/// that already reads Flux's notifications reads pi-agent's.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleEvent {
    /// The Application.
    pub involved_object: InvolvedObject,
    /// `info` or `error`.
    pub severity: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// The `Ready` message.
    pub message: String,
    /// The `Ready` reason.
    pub reason: String,
    /// `revision`, `region` (and nothing secret, ever).
    pub metadata: BTreeMap<String, String>,
    /// `pi-agent`.
    pub reporting_controller: String,
    /// The agent instance (pod name).
    pub reporting_instance: String,
}

/// Builds the console event of an outcome.
pub fn console_event(
    app: &crate::report::subject::Subject,
    outcome: &Outcome,
    region: &str,
    instance: &str,
    timestamp: &str,
) -> ConsoleEvent {
    let mut metadata = BTreeMap::new();
    if let Some(r) = &outcome.revision {
        metadata.insert("revision".to_owned(), r.clone());
    }
    metadata.insert("region".to_owned(), region.to_owned());
    ConsoleEvent {
        involved_object: InvolvedObject {
            kind: app.kind.clone(),
            namespace: app.namespace.clone(),
            name: app.name.clone(),
            uid: app.uid.clone().unwrap_or_default(),
            api_version: app.api_version.clone(),
        },
        severity: outcome.severity().to_owned(),
        timestamp: timestamp.to_owned(),
        message: outcome.message.clone(),
        reason: outcome.reason.clone(),
        metadata,
        reporting_controller: REPORTING_CONTROLLER.to_owned(),
        reporting_instance: instance.to_owned(),
    }
}

/// `sha256=<hex of HMAC-SHA256(key, body)>`, the value of `X-Signature`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    format!("sha256={}", hex(hmac::sign(&key, body).as_ref()))
}

/// Checks a `sha256=<hex>` signature of `body` in constant time (ring's `hmac::verify`).
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(given) = unhex(given) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), body, &given).is_ok()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A commit state, mapped to each provider's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitState {
    /// Queued.
    Pending,
    /// Being applied.
    Running,
    /// Applied and healthy.
    Success,
    /// Refused or failed.
    Failed,
}

impl CommitState {
    /// GitLab's `state`: `pending`, `running`, `success`, `failed`.
    pub fn gitlab(self) -> &'static str {
        match self {
            CommitState::Pending => "pending",
            CommitState::Running => "running",
            CommitState::Success => "success",
            CommitState::Failed => "failed",
        }
    }

    /// GitHub's `state`: `pending`, `success`, `failure` (`error` is for the reporter's own
    /// errors, which pi-agent does not report as statuses).
    pub fn github(self) -> &'static str {
        match self {
            CommitState::Pending | CommitState::Running => "pending",
            CommitState::Success => "success",
            CommitState::Failed => "failure",
        }
    }
}

/// An HTTP request ready to send. `Debug` never prints header values (tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Full URL.
    pub url: String,
    /// Headers (name, value); may hold a token.
    pub headers: Vec<(String, String)>,
    /// The body, sent as is.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Request")
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The console request of an event, signed when there is a key.
pub fn console_request(url: &str, event: &ConsoleEvent, key: Option<&[u8]>) -> Request {
    let body = serde_json::to_vec(event).unwrap_or_default();
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(key) = key {
        headers.push((SIGNATURE_HEADER.to_owned(), signature(key, &body)));
    }
    Request {
        url: url.to_owned(),
        headers,
        body,
    }
}

/// The context (GitHub) / name (GitLab) of pi-agent's statuses:
/// `pi-agent/<region>/<namespace>/<name>` (the namespace keeps two Applications of the same
/// name on one repository apart).
pub fn status_context(region: &str, namespace: &str, name: &str) -> String {
    format!("pi-agent/{region}/{namespace}/{name}")
}

/// What a commit status says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus<'a> {
    /// The state.
    pub state: CommitState,
    /// The commit (40 hex).
    pub sha: &'a str,
    /// The branch or tag, when known.
    pub reference: Option<&'a str>,
    /// `pi-agent/<region>/<namespace>/<name>`.
    pub context: String,
    /// The outcome message.
    pub description: &'a str,
}

/// Why a commit status cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommitStatusError {
    /// `spec.report.commitStatus.project` is not usable.
    #[error("`spec.report.commitStatus.project` `{0}`: {1}")]
    InvalidProject(String, &'static str),
}

/// The commit-status request: GitLab `POST {url}/api/v4/projects/:id/statuses/:sha` with
/// `PRIVATE-TOKEN`, GitHub `POST {url}/repos/{owner}/{repo}/statuses/{sha}` with
/// `Authorization: Bearer`; both with a JSON body.
///
/// # Errors
/// A project that is not an id or path (GitLab) or `owner/repo` (GitHub).
pub fn commit_status_request(
    provider: CommitStatusProvider,
    base: Option<&str>,
    project: &str,
    token: &str,
    status: &CommitStatus<'_>,
) -> Result<Request, CommitStatusError> {
    let invalid = |why| CommitStatusError::InvalidProject(project.to_owned(), why);
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    match provider {
        CommitStatusProvider::Gitlab => {
            let base = base.unwrap_or("https://gitlab.com").trim_end_matches('/');
            let segments: Vec<&str> = project.trim_matches('/').split('/').collect();
            if segments
                .iter()
                .any(|s| s.is_empty() || !s.chars().all(safe))
            {
                return Err(invalid(
                    "expected a project id or a path like `group/project`",
                ));
            }
            let id = segments.join("%2F");
            let mut body = serde_json::json!({
                "state": status.state.gitlab(),
                "name": status.context,
                "description": crate::report::conditions::truncate(status.description, 255),
            });
            if let Some(r) = status.reference {
                body["ref"] = r.into();
            }
            Ok(Request {
                url: format!("{base}/api/v4/projects/{id}/statuses/{}", status.sha),
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("PRIVATE-TOKEN".into(), token.to_owned()),
                ],
                body: body.to_string().into_bytes(),
            })
        }
        CommitStatusProvider::Github => {
            let base = base
                .unwrap_or("https://api.github.com")
                .trim_end_matches('/');
            let parts: Vec<&str> = project.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || !p.chars().all(safe)) {
                return Err(invalid("expected `owner/repo`"));
            }
            let body = serde_json::json!({
                "state": status.state.github(),
                "context": status.context,
                "description": truncate_chars(status.description, 140),
            });
            Ok(Request {
                url: format!(
                    "{base}/repos/{}/{}/statuses/{}",
                    parts[0], parts[1], status.sha
                ),
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Accept".into(), "application/vnd.github+json".into()),
                    ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
                    ("Authorization".into(), format!("Bearer {token}")),
                ],
                body: body.to_string().into_bytes(),
            })
        }
    }
}

/// At most `max` characters (GitHub counts characters), the last one `…` when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn app() -> crate::work::Subject {
        let app: crate::api::Application = serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1"},
            "spec": {"source": {"url": "https://git.example/infra.git"}}
        }))
        .unwrap();
        crate::work::application::subject_of(&app)
    }

    fn outcome(ready: bool, reason: &str) -> Outcome {
        Outcome {
            ready,
            reason: reason.into(),
            message: "Applied revision: main@sha1:…".into(),
            revision: Some(format!("main@sha1:{SHA}")),
        }
    }

    #[test]
    fn console_event_should_have_flux_generic_shape() {
        let e = console_event(
            &app(),
            &outcome(true, reason::SUCCEEDED),
            "paris",
            "pi-agent-0",
            "2026-01-01T00:00:00Z",
        );
        let v: Value = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({
                "involvedObject": {"kind": "Application", "namespace": "team-a", "name": "web",
                                   "uid": "u-1", "apiVersion": "gitops.pi-agent.io/v1alpha1"},
                "severity": "info",
                "timestamp": "2026-01-01T00:00:00Z",
                "message": "Applied revision: main@sha1:…",
                "reason": "ReconciliationSucceeded",
                "metadata": {"revision": format!("main@sha1:{SHA}"), "region": "paris"},
                "reportingController": "pi-agent",
                "reportingInstance": "pi-agent-0",
            })
        );
        let failed = console_event(&app(), &outcome(false, "RenderFailed"), "r", "i", "t");
        assert_eq!(failed.severity, "error");
    }

    #[test]
    fn signature_should_be_the_hmac_sha256_of_the_exact_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = signature(b"k", b"{\"a\":1}");
        assert!(verify_signature(b"k", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha1=00"));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=abc"));
    }

    #[test]
    fn console_request_should_sign_its_body_and_hide_headers_in_debug() {
        let e = console_event(&app(), &outcome(true, reason::SUCCEEDED), "r", "i", "t");
        let r = console_request("http://c/hook", &e, Some(b"key"));
        let sig = &r
            .headers
            .iter()
            .find(|(k, _)| k == SIGNATURE_HEADER)
            .unwrap()
            .1;
        assert!(verify_signature(b"key", &r.body, sig));
        assert!(!format!("{r:?}").contains(sig.as_str()));
        let unsigned = console_request("http://c/hook", &e, None);
        assert!(unsigned.headers.iter().all(|(k, _)| k != SIGNATURE_HEADER));
    }

    #[test]
    fn outcome_should_name_a_commit_only_when_about_the_revision() {
        assert_eq!(outcome(true, reason::SUCCEEDED).commit(), Some(SHA));
        assert_eq!(outcome(false, reason::RENDER_FAILED).commit(), Some(SHA));
        assert_eq!(outcome(false, reason::SOURCE_FAILED).commit(), None);
        assert_eq!(outcome(false, reason::DEPENDENCY_NOT_READY).commit(), None);
        assert_eq!(outcome(true, reason::SUCCEEDED).reference(), Some("main"));
        let exact = Outcome {
            revision: Some(format!("sha1:{SHA}")),
            ..outcome(true, reason::SUCCEEDED)
        };
        assert_eq!(exact.commit(), Some(SHA));
        assert_eq!(exact.reference(), None);
    }

    #[test]
    fn an_applying_revision_should_be_running_and_informational() {
        let running = Outcome {
            ready: false,
            reason: reason::PROGRESSING.into(),
            message: "Applying revision main@sha1:x".into(),
            revision: Some(format!("main@sha1:{}", "a".repeat(40))),
        };
        assert!(running.in_progress());
        assert_eq!(running.state(), CommitState::Running);
        assert_eq!(running.state().gitlab(), "running");
        assert_eq!(running.state().github(), "pending");
        assert_eq!(running.severity(), "info");
        assert_eq!(running.commit(), Some("a".repeat(40).as_str()));
        assert_eq!(
            outcome(true, "ReconciliationSucceeded").state(),
            CommitState::Success
        );
        assert_eq!(outcome(false, "RenderFailed").state(), CommitState::Failed);
    }

    #[test]
    fn outcome_should_come_from_the_ready_condition() {
        let status: crate::api::ApplicationStatus = serde_json::from_value(json!({
            "conditions": [{"type": "Ready", "status": "False", "reason": "RenderFailed",
                            "message": "bad", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "lastAttemptedRevision": "main@sha1:b", "lastAppliedRevision": "main@sha1:a"
        }))
        .unwrap();
        let o = Outcome::from_status(&status).unwrap();
        assert!(!o.ready);
        assert_eq!(o.reason, "RenderFailed");
        assert_eq!(o.revision.as_deref(), Some("main@sha1:b"));
        assert_eq!(Outcome::from_status(&Default::default()), None);
    }

    fn status(state: CommitState, description: &str) -> CommitStatus<'_> {
        CommitStatus {
            state,
            sha: SHA,
            reference: Some("main"),
            context: status_context("paris", "team-a", "web"),
            description,
        }
    }

    #[test]
    fn gitlab_status_should_post_to_the_project_statuses_with_private_token() {
        let r = commit_status_request(
            CommitStatusProvider::Gitlab,
            Some("http://127.0.0.1:9/"),
            "infra/team-a",
            "glpat-x",
            &status(CommitState::Failed, "RenderFailed"),
        )
        .unwrap();
        assert_eq!(
            r.url,
            format!("http://127.0.0.1:9/api/v4/projects/infra%2Fteam-a/statuses/{SHA}")
        );
        assert!(
            r.headers
                .contains(&("PRIVATE-TOKEN".into(), "glpat-x".into()))
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"state": "failed", "name": "pi-agent/paris/team-a/web",
                   "description": "RenderFailed", "ref": "main"})
        );
        let by_id = commit_status_request(
            CommitStatusProvider::Gitlab,
            None,
            "42",
            "t",
            &status(CommitState::Success, ""),
        )
        .unwrap();
        assert!(
            by_id
                .url
                .starts_with("https://gitlab.com/api/v4/projects/42/statuses/")
        );
        assert!(
            commit_status_request(
                CommitStatusProvider::Gitlab,
                None,
                "a/../b?x",
                "t",
                &status(CommitState::Success, "")
            )
            .is_err()
        );
    }

    #[test]
    fn github_status_should_use_bearer_and_truncate_the_description() {
        let long = "é".repeat(200);
        let r = commit_status_request(
            CommitStatusProvider::Github,
            None,
            "octo/infra",
            "ghp_x",
            &status(CommitState::Success, &long),
        )
        .unwrap();
        assert_eq!(
            r.url,
            format!("https://api.github.com/repos/octo/infra/statuses/{SHA}")
        );
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Bearer ghp_x".into()))
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["state"], "success");
        assert_eq!(body["context"], "pi-agent/paris/team-a/web");
        assert_eq!(body["description"].as_str().unwrap().chars().count(), 140);
        assert!(!format!("{r:?}").contains("ghp_x"));
        for bad in ["octo", "octo/infra/x", "/infra", "oc to/infra"] {
            assert!(
                commit_status_request(
                    CommitStatusProvider::Github,
                    None,
                    bad,
                    "t",
                    &status(CommitState::Success, "")
                )
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn states_should_map_to_each_provider() {
        use CommitState::*;
        let gl: Vec<_> = [Pending, Running, Success, Failed]
            .iter()
            .map(|s| s.gitlab())
            .collect();
        assert_eq!(gl, ["pending", "running", "success", "failed"]);
        let gh: Vec<_> = [Pending, Running, Success, Failed]
            .iter()
            .map(|s| s.github())
            .collect();
        assert_eq!(gh, ["pending", "pending", "success", "failure"]);
    }
}
