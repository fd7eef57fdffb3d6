//! Report stage: status conditions and metrics.

pub mod conditions;
pub mod metrics;

pub use metrics::Metrics;
