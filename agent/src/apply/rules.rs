//! What a work asks of every apply beyond its objects: the fields left to other managers
//! (`spec.sync.ignore`) and the CEL health checks of its own kinds (`spec.sync.healthCheckExprs`),
//! compiled once per spec generation and shared by the apply, the health wait and the drift
//! watcher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::Owner;
use super::ignore::{IgnoreError, IgnoreRules};
use crate::api::{CustomHealthCheck, IgnoreRule};
use crate::health::Health;
use crate::health::cel::{CelError, CelHealthChecks, ExpressionCache};

/// The compiled rules of one work.
#[derive(Debug, Default)]
pub struct ApplyRules {
    /// Fields left to other managers.
    pub ignore: IgnoreRules,
    /// CEL health checks.
    pub health: CelHealthChecks,
}

/// A rule of the spec that does not compile; its message names the field and the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// A `healthCheckExprs` entry.
    #[error(transparent)]
    Health(#[from] CelError),
    /// An `ignore` rule.
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
}

impl ApplyRules {
    /// Compiles the health checks (through `cache`) and the ignore rules.
    ///
    /// # Errors
    /// The first entry that does not compile, named.
    pub fn compile(
        health_checks: &[CustomHealthCheck],
        ignore: &[IgnoreRule],
        cache: &ExpressionCache,
    ) -> Result<Self, RulesError> {
        Ok(ApplyRules {
            health: CelHealthChecks::compile(health_checks, cache)?,
            ignore: IgnoreRules::compile(ignore)?,
        })
    }

    /// The health of a live object: its kind's CEL check when there is one, kstatus otherwise.
    pub fn health_of(&self, live: &Value) -> Health {
        self.health
            .assess(live)
            .unwrap_or_else(|| crate::health::assess(live))
    }
}

/// Which spec a compiled entry was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    uid: Option<String>,
    generation: Option<i64>,
}

/// Compiled rules by work, kept while the spec's generation stays (an Application deleted and
/// created again has another uid). CEL programs are shared across works by their text.
#[derive(Default)]
pub struct RulesCache {
    expressions: ExpressionCache,
    by_owner: Mutex<HashMap<Owner, (Key, Arc<ApplyRules>)>>,
}

impl RulesCache {
    /// The rules of `owner` at `generation`: compiled once per generation (a work without a
    /// generation is compiled every time).
    ///
    /// # Errors
    /// As [`ApplyRules::compile`].
    pub fn rules_for(
        &self,
        owner: &Owner,
        uid: Option<&str>,
        generation: Option<i64>,
        health_checks: &[CustomHealthCheck],
        ignore: &[IgnoreRule],
    ) -> Result<Arc<ApplyRules>, RulesError> {
        let key = Key {
            uid: uid.map(str::to_owned),
            generation,
        };
        if generation.is_some()
            && let Some((k, rules)) = self
                .by_owner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(owner)
            && *k == key
        {
            return Ok(rules.clone());
        }
        let rules = Arc::new(ApplyRules::compile(
            health_checks,
            ignore,
            &self.expressions,
        )?);
        self.by_owner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(owner.clone(), (key, rules.clone()));
        Ok(rules)
    }

    /// Forgets `owner` (its Application was deleted).
    pub fn forget(&self, owner: &Owner) {
        self.by_owner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            name: "web".into(),
            namespace: "team-a".into(),
        }
    }

    fn checks(current: &str) -> Vec<CustomHealthCheck> {
        serde_json::from_value(
            json!([{"apiVersion": "x.io/v1", "kind": "Widget", "current": current}]),
        )
        .unwrap()
    }

    #[test]
    fn rules_should_be_compiled_once_per_generation() {
        let cache = RulesCache::default();
        let a = cache
            .rules_for(&owner(), Some("u"), Some(1), &checks("true"), &[])
            .unwrap();
        let b = cache
            .rules_for(&owner(), Some("u"), Some(1), &checks("true"), &[])
            .unwrap();
        assert!(
            Arc::ptr_eq(&a, &b),
            "same generation: the same compiled rules"
        );
        let c = cache
            .rules_for(&owner(), Some("u"), Some(2), &checks("false"), &[])
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &c), "a new generation is compiled again");
        let d = cache
            .rules_for(&owner(), Some("other"), Some(2), &checks("false"), &[])
            .unwrap();
        assert!(
            !Arc::ptr_eq(&c, &d),
            "a re-created Application is compiled again"
        );
    }

    #[test]
    fn an_invalid_expression_or_pointer_should_be_named() {
        let cache = RulesCache::default();
        let e = cache
            .rules_for(&owner(), None, Some(1), &checks("status.ready =="), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("spec.sync.healthCheckExprs[0] (Widget.x.io): the `current` expression `status.ready ==` is invalid"),
            "{e}"
        );
        let ignore: Vec<IgnoreRule> =
            serde_json::from_value(json!([{"paths": ["spec/replicas"]}])).unwrap();
        let e = cache
            .rules_for(&owner(), None, Some(1), &[], &ignore)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`spec.sync.ignore[0].paths[0]`"), "{e}");
    }

    #[test]
    fn a_cel_check_should_replace_kstatus_for_its_kind() {
        let rules = ApplyRules::compile(
            &checks("has(status.ready) && status.ready"),
            &[],
            &ExpressionCache::new(),
        )
        .unwrap();
        let widget = |status: Value| json!({"apiVersion": "x.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": status});
        use crate::health::Status;
        assert_eq!(
            rules.health_of(&widget(json!({"ready": false}))).status,
            Status::InProgress
        );
        assert_eq!(
            rules.health_of(&widget(json!({"ready": true}))).status,
            Status::Current
        );
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(rules.health_of(&cm).status, Status::Current);
    }
}
