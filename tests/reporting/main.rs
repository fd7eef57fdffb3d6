//! Reporting and triggers, end to end on a real control plane of its own: push webhooks
//! (GitLab, GitHub, generic) against the real agent, Kubernetes Events, console events and
//! commit statuses received by recording HTTP servers started here, and the outbox across a
//! receiver outage.
//!
//! Two agents: the main one watches the namespace `reporting` (every trial but the outage one
//! has its own Applications there); the outage trial starts its own agent on the namespace
//! `outage` with a 4-report outbox.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::TempDir;
use harness::agent::Agent;
use harness::cluster::ControlPlane;
use harness::git::Repo;
use harness::signing::SshSigner;
use harness::trial::{install_crd, runtime};
use harness::{eventually, http};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use libtest_mimic::{Arguments, Failed, Trial};
use pi_agent::api::Application;
use serde_json::json;

mod receiver;
use receiver::Receiver;

const NS: &str = "reporting";
const WEBHOOK_SECRET: &str = "webhook-secret-0123";
const CONSOLE_KEY: &str = "global-console-key";
const APP_CONSOLE_KEY: &str = "per-app-console-key";
const GITLAB_TOKEN: &str = "glpat-test-token";
const GITHUB_TOKEN: &str = "ghp_test_token";
const REGION: &str = "test-region";

struct Env {
    client: kube::Client,
    agent: Agent,
    console: Receiver,
    cluster: ControlPlane,
    _files: TempDir,
}

static ENV: Mutex<Option<Arc<Env>>> = Mutex::new(None);

fn signer() -> &'static SshSigner {
    static SIGNER: std::sync::OnceLock<(TempDir, SshSigner)> = std::sync::OnceLock::new();
    let (_, s) = SIGNER.get_or_init(|| {
        let dir = TempDir::new("signer");
        let s = SshSigner::generate(dir.path(), "developer", "developer@example.com");
        (dir, s)
    });
    s
}

fn env() -> Arc<Env> {
    let mut slot = ENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = slot.as_ref() {
        return e.clone();
    }
    let e = runtime().block_on(async {
        let cluster = ControlPlane::start();
        let client = cluster.client().await;
        install_crd(&client).await;
        namespace(&client, NS).await;
        let files = TempDir::new("reporting-files");
        let secret = files.path().join("webhook-secret");
        std::fs::write(&secret, format!("{WEBHOOK_SECRET}\n")).expect("secret file");
        let key = files.path().join("console-key");
        std::fs::write(&key, CONSOLE_KEY).expect("key file");
        let console = Receiver::start_new().await;
        let url = console.url("/events");
        let agent = Agent::start(
            &cluster.kubeconfig,
            &[
                ("PI_AGENT_NAMESPACE", std::path::Path::new(NS)),
                ("PI_AGENT_WEBHOOK_SECRET_FILE", &secret),
                ("PI_AGENT_REPORT_URL", std::path::Path::new(&url)),
                ("PI_AGENT_REPORT_HMAC_KEY_FILE", &key),
                ("PI_AGENT_REGION", std::path::Path::new(REGION)),
                ("PI_AGENT_REPORT_MAX_BACKOFF", std::path::Path::new("1s")),
            ],
        )
        .await;
        Arc::new(Env {
            client,
            agent,
            console,
            cluster,
            _files: files,
        })
    });
    *slot = Some(e.clone());
    e
}

/// A namespace with the trusted signers and the report Secrets.
async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns"),
    )
    .await
    .expect("create namespace");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), name);
    for (secret, data) in [
        (
            "git-signers",
            json!({"allowed_signers": signer().allowed_signers_line()}),
        ),
        ("console-hmac", json!({"hmacKey": APP_CONSOLE_KEY})),
        ("gitlab-token", json!({"token": GITLAB_TOKEN})),
        ("github-token", json!({"token": GITHUB_TOKEN})),
    ] {
        let s = json!({"metadata": {"name": secret}, "stringData": data});
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(s).expect("secret"),
            )
            .await
            .expect("create Secret");
    }
}

fn run<F, Fut>(body: F) -> Result<(), Failed>
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let env = env();
    harness::trial::run_body(body(env.clone()), || Some(env.agent.log_text()))
}

fn signed_repo() -> Repo {
    let mut r = Repo::new();
    r.sign_with(Some(signer()));
    r
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

async fn create_app(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    let mut spec = spec;
    spec["verify"] =
        json!({"allowedSigners": {"secretRef": {"name": "git-signers", "key": "allowed_signers"}}});
    let app = json!({"apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec});
    api.create(
        &PostParams::default(),
        &serde_json::from_value(app).expect("app"),
    )
    .await
    .unwrap_or_else(|e| panic!("create Application {ns}/{name}: {e}"));
}

/// A source spec following `main` of `repo` at `path`.
fn source(repo: &Repo, path: &str, interval: &str) -> serde_json::Value {
    json!({"source": {"url": repo.url(), "ref": {"branch": "main"}, "path": path, "interval": interval}})
}

/// Waits until the Application's last applied revision is `commit`.
async fn wait_applied(client: &kube::Client, ns: &str, name: &str, commit: &str) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    let want = format!("main@sha1:{commit}");
    eventually(
        &format!("{ns}/{name} applied at {commit}"),
        Duration::from_secs(60),
        || {
            let api = api.clone();
            let want = want.clone();
            async move {
                let app = api.get(name).await.map_err(|e| e.to_string())?;
                let status = app.status.unwrap_or_default();
                if status.last_applied_revision.as_deref() == Some(want.as_str()) {
                    Ok(())
                } else {
                    Err(format!("{:?}", status.conditions))
                }
            }
        },
    )
    .await;
}

async fn applied_revision(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    api.get(name).await.ok()?.status?.last_applied_revision
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    ring::hmac::sign(&k, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gitlab_push(url: &str, reference: &str) -> String {
    json!({"object_kind": "push", "ref": reference,
           "after": "1111111111111111111111111111111111111111",
           "project": {"git_http_url": url, "git_ssh_url": "git@example.invalid:none.git"}})
    .to_string()
}

fn github_push(url: &str, reference: &str) -> String {
    json!({"ref": reference, "deleted": false,
           "repository": {"clone_url": url, "ssh_url": "git@example.invalid:none.git"}})
    .to_string()
}

async fn post(env: &Env, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    http::request(&env.agent.addr, "POST", path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

async fn metrics(addr: &str) -> String {
    http::request(addr, "GET", "/metrics", &[], "")
        .await
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// A repository with `app/` at commit 1, an Application on it (interval 1h: only a trigger
/// moves it), Ready at commit 1; then commit 2 pushed to the repository.
async fn app_at_first_commit(env: &Env, name: &str) -> (Repo, String, String) {
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", &config_map(name, "1"))], "one");
    create_app(&env.client, NS, name, source(&repo, "app", "1h")).await;
    wait_applied(&env.client, NS, name, &c1).await;
    let c2 = repo.commit(&[("app/cm.yaml", &config_map(name, "2"))], "two");
    (repo, c1, c2)
}

/// Nothing was triggered: still at `c1` after a while.
async fn still_at(env: &Env, name: &str, c1: &str) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        applied_revision(&env.client, NS, name).await,
        Some(format!("main@sha1:{c1}")),
        "{name} must not have been reconciled"
    );
}

fn a_gitlab_push_triggers_a_reconcile() -> Result<(), Failed> {
    run(|env| async move {
        let name = "gitlab-push";
        let (repo, _c1, c2) = app_at_first_commit(&env, name).await;
        let body = gitlab_push(&repo.url(), "refs/heads/main");
        let start = Instant::now();
        let (code, reply) = post(
            &env,
            "/hooks/gitlab",
            &[
                ("X-Gitlab-Token", WEBHOOK_SECRET),
                ("X-Gitlab-Event", "Push Hook"),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
        .await;
        assert_eq!(code, 202, "{reply}");
        assert!(reply.contains(&format!("{NS}/{name}")), "{reply}");
        wait_applied(&env.client, NS, name, &c2).await;
        eprintln!(
            "push -> applied latency (GitLab webhook to status at the new revision): {} ms",
            start.elapsed().as_millis()
        );
        // Events: one Normal ReconciliationSucceeded per revision.
        let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
        let ok = eventually("two success Events", Duration::from_secs(10), || {
            let events = events.clone();
            async move {
                let list = events
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mine: Vec<Event> = list
                    .items
                    .into_iter()
                    .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                    .collect();
                (mine.len() >= 2)
                    .then_some(mine.clone())
                    .ok_or(format!("{} events", mine.len()))
            }
        })
        .await;
        for e in &ok {
            assert_eq!(e.type_.as_deref(), Some("Normal"));
            assert_eq!(e.reason.as_deref(), Some("ReconciliationSucceeded"));
            assert_eq!(e.reporting_controller.as_deref(), Some("pi-agent"));
            assert!(
                e.note
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("Applied revision: main@sha1:")
            );
        }
        assert_eq!(ok.len(), 2, "exactly one Event per revision: {ok:?}");
    })
}

/// (path, headers, body) of a request.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

fn bad_signatures_and_tokens_trigger_nothing() -> Result<(), Failed> {
    run(|env| async move {
        let name = "bad-auth";
        let (repo, c1, c2) = app_at_first_commit(&env, name).await;
        let gh = github_push(&repo.url(), "refs/heads/main");
        let good_sig = format!("sha256={}", hmac_hex(WEBHOOK_SECRET, gh.as_bytes()));
        let bad_sig = format!("sha256={}", hmac_hex("not-the-secret", gh.as_bytes()));
        let gl = gitlab_push(&repo.url(), "refs/heads/main");
        let cases: Vec<Case> = vec![
            (
                "/hooks/github",
                vec![
                    ("X-GitHub-Event", "push"),
                    ("X-Hub-Signature-256", &bad_sig),
                ],
                &gh,
            ),
            ("/hooks/github", vec![("X-GitHub-Event", "push")], &gh),
            // A signature of another body.
            (
                "/hooks/github",
                vec![
                    ("X-GitHub-Event", "push"),
                    ("X-Hub-Signature-256", &good_sig),
                ],
                &gl,
            ),
            (
                "/hooks/gitlab",
                vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "wrong")],
                &gl,
            ),
            ("/hooks/gitlab", vec![("X-Gitlab-Event", "Push Hook")], &gl),
            ("/hooks/generic", vec![("X-Signature", &bad_sig)], &gh),
        ];
        for (path, headers, body) in &cases {
            let (code, reply) = post(&env, path, headers, body).await;
            assert_eq!(code, 401, "{path} {headers:?}: {reply}");
        }
        still_at(&env, name, &c1).await;
        // A GitHub ping is answered without a trigger.
        let ping = "{\"zen\":\"Keep it logically awesome.\"}";
        let ping_sig = format!("sha256={}", hmac_hex(WEBHOOK_SECRET, ping.as_bytes()));
        let (code, _) = post(
            &env,
            "/hooks/github",
            &[
                ("X-GitHub-Event", "ping"),
                ("X-Hub-Signature-256", &ping_sig),
            ],
            ping,
        )
        .await;
        assert_eq!(code, 200);
        // A bad payload, correctly signed.
        let junk = "{\"ref\": 3}";
        let junk_sig = format!("sha256={}", hmac_hex(WEBHOOK_SECRET, junk.as_bytes()));
        let (code, _) = post(
            &env,
            "/hooks/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &junk_sig),
            ],
            junk,
        )
        .await;
        assert_eq!(code, 400);
        still_at(&env, name, &c1).await;
        // The good delivery triggers; its replay does not.
        let headers = [
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", good_sig.as_str()),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ];
        let (code, reply) = post(&env, "/hooks/github", &headers, &gh).await;
        assert_eq!(code, 202, "{reply}");
        let (code, reply) = post(&env, "/hooks/github", &headers, &gh).await;
        assert_eq!(code, 200, "{reply}");
        assert!(reply.contains("already handled"), "{reply}");
        wait_applied(&env.client, NS, name, &c2).await;
        let m = metrics(&env.agent.addr).await;
        assert!(
            m.contains(
                "pi_agent_webhook_requests_total{receiver=\"github\",result=\"unauthorized\"}"
            ),
            "{m}"
        );
        assert!(
            m.contains(
                "pi_agent_webhook_requests_total{receiver=\"gitlab\",result=\"unauthorized\"}"
            ),
            "{m}"
        );
    })
}

fn unknown_repository_triggers_nothing() -> Result<(), Failed> {
    run(|env| async move {
        let name = "unknown-repo";
        let (repo, c1, _c2) = app_at_first_commit(&env, name).await;
        let other = format!("{}-other", repo.url());
        for (body, what) in [
            (gitlab_push(&other, "refs/heads/main"), "another repository"),
            (
                gitlab_push(&repo.url(), "refs/heads/feature"),
                "another branch",
            ),
            (gitlab_push(&repo.url(), "refs/tags/v1"), "a tag"),
        ] {
            let (code, reply) = post(
                &env,
                "/hooks/gitlab",
                &[
                    ("X-Gitlab-Token", WEBHOOK_SECRET),
                    ("X-Gitlab-Event", "Push Hook"),
                ],
                &body,
            )
            .await;
            assert_eq!(code, 200, "{what}: {reply}");
            assert!(reply.contains("\"applications\":[]"), "{what}: {reply}");
        }
        still_at(&env, name, &c1).await;
    })
}

/// Sends raw bytes, returns the status code of the answer (reading only until the headers).
async fn raw_status(addr: &str, request: &[u8]) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer (and close) before reading everything: a failed write is fine.
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) if buf.is_empty() => return Err(e.to_string()),
            Ok(Err(_)) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))
}

fn oversized_payloads_are_refused() -> Result<(), Failed> {
    run(|env| async move {
        // Declared too large: refused before the body is read.
        let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n";
        assert_eq!(raw_status(&env.agent.addr, head.as_bytes()).await, Ok(413));
        // Chunked, no length announced: cut at 1 MiB while reading.
        let mut req = b"POST /hooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Push Hook\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..17 {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(&chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(raw_status(&env.agent.addr, &req).await, Ok(413));
        let m = metrics(&env.agent.addr).await;
        assert!(m.contains("result=\"too_large\"}"), "{m}");
    })
}

fn a_flood_is_rate_limited() -> Result<(), Failed> {
    run(|env| async move {
        let mut codes = Vec::new();
        for _ in 0..60 {
            let (code, _) = post(
                &env,
                "/hooks/generic",
                &[("X-Signature", "sha256=00")],
                "{}",
            )
            .await;
            codes.push(code);
        }
        let limited = codes.iter().filter(|c| **c == 429).count();
        assert_eq!(codes[0], 401, "{codes:?}");
        assert!(
            limited >= 20,
            "expected most of a 60-request burst rate limited: {codes:?}"
        );
        assert!(codes.iter().all(|c| *c == 401 || *c == 429), "{codes:?}");
        // Other receivers (other sources) are not affected.
        let (code, _) = post(
            &env,
            "/hooks/gitlab",
            &[("X-Gitlab-Event", "Push Hook")],
            "{}",
        )
        .await;
        assert_eq!(code, 401);
        let m = metrics(&env.agent.addr).await;
        assert!(
            m.contains(
                "pi_agent_webhook_requests_total{receiver=\"generic\",result=\"rate_limited\"}"
            ),
            "{m}"
        );
    })
}

/// The console events received for one Application.
fn console_events(r: &Receiver, path: &str, name: &str) -> Vec<receiver::Received> {
    r.received()
        .into_iter()
        .filter(|q| q.path == path && q.json()["involvedObject"]["name"] == name)
        .collect()
}

fn console_gets_signed_events_once_per_outcome() -> Result<(), Failed> {
    run(|env| async move {
        let name = "console";
        let repo = signed_repo();
        let c1 = repo.commit(&[("app/cm.yaml", &config_map(name, "1"))], "one");
        let app_console = Receiver::start_new().await;
        let mut spec = source(&repo, "app", "2s");
        spec["report"] = json!({"console": {"url": app_console.url("/app-console"), "secretRef": {"name": "console-hmac"}}});
        create_app(&env.client, NS, name, spec).await;
        wait_applied(&env.client, NS, name, &c1).await;
        let c2 = repo.commit(&[("app/cm.yaml", "kind: [unclosed\n")], "bad yaml");
        let got = eventually(
            "a success then a RenderFailed event",
            Duration::from_secs(30),
            || {
                let got = console_events(&env.console, "/events", name);
                async move {
                    let reasons: Vec<String> = got
                        .iter()
                        .map(|q| q.json()["reason"].as_str().unwrap_or("").to_owned())
                        .collect();
                    (reasons == ["ReconciliationSucceeded", "RenderFailed"])
                        .then_some(got)
                        .ok_or(format!("{reasons:?}"))
                }
            },
        )
        .await;
        for q in &got {
            let sig = q.header("x-signature").expect("X-Signature");
            assert_eq!(sig, format!("sha256={}", hmac_hex(CONSOLE_KEY, &q.body)));
            assert_eq!(q.method, "POST");
            assert_eq!(q.header("content-type"), Some("application/json"));
            let body = String::from_utf8_lossy(&q.body);
            for secret in [CONSOLE_KEY, APP_CONSOLE_KEY, WEBHOOK_SECRET, GITLAB_TOKEN] {
                assert!(!body.contains(secret), "a secret in the payload: {body}");
            }
        }
        let (ok, failed) = (got[0].json(), got[1].json());
        assert_eq!(ok["severity"], "info");
        assert_eq!(ok["metadata"]["revision"], format!("main@sha1:{c1}"));
        assert_eq!(ok["metadata"]["region"], REGION);
        assert_eq!(ok["reportingController"], "pi-agent");
        assert_eq!(ok["involvedObject"]["kind"], "Application");
        assert_eq!(ok["involvedObject"]["namespace"], NS);
        assert_eq!(
            ok["involvedObject"]["apiVersion"],
            "gitops.pi-agent.io/v1alpha1"
        );
        assert!(
            ok["involvedObject"]["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty())
        );
        assert_eq!(failed["severity"], "error");
        assert_eq!(failed["metadata"]["revision"], format!("main@sha1:{c2}"));
        // The per-Application console gets the same events, signed with its own key.
        let app_events = eventually(
            "per-Application console events",
            Duration::from_secs(10),
            || {
                let got = console_events(&app_console, "/app-console", name);
                async move {
                    (got.len() == 2)
                        .then_some(got.clone())
                        .ok_or(format!("{}", got.len()))
                }
            },
        )
        .await;
        for q in &app_events {
            assert_eq!(
                q.header("x-signature").unwrap_or_default(),
                format!("sha256={}", hmac_hex(APP_CONSOLE_KEY, &q.body))
            );
        }
        // Interval re-syncs and retries of the same failure report nothing new.
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(console_events(&env.console, "/events", name).len(), 2);
        let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
        let warnings: Vec<Event> = events
            .list(&Default::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].reason.as_deref(), Some("RenderFailed"));
    })
}

fn commit_statuses_reach_gitlab_and_github() -> Result<(), Failed> {
    run(|env| async move {
        let gitlab = Receiver::start_new().await;
        let github = Receiver::start_new().await;
        let repo = signed_repo();
        let c1 = repo.commit(
            &[
                ("gl/cm.yaml", &config_map("status-gl", "1")),
                ("gh/cm.yaml", &config_map("status-gh", "1")),
            ],
            "one",
        );
        let mut gl = source(&repo, "gl", "1h");
        gl["report"] = json!({"commitStatus": {"provider": "gitlab", "url": gitlab.url(""), "project": "infra/team-a", "secretRef": {"name": "gitlab-token"}}});
        let mut gh = source(&repo, "gh", "1h");
        gh["report"] = json!({"commitStatus": {"provider": "github", "url": github.url("/api/v3"), "project": "octo/infra", "secretRef": {"name": "github-token"}}});
        create_app(&env.client, NS, "status-gl", gl).await;
        create_app(&env.client, NS, "status-gh", gh).await;
        wait_applied(&env.client, NS, "status-gl", &c1).await;
        wait_applied(&env.client, NS, "status-gh", &c1).await;
        // A broken commit, triggered at once through the GitHub receiver (the generic one is
        // flooded by another trial).
        let c2 = repo.commit(
            &[
                ("gl/cm.yaml", "kind: [unclosed\n"),
                ("gh/cm.yaml", "kind: [unclosed\n"),
            ],
            "bad",
        );
        let body = github_push(&repo.url(), "refs/heads/main");
        let sig = format!("sha256={}", hmac_hex(WEBHOOK_SECRET, body.as_bytes()));
        let (code, reply) = post(
            &env,
            "/hooks/github",
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            &body,
        )
        .await;
        assert_eq!(code, 202, "{reply}");
        assert!(
            reply.contains("status-gl") && reply.contains("status-gh"),
            "{reply}"
        );

        // Commit 1: running while it is applied, then success; commit 2 (refused before apply):
        // failed.
        let gl_got = eventually("three GitLab statuses", Duration::from_secs(30), || {
            let got = gitlab.received();
            async move {
                (got.len() >= 3)
                    .then_some(got.clone())
                    .ok_or(format!("{got:?}"))
            }
        })
        .await;
        assert_eq!(gl_got.len(), 3, "{gl_got:?}");
        for (q, commit, state) in [
            (&gl_got[0], &c1, "running"),
            (&gl_got[1], &c1, "success"),
            (&gl_got[2], &c2, "failed"),
        ] {
            assert_eq!(q.method, "POST");
            assert_eq!(
                q.path,
                format!("/api/v4/projects/infra%2Fteam-a/statuses/{commit}")
            );
            assert_eq!(q.header("private-token"), Some(GITLAB_TOKEN));
            let b = q.json();
            assert_eq!(b["state"], state, "{b}");
            assert_eq!(b["name"], format!("pi-agent/{REGION}/{NS}/status-gl"));
            assert_eq!(b["ref"], "main");
            assert!(b["description"].as_str().is_some_and(|d| !d.is_empty()));
        }
        let gh_got = eventually("three GitHub statuses", Duration::from_secs(30), || {
            let got = github.received();
            async move {
                (got.len() >= 3)
                    .then_some(got.clone())
                    .ok_or(format!("{got:?}"))
            }
        })
        .await;
        assert_eq!(gh_got.len(), 3, "{gh_got:?}");
        for (q, commit, state) in [
            (&gh_got[0], &c1, "pending"),
            (&gh_got[1], &c1, "success"),
            (&gh_got[2], &c2, "failure"),
        ] {
            assert_eq!(q.method, "POST");
            assert_eq!(
                q.path,
                format!("/api/v3/repos/octo/infra/statuses/{commit}")
            );
            assert_eq!(
                q.header("authorization"),
                Some(format!("Bearer {GITHUB_TOKEN}").as_str())
            );
            assert_eq!(q.header("accept"), Some("application/vnd.github+json"));
            let b = q.json();
            assert_eq!(b["state"], state, "{b}");
            assert_eq!(b["context"], format!("pi-agent/{REGION}/{NS}/status-gh"));
            assert!(
                b["description"]
                    .as_str()
                    .is_some_and(|d| d.chars().count() <= 140)
            );
        }
    })
}

fn reports_survive_a_receiver_outage_up_to_the_outbox_bound() -> Result<(), Failed> {
    run(|env| async move {
        let ns = "outage";
        namespace(&env.client, ns).await;
        let console = Receiver::new(); // down
        let url = console.url("/events");
        let agent = Agent::start(
            &env.cluster.kubeconfig,
            &[
                ("PI_AGENT_NAMESPACE", std::path::Path::new(ns)),
                ("PI_AGENT_REPORT_URL", std::path::Path::new(&url)),
                ("PI_AGENT_REPORT_OUTBOX_SIZE", std::path::Path::new("4")),
                ("PI_AGENT_REPORT_MAX_BACKOFF", std::path::Path::new("1s")),
            ],
        )
        .await;
        let repo = signed_repo();
        let names: Vec<String> = (1..=9).map(|i| format!("app{i}")).collect();
        let files: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                (
                    format!("{n}/cm.yaml"),
                    config_map(&format!("outage-{n}"), "1"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let c1 = repo.commit(&refs, "nine apps");
        let received_names = |r: &Receiver| -> Vec<String> {
            let mut v: Vec<String> = r
                .received()
                .iter()
                .map(|q| {
                    q.json()["involvedObject"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                })
                .collect();
            v.sort();
            v
        };
        // Phase 1: three outcomes while the console is down, all delivered once it is back.
        for n in &names[..3] {
            create_app(&env.client, ns, n, source(&repo, n, "1h")).await;
        }
        for n in &names[..3] {
            wait_applied(&env.client, ns, n, &c1).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(console.received().is_empty());
        let m = metrics(&agent.addr).await;
        assert!(m.contains("pi_agent_outbox_depth 3"), "{m}");
        let down_at = Instant::now();
        console.start().await;
        eventually(
            "three events after the outage",
            Duration::from_secs(15),
            || {
                let got = received_names(&console);
                async move {
                    (got == ["app1", "app2", "app3"])
                        .then_some(())
                        .ok_or(format!("{got:?}"))
                }
            },
        )
        .await;
        eprintln!(
            "outbox drained {} ms after the receiver came back",
            down_at.elapsed().as_millis()
        );
        // Phase 2: six outcomes during a second outage, over the bound of 4: the 2 oldest are
        // dropped, counted and logged; the 4 newest are delivered after it.
        console.stop();
        for n in &names[3..] {
            create_app(&env.client, ns, n, source(&repo, n, "1h")).await;
            wait_applied(&env.client, ns, n, &c1).await;
        }
        eventually("outbox full", Duration::from_secs(30), || {
            let addr = agent.addr.clone();
            async move {
                let m = metrics(&addr).await;
                (m.contains("pi_agent_outbox_dropped_total 2")
                    && m.contains("pi_agent_outbox_depth 4"))
                .then_some(())
                .ok_or(m)
            }
        })
        .await;
        assert!(
            agent.log_text().contains("report outbox full"),
            "{}",
            agent.log_text()
        );
        console.start().await;
        eventually("the four newest events", Duration::from_secs(15), || {
            let got = received_names(&console);
            async move {
                (got == ["app1", "app2", "app3", "app6", "app7", "app8", "app9"])
                    .then_some(())
                    .ok_or(format!("{got:?}"))
            }
        })
        .await;
        let m = metrics(&agent.addr).await;
        assert!(m.contains("pi_agent_outbox_depth 0"), "{m}");
        assert!(
            m.contains("pi_agent_reports_total{kind=\"console\",result=\"delivered\"} 7"),
            "{m}"
        );
    })
}

fn status_lists_applications_and_watches_changes() -> Result<(), Failed> {
    run(|env| async move {
        let name = "status-cli";
        let (_repo, c1, _c2) = app_at_first_commit(&env, name).await;
        let kubeconfig = env.cluster.kubeconfig.display().to_string();
        let status = |args: &[&str]| {
            let out = std::process::Command::new(harness::agent::binary())
                .arg("status")
                .args(["--kubeconfig", &kubeconfig])
                .args(args)
                .output()
                .expect("pi-agent status");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let table = status(&["-n", NS]);
        let header = table.lines().next().unwrap_or_default();
        assert!(
            header
                .split_whitespace()
                .eq(["NAME", "READY", "REVISION", "AGE", "MESSAGE"]),
            "{table}"
        );
        let line = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{table}"));
        let cells: Vec<&str> = line.split_whitespace().collect();
        let short = format!("main@sha1:{}", &c1[..7]);
        assert_eq!(cells[1..3], ["True", short.as_str()], "{table}");
        assert!(line.contains("Applied revision: main@sha1:"), "{table}");
        let all = status(&["-A"]);
        assert!(all.starts_with("NAMESPACE"), "{all}");
        assert!(
            all.lines().any(|l| l.starts_with(NS) && l.contains(name)),
            "{all}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&status(&["-n", NS, "-o", "json"])).expect("json output");
        let me = json
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_default();
        assert_eq!(me["revision"], format!("main@sha1:{c1}"));
        assert_eq!(me["ready"], "True");
        // --watch prints again when an Application changes (here: suspended).
        let out_file = TempDir::new("status-watch");
        let out_path = out_file.path().join("out");
        let mut child = std::process::Command::new(harness::agent::binary())
            .arg("status")
            .args(["--kubeconfig", &kubeconfig, "-n", NS, "--watch"])
            .stdout(std::fs::File::create(&out_path).expect("out"))
            .spawn()
            .expect("pi-agent status --watch");
        let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
        eventually("a first table", Duration::from_secs(15), || {
            let t = read();
            async move { t.contains(name).then_some(()).ok_or(t) }
        })
        .await;
        let api: Api<Application> = Api::namespaced(env.client.clone(), NS);
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sync": {"suspend": true}}})),
        )
        .await
        .expect("suspend");
        let watched = eventually("a second table", Duration::from_secs(15), || {
            let t = read();
            async move { t.contains("(suspended)").then_some(t.clone()).ok_or(t) }
        })
        .await;
        let _ = child.kill();
        let _ = child.wait();
        assert!(watched.matches("NAME").count() >= 2, "{watched}");
    })
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "a_gitlab_push_triggers_a_reconcile",
            a_gitlab_push_triggers_a_reconcile,
        ),
        Trial::test(
            "bad_signatures_and_tokens_trigger_nothing",
            bad_signatures_and_tokens_trigger_nothing,
        ),
        Trial::test(
            "unknown_repository_triggers_nothing",
            unknown_repository_triggers_nothing,
        ),
        Trial::test(
            "oversized_payloads_are_refused",
            oversized_payloads_are_refused,
        ),
        Trial::test("a_flood_is_rate_limited", a_flood_is_rate_limited),
        Trial::test(
            "console_gets_signed_events_once_per_outcome",
            console_gets_signed_events_once_per_outcome,
        ),
        Trial::test(
            "commit_statuses_reach_gitlab_and_github",
            commit_statuses_reach_gitlab_and_github,
        ),
        Trial::test(
            "status_lists_applications_and_watches_changes",
            status_lists_applications_and_watches_changes,
        ),
        Trial::test(
            "reports_survive_a_receiver_outage_up_to_the_outbox_bound",
            reports_survive_a_receiver_outage_up_to_the_outbox_bound,
        ),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // Stop the agent and the control plane (by PID) before exiting.
    ENV.lock().unwrap_or_else(|p| p.into_inner()).take();
    conclusion.exit();
}
