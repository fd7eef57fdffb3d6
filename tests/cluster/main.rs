//! End-to-end tests of the walking skeleton on a real control plane: a commit in a git repository
//! becomes objects in the cluster, with status reported.
//!
//! One control plane and one agent per test binary; each test has its own namespace.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::TempDir;
use harness::agent::Agent;
use harness::cluster::ControlPlane;
use harness::git::Repo;
use harness::git_http::GitHttpServer;
use harness::registry::Registry;
use harness::signing::SshSigner;
use harness::ssh_server::SshServer;
use harness::tls::Pki;
use harness::trial::{install_crd, runtime};
use harness::{eventually, http};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use libtest_mimic::{Arguments, Failed, Trial};
use pi_agent::api::Application;
use serde_json::json;

mod flux_extras;
mod images;
mod kustomize;
mod ordering;
mod sync;
mod tenancy;
mod verify;
use flux_extras::*;
use images::*;
use kustomize::*;
use ordering::*;
use sync::*;
use tenancy::*;
use verify::*;

struct Env {
    client: kube::Client,
    agent: Agent,
    git_https: GitHttpServer,
    git_https_auth: GitHttpServer,
    /// HTTPS with a CA the agent does not trust by itself (`ca.crt` of the source's Secret).
    git_private_ca: GitHttpServer,
    private_ca: String,
    _private_pki: TempDir,
    sshd: SshServer,
    registry: Registry,
    /// The agent's `--sops-age-key-file` (absent until a test writes it).
    region_key_file: std::path::PathBuf,
    _region_keys: TempDir,
    _git_root: TempDir,
    // Dropped last: stops the control plane.
    _cluster: ControlPlane,
}

static ENV: Mutex<Option<Arc<Env>>> = Mutex::new(None);

/// The shared environment, started by the first test that needs it.
fn env() -> Arc<Env> {
    let mut slot = ENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = slot.as_ref() {
        return e.clone();
    }
    let e = runtime().block_on(async {
        let cluster = ControlPlane::start();
        let client = cluster.client().await;
        install_crd(&client).await;
        // An HTTPS git server whose CA the agent trusts through SSL_CERT_FILE.
        let git_root = TempDir::new("git-root");
        let pki = Pki::new(git_root.path());
        let git_https = GitHttpServer::start_tls(git_root.path(), &pki);
        let git_https_auth =
            GitHttpServer::start_tls_with_auth(git_root.path(), &pki, "pi:s3cret-password");
        // One whose CA only the Applications that carry it trust.
        let private_pki = TempDir::new("private-pki");
        let private = Pki::new(private_pki.path());
        let git_private_ca =
            GitHttpServer::start_tls_with_auth(git_root.path(), &private, "pi:s3cret-password");
        let private_ca = std::fs::read_to_string(&private.ca).expect("private CA");
        // A plain-HTTP registry on loopback, which the agent is told to reach without TLS.
        let registry = Registry::start();
        // The region's SOPS key file, as a mounted Secret: its directory exists, the file is
        // written by the test that uses it.
        let region_keys = TempDir::new("region-keys");
        let region_key_file = region_keys.path().join("age.agekey");
        let agent = Agent::start(
            &cluster.kubeconfig,
            &[
                ("SSL_CERT_FILE", &pki.ca),
                (
                    "PI_AGENT_PLAIN_HTTP_REGISTRIES",
                    std::path::Path::new(&registry.host),
                ),
                ("PI_AGENT_SOPS_AGE_KEY_FILE", &region_key_file),
            ],
        )
        .await;
        Arc::new(Env {
            client,
            agent,
            git_https,
            git_https_auth,
            git_private_ca,
            private_ca,
            _private_pki: private_pki,
            sshd: SshServer::start(true),
            registry,
            region_key_file,
            _region_keys: region_keys,
            _git_root: git_root,
            _cluster: cluster,
        })
    });
    *slot = Some(e.clone());
    e
}

/// Runs an async test body on the shared runtime, with the agent's log on failure.
fn run<F, Fut>(body: F) -> Result<(), Failed>
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let env = env();
    harness::trial::run_body(body(env.clone()), || Some(env.agent.log_text()))
}

/// The developer key every test repository signs its commits with.
fn signer() -> &'static SshSigner {
    static SIGNER: std::sync::OnceLock<(TempDir, SshSigner)> = std::sync::OnceLock::new();
    let (_, s) = SIGNER.get_or_init(|| {
        let dir = TempDir::new("signer");
        let s = SshSigner::generate(dir.path(), "developer", "developer@example.com");
        (dir, s)
    });
    s
}

/// A repository whose commits are signed by [`signer`].
fn signed_repo() -> Repo {
    let mut repo = Repo::new();
    repo.sign_with(Some(signer()));
    repo
}

/// `spec.verify` trusting [`signer`] through the `git-signers` Secret of the test namespace.
fn verify_spec() -> serde_json::Value {
    json!({"allowedSigners": {"secretRef": {"name": "git-signers", "key": "allowed_signers"}}})
}

/// Creates a namespace with the `git-signers` Secret (the trusted `allowed_signers`).
async fn namespace(client: &kube::Client, name: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), name);
    let secret = json!({"metadata": {"name": "git-signers"}, "stringData": {"allowed_signers": signer().allowed_signers_line()}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(secret).expect("secret"),
        )
        .await
        .expect("create Secret");
    name.to_owned()
}

async fn create_app(client: &kube::Client, ns: &str, name: &str, url: &str, interval: &str) {
    create_app_spec(client, ns, name, json!({"verify": verify_spec(), "source": {"url": url, "ref": {"branch": "main"}, "path": "app", "interval": interval}})).await;
}

/// Creates an Application with a given spec.
async fn create_app_spec(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec
    }))
    .unwrap_or_else(|e| panic!("Application {ns}/{name}: {e}"));
    api.create(&PostParams::default(), &app)
        .await
        .unwrap_or_else(|e| panic!("create Application {ns}/{name}: {e}"));
}

/// Waits until the Application's Ready condition has `status` and `pred` holds; returns it.
async fn wait_app(
    client: &kube::Client,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Application) -> bool,
) -> Application {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    eventually(what, Duration::from_secs(30), || {
        let api = api.clone();
        let pred = &pred;
        async move {
            let app = api.get(name).await.map_err(|e| e.to_string())?;
            if pred(&app) {
                Ok(app)
            } else {
                Err(format!("{:?}", app.status))
            }
        }
    })
    .await
}

/// Waits until the Application's last applied revision is `commit`; returns it.
async fn wait_applied(
    client: &kube::Client,
    ns: &str,
    name: &str,
    what: &str,
    commit: &str,
) -> Application {
    wait_app(client, ns, name, what, |a| applied(a).ends_with(commit)).await
}

/// Waits until the Application reports `Ready=False`; returns its reason and message.
async fn wait_refused(client: &kube::Client, ns: &str, name: &str, what: &str) -> (String, String) {
    let app = wait_app(client, ns, name, what, |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    (reason, message)
}

/// An Application of `app/` in `url` with the credentials of Secret `secret`.
fn app_with_secret(ns: &str, name: &str, url: &str, secret: &str) -> Application {
    serde_json::from_value(json!({
        "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"verify": verify_spec(), "source": {
            "url": url, "path": "app", "interval": "1h", "secretRef": {"name": secret}}}
    }))
    .expect("app")
}

/// Waits until the Application is gone (its finalizer done).
async fn wait_gone(client: &kube::Client, ns: &str, name: &str) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("Application {ns}/{name} gone"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await.map_err(|e| e.to_string())? {
                    None => Ok(()),
                    Some(_) => Err("still there".into()),
                }
            }
        },
    )
    .await;
}

fn ready(app: &Application) -> Option<(String, String, String)> {
    let c = app
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn applied(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.last_applied_revision.clone())
        .unwrap_or_default()
}

const CM_V1: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";
const CM_V2: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: green\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1.0\n";

async fn color(client: &kube::Client, ns: &str) -> String {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    cms.get("settings")
        .await
        .ok()
        .and_then(|c| c.data)
        .and_then(|d| d.get("color").cloned())
        .unwrap_or_default()
}

async fn kwok_deployment_becomes_available(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-kwok").await;
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let mut fs = ::kustomize::MemFs::new();
    fs.add("d/deploy.yaml", DEPLOY);
    let objects = pi_agent::render::render(&fs, "d").expect("render");
    let d: Deployment = serde_json::from_value(objects[0].value.clone()).expect("deployment");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    eventually(
        "Deployment Available with kwok pods Ready",
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let d = api.get("web").await.map_err(|e| e.to_string())?;
                let available = d
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                if available == 2 {
                    Ok(())
                } else {
                    Err(format!("{:?}", d.status))
                }
            }
        },
    )
    .await;
}

async fn commits_are_applied_then_updated(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-commits").await;
    let repo = signed_repo();
    let c1 = repo.commit(
        &[
            ("app/cm.yaml", CM_V1),
            ("app/deploy.yaml", DEPLOY),
            ("README.md", "not a manifest"),
        ],
        "v1",
    );
    create_app(&env.client, &ns, "web", &repo.url(), "1s").await;
    let app = wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    assert_eq!(applied(&app), format!("main@sha1:{c1}"));
    let (status, reason, message) = ready(&app).expect("Ready condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ReconciliationSucceeded")
    );
    assert_eq!(message, format!("Applied revision: main@sha1:{c1}"));
    let st = app.status.clone().expect("status");
    assert_eq!(st.observed_generation, app.metadata.generation);
    let ids: Vec<&str> = st.inventory.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("{ns}_settings__ConfigMap"),
            format!("{ns}_web_apps_Deployment")
        ]
    );
    assert_eq!(color(&env.client, &ns).await, "blue");

    // Every applied field is owned by the field manager `pi-agent`, through server-side apply.
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let cm = cms.get("settings").await.expect("configmap");
    let managers: Vec<(String, String)> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(managers, [("pi-agent".to_owned(), "Apply".to_owned())]);

    // A new commit is picked up at the interval, without a restart.
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    wait_applied(&env.client, &ns, "web", "commit 2 applied", &c2).await;
    assert_eq!(color(&env.client, &ns).await, "green");
}

async fn bad_yaml_is_refused_with_the_file_and_nothing_is_applied(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-bad-yaml").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    create_app(&env.client, &ns, "web", &repo.url(), "1s").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;

    // Commit 2 changes the ConfigMap *and* breaks another file: nothing of commit 2 is applied.
    let c2 = repo.commit(
        &[
            ("app/cm.yaml", CM_V2),
            ("app/zz-broken.yaml", "apiVersion: v1\nkind: [unclosed\n"),
        ],
        "broken",
    );
    let app = wait_app(&env.client, &ns, "web", "commit 2 refused", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
            && a.status
                .as_ref()
                .and_then(|s| s.last_attempted_revision.as_deref())
                .is_some_and(|r| r.ends_with(&c2))
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "RenderFailed");
    assert!(
        message.contains("app/zz-broken.yaml: line 3: malformed YAML"),
        "{message}"
    );
    assert!(
        app.status
            .as_ref()
            .expect("status")
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
    assert_eq!(
        applied(&app),
        format!("main@sha1:{c1}"),
        "last applied revision must stay on commit 1"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "blue",
        "the cluster must be unchanged"
    );

    // Fixing the file recovers.
    let c3 = repo.commit(&[("app/zz-broken.yaml", "")], "fix");
    wait_applied(&env.client, &ns, "web", "commit 3 applied", &c3).await;
    assert_eq!(color(&env.client, &ns).await, "green");
}

async fn invalid_objects_are_refused_by_dry_run_before_any_write(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-dry-run").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    create_app(&env.client, &ns, "web", &repo.url(), "1s").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    // A Deployment with a negative replica count is refused by the API server's validation.
    let bad = DEPLOY.replace("replicas: 2", "replicas: -1");
    let c2 = repo.commit(
        &[("app/cm.yaml", CM_V2), ("app/deploy.yaml", &bad)],
        "invalid",
    );
    let app = wait_app(&env.client, &ns, "web", "commit 2 refused", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(&c2))
            && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "ApplyFailed");
    assert!(
        message.contains(&format!("Deployment {ns}/web")) && message.contains("app/deploy.yaml"),
        "{message}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "blue",
        "nothing of commit 2 may be applied"
    );
}

async fn forced_sync_triggers_a_reconcile_and_a_wrong_token_does_not(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-forced").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    // A long interval: only a forced sync can pick up commit 2 within the test.
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    let path = format!("/api/v1/namespaces/{ns}/applications/web/sync");

    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token")],
        vec![("Authorization", "Basic dGVzdA==")],
    ] {
        let (code, body) = http::request(&env.agent.addr, "POST", &path, &headers, "")
            .await
            .expect("request");
        assert_eq!(code, 401, "{body}");
    }
    let bearer = format!("Bearer {}", env.agent.token);
    let (code, _) = http::request(
        &env.agent.addr,
        "POST",
        &format!("/api/v1/namespaces/{ns}/applications/nope/sync"),
        &[("Authorization", &bearer)],
        "",
    )
    .await
    .expect("request");
    assert_eq!(code, 404);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    assert!(
        applied(&api.get("web").await.expect("get")).ends_with(&c1),
        "refused requests must not trigger a reconcile"
    );

    let start = Instant::now();
    let (code, body) = http::request(
        &env.agent.addr,
        "POST",
        &path,
        &[("Authorization", &bearer)],
        "",
    )
    .await
    .expect("request");
    assert_eq!(code, 202, "{body}");
    wait_app(
        &env.client,
        &ns,
        "web",
        "commit 2 applied after forced sync",
        |a| applied(a).ends_with(&c2),
    )
    .await;
    println!(
        "forced sync: request to applied revision in {:?}",
        start.elapsed()
    );
    assert_eq!(color(&env.client, &ns).await, "green");

    let (code, metrics) = http::request(&env.agent.addr, "GET", "/metrics", &[], "")
        .await
        .expect("metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("pi_agent_api_requests_total{endpoint=\"sync\",code=\"401\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "pi_agent_reconcile_total{{namespace=\"{ns}\",name=\"web\",result=\"success\"}}"
        )),
        "{metrics}"
    );
}

async fn requested_at_annotation_triggers_and_is_echoed(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-annotation").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    let patch = json!({"metadata": {"annotations": {"reconcile.pi-agent.io/requestedAt": "2026-11-29T10:00:00Z"}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    let app = wait_app(&env.client, &ns, "web", "annotation handled", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some("2026-11-29T10:00:00Z")
    })
    .await;
    assert!(applied(&app).ends_with(&c2), "{:?}", app.status);
}

async fn unknown_branch_is_stalled_with_the_reference(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-no-branch").await;
    let repo = signed_repo();
    repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    create_app_spec(&env.client, &ns, "web", json!({"verify": verify_spec(), "source": {"url": repo.url(), "ref": {"branch": "release"}, "path": "app"}})).await;
    let app = wait_app(&env.client, &ns, "web", "failure reported", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "SourceFailed");
    assert!(message.contains("branch `release` not found"), "{message}");
}

async fn https_source_is_fetched_and_updated_incrementally(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-https").await;
    let mut repo = Repo::in_dir(TempDir::under(&env.git_https.root, "team-a"));
    repo.sign_with(Some(signer()));
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let url = format!("{}/{}/.git", env.git_https.base_url, repo.name());
    create_app(&env.client, &ns, "web", &url, "1h").await;
    wait_app(
        &env.client,
        &ns,
        "web",
        "commit 1 applied over https",
        |a| applied(a).ends_with(&c1),
    )
    .await;
    assert_eq!(color(&env.client, &ns).await, "blue");
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    let bearer = format!("Bearer {}", env.agent.token);
    let path = format!("/api/v1/namespaces/{ns}/applications/web/sync");
    let (code, _) = http::request(
        &env.agent.addr,
        "POST",
        &path,
        &[("Authorization", &bearer)],
        "",
    )
    .await
    .expect("sync");
    assert_eq!(code, 202);
    wait_app(
        &env.client,
        &ns,
        "web",
        "commit 2 applied over https",
        |a| applied(a).ends_with(&c2),
    )
    .await;
    assert_eq!(color(&env.client, &ns).await, "green");
}

/// Asks for a sync through the HTTP API and checks it was accepted.
async fn sync_now(env: &Env, ns: &str, name: &str) {
    let (code, body) = env.agent.request_sync(ns, name).await;
    assert_eq!(code, 202, "{body}");
}

async fn https_credentials_come_from_the_source_secret(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-https-auth").await;
    let mut repo = Repo::in_dir(TempDir::under(&env.git_https_auth.root, "private"));
    repo.sign_with(Some(signer()));
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let url = format!("{}/{}/.git", env.git_https_auth.base_url, repo.name());
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    let app = |secret: Option<&str>| -> Application {
        let mut source = json!({"url": url, "path": "app", "interval": "1h"});
        if let Some(s) = secret {
            source["secretRef"] = json!({"name": s});
        }
        serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"verify": verify_spec(), "source": source}
        }))
        .expect("app")
    };
    // Without credentials the server refuses the fetch.
    api.create(&PostParams::default(), &app(None))
        .await
        .expect("create");
    let refused = wait_app(&env.client, &ns, "web", "fetch refused", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&refused).expect("Ready");
    assert_eq!(reason, "SourceFailed", "{message}");
    assert!(!message.contains("s3cret"));

    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = json!({"metadata": {"name": "repo-creds"}, "stringData": {"username": "pi", "password": "s3cret-password"}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(secret).expect("secret"),
        )
        .await
        .expect("secret");
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"secretRef": {"name": "repo-creds"}}}})),
    )
    .await
    .expect("patch");
    wait_applied(&env.client, &ns, "web", "fetched with credentials", &c1).await;
    assert_eq!(color(&env.client, &ns).await, "blue");
    assert!(
        !env.agent.log_text().contains("s3cret"),
        "a credential must never be logged"
    );
}

async fn an_ssh_source_is_fetched_with_the_deploy_key_of_its_secret(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-ssh").await;
    let mut repo = Repo::new();
    repo.sign_with(Some(signer()));
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = |name: &str, known_hosts: &str| {
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {
            "identity": env.sshd.client_key(), "known_hosts": known_hosts}}))
        .expect("secret")
    };
    let pp = PostParams::default();
    secrets
        .create(&pp, &secret("ssh-creds", &env.sshd.known_hosts()))
        .await
        .expect("secret");
    secrets
        .create(&pp, &secret("no-hosts", "# nothing trusted\n"))
        .await
        .expect("secret");
    let url = env.sshd.url(repo.path());
    let app = |name: &str, secret: &str| app_with_secret(&ns, name, &url, secret);
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    // A Secret without host keys: refused before connecting, naming the Secret and the key.
    api.create(&pp, &app("tofu", "no-hosts"))
        .await
        .expect("create");
    let (_, message) = wait_refused(&env.client, &ns, "tofu", "refused").await;
    assert!(
        message.contains("`no-hosts` key `known_hosts`") && message.contains("first use"),
        "{message}"
    );
    api.create(&pp, &app("web", "ssh-creds"))
        .await
        .expect("create");
    wait_applied(&env.client, &ns, "web", "fetched over ssh", &c1).await;
    assert_eq!(color(&env.client, &ns).await, "blue");
    assert!(
        !env.agent.log_text().contains("PRIVATE KEY"),
        "a key must never be logged"
    );
}

async fn a_source_behind_a_private_ca_is_trusted_through_its_secret(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-private-ca").await;
    let mut repo = Repo::in_dir(TempDir::under(&env.git_private_ca.root, "private-ca"));
    repo.sign_with(Some(signer()));
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let url = format!("{}/{}/.git", env.git_private_ca.base_url, repo.name());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let pp = PostParams::default();
    let secret = |name: &str, ca: Option<&str>| {
        let mut data = json!({"username": "pi", "password": "s3cret-password"});
        if let Some(ca) = ca {
            data["ca.crt"] = json!(ca);
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
            .expect("secret")
    };
    secrets
        .create(&pp, &secret("without-ca", None))
        .await
        .expect("secret");
    secrets
        .create(&pp, &secret("with-ca", Some(&env.private_ca)))
        .await
        .expect("secret");
    let app = |name: &str, secret: &str| app_with_secret(&ns, name, &url, secret);
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    // The agent's own trust store does not know this CA: the fetch fails on the certificate.
    api.create(&pp, &app("untrusted", "without-ca"))
        .await
        .expect("create");
    let (reason, message) = wait_refused(&env.client, &ns, "untrusted", "TLS refused").await;
    assert_eq!(reason, "SourceFailed", "{message}");
    // With the CA in the source's Secret: fetched (with the credentials) and applied.
    api.create(&pp, &app("web", "with-ca"))
        .await
        .expect("create");
    wait_applied(
        &env.client,
        &ns,
        "web",
        "fetched through the private CA",
        &c1,
    )
    .await;
    assert_eq!(color(&env.client, &ns).await, "blue");
    // A second commit: an incremental fetch through the same backend.
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    sync_now(&env, &ns, "web").await;
    wait_applied(&env.client, &ns, "web", "second commit", &c2).await;
    assert_eq!(color(&env.client, &ns).await, "green");
}

fn main() {
    let args = Arguments::from_args();
    macro_rules! trial {
        ($f:ident) => {
            Trial::test(stringify!($f), || run($f))
        };
    }
    let trials = vec![
        trial!(kwok_deployment_becomes_available),
        trial!(commits_are_applied_then_updated),
        trial!(bad_yaml_is_refused_with_the_file_and_nothing_is_applied),
        trial!(invalid_objects_are_refused_by_dry_run_before_any_write),
        trial!(forced_sync_triggers_a_reconcile_and_a_wrong_token_does_not),
        trial!(requested_at_annotation_triggers_and_is_echoed),
        trial!(unknown_branch_is_stalled_with_the_reference),
        trial!(https_source_is_fetched_and_updated_incrementally),
        trial!(https_credentials_come_from_the_source_secret),
        trial!(an_ssh_source_is_fetched_with_the_deploy_key_of_its_secret),
        trial!(a_source_behind_a_private_ca_is_trusted_through_its_secret),
        trial!(an_unsigned_image_never_reaches_the_cluster_and_a_signed_one_is_pinned),
        trial!(objects_that_left_git_are_pruned_and_only_them),
        trial!(an_empty_revision_is_refused_unless_allowed),
        trial!(deleting_the_application_prunes_or_orphans),
        trial!(a_change_by_another_manager_is_reverted),
        trial!(self_heal_off_leaves_a_hand_edit_until_the_next_sync),
        trial!(an_unready_workload_reports_health_check_failed),
        trial!(a_later_wave_waits_for_the_earlier_one_to_be_healthy),
        trial!(an_application_waits_for_its_dependencies),
        trial!(fields_set_by_kubectl_are_taken_over_and_removed_with_git),
        trial!(diff_shows_what_a_sync_would_change),
        trial!(a_crd_and_its_custom_resources_apply_in_one_commit),
        trial!(an_overlay_is_rendered_from_the_git_tree),
        trial!(a_path_outside_the_repository_is_refused),
        trial!(a_signed_commit_is_verified_and_applied),
        trial!(a_rotated_trust_secret_applies_without_a_restart_or_a_sync),
        trial!(unsigned_and_untrusted_commits_are_refused_and_nothing_changes),
        trial!(all_since_refuses_an_unsigned_commit_in_the_middle),
        trial!(a_rollback_is_refused_unless_allowed),
        trial!(no_trust_material_fails_closed_and_mode_none_warns),
        trial!(objects_outside_the_destination_are_refused),
        trial!(impersonation_bounds_what_the_repository_can_do),
        trial!(flux_extras_sops_substitution_cel_health_and_ignored_fields_work_together),
        trial!(flux_extras_the_region_key_file_decrypts_when_no_secret_is_named),
        trial!(flux_extras_refusals_name_what_failed),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // Stop the agent and the control plane (by PID) before exiting.
    let env = ENV.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(env);
    conclusion.exit();
}
