//! Fuzz bodies: the parsers that read untrusted bytes, as plain functions.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls them from libFuzzer targets; `tests/fuzz_bodies.rs` runs
//! them on fixtures and deterministic mutations on stable. Each must return without panicking,
//! whatever the input.

use crate::credentials::Credentials;
use crate::extract::extract_images;
use crate::keys::parse_public_keys;
use crate::payload::{check_payload, parse_payload};
use crate::reference::{ImageRef, glob_match};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Simple-signing payload: parse, then check against a fixed digest.
pub fn payload(data: &[u8]) {
    let _ = parse_payload(data);
    let _ = check_payload(data, DIGEST);
}

/// Sigstore bundle: parse, then verify against a fixed key and digest, and read its payload as
/// an in-toto statement.
pub fn bundle(data: &[u8]) {
    const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXEaUQZfn7sIUJ9m3KtP2CHaFyGSA
NJjX0V2+sA2Z36utBEF5YcjIOAgCx5yN6RQx6XNE0mzoZUgZFaqVn6CVnQ==
-----END PUBLIC KEY-----
";
    let _ = crate::bundle::check_statement(data, DIGEST);
    if let (Ok(b), Ok(keys)) = (
        crate::bundle::parse_bundle(data),
        crate::keys::KeySet::from_pems(&[KEY]),
    ) {
        let _ = crate::bundle::verify_bundle(&b, DIGEST, &keys, Some(data));
        if let crate::bundle::Content::Dsse { payload, .. } = &b.content {
            let _ = crate::bundle::check_statement(payload, DIGEST);
        }
    }
}

/// PEM public keys: every block parsed, every key used once.
pub fn public_keys(data: &[u8]) {
    if let Ok(keys) = parse_public_keys(&String::from_utf8_lossy(data)) {
        for k in keys {
            let _ = k.verify(b"payload", data);
        }
    }
}

/// `.dockerconfigjson`: parse, then look a few hosts up.
pub fn docker_config(data: &[u8]) {
    if let Ok(c) = Credentials::from_docker_config_json(data) {
        for host in ["docker.io", "127.0.0.1:5000", "registry.example"] {
            let _ = c.for_registry(host);
        }
        let _ = c.hosts().count();
    }
}

/// Image references and globs: the first line is a pattern, the rest an image; rendered JSON
/// objects are scanned for images too.
pub fn reference(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (pattern, image) = text.split_once('\n').unwrap_or((&text, &text));
    if let Ok(r) = ImageRef::parse(image) {
        let _ = glob_match(pattern, &r.normalized());
        let _ = r.pinned(DIGEST);
        let _ = crate::reference::registry_allowed(pattern, &r);
    }
    let _ = glob_match(pattern, image);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = extract_images(std::slice::from_ref(&value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_bodies_should_survive_empty_and_tiny_inputs() {
        for input in [
            &b""[..],
            b"\0",
            b"\n",
            b"-----BEGIN",
            b"{",
            b"\xff\xfe",
            b"*\n*",
        ] {
            payload(input);
            public_keys(input);
            docker_config(input);
            reference(input);
        }
    }
}
