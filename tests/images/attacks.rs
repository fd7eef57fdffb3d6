//! The three faults of issue 16, each as an attack: a registry that serves other manifest bytes
//! under a signed digest's header, a signature layer whose content does not match its digest,
//! and a signed image copied under another repository (which must pass).

use super::*;
use crate::hostile::Hostile;

/// A verifier that reaches `host` (the hostile proxy) over plain HTTP.
fn verifier_for(host: &str) -> Verifier {
    Verifier::new(VerifierConfig {
        plain_http_registries: vec![host.to_owned()],
        ..VerifierConfig::default()
    })
}

#[tokio::test]
async fn a_registry_that_serves_other_manifest_bytes_under_a_signed_digest_should_be_caught() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let signed = c.crane.push_random(&c.image("app:v1"));
    c.cosign.sign(&c.image("app:v1"), &key);
    let evil = c.crane.push_random(&c.image("app:evil"));
    let hostile = Hostile::start(&c.registry.host);
    let verifier = verifier_for(&hostile.host);
    let image = format!("{}/app:v1", hostile.host);

    // Transparent first: the proxy itself changes nothing.
    let v = verifier
        .verify(&image, &rule(&[&key]), &Credentials::none())
        .await
        .expect("through the proxy, untouched");
    assert_eq!(v.digest.as_deref(), Some(signed.as_str()));

    // The tag now serves the unsigned image's manifest, with the signed digest in
    // `Docker-Content-Digest`: the digest is the one of the bytes, which nobody signed.
    hostile.rules(
        json!([{"path": "/v2/app/manifests/v1", "serve": "/v2/app/manifests/evil",
                          "digest_header": signed}]),
    );
    let fresh = verifier_for(&hostile.host);
    let e = fresh
        .verify(&image, &rule(&[&key]), &Credentials::none())
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "NoSignature", "{e}");
    assert!(e.to_string().contains(&evil.replacen(':', "-", 1)), "{e}");
    assert_eq!(e.retry_class(), RetryClass::Terminal);

    // A rule that only pins: pinned to what the bytes are, never to the header's claim.
    let policy = policy_for(
        &hostile.host,
        &key,
        json!({"rules": [{"imageReferences": ["*"], "required": false}]}),
    );
    let mut objects = vec![deployment("web", &[&image])];
    check_objects(&fresh, &policy, &mut objects)
        .await
        .expect("pins only");
    assert_eq!(
        objects[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(format!("{}/app@{evil}", hostile.host))
    );
}

#[tokio::test]
async fn a_signature_layer_whose_content_does_not_match_its_digest_should_be_a_terminal_refusal() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let digest = c.crane.push_random(&c.image("app:v1"));
    c.cosign.sign(&c.image("app:v1"), &key);
    let manifest: Value =
        serde_json::from_str(&c.crane.manifest(&sig_tag(&c.image("app"), &digest))).unwrap();
    let payload = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let hostile = Hostile::start(&c.registry.host);
    let image = format!("{}/app:v1", hostile.host);
    let blob = format!("/v2/app/blobs/{payload}");

    for (attack, expected) in [
        (
            json!({"path": blob, "flip_last_byte": true}),
            "has content sha256:",
        ),
        (json!({"path": blob, "append": "x"}), "its descriptor says"),
    ] {
        hostile.rules(json!([attack]));
        let e = verifier_for(&hostile.host)
            .verify(&image, &rule(&[&key]), &Credentials::none())
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "UntrustedContent", "{e}");
        assert_eq!(
            e.retry_class(),
            RetryClass::Terminal,
            "tampering is not retried"
        );
        assert!(
            e.to_string().starts_with(&format!(
                "image {image}: registry `{}` served untrusted content: blob {payload}",
                hostile.host
            )) && e.to_string().contains(expected),
            "{e}"
        );
    }
    hostile.rules(json!([]));
    verifier_for(&hostile.host)
        .verify(&image, &rule(&[&key]), &Credentials::none())
        .await
        .expect("untouched, it verifies");
}

#[tokio::test]
async fn an_image_copied_with_its_signature_to_another_repository_should_verify() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let digest = c.crane.push_random(&c.image("team/app:v1"));
    c.cosign.sign(&c.image("team/app:v1"), &key);
    // How images reach the secondary registry: `cosign copy`, signatures included; the
    // payload still names `team/app`.
    let copy = c.image("certified/app:v1");
    c.cosign.copy(&c.image("team/app:v1"), &copy);
    let v = c.verify(&copy, &[&key]).await.expect("the copy verifies");
    assert_eq!(v.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(
        v.reference,
        format!("{}@{digest}", c.image("certified/app"))
    );
    assert!(c.cosign.verify(&copy, &key), "cosign accepts the copy too");

    // The digest stays strict: the copy's tag moved to another image is refused, and the
    // copied signature put at that image's signature tag names the wrong digest.
    let other = c.crane.push_random(&copy);
    c.crane.copy(
        &sig_tag(&c.image("certified/app"), &digest),
        &sig_tag(&c.image("certified/app"), &other),
    );
    let e = c.verify(&copy, &[&key]).await.unwrap_err();
    assert_eq!(
        e,
        ImageError::DigestMismatch {
            image: copy.clone(),
            digest: other,
            signed: digest,
        }
    );
}
