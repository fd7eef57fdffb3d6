//! SOPS files of every format (untrusted: they come from the repository), decrypted with the
//! fixtures' test keys so that mutations of the fixtures reach the cipher and the MAC.
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
    sops::fuzzing::decrypt_file(data, keys());
});
