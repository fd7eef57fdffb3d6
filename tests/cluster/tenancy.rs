//! Tenancy limits and impersonation, with RBAC enforced by the real API server.

use super::*;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};

async fn create_app_with(
    client: &kube::Client,
    ns: &str,
    url: &str,
    destination: serde_json::Value,
) {
    create_app_spec(client, ns, "web", json!({"verify": verify_spec(), "source": {"url": url, "path": "app", "interval": "1h"}, "destination": destination})).await;
}

async fn refused(client: &kube::Client, ns: &str, reason: &str) -> String {
    let app = wait_app(client, ns, "web", "refusal reported", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, r, message) = ready(&app).expect("Ready");
    assert_eq!(r, reason, "{message}");
    message
}

const CLUSTER_ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: t-tenancy-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n";

pub async fn objects_outside_the_destination_are_refused(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-tenancy").await;
    let repo = signed_repo();
    let elsewhere = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n  namespace: kube-system\ndata:\n  a: b\n";
    repo.commit(
        &[("app/cm.yaml", CM_V1), ("app/elsewhere.yaml", elsewhere)],
        "other namespace",
    );
    create_app_with(&env.client, &ns, &repo.url(), json!({})).await;
    let message = refused(&env.client, &ns, "TenancyViolation").await;
    assert!(
        message.contains("ConfigMap kube-system/sneaky") && message.contains("allowedNamespaces"),
        "{message}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "",
        "nothing of the revision may be applied"
    );
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), "kube-system");
    assert!(cms.get_opt("sneaky").await.expect("get").is_none());

    // A cluster-scoped kind is refused too, until the Application allows it.
    std::fs::remove_file(repo.path().join("app/elsewhere.yaml")).expect("rm");
    repo.commit(&[("app/role.yaml", CLUSTER_ROLE)], "cluster role");
    sync_now(&env, &ns, "web").await;
    let app = wait_app(&env.client, &ns, "web", "ClusterRole refused", |a| {
        ready(a).is_some_and(|(_, _, m)| m.contains("ClusterRole"))
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "TenancyViolation");
    assert!(message.contains("allowedClusterResources"), "{message}");
    let roles: Api<ClusterRole> = Api::all(env.client.clone());
    assert!(
        roles
            .get_opt("t-tenancy-reader")
            .await
            .expect("get")
            .is_none()
    );

    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    let allow = json!({"spec": {"destination": {"allowedClusterResources": [{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}]}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&allow))
        .await
        .expect("allow");
    wait_app(&env.client, &ns, "web", "applied once allowed", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    assert!(
        roles
            .get_opt("t-tenancy-reader")
            .await
            .expect("get")
            .is_some()
    );
    // Deleting the Application prunes the ClusterRole it created.
    api.delete("web", &Default::default())
        .await
        .expect("delete");
    eventually("ClusterRole pruned", Duration::from_secs(30), || {
        let roles = roles.clone();
        async move {
            if roles
                .get_opt("t-tenancy-reader")
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                Ok(())
            } else {
                Err("still there".into())
            }
        }
    })
    .await;
}

pub async fn impersonation_bounds_what_the_repository_can_do(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-impersonate").await;
    // The ServiceAccount may manage ConfigMaps only.
    let sas: Api<ServiceAccount> = Api::namespaced(env.client.clone(), &ns);
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "deployer"}})).expect("sa"),
    )
    .await
    .expect("sa");
    let roles: Api<Role> = Api::namespaced(env.client.clone(), &ns);
    let role = json!({"metadata": {"name": "configmaps"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]});
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(role).expect("role"),
        )
        .await
        .expect("role");
    let bindings: Api<RoleBinding> = Api::namespaced(env.client.clone(), &ns);
    let binding = json!({"metadata": {"name": "deployer"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]});
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).expect("binding"),
        )
        .await
        .expect("binding");

    let repo = signed_repo();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  t: x\n";
    repo.commit(
        &[("app/cm.yaml", CM_V1), ("app/secret.yaml", secret)],
        "cm and secret",
    );
    create_app_with(
        &env.client,
        &ns,
        &repo.url(),
        json!({"serviceAccountName": "deployer"}),
    )
    .await;
    let message = refused(&env.client, &ns, "ApplyFailed").await;
    assert!(
        message.contains("Secret") && message.contains("forbidden"),
        "{message}"
    );
    assert!(
        message.contains(&format!("system:serviceaccount:{ns}:deployer")),
        "{message}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "",
        "the dry run refuses the revision before any write"
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    assert!(secrets.get_opt("token").await.expect("get").is_none());

    std::fs::remove_file(repo.path().join("app/secret.yaml")).expect("rm");
    let c2 = repo.commit(&[], "cm only");
    sync_now(&env, &ns, "web").await;
    wait_app(
        &env.client,
        &ns,
        "web",
        "applied as the ServiceAccount",
        |a| applied(a).ends_with(&c2),
    )
    .await;
    assert_eq!(color(&env.client, &ns).await, "blue");
}
