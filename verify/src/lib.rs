#![forbid(unsafe_code)]
//! Fail-closed verification of git commit and tag signatures, SSH and OpenPGP, against a trust
//! policy.
//!
//! Start at [`verify_commit`] and [`verify_tag`]: they take the raw object content (what
//! `git cat-file commit <id>` prints, gix's `data`) and a [`TrustPolicy`], and return who signed
//! ([`Verified`]) or why the object is refused ([`Rejection`]). Every path that is not a good
//! signature by a trusted, valid key is a refusal; nothing panics on hostile input, and object
//! and signature sizes are bounded ([`MAX_OBJECT_SIZE`], [`MAX_SIGNATURE_SIZE`]).
//!
//! - SSH (`gpg.format=ssh`): [`AllowedSigners`] parses git's `allowed_signers`; signatures are
//!   OpenSSH SSHSIG in namespace `git`, ed25519, ecdsa-sha2-nistp256/384, rsa-sha2-256/512,
//!   decoded with `ssh-key` and verified with `ring`. Entry validity (`valid-after`,
//!   `valid-before`) is checked at the committer/tagger time, as git does with
//!   `ssh-keygen -Overify-time`; times without `Z` are read as UTC (ssh-keygen reads them in
//!   the machine's zone, and the agent runs in UTC). `cert-authority` lines are refused.
//! - OpenPGP: [`OpenPgpKeyring`] parses armored public keys with `pgp` (rpgp); see its docs
//!   for how expiry and revocation are judged.
//!
//! ```
//! use pi_verify::{AllowedSigners, Rejection, TrustPolicy, verify_commit};
//! # let fixture = |p: &str| std::fs::read(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
//! let allowed_signers = String::from_utf8(fixture("ssh/allowed_signers"))?;
//! let policy = TrustPolicy {
//!     allowed_signers: Some(AllowedSigners::parse(&allowed_signers)?),
//!     ..TrustPolicy::default()
//! };
//! // `git cat-file commit <id>`, or gix's object `data`.
//! let verified = verify_commit(&fixture("ssh/ed25519.commit"), &policy)?;
//! assert_eq!(verified.signer, "alice@example.org");
//!
//! let refused = verify_commit(&fixture("ssh/unsigned.commit"), &policy).unwrap_err();
//! assert_eq!(refused, Rejection::Unsigned);
//! assert_eq!(refused.reason(), "Unsigned");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate does not walk history: the commit-graph modes ([`VerifyMode`]) and anti-rollback
//! belong to the caller.

mod error;
pub mod fuzzing;
pub mod object;
pub mod openpgp;
mod policy;
pub mod ssh;
pub mod time;

pub use error::{KeyringError, ParseError, ParseErrorKind, Rejection, SignatureKind};
pub use object::{
    MAX_OBJECT_SIZE, MAX_SIGNATURE_SIZE, ObjectFormat, SignedObject, parse_commit, parse_commit_in,
    parse_tag,
};
pub use openpgp::OpenPgpKeyring;
pub use policy::{
    PolicyError, TrustPolicy, UnknownVerifyMode, Verified, VerifyMode, verify_commit,
    verify_commit_at, verify_commit_in, verify_tag, verify_tag_at,
};
pub use ssh::AllowedSigners;
pub use time::UnixTime;

/// Runs a third-party parser on untrusted bytes, turning a panic into `None`.
///
/// Why: ssh-key and rpgp are fuzzed upstream, but a panic in them on a hostile commit must
/// become a refusal of that commit, never a crash of the agent (which would stop every other
/// Application's reconcile). The closure only reads its inputs, so no broken state survives
/// the unwind. (A `panic = "abort"` profile would defeat this; the workspace does not set it.)
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn guard_should_turn_a_panic_into_none() {
        // Prints the panic message once; the hook is global, so it is left alone.
        let caught = super::guard(|| -> u8 { panic!("expected panic: hostile input") });
        assert_eq!(caught, None);
        assert_eq!(super::guard(|| 7), Some(7));
    }
}
