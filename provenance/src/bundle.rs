//! Sigstore bundles (media types v0.1 to v0.3), as cosign v3 attaches them to an image: an OCI
//! 1.1 referrer whose layer is the bundle JSON. Pure parsing and checking; the verifier fetches.
//!
//! Two contents are read:
//! - a DSSE envelope (`cosign sign` v3's default): the signature is over the DSSE
//!   pre-authentication encoding of the payload, an in-toto statement whose `subject` names the
//!   image digest and whose `predicateType` is `https://sigstore.dev/cosign/sign/v1` (the
//!   cosign signature predicate; other predicates are attestations, not signatures). A
//!   simple-signing payload in the envelope is read too;
//! - a message signature: the signature is over the image manifest bytes, whose SHA-256 the
//!   bundle names in `messageDigest`.
//!
//! Only key-based bundles (`verificationMaterial.publicKey`) are verified, offline: transparency
//! log entries and timestamps are not checked (cosign's `--insecure-ignore-tlog`). A bundle
//! with a certificate (keyless) is refused by name.

use crate::keys::KeySet;
use crate::payload::{PayloadError, check_payload};
use base64::Engine;
use serde::Deserialize;

/// Largest bundle read (a key-based one is about 2 KiB; a keyless one with a certificate chain
/// and a log entry about 10 KiB).
pub const MAX_BUNDLE_SIZE: usize = 256 * 1024;
/// The artifact type (and layer media type) cosign v3 writes.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The in-toto predicate type of a cosign image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Whether a media or artifact type is a Sigstore bundle (`…bundle.v0.3+json`,
/// `…bundle+json;version=0.1|0.2|0.3`).
pub fn is_bundle_media_type(media_type: &str) -> bool {
    bundle_version(media_type).is_some()
}

fn bundle_version(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => "0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => "0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => "0.3",
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleJson {
    media_type: String,
    #[serde(default)]
    verification_material: Option<Material>,
    #[serde(default)]
    message_signature: Option<MessageSignatureJson>,
    #[serde(default)]
    dsse_envelope: Option<EnvelopeJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    #[serde(default)]
    public_key: Option<serde_json::Value>,
    #[serde(default)]
    x509_certificate_chain: Option<serde_json::Value>,
    #[serde(default)]
    certificate: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignatureJson {
    #[serde(default)]
    message_digest: Option<DigestJson>,
    signature: String,
}

#[derive(Deserialize)]
struct DigestJson {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload: String,
    payload_type: String,
    signatures: Vec<SignatureJson>,
}

#[derive(Deserialize)]
struct SignatureJson {
    sig: String,
}

/// What a bundle signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A signature over a message (the image manifest), with the message's SHA-256 if named.
    Message {
        sha256: Option<Vec<u8>>,
        signature: Vec<u8>,
    },
    /// A DSSE envelope: signatures over the pre-authentication encoding of the payload.
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    },
}

/// A parsed bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// `0.1`, `0.2` or `0.3`.
    pub version: &'static str,
    /// Signed with a certificate (keyless) rather than a key.
    pub keyless: bool,
    /// What is signed.
    pub content: Content,
}

/// Most DSSE signatures looked at in one envelope.
const MAX_DSSE_SIGNATURES: usize = 16;

/// Parses a bundle.
///
/// # Errors
/// A message naming what is wrong: size, JSON, media type, base64, missing content.
pub fn parse_bundle(bytes: &[u8]) -> Result<Bundle, String> {
    if bytes.len() > MAX_BUNDLE_SIZE {
        return Err(format!(
            "{} bytes, over the {MAX_BUNDLE_SIZE} byte limit",
            bytes.len()
        ));
    }
    let b: BundleJson =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    let version = bundle_version(&b.media_type)
        .ok_or_else(|| format!("bundle media type `{}` is not v0.1 to v0.3", b.media_type))?;
    let material = b
        .verification_material
        .ok_or("bundle has no `verificationMaterial`")?;
    let keyless = material.x509_certificate_chain.is_some() || material.certificate.is_some();
    if !keyless && material.public_key.is_none() {
        return Err("bundle names neither a public key nor a certificate".into());
    }
    let b64 = |what: &str, s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| format!("{what} is not base64: {e}"))
    };
    let content = match (b.message_signature, b.dsse_envelope) {
        (Some(m), None) => {
            let sha256 = match m.message_digest {
                None => None,
                Some(d) if d.algorithm == "SHA2_256" => {
                    Some(b64("`messageDigest.digest`", &d.digest)?)
                }
                Some(d) => {
                    return Err(format!(
                        "message digest algorithm `{}` is not supported (SHA2_256)",
                        d.algorithm
                    ));
                }
            };
            Content::Message {
                sha256,
                signature: b64("`messageSignature.signature`", &m.signature)?,
            }
        }
        (None, Some(e)) => {
            if e.signatures.is_empty() {
                return Err("DSSE envelope has no signature".into());
            }
            let signatures = e
                .signatures
                .iter()
                .take(MAX_DSSE_SIGNATURES)
                .map(|s| b64("DSSE signature", &s.sig))
                .collect::<Result<_, _>>()?;
            Content::Dsse {
                payload: b64("DSSE payload", &e.payload)?,
                payload_type: e.payload_type,
                signatures,
            }
        }
        (Some(_), Some(_)) => {
            return Err("bundle has both a message signature and a DSSE envelope".into());
        }
        (None, None) => {
            return Err("bundle has neither a message signature nor a DSSE envelope".into());
        }
    };
    Ok(Bundle {
        version,
        keyless,
        content,
    })
}

/// The DSSE pre-authentication encoding: what a DSSE signature signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// Checks that a (verified) in-toto statement is a cosign signature of `digest`.
///
/// # Errors
/// [`PayloadError::DigestMismatch`] when no subject names the digest (naming the first one);
/// [`PayloadError::Malformed`] for another statement type or predicate (an attestation).
pub fn check_statement(payload: &[u8], digest: &str) -> Result<(), PayloadError> {
    let s: Statement = serde_json::from_slice(payload)
        .map_err(|e| PayloadError::Malformed(format!("not an in-toto statement: {e}")))?;
    if !matches!(
        s.kind.as_str(),
        "https://in-toto.io/Statement/v1" | "https://in-toto.io/Statement/v0.1"
    ) {
        return Err(PayloadError::Malformed(format!(
            "statement type `{}` is not in-toto v0.1 or v1",
            s.kind
        )));
    }
    if s.predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(PayloadError::Malformed(format!(
            "predicate `{}` is an attestation, not a cosign signature (`{COSIGN_SIGN_PREDICATE}`)",
            s.predicate_type
        )));
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if s.subject
        .iter()
        .any(|sub| sub.digest.get("sha256").is_some_and(|d| d == hex))
    {
        return Ok(());
    }
    let signed = s
        .subject
        .iter()
        .find_map(|sub| sub.digest.get("sha256").map(|d| format!("sha256:{d}")))
        .unwrap_or_else(|| "no sha256 subject".into());
    Err(PayloadError::DigestMismatch { signed })
}

/// Why a bundle did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleFailure {
    /// Signed with a certificate: keyless verification is not supported.
    Keyless,
    /// No trusted key verifies its signature.
    Untrusted,
    /// A trusted key signed something that is not a signature of this digest.
    Payload(PayloadError),
    /// A message signature, but the manifest bytes are needed (the caller fetches them).
    NeedsManifest,
}

/// Verifies a bundle's signature with `keys` and checks that it signs `digest`; returns the id
/// of the key. `manifest` is the image manifest (bytes that hash to `digest`), needed only for
/// a message signature.
///
/// # Errors
/// [`BundleFailure`].
pub fn verify_bundle(
    bundle: &Bundle,
    digest: &str,
    keys: &KeySet,
    manifest: Option<&[u8]>,
) -> Result<String, BundleFailure> {
    if bundle.keyless {
        return Err(BundleFailure::Keyless);
    }
    match &bundle.content {
        Content::Dsse {
            payload_type,
            payload,
            signatures,
        } => {
            let message = pae(payload_type, payload);
            let key = signatures
                .iter()
                .find_map(|sig| keys.verify(&message, sig))
                .ok_or(BundleFailure::Untrusted)?;
            match payload_type.as_str() {
                IN_TOTO_PAYLOAD_TYPE => check_statement(payload, digest),
                crate::verifier::SIMPLE_SIGNING_MEDIA_TYPE => {
                    check_payload(payload, digest).map(|_| ())
                }
                other => Err(PayloadError::Malformed(format!(
                    "DSSE payload type `{other}` is neither in-toto nor simple signing"
                ))),
            }
            .map_err(BundleFailure::Payload)?;
            Ok(key.id().to_owned())
        }
        Content::Message { sha256, signature } => {
            let hex_digest = digest.strip_prefix("sha256:").unwrap_or(digest);
            if let Some(named) = sha256 {
                let named_hex = crate::registry::hex(named);
                if named_hex != hex_digest {
                    return Err(BundleFailure::Payload(PayloadError::DigestMismatch {
                        signed: format!("sha256:{named_hex}"),
                    }));
                }
            }
            let manifest = manifest.ok_or(BundleFailure::NeedsManifest)?;
            let key = keys
                .verify(manifest, signature)
                .ok_or(BundleFailure::Untrusted)?;
            Ok(key.id().to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{key_pair, sign};

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn statement(hex: &str, predicate: &str) -> Vec<u8> {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{hex}"}}}}],"predicateType":"{predicate}","predicate":{{}}}}"#
        )
        .into_bytes()
    }

    fn dsse_bundle(media_type: &str, payload: &[u8], sig: &[u8]) -> Vec<u8> {
        serde_json::json!({
            "mediaType": media_type,
            "verificationMaterial": {"publicKey": {"hint": "k"}, "tlogEntries": []},
            "dsseEnvelope": {"payload": b64(payload), "payloadType": IN_TOTO_PAYLOAD_TYPE,
                             "signatures": [{"sig": b64(sig), "keyid": ""}]}
        })
        .to_string()
        .into_bytes()
    }

    /// What cosign v3.1.3 wrote (`tests/fixtures/cosign3/README.md`).
    #[test]
    fn bundles_made_by_cosign_v3_should_verify_with_their_keys_only() {
        let cases = [
            (
                &include_bytes!("../tests/fixtures/cosign3/p256.bundle.json")[..],
                include_str!("../tests/fixtures/cosign3/p256.pub"),
                "sha256:f2bd890837dcfe2bd63cda36dcea46654ca8513bd0b9de20d0fd341ad4da5f74",
            ),
            (
                &include_bytes!("../tests/fixtures/cosign3/ed25519.bundle.json")[..],
                include_str!("../tests/fixtures/cosign3/ed25519.pub"),
                "sha256:d8514d76f48a815f6222a6adac0a5d7e03c46b1b363094270234b2f78fed60f9",
            ),
        ];
        for (bytes, pem, digest) in cases {
            let bundle = parse_bundle(bytes).unwrap();
            assert_eq!((bundle.version, bundle.keyless), ("0.3", false));
            let keys = KeySet::from_pems(&[pem]).unwrap();
            assert!(verify_bundle(&bundle, digest, &keys, None).is_ok(), "{pem}");
            let other = KeySet::from_pems(&[cases[0].1, cases[1].1]).unwrap();
            assert!(verify_bundle(&bundle, digest, &other, None).is_ok());
            let (_, stranger) = key_pair();
            assert_eq!(
                verify_bundle(
                    &bundle,
                    digest,
                    &KeySet::from_pems(&[&stranger]).unwrap(),
                    None
                ),
                Err(BundleFailure::Untrusted)
            );
            assert!(matches!(
                verify_bundle(&bundle, &digest.replace('d', "e"), &keys, None),
                Err(BundleFailure::Payload(PayloadError::DigestMismatch { .. }))
            ));
        }
    }

    #[test]
    fn pae_should_follow_the_dsse_spec() {
        // The example of the DSSE specification.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_dsse_bundle_signed_by_a_trusted_key_should_verify_for_its_digest_only() {
        let (pair, pem) = key_pair();
        let keys = KeySet::from_pems(&[&pem]).unwrap();
        let payload = statement(&D[7..], COSIGN_SIGN_PREDICATE);
        let sig = sign(&pair, &pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        for media_type in [
            BUNDLE_V03_MEDIA_TYPE,
            "application/vnd.dev.sigstore.bundle+json;version=0.2",
            "application/vnd.dev.sigstore.bundle+json;version=0.1",
        ] {
            let bundle = parse_bundle(&dsse_bundle(media_type, &payload, &sig)).unwrap();
            assert!(
                verify_bundle(&bundle, D, &keys, None).is_ok(),
                "{media_type}"
            );
        }
        let bundle = parse_bundle(&dsse_bundle(BUNDLE_V03_MEDIA_TYPE, &payload, &sig)).unwrap();
        let other = D.replace("0123", "ffff");
        assert_eq!(
            verify_bundle(&bundle, &other, &keys, None),
            Err(BundleFailure::Payload(PayloadError::DigestMismatch {
                signed: D.into()
            }))
        );
        let (_, stranger) = key_pair();
        assert_eq!(
            verify_bundle(&bundle, D, &KeySet::from_pems(&[&stranger]).unwrap(), None),
            Err(BundleFailure::Untrusted)
        );
        // The signature covers the payload type too.
        let mut altered = bundle.clone();
        if let Content::Dsse { payload_type, .. } = &mut altered.content {
            *payload_type = "application/json".into();
        }
        assert_eq!(
            verify_bundle(&altered, D, &keys, None),
            Err(BundleFailure::Untrusted)
        );
    }

    #[test]
    fn an_attestation_should_not_count_as_a_signature() {
        let (pair, pem) = key_pair();
        let keys = KeySet::from_pems(&[&pem]).unwrap();
        let payload = statement(&D[7..], "https://slsa.dev/provenance/v1");
        let sig = sign(&pair, &pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        let bundle = parse_bundle(&dsse_bundle(BUNDLE_V03_MEDIA_TYPE, &payload, &sig)).unwrap();
        assert!(matches!(
            verify_bundle(&bundle, D, &keys, None),
            Err(BundleFailure::Payload(PayloadError::Malformed(m))) if m.contains("attestation")
        ));
    }

    #[test]
    fn a_message_signature_should_be_over_the_manifest_bytes() {
        let (pair, pem) = key_pair();
        let keys = KeySet::from_pems(&[&pem]).unwrap();
        let manifest = br#"{"schemaVersion":2}"#;
        let digest = crate::registry::sha256_digest(manifest);
        let raw = ring::digest::digest(&ring::digest::SHA256, manifest);
        let json = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2",
            "verificationMaterial": {"publicKey": {"hint": "k"}},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(raw.as_ref())},
                                 "signature": b64(&sign(&pair, manifest))}
        });
        let bundle = parse_bundle(json.to_string().as_bytes()).unwrap();
        assert_eq!(
            verify_bundle(&bundle, &digest, &keys, None),
            Err(BundleFailure::NeedsManifest)
        );
        assert!(verify_bundle(&bundle, &digest, &keys, Some(manifest)).is_ok());
        assert_eq!(
            verify_bundle(&bundle, &digest, &keys, Some(b"other")),
            Err(BundleFailure::Untrusted)
        );
        assert!(matches!(
            verify_bundle(&bundle, D, &keys, Some(manifest)),
            Err(BundleFailure::Payload(PayloadError::DigestMismatch { .. }))
        ));
    }

    #[test]
    fn keyless_and_malformed_bundles_should_be_refused_by_name() {
        let keyless = serde_json::json!({
            "mediaType": BUNDLE_V03_MEDIA_TYPE,
            "verificationMaterial": {"certificate": {"rawBytes": "AAAA"}},
            "messageSignature": {"signature": "AAAA"}
        });
        let b = parse_bundle(keyless.to_string().as_bytes()).unwrap();
        let (_, pem) = key_pair();
        assert_eq!(
            verify_bundle(&b, D, &KeySet::from_pems(&[&pem]).unwrap(), None),
            Err(BundleFailure::Keyless)
        );
        for (bad, why) in [
            (&b"{"[..], "not a Sigstore bundle"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.4+json"}"#, "not v0.1 to v0.3"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#, "verificationMaterial"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#, "neither a public key"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}}}"#, "neither a message"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"!","payloadType":"t","signatures":[{"sig":"AAAA"}]}}"#, "not base64"),
            (br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"","payloadType":"t","signatures":[]}}"#, "no signature"),
        ] {
            let e = parse_bundle(bad).unwrap_err();
            assert!(e.contains(why), "{e} (expected {why})");
        }
        assert!(
            parse_bundle(&vec![b' '; MAX_BUNDLE_SIZE + 1])
                .unwrap_err()
                .contains("limit")
        );
    }
}
