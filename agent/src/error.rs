//! What every stage error shares: its retry class and its status reason.

use std::time::Duration;

/// How the controller treats a failed reconcile. The error policy reads this, never the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryClass {
    /// Likely to pass on retry (network, API server restarting): back off and retry.
    Transient,
    /// Not a failure: something else must happen first (a dependency, a rollout).
    Waiting,
    /// Retrying the same input gives the same error (bad YAML, bad spec): `Stalled=True`, retried
    /// only at the interval or when the spec or source changes.
    Terminal,
}

impl RetryClass {
    /// Delay before the next attempt, given the Application's interval and the failures so far.
    pub fn requeue_after(self, interval: Duration, consecutive_failures: u32) -> Duration {
        match self {
            RetryClass::Transient => {
                // 2s, 4s, 8s … capped at the interval (and at 5 minutes).
                let exp = 2u64.saturating_pow(consecutive_failures.clamp(1, 16));
                Duration::from_secs(exp)
                    .min(interval)
                    .min(Duration::from_secs(300))
            }
            RetryClass::Waiting => Duration::from_secs(5).min(interval),
            RetryClass::Terminal => interval,
        }
    }
}

/// Status reasons, one per outcome and stage (STYLE: the policy never reads messages).
pub mod reason {
    /// Everything applied.
    pub const SUCCEEDED: &str = "ReconciliationSucceeded";
    /// A reconcile is running.
    pub const PROGRESSING: &str = "Progressing";
    /// The revision's signatures were verified.
    pub const VERIFIED: &str = "Succeeded";
    /// `spec.verify.mode: None`: nothing is verified.
    pub const VERIFICATION_DISABLED: &str = "VerificationDisabled";
    /// Unsigned, untrusted, tampered, expired or rolled-back revision, or no trust material.
    pub const SOURCE_VERIFICATION_FAILED: &str = "SourceVerificationFailed";
    /// Fetch or ref resolution failed.
    pub const SOURCE_FAILED: &str = "SourceFailed";
    /// The manifests do not render.
    pub const RENDER_FAILED: &str = "RenderFailed";
    /// An image is outside the allowed registries, unsigned, signed by another key, or its
    /// registry cannot be read.
    pub const IMAGE_VERIFICATION_FAILED: &str = "ImageVerificationFailed";
    /// The API server refused an object.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Deleting objects that left Git failed, or would delete everything.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// An object is outside the namespaces or cluster-scoped kinds the Application may touch.
    pub const TENANCY_VIOLATION: &str = "TenancyViolation";
    /// The applied objects did not become healthy in time, or failed.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// An Application this one depends on is not Ready.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// The spec is invalid.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// `spec.sync.suspend` is true.
    pub const SUSPENDED: &str = "Suspended";
}

/// What every stage's error enum says of itself: the status reason of the failing stage and
/// how the controller retries. The policy reads these, never the message.
pub trait StageError: std::error::Error + Send + Sync + 'static {
    /// The status reason (`SourceFailed`, `RenderFailed`, `ApplyFailed`…).
    fn reason(&self) -> &'static str;
    /// How the controller retries.
    fn retry_class(&self) -> RetryClass;
}

/// A failed reconcile: the stage that failed and its error. Its message is the stage error's.
pub struct Failure {
    /// The stage that failed (`fetch`, `verify`, `render`…).
    pub stage: &'static str,
    error: Box<dyn StageError>,
}

impl Failure {
    /// A failure of `stage`.
    pub fn new(stage: &'static str, error: impl StageError) -> Self {
        Failure {
            stage,
            error: Box::new(error),
        }
    }

    /// The status reason of the failing stage.
    pub fn reason(&self) -> &'static str {
        self.error.reason()
    }

    /// How the controller retries.
    pub fn retry_class(&self) -> RetryClass {
        self.error.retry_class()
    }

    /// The stage's error.
    pub fn error(&self) -> &dyn StageError {
        self.error.as_ref()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stage: {:?}", self.stage, self.error)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// The spec of the resource is invalid (reason `InvalidSpec`, terminal).
#[derive(Debug, thiserror::Error)]
#[error("invalid spec: {0}")]
pub struct SpecError(pub String);

impl StageError for SpecError {
    fn reason(&self) -> &'static str {
        reason::INVALID_SPEC
    }
    fn retry_class(&self) -> RetryClass {
        RetryClass::Terminal
    }
}

/// Writing status failed (reason `ApplyFailed`, transient).
#[derive(Debug, thiserror::Error)]
#[error("writing status failed: {0}")]
pub struct StatusError(#[source] pub kube::Error);

impl StageError for StatusError {
    fn reason(&self) -> &'static str {
        reason::APPLY_FAILED
    }
    fn retry_class(&self) -> RetryClass {
        RetryClass::Transient
    }
}

/// Parses a size in bytes with a Kubernetes-style binary suffix: `512Mi`, `2Gi`, `1024Ki`, `100`.
///
/// # Errors
/// Returns the offending text when it is empty, has an unknown suffix or overflows.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let shift = match unit {
        "" => 0,
        "Ki" => 10,
        "Mi" => 20,
        "Gi" => 30,
        "Ti" => 40,
        _ => return Err(format!("size `{text}`: use a number with Ki, Mi, Gi or Ti")),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("size `{text}`: use a number with Ki, Mi, Gi or Ti"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// A Go-style duration (`300ms`, `30s`, `5m`, `1h30m`), as Kubernetes and Flux users write them.
///
/// # Errors
/// Returns the offending text when it is empty, has an unknown unit or overflows.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration `{text}` lacks a unit (ms, s, m, h)"))?;
        if digits == 0 {
            return Err(format!(
                "duration `{text}` is not of the form 1h30m, 30s, 500ms"
            ));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration `{text}` has a bad number"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("duration `{text}` has unknown unit `{other}`")),
        };
        rest = &rest[unit_len..];
        let part = number * seconds;
        if !part.is_finite() || part > 1e9 {
            return Err(format!("duration `{text}` is too large"));
        }
        total += Duration::from_secs_f64(part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_should_parse_with_binary_suffixes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("512Mi"), Ok(512 << 20));
        assert_eq!(parse_size(" 2Gi "), Ok(2 << 30));
        assert_eq!(parse_size("1Ti"), Ok(1 << 40));
        for bad in ["", "Gi", "1GB", "1.5Gi", "-1", "99999999999999999999Ti"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("16777216Ti").unwrap_err().contains("too large"));
    }

    #[test]
    fn go_durations_should_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_should_name_the_problem() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("10").unwrap_err().contains("lacks a unit"));
        assert!(
            parse_duration("10d")
                .unwrap_err()
                .contains("unknown unit `d`")
        );
        assert!(parse_duration("m").is_err());
        assert!(
            parse_duration("99999999999h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn transient_backoff_should_grow_and_cap_at_interval() {
        let i = Duration::from_secs(60);
        assert_eq!(
            RetryClass::Transient.requeue_after(i, 1),
            Duration::from_secs(2)
        );
        assert_eq!(
            RetryClass::Transient.requeue_after(i, 3),
            Duration::from_secs(8)
        );
        assert_eq!(RetryClass::Transient.requeue_after(i, 30), i);
        assert_eq!(RetryClass::Terminal.requeue_after(i, 1), i);
        assert_eq!(
            RetryClass::Waiting.requeue_after(i, 1),
            Duration::from_secs(5)
        );
    }
}
