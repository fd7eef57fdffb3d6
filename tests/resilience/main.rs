//! Tests that need a control plane and an agent of their own. Resilience (the API server is
//! stopped on purpose, so it is not shared with other tests): the API server or the agent dies in
//! the middle of an apply, and the Application converges afterwards with nothing lost. And the
//! agent's own configuration: the region's trust file, reloaded when it changes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::TempDir;
use harness::agent::Agent;
use harness::cluster::ControlPlane;
use harness::eventually;
use harness::git::Repo;
use harness::signing::SshSigner;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ListParams, PostParams};
use libtest_mimic::{Arguments, Failed, Trial};
use pi_agent::api::Application;
use serde_json::json;

const OBJECTS: usize = 400;

// One test at a time: each one breaks the control plane on purpose.
static SERIAL: Mutex<()> = Mutex::new(());

struct Setup {
    cluster: ControlPlane,
    client: kube::Client,
    repo: Repo,
    commit: String,
    signers_line: String,
    signer_dir: TempDir,
}

async fn setup(ns: &str) -> Setup {
    let cluster = ControlPlane::start();
    let client = cluster.client().await;
    harness::trial::install_crd(&client).await;
    let signer_dir = TempDir::new("signer");
    let signer = SshSigner::generate(signer_dir.path(), "dev", "dev@example.com");
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
    )
    .await
    .expect("ns");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = json!({"metadata": {"name": "git-signers"}, "stringData": {"allowed_signers": signer.allowed_signers_line()}});
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(secret).expect("secret"),
        )
        .await
        .expect("secret");
    let mut repo = Repo::new();
    repo.sign_with(Some(&signer));
    let mut yaml = String::new();
    for i in 0..OBJECTS {
        yaml.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04}\ndata:\n  value: \"{i}\"\n  payload: \"{}\"\n", "x".repeat(512)));
    }
    let commit = repo.commit(&[("app/many.yaml", &yaml)], "many objects");
    Setup {
        cluster,
        client,
        repo,
        commit,
        signers_line: signer.allowed_signers_line(),
        signer_dir,
    }
}

async fn create_app(client: &kube::Client, ns: &str, url: &str) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "many", "namespace": ns},
        "spec": {"verify": {"allowedSigners": {"secretRef": {"name": "git-signers", "key": "allowed_signers"}}},
                 "source": {"url": url, "path": "app", "interval": "1h"}}
    }))
    .expect("app");
    api.create(&PostParams::default(), &app)
        .await
        .expect("create Application");
}

async fn converged(client: &kube::Client, ns: &str, commit: &str, within: Duration) {
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    eventually(
        "the Application converged with every object",
        within,
        || {
            let (api, cms) = (api.clone(), cms.clone());
            async move {
                let app = api.get("many").await.map_err(|e| e.to_string())?;
                let status = app.status.clone().unwrap_or_default();
                let applied = status
                    .last_applied_revision
                    .as_deref()
                    .is_some_and(|r| r.ends_with(commit));
                let count = cms
                    .list(&ListParams::default().labels("gitops.pi-agent.io/name=many"))
                    .await
                    .map_err(|e| e.to_string())?
                    .items
                    .len();
                if applied && count == OBJECTS && status.inventory.len() == OBJECTS {
                    Ok(())
                } else {
                    Err(format!(
                        "applied={applied} objects={count} inventory={}",
                        status.inventory.len()
                    ))
                }
            }
        },
    )
    .await;
}

async fn api_server_stopped_in_the_middle_of_an_apply() {
    let ns = "t-api-down";
    let s = setup(ns).await;
    let agent = Agent::start(&s.cluster.kubeconfig, &[]).await;
    create_app(&s.client, ns, &s.repo.url()).await;
    // Let the apply start, then take the API server away for a few seconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.cluster.stop_apiserver();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarted = Instant::now();
    s.cluster.restart();
    converged(&s.client, ns, &s.commit, Duration::from_secs(90)).await;
    println!(
        "api server restart: converged {:?} after the API server came back",
        restarted.elapsed()
    );
    assert!(
        agent.log_text().contains("reconcile failed"),
        "the outage must have been seen and retried:\n{}",
        agent.log_text()
    );
}

async fn agent_killed_in_the_middle_of_an_apply() {
    let ns = "t-agent-killed";
    let s = setup(ns).await;
    let agent = Agent::start(&s.cluster.kubeconfig, &[]).await;
    create_app(&s.client, ns, &s.repo.url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(agent); // SIGKILL, by PID
    let agent = Agent::start(&s.cluster.kubeconfig, &[]).await;
    converged(&s.client, ns, &s.commit, Duration::from_secs(60)).await;
    drop(agent);
}

async fn sigterm_in_the_middle_of_an_apply_lets_it_finish() {
    let ns = "t-sigterm";
    let s = setup(ns).await;
    let mut agent = Agent::start(&s.cluster.kubeconfig, &[]).await;
    create_app(&s.client, ns, &s.repo.url()).await;
    // Wait until the apply has started (the first objects exist), then ask the agent to stop.
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    eventually("the apply started", Duration::from_secs(30), || {
        let cms = cms.clone();
        async move {
            let n = cms
                .list(&ListParams::default().labels("gitops.pi-agent.io/name=many"))
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            (n > 0).then_some(()).ok_or(format!("{n} objects"))
        }
    })
    .await;
    let asked = Instant::now();
    let status = agent
        .terminate(Duration::from_secs(30))
        .expect("the agent exits within its shutdown timeout");
    println!(
        "SIGTERM mid-apply: exited {status} after {:?}",
        asked.elapsed()
    );
    assert!(status.success(), "{status}\n{}", agent.log_text());
    // The in-flight reconcile was finished, not cut: the revision is applied whole, with its
    // inventory, before the process exited.
    converged(&s.client, ns, &s.commit, Duration::from_secs(1)).await;
}

async fn the_region_trust_file_is_reloaded_when_it_changes() {
    let ns = "t-trust-file";
    let s = setup(ns).await;
    // A mounted Secret, as the kubelet lays it out: the file is a link through `..data`.
    let mount = TempDir::under(s.signer_dir.path(), "mount");
    let stranger = SshSigner::generate(s.signer_dir.path(), "stranger", "stranger@example.com");
    let publish = |version: &str, text: &str| {
        let dir = mount.path().join(format!("..{version}"));
        std::fs::create_dir_all(&dir).expect("version dir");
        std::fs::write(dir.join("allowed_signers"), text).expect("write");
        let tmp = mount.path().join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("link");
        std::fs::rename(&tmp, mount.path().join("..data")).expect("swap");
    };
    publish("v1", &stranger.allowed_signers_line());
    let file = mount.path().join("allowed_signers");
    std::os::unix::fs::symlink("..data/allowed_signers", &file).expect("link");
    let agent = Agent::start(
        &s.cluster.kubeconfig,
        &[("PI_AGENT_ALLOWED_SIGNERS", file.as_path())],
    )
    .await;
    // No trust material of its own: the region's file decides.
    let api: Api<Application> = Api::namespaced(s.client.clone(), ns);
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "many", "namespace": ns},
        "spec": {"source": {"url": s.repo.url(), "path": "app", "interval": "1h"}}
    }))
    .expect("app");
    api.create(&PostParams::default(), &app)
        .await
        .expect("create");
    eventually(
        "refused: signed by a key the region does not trust",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move {
                let app = api.get("many").await.map_err(|e| e.to_string())?;
                let ready = app
                    .status
                    .unwrap_or_default()
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready")
                    .ok_or("no Ready")?;
                if ready.reason == "SourceVerificationFailed" {
                    Ok(())
                } else {
                    Err(format!("{}: {}", ready.reason, ready.message))
                }
            }
        },
    )
    .await;
    let changed = Instant::now();
    publish("v2", &s.signers_line);
    converged(&s.client, ns, &s.commit, Duration::from_secs(60)).await;
    println!(
        "trust file changed: applied {:?} later, without a sync or a restart",
        changed.elapsed()
    );
    assert!(agent.log_text().contains("trust files changed"));
}

/// Two agents, one per shard (`--watch-label-selector`, each with leader election on its own
/// Lease): each Application is reconciled by its shard's agent and never by the other; a
/// forced sync sent to the wrong shard is handed over through the annotation.
async fn two_shards_split_the_applications() {
    let ns = "t-shards";
    let cluster = ControlPlane::start();
    let client = cluster.client().await;
    harness::trial::install_crd(&client).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns"),
    )
    .await
    .expect("ns");
    let repo = Repo::new();
    let files: Vec<(String, String)> = (0..4)
        .map(|i| {
            (
                format!("app{i}/cm.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  i: \"{i}\"\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let commit = repo.commit(&refs, "four apps");
    let shard_of = |i: usize| if i < 2 { "shard1" } else { "shard2" };
    let api: Api<Application> = Api::namespaced(client.clone(), ns);
    for i in 0..4 {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": format!("a{i}"), "namespace": ns,
                         "labels": {"sharding.pi-agent.io/key": shard_of(i)}},
            "spec": {"verify": {"mode": "None"},
                     "source": {"url": repo.url(), "path": format!("app{i}"), "interval": "1h"}}
        }))
        .expect("app");
        api.create(&PostParams::default(), &app)
            .await
            .expect("create");
    }
    let start = |shard: &'static str| {
        let kubeconfig = cluster.kubeconfig.clone();
        async move {
            Agent::start_with(
                &kubeconfig,
                &[],
                &[
                    "--leader-elect",
                    "--lease-namespace",
                    ns,
                    "--watch-label-selector",
                    &format!("sharding.pi-agent.io/key in ({shard})"),
                ],
            )
            .await
        }
    };
    let one = start("shard1").await;
    let two = start("shard2").await;
    eventually(
        "every Application applied by its shard",
        Duration::from_secs(60),
        || {
            let api = api.clone();
            let commit = commit.clone();
            async move {
                for i in 0..4 {
                    let app = api.get(&format!("a{i}")).await.map_err(|e| e.to_string())?;
                    let applied = app
                        .status
                        .unwrap_or_default()
                        .last_applied_revision
                        .is_some_and(|r| r.ends_with(&commit));
                    if !applied {
                        return Err(format!("a{i} not applied yet"));
                    }
                }
                Ok(())
            }
        },
    )
    .await;
    // A forced sync of a shard-2 Application sent to shard 1: handed over, applied by shard 2.
    let (code, body) = one.request_sync(ns, "a3").await;
    assert!((200..300).contains(&code), "{code}: {body}");
    eventually(
        "the handed-over sync is handled",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move {
                let app = api.get("a3").await.map_err(|e| e.to_string())?;
                let requested = app
                    .metadata
                    .annotations
                    .unwrap_or_default()
                    .get(pi_agent::api::REQUESTED_AT_ANNOTATION)
                    .cloned();
                let handled = app.status.unwrap_or_default().last_handled_reconcile_at;
                if requested.is_some() && requested == handled {
                    Ok(())
                } else {
                    Err(format!("requested {requested:?}, handled {handled:?}"))
                }
            }
        },
    )
    .await;
    // The human log format colours field names: compare the text without escape sequences.
    let plain = |text: String| {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let (log1, log2) = (plain(one.log_text()), plain(two.log_text()));
    for i in 0..4 {
        let mark = format!("app={ns}/a{i}");
        let (mine, other) = if i < 2 {
            (&log1, &log2)
        } else {
            (&log2, &log1)
        };
        assert!(mine.contains(&mark), "a{i} not reconciled by its shard");
        assert!(
            !other.contains(&mark),
            "a{i} reconciled by the other shard:\n{other}"
        );
    }
    // Each shard elected a leader on a Lease of its own.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), ns);
    let names: Vec<String> = leases
        .list(&ListParams::default())
        .await
        .expect("leases")
        .items
        .into_iter()
        .filter_map(|l| l.metadata.name)
        .filter(|n| n.starts_with("pi-agent-"))
        .collect();
    assert_eq!(names.len(), 2, "one Lease per shard: {names:?}");
}

fn run(body: impl std::future::Future<Output = ()>) -> Result<(), Failed> {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    harness::trial::run_body(body, || None)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("api_server_stopped_in_the_middle_of_an_apply", || {
            run(api_server_stopped_in_the_middle_of_an_apply())
        }),
        Trial::test("agent_killed_in_the_middle_of_an_apply", || {
            run(agent_killed_in_the_middle_of_an_apply())
        }),
        Trial::test("sigterm_in_the_middle_of_an_apply_lets_it_finish", || {
            run(sigterm_in_the_middle_of_an_apply_lets_it_finish())
        }),
        Trial::test("the_region_trust_file_is_reloaded_when_it_changes", || {
            run(the_region_trust_file_is_reloaded_when_it_changes())
        }),
        Trial::test("two_shards_split_the_applications", || {
            run(two_shards_split_the_applications())
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
