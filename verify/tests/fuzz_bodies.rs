//! Runs the fuzz bodies (`pi_verify::fuzzing`) on the recorded fixtures and on deterministic
//! mutations of them, on stable: no input may panic, and no change to signed bytes may pass.

use pi_verify::{
    AllowedSigners, OpenPgpKeyring, TrustPolicy, fuzzing, parse_commit, verify_commit,
};
use std::path::PathBuf;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap_or_else(|e| {
        panic!("{path}: {e} (regenerate with `bash verify/tests/fixtures/record.sh`)")
    })
}

/// Mutations per input: `PI_VERIFY_FUZZ_ITERATIONS` (default 150) for a longer run, e.g.
/// `PI_VERIFY_FUZZ_ITERATIONS=20000 cargo test --release --test fuzz_bodies`.
fn iterations() -> usize {
    std::env::var("PI_VERIFY_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn signature_of(commit: &str) -> Vec<u8> {
    parse_commit(&fixture(commit)).unwrap().signature
}

#[test]
fn fuzz_bodies_should_not_panic_on_fixtures_and_their_mutations() {
    let mut rng = fuzzing::Mutator::new(0x9E37_79B9_7F4A_7C15);
    let ssh_sigs = [
        "ssh/ed25519.commit",
        "ssh/ecdsa256.commit",
        "ssh/ecdsa384.commit",
        "ssh/rsa.commit",
    ]
    .map(signature_of);
    let signers = fixture("ssh/allowed_signers");
    let keyring = fixture("pgp/ed25519.asc");
    let pgp_sig = signature_of("pgp/ed25519.commit");
    let mut pgp_input = keyring.clone();
    pgp_input.push(0);
    pgp_input.extend_from_slice(&pgp_sig);
    let objects = [
        fixture("ssh/ed25519.commit"),
        fixture("pgp/ed25519.tag"),
        fixture("ssh/ed25519.tag"),
    ];

    let n = iterations();
    for sig in &ssh_sigs {
        fuzzing::ssh_signature(sig);
        for _ in 0..n {
            fuzzing::ssh_signature(&rng.mutate(sig));
        }
    }
    fuzzing::allowed_signers(&signers);
    for _ in 0..2 * n {
        fuzzing::allowed_signers(&rng.mutate(&signers));
    }
    fuzzing::openpgp(&pgp_input);
    // Keyring parsing checks every self-signature: keep the count modest for debug builds.
    for _ in 0..n.div_ceil(3) {
        fuzzing::openpgp(&rng.mutate(&pgp_input));
    }
    for object in &objects {
        fuzzing::git_object(object);
        for _ in 0..n {
            fuzzing::git_object(&rng.mutate(object));
        }
    }
}

#[test]
fn any_change_to_signed_bytes_should_be_refused() {
    let policy = TrustPolicy {
        allowed_signers: Some(
            AllowedSigners::parse(&String::from_utf8(fixture("ssh/allowed_signers")).unwrap())
                .unwrap(),
        ),
        openpgp: Some(
            OpenPgpKeyring::parse(&String::from_utf8(fixture("pgp/keyring.asc")).unwrap()).unwrap(),
        ),
        allowed_identities: Vec::new(),
    };
    let mut rng = fuzzing::Mutator::new(42);
    for name in [
        "ssh/ed25519.commit",
        "ssh/ecdsa256.commit",
        "pgp/ed25519.commit",
    ] {
        let raw = fixture(name);
        let original = parse_commit(&raw).unwrap();
        assert!(verify_commit(&raw, &policy).is_ok(), "{name}");
        for _ in 0..iterations() + 50 {
            let mutated = rng.mutate(&raw);
            let changed_payload = match parse_commit(&mutated) {
                Ok(obj) => obj.payload != original.payload,
                Err(_) => true,
            };
            if changed_payload {
                assert!(
                    verify_commit(&mutated, &policy).is_err(),
                    "{name}: a mutation of the signed bytes verified:\n{}",
                    String::from_utf8_lossy(&mutated)
                );
            }
        }
    }
}
