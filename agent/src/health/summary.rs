//! One status message for the health of many objects.

use super::fields::plural;
use super::{Health, Status};

/// How many objects a summary names before it only counts the rest; status messages are
/// truncated (1024 bytes in `report`), so the worst ones go first and the tail is counted.
const LISTED: usize = 10;

/// A message naming the objects that are not [`Status::Current`], or `None` when all are
/// (including when there are none).
///
/// Items are `(display id, health)`, the id as the caller shows objects (e.g.
/// `Deployment prod/web`). Failed objects come first, then Unknown, NotFound, Terminating and
/// InProgress, each group in the order given:
/// `2 of 5 objects not ready: Job prod/migrate failed: BackoffLimitExceeded (6 pods failed);
/// Deployment prod/web in progress: 1/2 replicas available`.
pub fn summarize<'a>(items: impl IntoIterator<Item = (&'a str, &'a Health)>) -> Option<String> {
    let mut total = 0;
    let mut pending: Vec<(&str, &Health)> = items
        .into_iter()
        .inspect(|_| total += 1)
        .filter(|(_, health)| health.status != Status::Current)
        .collect();
    if pending.is_empty() {
        return None;
    }
    pending.sort_by_key(|(_, health)| severity(health.status));
    let mut lines: Vec<String> = pending
        .iter()
        .take(LISTED)
        .map(|(id, health)| line(id, health))
        .collect();
    if pending.len() > LISTED {
        lines.push(format!("and {} more", pending.len() - LISTED));
    }
    Some(format!(
        "{} of {} not ready: {}",
        pending.len(),
        plural(total, "object"),
        lines.join("; ")
    ))
}

/// Worst first.
fn severity(status: Status) -> u8 {
    match status {
        Status::Failed => 0,
        Status::Unknown => 1,
        Status::NotFound => 2,
        Status::Terminating => 3,
        Status::InProgress => 4,
        Status::Current => 5,
    }
}

fn line(id: &str, health: &Health) -> String {
    let state = match health.status {
        Status::Current => "current",
        Status::InProgress => "in progress",
        Status::Failed => "failed",
        Status::Terminating => "terminating",
        Status::NotFound => "not found",
        Status::Unknown => "unknown",
    };
    let why = without_own_name(id, &health.message);
    if why.is_empty() || why == state {
        format!("{id} {state}")
    } else {
        format!("{id} {state}: {why}")
    }
}

/// The message without the object's own name in front, which the id already gives: [`super::assess`]
/// starts messages with `Kind name: `, [`Health::not_found`] with the id itself.
fn without_own_name<'m>(id: &str, message: &'m str) -> &'m str {
    if let Some(rest) = message
        .strip_prefix(id)
        .and_then(|rest| rest.strip_prefix(": "))
    {
        return rest;
    }
    let Some((kind, qualified)) = id.split_once(' ') else {
        return message;
    };
    let name = qualified.rsplit('/').next().unwrap_or(qualified);
    message
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(status: Status, message: &str) -> Health {
        Health {
            status,
            message: message.to_owned(),
        }
    }

    #[test]
    fn all_current_should_summarize_to_none() {
        let ok = health(Status::Current, "Deployment web: 2/2 replicas available");
        assert_eq!(
            summarize([("Deployment prod/web", &ok), ("Service prod/web", &ok)]),
            None
        );
    }

    #[test]
    fn no_objects_should_summarize_to_none() {
        assert_eq!(summarize(std::iter::empty::<(&str, &Health)>()), None);
    }

    #[test]
    fn summary_should_name_objects_not_current_worst_first() {
        let ok = health(Status::Current, "Service web: type ClusterIP");
        let web = health(Status::InProgress, "Deployment web: 1/2 replicas available");
        let job = health(
            Status::Failed,
            "Job migrate: BackoffLimitExceeded (6 pods failed)",
        );
        let items = [
            ("Service prod/web", &ok),
            ("Deployment prod/web", &web),
            ("Job prod/migrate", &job),
        ];
        assert_eq!(
            summarize(items).as_deref(),
            Some(
                "2 of 3 objects not ready: Job prod/migrate failed: BackoffLimitExceeded (6 pods failed); \
                 Deployment prod/web in progress: 1/2 replicas available"
            )
        );
    }

    #[test]
    fn summary_should_order_by_severity_keeping_input_order_within_a_status() {
        let statuses = [
            Status::InProgress,
            Status::Terminating,
            Status::NotFound,
            Status::Unknown,
            Status::InProgress,
        ];
        let healths: Vec<Health> = statuses.iter().map(|s| health(*s, "")).collect();
        let ids = ["A a", "B b", "C c", "D d", "E e"];
        let summary = summarize(ids.iter().copied().zip(&healths)).unwrap();
        assert_eq!(
            summary,
            "5 of 5 objects not ready: D d unknown; C c not found; B b terminating; A a in progress; E e in progress"
        );
    }

    #[test]
    fn summary_should_count_objects_past_the_listed_ones() {
        let waiting = health(Status::InProgress, "x");
        let ids: Vec<String> = (0..12).map(|i| format!("ConfigMap c{i}")).collect();
        let summary = summarize(ids.iter().map(|id| (id.as_str(), &waiting))).unwrap();
        assert!(
            summary.starts_with("12 of 12 objects not ready: ConfigMap c0 in progress: x; "),
            "{summary}"
        );
        assert!(
            summary.ends_with("ConfigMap c9 in progress: x; and 2 more"),
            "{summary}"
        );
        assert!(!summary.contains("c10"), "{summary}");
    }

    #[test]
    fn summary_of_one_object_should_say_object() {
        let gone = Health::not_found("Secret prod/tls");
        assert_eq!(
            summarize([("Secret prod/tls", &gone)]).as_deref(),
            Some("1 of 1 object not ready: Secret prod/tls not found")
        );
    }

    #[test]
    fn own_name_should_be_dropped_only_when_it_matches() {
        assert_eq!(
            without_own_name("Deployment prod/web", "Deployment web: 1/2 ready"),
            "1/2 ready"
        );
        assert_eq!(
            without_own_name("Namespace prod", "Namespace prod: phase Terminating"),
            "phase Terminating"
        );
        assert_eq!(
            without_own_name("Deployment prod/web", "Deployment prod/web: not found"),
            "not found"
        );
        assert_eq!(
            without_own_name("Deployment prod/web", "Deployment api: 1/2 ready"),
            "Deployment api: 1/2 ready"
        );
        assert_eq!(
            without_own_name("Deployment prod/web", "Service web: pending"),
            "Service web: pending"
        );
        assert_eq!(
            without_own_name("Deployment prod/web", "Deployment web 1/2"),
            "Deployment web 1/2"
        );
        assert_eq!(
            without_own_name("web", "lookup failed: 403"),
            "lookup failed: 403"
        );
    }
}
