//! Report stage: status conditions, metrics, Kubernetes Events, console events and commit
//! statuses (through a bounded outbox with retries).

pub mod conditions;
pub mod events;
pub mod metrics;
pub mod outbox;
pub mod payload;
pub mod recorder;
pub mod subject;

pub use events::{ReportConfig, Reporter};
pub use metrics::Metrics;
