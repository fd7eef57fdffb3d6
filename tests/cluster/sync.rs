//! Pruning, the empty-render guard, the finalizer and drift correction, on the real control plane.

use super::*;

async fn exists(client: &kube::Client, ns: &str, name: &str) -> bool {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    cms.get_opt(name).await.expect("get").is_some()
}

fn cm(name: &str, extra_meta: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra_meta}data:\n  color: blue\n"
    )
}

pub async fn objects_that_left_git_are_pruned_and_only_them(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-prune").await;
    let repo = signed_repo();
    let keep_annotation = "  annotations:\n    gitops.pi-agent.io/prune: disabled\n";
    let c1 = repo.commit(
        &[
            ("app/a.yaml", &cm("a", "")),
            ("app/b.yaml", &cm("b", "")),
            ("app/keep.yaml", &cm("keep", keep_annotation)),
        ],
        "three",
    );
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    // An object in the namespace that this Application never applied.
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let foreign: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "foreign"}, "data": {"x": "y"}}))
            .expect("cm");
    cms.create(&PostParams::default(), &foreign)
        .await
        .expect("create foreign");

    std::fs::remove_file(repo.path().join("app/b.yaml")).expect("rm");
    std::fs::remove_file(repo.path().join("app/keep.yaml")).expect("rm");
    let c2 = repo.commit(&[], "drop b and keep");
    sync_now(&env, &ns, "web").await;
    let app = wait_applied(&env.client, &ns, "web", "commit 2 applied", &c2).await;
    assert!(exists(&env.client, &ns, "a").await);
    assert!(
        !exists(&env.client, &ns, "b").await,
        "b left Git: it must be pruned"
    );
    assert!(
        exists(&env.client, &ns, "keep").await,
        "prune: disabled must be kept"
    );
    assert!(
        exists(&env.client, &ns, "foreign").await,
        "never delete what the inventory does not own"
    );
    let ids: Vec<String> = app
        .status
        .expect("status")
        .inventory
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [format!("{ns}_a__ConfigMap")]);
}

pub async fn an_empty_revision_is_refused_unless_allowed(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-empty").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/a.yaml", &cm("a", ""))], "one");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    std::fs::remove_file(repo.path().join("app/a.yaml")).expect("rm");
    repo.commit(&[("app/README.yaml", "# nothing here\n")], "empty");
    sync_now(&env, &ns, "web").await;
    let app = wait_app(&env.client, &ns, "web", "empty revision refused", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "PruneFailed");
    assert!(
        message.contains("renders no object") && message.contains("allowEmpty"),
        "{message}"
    );
    assert!(exists(&env.client, &ns, "a").await, "nothing may be pruned");

    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"sync": {"allowEmpty": true}}})),
    )
    .await
    .expect("allow empty");
    wait_app(&env.client, &ns, "web", "empty revision applied", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert!(
        !exists(&env.client, &ns, "a").await,
        "with allowEmpty the inventory is pruned"
    );
}

pub async fn deleting_the_application_prunes_or_orphans(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-delete").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/a.yaml", &cm("a", ""))], "one");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    api.delete("web", &Default::default())
        .await
        .expect("delete");
    eventually(
        "Application gone and its objects pruned",
        Duration::from_secs(30),
        || {
            let (api, client, ns) = (api.clone(), env.client.clone(), ns.clone());
            async move {
                let gone = api
                    .get_opt("web")
                    .await
                    .map_err(|e| e.to_string())?
                    .is_none();
                let pruned = !exists(&client, &ns, "a").await;
                if gone && pruned {
                    Ok(())
                } else {
                    Err(format!("gone={gone} pruned={pruned}"))
                }
            }
        },
    )
    .await;

    // deletionPolicy: Orphan leaves the objects.
    let c1 = repo.commit(&[("app/b.yaml", &cm("b", ""))], "two");
    create_app_spec(&env.client, &ns, "orphan", json!({"verify": verify_spec(), "source": {"url": repo.url(), "path": "app", "interval": "1h"}, "sync": {"deletionPolicy": "Orphan"}})).await;
    wait_applied(&env.client, &ns, "orphan", "applied", &c1).await;
    api.delete("orphan", &Default::default())
        .await
        .expect("delete");
    wait_gone(&env.client, &ns, "orphan").await;
    assert!(
        exists(&env.client, &ns, "b").await,
        "Orphan keeps the objects"
    );
}

pub async fn a_change_by_another_manager_is_reverted(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-drift").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1), ("app/deploy.yaml", DEPLOY)], "v1");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "commit 1 applied", &c1).await;
    // Let the drift watch start before changing things.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A hand edit of a managed field (as `kubectl edit` would do it).
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let start = Instant::now();
    cms.patch(
        "settings",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"color": "red"}})),
    )
    .await
    .expect("hand edit");
    eventually("the hand edit reverted", Duration::from_secs(10), || {
        let (client, ns) = (env.client.clone(), ns.clone());
        async move {
            let c = color(&client, &ns).await;
            if c == "blue" { Ok(()) } else { Err(c) }
        }
    })
    .await;
    println!("drift: hand edit reverted in {:?}", start.elapsed());

    // A scaled Deployment is scaled back; a deleted object is re-created.
    let deploys: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    deploys
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-scale".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale");
    cms.delete("settings", &Default::default())
        .await
        .expect("delete");
    eventually(
        "replicas back to 2 and the ConfigMap re-created",
        Duration::from_secs(10),
        || {
            let (deploys, client, ns) = (deploys.clone(), env.client.clone(), ns.clone());
            async move {
                let r = deploys
                    .get("web")
                    .await
                    .map_err(|e| e.to_string())?
                    .spec
                    .replicas;
                let c = color(&client, &ns).await;
                if r == Some(2) && c == "blue" {
                    Ok(())
                } else {
                    Err(format!("replicas {r:?}, color {c:?}"))
                }
            }
        },
    )
    .await;

    // A change to a field Git does not set is not drift: a label added by hand stays.
    cms.patch(
        "settings",
        &PatchParams {
            field_manager: Some("kubectl-label".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .expect("label");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let labels = cms
        .get("settings")
        .await
        .expect("get")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("a"));

    let app = wait_app(
        &env.client,
        &ns,
        "web",
        "corrections counted in status",
        |a| a.status.as_ref().is_some_and(|s| s.drift_corrections >= 2),
    )
    .await;
    println!(
        "drift corrections in status: {}",
        app.status.expect("status").drift_corrections
    );
}

pub async fn self_heal_off_leaves_a_hand_edit_until_the_next_sync(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-no-heal").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    create_app_spec(&env.client, &ns, "web", json!({"verify": verify_spec(), "source": {"url": repo.url(), "path": "app", "interval": "1h"}, "sync": {"selfHeal": false}})).await;
    wait_applied(&env.client, &ns, "web", "applied", &c1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    cms.patch(
        "settings",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"color": "red"}})),
    )
    .await
    .expect("hand edit");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        color(&env.client, &ns).await,
        "red",
        "selfHeal off: the edit stays"
    );
    sync_now(&env, &ns, "web").await;
    eventually(
        "a sync restores Git's value",
        Duration::from_secs(10),
        || {
            let (client, ns) = (env.client.clone(), ns.clone());
            async move {
                let c = color(&client, &ns).await;
                if c == "blue" { Ok(()) } else { Err(c) }
            }
        },
    )
    .await;
}

pub async fn an_unready_workload_reports_health_check_failed(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-health").await;
    let repo = signed_repo();
    // No node matches: the pods stay Pending, the Deployment never becomes Available.
    let unschedulable = DEPLOY.replace(
        "    spec:\n      containers:",
        "    spec:\n      nodeSelector: {disk: none}\n      containers:",
    );
    let c1 = repo.commit(
        &[("app/cm.yaml", CM_V1), ("app/deploy.yaml", &unschedulable)],
        "unschedulable",
    );
    create_app_spec(&env.client, &ns, "web", json!({"verify": verify_spec(), "source": {"url": repo.url(), "path": "app", "interval": "1h"}, "sync": {"timeout": "4s"}})).await;
    let app = wait_app(&env.client, &ns, "web", "health check failure", |a| {
        ready(a).is_some_and(|(s, r, _)| s == "False" && r == "HealthCheckFailed")
    })
    .await;
    let (_, _, message) = ready(&app).expect("Ready");
    assert!(
        message.contains(&format!("Deployment {ns}/web")),
        "{message}"
    );
    let status = app.status.expect("status");
    assert!(
        status.last_applied_revision.is_none(),
        "an unhealthy revision is not reported as applied"
    );
    assert!(
        status
            .last_attempted_revision
            .is_some_and(|r| r.ends_with(&c1))
    );
    assert_eq!(
        status.inventory.len(),
        2,
        "the objects exist, so they are in the inventory"
    );
    assert_eq!(color(&env.client, &ns).await, "blue");

    // Fixing the workload in Git recovers.
    let c2 = repo.commit(&[("app/deploy.yaml", DEPLOY)], "schedulable");
    sync_now(&env, &ns, "web").await;
    wait_applied(&env.client, &ns, "web", "healthy revision applied", &c2).await;
}
