//! cosign v3's default format: a Sigstore bundle (DSSE, in-toto statement with the cosign
//! signature predicate) attached to the digest as an OCI 1.1 referrer. `docker-registry` 2.8
//! has no referrers API, so cosign writes the referrers tag schema (`sha256-<hex>`, an index);
//! the referrers API path is exercised through the proxy, serving that same index.

use super::*;
use crate::hostile::Hostile;

struct V3 {
    c: Ctx,
    cosign3: Cosign,
    key: CosignKey,
    work: TempDir,
}

fn v3() -> V3 {
    let c = ctx();
    let work = TempDir::new("cosign3");
    let cosign3 = Cosign::v3(work.path());
    let key = cosign3.generate_key("v3");
    V3 {
        c,
        cosign3,
        key,
        work,
    }
}

/// The referrers tag schema index cosign v3 wrote for `digest`.
fn referrers_index(c: &Ctx, repo: &str, digest: &str) -> Value {
    let tag = format!("{}:{}", c.image(repo), digest.replacen(':', "-", 1));
    serde_json::from_str(&c.crane.manifest(&tag)).expect("referrers index")
}

fn verifier_for(host: &str) -> Verifier {
    Verifier::new(VerifierConfig {
        plain_http_registries: vec![host.to_owned()],
        ..VerifierConfig::default()
    })
}

#[tokio::test]
async fn an_image_signed_by_cosign_v3_with_default_settings_should_verify_and_be_pinned() {
    let t = v3();
    let image = t.c.image("app:v1");
    let digest = t.c.crane.push_random(&image);
    t.cosign3.sign_with(&image, &t.key, &[]);
    // What cosign v3 wrote: no legacy `.sig` tag; one bundle referrer in the tag schema.
    let index = referrers_index(&t.c, "app", &digest);
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["artifactType"],
        json!("application/vnd.dev.sigstore.bundle.v0.3+json")
    );

    let v = t.c.verify(&image, &[&t.key]).await.expect("verified");
    assert_eq!(v.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(v.reference, format!("{}@{digest}", t.c.image("app")));
    assert!(v.signer.is_some());
    let stats = t.c.verifier.stats();
    assert_eq!((stats.signature_fetches, stats.referrer_fetches), (1, 1));

    // Another key: refused; cosign v2's and v3's signatures side by side: either key passes.
    let other = t.cosign3.generate_key("other");
    let e = t.c.verify(&image, &[&other]).await.unwrap_err();
    assert_eq!(e.reason(), "UntrustedSignature", "{e}");
    let legacy_key = t.c.cosign.generate_key("legacy");
    t.c.cosign.sign(&image, &legacy_key);
    t.c.verify(&image, &[&legacy_key]).await.expect("legacy");
    t.c.verify(&image, &[&t.key]).await.expect("bundle");
    let _ = &t.work;
}

#[tokio::test]
async fn a_cosign_v3_bundle_moved_to_another_image_should_be_refused() {
    let t = v3();
    let signed = t.c.crane.push_random(&t.c.image("app:signed"));
    let unsigned = t.c.crane.push_random(&t.c.image("app:unsigned"));
    t.cosign3.sign_with(&t.c.image("app:signed"), &t.key, &[]);
    // The attacker lists the signed image's bundle as a referrer of the unsigned one.
    t.c.crane.copy(
        &format!("{}:{}", t.c.image("app"), signed.replacen(':', "-", 1)),
        &format!("{}:{}", t.c.image("app"), unsigned.replacen(':', "-", 1)),
    );
    let e =
        t.c.verify(&t.c.image("app:unsigned"), &[&t.key])
            .await
            .unwrap_err();
    assert_eq!(e.reason(), "UntrustedContent", "{e}");
    assert!(
        e.to_string().contains(&format!("has subject {signed}")),
        "{e}"
    );
    assert_eq!(e.retry_class(), RetryClass::Terminal);
}

#[tokio::test]
async fn a_tampered_cosign_v3_bundle_or_referrer_should_be_a_terminal_refusal() {
    let t = v3();
    let image = t.c.image("app:v1");
    let digest = t.c.crane.push_random(&image);
    t.cosign3.sign_with(&image, &t.key, &[]);
    let index = referrers_index(&t.c, "app", &digest);
    let referrer = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest: Value = serde_json::from_str(
        &t.c.crane
            .manifest(&format!("{}@{referrer}", t.c.image("app"))),
    )
    .unwrap();
    let bundle = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let hostile = Hostile::start(&t.c.registry.host);
    let through = format!("{}/app:v1", hostile.host);
    let other = t.c.crane.push_random(&t.c.image("app:other"));

    for attack in [
        json!({"path": format!("/v2/app/blobs/{bundle}"), "flip_last_byte": true}),
        json!({"path": format!("/v2/app/blobs/{bundle}"), "append": " "}),
        // The referrer manifest, asked by digest, served as other bytes.
        json!({"path": format!("/v2/app/manifests/{referrer}"),
               "serve": format!("/v2/app/manifests/{other}")}),
    ] {
        hostile.rules(json!([attack]));
        let e = verifier_for(&hostile.host)
            .verify(&through, &rule(&[&t.key]), &Credentials::none())
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "UntrustedContent", "{attack}: {e}");
        assert_eq!(e.retry_class(), RetryClass::Terminal);
    }

    // A registry with the referrers API (the proxy answers it with the index cosign wrote,
    // and hides the tag): the same verdict through the API.
    let tag = format!("/v2/app/manifests/{}", digest.replacen(':', "-", 1));
    hostile.rules(json!([
        {"path": format!("/v2/app/referrers/{digest}"), "serve": tag},
        {"path": tag, "status": 404},
    ]));
    let v = verifier_for(&hostile.host)
        .verify(&through, &rule(&[&t.key]), &Credentials::none())
        .await
        .expect("through the referrers API");
    assert_eq!(v.digest.as_deref(), Some(digest.as_str()));
    hostile.rules(json!([{"path": tag, "status": 404}]));
    let e = verifier_for(&hostile.host)
        .verify(&through, &rule(&[&t.key]), &Credentials::none())
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "NoSignature", "{e}");

    // A referrers API that fails (500) is a registry failure, retried, not a missing signature;
    // one that does not exist (405) falls back to the tag schema.
    hostile.rules(json!([{"path": format!("/v2/app/referrers/{digest}"), "status": 500}]));
    let e = verifier_for(&hostile.host)
        .verify(&through, &rule(&[&t.key]), &Credentials::none())
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "RegistryFailed", "{e}");
    assert_eq!(e.retry_class(), RetryClass::Transient);
    hostile.rules(json!([{"path": format!("/v2/app/referrers/{digest}"), "status": 405}]));
    verifier_for(&hostile.host)
        .verify(&through, &rule(&[&t.key]), &Credentials::none())
        .await
        .expect("405: the tag schema");
}

/// A private key made by openssl, imported with `cosign import-key-pair`.
fn openssl_key(cosign: &Cosign, dir: &std::path::Path, name: &str, args: &[&str]) -> CosignKey {
    let pem = dir.join(format!("{name}.pem"));
    let out = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&pem)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl genpkey {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cosign.import_key(&pem, name)
}

#[tokio::test]
async fn p384_ed25519_and_rsa_keys_should_verify_in_both_formats() {
    let t = v3();
    for (name, args) in [
        (
            "p384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
        ),
        ("ed25519", &["-algorithm", "ed25519"][..]),
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
    ] {
        let key = openssl_key(&t.cosign3, t.work.path(), name, args);
        KeySet::from_pems(&[&key.public_pem]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bundle_image = t.c.image(&format!("{name}:bundle"));
        t.c.crane.push_random(&bundle_image);
        t.cosign3.sign_with(&bundle_image, &key, &[]);
        let v = t.c.verify(&bundle_image, &[&key]).await;
        assert!(v.is_ok(), "{name}, cosign v3 bundle: {v:?}");

        let legacy_image = t.c.image(&format!("{name}:legacy"));
        t.c.crane.push_random(&legacy_image);
        t.cosign3
            .sign_with(&legacy_image, &key, &["--new-bundle-format=false"]);
        let v = t.c.verify(&legacy_image, &[&key]).await;
        assert!(v.is_ok(), "{name}, legacy .sig: {v:?}");

        let stranger = t.cosign3.generate_key(&format!("{name}-stranger"));
        let e = t.c.verify(&bundle_image, &[&stranger]).await.unwrap_err();
        assert_eq!(e.reason(), "UntrustedSignature", "{name}: {e}");
    }
}
