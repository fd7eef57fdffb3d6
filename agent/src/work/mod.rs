//! The work of one reconcile, independent of the resource that asked for it.
//!
//! A front door (an adapter) turns a resource into a [`Work`]: what to fetch, how to verify it,
//! how to render it, what to admit, how to apply it and where to report. The pipeline's stages
//! read only this description, never the resource, so another resource (Argo CD's
//! `Application`) is one more adapter and nothing else. Each adapter also says what the
//! resource's status remembers of earlier reconciles ([`Prior`]) and writes status in its own
//! shape ([`StatusSink`]).
//!
//! Adapters: [`application`] (pi-agent's own `Application`).

pub mod application;

use std::time::Duration;

use pi_verify::VerifyMode;

use crate::api::{
    CustomHealthCheck, DeletionPolicy, IgnoreRule, InventoryEntry, KeyRef, PostBuild, Report,
};
use crate::apply::Tenancy;
pub use crate::report::recorder::StatusSink;
pub use crate::report::subject::Subject;
use crate::source::Reference;

/// What one reconcile does, whatever resource asked for it.
#[derive(Clone, Debug)]
pub struct Work {
    /// The resource this work is for: owner of what is applied, subject of reports.
    pub subject: Subject,
    /// The resource's `metadata.generation`.
    pub generation: Option<i64>,
    /// How often the source is fetched again.
    pub interval: Duration,
    /// Resources that must be Ready before this one is reconciled.
    pub depends_on: Vec<Dependency>,
    /// What to fetch.
    pub source: SourceSpec,
    /// How to verify the fetched revision.
    pub verify: VerifySpec,
    /// How to render the revision's files into objects.
    pub render: RenderSpec,
    /// SOPS decryption of the render (`None`: an encrypted object is refused).
    pub decryption: Option<DecryptionSpec>,
    /// Post-build variable substitution (`None`: none).
    pub post_build: Option<PostBuild>,
    /// Admission: the image policy (`None`: images are not checked).
    pub images: Option<provenance::ImagePolicy>,
    /// Admission: the namespaces and cluster-scoped kinds the objects may touch.
    pub tenancy: Tenancy,
    /// How to apply, prune and wait.
    pub sync: SyncSpec,
    /// Where outcomes are reported besides status and Events.
    pub report: Option<Report>,
}

/// A resource that must be Ready first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// What to fetch.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// The repository URL.
    pub url: String,
    /// The validated reference.
    pub reference: Reference,
    /// The Secret (in the subject's namespace) holding credentials, if any.
    pub secret_name: Option<String>,
}

/// How to verify a revision.
#[derive(Clone, Debug)]
pub struct VerifySpec {
    /// The mode.
    pub mode: VerifyMode,
    /// SSH `allowed_signers` of the subject's namespace.
    pub allowed_signers: Option<KeyRef>,
    /// Armored OpenPGP keys of the subject's namespace.
    pub openpgp_keys: Option<KeyRef>,
    /// Principals, e-mails, user IDs or fingerprints allowed to sign (empty: any trusted key).
    pub allowed_identities: Vec<String>,
    /// Accept a revision that does not descend from the last applied one.
    pub allow_rollback: bool,
}

impl VerifySpec {
    /// Whether the region's trust files verify this work (it names no trust material).
    pub fn uses_region_trust(&self) -> bool {
        self.allowed_signers.is_none() && self.openpgp_keys.is_none()
    }
}

/// How a revision's files become objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderSpec {
    /// kustomize-rs over a directory (a plain directory renders its manifests).
    Kustomize {
        /// The directory, relative to the repository root (empty: the root).
        path: String,
    },
}

/// Where the keys that decrypt the render's SOPS-encrypted values are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionSpec {
    /// The Secret of the subject's namespace holding `*.agekey` and `*.asc` entries; `None`:
    /// the region's key file (`--sops-age-key-file`).
    pub secret_name: Option<String>,
}

/// How to apply.
#[derive(Clone, Debug)]
pub struct SyncSpec {
    /// Delete what left Git.
    pub prune: bool,
    /// Revert changes made in the cluster.
    pub self_heal: bool,
    /// A revision rendering nothing may prune everything.
    pub allow_empty: bool,
    /// Ready only once every object is healthy.
    pub wait: bool,
    /// Health check deadline.
    pub timeout: Duration,
    /// What deleting the subject does to what it applied.
    pub deletion_policy: DeletionPolicy,
    /// Nothing is fetched, applied or pruned.
    pub suspend: bool,
    /// Apply, prune and self-heal as this ServiceAccount of the subject's namespace.
    pub service_account: Option<String>,
    /// CEL health checks of kinds kstatus does not know (compiled per generation by the
    /// pipeline).
    pub health_checks: Vec<CustomHealthCheck>,
    /// Fields left to other managers (compiled per generation by the pipeline).
    pub ignore: Vec<IgnoreRule>,
}

/// What the subject's status remembers of earlier reconciles.
#[derive(Clone, Debug, Default)]
pub struct Prior {
    /// The revision applied last.
    pub last_applied_revision: Option<String>,
    /// What was applied last.
    pub inventory: Vec<InventoryEntry>,
    /// The generation the last reconcile saw.
    pub observed_generation: Option<i64>,
    /// Whether the last reconcile ended Ready.
    pub ready: bool,
}

impl Prior {
    /// The commit of the last applied revision.
    pub fn last_applied_commit(&self) -> Option<gix::ObjectId> {
        let commit = crate::source::revision_commit(self.last_applied_revision.as_deref()?)?;
        gix::ObjectId::from_hex(commit.as_bytes()).ok()
    }
}
