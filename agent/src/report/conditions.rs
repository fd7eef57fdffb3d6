//! kstatus conditions: `Ready`, `Reconciling`, `Stalled`, with stage reasons.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub const READY: &str = "Ready";
/// In progress (kstatus abnormal-true).
pub const RECONCILING: &str = "Reconciling";
/// Will not progress without a change (kstatus abnormal-true).
pub const STALLED: &str = "Stalled";
/// Whether the last fetched revision was verified (False with `VerificationDisabled`: a warning).
pub const SOURCE_VERIFIED: &str = "SourceVerified";
/// Every container image of the applied revision was admitted by `spec.images`.
pub const IMAGES_VERIFIED: &str = "ImagesVerified";

/// Status reasons, one per outcome and stage (they live with the stage errors).
pub use crate::error::reason;

/// Sets (or replaces) the condition of `type_`, keeping `lastTransitionTime` when the status
/// does not change, as the Kubernetes API conventions require.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" };
    let transition = conditions
        .iter()
        .find(|c| c.type_ == type_)
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    conditions.retain(|c| c.type_ != type_);
    conditions.push(Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: truncate(message, 1024),
        observed_generation: generation,
        last_transition_time: transition,
    });
    conditions.sort_by_key(|c| match c.type_.as_str() {
        READY => 0,
        RECONCILING => 1,
        STALLED => 2,
        SOURCE_VERIFIED => 3,
        _ => 4,
    });
}

/// Removes the condition of `type_` (kstatus: abnormal-true conditions are absent when false).
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Cuts a message at a character boundary so status stays small.
pub fn truncate(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_owned();
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn transition_time_should_change_only_with_status() {
        let mut c = Vec::new();
        set_condition(
            &mut c,
            READY,
            false,
            "A",
            "m1",
            Some(1),
            &t("2026-01-01T00:00:00Z"),
        );
        set_condition(
            &mut c,
            READY,
            false,
            "B",
            "m2",
            Some(2),
            &t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        assert_eq!(c[0].reason, "B");
        set_condition(
            &mut c,
            READY,
            true,
            "C",
            "m3",
            Some(2),
            &t("2026-01-03T00:00:00Z"),
        );
        assert_eq!(c[0].last_transition_time, t("2026-01-03T00:00:00Z"));
    }

    #[test]
    fn conditions_should_keep_kstatus_order() {
        let now = t("2026-01-01T00:00:00Z");
        let mut c = Vec::new();
        set_condition(&mut c, STALLED, true, "x", "", None, &now);
        set_condition(&mut c, READY, false, "x", "", None, &now);
        set_condition(&mut c, RECONCILING, true, "x", "", None, &now);
        assert_eq!(
            c.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(),
            [READY, RECONCILING, STALLED]
        );
        remove_condition(&mut c, STALLED);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn long_messages_should_be_cut_on_a_char_boundary() {
        let m = "é".repeat(600);
        let cut = truncate(&m, 1023);
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= 1026);
        assert_eq!(truncate("short", 10), "short");
    }
}
