//! Rendered objects carrying `sops` metadata or encrypted Secret entries.
#![no_main]

use std::sync::OnceLock;

fn keys() -> &'static sops::Keyring {
    static KEYS: OnceLock<sops::Keyring> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut k = sops::Keyring::new();
        let _ = k.add_age_identities("one", include_str!("../../tests/fixtures/keys/one.agekey"));
        k
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sops::fuzzing::object(data, keys());
});
