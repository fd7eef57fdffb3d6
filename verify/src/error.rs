//! Why a signature was refused, and why trust material did not parse.

use crate::time::UnixTime;
use std::fmt;

/// The kind of signature found on a git object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureKind {
    /// `-----BEGIN SSH SIGNATURE-----` (git `gpg.format=ssh`), an OpenSSH SSHSIG.
    Ssh,
    /// `-----BEGIN PGP SIGNATURE-----` (git `gpg.format=openpgp`), an OpenPGP detached signature.
    OpenPgp,
}

impl fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureKind::Ssh => "SSH",
            SignatureKind::OpenPgp => "OpenPGP",
        })
    }
}

/// Why a commit or tag was refused. Every variant is a refusal: the caller must not apply the
/// revision. Messages name what failed (key fingerprint, principal, namespace, time).
///
/// Fingerprints are `SHA256:…` for SSH keys and upper-case hex for OpenPGP keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The object is larger than [`crate::MAX_OBJECT_SIZE`].
    #[error("object of {size} bytes is over the {limit} byte limit")]
    ObjectTooLarge { size: usize, limit: usize },
    /// The signature is larger than [`crate::MAX_SIGNATURE_SIZE`].
    #[error("signature is over the {limit} byte limit")]
    SignatureTooLarge { limit: usize },
    /// The bytes are not a well-formed commit or tag object.
    #[error("malformed git object: {why}")]
    MalformedObject { why: String },
    /// `verify_tag` was given something that is not an annotated tag object (a lightweight tag
    /// points straight at a commit and carries no signature).
    #[error("not an annotated tag object: a lightweight tag cannot be signed")]
    NotAnAnnotatedTag,
    /// No signature at all.
    #[error("object is not signed")]
    Unsigned,
    /// A signature that is neither SSH nor OpenPGP (for example X.509 `gpgsm`).
    #[error("unsupported signature format: {format}")]
    UnsupportedSignatureFormat { format: String },
    /// The policy has no trust material for this kind of signature.
    #[error("{kind} signature, but the trust policy has no {kind} keys")]
    NoTrustMaterial { kind: SignatureKind },
    /// The signature could not be decoded (armor, base64, packet or wire format).
    #[error("malformed {kind} signature: {why}")]
    MalformedSignature { kind: SignatureKind, why: String },
    /// The SSH signature was made with an SSH certificate (`*-cert-v01@openssh.com`); trust
    /// through `cert-authority` is not supported.
    #[error(
        "SSH signature by a certificate (`{algorithm}`): certificate authorities are not supported"
    )]
    CertificateAuthorityUnsupported { algorithm: String },
    /// A key or signature algorithm this crate refuses (SHA-1, DSA, nistp521, security keys…).
    #[error("unsupported algorithm `{algorithm}`")]
    UnsupportedAlgorithm { algorithm: String },
    /// An SSH signature made for another namespace than `git` (for example `file`).
    #[error("SSH signature namespace is `{found}`, expected `git`")]
    WrongNamespace { found: String },
    /// The signing key is in no trusted key list.
    #[error("signing key {fingerprint} is not trusted")]
    UnknownKey { fingerprint: String },
    /// The signature does not verify over this object with the claimed key: the object was
    /// modified after signing, or the signature was copied from another object.
    #[error("bad signature by key {fingerprint}: object modified or signature not made for it")]
    BadSignature { fingerprint: String },
    /// The `allowed_signers` entries of this key do not allow the `git` namespace.
    #[error("key {fingerprint} of `{principals}` is not allowed to sign in namespace `git`")]
    NamespaceNotAllowed {
        principals: String,
        fingerprint: String,
    },
    /// The `allowed_signers` entry expired (`valid-before`) before the commit/tag time.
    #[error("signer `{principal}` expired at {valid_before}, object dated {at}")]
    SignerExpired {
        principal: String,
        valid_before: UnixTime,
        at: UnixTime,
    },
    /// The `allowed_signers` entry is not yet valid (`valid-after`) at the commit/tag time.
    #[error("signer `{principal}` is valid only after {valid_after}, object dated {at}")]
    SignerNotYetValid {
        principal: String,
        valid_after: UnixTime,
        at: UnixTime,
    },
    /// The OpenPGP key (primary or subkey) expired, at signing time or now.
    #[error("OpenPGP key {fingerprint} expired at {expired_at}")]
    KeyExpired {
        fingerprint: String,
        expired_at: UnixTime,
    },
    /// The OpenPGP signature was made before its key existed, or carries an expiry that passed.
    #[error("OpenPGP signature by {fingerprint} is not valid: {why}")]
    SignatureNotValid { fingerprint: String, why: String },
    /// The OpenPGP key (primary or subkey) is revoked.
    #[error("OpenPGP key {fingerprint} is revoked{reason}")]
    KeyRevoked { fingerprint: String, reason: String },
    /// The OpenPGP key is not marked for signing (or its subkey binding is invalid).
    #[error("OpenPGP key {fingerprint} is not usable for signing: {why}")]
    KeyNotForSigning { fingerprint: String, why: String },
    /// The signature is good, but the signer is not in the policy's allow-list.
    #[error("signer `{signer}` (key {fingerprint}) is not in the allowed identities")]
    IdentityNotAllowed { signer: String, fingerprint: String },
}

impl Rejection {
    /// A stable, machine-readable name of the reason (the variant name), for metric labels,
    /// event reasons and `--output json`; the message (`Display`) is for people.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::ObjectTooLarge { .. } => "ObjectTooLarge",
            Rejection::SignatureTooLarge { .. } => "SignatureTooLarge",
            Rejection::MalformedObject { .. } => "MalformedObject",
            Rejection::NotAnAnnotatedTag => "NotAnAnnotatedTag",
            Rejection::Unsigned => "Unsigned",
            Rejection::UnsupportedSignatureFormat { .. } => "UnsupportedSignatureFormat",
            Rejection::NoTrustMaterial { .. } => "NoTrustMaterial",
            Rejection::MalformedSignature { .. } => "MalformedSignature",
            Rejection::CertificateAuthorityUnsupported { .. } => "CertificateAuthorityUnsupported",
            Rejection::UnsupportedAlgorithm { .. } => "UnsupportedAlgorithm",
            Rejection::WrongNamespace { .. } => "WrongNamespace",
            Rejection::UnknownKey { .. } => "UnknownKey",
            Rejection::BadSignature { .. } => "BadSignature",
            Rejection::NamespaceNotAllowed { .. } => "NamespaceNotAllowed",
            Rejection::SignerExpired { .. } => "SignerExpired",
            Rejection::SignerNotYetValid { .. } => "SignerNotYetValid",
            Rejection::KeyExpired { .. } => "KeyExpired",
            Rejection::SignatureNotValid { .. } => "SignatureNotValid",
            Rejection::KeyRevoked { .. } => "KeyRevoked",
            Rejection::KeyNotForSigning { .. } => "KeyNotForSigning",
            Rejection::IdentityNotAllowed { .. } => "IdentityNotAllowed",
        }
    }
}

/// Why an `allowed_signers` file was refused, with the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_signers line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with one `allowed_signers` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    #[error("missing key")]
    MissingKey,
    #[error(
        "`cert-authority` lines (SSH certificates) are not supported; list the signer keys themselves"
    )]
    CertificateAuthorityUnsupported,
    #[error("unknown option `{0}`")]
    UnknownOption(String),
    #[error("bad option `{option}`: {why}")]
    BadOption { option: String, why: String },
    #[error(
        "unsupported key type `{0}` (supported: ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ssh-rsa)"
    )]
    UnsupportedKeyType(String),
    #[error("bad public key: {0}")]
    BadKey(String),
    #[error("RSA key of {bits} bits is below the 2048-bit minimum")]
    WeakRsaKey { bits: usize },
    #[error("RSA key of {bits} bits is over the 8192-bit maximum")]
    RsaKeyTooLarge { bits: usize },
    #[error("file is over the {limit} byte limit")]
    TooLarge { limit: usize },
}

/// Why an OpenPGP keyring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    #[error("OpenPGP keyring is over the {limit} byte limit")]
    TooLarge { limit: usize },
    #[error("no OpenPGP public key found (expected `-----BEGIN PGP PUBLIC KEY BLOCK-----`)")]
    Empty,
    #[error("OpenPGP public key block {block}: {why}")]
    Malformed { block: usize, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_should_be_the_variant_name() {
        let r = Rejection::UnknownKey {
            fingerprint: "SHA256:x".into(),
        };
        assert_eq!(r.reason(), "UnknownKey");
        assert!(format!("{r:?}").starts_with(r.reason()));
        assert_eq!(Rejection::Unsigned.reason(), "Unsigned");
    }

    #[test]
    fn messages_should_name_what_failed() {
        let r = Rejection::SignerExpired {
            principal: "alice@example.org".into(),
            valid_before: UnixTime(0),
            at: UnixTime(86_400),
        };
        assert_eq!(
            r.to_string(),
            "signer `alice@example.org` expired at 1970-01-01T00:00:00Z, object dated 1970-01-02T00:00:00Z"
        );
        let p = ParseError {
            line: 3,
            kind: ParseErrorKind::UnknownOption("x".into()),
        };
        assert_eq!(p.to_string(), "allowed_signers line 3: unknown option `x`");
    }

    #[test]
    fn rejection_should_stay_small() {
        assert!(
            std::mem::size_of::<Rejection>() <= 56,
            "{}",
            std::mem::size_of::<Rejection>()
        );
    }
}
