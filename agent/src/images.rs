//! Image stage, between render and apply: every container image of the revision is admitted by
//! `spec.images` (allowed registries, a cosign signature by a trusted key) and pinned to the
//! digest that was verified. A refused image fails the whole revision before anything is
//! written. The verification itself is the `pi-provenance` crate.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use provenance::{Credentials, ImageError, ImagePolicy, ResolvedPolicy, Verified, Verifier};

use crate::error::RetryClass;
use crate::render::Object;
use crate::secrets::{KeyError, read_ref};

/// Why the image stage refused a revision.
#[derive(Debug, thiserror::Error)]
pub enum ImageStageError {
    /// An image is outside the policy, unsigned, signed by another key, or its registry failed.
    #[error(transparent)]
    Refused(#[from] ImageError),
    /// The policy's keys or pull secret cannot be used.
    #[error("`spec.images`: {message}")]
    Policy { message: String, transient: bool },
}

impl ImageStageError {
    /// How the controller retries: a registry or API server that fails is retried with backoff.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ImageStageError::Refused(e) => match e.retry_class() {
                provenance::RetryClass::Transient => RetryClass::Transient,
                provenance::RetryClass::Terminal => RetryClass::Terminal,
            },
            ImageStageError::Policy {
                transient: true, ..
            } => RetryClass::Transient,
            ImageStageError::Policy { .. } => RetryClass::Terminal,
        }
    }
}

/// What the stage did, for status and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Distinct images checked.
    pub images: Vec<Verified>,
}

impl Admitted {
    /// One line for the `ImagesVerified` condition.
    pub fn summary(&self) -> String {
        let signed = self.images.iter().filter(|v| v.signer.is_some()).count();
        let pinned = self
            .images
            .iter()
            .filter(|v| v.reference.contains("@sha256:"))
            .count();
        let n = self.images.len();
        let noun = if n == 1 { "image" } else { "images" };
        format!("{n} {noun}: {signed} signed by a trusted key, {pinned} pinned to their digest")
    }
}

/// Reads the keys and the pull secret of `policy` from the Application's namespace.
///
/// # Errors
/// A missing Secret, ConfigMap or key, a key that is not a cosign public key, a pull secret that
/// does not parse: named.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    policy: &ImagePolicy,
) -> Result<ResolvedPolicy, ImageStageError> {
    let policy_error = |e: KeyError| match e {
        KeyError::Missing(message) | KeyError::Invalid(message) => ImageStageError::Policy {
            message,
            transient: false,
        },
        KeyError::Unavailable(e) => ImageStageError::Policy {
            message: format!("reading keys: {e}"),
            transient: true,
        },
    };
    let mut pems = std::collections::HashMap::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        for (j, r) in rule.keys.iter().enumerate() {
            if pems.contains_key(r) {
                continue;
            }
            let field = format!("spec.images.rules[{i}].keys[{j}]");
            let pem = read_ref(client, namespace, r, &field)
                .await
                .map_err(policy_error)?;
            pems.insert(r.clone(), pem);
        }
    }
    let credentials = match &policy.pull_secret_ref {
        None => Credentials::none(),
        Some(s) => {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let secret = api
                .get_opt(&s.name)
                .await
                .map_err(|e| policy_error(KeyError::Unavailable(e)))?
                .ok_or_else(|| ImageStageError::Policy {
                    message: format!("pull secret `{namespace}/{}` not found", s.name),
                    transient: false,
                })?;
            let data = secret.data.unwrap_or_default();
            let bytes = data.get(".dockerconfigjson").ok_or_else(|| ImageStageError::Policy {
                message: format!(
                    "pull secret `{namespace}/{}` has no `.dockerconfigjson` key (type kubernetes.io/dockerconfigjson)",
                    s.name
                ),
                transient: false,
            })?;
            Credentials::from_docker_config_json(&bytes.0).map_err(|e| ImageStageError::Policy {
                message: format!("pull secret `{namespace}/{}`: {e}", s.name),
                transient: false,
            })?
        }
    };
    ResolvedPolicy::resolve(
        policy,
        |r| pems.get(r).cloned().ok_or("not read"),
        credentials,
    )
    .map_err(|e| ImageStageError::Policy {
        message: e.to_string(),
        transient: false,
    })
}

/// Verifies every image of `objects` and pins it to its digest where the policy says so. On a
/// refusal, `objects` are left as they were.
///
/// # Errors
/// The first refused image, with the reason.
pub async fn admit(
    verifier: &Verifier,
    policy: &ResolvedPolicy,
    objects: &mut [Object],
) -> Result<Admitted, ImageStageError> {
    let mut values: Vec<serde_json::Value> = objects
        .iter_mut()
        .map(|o| std::mem::take(&mut o.value))
        .collect();
    let result = provenance::check_objects(verifier, policy, &mut values).await;
    for (o, v) in objects.iter_mut().zip(values) {
        o.value = v;
    }
    Ok(Admitted { images: result? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(image: &str, reference: &str, signer: Option<&str>) -> Verified {
        Verified {
            image: image.into(),
            digest: Some("sha256:00".into()),
            reference: reference.into(),
            signer: signer.map(Into::into),
            cached: false,
        }
    }

    #[test]
    fn the_summary_should_count_signed_and_pinned_images() {
        let a = Admitted {
            images: vec![
                verified("r/a:1", "r/a@sha256:00", Some("k1")),
                verified("r/b:1", "r/b:1", None),
            ],
        };
        assert_eq!(
            a.summary(),
            "2 images: 1 signed by a trusted key, 1 pinned to their digest"
        );
        let one = Admitted {
            images: vec![verified("r/a:1", "r/a@sha256:00", Some("k1"))],
        };
        assert!(one.summary().starts_with("1 image: "));
    }

    #[test]
    fn registry_failures_should_be_retried_and_refusals_not() {
        let policy = ImageStageError::Policy {
            message: "x".into(),
            transient: false,
        };
        assert_eq!(policy.retry_class(), RetryClass::Terminal);
        let down = ImageStageError::Policy {
            message: "x".into(),
            transient: true,
        };
        assert_eq!(down.retry_class(), RetryClass::Transient);
        assert!(policy.to_string().starts_with("`spec.images`: "));
    }

    #[test]
    fn tampered_registry_content_should_stall_not_retry() {
        let tampered = ImageStageError::Refused(ImageError::UntrustedContent {
            image: "r/a:1".into(),
            registry: "r".into(),
            why: "blob sha256:00 has content sha256:11".into(),
        });
        assert_eq!(tampered.retry_class(), RetryClass::Terminal);
        let down = ImageStageError::Refused(ImageError::RegistryUnreachable {
            image: "r/a:1".into(),
            registry: "r".into(),
            why: "connection refused".into(),
        });
        assert_eq!(down.retry_class(), RetryClass::Transient);
    }
}
