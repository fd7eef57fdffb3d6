//! Shared fixture access and object surgery for the attack tests.

use pi_verify::{AllowedSigners, OpenPgpKeyring, TrustPolicy, parse_commit};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Bytes of a fixture file; a missing one names the script that makes it.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = fixtures().join(path);
    std::fs::read(&full).unwrap_or_else(|e| {
        panic!(
            "cannot read fixture {}: {e} (regenerate with `bash verify/tests/fixtures/record.sh`)",
            full.display()
        )
    })
}

pub fn fixture_text(path: &str) -> String {
    String::from_utf8(fixture(path)).expect("fixture is UTF-8")
}

/// `SHA256:…` of a recorded SSH key, as `ssh-keygen -l` printed it.
pub fn ssh_fingerprint(name: &str) -> String {
    fixture_text(&format!("ssh/{name}.fingerprint"))
        .trim()
        .to_owned()
}

/// A fingerprint from `pgp/fingerprints.env` (`ED25519`, `CAROL_SUB`, …).
pub fn pgp_fingerprint(name: &str) -> String {
    fixture_text("pgp/fingerprints.env")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in pgp/fingerprints.env"))
}

pub fn ssh_policy(allowed_signers_file: &str) -> TrustPolicy {
    TrustPolicy {
        allowed_signers: Some(
            AllowedSigners::parse(&fixture_text(&format!("ssh/{allowed_signers_file}")))
                .expect("recorded allowed_signers parses"),
        ),
        ..TrustPolicy::default()
    }
}

pub fn pgp_policy() -> TrustPolicy {
    TrustPolicy {
        openpgp: Some(
            OpenPgpKeyring::parse(&fixture_text("pgp/keyring.asc"))
                .expect("recorded keyring parses"),
        ),
        ..TrustPolicy::default()
    }
}

/// A fixed "now" well after the fixtures were recorded: 2030-01-01.
pub fn later() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// The commit with its signature header removed, and the signature (as git splits them).
pub fn split(commit: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let obj = parse_commit(commit).expect("fixture is a signed commit");
    (obj.payload, obj.signature)
}

/// Puts `signature` into the unsigned `commit` as its `gpgsig` header, the way git writes it.
pub fn graft(commit: &[u8], signature: &[u8]) -> Vec<u8> {
    let end = commit
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("commit has a message")
        + 1;
    let mut out = commit[..end].to_vec();
    let text = std::str::from_utf8(signature).unwrap();
    for (i, line) in text.trim_end_matches('\n').split('\n').enumerate() {
        out.extend_from_slice(if i == 0 { b"gpgsig " } else { b" " });
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(&commit[end..]);
    out
}

/// `raw` with the first `from` replaced by `to` (panics if absent, so a test cannot pass by
/// editing nothing).
pub fn replace(raw: &[u8], from: &str, to: &str) -> Vec<u8> {
    let pos = raw
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("`{from}` not in object"));
    let mut out = raw[..pos].to_vec();
    out.extend_from_slice(to.as_bytes());
    out.extend_from_slice(&raw[pos + from.len()..]);
    out
}
