//! The cosign "simple signing" payload: what a cosign signature signs.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"registry.example/app"},
//!              "image":{"docker-manifest-digest":"sha256:…"},
//!              "type":"cosign container image signature"},
//!  "optional":null}
//! ```
//!
//! The signature is checked over the exact payload bytes first; only then is the payload read,
//! and it must name the digest being verified.

use crate::reference::ImageRef;
use serde::Deserialize;

/// Largest payload accepted (cosign's are a few hundred bytes; annotations add a little).
pub const MAX_PAYLOAD_SIZE: usize = 256 * 1024;

/// The `critical.type` of a cosign image signature.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// What a signed payload says, when it does not fit the image being verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Not a simple-signing payload of a cosign image signature.
    Malformed(String),
    /// It names another manifest digest.
    DigestMismatch { signed: String },
    /// It names another repository.
    IdentityMismatch { signed: String },
}

/// The repository (and manifest digest) a payload is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedClaim {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: String,
}

/// Reads a simple-signing payload.
///
/// # Errors
/// [`PayloadError::Malformed`] for anything that is not a cosign image signature payload.
pub fn parse_payload(payload: &[u8]) -> Result<SignedClaim, PayloadError> {
    if payload.len() > MAX_PAYLOAD_SIZE {
        return Err(PayloadError::Malformed(format!(
            "{} bytes, over the {MAX_PAYLOAD_SIZE} byte limit",
            payload.len()
        )));
    }
    let parsed: SimpleSigning = serde_json::from_slice(payload)
        .map_err(|e| PayloadError::Malformed(format!("not a simple-signing payload: {e}")))?;
    let c = parsed.critical;
    if c.kind != COSIGN_SIGNATURE_TYPE {
        return Err(PayloadError::Malformed(format!(
            "`critical.type` is `{}`, expected `{COSIGN_SIGNATURE_TYPE}`",
            c.kind
        )));
    }
    Ok(SignedClaim {
        docker_reference: c.identity.docker_reference,
        digest: c.image.docker_manifest_digest,
    })
}

/// Checks that a (verified) payload is about `digest` in the repository of `image`.
///
/// The digest must be equal. The identity must name the same repository path; its registry
/// host may differ, because `cosign copy` to a mirror keeps signatures made for the original
/// registry (the digest binds the content either way).
///
/// # Errors
/// [`PayloadError`], saying what the payload names instead.
pub fn check_payload(payload: &[u8], digest: &str, image: &ImageRef) -> Result<(), PayloadError> {
    let claim = parse_payload(payload)?;
    if claim.digest != digest {
        return Err(PayloadError::DigestMismatch {
            signed: claim.digest,
        });
    }
    let signed = ImageRef::parse(&claim.docker_reference).map_err(|_| {
        PayloadError::Malformed(format!(
            "`critical.identity.docker-reference` `{}` is not an image reference",
            claim.docker_reference
        ))
    })?;
    if signed.repository() != image.repository() {
        return Err(PayloadError::IdentityMismatch {
            signed: claim.docker_reference,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// What cosign v2.6.5 signed for `127.0.0.1:5000/app` (byte for byte).
    fn cosign_payload(reference: &str, digest: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn a_payload_for_the_digest_and_repository_should_pass() {
        let p = cosign_payload("127.0.0.1:5000/app", D);
        assert_eq!(
            check_payload(&p, D, &image("127.0.0.1:5000/app:v1")),
            Ok(())
        );
        let claim = parse_payload(&p).unwrap();
        assert_eq!(claim.digest, D);
        assert_eq!(claim.docker_reference, "127.0.0.1:5000/app");
    }

    #[test]
    fn a_mirror_of_the_same_repository_should_pass() {
        let p = cosign_payload("registry.example/team/app", D);
        assert_eq!(
            check_payload(&p, D, &image("mirror.example/team/app:v1")),
            Ok(())
        );
        let hub = cosign_payload("index.docker.io/library/nginx", D);
        assert_eq!(check_payload(&hub, D, &image("nginx")), Ok(()));
    }

    #[test]
    fn a_payload_for_another_digest_should_be_refused_naming_it() {
        let other = D.replace("0123", "ffff");
        let p = cosign_payload("127.0.0.1:5000/app", &other);
        assert_eq!(
            check_payload(&p, D, &image("127.0.0.1:5000/app")),
            Err(PayloadError::DigestMismatch { signed: other })
        );
    }

    #[test]
    fn a_payload_for_another_repository_should_be_refused() {
        let p = cosign_payload("127.0.0.1:5000/other", D);
        assert_eq!(
            check_payload(&p, D, &image("127.0.0.1:5000/app")),
            Err(PayloadError::IdentityMismatch {
                signed: "127.0.0.1:5000/other".into()
            })
        );
    }

    #[test]
    fn malformed_payloads_should_be_refused() {
        let wrong_type = String::from_utf8(cosign_payload("r/app", D))
            .unwrap()
            .replace(
                "cosign container image signature",
                "atomic container signature",
            );
        for bad in [
            &b""[..],
            b"{}",
            b"null",
            b"{\"critical\":{}}",
            wrong_type.as_bytes(),
            &cosign_payload("NOT A REF", D),
        ] {
            assert!(
                matches!(
                    check_payload(bad, D, &image("r/app")),
                    Err(PayloadError::Malformed(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let big = vec![b' '; MAX_PAYLOAD_SIZE + 1];
        assert!(
            matches!(parse_payload(&big), Err(PayloadError::Malformed(m)) if m.contains("limit"))
        );
    }
}
