//! Why an image was refused, and why policy material did not parse.

/// How a caller should treat a failure (the agent maps this onto its own retry classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// The registry could not be reached, answered with a server error, or was too slow:
    /// retrying may pass.
    Transient,
    /// The same image and policy give the same answer: the revision is refused until it or the
    /// policy changes.
    Terminal,
}

/// Why an image was refused. Every variant is a refusal (fail closed): nothing that uses the
/// image may be applied. Messages start with the image as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The string is not an image reference.
    #[error("image `{image}`: invalid reference: {why}")]
    InvalidReference { image: String, why: String },
    /// The image's registry is not in `allowedRegistries` (of the policy or of its rule).
    #[error("image {image}: registry `{registry}` is not allowed (allowed: {allowed})")]
    RegistryNotAllowed {
        image: String,
        registry: String,
        allowed: String,
    },
    /// No rule's `imageReferences` matches the image.
    #[error("image {image}: no rule of the image policy matches it (`{normalized}`)")]
    NoMatchingRule { image: String, normalized: String },
    /// The tag or digest does not exist in the registry.
    #[error("image {image}: not found in the registry: {why}")]
    ImageNotFound { image: String, why: String },
    /// There is no cosign signature for the digest: no legacy signature manifest, no Sigstore
    /// bundle among its referrers.
    #[error(
        "image {image}: no cosign signature (tag {signature_tag} not found, no Sigstore bundle among the referrers)"
    )]
    NoSignature {
        image: String,
        signature_tag: String,
    },
    /// Signature layers exist, but none verifies with a trusted key over its payload.
    #[error(
        "image {image}: not signed by a trusted key: none of {signatures} signature(s) of {digest} verifies with the {keys} trusted key(s) (signed by another key, or altered)"
    )]
    UntrustedSignature {
        image: String,
        digest: String,
        signatures: usize,
        keys: usize,
    },
    /// A signature could not be decoded (missing annotation, bad base64, oversized), or its
    /// payload blob does not match its descriptor.
    #[error("image {image}: corrupted signature: {why}")]
    MalformedSignature { image: String, why: String },
    /// A trusted key signed a payload, but for another image digest (a signature copied from
    /// another image, or a tag moved after signing).
    #[error(
        "image {image}: signature names digest {signed}, not {digest} (signature copied from another image?)"
    )]
    DigestMismatch {
        image: String,
        digest: String,
        signed: String,
    },
    /// The registry served content that is not what it must be: manifest bytes that do not
    /// hash to the digest they were asked by, a signature or bundle blob whose content or size
    /// does not match its descriptor, a body over its limit. Tampering (by the registry or on
    /// the way): refused, not retried.
    #[error("image {image}: registry `{registry}` served untrusted content: {why}")]
    UntrustedContent {
        image: String,
        registry: String,
        why: String,
    },
    /// A trusted key signed something that is not a cosign simple-signing payload.
    #[error("image {image}: signed payload is not a cosign image signature: {why}")]
    MalformedPayload { image: String, why: String },
    /// The registry could not be reached (connection refused, DNS, TLS).
    #[error("image {image}: registry `{registry}` unreachable: {why}")]
    RegistryUnreachable {
        image: String,
        registry: String,
        why: String,
    },
    /// The registry answered with an error (authentication, server error, bad manifest).
    #[error("image {image}: registry `{registry}` error: {why}")]
    RegistryFailed {
        image: String,
        registry: String,
        why: String,
    },
    /// Verification took longer than the configured timeout.
    #[error("image {image}: verification timed out after {seconds} s")]
    Timeout { image: String, seconds: u64 },
}

impl ImageError {
    /// Transient (registry down, slow, server error) or terminal (everything else).
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ImageError::RegistryUnreachable { .. }
            | ImageError::RegistryFailed { .. }
            | ImageError::Timeout { .. } => RetryClass::Transient,
            _ => RetryClass::Terminal,
        }
    }

    /// The image as written in the manifest.
    pub fn image(&self) -> &str {
        match self {
            ImageError::InvalidReference { image, .. }
            | ImageError::RegistryNotAllowed { image, .. }
            | ImageError::NoMatchingRule { image, .. }
            | ImageError::ImageNotFound { image, .. }
            | ImageError::NoSignature { image, .. }
            | ImageError::UntrustedSignature { image, .. }
            | ImageError::MalformedSignature { image, .. }
            | ImageError::DigestMismatch { image, .. }
            | ImageError::UntrustedContent { image, .. }
            | ImageError::MalformedPayload { image, .. }
            | ImageError::RegistryUnreachable { image, .. }
            | ImageError::RegistryFailed { image, .. }
            | ImageError::Timeout { image, .. } => image,
        }
    }

    /// A short machine-readable reason (`NoSignature`, `UntrustedSignature`, …) for logs and
    /// metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ImageError::InvalidReference { .. } => "InvalidReference",
            ImageError::RegistryNotAllowed { .. } => "RegistryNotAllowed",
            ImageError::NoMatchingRule { .. } => "NoMatchingRule",
            ImageError::ImageNotFound { .. } => "ImageNotFound",
            ImageError::NoSignature { .. } => "NoSignature",
            ImageError::UntrustedSignature { .. } => "UntrustedSignature",
            ImageError::MalformedSignature { .. } => "MalformedSignature",
            ImageError::DigestMismatch { .. } => "DigestMismatch",
            ImageError::UntrustedContent { .. } => "UntrustedContent",
            ImageError::MalformedPayload { .. } => "MalformedPayload",
            ImageError::RegistryUnreachable { .. } => "RegistryUnreachable",
            ImageError::RegistryFailed { .. } => "RegistryFailed",
            ImageError::Timeout { .. } => "Timeout",
        }
    }
}

/// Why policy material (keys, pull secrets, rules) is unusable. The policy is refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A public key that does not parse, or is not an ECDSA P-256 key.
    #[error("public key {index}: {why}")]
    InvalidKey { index: usize, why: String },
    /// A rule that requires signatures but has no key.
    #[error("rule {rule}: `required: true` but no `keys`")]
    NoKeys { rule: usize },
    /// A rule without `imageReferences`.
    #[error("rule {rule}: `imageReferences` is empty")]
    NoImageReferences { rule: usize },
    /// A key reference the caller could not resolve.
    #[error("rule {rule}: key {index}: {why}")]
    KeyUnresolved {
        rule: usize,
        index: usize,
        why: String,
    },
    /// A `kubernetes.io/dockerconfigjson` Secret that does not parse.
    #[error("pull secret: {why}")]
    InvalidPullSecret { why: String },
}
