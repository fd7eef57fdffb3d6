//! Runs the fuzz bodies of pi-sops on the files recorded by the real sops and on deterministic
//! mutations of them, on stable: no input may panic. `PI_AGENT_FUZZ_ITERATIONS` (default 300)
//! per seed for a longer run.

use std::path::PathBuf;

use pi_verify::fuzzing::Mutator;
use sops::Keyring;
use sops::fuzzing::{decrypt_file, keys, object};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap()
}

fn iterations() -> usize {
    std::env::var("PI_AGENT_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn keyring() -> Keyring {
    let mut k = Keyring::new();
    k.add_age_identities(
        "one",
        &String::from_utf8(fixture("keys/one.agekey")).unwrap(),
    )
    .unwrap();
    k
}

#[test]
fn encrypted_files_and_their_mutations_should_never_panic() {
    let k = keyring();
    let mut m = Mutator::new(0x5eed_5095);
    for f in [
        "secret.yaml",
        "types.yaml",
        "multi.yaml",
        "config.json",
        "app.env",
        "token.bin",
        "mac-only.yaml",
    ] {
        let seed = fixture(&format!("enc/{f}"));
        decrypt_file(&seed, &k);
        for _ in 0..iterations() {
            decrypt_file(&m.mutate(&seed), &k);
        }
    }
    decrypt_file("[".repeat(100_000).as_bytes(), &k);
    decrypt_file("{\"a\":".repeat(50_000).as_bytes(), &k);
    decrypt_file(b"", &k);
}

#[test]
fn objects_and_their_mutations_should_never_panic() {
    let k = keyring();
    let mut m = Mutator::new(0x5eed_5096);
    let secret =
        kustomize::yaml::parse_one(&String::from_utf8(fixture("enc/secret.yaml")).unwrap())
            .unwrap();
    let seeds = [
        serde_json::to_vec(&secret).unwrap(),
        br#"{"kind":"Secret","data":{"a.env":"c29wc19tYWM9RU5DW3g="}}"#.to_vec(),
    ];
    for seed in seeds {
        object(&seed, &k);
        for _ in 0..iterations() {
            object(&m.mutate(&seed), &k);
        }
    }
}

#[test]
fn key_material_and_its_mutations_should_never_panic() {
    let mut m = Mutator::new(0x5eed_5097);
    for f in ["keys/one.agekey", "keys/pgp.pub.asc"] {
        let seed = fixture(f);
        keys(&seed);
        for _ in 0..iterations().min(100) {
            keys(&m.mutate(&seed));
        }
    }
}
