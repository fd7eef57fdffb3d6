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

/// Deterministic mutations of seed inputs, so the fuzz bodies of every crate run on stable with
/// reproducible failures (xorshift64*).
pub struct Mutator(u64);

impl Mutator {
    /// A mutator from a seed (any non-zero value).
    pub fn new(seed: u64) -> Self {
        Mutator(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One to four stacked mutations of `input`: a bit flipped, a truncation, a structural byte
    /// (newline, quote, bracket, separator, NUL, 0xff), a span duplicated, a byte removed.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        const STRUCTURAL: &[u8] = b"\n =-A\0\"{}[]:,*?@/\xff";
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            if out.is_empty() {
                out.push(self.next() as u8);
                continue;
            }
            let i = self.below(out.len());
            match self.below(5) {
                0 => out[i] ^= 1 << self.below(8),
                1 => out.truncate(i),
                2 => out[i] = STRUCTURAL[self.below(STRUCTURAL.len())],
                3 => {
                    let j = self.below(out.len());
                    let (a, b) = (i.min(j), i.max(j));
                    let chunk = out[a..b].to_vec();
                    out.splice(a..a, chunk);
                }
                _ => {
                    out.remove(i);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod mutator_tests {
    use super::Mutator;

    #[test]
    fn mutations_should_be_deterministic_and_change_the_input_mostly() {
        let seed = b"apiVersion: v1\nkind: ConfigMap\n";
        let (mut a, mut b) = (Mutator::new(7), Mutator::new(7));
        let mut changed = 0;
        for _ in 0..100 {
            let (x, y) = (a.mutate(seed), b.mutate(seed));
            assert_eq!(x, y);
            changed += usize::from(x != seed);
        }
        assert!(changed > 90, "{changed}");
        assert!(!Mutator::new(0).mutate(b"").is_empty());
        assert!(Mutator::new(3).below(1) == 0);
    }
}
