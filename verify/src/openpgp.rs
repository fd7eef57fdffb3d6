//! OpenPGP signatures (`gpg.format=openpgp`), with rpgp.
//!
//! # How keys are judged
//!
//! When the keyring is parsed, every self-signature is checked cryptographically and only good
//! ones count: a user ID counts if it has a good self-certification; the primary key's flags
//! and expiry come from its newest good self-certification (the primary user ID's first); a
//! subkey counts if its newest good binding signature marks it for signing and carries a good
//! back-signature (primary key binding), as GnuPG requires.
//!
//! When a signature is verified, at its creation time `t` and at the verification time `now`:
//! - **revoked** keys (a good key or subkey revocation signature) are refused whatever the
//!   revocation date or reason: a key is revoked because it may be compromised, and a
//!   compromised key can backdate signatures. git with GnuPG refuses too (`REVKEYSIG`).
//! - **expired** keys are refused if expired at `t` *or* at `now`. GnuPG reports a signature by
//!   a key expired now as `EXPKEYSIG`, which git refuses; and a signature made after expiry is
//!   never good.
//! - a signature made before its key was created, or past its own expiry, is refused.
//! - MD5, SHA-1 and RIPEMD-160 data signatures are refused (collision attacks).

use crate::error::{KeyringError, Rejection, SignatureKind};
use crate::time::UnixTime;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{self, SignatureType};
use pgp::types::{KeyDetails, Tag};

/// Keyring text over this size is refused.
pub const MAX_KEYRING_SIZE: usize = 8 * 1024 * 1024;

const BEGIN_PUBLIC_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// Trusted OpenPGP public keys (certificates) with their signing keys already judged.
#[derive(Debug, Clone, Default)]
pub struct OpenPgpKeyring {
    certs: Vec<Certificate>,
}

/// One trusted OpenPGP certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Upper-case hex fingerprint of the primary key.
    pub fingerprint: String,
    /// User IDs with a good self-certification, the primary one first.
    pub user_ids: Vec<String>,
    keys: Vec<KeyState>,
}

impl Certificate {
    /// The primary user ID, or the fingerprint when there is none.
    pub fn signer(&self) -> &str {
        self.user_ids.first().map_or(&self.fingerprint, |u| u)
    }

    /// Emails of the user IDs (`Name <email>`), lower-cased.
    pub fn emails(&self) -> impl Iterator<Item = String> + '_ {
        self.user_ids.iter().filter_map(|u| email_of(u))
    }
}

#[derive(Debug, Clone)]
enum KeyPacket {
    Primary(packet::PublicKey),
    Sub(packet::PublicSubkey),
}

/// What the keyring knows about one primary key or subkey.
#[derive(Debug, Clone)]
struct KeyState {
    fingerprint: String,
    key_id: [u8; 8],
    fingerprint_bytes: Vec<u8>,
    packet: KeyPacket,
    created: i64,
    /// Absolute expiry time, if any.
    expires: Option<i64>,
    /// Reason text of a good revocation signature.
    revoked: Option<String>,
    /// Why the key may not sign, if it may not.
    not_for_signing: Option<String>,
    /// Creation time of the self-signature (or binding) that `expires` and
    /// `not_for_signing` come from; the newest wins when a key appears twice.
    self_sig_time: i64,
}

impl OpenPgpKeyring {
    /// Parses one or more armored public key blocks (`gpg --armor --export`, concatenated).
    ///
    /// # Errors
    /// [`KeyringError::Empty`] when there is no public key block, [`KeyringError::Malformed`]
    /// when a block does not parse. A certificate without any good self-signature is kept but
    /// may not sign ([`Rejection::KeyNotForSigning`]).
    pub fn parse(armored: &str) -> Result<Self, KeyringError> {
        crate::guard(|| Self::parse_unguarded(armored)).unwrap_or_else(|| {
            Err(KeyringError::Malformed {
                block: 0,
                why: "the OpenPGP parser failed internally (panic); keyring refused".to_owned(),
            })
        })
    }

    fn parse_unguarded(armored: &str) -> Result<Self, KeyringError> {
        if armored.len() > MAX_KEYRING_SIZE {
            return Err(KeyringError::TooLarge {
                limit: MAX_KEYRING_SIZE,
            });
        }
        let mut certs = Vec::new();
        let starts: Vec<usize> = armored
            .match_indices(BEGIN_PUBLIC_KEY)
            .map(|(i, _)| i)
            .filter(|&i| i == 0 || armored.as_bytes()[i - 1] == b'\n')
            .collect();
        if starts.is_empty() {
            return Err(KeyringError::Empty);
        }
        for (block, &start) in starts.iter().enumerate() {
            let end = starts.get(block + 1).copied().unwrap_or(armored.len());
            let text = &armored[start..end];
            let malformed = |why: String| KeyringError::Malformed {
                block: block + 1,
                why,
            };
            let (keys, _headers) = SignedPublicKey::from_armor_many(text.as_bytes())
                .map_err(|e| malformed(e.to_string()))?;
            let mut found = false;
            for key in keys {
                let key = key.map_err(|e| malformed(e.to_string()))?;
                certs.push(Certificate::judge(&key));
                found = true;
            }
            if !found {
                return Err(malformed("no public key in block".to_owned()));
            }
        }
        merge_duplicates(&mut certs);
        Ok(OpenPgpKeyring { certs })
    }

    /// The certificates, in keyring order.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certs
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

impl Certificate {
    /// Checks every self-signature of `key` and records what the good ones say.
    fn judge(key: &SignedPublicKey) -> Self {
        let primary = &key.primary_key;
        let fingerprint = hex_upper(primary.fingerprint().as_bytes());

        // Good self-certifications per user ID; the newest decides, primary user ID first.
        let mut user_ids: Vec<(bool, i64, String)> = Vec::new();
        let mut newest_cert: Option<(bool, i64, &packet::Signature)> = None;
        for user in &key.details.users {
            let mut best: Option<(i64, &packet::Signature)> = None;
            let mut revoked = false;
            for sig in &user.signatures {
                // rpgp counts certification revocations (0x30) as certifications: tell apart.
                let is_revocation = sig.typ() == Some(SignatureType::CertRevocation);
                if !sig.is_certification()
                    || sig
                        .verify_certification(primary, Tag::UserId, &user.id)
                        .is_err()
                {
                    continue;
                }
                if is_revocation {
                    // Any good revocation of a user ID withdraws it, whatever its date: the
                    // owner said the identity is no longer theirs.
                    revoked = true;
                    continue;
                }
                let t = created(sig);
                if best.is_none_or(|(bt, _)| t >= bt) {
                    best = Some((t, sig));
                }
            }
            if let Some((t, sig)) = best.filter(|_| !revoked) {
                let is_primary = sig.is_primary();
                user_ids.push((
                    is_primary,
                    t,
                    String::from_utf8_lossy(user.id.id()).into_owned(),
                ));
                if newest_cert.is_none_or(|(p, bt, _)| (is_primary, t) >= (p, bt)) {
                    newest_cert = Some((is_primary, t, sig));
                }
            }
        }
        let newest_direct = key
            .details
            .direct_signatures
            .iter()
            .filter(|s| s.verify_key(primary).is_ok())
            .max_by_key(|s| created(s));
        // Without any good self-signature nothing about the key is known to come from its
        // owner: it stays in the keyring (so its signatures are refused by name) but may not
        // sign. The rest of the keyring stays usable.
        let unbound = (newest_cert.is_none() && newest_direct.is_none()).then(|| {
            "no valid self-signature (user ID certification or direct key signature)".to_owned()
        });
        user_ids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));

        let self_sig = newest_cert.map(|(_, _, s)| s).or(newest_direct);
        let primary_created = i64::from(primary.created_at().as_secs());
        // The user ID binding and a direct key signature may both set an expiry: the earlier
        // one counts (fail closed; RFC 9580 gives the direct key signature precedence).
        let primary_expires = [self_sig, newest_direct]
            .into_iter()
            .flatten()
            .filter_map(|s| expiry(primary_created, s.key_expiration_time()))
            .min();
        let mut keys = vec![KeyState {
            fingerprint: fingerprint.clone(),
            key_id: key_id(primary.legacy_key_id().as_ref()),
            fingerprint_bytes: primary.fingerprint().as_bytes().to_vec(),
            packet: KeyPacket::Primary(primary.clone()),
            created: primary_created,
            expires: primary_expires,
            revoked: key
                .details
                .revocation_signatures
                .iter()
                .find(|s| {
                    s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(primary).is_ok()
                })
                .map(revocation_reason),
            self_sig_time: self_sig.map_or(0, created),
            not_for_signing: unbound.clone().or_else(|| {
                self_sig.and_then(|s| {
                    let flags = s.key_flags();
                    let no_flags = !flags.sign()
                        && !flags.certify()
                        && !flags.encrypt_comms()
                        && !flags.encrypt_storage()
                        && !flags.authentication();
                    (!flags.sign() && !no_flags)
                        .then(|| "primary key flags do not include signing".to_owned())
                })
            }),
        }];

        for sub in &key.public_subkeys {
            let sub_fp = hex_upper(sub.key.fingerprint().as_bytes());
            let sub_created = i64::from(sub.key.created_at().as_secs());
            let newest_binding = sub
                .signatures
                .iter()
                .filter(|s| {
                    s.typ() == Some(SignatureType::SubkeyBinding)
                        && s.verify_subkey_binding(primary, &sub.key).is_ok()
                })
                .max_by_key(|s| created(s));
            let revoked = sub
                .signatures
                .iter()
                .find(|s| {
                    s.typ() == Some(SignatureType::SubkeyRevocation)
                        && s.verify_subkey_binding(primary, &sub.key).is_ok()
                })
                .map(revocation_reason);
            let not_for_signing = match newest_binding {
                _ if unbound.is_some() => unbound.clone(),
                None => Some("no valid subkey binding signature".to_owned()),
                Some(b) if !b.key_flags().sign() => {
                    Some("subkey flags do not include signing".to_owned())
                }
                Some(b) => match b.embedded_signature() {
                    None => Some(
                        "signing subkey without back-signature (primary key binding)".to_owned(),
                    ),
                    Some(back) if back.verify_primary_key_binding(&sub.key, primary).is_err() => {
                        Some("signing subkey with a bad back-signature".to_owned())
                    }
                    Some(_) => None,
                },
            };
            keys.push(KeyState {
                fingerprint: sub_fp,
                key_id: key_id(sub.key.legacy_key_id().as_ref()),
                fingerprint_bytes: sub.key.fingerprint().as_bytes().to_vec(),
                packet: KeyPacket::Sub(sub.key.clone()),
                created: sub_created,
                expires: expiry(
                    sub_created,
                    newest_binding.and_then(|b| b.key_expiration_time()),
                ),
                revoked,
                not_for_signing,
                self_sig_time: newest_binding.map_or(0, created),
            });
        }

        Certificate {
            fingerprint,
            user_ids: user_ids.into_iter().map(|(_, _, u)| u).collect(),
            keys,
        }
    }
}

/// Makes every copy of a key say the same thing when a keyring holds it more than once (an old
/// export next to a newer one): revoked if any copy carries a good revocation, and expiry and
/// usage from the newest good self-signature, as GnuPG would after importing both. Without
/// this, the stale copy of a revoked key would still verify.
fn merge_duplicates(certs: &mut [Certificate]) {
    use std::collections::HashMap;
    let mut revoked: HashMap<String, String> = HashMap::new();
    let mut newest: HashMap<String, (i64, Option<i64>, Option<String>)> = HashMap::new();
    for key in certs.iter().flat_map(|c| &c.keys) {
        if let Some(reason) = &key.revoked {
            revoked
                .entry(key.fingerprint.clone())
                .or_insert_with(|| reason.clone());
        }
        let entry = newest
            .entry(key.fingerprint.clone())
            .or_insert((i64::MIN, None, None));
        if key.self_sig_time > entry.0 {
            *entry = (key.self_sig_time, key.expires, key.not_for_signing.clone());
        }
    }
    for key in certs.iter_mut().flat_map(|c| &mut c.keys) {
        if key.revoked.is_none() {
            key.revoked = revoked.get(&key.fingerprint).cloned();
        }
        if let Some((time, expires, not_for_signing)) = newest.get(&key.fingerprint) {
            key.self_sig_time = *time;
            key.expires = *expires;
            key.not_for_signing.clone_from(not_for_signing);
        }
    }
}

/// What an accepted OpenPGP signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpSigner {
    /// Primary user ID (or primary fingerprint when the key has none).
    pub signer: String,
    /// Every user ID, and every email of them.
    pub identities: Vec<String>,
    /// Fingerprint of the key that made the signature (a subkey's, for subkey signatures).
    pub key_fingerprint: String,
    /// Fingerprint of the primary key.
    pub primary_fingerprint: String,
}

/// Verifies an armored detached OpenPGP signature over `message` with `keyring`.
///
/// # Errors
/// Any OpenPGP [`Rejection`], see the module docs for the rules.
pub fn verify(
    armored: &[u8],
    message: &[u8],
    keyring: &OpenPgpKeyring,
    now: UnixTime,
) -> Result<PgpSigner, Rejection> {
    crate::guard(|| verify_unguarded(armored, message, keyring, now))
        .unwrap_or_else(|| Err(malformed("the OpenPGP parser failed internally (panic)")))
}

fn verify_unguarded(
    armored: &[u8],
    message: &[u8],
    keyring: &OpenPgpKeyring,
    now: UnixTime,
) -> Result<PgpSigner, Rejection> {
    let sig = parse_signature(armored)?;
    match sig.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        other => {
            return Err(malformed(&format!(
                "signature type {other:?} is not a data signature"
            )));
        }
    }
    let hash = sig
        .hash_alg()
        .ok_or_else(|| malformed("unknown signature version"))?;
    if matches!(
        hash,
        HashAlgorithm::None | HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160
    ) {
        return Err(Rejection::UnsupportedAlgorithm {
            algorithm: format!("OpenPGP hash {hash}"),
        });
    }
    let sig_time = sig
        .created()
        .map(|t| i64::from(t.as_secs()))
        .ok_or_else(|| malformed("signature without creation time"))?;

    // Candidate keys by issuer fingerprint, or by key ID when there is no fingerprint.
    let issuer_fps: Vec<&[u8]> = sig
        .issuer_fingerprint()
        .iter()
        .map(|f| f.as_bytes())
        .collect();
    let issuer_ids: Vec<[u8; 8]> = sig
        .issuer_key_id()
        .iter()
        .map(|k| key_id(k.as_ref()))
        .collect();
    let candidates: Vec<(&Certificate, &KeyState)> = keyring
        .certs
        .iter()
        .flat_map(|c| c.keys.iter().map(move |k| (c, k)))
        .filter(|(_, k)| {
            if issuer_fps.is_empty() {
                issuer_ids.contains(&k.key_id)
            } else {
                issuer_fps.contains(&k.fingerprint_bytes.as_slice())
            }
        })
        .collect();
    let Some(&(_, first)) = candidates.first() else {
        let fingerprint = issuer_fps
            .first()
            .map(|f| hex_upper(f))
            .or_else(|| {
                issuer_ids
                    .first()
                    .map(|k| format!("key ID {}", hex_upper(k)))
            })
            .unwrap_or_else(|| "without issuer".to_owned());
        return Err(Rejection::UnknownKey { fingerprint });
    };
    let (cert, key) = candidates
        .iter()
        .find(|(_, k)| match &k.packet {
            KeyPacket::Primary(p) => sig.verify(p, message).is_ok(),
            KeyPacket::Sub(s) => sig.verify(s, message).is_ok(),
        })
        .copied()
        .ok_or_else(|| Rejection::BadSignature {
            fingerprint: first.fingerprint.clone(),
        })?;

    let primary = &cert.keys[0];
    for k in [primary, key] {
        if let Some(reason) = &k.revoked {
            return Err(Rejection::KeyRevoked {
                fingerprint: k.fingerprint.clone(),
                reason: reason.clone(),
            });
        }
    }
    for k in [primary, key] {
        if let Some(expires) = k.expires
            && (sig_time >= expires || now.0 >= expires)
        {
            return Err(Rejection::KeyExpired {
                fingerprint: k.fingerprint.clone(),
                expired_at: UnixTime(expires),
            });
        }
        if sig_time < k.created {
            return Err(Rejection::SignatureNotValid {
                fingerprint: key.fingerprint.clone(),
                why: format!(
                    "made at {} before key {} was created at {}",
                    UnixTime(sig_time),
                    k.fingerprint,
                    UnixTime(k.created)
                ),
            });
        }
    }
    if let Some(until) = expiry(sig_time, sig.signature_expiration_time())
        && now.0 >= until
    {
        return Err(Rejection::SignatureNotValid {
            fingerprint: key.fingerprint.clone(),
            why: format!("signature expired at {}", UnixTime(until)),
        });
    }
    if let Some(why) = &key.not_for_signing {
        return Err(Rejection::KeyNotForSigning {
            fingerprint: key.fingerprint.clone(),
            why: why.clone(),
        });
    }
    let mut identities = cert.user_ids.clone();
    identities.extend(cert.emails());
    Ok(PgpSigner {
        signer: cert.signer().to_owned(),
        identities,
        key_fingerprint: key.fingerprint.clone(),
        primary_fingerprint: cert.fingerprint.clone(),
    })
}

/// Decodes exactly one armored detached signature.
///
/// # Errors
/// [`Rejection::MalformedSignature`].
pub fn parse_signature(armored: &[u8]) -> Result<packet::Signature, Rejection> {
    if armored.len() > crate::MAX_SIGNATURE_SIZE {
        return Err(Rejection::SignatureTooLarge {
            limit: crate::MAX_SIGNATURE_SIZE,
        });
    }
    let text = std::str::from_utf8(armored).map_err(|_| malformed("armor is not UTF-8"))?;
    let (sig, _headers) =
        DetachedSignature::from_string(text).map_err(|e| malformed(&e.to_string()))?;
    Ok(sig.signature)
}

fn created(sig: &packet::Signature) -> i64 {
    sig.created().map_or(0, |t| i64::from(t.as_secs()))
}

/// Absolute expiry of a key created at `created` with a key expiration subpacket; 0 is never.
fn expiry(created: i64, validity: Option<pgp::types::Duration>) -> Option<i64> {
    validity
        .map(|d| d.as_secs())
        .filter(|&secs| secs != 0)
        .map(|secs| created.saturating_add(i64::from(secs)))
}

fn revocation_reason(sig: &packet::Signature) -> String {
    let code = sig.revocation_reason_code().map(|c| format!("{c:?}"));
    let text = sig
        .revocation_reason_string()
        .map(|s| String::from_utf8_lossy(s).trim().to_owned())
        .filter(|s| !s.is_empty());
    match (code, text) {
        (Some(c), Some(t)) => format!(" ({c}: {t})"),
        (Some(c), None) => format!(" ({c})"),
        (None, Some(t)) => format!(" ({t})"),
        (None, None) => String::new(),
    }
}

/// The email of a `Name <email>` user ID, or the user ID itself if it is a bare email.
fn email_of(uid: &str) -> Option<String> {
    let email = match (uid.rfind('<'), uid.rfind('>')) {
        (Some(open), Some(close)) if open < close => &uid[open + 1..close],
        _ if uid.contains('@') && !uid.contains(char::is_whitespace) => uid,
        _ => return None,
    };
    (!email.is_empty()).then(|| email.to_ascii_lowercase())
}

fn key_id(bytes: &[u8]) -> [u8; 8] {
    let mut id = [0u8; 8];
    let n = bytes.len().min(8);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn malformed(why: &str) -> Rejection {
    Rejection::MalformedSignature {
        kind: SignatureKind::OpenPgp,
        why: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_should_come_from_angle_brackets_or_bare_address() {
        assert_eq!(
            email_of("Alice <Alice@Example.org>").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            email_of("alice@example.org").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(email_of("Alice"), None);
        assert_eq!(email_of("Alice <>"), None);
    }

    #[test]
    fn expiry_zero_should_mean_never() {
        assert_eq!(expiry(10, Some(pgp::types::Duration::from_secs(0))), None);
        assert_eq!(
            expiry(10, Some(pgp::types::Duration::from_secs(5))),
            Some(15)
        );
        assert_eq!(expiry(10, None), None);
    }

    #[test]
    fn keyring_without_key_block_should_be_empty_error() {
        assert_eq!(
            OpenPgpKeyring::parse("hello").unwrap_err(),
            KeyringError::Empty
        );
        assert_eq!(OpenPgpKeyring::parse("").unwrap_err(), KeyringError::Empty);
    }

    #[test]
    fn secret_key_block_should_not_count_as_a_public_key() {
        let text =
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgE\n-----END PGP PRIVATE KEY BLOCK-----\n";
        assert_eq!(
            OpenPgpKeyring::parse(text).unwrap_err(),
            KeyringError::Empty
        );
    }

    #[test]
    fn oversized_keyring_should_be_refused() {
        let text = "x".repeat(MAX_KEYRING_SIZE + 1);
        assert!(matches!(
            OpenPgpKeyring::parse(&text),
            Err(KeyringError::TooLarge { .. })
        ));
    }

    #[test]
    fn key_id_should_pad_to_eight_bytes() {
        assert_eq!(key_id(&[1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn truncated_key_block_should_be_malformed() {
        let err =
            OpenPgpKeyring::parse("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n").unwrap_err();
        assert!(
            matches!(err, KeyringError::Malformed { block: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_signature_should_be_malformed() {
        for bad in [
            &b""[..],
            b"-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n",
            b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
            b"\xff",
        ] {
            assert!(matches!(
                parse_signature(bad),
                Err(Rejection::MalformedSignature { .. })
            ));
        }
    }

    #[test]
    fn hex_should_be_upper_case() {
        assert_eq!(hex_upper(&[0x0a, 0xbc]), "0ABC");
    }
}
