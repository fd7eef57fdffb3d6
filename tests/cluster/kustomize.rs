//! Kustomizations rendered in-process by kustomize-rs over the verified git tree.

use super::*;

pub async fn an_overlay_is_rendered_from_the_git_tree(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-kustomize").await;
    let repo = signed_repo();
    let base_k = "resources:\n- deploy.yaml\nconfigMapGenerator:\n- name: settings\n  literals:\n  - color=blue\n";
    let overlay_k = "resources:\n- ../../base\nnamePrefix: prod-\ncommonLabels:\n  env: prod\nimages:\n- name: registry.example/web\n  newTag: \"2.0\"\npatches:\n- target: {kind: Deployment, name: web}\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n";
    let c1 = repo.commit(
        &[
            ("base/kustomization.yaml", base_k),
            ("base/deploy.yaml", DEPLOY),
            ("overlays/prod/kustomization.yaml", overlay_k),
        ],
        "overlay",
    );
    create_app_spec(&env.client, &ns, "web", json!({"verify": verify_spec(), "source": {"url": repo.url(), "path": "overlays/prod", "interval": "1h"}})).await;
    let app = wait_applied(&env.client, &ns, "web", "overlay applied", &c1).await;
    let ids: Vec<String> = app
        .status
        .expect("status")
        .inventory
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.iter()
            .any(|i| i.starts_with(&format!("{ns}_prod-settings-")) && i.ends_with("__ConfigMap")),
        "{ids:?}"
    );
    let deploys: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let d = deploys.get("prod-web").await.expect("prod-web");
    let spec = d.spec;
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.example/web:2.0")
    );
    assert_eq!(
        d.metadata
            .labels
            .unwrap_or_default()
            .get("env")
            .map(String::as_str),
        Some("prod")
    );

    // A kustomization error names the file, and nothing of the revision is applied.
    let broken = overlay_k.replace("- ../../base\n", "- ../../base\n- missing.yaml\n");
    let c2 = repo.commit(
        &[("overlays/prod/kustomization.yaml", &broken)],
        "missing resource",
    );
    sync_now(&env, &ns, "web").await;
    let app = wait_app(&env.client, &ns, "web", "render refused", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(&c2))
            && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "RenderFailed");
    assert!(
        message.contains("overlays/prod/kustomization.yaml") && message.contains("missing.yaml"),
        "{message}"
    );
    assert!(applied(&app).ends_with(&c1));
}

pub async fn a_path_outside_the_repository_is_refused(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-escape").await;
    let repo = signed_repo();
    let c1 = repo.commit(
        &[(
            "app/kustomization.yaml",
            "resources:\n- ../../../../etc/passwd\n",
        )],
        "escape",
    );
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    let app = wait_app(&env.client, &ns, "web", "refused", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(&c1))
            && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "RenderFailed", "{message}");
    assert!(message.contains("app/kustomization.yaml"), "{message}");
}
