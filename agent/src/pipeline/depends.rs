//! Stage `depends`: every Application of `dependsOn` must be Ready at its current generation
//! before this work is fetched. A dependency that is not Ready is a waiting state, not a failure.

use kube::api::Api;

use crate::api::Application;
use crate::context::Context;
use crate::error::{RetryClass, StageError};
use crate::report::conditions::{self, reason};
use crate::report::recorder::Outcome;
use crate::work::Work;

/// Why the work must wait.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// A dependency does not exist or is not Ready.
    #[error("dependency `{namespace}/{name}` {why}")]
    NotReady {
        namespace: String,
        name: String,
        why: &'static str,
    },
    /// A dependency could not be read.
    #[error("reading dependency `{namespace}/{name}` failed: {source}")]
    Unavailable {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Outcome for DependencyError {}

impl StageError for DependencyError {
    fn reason(&self) -> &'static str {
        reason::DEPENDENCY_NOT_READY
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            DependencyError::NotReady { .. } => RetryClass::Waiting,
            DependencyError::Unavailable { .. } => RetryClass::Transient,
        }
    }
}

/// Checks every dependency, in order.
///
/// # Errors
/// The first dependency that is missing or not Ready.
pub async fn check(work: &Work, ctx: &Context) -> Result<(), DependencyError> {
    for dep in &work.depends_on {
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &dep.namespace);
        let other =
            api.get_opt(&dep.name)
                .await
                .map_err(|source| DependencyError::Unavailable {
                    namespace: dep.namespace.clone(),
                    name: dep.name.clone(),
                    source,
                })?;
        let ready = other.as_ref().is_some_and(|o| {
            o.status.as_ref().is_some_and(|s| {
                s.observed_generation == o.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == conditions::READY && c.status == "True")
            })
        });
        if !ready {
            return Err(DependencyError::NotReady {
                namespace: dep.namespace.clone(),
                name: dep.name.clone(),
                why: if other.is_none() {
                    "does not exist"
                } else {
                    "is not Ready"
                },
            });
        }
    }
    Ok(())
}
