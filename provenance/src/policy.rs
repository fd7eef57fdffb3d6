//! The image policy: `spec.images` of an Application (shaped like Kyverno's `verifyImages`),
//! and its resolved form, with keys parsed and pull credentials read.

use crate::credentials::Credentials;
use crate::error::{ImageError, PolicyError};
use crate::keys::KeySet;
use crate::reference::{ImageRef, glob_match, registry_allowed};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// `spec.images`: which images may run, signed by whom. Every image of every pod-bearing
/// object must be admitted by `allowedRegistries` and matched by a rule, or the revision is
/// refused.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicy {
    /// Rules, in order: an image is checked by the first rule whose `imageReferences` matches.
    /// An image no rule matches is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ImageRule>,
    /// Registries every image must come from: hosts (`registry.example`, globs like
    /// `*.example`) or registry/repository prefixes (`registry.example/team-a`). Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret of the Application's namespace with the
    /// credentials to read the registries (tags, manifests, signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret_ref: Option<SecretName>,
}

/// One rule: which images, which keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRule {
    /// Globs over the normalized reference `registry/repository:tag` (`nginx` is
    /// `docker.io/library/nginx:latest`; a digest reference is `registry/repository@sha256:…`):
    /// `*` matches anything including `/`, `?` one character.
    pub image_references: Vec<String>,
    /// Registries the images of this rule must come from, in addition to the policy's
    /// `allowedRegistries`. Empty: no further limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// A cosign signature by one of `keys` is required (default true). `false`: the images are
    /// only resolved to digests (when `mutateDigest`), never checked for signatures.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Cosign public keys (PEM: ECDSA P-256 or P-384, Ed25519, RSA), each in a Secret or a
    /// ConfigMap key; one key may hold several PEM blocks. A signature by any of them is enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyRef>,
    /// Rewrite the image to `repository@sha256:…` in the applied object (default true), so the
    /// kubelet runs exactly what was verified even if the tag moves afterwards.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub mutate_digest: bool,
}

/// One key of a Secret or a ConfigMap of the Application's namespace (exactly one of the two).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// A Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameKey>,
    /// A ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameKey>,
}

/// A name and a key in it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct NameKey {
    /// Object name.
    pub name: String,
    /// Key in its data.
    pub key: String,
}

/// The name of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretName {
    /// Secret name.
    pub name: String,
}

impl ImagePolicy {
    /// Every key reference of every rule, in order (the caller reads these from the cluster,
    /// then calls [`ResolvedPolicy::resolve`]).
    pub fn key_refs(&self) -> impl Iterator<Item = &KeyRef> {
        self.rules.iter().flat_map(|r| r.keys.iter())
    }
}

/// A rule with its keys parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedRule {
    /// Index in `spec.images.rules`.
    pub index: usize,
    /// As in [`ImageRule`].
    pub image_references: Vec<String>,
    /// As in [`ImageRule`].
    pub allowed_registries: Vec<String>,
    /// As in [`ImageRule`].
    pub required: bool,
    /// As in [`ImageRule`].
    pub mutate_digest: bool,
    /// The trusted keys.
    pub keys: KeySet,
}

impl ResolvedRule {
    /// A rule for one command-line verification: every image, these keys, digest pinned.
    pub fn for_keys(keys: KeySet) -> Self {
        ResolvedRule {
            index: 0,
            image_references: vec!["*".into()],
            allowed_registries: Vec::new(),
            required: true,
            mutate_digest: true,
            keys,
        }
    }
}

/// A policy ready to check images: keys parsed, credentials read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPolicy {
    /// As in [`ImagePolicy`].
    pub allowed_registries: Vec<String>,
    /// The rules, in order.
    pub rules: Vec<ResolvedRule>,
    /// Registry credentials (from `pullSecretRef`).
    pub credentials: Credentials,
}

impl ResolvedPolicy {
    /// Resolves `policy`: `key` returns the PEM text a [`KeyRef`] points to (the controller
    /// reads Secrets and ConfigMaps; tests return strings).
    ///
    /// # Errors
    /// A rule without image references, a required rule without keys, a key reference that did
    /// not resolve or a key that does not parse, naming the rule.
    pub fn resolve<E: fmt::Display>(
        policy: &ImagePolicy,
        mut key: impl FnMut(&KeyRef) -> Result<String, E>,
        credentials: Credentials,
    ) -> Result<Self, PolicyError> {
        let mut rules = Vec::with_capacity(policy.rules.len());
        for (index, rule) in policy.rules.iter().enumerate() {
            if rule.image_references.is_empty() {
                return Err(PolicyError::NoImageReferences { rule: index });
            }
            let mut pems = Vec::with_capacity(rule.keys.len());
            for (k, r) in rule.keys.iter().enumerate() {
                pems.push(key(r).map_err(|e| PolicyError::KeyUnresolved {
                    rule: index,
                    index: k,
                    why: e.to_string(),
                })?);
            }
            let keys = KeySet::from_pems(&pems).map_err(|e| match e {
                PolicyError::InvalidKey { index: k, why } => PolicyError::KeyUnresolved {
                    rule: index,
                    index: k,
                    why,
                },
                other => other,
            })?;
            if rule.required && keys.is_empty() {
                return Err(PolicyError::NoKeys { rule: index });
            }
            rules.push(ResolvedRule {
                index,
                image_references: rule.image_references.clone(),
                allowed_registries: rule.allowed_registries.clone(),
                required: rule.required,
                mutate_digest: rule.mutate_digest,
                keys,
            });
        }
        Ok(ResolvedPolicy {
            allowed_registries: policy.allowed_registries.clone(),
            rules,
            credentials,
        })
    }

    /// The rule that checks `image`: the policy's and then the rule's `allowedRegistries` must
    /// admit it, and the first rule whose `imageReferences` matches is taken.
    ///
    /// # Errors
    /// [`ImageError::RegistryNotAllowed`] or [`ImageError::NoMatchingRule`].
    pub fn select(&self, image: &ImageRef) -> Result<&ResolvedRule, ImageError> {
        check_allowed(&self.allowed_registries, image)?;
        let normalized = image.normalized();
        let rule = self
            .rules
            .iter()
            .find(|r| {
                r.image_references
                    .iter()
                    .any(|p| glob_match(p, &normalized))
            })
            .ok_or_else(|| ImageError::NoMatchingRule {
                image: image.original().to_owned(),
                normalized,
            })?;
        check_allowed(&rule.allowed_registries, image)?;
        Ok(rule)
    }
}

/// An empty list admits every registry.
pub(crate) fn check_allowed(allowed: &[String], image: &ImageRef) -> Result<(), ImageError> {
    if allowed.is_empty() || allowed.iter().any(|a| registry_allowed(a, image)) {
        return Ok(());
    }
    Err(ImageError::RegistryNotAllowed {
        image: image.original().to_owned(),
        registry: image.registry().to_owned(),
        allowed: allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::key_pair;
    use serde_json::json;

    fn secret(name: &str) -> KeyRef {
        KeyRef {
            secret_ref: Some(NameKey {
                name: name.into(),
                key: "cosign.pub".into(),
            }),
            config_map_ref: None,
        }
    }

    #[test]
    fn the_crd_shape_should_deserialize_with_defaults() {
        let policy: ImagePolicy = serde_json::from_value(json!({
            "rules": [
                {"imageReferences": ["registry.example/team-a/*"],
                 "keys": [{"secretRef": {"name": "cosign", "key": "cosign.pub"}},
                          {"configMapRef": {"name": "release", "key": "key.pem"}}]},
                {"imageReferences": ["registry.example/base/*"], "required": false, "mutateDigest": false}
            ],
            "allowedRegistries": ["registry.example"],
            "pullSecretRef": {"name": "registry-pull-secret"}
        }))
        .unwrap();
        assert!(policy.rules[0].required && policy.rules[0].mutate_digest);
        assert!(!policy.rules[1].required && !policy.rules[1].mutate_digest);
        assert_eq!(policy.key_refs().count(), 2);
        assert_eq!(
            policy.pull_secret_ref.as_ref().unwrap().name,
            "registry-pull-secret"
        );
        // Defaults are not written back.
        let back = serde_json::to_value(&policy).unwrap();
        assert!(back["rules"][0].get("required").is_none());
        assert_eq!(back["rules"][1]["required"], false);
        assert_eq!(serde_json::from_value::<ImagePolicy>(back).unwrap(), policy);
    }

    #[test]
    fn the_schema_should_use_camel_case_names() {
        let schema = serde_json::to_string(&schemars::schema_for!(ImagePolicy)).unwrap();
        for name in [
            "imageReferences",
            "allowedRegistries",
            "mutateDigest",
            "pullSecretRef",
            "configMapRef",
            "secretRef",
        ] {
            assert!(schema.contains(name), "{name} missing from {schema}");
        }
    }

    fn resolved(rules: serde_json::Value, allowed: &[&str]) -> ResolvedPolicy {
        let (_, pem) = key_pair();
        let policy: ImagePolicy = serde_json::from_value(json!({
            "rules": rules, "allowedRegistries": allowed }))
        .unwrap();
        ResolvedPolicy::resolve(
            &policy,
            |_| Ok::<_, String>(pem.clone()),
            Credentials::none(),
        )
        .unwrap()
    }

    #[test]
    fn the_first_matching_rule_should_be_selected() {
        let p = resolved(
            json!([
                {"imageReferences": ["r.example/team-a/*"], "keys": [secret("a")]},
                {"imageReferences": ["r.example/*", "docker.io/library/*"], "required": false}
            ]),
            &[],
        );
        let pick = |s: &str| p.select(&ImageRef::parse(s).unwrap()).map(|r| r.index);
        assert_eq!(pick("r.example/team-a/app:v1"), Ok(0));
        assert_eq!(pick("r.example/team-b/app:v1"), Ok(1));
        assert_eq!(pick("nginx"), Ok(1));
        let e = pick("other.example/app").unwrap_err();
        assert_eq!(e.reason(), "NoMatchingRule");
        assert!(e.to_string().contains("other.example/app:latest"), "{e}");
    }

    #[test]
    fn allowed_registries_of_policy_and_rule_should_both_apply() {
        let p = resolved(
            json!([{"imageReferences": ["*"], "keys": [secret("a")],
                    "allowedRegistries": ["r.example/team-a"]}]),
            &["r.example", "s.example"],
        );
        let pick = |s: &str| p.select(&ImageRef::parse(s).unwrap()).map(|r| r.index);
        assert_eq!(pick("r.example/team-a/app"), Ok(0));
        let e = pick("evil.example/team-a/app").unwrap_err();
        assert_eq!(
            e.to_string(),
            "image evil.example/team-a/app: registry `evil.example` is not allowed (allowed: `r.example`, `s.example`)"
        );
        let e = pick("s.example/team-a/app").unwrap_err();
        assert!(e.to_string().contains("`r.example/team-a`"), "{e}");
    }

    #[test]
    fn bad_policies_should_be_refused_naming_the_rule() {
        let policy =
            |rules| serde_json::from_value::<ImagePolicy>(json!({ "rules": rules })).unwrap();
        let ok = |_: &KeyRef| Ok::<_, String>(key_pair().1);
        let e = ResolvedPolicy::resolve(
            &policy(json!([{"imageReferences": []}])),
            ok,
            Credentials::none(),
        );
        assert_eq!(e.unwrap_err(), PolicyError::NoImageReferences { rule: 0 });
        let e = ResolvedPolicy::resolve(
            &policy(json!([{"imageReferences": ["*"]}])),
            ok,
            Credentials::none(),
        );
        assert_eq!(e.unwrap_err(), PolicyError::NoKeys { rule: 0 });
        let two = policy(json!([
            {"imageReferences": ["a/*"], "required": false},
            {"imageReferences": ["*"], "keys": [secret("a"), secret("b")]}
        ]));
        let e = ResolvedPolicy::resolve(
            &two,
            |r: &KeyRef| match r.secret_ref.as_ref().map(|s| s.name.as_str()) {
                Some("b") => Err("Secret `ns/b` not found"),
                _ => Ok(key_pair().1),
            },
            Credentials::none(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "rule 1: key 1: Secret `ns/b` not found");
        let e = ResolvedPolicy::resolve(
            &two,
            |_| Ok::<_, String>("junk".into()),
            Credentials::none(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("rule 1: key 0: no `-----BEGIN"),
            "{e}"
        );
        // A rule that requires nothing needs no keys.
        let open = policy(json!([{"imageReferences": ["*"], "required": false}]));
        assert!(ResolvedPolicy::resolve(&open, ok, Credentials::none()).is_ok());
    }
}
