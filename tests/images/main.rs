//! Image provenance against a real registry (Debian's `docker-registry`, distribution 2.8) on
//! loopback, with images pushed by the real `crane` and signed by the real `cosign` (key-based).
//! Every check has its attack: a case that must be refused, with the objects left unchanged.
//!
//! Each test starts its own registry and stops it (by PID) when it ends, even on failure.

use base64::Engine;
use harness::TempDir;
use harness::registry::{Cosign, CosignKey, Crane, Registry};
use provenance::{
    Credentials, ImageError, ImagePolicy, KeySet, ResolvedPolicy, ResolvedRule, RetryClass,
    Verifier, VerifierConfig, check_objects,
};
use serde_json::{Value, json};
use std::process::Command;

mod attacks;
mod bundles;
mod hostile;

struct Ctx {
    registry: Registry,
    crane: Crane,
    cosign: Cosign,
    verifier: Verifier,
    _work: TempDir,
}

fn ctx() -> Ctx {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = TempDir::new("images");
    let registry = Registry::start();
    let verifier = Verifier::new(VerifierConfig {
        plain_http_registries: vec![registry.host.clone()],
        ..VerifierConfig::default()
    });
    Ctx {
        crane: Crane::new(work.path()),
        cosign: Cosign::new(work.path()),
        registry,
        verifier,
        _work: work,
    }
}

impl Ctx {
    fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.host)
    }

    async fn verify(
        &self,
        image: &str,
        keys: &[&CosignKey],
    ) -> Result<provenance::Verified, ImageError> {
        self.verifier
            .verify(image, &rule(keys), &Credentials::none())
            .await
    }
}

fn rule(keys: &[&CosignKey]) -> ResolvedRule {
    let pems: Vec<&str> = keys.iter().map(|k| k.public_pem.as_str()).collect();
    ResolvedRule::for_keys(KeySet::from_pems(&pems).expect("cosign public keys parse"))
}

fn sig_tag(repo: &str, digest: &str) -> String {
    format!("{repo}:{}.sig", digest.replacen(':', "-", 1))
}

#[tokio::test]
async fn an_image_signed_by_tag_should_verify_by_tag_and_by_digest_and_be_pinned() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    let digest = c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    assert!(c.cosign.verify(&image, &key), "cosign itself verifies it");

    let v = c.verify(&image, &[&key]).await.expect("verified by tag");
    assert_eq!(v.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(v.reference, format!("{}@{digest}", c.image("app")));
    assert!(v.signer.is_some() && !v.cached);

    let by_digest = format!("{}@{digest}", c.image("app"));
    let v = c
        .verify(&by_digest, &[&key])
        .await
        .expect("verified by digest");
    assert_eq!(v.reference, by_digest);
}

#[tokio::test]
async fn an_image_signed_by_digest_should_verify() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let digest = c.crane.push_random(&c.image("app:v1"));
    c.cosign.sign(&format!("{}@{digest}", c.image("app")), &key);
    let v = c
        .verify(&c.image("app:v1"), &[&key])
        .await
        .expect("verified");
    assert_eq!(v.digest, Some(digest));
}

#[tokio::test]
async fn an_unsigned_image_should_be_refused() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    let digest = c.crane.push_random(&image);
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "image {image}: no cosign signature (tag {}.sig not found, no Sigstore bundle among the referrers)",
            digest.replacen(':', "-", 1)
        )
    );
    assert_eq!(e.retry_class(), RetryClass::Terminal);
}

#[tokio::test]
async fn an_image_signed_by_another_key_should_be_refused() {
    let c = ctx();
    let trusted = c.cosign.generate_key("trusted");
    let other = c.cosign.generate_key("other");
    let image = c.image("app:v1");
    c.crane.push_random(&image);
    c.cosign.sign(&image, &other);
    let e = c.verify(&image, &[&trusted]).await.unwrap_err();
    assert_eq!(e.reason(), "UntrustedSignature", "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("image {image}: not signed by a trusted key")),
        "{e}"
    );
}

#[tokio::test]
async fn a_signature_copied_from_another_image_should_be_refused() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let signed = c.image("app:signed");
    let unsigned = c.image("app:unsigned");
    let signed_digest = c.crane.push_random(&signed);
    let unsigned_digest = c.crane.push_random(&unsigned);
    c.cosign.sign(&signed, &key);
    // The attacker puts the good image's signature manifest at the other image's signature tag.
    c.crane.copy(
        &sig_tag(&c.image("app"), &signed_digest),
        &sig_tag(&c.image("app"), &unsigned_digest),
    );
    let e = c.verify(&unsigned, &[&key]).await.unwrap_err();
    assert_eq!(
        e,
        ImageError::DigestMismatch {
            image: unsigned.clone(),
            digest: unsigned_digest,
            signed: signed_digest,
        }
    );
}

#[tokio::test]
async fn a_tag_moved_to_an_unsigned_image_after_signing_should_be_refused() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    let first = c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    c.verify(&image, &[&key]).await.expect("signed at first");
    let moved = c.crane.push_random(&image);
    assert_ne!(first, moved);
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(e.reason(), "NoSignature", "{e}");
    assert!(e.to_string().contains(&moved.replacen(':', "-", 1)), "{e}");
    // What was signed still verifies by digest.
    c.verify(&format!("{}@{first}", c.image("app")), &[&key])
        .await
        .expect("the signed digest");
}

#[tokio::test]
async fn one_good_signature_among_several_should_be_enough() {
    let c = ctx();
    let trusted = c.cosign.generate_key("trusted");
    let other = c.cosign.generate_key("other");
    let image = c.image("app:v1");
    let digest = c.crane.push_random(&image);
    c.cosign.sign(&image, &other);
    c.cosign.sign(&image, &trusted);
    let manifest: Value =
        serde_json::from_str(&c.crane.manifest(&sig_tag(&c.image("app"), &digest))).unwrap();
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(2));
    let v = c
        .verify(&image, &[&trusted])
        .await
        .expect("one good signature");
    let trusted_id = KeySet::from_pems(&[&trusted.public_pem]).unwrap().keys()[0]
        .id()
        .to_owned();
    assert_eq!(v.signer, Some(trusted_id));
    // Neither key alone is confused by the other's layer; a third key is refused.
    c.verify(&image, &[&other])
        .await
        .expect("the other key's signature");
    let third = c.cosign.generate_key("third");
    assert_eq!(
        c.verify(&image, &[&third]).await.unwrap_err().reason(),
        "UntrustedSignature"
    );
}

#[tokio::test]
async fn a_corrupted_signature_should_be_refused() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    let digest = c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    let sig = sig_tag(&c.image("app"), &digest);
    let original = c.crane.manifest(&sig);
    let annotation: Value = serde_json::from_str(&original).unwrap();
    let encoded = annotation["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not base64 at all.
    c.crane
        .put_manifest(&sig, &original.replace(&encoded, "bm90IGEgc2lnbmF0dXJl!!"));
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(e.reason(), "MalformedSignature", "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("image {image}: corrupted signature")),
        "{e}"
    );

    // Base64 of a mangled DER structure.
    let mut bytes = b64_decode(&encoded);
    bytes[0] = 0x31;
    c.crane
        .put_manifest(&sig, &original.replace(&encoded, &b64_encode(&bytes)));
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(e.reason(), "MalformedSignature", "{e}");

    // One bit of `s` flipped: well-formed, but it no longer verifies.
    let mut bytes = b64_decode(&encoded);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    c.crane
        .put_manifest(&sig, &original.replace(&encoded, &b64_encode(&bytes)));
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(e.reason(), "UntrustedSignature", "{e}");

    // Restored, it verifies again: the refusals were about the corruption.
    c.crane.put_manifest(&sig, &original);
    c.verify(&image, &[&key]).await.expect("restored");
}

#[tokio::test]
async fn an_image_index_should_be_pinned_to_the_index_digest_it_was_signed_at() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let amd64 = c.crane.push_random(&c.image("app:amd64"));
    let arm64 = c.crane.push_random(&c.image("app:arm64"));
    let index = c.image("app:multi");
    let index_digest = c.crane.index(
        &index,
        &[
            &format!("{}@{amd64}", c.image("app")),
            &format!("{}@{arm64}", c.image("app")),
        ],
    );
    assert_eq!(c.crane.digest(&index), index_digest);
    // Signing a child does not sign the index.
    c.cosign.sign(&c.image("app:amd64"), &key);
    assert_eq!(
        c.verify(&index, &[&key]).await.unwrap_err().reason(),
        "NoSignature"
    );
    c.cosign.sign(&index, &key);
    let v = c.verify(&index, &[&key]).await.expect("signed index");
    assert_eq!(v.digest.as_deref(), Some(index_digest.as_str()));
    assert_eq!(v.reference, format!("{}@{index_digest}", c.image("app")));
}

#[tokio::test]
async fn a_registry_that_is_down_should_be_a_transient_refusal() {
    let mut c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    c.registry.stop();
    let e = c.verify(&image, &[&key]).await.unwrap_err();
    assert_eq!(e.reason(), "RegistryUnreachable", "{e}");
    assert_eq!(e.retry_class(), RetryClass::Transient);
    assert!(
        e.to_string().starts_with(&format!(
            "image {image}: registry `{}` unreachable",
            c.registry.host
        )),
        "{e}"
    );
}

fn deployment(name: &str, images: &[&str]) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"template": {"spec": {"containers": images.iter().enumerate()
               .map(|(i, image)| json!({"name": format!("c{i}"), "image": image})).collect::<Vec<_>>()}}}})
}

fn policy(c: &Ctx, key: &CosignKey, extra: Value) -> ResolvedPolicy {
    policy_for(&c.registry.host, key, extra)
}

fn policy_for(host: &str, key: &CosignKey, extra: Value) -> ResolvedPolicy {
    let mut spec = json!({
        "rules": [{"imageReferences": [format!("{host}/*")],
                   "keys": [{"secretRef": {"name": "cosign", "key": "cosign.pub"}}]}]
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let policy: ImagePolicy = serde_json::from_value(spec).expect("policy");
    ResolvedPolicy::resolve(
        &policy,
        |_| Ok::<_, String>(key.public_pem.clone()),
        Credentials::none(),
    )
    .expect("resolved")
}

#[tokio::test]
async fn an_image_outside_the_allowed_registries_should_be_refused_without_a_request() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    let policy = policy(&c, &key, json!({"allowedRegistries": ["registry.example"]}));
    let mut objects = vec![deployment("web", &[&image])];
    let before = objects.clone();
    let e = check_objects(&c.verifier, &policy, &mut objects)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "image {image}: registry `{}` is not allowed (allowed: `registry.example`)",
            c.registry.host
        )
    );
    assert_eq!(objects, before);
    assert_eq!(c.registry.requests_by_verifier("/v2/"), 0);
}

#[tokio::test]
async fn check_objects_should_pin_every_image_or_change_nothing() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let web = c.image("web:v1");
    let worker = c.image("worker:v1");
    let web_digest = c.crane.push_random(&web);
    let worker_digest = c.crane.push_random(&worker);
    c.cosign.sign(&web, &key);
    c.cosign.sign(&worker, &key);
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": web}],
            "containers": [{"name": "job", "image": worker}]}}}}}});
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": web}});
    let mut objects = vec![deployment("web", &[&web, &worker]), cron, config.clone()];
    let policy = policy(&c, &key, json!({"allowedRegistries": [c.registry.host]}));
    let verified = check_objects(&c.verifier, &policy, &mut objects)
        .await
        .expect("all signed");
    assert_eq!(verified.len(), 2, "deduplicated");
    let web_pinned = format!("{}@{web_digest}", c.image("web"));
    let worker_pinned = format!("{}@{worker_digest}", c.image("worker"));
    assert_eq!(
        objects[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(web_pinned)
    );
    assert_eq!(
        objects[0]["spec"]["template"]["spec"]["containers"][1]["image"],
        json!(worker_pinned)
    );
    let job = &objects[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(job["initContainers"][0]["image"], json!(web_pinned));
    assert_eq!(job["containers"][0]["image"], json!(worker_pinned));
    assert_eq!(objects[2], config, "not a workload");

    // One unsigned image among signed ones: refused, nothing rewritten.
    let unsigned = c.image("unsigned:v1");
    c.crane.push_random(&unsigned);
    let mut objects = vec![
        deployment("web", &[&web]),
        deployment("other", &[&unsigned]),
    ];
    let before = objects.clone();
    let e = check_objects(&c.verifier, &policy, &mut objects)
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "NoSignature");
    assert_eq!(e.image(), unsigned);
    assert_eq!(objects, before);

    // A rule that requires no signature still pins; one that does not mutate leaves the tag.
    let open: ImagePolicy = serde_json::from_value(json!({"rules": [
        {"imageReferences": [format!("{}/unsigned*", c.registry.host)], "required": false},
        {"imageReferences": ["*"], "required": false, "mutateDigest": false}]}))
    .unwrap();
    let open = ResolvedPolicy::resolve(&open, |_| Err::<String, _>("no keys"), Credentials::none())
        .unwrap();
    let mut objects = vec![deployment("web", &[&web, &unsigned])];
    check_objects(&c.verifier, &open, &mut objects)
        .await
        .expect("nothing required");
    let containers = &objects[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], json!(web));
    assert!(
        containers[1]["image"]
            .as_str()
            .unwrap()
            .contains("/unsigned@sha256:")
    );
}

#[tokio::test]
async fn a_second_verification_should_be_served_from_the_cache() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let image = c.image("app:v1");
    c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    let first = c.verify(&image, &[&key]).await.expect("first");
    assert!(!first.cached);
    let sig_requests = c.registry.requests_by_verifier(".sig ");
    assert!(
        sig_requests >= 1,
        "the first verification fetched the signature"
    );
    let blob_requests = c.registry.requests_by_verifier("/blobs/");
    let second = c.verify(&image, &[&key]).await.expect("second");
    assert!(second.cached);
    assert_eq!(second.reference, first.reference);
    assert_eq!(
        c.registry.requests_by_verifier(".sig "),
        sig_requests,
        "no signature fetch"
    );
    assert_eq!(
        c.registry.requests_by_verifier("/blobs/"),
        blob_requests,
        "no payload fetch"
    );
    let stats = c.verifier.stats();
    assert_eq!((stats.signature_fetches, stats.cache_hits), (1, 1));
    // The tag is resolved again (tags move); another key set is not served the verdict.
    assert_eq!(stats.tag_resolutions, 2);
    let other = c.cosign.generate_key("other");
    let e = c.verify(&image, &[&other]).await.unwrap_err();
    assert_eq!(e.reason(), "UntrustedSignature");
}

fn pi_agent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(harness::agent::binary())
        .args(args)
        .output()
        .expect("pi-agent (cargo build -p pi-agent)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn verify_image_cli_should_exit_0_1_or_2() {
    let c = ctx();
    let key = c.cosign.generate_key("release");
    let other = c.cosign.generate_key("other");
    let image = c.image("app:v1");
    let digest = c.crane.push_random(&image);
    c.cosign.sign(&image, &key);
    let key_file = key.public.to_str().unwrap();
    let (code, out, err) = pi_agent(&["verify-image", &image, "--key", key_file, "--plain-http"]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("{}@{digest}", c.image("app")).as_str()),
        "{err}"
    );

    let other_file = other.public.to_str().unwrap();
    let (code, out, _) = pi_agent(&["verify-image", &image, "--key", other_file, "--plain-http"]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!(
            "rejected: image {image}: not signed by a trusted key"
        )),
        "{out}"
    );

    let (code, out, _) = pi_agent(&[
        "verify-image",
        &image,
        "--key",
        key_file,
        "--plain-http",
        "--allowed-registry",
        "registry.example",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("is not allowed"), "{out}");

    let (code, _, err) = pi_agent(&[
        "verify-image",
        &image,
        "--key",
        "/nonexistent.pub",
        "--plain-http",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: cannot read `/nonexistent.pub`"),
        "{err}"
    );
    let (code, _, err) = pi_agent(&["verify-image", &image, "--key", key.key.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("private key"), "{err}");
}

fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("cosign writes base64")
}

fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
