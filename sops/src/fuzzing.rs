//! Fuzz bodies: the paths that read untrusted bytes, as plain functions. `fuzz/` (cargo-fuzz,
//! nightly) calls them from libFuzzer targets; `tests/fuzz_bodies.rs` runs them on the recorded
//! fixtures and on deterministic mutations of them, on stable. None may panic, whatever the
//! input.

use crate::kube::{Decryptor, NoSources};
use crate::{Format, Keyring};

/// An encrypted file of any format, decrypted with `keys` and written back in every format.
pub fn decrypt_file(data: &[u8], keys: &Keyring) {
    for format in [
        Format::Yaml,
        Format::Json,
        Format::Dotenv,
        Format::Binary,
        Format::Ini,
    ] {
        if let Ok(doc) = crate::load(data, format) {
            let _ = doc.metadata().rules.should_encrypt(&["data".to_owned()]);
            if let Ok(plain) = doc.decrypt(keys) {
                for out in [Format::Yaml, Format::Json, Format::Dotenv, Format::Binary] {
                    let _ = plain.emit(out);
                }
            }
        }
    }
    let _ = Format::detect(data);
}

/// A rendered object (JSON), decrypted as the render stage does, without its file.
pub fn object(data: &[u8], keys: &Keyring) {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = crate::kube::is_encrypted(&v);
    let _ = Decryptor::new(keys).decrypt_object(&mut v, "fuzz.yaml", &NoSources);
}

/// Key material as a decryption Secret holds it (`*.agekey` text, `*.asc` armor).
pub fn keys(data: &[u8]) {
    let mut k = Keyring::new();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = k.add_age_identities("fuzz.agekey", text);
    }
    let _ = k.add_pgp_keys("fuzz.asc", data);
}
