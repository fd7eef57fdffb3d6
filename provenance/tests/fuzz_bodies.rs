//! Runs the fuzz bodies (`provenance::fuzzing`) on fixtures and on deterministic mutations of
//! them, on stable: no input may panic.

use provenance::fuzzing;

/// A public key made by cosign v2.6.5 (`cosign generate-key-pair`).
const COSIGN_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXEaUQZfn7sIUJ9m3KtP2CHaFyGSA
NJjX0V2+sA2Z36utBEF5YcjIOAgCx5yN6RQx6XNE0mzoZUgZFaqVn6CVnQ==
-----END PUBLIC KEY-----
";

/// The payload cosign v2.6.5 signed for an image of a loopback registry.
const PAYLOAD: &str = r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},"image":{"docker-manifest-digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},"type":"cosign container image signature"},"optional":null}"#;

const DOCKER_CONFIG: &str = r#"{"auths":{"registry.example":{"auth":"YWxpY2U6czNjcjN0"},"https://index.docker.io/v1/":{"username":"bob","password":"pw"},"127.0.0.1:5000":{"registrytoken":"tok"}}}"#;

const REFERENCE: &str = "registry.example/team-a/*\nregistry.example/team-a/app:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const OBJECT: &str = r#"{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"image":"a:1"}],"containers":[{"image":"b"}]}}}}}}"#;

/// `PI_PROVENANCE_FUZZ_ITERATIONS` (default 300) mutations per input.
fn iterations() -> usize {
    std::env::var("PI_PROVENANCE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

type Body = fn(&[u8]);

#[test]
fn fuzz_bodies_should_not_panic_on_fixtures_and_their_mutations() {
    let mut rng = pi_verify::fuzzing::Mutator::new(0x9E37_79B9_7F4A_7C15);
    let n = iterations();
    let bodies: [(Body, &str); 7] = [
        (
            fuzzing::bundle,
            include_str!("fixtures/cosign3/p256.bundle.json"),
        ),
        (
            fuzzing::bundle,
            include_str!("fixtures/cosign3/ed25519.bundle.json"),
        ),
        (fuzzing::payload, PAYLOAD),
        (fuzzing::public_keys, COSIGN_PUB),
        (fuzzing::docker_config, DOCKER_CONFIG),
        (fuzzing::reference, REFERENCE),
        (fuzzing::reference, OBJECT),
    ];
    for (body, seed) in bodies {
        body(seed.as_bytes());
        for _ in 0..n {
            body(&rng.mutate(seed.as_bytes()));
        }
    }
}

#[test]
fn the_fixtures_should_parse() {
    assert_eq!(
        provenance::keys::parse_public_keys(COSIGN_PUB)
            .unwrap()
            .len(),
        1
    );
    assert!(provenance::payload::parse_payload(PAYLOAD.as_bytes()).is_ok());
    let creds = provenance::Credentials::from_docker_config_json(DOCKER_CONFIG.as_bytes()).unwrap();
    assert_eq!(creds.hosts().count(), 3);
}
