//! Image provenance end to end: a Deployment whose image is not signed by a trusted key never
//! reaches the cluster; a signed one is applied pinned to the digest that was verified.

use super::*;
use harness::registry::{Cosign, Crane};
use k8s_openapi::api::core::v1::Secret;

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

pub async fn an_unsigned_image_never_reaches_the_cluster_and_a_signed_one_is_pinned(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-images").await;
    let work = TempDir::new("images-e2e");
    let (crane, cosign) = (Crane::new(work.path()), Cosign::new(work.path()));
    let registry = &env.registry.host;
    let unsigned = format!("{registry}/team-a/web:v1");
    let signed = format!("{registry}/team-a/web:v2");
    crane.push_random(&unsigned);
    let digest = crane.push_random(&signed);
    let key = cosign.generate_key("region");
    cosign.sign(&signed, &key);
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "cosign"},
                "stringData": {"cosign.pub": key.public_pem}}))
            .expect("secret"),
        )
        .await
        .expect("secret");

    let repo = signed_repo();
    let c1 = repo.commit(
        &[
            ("app/cm.yaml", CM_V1),
            ("app/deploy.yaml", &deployment(&unsigned)),
        ],
        "unsigned image",
    );
    let images = json!({
        "allowedRegistries": [registry],
        "rules": [{"imageReferences": [format!("{registry}/team-a/*")],
                   "keys": [{"secretRef": {"name": "cosign", "key": "cosign.pub"}}]}]
    });
    create_app_spec(
        &env.client,
        &ns,
        "web",
        json!({"verify": verify_spec(), "images": images,
               "source": {"url": repo.url(), "path": "app", "interval": "1h"}}),
    )
    .await;
    let refused = wait_app(&env.client, &ns, "web", "unsigned image refused", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&refused).expect("Ready");
    assert_eq!(reason, "ImageVerificationFailed", "{message}");
    assert!(message.contains(&unsigned), "{message}");
    assert!(
        refused
            .status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(&c1))
    );
    // Nothing of that revision was applied, not even the ConfigMap beside the Deployment.
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    assert!(deployments.get_opt("web").await.expect("get").is_none());
    assert!(cms.get_opt("settings").await.expect("get").is_none());

    // A registry outside the allowed ones is refused too, naming the registry rule.
    let c2 = repo.commit(
        &[(
            "app/deploy.yaml",
            &deployment("docker.io/library/nginx:1.27"),
        )],
        "image from elsewhere",
    );
    sync_now(&env, &ns, "web").await;
    let elsewhere = wait_app(&env.client, &ns, "web", "foreign registry refused", |a| {
        applied_or_attempted(a).ends_with(&c2) && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&elsewhere).expect("Ready");
    assert_eq!(reason, "ImageVerificationFailed", "{message}");
    assert!(message.contains("docker.io/library/nginx"), "{message}");

    // Signed: applied, with the image pinned to the verified digest.
    let c3 = repo.commit(&[("app/deploy.yaml", &deployment(&signed))], "signed image");
    sync_now(&env, &ns, "web").await;
    let app = wait_applied(&env.client, &ns, "web", "signed image applied", &c3).await;
    let live = deployments.get("web").await.expect("deployment");
    let image = live.spec.template.spec.expect("pod spec").containers[0]
        .image
        .clone()
        .unwrap_or_default();
    assert_eq!(image, format!("{registry}/team-a/web@{digest}"));
    let verified = app
        .status
        .unwrap_or_default()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "ImagesVerified")
        .expect("ImagesVerified");
    assert_eq!(verified.status, "True", "{}", verified.message);
    assert!(
        verified.message.contains("1 signed"),
        "{}",
        verified.message
    );
}

fn applied_or_attempted(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.last_attempted_revision.clone())
        .unwrap_or_default()
}
