//! Stage `render`: the verified tree rendered into objects (kustomize-rs, or a plain
//! directory), each with the file it came from, then what Flux does after the build, in
//! Flux's order: SOPS-encrypted sources decrypted before the build (`secretGenerator` files,
//! patches), SOPS-encrypted objects after it (their MAC verified on the committed file), then
//! post-build substitution. Pure: reads only the tree and the [`Inputs`] read before it, off the
//! runtime's threads. Decrypted values stay in memory: no error, log line or file holds one.

use std::path::Path;

use kustomize::FileSystem;

use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::render::substitute::{self, SubstituteError};
use crate::render::{Object, RenderError};
use crate::report::recorder::Outcome;
use crate::source::SourceError;
use crate::work::{RenderSpec, Work};

use super::Verified;
use super::inputs::Inputs;

/// The objects of a revision.
pub struct Rendered {
    /// `main@sha1:…`.
    pub revision: String,
    /// The objects, in render order.
    pub objects: Vec<Object>,
}

impl Outcome for Rendered {}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderStageError {
    /// The manifests do not render (the message names the file).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The tree could not be read.
    #[error(transparent)]
    Tree(#[from] SourceError),
    /// A SOPS-encrypted `secretGenerator` source or patch does not decrypt (names the file and
    /// its kustomization).
    #[error("decryption failed: {0}")]
    DecryptSource(#[from] sops::kustomize::SourceError),
    /// A SOPS-encrypted object does not decrypt: no key, a MAC that does not verify, a value
    /// changed (names the file, the object and the key path).
    #[error("decryption failed: {0}")]
    DecryptObject(#[from] sops::kube::ObjectError),
    /// An object is SOPS-encrypted and the work configures no decryption.
    #[error(
        "`{origin}`: {object} is SOPS-encrypted and `spec.decryption` is not set (set it, or annotate the object `kustomize.toolkit.fluxcd.io/decrypt: Disabled` to apply it as it is)"
    )]
    NotDecrypted { origin: String, object: String },
    /// Post-build substitution failed (names the file, the object, the field and the
    /// variable).
    #[error(transparent)]
    Substitute(#[from] SubstituteError),
    /// The render task did not finish.
    #[error("render task failed: {0}")]
    Task(String),
}

impl Outcome for RenderStageError {}

impl StageError for RenderStageError {
    fn reason(&self) -> &'static str {
        match self {
            RenderStageError::Tree(e) => e.reason(),
            _ => reason::RENDER_FAILED,
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            RenderStageError::Render(e) => e.retry_class(),
            RenderStageError::Tree(e) => e.retry_class(),
            RenderStageError::Substitute(e) => e.retry_class(),
            // The same revision with the same keys fails the same way; a new key in the
            // decryption Secret triggers a reconcile by itself.
            RenderStageError::DecryptSource(_)
            | RenderStageError::DecryptObject(_)
            | RenderStageError::NotDecrypted { .. } => RetryClass::Terminal,
            RenderStageError::Task(_) => RetryClass::Transient,
        }
    }
}

/// Renders a verified revision with its inputs.
///
/// # Errors
/// Any render error, naming the file (bad YAML with its line, a missing base, a patch target…);
/// a decryption refused (naming the file); an encrypted object without decryption; a
/// substitution failure (naming the object and the variable).
pub async fn render(
    work: &Work,
    inputs: Inputs,
    verified: Verified,
) -> Result<Rendered, RenderStageError> {
    let spec = work.render.clone();
    let Verified {
        snapshot, revision, ..
    } = verified;
    let objects = tokio::task::spawn_blocking(move || -> Result<_, RenderStageError> {
        let fs = snapshot.tree_fs()?;
        match &spec {
            RenderSpec::Kustomize { path } => render_tree(&fs, path, &inputs),
        }
    })
    .await
    .map_err(|e| RenderStageError::Task(e.to_string()))??;
    Ok(Rendered { revision, objects })
}

/// Renders `path` of `fs`, decrypts and substitutes, as Flux orders it. Pure.
///
/// # Errors
/// As [`render`].
pub fn render_tree(
    fs: &dyn FileSystem,
    path: &str,
    inputs: &Inputs,
) -> Result<Vec<Object>, RenderStageError> {
    let mut objects = match &inputs.keys {
        Some(keys) => {
            // Sources before the build (so that kustomize reads, and hashes, the plaintext) …
            let decrypting = sops::kustomize::DecryptingFs::new(fs, keys, path)?;
            let mut objects = crate::render::render(&decrypting, path)?;
            // … objects after it, each verified against the committed file it came from.
            let mut decryptor = sops::kube::Decryptor::new(keys);
            let committed = |origin: &str| fs.read(Path::new(origin)).ok();
            for o in &mut objects {
                decryptor.decrypt_object(&mut o.value, &o.origin, &committed)?;
            }
            objects
        }
        None => {
            let objects = crate::render::render(fs, path)?;
            // Fail closed: an encrypted object is never applied as ciphertext by accident.
            if let Some(o) = objects
                .iter()
                .find(|o| sops::kube::is_encrypted(&o.value) && !sops::kube::is_opted_out(&o.value))
            {
                return Err(RenderStageError::NotDecrypted {
                    origin: o.origin.clone(),
                    object: o.display_id(),
                });
            }
            objects
        }
    };
    if let Some((vars, options)) = &inputs.substitution {
        substitute::substitute(&mut objects, vars, *options)?;
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::substitute::{Options, Variables};
    use kustomize::MemFs;

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  version: 3.13.3\n";

    #[test]
    fn an_encrypted_object_without_decryption_should_be_refused_naming_it() {
        let mut fs = MemFs::new();
        fs.add("app/secret.yaml", SECRET);
        let e = render_tree(&fs, "app", &Inputs::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "`app/secret.yaml`: Secret s is SOPS-encrypted and `spec.decryption` is not set"
            ),
            "{e}"
        );
        let opted_out = SECRET.replace(
            "  name: s\n",
            "  name: s\n  annotations:\n    kustomize.toolkit.fluxcd.io/decrypt: disabled\n",
        );
        fs.add("app/secret.yaml", opted_out);
        assert_eq!(
            render_tree(&fs, "app", &Inputs::default()).unwrap().len(),
            1
        );
    }

    fn fixture(path: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sops/tests/fixtures")
            .join(path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn age_keys() -> Inputs {
        let mut keys = sops::Keyring::new();
        let text = String::from_utf8(fixture("keys/one.agekey")).unwrap();
        keys.add_age_identities("one", &text).unwrap();
        Inputs {
            keys: Some(std::sync::Arc::new(keys)),
            substitution: None,
        }
    }

    /// Files encrypted by the real sops 3.13 (`sops/tests/fixtures/record.sh`).
    #[test]
    fn a_sops_secret_should_be_decrypted_after_the_build_then_substituted() {
        let mut fs = MemFs::new();
        fs.add("app/secret.enc.yaml", fixture("enc/secret.yaml"));
        fs.add(
            "app/kustomization.yaml",
            "resources: [secret.enc.yaml]\nnamePrefix: x-\n",
        );
        let mut inputs = age_keys();
        let objects = render_tree(&fs, "app", &inputs).unwrap();
        assert_eq!(objects[0].name(), "x-db");
        assert!(objects[0].value.get("sops").is_none());
        assert_eq!(objects[0].value["stringData"]["username"], "admin");
        // Substitution runs on the decrypted values (Flux's order).
        let vars = Variables::from_map([("unused".to_owned(), "x".to_owned())].into()).unwrap();
        inputs.substitution = Some((vars, Options::default()));
        let objects = render_tree(&fs, "app", &inputs).unwrap();
        assert_eq!(objects[0].value["stringData"]["username"], "admin");

        // One character of a value changed: refused, naming the file, without the value.
        let text = String::from_utf8(fixture("enc/secret.yaml")).unwrap();
        let at = text.find("ENC[AES256_GCM,data:").unwrap() + 20;
        let mut bytes = text.into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        fs.add("app/secret.enc.yaml", bytes);
        let e = render_tree(&fs, "app", &age_keys()).unwrap_err();
        assert_eq!(e.retry_class(), RetryClass::Terminal);
        let e = e.to_string();
        assert!(
            e.starts_with("decryption failed: `app/secret.enc.yaml`: Secret team-a/x-db")
                && e.contains("`stringData.username` cannot be decrypted"),
            "{e}"
        );
        assert!(!e.contains("admin"), "{e}");
    }

    #[test]
    fn substitution_should_run_after_the_build_and_name_an_unset_variable() {
        let mut fs = MemFs::new();
        fs.add(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  env: ${cluster_env}\n  zone: ${zone}\n",
        );
        let vars =
            Variables::from_map([("cluster_env".to_owned(), "prod".to_owned())].into()).unwrap();
        let inputs = Inputs {
            keys: None,
            substitution: Some((vars, Options::default())),
        };
        let e = render_tree(&fs, "app", &inputs).unwrap_err().to_string();
        assert!(
            e.contains("`app/cm.yaml`: ConfigMap c: substitution failed at `data.zone`")
                && e.contains("`zone`"),
            "{e}"
        );
        fs.add(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  env: ${cluster_env}\n",
        );
        let objects = render_tree(&fs, "app", &inputs).unwrap();
        assert_eq!(objects[0].value["data"]["env"], "prod");
    }
}
