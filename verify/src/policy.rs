//! The trust policy and the two entry points, [`verify_commit`] and [`verify_tag`].

use crate::error::{KeyringError, ParseError, Rejection, SignatureKind};
use crate::object::{ObjectFormat, SignedObject, parse_commit_in, parse_tag};
use crate::openpgp::{self, OpenPgpKeyring};
use crate::ssh::{self, AllowedSigners};
use crate::time::UnixTime;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// What the caller trusts. An empty policy trusts nothing: every object is refused.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// SSH signers (`allowed_signers`); `None` refuses every SSH signature.
    pub allowed_signers: Option<AllowedSigners>,
    /// OpenPGP keys; `None` refuses every OpenPGP signature.
    pub openpgp: Option<OpenPgpKeyring>,
    /// If not empty, the signer must also be one of these: an SSH principal (as written in
    /// `allowed_signers`), an OpenPGP user ID or its email, or a key fingerprint (`SHA256:…`
    /// for SSH; hex for OpenPGP, primary or signing subkey, any case, spaces ignored).
    pub allowed_identities: Vec<String>,
}

/// Why trust material could not become a [`TrustPolicy`]. The cause is attached as the
/// error source (print the chain once, at the top).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The `allowed_signers` text did not parse.
    #[error("invalid allowed_signers")]
    AllowedSigners(#[source] ParseError),
    /// The OpenPGP keys did not parse.
    #[error("invalid OpenPGP keys")]
    OpenPgpKeys(#[source] KeyringError),
    /// Neither kind of trust material was given: every object would be refused.
    #[error(
        "no trust material: give allowed_signers or OpenPGP keys (or set verify mode `None` explicitly)"
    )]
    NoTrustMaterial,
}

impl TrustPolicy {
    /// Builds a policy from the text of the trust material (Secret or ConfigMap values), for
    /// checking configuration once, before any fetch, and on every reload.
    ///
    /// # Errors
    /// [`PolicyError`]: a bad file (with its line), or no material at all.
    pub fn parse(
        allowed_signers: Option<&str>,
        openpgp_keys: Option<&str>,
        allowed_identities: Vec<String>,
    ) -> Result<Self, PolicyError> {
        let policy = TrustPolicy {
            allowed_signers: allowed_signers
                .map(AllowedSigners::parse)
                .transpose()
                .map_err(PolicyError::AllowedSigners)?,
            openpgp: openpgp_keys
                .map(OpenPgpKeyring::parse)
                .transpose()
                .map_err(PolicyError::OpenPgpKeys)?,
            allowed_identities: allowed_identities
                .into_iter()
                .map(|i| i.trim().to_owned())
                .filter(|i| !i.is_empty())
                .collect(),
        };
        // An empty file is as good as none: refuse the configuration, not every commit.
        let ssh_keys = policy
            .allowed_signers
            .as_ref()
            .is_some_and(|s| !s.is_empty());
        let pgp_keys = policy.openpgp.as_ref().is_some_and(|k| !k.is_empty());
        if !ssh_keys && !pgp_keys {
            return Err(PolicyError::NoTrustMaterial);
        }
        Ok(policy)
    }
}

/// Who signed an accepted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// SSH: the principals of the `allowed_signers` entry; OpenPGP: the primary user ID.
    pub signer: String,
    /// Fingerprint of the signing key: `SHA256:…` (SSH) or upper-case hex (OpenPGP, the
    /// subkey's for subkey signatures).
    pub key_fingerprint: String,
    /// Which kind of signature it was.
    pub kind: SignatureKind,
    /// The committer (commit) or tagger (tag) email, as written in the object: *not*
    /// authenticated against the key unless an identity allow-list says so.
    pub committer_email: String,
    /// The committer/tagger time of the object (the time SSH validity was checked at).
    pub time: UnixTime,
}

/// How much of the history the caller verifies (the spelling of `spec.verify.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyMode {
    /// `HEAD`: the commit to apply.
    Head,
    /// `Tag`: the annotated tag that names it.
    Tag,
    /// `TagAndHEAD`: both.
    TagAndHead,
    /// `AllSince`: every commit since the last applied one.
    AllSince,
    /// `None`: no verification; must be written explicitly.
    None,
}

impl VerifyMode {
    /// The spelling used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Head => "HEAD",
            VerifyMode::Tag => "Tag",
            VerifyMode::TagAndHead => "TagAndHEAD",
            VerifyMode::AllSince => "AllSince",
            VerifyMode::None => "None",
        }
    }
}

impl fmt::Display for VerifyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `spec.verify.mode` that is none of the spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verify mode `{0}` (expected one of HEAD, Tag, TagAndHEAD, AllSince, None)")]
pub struct UnknownVerifyMode(pub String);

impl FromStr for VerifyMode {
    type Err = UnknownVerifyMode;

    /// Exact spellings only: a near miss (`head`, `none`) is an error, not a guess.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "HEAD" => VerifyMode::Head,
            "Tag" => VerifyMode::Tag,
            "TagAndHEAD" => VerifyMode::TagAndHead,
            "AllSince" => VerifyMode::AllSince,
            "None" => VerifyMode::None,
            other => return Err(UnknownVerifyMode(other.chars().take(64).collect())),
        })
    }
}

/// Verifies the signature of a raw commit object against `policy`, judging OpenPGP key expiry
/// at the current time.
///
/// # Errors
/// A [`Rejection`] naming why the commit is refused; `Ok` only for a good signature by a
/// trusted, valid key whose signer passes the identity allow-list.
pub fn verify_commit(raw: &[u8], policy: &TrustPolicy) -> Result<Verified, Rejection> {
    verify_commit_at(raw, policy, SystemTime::now())
}

/// [`verify_commit`] with the current time given (for OpenPGP key and signature expiry).
///
/// # Errors
/// As [`verify_commit`].
pub fn verify_commit_at(
    raw: &[u8],
    policy: &TrustPolicy,
    now: SystemTime,
) -> Result<Verified, Rejection> {
    verify_commit_in(raw, ObjectFormat::Sha1, policy, now)
}

/// [`verify_commit_at`] for a commit of a repository of the given object format (SHA-256
/// repositories sign commits in the `gpgsig-sha256` header).
///
/// # Errors
/// As [`verify_commit`].
pub fn verify_commit_in(
    raw: &[u8],
    format: ObjectFormat,
    policy: &TrustPolicy,
    now: SystemTime,
) -> Result<Verified, Rejection> {
    verify_object(
        parse_commit_in(raw, format)?,
        policy,
        UnixTime::from_system_time(now),
    )
}

/// Verifies the signature of a raw annotated tag object against `policy`.
///
/// # Errors
/// As [`verify_commit`]; [`Rejection::NotAnAnnotatedTag`] for anything but a tag object.
pub fn verify_tag(raw: &[u8], policy: &TrustPolicy) -> Result<Verified, Rejection> {
    verify_tag_at(raw, policy, SystemTime::now())
}

/// [`verify_tag`] with the current time given.
///
/// # Errors
/// As [`verify_tag`].
pub fn verify_tag_at(
    raw: &[u8],
    policy: &TrustPolicy,
    now: SystemTime,
) -> Result<Verified, Rejection> {
    verify_object(parse_tag(raw)?, policy, UnixTime::from_system_time(now))
}

fn verify_object(
    object: SignedObject,
    policy: &TrustPolicy,
    now: UnixTime,
) -> Result<Verified, Rejection> {
    let (signer, key_fingerprint, identities) = match object.kind {
        SignatureKind::Ssh => {
            let signers = policy
                .allowed_signers
                .as_ref()
                .ok_or(Rejection::NoTrustMaterial {
                    kind: SignatureKind::Ssh,
                })?;
            let s = ssh::verify(
                &object.signature,
                &object.payload,
                signers,
                object.signer.time,
            )?;
            (s.principals, s.fingerprint.clone(), s.principal_list)
        }
        SignatureKind::OpenPgp => {
            let keyring = policy.openpgp.as_ref().ok_or(Rejection::NoTrustMaterial {
                kind: SignatureKind::OpenPgp,
            })?;
            let s = openpgp::verify(&object.signature, &object.payload, keyring, now)?;
            let mut ids = s.identities;
            ids.push(s.primary_fingerprint);
            (s.signer, s.key_fingerprint, ids)
        }
    };
    if !policy.allowed_identities.is_empty()
        && !policy.allowed_identities.iter().any(|allowed| {
            identity_matches(allowed, &key_fingerprint)
                || identities.iter().any(|id| identity_matches(allowed, id))
        })
    {
        return Err(Rejection::IdentityNotAllowed {
            signer,
            fingerprint: key_fingerprint,
        });
    }
    Ok(Verified {
        signer,
        key_fingerprint,
        kind: object.kind,
        committer_email: object.signer.email,
        time: object.signer.time,
    })
}

/// Whether an allow-list entry names `identity`: exact for principals and user IDs and
/// `SHA256:` fingerprints (base64 is case-sensitive); emails and hex fingerprints ignore case;
/// hex fingerprints ignore spaces and a `0x` prefix.
fn identity_matches(allowed: &str, identity: &str) -> bool {
    let allowed = allowed.trim();
    if allowed.is_empty() {
        return false;
    }
    if allowed == identity {
        return true;
    }
    if allowed.contains('@') && !allowed.contains(char::is_whitespace) {
        return allowed.eq_ignore_ascii_case(identity);
    }
    let hex = |s: &str| -> Option<String> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (compact.len() >= 32 && compact.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| compact.to_ascii_uppercase())
    };
    matches!((hex(allowed), hex(identity)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_mode_should_parse_exact_spellings_only() {
        for mode in [
            VerifyMode::Head,
            VerifyMode::Tag,
            VerifyMode::TagAndHead,
            VerifyMode::AllSince,
            VerifyMode::None,
        ] {
            assert_eq!(mode.as_str().parse::<VerifyMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        for bad in ["head", "none", "", "TagAndHead", " HEAD"] {
            assert!(bad.parse::<VerifyMode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_should_match_principal_email_or_fingerprint() {
        assert!(identity_matches("alice@example.org", "Alice@Example.org"));
        assert!(identity_matches("SHA256:abc", "SHA256:abc"));
        assert!(!identity_matches("SHA256:ABC", "SHA256:abc"));
        let fp = "6E3E21D60BD3CEDB6E3E21D60BD3CEDB6E3E21D6";
        assert!(identity_matches(
            "6e3e 21d6 0bd3 cedb 6e3e 21d6 0bd3 cedb 6e3e 21d6",
            fp
        ));
        assert!(identity_matches(&format!("0x{fp}"), fp));
        assert!(
            !identity_matches("6E3E21D60BD3CEDB", fp),
            "short key IDs are not accepted"
        );
        assert!(!identity_matches("", ""));
        assert!(!identity_matches("bob@example.org", "alice@example.org"));
        assert!(identity_matches(
            "Alice <alice@example.org>",
            "Alice <alice@example.org>"
        ));
    }

    #[test]
    fn policy_parse_should_name_the_bad_file_and_refuse_no_material() {
        use std::error::Error as _;
        assert_eq!(
            TrustPolicy::parse(None, None, vec![]).unwrap_err(),
            PolicyError::NoTrustMaterial
        );
        let err = TrustPolicy::parse(Some("a@b ssh-ed25519"), None, vec![]).unwrap_err();
        assert_eq!(err.to_string(), "invalid allowed_signers");
        assert_eq!(
            err.source().unwrap().to_string(),
            "allowed_signers line 1: missing key"
        );
        let err = TrustPolicy::parse(None, Some("nothing"), vec![]).unwrap_err();
        assert!(matches!(err, PolicyError::OpenPgpKeys(KeyringError::Empty)));
        assert_eq!(
            TrustPolicy::parse(Some("# only a comment\n"), None, vec![]).unwrap_err(),
            PolicyError::NoTrustMaterial
        );
        let line =
            "a@b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQAu258dl/FQBMEHqWl7W9yYn9bDl1v71apHZrs/xWT";
        let ok = TrustPolicy::parse(Some(line), None, vec![" a@b ".into(), " ".into()]).unwrap();
        assert_eq!(ok.allowed_identities, ["a@b"]);
    }

    #[test]
    fn empty_policy_should_refuse_with_no_trust_material() {
        let raw =
            b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n x\n\nm\n";
        assert_eq!(
            verify_commit(raw, &TrustPolicy::default()),
            Err(Rejection::NoTrustMaterial {
                kind: SignatureKind::Ssh
            })
        );
    }
}
