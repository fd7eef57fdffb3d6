#![forbid(unsafe_code)]
//! Image provenance for pi-agent: every workload image is admitted by a registry allow-list,
//! resolved to a digest, verified against cosign public keys, and pinned to that digest before
//! anything is applied.
//!
//! Start at [`check_objects`]: it takes the rendered objects, a [`ResolvedPolicy`] and a
//! [`Verifier`], verifies every image ([`extract_images`] finds them), and rewrites them to
//! `repository@sha256:…` in place — or returns the first refusal, an [`ImageError`] naming the
//! image and the reason, leaving the objects untouched.
//!
//! - The policy is `spec.images` of an Application ([`ImagePolicy`], serde + schemars, camelCase):
//!   rules with `imageReferences` globs, `keys`, `required`, `mutateDigest`, `allowedRegistries`,
//!   and a `pullSecretRef`. The controller reads the key references and the pull secret, then
//!   calls [`ResolvedPolicy::resolve`] with the PEM texts and
//!   [`Credentials::from_docker_config_json`].
//! - Signatures are cosign's key-based ones, stored at tag `sha256-<hex>.sig`: each layer is a
//!   simple-signing payload with a base64 ECDSA P-256 signature in the annotation
//!   `dev.cosignproject.cosign/signature`, verified with `ring` over the exact payload bytes;
//!   the payload must name the digest ([`payload`]). Keyless signatures (Fulcio certificates),
//!   Rekor transparency-log checks, attestations and OCI 1.1 referrers are not supported.
//! - [`Verifier`] holds the registry clients (`oci-client`, rustls), a bounded verdict cache
//!   keyed by (digest, repository, key set), a concurrency limit and a per-image timeout.
//!
//! ```
//! use provenance::{extract_images, ImagePolicy};
//! let objects = vec![serde_json::json!({"kind": "Deployment", "spec": {"template": {"spec": {
//!     "containers": [{"name": "app", "image": "registry.example/team-a/app:v1"}]}}}})];
//! let uses = extract_images(&objects);
//! assert_eq!(uses[0].pointer, "/spec/template/spec/containers/0/image");
//! let policy: ImagePolicy = serde_json::from_str(r#"{"rules": [{"imageReferences":
//!     ["registry.example/team-a/*"], "keys": [{"secretRef": {"name": "cosign", "key": "cosign.pub"}}]}]}"#)?;
//! assert!(policy.rules[0].required && policy.rules[0].mutate_digest);
//! # Ok::<(), serde_json::Error>(())
//! ```

pub mod bundle;
pub mod credentials;
mod error;
pub mod extract;
pub mod fuzzing;
pub mod keys;
pub mod payload;
pub mod policy;
pub mod reference;
mod registry;
mod verifier;

pub use credentials::{Credential, Credentials};
pub use error::{ImageError, PolicyError, RetryClass};
pub use extract::{ImageUse, extract_images, rewrite_image};
pub use keys::{KeySet, PublicKey};
pub use policy::{
    ImagePolicy, ImageRule, KeyRef, NameKey, ResolvedPolicy, ResolvedRule, SecretName,
};
pub use reference::ImageRef;
pub use verifier::{
    SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, Stats, Verified, Verifier, VerifierConfig,
    check_objects,
};
