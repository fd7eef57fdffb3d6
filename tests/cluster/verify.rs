//! Fail-closed source verification end to end: commits signed with keys made by the real
//! `ssh-keygen`, signed by the real `git`, and the cluster checked unchanged after each refusal.

use super::*;

fn verified(app: &Application) -> Option<(String, String, String)> {
    let c = app
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "SourceVerified")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn refused_revision(env: &Env, ns: &str, commit: &str) -> String {
    sync_now(env, ns, "web").await;
    let app = wait_app(&env.client, ns, "web", "revision refused", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_attempted_revision.as_deref())
            .is_some_and(|r| r.ends_with(commit))
            && ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "SourceVerificationFailed", "{message}");
    assert!(verified(&app).is_some_and(|(s, _, _)| s == "False"));
    message
}

pub async fn a_signed_commit_is_verified_and_applied(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-signed").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "signed");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    let app = wait_applied(&env.client, &ns, "web", "applied", &c1).await;
    let (status, reason, message) = verified(&app).expect("SourceVerified");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Succeeded"));
    assert!(
        message.contains("signed by developer@example.com") && message.contains("SHA256:"),
        "{message}"
    );
}

pub async fn unsigned_and_untrusted_commits_are_refused_and_nothing_changes(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-unsigned").await;
    let mut repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "signed");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "applied", &c1).await;

    // Unsigned.
    repo.sign_with(None);
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "unsigned");
    let message = refused_revision(&env, &ns, &c2).await;
    assert!(
        message.contains(&c2[..12]) && message.contains("not signed"),
        "{message}"
    );
    assert_eq!(
        color(&env.client, &ns).await,
        "blue",
        "the cluster keeps the last verified revision"
    );

    // Signed by a key nobody trusts.
    let dir = TempDir::new("intruder");
    let intruder = SshSigner::generate(dir.path(), "intruder", "intruder@example.com");
    repo.sign_with(Some(&intruder));
    let c3 = repo.commit(
        &[("app/cm.yaml", CM_V2.replace("green", "black").as_str())],
        "untrusted",
    );
    let message = refused_revision(&env, &ns, &c3).await;
    assert!(message.contains(&c3[..12]), "{message}");
    assert_eq!(color(&env.client, &ns).await, "blue");
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    assert!(applied(&api.get("web").await.expect("get")).ends_with(&c1));

    // A trusted commit on top is accepted again (HEAD mode verifies the head only).
    repo.sign_with(Some(signer()));
    let c4 = repo.commit(&[("app/cm.yaml", CM_V2)], "signed again");
    sync_now(&env, &ns, "web").await;
    wait_applied(&env.client, &ns, "web", "signed head applied", &c4).await;
    assert_eq!(color(&env.client, &ns).await, "green");
}

pub async fn all_since_refuses_an_unsigned_commit_in_the_middle(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-all-since").await;
    let mut repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "signed");
    create_app_spec(&env.client, &ns, "web", json!({"verify": {"mode": "AllSince", "allowedSigners": {"secretRef": {"name": "git-signers", "key": "allowed_signers"}}},
                 "source": {"url": repo.url(), "path": "app", "interval": "1h"}})).await;
    wait_applied(&env.client, &ns, "web", "applied", &c1).await;
    repo.sign_with(None);
    let sneaked = repo.commit(&[("app/cm.yaml", CM_V2)], "unsigned in the middle");
    repo.sign_with(Some(signer()));
    let c3 = repo.commit(
        &[(
            "app/other.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
        )],
        "signed on top",
    );
    let message = refused_revision(&env, &ns, &c3).await;
    assert!(
        message.contains(&sneaked[..12]),
        "the unsigned commit must be named: {message}"
    );
    assert_eq!(color(&env.client, &ns).await, "blue");
}

pub async fn a_rollback_is_refused_unless_allowed(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-rollback").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let c2 = repo.commit(&[("app/cm.yaml", CM_V2)], "v2");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    wait_applied(&env.client, &ns, "web", "v2 applied", &c2).await;
    // The branch is forced back to v1: signed, but not a descendant of what was applied.
    repo.git(&["reset", "-q", "--hard", &c1]);
    let message = refused_revision(&env, &ns, &c1).await;
    assert!(
        message.contains("does not descend") && message.contains("allowRollback"),
        "{message}"
    );
    assert_eq!(color(&env.client, &ns).await, "green");

    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"verify": {"allowRollback": true}}})),
    )
    .await
    .expect("allow rollback");
    wait_applied(&env.client, &ns, "web", "rollback applied", &c1).await;
    assert_eq!(color(&env.client, &ns).await, "blue");
}

pub async fn no_trust_material_fails_closed_and_mode_none_warns(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-no-trust").await;
    let repo = signed_repo();
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "v1");
    let api: Api<Application> = Api::namespaced(env.client.clone(), &ns);
    create_app_spec(
        &env.client,
        &ns,
        "web",
        json!({"source": {"url": repo.url(), "path": "app", "interval": "1h"}}),
    )
    .await;
    let app = wait_app(&env.client, &ns, "web", "refusal", |a| {
        ready(a).is_some_and(|(s, _, _)| s == "False")
    })
    .await;
    let (_, reason, message) = ready(&app).expect("Ready");
    assert_eq!(reason, "SourceVerificationFailed");
    assert!(
        message.contains("no trust material") && message.contains("mode: None"),
        "{message}"
    );
    assert_eq!(color(&env.client, &ns).await, "");

    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"verify": {"mode": "None"}}})),
    )
    .await
    .expect("mode None");
    let app = wait_applied(&env.client, &ns, "web", "applied unverified", &c1).await;
    let (status, reason, _) = verified(&app).expect("SourceVerified");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "VerificationDisabled")
    );
}

pub async fn a_rotated_trust_secret_applies_without_a_restart_or_a_sync(env: Arc<Env>) {
    let ns = namespace(&env.client, "t-rotate").await;
    // The developer signs with a new key the Secret does not trust yet.
    let dir = TempDir::new("rotated");
    let new_key = SshSigner::generate(dir.path(), "new", "new@example.com");
    let mut repo = signed_repo();
    repo.sign_with(Some(&new_key));
    let c1 = repo.commit(&[("app/cm.yaml", CM_V1)], "signed with the new key");
    create_app(&env.client, &ns, "web", &repo.url(), "1h").await;
    let message = {
        let app = wait_app(&env.client, &ns, "web", "refused", |a| {
            ready(a).is_some_and(|(s, _, _)| s == "False")
        })
        .await;
        ready(&app).expect("Ready").2
    };
    assert!(message.contains(&c1[..12]), "{message}");

    // The operator adds the new key to the Secret: no restart, no sync request, a 1h interval.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client.clone(), &ns);
    let both = format!(
        "{}{}",
        signer().allowed_signers_line(),
        new_key.allowed_signers_line()
    );
    secrets
        .patch(
            "git-signers",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"allowed_signers": both}})),
        )
        .await
        .expect("rotate");
    wait_app(
        &env.client,
        &ns,
        "web",
        "applied after the Secret changed",
        |a| applied(a).ends_with(&c1),
    )
    .await;
}
