//! Stage `spec`: the rules of the work that need compiling — its CEL health checks and the
//! fields it leaves to other managers — compiled once per spec generation (the context keeps
//! them), so an invalid expression or pointer stops the reconcile before anything is fetched.

use std::sync::Arc;

use crate::apply::{ApplyRules, RulesError};
use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError};
use crate::report::recorder::Outcome;
use crate::work::Work;

/// The compiled rules of the work.
pub struct Compiled(pub Arc<ApplyRules>);

impl Outcome for Compiled {}

/// Why the spec's rules do not compile.
#[derive(Debug, thiserror::Error)]
pub enum SpecStageError {
    /// A `healthCheckExprs` entry or an `ignore` rule, named.
    #[error("invalid spec: {0}")]
    Rules(#[from] RulesError),
}

impl Outcome for SpecStageError {}

impl StageError for SpecStageError {
    fn reason(&self) -> &'static str {
        reason::INVALID_SPEC
    }
    fn retry_class(&self) -> RetryClass {
        RetryClass::Terminal
    }
}

/// Compiles (or finds, at the same generation) the work's rules.
///
/// # Errors
/// The first health check or ignore rule that does not compile, naming its field and
/// expression.
pub async fn compile(work: &Work, ctx: &Context) -> Result<Compiled, SpecStageError> {
    let rules = ctx.rules.rules_for(
        &work.subject.owner(),
        work.subject.uid.as_deref(),
        work.generation,
        &work.sync.health_checks,
        &work.sync.ignore,
    )?;
    Ok(Compiled(rules))
}
