//! Stage `admit`: every container image of the revision admitted by the work's image policy
//! (allowed registries, a cosign signature by a trusted key) and pinned to the digest that was
//! verified. A refused image refuses the whole revision before anything is written.

use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::images::ImageStageError;
use crate::render::Object;
use crate::report::recorder::{Outcome, Record};
use crate::work::Work;

use super::Rendered;

/// A revision whose objects may be applied.
pub struct Admitted {
    /// `main@sha1:…`.
    pub revision: String,
    /// The objects, images pinned.
    pub objects: Vec<Object>,
    /// What the image policy checked (`None`: the work has no image policy).
    pub images: Option<crate::images::Admitted>,
}

impl Outcome for Admitted {
    fn record(&self, record: &mut Record<'_>) {
        let summary = self.images.as_ref().map(|a| a.summary());
        record.images_admitted(
            self.images
                .as_ref()
                .map(|a| a.images.len() as u64)
                .zip(summary.as_deref()),
        );
        // A verified and admitted revision is about to change the cluster.
        record.applying(&self.revision);
    }
}

/// Why admission failed.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// An image is refused, or the policy's keys cannot be read.
    #[error(transparent)]
    Images(#[from] ImageStageError),
}

impl Outcome for AdmitError {
    fn record(&self, record: &mut Record<'_>) {
        record.images_refused();
    }
}

impl StageError for AdmitError {
    fn reason(&self) -> &'static str {
        reason::IMAGE_VERIFICATION_FAILED
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            AdmitError::Images(e) => e.retry_class(),
        }
    }
}

/// Admits a rendered revision.
///
/// # Errors
/// The first refused image, with the reason; unreadable keys or pull secret.
pub async fn admit(work: &Work, ctx: &Context, rendered: Rendered) -> Result<Admitted, AdmitError> {
    let Rendered {
        revision,
        mut objects,
    } = rendered;
    let images = match &work.images {
        None => None,
        Some(policy) => {
            let resolved =
                crate::images::resolve(&ctx.client, &work.subject.namespace, policy).await?;
            Some(crate::images::admit(&ctx.images, &resolved, &mut objects).await?)
        }
    };
    Ok(Admitted {
        revision,
        objects,
        images,
    })
}
