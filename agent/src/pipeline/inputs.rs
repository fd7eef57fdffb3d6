//! Stage `inputs`: what the render needs from the cluster besides the tree, read before the
//! pure render — the SOPS keys of `spec.decryption` (its Secret, or the region's key file
//! `--sops-age-key-file`) and the ConfigMaps and Secrets of `spec.postBuild.substituteFrom`,
//! merged into the variables. Nothing read here is logged or kept past the render: key
//! material is zeroized when dropped, and no error carries a value.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use sops::Keyring;
use zeroize::{Zeroize, Zeroizing};

use crate::api::{PostBuild, SubstituteKind};
use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::render::substitute::{Options, SourceData, SubstituteError, Variables};
use crate::report::recorder::Outcome;
use crate::work::{DecryptionSpec, Work};

/// What the render reads besides the tree.
#[derive(Default)]
pub struct Inputs {
    /// The keys that decrypt the render; `None`: no decryption configured (an encrypted object
    /// is then refused).
    pub keys: Option<Arc<Keyring>>,
    /// The variables of `spec.postBuild` and how to substitute them; `None`: no substitution.
    pub substitution: Option<(Variables, Options)>,
}

impl Outcome for Inputs {}

/// Why the render's inputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The decryption Secret does not exist.
    #[error("invalid spec: `spec.decryption.secretRef`: Secret `{namespace}/{name}` not found")]
    KeysNotFound { namespace: String, name: String },
    /// A key of the decryption Secret or of the region's key file does not parse (named).
    #[error("invalid spec: `spec.decryption`: {0}")]
    Keys(#[from] sops::KeyError),
    /// `spec.decryption` names no Secret and the region has no key file.
    #[error(
        "invalid spec: `spec.decryption` names no `secretRef` and the agent has no `--sops-age-key-file`"
    )]
    NoKeys,
    /// The decryption Secret or the region's key file holds no age or OpenPGP key.
    #[error(
        "invalid spec: `spec.decryption`: {source_name} holds no key (entries ending in `.agekey` or `.asc`)"
    )]
    EmptyKeys { source_name: String },
    /// The region's key file cannot be read.
    #[error("`--sops-age-key-file {path}`: {message}")]
    KeyFile { path: String, message: String },
    /// A ConfigMap or Secret could not be read.
    #[error("reading {kind} `{namespace}/{name}` failed: {source}")]
    Unavailable {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A `substituteFrom` source is missing, or a variable is invalid (named).
    #[error(transparent)]
    Variables(#[from] SubstituteError),
}

impl Outcome for InputsError {}

impl StageError for InputsError {
    fn reason(&self) -> &'static str {
        match self {
            InputsError::KeysNotFound { .. }
            | InputsError::Keys(_)
            | InputsError::NoKeys
            | InputsError::EmptyKeys { .. }
            | InputsError::Variables(SubstituteError::InvalidVariableName { .. }) => {
                reason::INVALID_SPEC
            }
            _ => reason::RENDER_FAILED,
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            // The controller watches the Secrets and ConfigMaps an Application reads: creating
            // or fixing one reconciles at once.
            InputsError::KeysNotFound { .. }
            | InputsError::Keys(_)
            | InputsError::NoKeys
            | InputsError::EmptyKeys { .. } => RetryClass::Terminal,
            // A mounted Secret appears or is updated by the kubelet, without an event.
            InputsError::KeyFile { .. } | InputsError::Unavailable { .. } => RetryClass::Transient,
            InputsError::Variables(e) => e.retry_class(),
        }
    }
}

/// Reads the render's inputs.
///
/// # Errors
/// A missing or unreadable decryption Secret or key file, a key that does not parse, a
/// missing `substituteFrom` source that is not optional, an invalid variable name.
pub async fn read(work: &Work, ctx: &Context) -> Result<Inputs, InputsError> {
    let namespace = &work.subject.namespace;
    let keys = match &work.decryption {
        None => None,
        Some(d) => Some(Arc::new(
            keys(&ctx.client, namespace, d, ctx.sops_age_key_file.as_deref()).await?,
        )),
    };
    let substitution = match &work.post_build {
        None => None,
        Some(post_build) => Some(variables(&ctx.client, namespace, post_build).await?),
    };
    Ok(Inputs { keys, substitution })
}

/// The keyring of `spec.decryption`: its Secret, or the region's key file.
async fn keys(
    client: &kube::Client,
    namespace: &str,
    decryption: &DecryptionSpec,
    region_key_file: Option<&Path>,
) -> Result<Keyring, InputsError> {
    let (keys, source_name) = match &decryption.secret_name {
        Some(name) => {
            let mut data: BTreeMap<String, Vec<u8>> =
                crate::secrets::secret_data(client, namespace, name)
                    .await
                    .map_err(|source| InputsError::Unavailable {
                        kind: "Secret",
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                        source,
                    })?
                    .ok_or_else(|| InputsError::KeysNotFound {
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                    })?
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
            let keys = Keyring::from_secret_data(name, &data);
            // The copies of the key material are wiped (the keyring keeps its own, zeroized).
            data.values_mut().for_each(Zeroize::zeroize);
            (keys?, format!("Secret `{namespace}/{name}`"))
        }
        None => {
            let path = region_key_file.ok_or(InputsError::NoKeys)?;
            // Read at each reconcile: a rotated Secret mounted there applies without a restart.
            let text = std::fs::read_to_string(path).map_err(|e| InputsError::KeyFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let text = Zeroizing::new(text);
            let mut keys = Keyring::new();
            let source_name = format!("--sops-age-key-file {}", path.display());
            keys.add_age_identities(&source_name, &text)?;
            (keys, format!("`{source_name}`"))
        }
    };
    if keys.is_empty() {
        return Err(InputsError::EmptyKeys { source_name });
    }
    Ok(keys)
}

/// The variables of `spec.postBuild`: its `substituteFrom` sources read in order, then merged.
async fn variables(
    client: &kube::Client,
    namespace: &str,
    post_build: &PostBuild,
) -> Result<(Variables, Options), InputsError> {
    let mut fetched = Vec::with_capacity(post_build.substitute_from.len());
    for r in &post_build.substitute_from {
        let unavailable = |kind, source| InputsError::Unavailable {
            kind,
            namespace: namespace.to_owned(),
            name: r.name.clone(),
            source,
        };
        let data = match r.kind {
            SubstituteKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                match api
                    .get_opt(&r.name)
                    .await
                    .map_err(|e| unavailable("ConfigMap", e))?
                {
                    Some(cm) => SourceData::ConfigMap(cm.data.unwrap_or_default()),
                    None => SourceData::NotFound,
                }
            }
            SubstituteKind::Secret => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                match api
                    .get_opt(&r.name)
                    .await
                    .map_err(|e| unavailable("Secret", e))?
                {
                    Some(s) => SourceData::Secret(
                        s.data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.0))
                            .collect(),
                    ),
                    None => SourceData::NotFound,
                }
            }
        };
        fetched.push(data);
    }
    let vars = Variables::resolve(post_build, &fetched)?;
    let options = Options {
        strategy: post_build.substitute_strategy.unwrap_or_default(),
        ..Options::default()
    };
    Ok((vars, options))
}
