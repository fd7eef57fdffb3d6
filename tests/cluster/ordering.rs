//! Sync waves, dependencies between Applications, and field take-over from client-side managers.

use super::*;

async fn create(client: &kube::Client, ns: &str, name: &str, url: &str, sync: serde_json::Value) {
    create_app_spec(client, ns, name, json!({"verify": verify_spec(), "source": {"url": url, "path": "app", "interval": "1h"}, "sync": sync})).await;
}

pub async fn a_later_wave_waits_for_the_earlier_one_to_be_healthy(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-waves").await;
    let repo = signed_repo();
    // Wave 0 never becomes healthy (no node matches); wave 1 must then never be applied.
    let unschedulable = DEPLOY.replace(
        "    spec:\n      containers:",
        "    spec:\n      nodeSelector: {disk: none}\n      containers:",
    );
    let later = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    gitops.pi-agent.io/sync-wave: \"1\"\ndata:\n  color: blue\n";
    repo.commit(
        &[
            ("app/deploy.yaml", &unschedulable),
            ("app/later.yaml", later),
        ],
        "two waves",
    );
    create(
        &env.client,
        &ns,
        "web",
        &repo.url(),
        json!({"timeout": "3s"}),
    )
    .await;
    let app = wait_app(&env.client, &ns, "web", "wave 0 unhealthy", |a| {
        ready(a).is_some_and(|(_, r, _)| r == "HealthCheckFailed")
    })
    .await;
    let (_, _, message) = ready(&app).expect("Ready");
    assert!(
        message.contains(&format!("Deployment {ns}/web")),
        "{message}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "",
        "wave 1 must wait for wave 0"
    );

    // Once wave 0 is healthy, wave 1 follows.
    let c2 = repo.commit(&[("app/deploy.yaml", DEPLOY)], "schedulable");
    sync_now(&env, &ns, "web").await;
    wait_applied(&env.client, &ns, "web", "both waves applied", &c2).await;
    assert_eq!(color(&env.client, &ns).await, "blue");
}

pub async fn an_application_waits_for_its_dependencies(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-depends").await;
    let base = signed_repo();
    base.commit(
        &[(
            "app/ns-config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata:\n  a: b\n",
        )],
        "base",
    );
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "app");
    create(
        &env.client,
        &ns,
        "web",
        &repo.url(),
        json!({"dependsOn": [{"name": "base"}]}),
    )
    .await;
    let app = wait_app(&env.client, &ns, "web", "waiting for base", |a| {
        ready(a).is_some_and(|(_, r, _)| r == "DependencyNotReady")
    })
    .await;
    let (_, _, message) = ready(&app).expect("Ready");
    assert!(
        message.contains(&format!("`{ns}/base` does not exist")),
        "{message}"
    );
    assert_eq!(color(&env.client, &ns).await, "");
    create(&env.client, &ns, "base", &base.url(), json!({})).await;
    wait_applied(&env.client, &ns, "web", "applied after base", &c1).await;
    assert_eq!(color(&env.client, &ns).await, "blue");
}

pub async fn fields_set_by_kubectl_are_taken_over_and_removed_with_git(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-takeover").await;
    // The object exists already, made by a client-side `kubectl apply` with a field Git lacks.
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let before: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "settings", "labels": {"legacy": "yes"}}, "data": {"color": "red", "legacy": "x"}})).expect("cm");
    cms.create(
        &PostParams {
            field_manager: Some("kubectl-client-side-apply".into()),
            ..Default::default()
        },
        &before,
    )
    .await
    .expect("create as kubectl");
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "adopt");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "adopted", &c1).await;
    let cm = cms.get("settings").await.expect("get");
    let data = cm.data.unwrap_or_default();
    assert_eq!(data.get("color").map(String::as_str), Some("blue"));
    assert!(
        !data.contains_key("legacy"),
        "a field kubectl set and Git does not have must go: {data:?}"
    );
    assert!(
        !cm.metadata
            .labels
            .unwrap_or_default()
            .contains_key("legacy")
    );
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["pi-agent"]);
}

pub async fn diff_shows_what_a_sync_would_change(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-diff").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1), ("app/deploy.yaml", DEPLOY)], "v1");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "applied", &c1).await;
    let run = |dir: std::path::PathBuf| {
        let out = std::process::Command::new(harness::agent::binary())
            .arg("diff")
            .arg(&dir)
            .args([
                "-n",
                &ns,
                "--kubeconfig",
                &env._cluster.kubeconfig.display().to_string(),
            ])
            .output()
            .expect("run pi-agent diff");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(repo.path().join("app"));
    assert_eq!(code, Some(0), "no difference expected:\n{stdout}\n{stderr}");

    std::fs::write(repo.path().join("app/cm.yaml"), CM_V2).expect("edit");
    let (code, stdout, _) = run(repo.path().join("app"));
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains(&format!("--- ConfigMap {ns}/settings (live)"))
            && stdout.contains("-  color: blue")
            && stdout.contains("+  color: green"),
        "{stdout}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "blue",
        "diff changes nothing"
    );

    let (code, _, stderr) = run(repo.path().join("missing"));
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("error: cannot read"), "{stderr}");
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"#;

pub async fn a_crd_and_its_custom_resources_apply_in_one_commit(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-crd").await;
    let repo = signed_repo();
    // The custom resource sorts before its CRD in the directory: the order comes from the agent.
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";
    let c1 = repo.commit(
        &[("app/a-widget.yaml", widget), ("app/z-crd.yaml", CRD)],
        "crd and cr",
    );
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    create_app_spec(&env.client, &ns, "web", json!({"verify": verify_spec(), "source": {"url": repo.url(), "path": "app", "interval": "1h"},
                 "destination": {"allowedClusterResources": [{"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"}]}})).await;
    let app = wait_applied(&env.client, &ns, "web", "CRD and CR applied", &c1).await;
    let ids: Vec<String> = app
        .status
        .expect("status")
        .inventory
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        [
            "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition".to_owned(),
            format!("{ns}_w1_example.com_Widget")
        ]
    );
    let ar = kube::discovery::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "example.com",
        "v1",
        "Widget",
    ));
    let widgets: Api<kube::api::DynamicObject> = Api::namespaced_with(env.client.clone(), &ns, &ar);
    let w = widgets.get("w1").await.expect("widget");
    assert_eq!(w.data.pointer("/spec/size"), Some(&json!(3)));

    // Deleting the Application prunes the custom resource before its CRD.
    api.delete("web", &Default::default())
        .await
        .expect("delete");
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(env.client.clone());
    eventually("CRD pruned", Duration::from_secs(30), || {
        let crds = crds.clone();
        async move {
            match crds
                .get_opt("widgets.example.com")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(c) if c.metadata.deletion_timestamp.is_some() => Ok(()),
                Some(_) => Err("still there".into()),
            }
        }
    })
    .await;
}
