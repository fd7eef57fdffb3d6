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
//! and it must name the digest being verified. The repository it names is not checked: the
//! digest binds the content, and `cosign copy` (how images reach a mirror or a secondary
//! registry) keeps signatures made for the original repository, which cosign accepts too.

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

/// Checks that a (verified) payload is about `digest`, and returns what it claims.
///
/// The digest must be equal. The identity (`docker-reference`) must be an image reference but
/// may name any registry and repository: a signed image copied to a mirror under another
/// repository keeps its signature, and the digest binds the content either way.
///
/// # Errors
/// [`PayloadError`], saying what the payload names instead.
pub fn check_payload(payload: &[u8], digest: &str) -> Result<SignedClaim, PayloadError> {
    let claim = parse_payload(payload)?;
    if claim.digest != digest {
        return Err(PayloadError::DigestMismatch {
            signed: claim.digest,
        });
    }
    crate::reference::ImageRef::parse(&claim.docker_reference).map_err(|_| {
        PayloadError::Malformed(format!(
            "`critical.identity.docker-reference` `{}` is not an image reference",
            claim.docker_reference
        ))
    })?;
    Ok(claim)
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

    #[test]
    fn a_payload_for_the_digest_and_repository_should_pass() {
        let p = cosign_payload("127.0.0.1:5000/app", D);
        let claim = check_payload(&p, D).unwrap();
        assert_eq!(claim.digest, D);
        assert_eq!(claim.docker_reference, "127.0.0.1:5000/app");
    }

    #[test]
    fn a_copy_under_another_registry_or_repository_should_pass() {
        // `cosign copy registry.example/team/app mirror.example/certified/app`: the payload
        // still names the original; the digest binds the content.
        let p = cosign_payload("registry.example/team/app", D);
        let claim = check_payload(&p, D).unwrap();
        assert_eq!(claim.docker_reference, "registry.example/team/app");
        let hub = cosign_payload("index.docker.io/library/nginx", D);
        assert!(check_payload(&hub, D).is_ok());
    }

    #[test]
    fn a_payload_for_another_digest_should_be_refused_naming_it() {
        let other = D.replace("0123", "ffff");
        let p = cosign_payload("127.0.0.1:5000/app", &other);
        assert_eq!(
            check_payload(&p, D),
            Err(PayloadError::DigestMismatch { signed: other })
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
                matches!(check_payload(bad, D), Err(PayloadError::Malformed(_))),
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
