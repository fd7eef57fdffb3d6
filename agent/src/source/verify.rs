//! Source verification: the signature policy (`spec.verify`) over the fetched revision, and the
//! refusal of history that does not descend from what was applied last. Fail closed: any doubt
//! is a refusal that names the commit and the reason.

use pi_verify::{TrustPolicy, VerifyMode};

use super::{Snapshot, SourceError};

/// Largest number of commits `AllSince` verifies in one revision (and walks for ancestry).
pub const MAX_COMMITS: usize = 10_000;

/// What to verify for one revision.
pub struct Verification {
    /// The mode.
    pub mode: VerifyMode,
    /// The trust material (absent only for `VerifyMode::None`).
    pub policy: Option<TrustPolicy>,
    /// The commit applied last, if any: the new revision must descend from it.
    pub last_applied: Option<gix::ObjectId>,
    /// Accept a revision that does not descend from `last_applied`.
    pub allow_rollback: bool,
}

/// What was verified, for status and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// One line: who signed what, or that verification is disabled.
    pub summary: String,
    /// Signatures checked.
    pub signatures: usize,
}

impl Snapshot {
    fn rejected(&self, commit: gix::ObjectId, why: String) -> SourceError {
        SourceError::VerificationFailed {
            revision: short(commit),
            reason: why,
        }
    }

    /// Verifies the revision against `v`.
    ///
    /// # Errors
    /// [`SourceError::VerificationFailed`] naming the commit and the reason; repository errors.
    pub fn verify(&self, v: &Verification) -> Result<Verdict, SourceError> {
        let repo = self.repo.to_thread_local();
        let broken = |message: String| SourceError::RepositoryFailed {
            url: self.url.clone(),
            message,
        };
        let head = self.revision.commit;

        // Anti-rollback, whatever the signature mode.
        let mut since = None;
        if let Some(old) = v.last_applied.filter(|old| *old != head) {
            let descends = repo.has_object(old)
                && repo
                    .merge_base(old, head)
                    .map_err(|e| broken(e.to_string()))?
                    .map(|id| id.detach())
                    == Some(old);
            if !descends && !v.allow_rollback {
                return Err(self.rejected(
                    head,
                    format!(
                        "does not descend from the last applied commit {} (rollback or rewritten history; set `spec.verify.allowRollback: true` to accept it)",
                        short(old)
                    ),
                ));
            }
            if descends {
                since = Some(old);
            }
        }

        let Some(policy) = &v.policy else {
            return Ok(Verdict {
                summary: "verification disabled (`spec.verify.mode: None`)".into(),
                signatures: 0,
            });
        };
        let mut signed_by = Vec::new();
        let mut count = 0;
        let check_commit = |id: gix::ObjectId| -> Result<pi_verify::Verified, SourceError> {
            let object = repo.find_object(id).map_err(|e| broken(e.to_string()))?;
            pi_verify::verify_commit(&object.data, policy)
                .map_err(|r| self.rejected(id, r.to_string()))
        };
        if matches!(v.mode, VerifyMode::Tag | VerifyMode::TagAndHead) {
            let Some(tag) = self.revision.tag else {
                return Err(self.rejected(
                    head,
                    format!(
                        "mode `{}` needs an annotated tag, and {} is not one",
                        v.mode,
                        self.revision.name.as_deref().unwrap_or("the reference")
                    ),
                ));
            };
            let object = repo.find_object(tag).map_err(|e| broken(e.to_string()))?;
            let ok = pi_verify::verify_tag(&object.data, policy).map_err(|r| {
                SourceError::VerificationFailed {
                    revision: format!("tag {}", self.revision.name.as_deref().unwrap_or_default()),
                    reason: r.to_string(),
                }
            })?;
            signed_by.push(format!(
                "tag signed by {} ({})",
                ok.signer, ok.key_fingerprint
            ));
            count += 1;
        }
        match v.mode {
            VerifyMode::Head | VerifyMode::TagAndHead => {
                let ok = check_commit(head)?;
                signed_by.push(format!(
                    "commit {} signed by {} ({})",
                    short(head),
                    ok.signer,
                    ok.key_fingerprint
                ));
                count += 1;
            }
            VerifyMode::AllSince => {
                let mut walk = repo.rev_walk([head]);
                if let Some(old) = since {
                    walk = walk.with_hidden([old]);
                }
                let mut signers = std::collections::BTreeSet::new();
                let mut n = 0;
                for info in walk.all().map_err(|e| broken(e.to_string()))? {
                    let info = info.map_err(|e| broken(e.to_string()))?;
                    n += 1;
                    if n > MAX_COMMITS {
                        return Err(self.rejected(head, format!("more than {MAX_COMMITS} commits to verify since the last applied one")));
                    }
                    signers.insert(check_commit(info.id)?.signer);
                    // Without a last applied commit, only the revision itself is verified.
                    if since.is_none() {
                        break;
                    }
                }
                count += n;
                signed_by.push(format!(
                    "{n} commits up to {} signed by {}",
                    short(head),
                    signers.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            VerifyMode::Tag | VerifyMode::None => {}
        }
        Ok(Verdict {
            summary: signed_by.join("; "),
            signatures: count,
        })
    }
}

fn short(id: gix::ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}
