//! What Flux users expect after the render, end to end: SOPS-encrypted Secrets (encrypted by
//! the real `sops` v3.13 with age and OpenPGP keys) decrypted before apply, post-build
//! substitution from a ConfigMap, a custom resource whose CEL health check follows the status a
//! test sets, a field left to another manager; and every refusal naming what failed.

use std::collections::BTreeMap;

use harness::sops::Sops;
use k8s_openapi::api::core::v1::Secret;
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use super::*;

const GADGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.extras.example.com
spec:
  group: extras.example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const GADGET: &str =
    "apiVersion: extras.example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  size: 1\n";

/// The health check of the Gadget kind, in Flux's `healthCheckExprs` shape.
fn gadget_health() -> serde_json::Value {
    json!([{
        "apiVersion": "extras.example.com/v1", "kind": "Gadget",
        "inProgress": "has(status.phase) && status.phase == 'Progressing'",
        "failed": "has(status.phase) && status.phase == 'Failed'",
        "current": "has(status.phase) && status.phase == 'Ready'"
    }])
}

/// Installs the Gadget CRD (once per control plane) and waits until it is served.
async fn install_gadget_crd(client: &kube::Client) {
    let crd: serde_json::Value = yaml_value(GADGET_CRD);
    harness::trial::apply_crd(client, "gadgets.extras.example.com", &crd).await;
}

/// YAML text as JSON (through the agent's own renderer, which reads YAML as kustomize does).
fn yaml_value(yaml: &str) -> serde_json::Value {
    let mut fs = ::kustomize::MemFs::new();
    fs.add("x/o.yaml", yaml);
    pi_agent::render::render(&fs, "x").expect("yaml")[0]
        .value
        .clone()
}

fn gadgets(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("extras.example.com", "v1", "Gadget"));
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Sets `status.phase` of Gadget `g1`, as its controller would.
async fn set_phase(client: &kube::Client, ns: &str, phase: &str) {
    gadgets(client, ns)
        .patch_status(
            "g1",
            &PatchParams::apply("gadget-controller").force(),
            &Patch::Apply(json!({
                "apiVersion": "extras.example.com/v1", "kind": "Gadget",
                "metadata": {"name": "g1"}, "status": {"phase": phase}
            })),
        )
        .await
        .unwrap_or_else(|e| panic!("set Gadget phase {phase}: {e}"));
}

/// The decoded `data` of a Secret.
async fn secret_text(client: &kube::Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("Secret {ns}/{name}: {e}"))
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

async fn create_secret(client: &kube::Client, ns: &str, body: serde_json::Value) {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let obj: Secret = serde_json::from_value(body).expect("Secret");
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create a Secret in {ns}: {e}"));
}

async fn create_config_map(client: &kube::Client, ns: &str, body: serde_json::Value) {
    let obj: ConfigMap = serde_json::from_value(body).expect("ConfigMap");
    cms(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create a ConfigMap in {ns}: {e}"));
}

const REGEX: &str = "^(data|stringData)$";

fn secret_yaml(name: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\nstringData:\n{data}"
    )
}

async fn replicas(client: &kube::Client, ns: &str) -> Option<i32> {
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deploys.get("web").await.expect("web").spec.replicas
}

pub async fn flux_extras_sops_substitution_cel_health_and_ignored_fields_work_together(
    env: Arc<Env>,
) {
    let ns = namespace(&env.client, "t-flux-extras").await;
    install_gadget_crd(&env.client).await;
    let sops = Sops::new().with_pgp();

    // Keys as Flux names them; variables in a ConfigMap.
    create_secret(
        &env.client,
        &ns,
        json!({"metadata": {"name": "sops-keys"}, "stringData": {
        "age.agekey": sops.age_identity, "pgp.asc": sops.pgp_secret_key(),
        "sops.vault-token": "ignored: the agent has no KMS"}}),
    )
    .await;
    create_config_map(
        &env.client,
        &ns,
        json!({"metadata": {"name": "cluster-vars"}, "data": {
        "cluster_env": "prod", "version": "1.0"}}),
    )
    .await;

    let db = sops.encrypt(
        "db.yaml",
        &secret_yaml(
            "db",
            "  password: correct-horse\n  dsn: postgres://db.${cluster_env}.svc\n",
        ),
        false,
        &["--encrypted-regex", REGEX],
    );
    let pgp = sops.encrypt(
        "pgp.yaml",
        &secret_yaml("db-pgp", "  token: from-openpgp\n"),
        true,
        &["--encrypted-regex", REGEX],
    );
    let dotenv = sops.encrypt("app.env", "API_TOKEN=tok-123\nMODE=blue\n", false, &[]);
    assert!(!db.contains("correct-horse") && !dotenv.contains("tok-123"));
    let kustomization = "resources: [db.enc.yaml, pgp.enc.yaml, config.yaml, deploy.yaml, gadget.yaml]\nsecretGenerator:\n- name: env-secret\n  envs: [app.env]\ngeneratorOptions:\n  disableNameSuffixHash: true\n";
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  env: ${cluster_env}\n  region: ${region:=eu-west}\n  literal: $${not_a_variable}\n  shell: $HOME\n";
    let deploy = DEPLOY.replace("web:1.0", "web:${version}");
    let repo = signed_repo();
    let c1 = repo.commit(
        &[
            ("app/kustomization.yaml", kustomization),
            ("app/db.enc.yaml", &db),
            ("app/pgp.enc.yaml", &pgp),
            ("app/app.env", &dotenv),
            ("app/config.yaml", config),
            ("app/deploy.yaml", &deploy),
            ("app/gadget.yaml", GADGET),
        ],
        "flux extras",
    );
    create_app_spec(
        &env.client,
        &ns,
        "web",
        json!({
            "verify": verify_spec(),
            "source": {"url": repo.url(), "path": "app", "interval": "1h"},
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]},
            "sync": {"wait": true, "timeout": "5m", "healthCheckExprs": gadget_health(),
                     "ignore": [{"target": {"kind": "Deployment", "name": "web"}, "paths": ["/spec/replicas"]}]}
        }),
    )
    .await;

    // Applied, then waiting for the Gadget, which has no status yet.
    wait_app(&env.client, &ns, "web", "waiting for the Gadget", |a| {
        a.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Reconciling" && c.message.contains("waiting for"))
        })
    })
    .await;
    // Decrypted (age, OpenPGP, a dotenv secretGenerator source), then substituted.
    let db = secret_text(&env.client, &ns, "db").await;
    assert_eq!(
        db.get("password").map(String::as_str),
        Some("correct-horse")
    );
    assert_eq!(
        db.get("dsn").map(String::as_str),
        Some("postgres://db.prod.svc")
    );
    let pgp = secret_text(&env.client, &ns, "db-pgp").await;
    assert_eq!(pgp.get("token").map(String::as_str), Some("from-openpgp"));
    let generated = secret_text(&env.client, &ns, "env-secret").await;
    assert_eq!(
        generated.get("API_TOKEN").map(String::as_str),
        Some("tok-123")
    );
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let settings = cms
        .get("settings")
        .await
        .expect("settings")
        .data
        .unwrap_or_default();
    assert_eq!(settings.get("env").map(String::as_str), Some("prod"));
    assert_eq!(settings.get("region").map(String::as_str), Some("eu-west"));
    assert_eq!(
        settings.get("literal").map(String::as_str),
        Some("${not_a_variable}")
    );
    assert_eq!(settings.get("shell").map(String::as_str), Some("$HOME"));
    let deploys: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let image = deploys
        .get("web")
        .await
        .expect("web")
        .spec
        .template
        .spec
        .map(|p| p.containers[0].image.clone());
    assert_eq!(image, Some(Some("registry.example/web:1.0".to_owned())));

    // The CEL check follows the status its controller sets: Progressing keeps the
    // Application waiting, Ready makes it Ready.
    set_phase(&env.client, &ns, "Progressing").await;
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    let app = api.get("web").await.expect("app");
    assert!(
        ready(&app).is_none_or(|(s, _, _)| s != "True"),
        "a Progressing Gadget must not be Ready: {:?}",
        app.status
    );
    set_phase(&env.client, &ns, "Ready").await;
    let app = wait_app(&env.client, &ns, "web", "Ready once the Gadget is", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "True") && applied(a).ends_with(&c1)
    })
    .await;
    assert_eq!(
        ready(&app).map(|(_, r, _)| r).as_deref(),
        Some("ReconciliationSucceeded")
    );

    // Fields left to another manager: an autoscaler-like manager owns the replicas through
    // server-side apply (removed from pi-agent's body), then through the scale subresource
    // (pi-agent keeps the live value); neither drift correction nor a resync puts Git's 2 back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    deploys
        .patch(
            "web",
            &PatchParams::apply("hpa-like").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "spec": {"replicas": 4}})),
        )
        .await
        .expect("scale by another manager");
    let c2 = repo.commit(
        &[("app/config.yaml", &config.replace("eu-west", "eu-south"))],
        "resync 1",
    );
    sync_now(&env, &ns, "web").await;
    wait_app(&env.client, &ns, "web", "commit 2 applied", |a| {
        applied(a).ends_with(&c2) && ready(a).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert_eq!(replicas(&env.client, &ns).await, Some(4));
    deploys
        .patch_scale(
            "web",
            &PatchParams {
                field_manager: Some("scaler".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("scale subresource");
    let c3 = repo.commit(
        &[("app/config.yaml", &config.replace("eu-west", "eu-east"))],
        "resync 2",
    );
    sync_now(&env, &ns, "web").await;
    wait_app(&env.client, &ns, "web", "commit 3 applied", |a| {
        applied(a).ends_with(&c3) && ready(a).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert_eq!(replicas(&env.client, &ns).await, Some(3));

    // Drift correction: a hand edit of the image and the replicas in one write; the image is
    // put back at once, the replicas stay as they were left.
    deploys
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Strategic(json!({"spec": {"replicas": 5, "template": {"spec": {
                "containers": [{"name": "web", "image": "registry.example/web:hand-edited"}]}}}})),
        )
        .await
        .expect("hand edit");
    eventually(
        "the image reverted by drift correction",
        Duration::from_secs(20),
        || {
            let deploys = deploys.clone();
            async move {
                let d = deploys.get("web").await.map_err(|e| e.to_string())?;
                let image = d
                    .spec
                    .template
                    .spec
                    .and_then(|p| p.containers.into_iter().next())
                    .and_then(|c| c.image);
                match image.as_deref() {
                    Some("registry.example/web:1.0") => Ok(d.spec.replicas),
                    other => Err(format!("image {other:?}")),
                }
            }
        },
    )
    .await;
    assert_eq!(
        replicas(&env.client, &ns).await,
        Some(5),
        "drift correction must leave an ignored field alone"
    );
    let managers: Vec<String> = deploys
        .get("web")
        .await
        .expect("web")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().any(|m| m == "pi-agent"), "{managers:?}");

    // Decrypted values never reach the log or the status.
    let log = env.agent.log_text();
    for secret in [
        "correct-horse",
        "from-openpgp",
        "tok-123",
        "AGE-SECRET-KEY-1",
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the agent's log");
        let status = serde_json::to_string(&app.status).unwrap_or_default();
        assert!(!status.contains(secret), "`{secret}` is in the status");
    }
}

pub async fn flux_extras_the_region_key_file_decrypts_when_no_secret_is_named(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-sops-region").await;
    let sops = Sops::new();
    let repo = signed_repo();
    let secret = sops.encrypt(
        "s.yaml",
        &secret_yaml("region", "  password: region-wide\n"),
        false,
        &["--encrypted-regex", REGEX],
    );
    let c1 = repo.commit(&[("app/secret.enc.yaml", &secret)], "region key");
    let spec = json!({"verify": verify_spec(),
        "source": {"url": repo.url(), "path": "app", "interval": "1h"},
        "decryption": {"provider": "sops"}});
    // The agent's key file does not hold the key yet: refused, naming the file.
    std::fs::write(&env.region_key_file, "").expect("empty key file");
    create_app_spec(&env.client, &ns, "web", spec).await;
    let (reason, message) = wait_refused(&env.client, &ns, "web", "no region key").await;
    assert_eq!(reason, "InvalidSpec", "{message}");
    assert!(message.contains("--sops-age-key-file"), "{message}");
    // The mounted Secret is updated: read at the next reconcile, without a restart.
    std::fs::write(&env.region_key_file, &sops.age_identity).expect("key file");
    sync_now(&env, &ns, "web").await;
    wait_applied(
        &env.client,
        &ns,
        "web",
        "decrypted with the region key",
        &c1,
    )
    .await;
    let s = secret_text(&env.client, &ns, "region").await;
    assert_eq!(s.get("password").map(String::as_str), Some("region-wide"));
}

pub async fn flux_extras_refusals_name_what_failed(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-flux-refusals").await;
    let sops = Sops::new();
    create_secret(
        &env.client,
        &ns,
        json!({"metadata": {"name": "sops-keys"}, "stringData": {"age.agekey": sops.age_identity}}),
    )
    .await;
    let encrypted = sops.encrypt(
        "s.yaml",
        &secret_yaml("tampered", "  password: hunter2\n"),
        false,
        &["--encrypted-regex", REGEX],
    );
    // One character of the ciphertext changed: its authentication fails.
    let at = encrypted.find("ENC[AES256_GCM,data:").expect("a value") + 20;
    let mut tampered = encrypted.clone().into_bytes();
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("text");
    let undefined = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zones\ndata:\n  zone: ${undefined_zone}\n";
    let repo = signed_repo();
    let c1 = repo.commit(
        &[
            ("tampered/secret.enc.yaml", &tampered),
            ("undefined/cm.yaml", undefined),
            ("plain/secret.enc.yaml", &encrypted),
            ("cel/cm.yaml", CM_V1),
        ],
        "refusals",
    );
    let spec = |path: &str, extra: serde_json::Value| {
        let mut s = json!({"verify": verify_spec(),
            "source": {"url": repo.url(), "path": path, "interval": "1h"}});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    };
    let keys = json!({"decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}}});
    create_app_spec(&env.client, &ns, "tampered", spec("tampered", keys.clone())).await;
    create_app_spec(
        &env.client,
        &ns,
        "undefined",
        spec(
            "undefined",
            json!({"postBuild": {"substitute": {"cluster_env": "prod"}}}),
        ),
    )
    .await;
    create_app_spec(&env.client, &ns, "not-decrypted", spec("plain", json!({}))).await;
    create_app_spec(
        &env.client,
        &ns,
        "bad-cel",
        spec(
            "cel",
            json!({"sync": {"healthCheckExprs": [{"apiVersion": "extras.example.com/v1", "kind": "Gadget", "current": "status.phase =="}]}}),
        ),
    )
    .await;
    create_app_spec(
        &env.client,
        &ns,
        "bad-ignore",
        spec(
            "cel",
            json!({"sync": {"ignore": [{"paths": ["spec/replicas"]}]}}),
        ),
    )
    .await;

    let stalled = |a: &Application| {
        a.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True")
        })
    };
    // A tampered SOPS file: Stalled, naming the file; nothing applied.
    let app = wait_app(&env.client, &ns, "tampered", "tampered file refused", |a| {
        stalled(a) && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "RenderFailed", "{message}");
    assert!(
        message.contains("`tampered/secret.enc.yaml`") && message.contains("Secret"),
        "{message}"
    );
    assert!(
        app.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(&c1))
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    assert!(
        secrets.get_opt("tampered").await.expect("get").is_none(),
        "nothing of a refused revision is applied"
    );

    // An undefined variable: the object and the variable are named.
    let (reason, message) = wait_refused(&env.client, &ns, "undefined", "undefined variable").await;
    assert_eq!(reason, "RenderFailed", "{message}");
    assert!(
        message.contains("`undefined/cm.yaml`")
            && message.contains("ConfigMap")
            && message.contains("zones")
            && message.contains("`undefined_zone`"),
        "{message}"
    );
    assert!(
        cms(&env.client, &ns)
            .get_opt("zones")
            .await
            .expect("get")
            .is_none()
    );

    // An encrypted object and no decryption configured: never applied as ciphertext.
    let (reason, message) = wait_refused(&env.client, &ns, "not-decrypted", "no decryption").await;
    assert_eq!(reason, "RenderFailed", "{message}");
    assert!(
        message.contains("`plain/secret.enc.yaml`")
            && message.contains("`spec.decryption` is not set"),
        "{message}"
    );

    // An invalid CEL expression or ignore pointer: InvalidSpec naming it.
    let (reason, message) = wait_refused(&env.client, &ns, "bad-cel", "invalid CEL").await;
    assert_eq!(reason, "InvalidSpec", "{message}");
    assert!(
        message.contains("spec.sync.healthCheckExprs[0] (Gadget.extras.example.com)")
            && message.contains("`status.phase ==`"),
        "{message}"
    );
    let (reason, message) = wait_refused(&env.client, &ns, "bad-ignore", "invalid pointer").await;
    assert_eq!(reason, "InvalidSpec", "{message}");
    assert!(
        message.contains("`spec.sync.ignore[0].paths[0]`"),
        "{message}"
    );

    assert!(
        !env.agent.log_text().contains("hunter2"),
        "a decrypted value must never be logged"
    );
}

fn cms(client: &kube::Client, ns: &str) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), ns)
}
