//! Fuzz bodies: the parsing paths that read untrusted bytes, as plain functions.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls them from libFuzzer targets; `tests/fuzz_bodies.rs`
//! runs them on recorded fixtures and on deterministic mutations of them, so they are
//! exercised on stable in CI too. Each must return without panicking whatever the input.

use crate::ssh::{AllowedSigners, SshSignature};
use crate::{OpenPgpKeyring, TrustPolicy, verify_commit_at, verify_tag_at};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

/// An `allowed_signers` with one key of each supported type, for the SSH body.
const ALLOWED_SIGNERS: &str = "\
a@example.org namespaces=\"git\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQAu258dl/FQBMEHqWl7W9yYn9bDl1v71apHZrs/xWT
*@example.org,!b@example.org valid-after=\"20200101\",valid-before=\"20300101Z\" ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD/S7iLDaSM1OTkSCZyiCoyi84qzcp94tBR5XqHYrMhLYSjmNo9Zc99AV5JKOiATe2PxFblW1cvjLWHogzrEg70=
";

fn signers() -> &'static AllowedSigners {
    static SIGNERS: OnceLock<AllowedSigners> = OnceLock::new();
    SIGNERS.get_or_init(|| AllowedSigners::parse(ALLOWED_SIGNERS).unwrap_or_default())
}

/// SSH signature path: armored SSHSIG → decode → namespace → key lookup → ring verification.
pub fn ssh_signature(data: &[u8]) {
    if let Ok(sig) = SshSignature::parse(data) {
        let _ = sig.namespace();
        let _ = sig.fingerprint();
        let _ = sig.verify_git(b"tree 0\n\nmessage\n");
    }
    let _ = crate::ssh::verify(data, b"message", signers(), crate::UnixTime(1_705_320_000));
}

/// `allowed_signers` parser, and the matching of what it parsed.
pub fn allowed_signers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(signers) = AllowedSigners::parse(&text) {
        for entry in signers.entries() {
            let _ = entry.allows_namespace("git");
            let _ = entry.matches_principal("alice@example.org");
            let _ = entry.positive_principals().count();
        }
    }
}

/// OpenPGP path: the bytes before the first NUL are a keyring, the rest a signature over
/// `message`, verified with that keyring when it parses.
pub fn openpgp(data: &[u8]) {
    let (keyring, signature) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let keyring = OpenPgpKeyring::parse(&String::from_utf8_lossy(keyring)).unwrap_or_default();
    let _ = crate::openpgp::parse_signature(signature);
    let _ = crate::openpgp::verify(
        signature,
        b"message",
        &keyring,
        crate::UnixTime(1_705_320_000),
    );
}

/// Git object path: commit and tag splitting, then the full policy with no trust material.
pub fn git_object(data: &[u8]) {
    let _ = crate::parse_commit(data);
    let _ = crate::parse_tag(data);
    let policy = TrustPolicy {
        allowed_signers: Some(signers().clone()),
        ..TrustPolicy::default()
    };
    let _ = verify_commit_at(data, &policy, UNIX_EPOCH);
    let _ = verify_tag_at(data, &policy, UNIX_EPOCH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_allowed_signers_should_parse() {
        assert_eq!(signers().entries().len(), 2);
    }

    #[test]
    fn fuzz_bodies_should_survive_empty_and_tiny_inputs() {
        for input in [&b""[..], b"\0", b"\n", b"-----BEGIN", b"\xff\xfe\xfd"] {
            ssh_signature(input);
            allowed_signers(input);
            openpgp(input);
            git_object(input);
        }
    }
}
