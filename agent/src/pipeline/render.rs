//! Stage `render`: the verified tree rendered into objects (kustomize-rs, or a plain
//! directory), each with the file it came from. Pure: reads only the tree, off the runtime's
//! threads.

use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::render::{Object, RenderError};
use crate::report::recorder::Outcome;
use crate::source::SourceError;
use crate::work::{RenderSpec, Work};

use super::Verified;

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
    /// The render task did not finish.
    #[error("render task failed: {0}")]
    Task(String),
}

impl Outcome for RenderStageError {}

impl StageError for RenderStageError {
    fn reason(&self) -> &'static str {
        match self {
            RenderStageError::Render(_) | RenderStageError::Task(_) => reason::RENDER_FAILED,
            RenderStageError::Tree(e) => e.reason(),
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            RenderStageError::Render(e) => e.retry_class(),
            RenderStageError::Tree(e) => e.retry_class(),
            RenderStageError::Task(_) => RetryClass::Transient,
        }
    }
}

/// Renders a verified revision.
///
/// # Errors
/// Any render error, naming the file (bad YAML with its line, a missing base, a patch target…).
pub async fn render(work: &Work, verified: Verified) -> Result<Rendered, RenderStageError> {
    let spec = work.render.clone();
    let Verified {
        snapshot, revision, ..
    } = verified;
    let objects = tokio::task::spawn_blocking(move || -> Result<_, RenderStageError> {
        let fs = snapshot.tree_fs()?;
        match &spec {
            RenderSpec::Kustomize { path } => Ok(crate::render::render(&fs, path)?),
        }
    })
    .await
    .map_err(|e| RenderStageError::Task(e.to_string()))??;
    Ok(Rendered { revision, objects })
}
