//! Stage `verify`: the revision's signatures (commit, tag, or every commit since the last
//! applied one) checked against the work's trust material — its own Secrets or ConfigMaps, or
//! the region's trust files — and the anti-rollback rule. Nothing of an unverified revision is
//! ever read from its tree.

use pi_verify::{TrustPolicy, VerifyMode};

use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::report::recorder::{Outcome, Record};
use crate::secrets::{KeyError, read_ref};
use crate::source::{Snapshot, SourceError, Verdict, Verification};
use crate::work::{Prior, Work};

use super::Fetched;

/// A verified revision: its tree may now be read.
pub struct Verified {
    /// The repository and the commit.
    pub snapshot: Snapshot,
    /// `main@sha1:…`.
    pub revision: String,
    /// What was verified.
    pub verdict: Verdict,
}

impl Outcome for Verified {
    fn record(&self, record: &mut Record<'_>) {
        record.verified(self.verdict.signatures, &self.verdict.summary);
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Refused (`VerificationFailed`), or the repository could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A trust material reference is invalid.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The verification task did not finish.
    #[error("verification task failed: {0}")]
    Task(String),
}

impl Outcome for VerifyError {
    fn record(&self, record: &mut Record<'_>) {
        if let VerifyError::Source(SourceError::VerificationFailed { .. }) = self {
            record.verification_refused();
        }
    }
}

impl StageError for VerifyError {
    fn reason(&self) -> &'static str {
        match self {
            VerifyError::Source(e) => e.reason(),
            VerifyError::InvalidSpec(_) => reason::INVALID_SPEC,
            VerifyError::Task(_) => reason::SOURCE_FAILED,
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            VerifyError::Source(e) => e.retry_class(),
            VerifyError::InvalidSpec(_) => RetryClass::Terminal,
            VerifyError::Task(_) => RetryClass::Transient,
        }
    }
}

/// Verifies a fetched revision.
///
/// # Errors
/// A refusal naming the commit and why; missing or unparsable trust material (fail closed).
pub async fn verify(
    work: &Work,
    prior: &Prior,
    ctx: &Context,
    fetched: Fetched,
) -> Result<Verified, VerifyError> {
    let verification = verification(work, prior, ctx).await?;
    let Fetched {
        snapshot, revision, ..
    } = fetched;
    let (snapshot, verdict) = tokio::task::spawn_blocking(move || {
        let verdict = snapshot.verify(&verification);
        (snapshot, verdict)
    })
    .await
    .map_err(|e| VerifyError::Task(e.to_string()))?;
    Ok(Verified {
        snapshot,
        revision,
        verdict: verdict?,
    })
}

fn refused(reason: String) -> VerifyError {
    VerifyError::Source(SourceError::VerificationFailed {
        revision: "policy".into(),
        reason,
    })
}

/// The verification the work asks for, with its trust material read from the cluster (every
/// reconcile, so a rotated Secret applies without a restart).
async fn verification(
    work: &Work,
    prior: &Prior,
    ctx: &Context,
) -> Result<Verification, VerifyError> {
    let v = &work.verify;
    let policy = if v.mode == VerifyMode::None {
        None
    } else {
        let ns = &work.subject.namespace;
        let mut ssh = match &v.allowed_signers {
            Some(r) => Some(read_key(&ctx.client, ns, r, "spec.verify.allowedSigners").await?),
            None => None,
        };
        let mut pgp = match &v.openpgp_keys {
            Some(r) => Some(read_key(&ctx.client, ns, r, "spec.verify.openpgpKeys").await?),
            None => None,
        };
        // Naming none of its own, a work is verified against the region's files.
        if v.uses_region_trust() {
            let defaults = ctx.trust_files.read().map_err(refused)?;
            ssh = defaults.allowed_signers;
            pgp = defaults.openpgp_keys;
        }
        if ssh.is_none() && pgp.is_none() {
            return Err(refused(
                "no trust material: set `spec.verify.allowedSigners` or `spec.verify.openpgpKeys` (or `spec.verify.mode: None` to apply unsigned commits)".into(),
            ));
        }
        Some(
            TrustPolicy::parse(ssh.as_deref(), pgp.as_deref(), v.allowed_identities.clone())
                .map_err(|e| refused(format!("trust material does not parse: {e}")))?,
        )
    };
    Ok(Verification {
        mode: v.mode,
        policy,
        last_applied: prior.last_applied_commit(),
        allow_rollback: v.allow_rollback,
    })
}

/// Reads trust material: a missing key is a refusal.
async fn read_key(
    client: &kube::Client,
    namespace: &str,
    r: &crate::api::KeyRef,
    field: &str,
) -> Result<String, VerifyError> {
    read_ref(client, namespace, r, field)
        .await
        .map_err(|e| match e {
            KeyError::Missing(reason) => refused(reason),
            KeyError::Unavailable(e) => VerifyError::Source(SourceError::RepositoryFailed {
                url: field.into(),
                message: e.to_string(),
            }),
            KeyError::Invalid(m) => VerifyError::InvalidSpec(m),
        })
}
