//! SSH signatures (`gpg.format=ssh`): OpenSSH's SSHSIG format (`PROTOCOL.sshsig`), parsed with
//! ssh-key, verified with ring, trusted through [`AllowedSigners`].

pub mod allowed_signers;
pub mod pattern;

use crate::error::{Rejection, SignatureKind};
use crate::time::UnixTime;
pub use allowed_signers::{AllowedSigner, AllowedSigners};
use ring::signature as rs;
use ssh_key::public::{KeyData, RsaPublicKey};
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, SshSig};

/// The namespace git signs in (`ssh-keygen -Y sign -n git`).
pub const GIT_NAMESPACE: &str = "git";

/// A decoded SSHSIG blob. Nothing about it is trusted yet.
#[derive(Debug, Clone)]
pub struct SshSignature {
    sig: SshSig,
    fingerprint: String,
}

impl SshSignature {
    /// Decodes an armored `-----BEGIN SSH SIGNATURE-----` block.
    ///
    /// # Errors
    /// [`Rejection::MalformedSignature`] for bad armor, base64, magic, version or wire format;
    /// [`Rejection::SignatureTooLarge`] over [`crate::MAX_SIGNATURE_SIZE`].
    pub fn parse(armored: &[u8]) -> Result<Self, Rejection> {
        if armored.len() > crate::MAX_SIGNATURE_SIZE {
            return Err(Rejection::SignatureTooLarge {
                limit: crate::MAX_SIGNATURE_SIZE,
            });
        }
        let sig = crate::guard(|| SshSig::from_pem(armored))
            .ok_or_else(|| malformed("the SSH signature decoder failed internally (panic)"))?
            .map_err(|e| diagnose(armored, &e.to_string()))?;
        if sig.version() != 1 {
            return Err(malformed(&format!(
                "version {} (expected 1)",
                sig.version()
            )));
        }
        let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
        Ok(SshSignature { sig, fingerprint })
    }

    /// The namespace the signature was made for.
    pub fn namespace(&self) -> &str {
        self.sig.namespace()
    }

    /// The signing key, as carried in the signature.
    pub fn public_key(&self) -> &KeyData {
        self.sig.public_key()
    }

    /// `SHA256:…` of the signing key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Checks the signature over `message` in namespace `git` with the key it carries; says
    /// nothing about whether that key is trusted.
    ///
    /// The signed data is rebuilt as OpenSSH's `sshsig_wrap_verify` does: `"SSHSIG"`, the
    /// expected namespace, an empty reserved field, the hash algorithm, and the message hash.
    ///
    /// # Errors
    /// [`Rejection::WrongNamespace`], [`Rejection::UnsupportedAlgorithm`],
    /// [`Rejection::MalformedSignature`], [`Rejection::BadSignature`].
    pub fn verify_git(&self, message: &[u8]) -> Result<(), Rejection> {
        if self.sig.namespace() != GIT_NAMESPACE {
            return Err(Rejection::WrongNamespace {
                found: self.sig.namespace().chars().take(64).collect(),
            });
        }
        let (hash_name, digest) = match self.sig.hash_alg() {
            HashAlg::Sha256 => (
                "sha256",
                ring::digest::digest(&ring::digest::SHA256, message),
            ),
            HashAlg::Sha512 => (
                "sha512",
                ring::digest::digest(&ring::digest::SHA512, message),
            ),
            other => {
                return Err(Rejection::UnsupportedAlgorithm {
                    algorithm: other.as_str().to_owned(),
                });
            }
        };
        let mut signed = Vec::with_capacity(6 + 4 + 3 + 4 + 4 + 6 + 4 + 64);
        signed.extend_from_slice(b"SSHSIG");
        put_string(&mut signed, GIT_NAMESPACE.as_bytes());
        put_string(&mut signed, b"");
        put_string(&mut signed, hash_name.as_bytes());
        put_string(&mut signed, digest.as_ref());
        verify_raw(
            self.sig.public_key(),
            &self.sig.signature().algorithm(),
            self.sig.signature().as_bytes(),
            &signed,
        )
        .map_err(|e| match e {
            RawError::Bad => Rejection::BadSignature {
                fingerprint: self.fingerprint.clone(),
            },
            RawError::Rejected(r) => r,
        })
    }
}

/// What an accepted SSH signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSigner {
    /// The principals pattern list of the `allowed_signers` entry that allowed it.
    pub principals: String,
    /// Its positive principals, one by one.
    pub principal_list: Vec<String>,
    /// `SHA256:…` of the key.
    pub fingerprint: String,
}

/// Verifies an armored SSH signature over `message` against `signers`, at time `at` (the
/// committer/tagger time, as git passes `-Overify-time` to ssh-keygen).
///
/// Like `git verify-commit` (`ssh-keygen -Y find-principals` then `-Y verify`), any entry of
/// the signing key that allows namespace `git` and whose validity covers `at` is accepted; the
/// committer email is *not* required to be one of the principals (use the policy's identity
/// allow-list for that).
///
/// # Errors
/// Any SSH [`Rejection`]; when the key has entries but none allows the signature, the reason
/// of the first such entry.
pub fn verify(
    armored: &[u8],
    message: &[u8],
    signers: &AllowedSigners,
    at: UnixTime,
) -> Result<SshSigner, Rejection> {
    let sig = SshSignature::parse(armored)?;
    if sig.namespace() != GIT_NAMESPACE {
        return Err(Rejection::WrongNamespace {
            found: sig.namespace().chars().take(64).collect(),
        });
    }
    let mut entries = signers.entries_for(sig.public_key()).peekable();
    if entries.peek().is_none() {
        return Err(Rejection::UnknownKey {
            fingerprint: sig.fingerprint().to_owned(),
        });
    }
    // The cryptographic check comes before the entry checks so that a forged or copied
    // signature is reported as such, not as an expired signer.
    sig.verify_git(message)?;
    let mut first_refusal = None;
    for entry in entries {
        match check_entry(entry, at) {
            Ok(()) => {
                return Ok(SshSigner {
                    principals: entry.principals.clone(),
                    principal_list: entry.positive_principals().map(str::to_owned).collect(),
                    fingerprint: sig.fingerprint().to_owned(),
                });
            }
            Err(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    Err(first_refusal.unwrap_or(Rejection::UnknownKey {
        fingerprint: sig.fingerprint().to_owned(),
    }))
}

/// The `allowed_signers` options of one entry, at time `at`.
fn check_entry(entry: &AllowedSigner, at: UnixTime) -> Result<(), Rejection> {
    if !entry.allows_namespace(GIT_NAMESPACE) {
        return Err(Rejection::NamespaceNotAllowed {
            principals: entry.principals.clone(),
            fingerprint: entry.fingerprint().to_owned(),
        });
    }
    if let Some(valid_after) = entry.valid_after
        && at < valid_after
    {
        return Err(Rejection::SignerNotYetValid {
            principal: entry.principals.clone(),
            valid_after,
            at,
        });
    }
    if let Some(valid_before) = entry.valid_before
        && at > valid_before
    {
        return Err(Rejection::SignerExpired {
            principal: entry.principals.clone(),
            valid_before,
            at,
        });
    }
    Ok(())
}

enum RawError {
    Bad,
    Rejected(Rejection),
}

/// Verifies `signature` (SSH wire encoding of its algorithm) over `data` with `key`, in ring.
fn verify_raw(
    key: &KeyData,
    algorithm: &Algorithm,
    signature: &[u8],
    data: &[u8],
) -> Result<(), RawError> {
    let unsupported = |a: &str| {
        RawError::Rejected(Rejection::UnsupportedAlgorithm {
            algorithm: a.to_owned(),
        })
    };
    let mismatch = || {
        RawError::Rejected(Rejection::MalformedSignature {
            kind: SignatureKind::Ssh,
            why: format!(
                "signature algorithm `{}` does not match key type `{}`",
                algorithm.as_str(),
                key.algorithm().as_str()
            ),
        })
    };
    match key {
        KeyData::Ed25519(pk) => {
            if *algorithm != Algorithm::Ed25519 {
                return Err(mismatch());
            }
            rs::UnparsedPublicKey::new(&rs::ED25519, pk.as_ref())
                .verify(data, signature)
                .map_err(|_| RawError::Bad)
        }
        KeyData::Ecdsa(pk) => {
            let (ring_alg, size): (&'static rs::EcdsaVerificationAlgorithm, usize) =
                match pk.curve() {
                    EcdsaCurve::NistP256 => (&rs::ECDSA_P256_SHA256_FIXED, 32),
                    EcdsaCurve::NistP384 => (&rs::ECDSA_P384_SHA384_FIXED, 48),
                    EcdsaCurve::NistP521 => return Err(unsupported("ecdsa-sha2-nistp521")),
                };
            if *algorithm != (Algorithm::Ecdsa { curve: pk.curve() }) {
                return Err(mismatch());
            }
            let fixed = ecdsa_fixed(signature, size).ok_or(RawError::Bad)?;
            rs::UnparsedPublicKey::new(ring_alg, pk.as_sec1_bytes())
                .verify(data, &fixed)
                .map_err(|_| RawError::Bad)
        }
        KeyData::Rsa(pk) => {
            let params: &'static rs::RsaParameters = match algorithm {
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                } => &rs::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                } => &rs::RSA_PKCS1_2048_8192_SHA512,
                // `ssh-rsa` signs with SHA-1; OpenSSH refuses it in SSHSIG too.
                Algorithm::Rsa { .. } => return Err(unsupported(algorithm.as_str())),
                _ => return Err(mismatch()),
            };
            let (Some(n), Some(e)) = (pk.n.as_positive_bytes(), pk.e.as_positive_bytes()) else {
                return Err(RawError::Bad);
            };
            rs::RsaPublicKeyComponents { n, e }
                .verify(params, data, signature)
                .map_err(|_| RawError::Bad)
        }
        other => Err(unsupported(other.algorithm().as_str())),
    }
}

/// Names what ssh-key refused when it is an algorithm, not a broken encoding: `ssh-rsa`
/// (SHA-1) signatures, certificates, security keys. Otherwise a malformed signature.
fn diagnose(armored: &[u8], why: &str) -> Rejection {
    let algorithms = || -> Option<(String, String)> {
        use base64ct::{Base64, Encoding};
        let text = std::str::from_utf8(armored).ok()?;
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let blob = Base64::decode_vec(&body).ok()?;
        let rest = blob.strip_prefix(b"SSHSIG")?.get(4..)?;
        let (public_key, rest) = get_string(rest)?;
        let (key_algorithm, _) = get_string(public_key)?;
        let (_namespace, rest) = get_string(rest)?;
        let (_reserved, rest) = get_string(rest)?;
        let (_hash, rest) = get_string(rest)?;
        let (signature, _) = get_string(rest)?;
        let (sig_algorithm, _) = get_string(signature)?;
        let name = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned();
        Some((name(key_algorithm), name(sig_algorithm)))
    };
    match algorithms() {
        Some((key, _)) if key.ends_with("-cert-v01@openssh.com") => {
            Rejection::CertificateAuthorityUnsupported { algorithm: key }
        }
        Some((_, sig)) if sig == "ssh-rsa" => Rejection::UnsupportedAlgorithm {
            algorithm: "ssh-rsa (RSA with SHA-1)".to_owned(),
        },
        Some((key, _)) if !SUPPORTED_KEYS.contains(&key.as_str()) => {
            Rejection::UnsupportedAlgorithm { algorithm: key }
        }
        _ => malformed(why),
    }
}

const SUPPORTED_KEYS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ssh-rsa",
];

/// Converts SSH's ECDSA signature blob, `mpint r || mpint s`, to ring's fixed `r || s`.
pub(crate) fn ecdsa_fixed(blob: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut rest = blob;
    let mut out = Vec::with_capacity(2 * size);
    for _ in 0..2 {
        let (value, tail) = get_string(rest)?;
        rest = tail;
        // mpint: two's complement big-endian; a positive value with the top bit set carries a
        // leading zero byte. Negative values are invalid here.
        if value.first().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        let trimmed = &value[value.iter().position(|&b| b != 0).unwrap_or(value.len())..];
        if trimmed.len() > size {
            return None;
        }
        out.resize(out.len() + size - trimmed.len(), 0);
        out.extend_from_slice(trimmed);
    }
    rest.is_empty().then_some(out)
}

/// Bits of an RSA modulus.
pub(crate) fn rsa_bits(key: &RsaPublicKey) -> usize {
    let n = key.n.as_positive_bytes().unwrap_or_default();
    match n.first() {
        Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Lengths here are a namespace, an algorithm name and a digest: far below u32::MAX.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn get_string(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let value = buf.get(4..4usize.checked_add(len)?)?;
    Some((value, &buf[4 + len..]))
}

fn malformed(why: &str) -> Rejection {
    Rejection::MalformedSignature {
        kind: SignatureKind::Ssh,
        why: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mpint(v: &[u8]) -> Vec<u8> {
        let mut out = (v.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(v);
        out
    }

    #[test]
    fn ecdsa_blob_should_become_fixed_width() {
        let mut blob = mpint(&[0x00, 0x80, 1]);
        blob.extend(mpint(&[2]));
        let fixed = ecdsa_fixed(&blob, 4).unwrap();
        assert_eq!(fixed, [0, 0, 0x80, 1, 0, 0, 0, 2]);
    }

    #[test]
    fn ecdsa_blob_with_negative_oversized_or_trailing_values_should_be_refused() {
        let mut neg = mpint(&[0x80]);
        neg.extend(mpint(&[1]));
        assert_eq!(ecdsa_fixed(&neg, 4), None);
        let mut big = mpint(&[1, 2, 3, 4, 5]);
        big.extend(mpint(&[1]));
        assert_eq!(ecdsa_fixed(&big, 4), None);
        let mut trailing = mpint(&[1]);
        trailing.extend(mpint(&[1]));
        trailing.push(0);
        assert_eq!(ecdsa_fixed(&trailing, 4), None);
        assert_eq!(ecdsa_fixed(&[0, 0, 0, 9], 4), None);
        assert_eq!(ecdsa_fixed(&[0xff, 0xff, 0xff, 0xff], 4), None);
    }

    #[test]
    fn string_reader_should_not_overflow() {
        assert_eq!(get_string(&[0xff, 0xff, 0xff, 0xff, 1]), None);
        assert_eq!(
            get_string(&[0, 0, 0, 1, 7, 8]),
            Some((&[7u8][..], &[8u8][..]))
        );
        assert_eq!(get_string(&[0, 0]), None);
    }

    fn armor(blob: &[u8]) -> Vec<u8> {
        use base64ct::{Base64, Encoding};
        format!(
            "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
            Base64::encode_string(blob)
        )
        .into_bytes()
    }

    fn sshsig(key_alg: &str, sig_alg: &str) -> Vec<u8> {
        let s = |v: &[u8]| {
            let mut out = (v.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(v);
            out
        };
        let mut blob = b"SSHSIG\0\0\0\x01".to_vec();
        blob.extend(s(&[s(key_alg.as_bytes()), s(&[1; 32])].concat()));
        blob.extend(s(b"git"));
        blob.extend(s(b""));
        blob.extend(s(b"sha512"));
        blob.extend(s(&[s(sig_alg.as_bytes()), s(&[2; 7])].concat()));
        blob
    }

    #[test]
    fn certificate_signer_should_be_refused_as_unsupported_ca() {
        let alg = "ssh-ed25519-cert-v01@openssh.com";
        assert_eq!(
            SshSignature::parse(&armor(&sshsig(alg, "ssh-ed25519"))).unwrap_err(),
            Rejection::CertificateAuthorityUnsupported {
                algorithm: alg.into()
            }
        );
    }

    #[test]
    fn ssh_rsa_sha1_and_unknown_key_types_should_be_named() {
        assert_eq!(
            SshSignature::parse(&armor(&sshsig("ssh-rsa", "ssh-rsa"))).unwrap_err(),
            Rejection::UnsupportedAlgorithm {
                algorithm: "ssh-rsa (RSA with SHA-1)".into()
            }
        );
        assert_eq!(
            SshSignature::parse(&armor(&sshsig("sk-ssh-ed25519@openssh.com", "x"))).unwrap_err(),
            Rejection::UnsupportedAlgorithm {
                algorithm: "sk-ssh-ed25519@openssh.com".into()
            }
        );
    }

    #[test]
    fn garbage_armor_should_be_malformed() {
        for bad in [
            &b"-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n"[..],
            b"-----BEGIN SSH SIGNATURE-----\nQUFBQQ==\n-----END SSH SIGNATURE-----\n",
            b"-----BEGIN SSH SIGNATURE-----\n",
            b"",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(
                    SshSignature::parse(bad),
                    Err(Rejection::MalformedSignature { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
