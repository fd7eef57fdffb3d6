//! CEL health checks (`spec.sync.healthCheckExprs`, Flux's `healthCheckExprs`, fluxcd/pkg
//! `runtime/cel`): for kinds kstatus knows nothing about, users say in CEL when an object is
//! current, in progress or failed.
//!
//! Compile once per spec generation with [`CelHealthChecks::compile`] (a shared
//! [`ExpressionCache`] keyed by the expression text keeps identical expressions compiled once
//! across Applications and generations), then [`CelHealthChecks::assess`] each live object.
//!
//! As in Flux:
//! * the expressions see the object's top-level fields as variables (`apiVersion`, `kind`,
//!   `metadata`, `spec`, `status`, or whatever the kind has); they are parsed, not type-checked,
//!   so a field that is absent is an evaluation error unless guarded with `has()`
//!   (`has(status.conditions) && …`), and so is a reference to a top-level field the object
//!   lacks (`status` before the controller wrote one);
//! * first, an integer `status.observedGeneration` different from `metadata.generation` is in
//!   progress; then `inProgress`, `failed`, `current` are evaluated in that order and the first
//!   that is true gives the status; none true is in progress; an evaluation error or a result
//!   that is not a boolean is `Unknown`, naming the expression;
//! * a check applies to its API group and kind (any version); an empty `kind` applies to every
//!   kind of the group; the same group and kind twice is refused; `current` is required.
//!
//! The engine is the `cel` crate (cel-rust) with its standard library, optional types, the
//! strings, lists, math and encoders extensions, and cel-go's `sets` functions added here.
//! Not available: `timestamp`/`duration` (the crate's `chrono` feature is left out for its
//! `chrono-tz` cost) — an expression that calls them fails at evaluation, naming itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::types::{CelBool, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, Program};
use serde_json::Value;

use super::{Health, Status};
use crate::api::CustomHealthCheck;

/// A refused `healthCheckExprs` entry. Its message names the entry, the kind and the expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.sync.healthCheckExprs[{index}] ({kind}): {message}")]
pub struct CelError {
    /// The entry's index.
    pub index: usize,
    /// `Kind.group` (or `*.group`).
    pub kind: String,
    /// What is wrong.
    pub message: String,
}

/// One compiled expression and its text.
pub struct Expression {
    text: String,
    program: Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.text).finish()
    }
}

/// Compiled expressions keyed by their text, shared by every Application of the agent. Bounded:
/// when full it starts over (expressions change with specs, rarely).
#[derive(Default)]
pub struct ExpressionCache {
    entries: Mutex<HashMap<String, Arc<Expression>>>,
}

/// Most expressions kept by an [`ExpressionCache`].
pub const CACHE_LIMIT: usize = 4096;

fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The extensions and sets register distinct names: a failure would be a bug of ours,
        // and an expression using a missing function fails at evaluation, naming it.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        let _ = env.add_extension(cel::extensions::math);
        let _ = env.add_extension(cel::extensions::encoders);
        let _ = env.add_overload(
            "sets.contains",
            "list_sets_contains_list",
            vec![LIST_TYPE, LIST_TYPE],
            sets_contains,
        );
        let _ = env.add_overload(
            "sets.equivalent",
            "list_sets_equivalent_list",
            vec![LIST_TYPE, LIST_TYPE],
            sets_equivalent,
        );
        let _ = env.add_overload(
            "sets.intersects",
            "list_sets_intersects_list",
            vec![LIST_TYPE, LIST_TYPE],
            sets_intersects,
        );
        Arc::new(env)
    })
}

fn elements<'a>(v: &'a CowVal<'_, '_>) -> Result<Vec<&'a dyn Val>, ExecutionError> {
    let it = v
        .as_ref()
        .as_iterable()
        .ok_or_else(|| ExecutionError::function_error("sets", "expected a list"))?;
    let mut out = Vec::new();
    let mut items = it.iter();
    while let Some(x) = items.next() {
        out.push(x);
    }
    Ok(out)
}

fn two<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<(CowVal<'b, 'v>, CowVal<'b, 'v>), ExecutionError> {
    let n = args.len();
    let mut it = args.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), None) => Ok((a, b)),
        _ => Err(ExecutionError::invalid_argument_count(2, n)),
    }
}

fn boolean<'b, 'v>(b: bool) -> CowVal<'b, 'v> {
    CowVal::owned(CelBool::from(b))
}

/// `sets.contains(a, b)`: every element of `b` is in `a`.
fn sets_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = two(args)?;
    let (a, b) = (elements(&a)?, elements(&b)?);
    Ok(boolean(b.iter().all(|x| a.iter().any(|y| x.equals(*y)))))
}

/// `sets.equivalent(a, b)`: the same elements, duplicates aside.
fn sets_equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = two(args)?;
    let (a, b) = (elements(&a)?, elements(&b)?);
    let within = |p: &[&dyn Val], q: &[&dyn Val]| p.iter().all(|x| q.iter().any(|y| x.equals(*y)));
    Ok(boolean(within(&a, &b) && within(&b, &a)))
}

/// `sets.intersects(a, b)`: at least one element in common.
fn sets_intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = two(args)?;
    let (a, b) = (elements(&a)?, elements(&b)?);
    Ok(boolean(b.iter().any(|x| a.iter().any(|y| x.equals(*y)))))
}

impl ExpressionCache {
    /// A new, empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled expression for `text`.
    ///
    /// # Errors
    /// The parser's message when `text` is not valid CEL.
    pub fn compile(&self, text: &str) -> Result<Arc<Expression>, String> {
        if let Ok(map) = self.entries.lock()
            && let Some(e) = map.get(text)
        {
            return Ok(Arc::clone(e));
        }
        let program = env().compile(text).map_err(|e| e.to_string())?;
        let e = Arc::new(Expression {
            text: text.to_owned(),
            program,
        });
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(text.to_owned(), Arc::clone(&e));
        }
        Ok(e)
    }

    /// How many expressions are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or_default()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Expression {
    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the expression with the object's top-level fields as variables.
    ///
    /// # Errors
    /// An evaluation error (a missing field, a missing function, a type mismatch) or a result
    /// that is not a boolean.
    pub fn evaluate(&self, object: &Value) -> Result<bool, String> {
        let mut ctx = Context::with_env(Arc::clone(env()));
        if let Value::Object(fields) = object {
            for (k, v) in fields {
                ctx.add_variable(k.as_str(), v)
                    .map_err(|e| format!("field `{k}` cannot be read: {e}"))?;
            }
        }
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("the result is {}, not a boolean", other.type_of())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The three expressions of one kind.
#[derive(Debug)]
struct Evaluator {
    current: Arc<Expression>,
    in_progress: Option<Arc<Expression>>,
    failed: Option<Arc<Expression>>,
}

/// The compiled `healthCheckExprs` of one Application.
#[derive(Debug, Default)]
pub struct CelHealthChecks {
    /// (group, kind); kind empty for a whole group.
    by_kind: HashMap<(String, String), Evaluator>,
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group).
fn group_of(api_version: &str) -> Option<&str> {
    match api_version.split('/').collect::<Vec<_>>()[..] {
        [v] if !v.is_empty() => Some(""),
        [g, v] if !g.is_empty() && !v.is_empty() => Some(g),
        _ => None,
    }
}

impl CelHealthChecks {
    /// Compiles every entry of `spec.sync.healthCheckExprs`, through `cache`.
    ///
    /// # Errors
    /// An entry without `current`, an invalid `apiVersion`, the same group and kind twice, or
    /// an expression that does not parse, naming the entry, the kind and the expression.
    pub fn compile(
        checks: &[CustomHealthCheck],
        cache: &ExpressionCache,
    ) -> Result<Self, CelError> {
        let mut by_kind = HashMap::new();
        for (index, c) in checks.iter().enumerate() {
            let label = |g: &str| {
                let k = if c.kind.is_empty() { "*" } else { &c.kind };
                if g.is_empty() {
                    k.to_owned()
                } else {
                    format!("{k}.{g}")
                }
            };
            let Some(group) = group_of(&c.api_version) else {
                return Err(CelError {
                    index,
                    kind: label(&c.api_version),
                    message: format!(
                        "`apiVersion: {}` is not `group/version` or `version`",
                        c.api_version
                    ),
                });
            };
            let err = |message: String| CelError {
                index,
                kind: label(group),
                message,
            };
            let compile = |field: &str, text: &str| {
                cache
                    .compile(text)
                    .map_err(|e| err(format!("the `{field}` expression `{text}` is invalid: {e}")))
            };
            if c.current.trim().is_empty() {
                return Err(err("the `current` expression is required".into()));
            }
            let optional = |field: &str, text: &Option<String>| {
                text.as_deref()
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| compile(field, t))
                    .transpose()
            };
            let evaluator = Evaluator {
                current: compile("current", &c.current)?,
                in_progress: optional("inProgress", &c.in_progress)?,
                failed: optional("failed", &c.failed)?,
            };
            let key = (group.to_owned(), c.kind.clone());
            if by_kind.insert(key, evaluator).is_some() {
                return Err(err(
                    "a health check for this group and kind is already defined".into(),
                ));
            }
        }
        Ok(CelHealthChecks { by_kind })
    }

    /// No check at all.
    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }

    /// Whether a check applies to objects of this `apiVersion` and `kind`.
    pub fn supports(&self, api_version: &str, kind: &str) -> bool {
        self.evaluator(api_version, kind).is_some()
    }

    fn evaluator(&self, api_version: &str, kind: &str) -> Option<&Evaluator> {
        let group = group_of(api_version)?;
        self.by_kind
            .get(&(group.to_owned(), kind.to_owned()))
            .or_else(|| self.by_kind.get(&(group.to_owned(), String::new())))
    }

    /// The health of a live object by its kind's expressions; `None` when no check applies
    /// (kstatus rules then). The message starts with the kind and name, as [`super::assess`]'s.
    pub fn assess(&self, object: &Value) -> Option<Health> {
        let s = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (kind, name) = (s("/kind"), s("/metadata/name"));
        let e = self.evaluator(s("/apiVersion"), kind)?;
        let health = |status, why: String| Health {
            status,
            message: format!(
                "{kind} {}: {why}",
                if name.is_empty() { "<unnamed>" } else { name }
            ),
        };
        let observed = object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        if let (Some(o), Some(g)) = (observed, generation)
            && o != g
        {
            return Some(health(
                Status::InProgress,
                format!("status.observedGeneration {o} is not metadata.generation {g} yet"),
            ));
        }
        for (field, expr, status) in [
            ("inProgress", e.in_progress.as_ref(), Status::InProgress),
            ("failed", e.failed.as_ref(), Status::Failed),
            ("current", Some(&e.current), Status::Current),
        ] {
            let Some(expr) = expr else { continue };
            match expr.evaluate(object) {
                Ok(true) => {
                    return Some(health(
                        status,
                        format!("healthCheckExprs `{field}` is true: `{}`", expr.text()),
                    ));
                }
                Ok(false) => {}
                Err(why) => {
                    return Some(health(
                        Status::Unknown,
                        format!(
                            "healthCheckExprs `{field}` (`{}`) cannot be evaluated: {why}",
                            expr.text()
                        ),
                    ));
                }
            }
        }
        Some(health(
            Status::InProgress,
            "healthCheckExprs: none of inProgress, failed, current is true yet".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checks(v: Value) -> Result<CelHealthChecks, CelError> {
        let c: Vec<CustomHealthCheck> = serde_json::from_value(v).unwrap();
        CelHealthChecks::compile(&c, &ExpressionCache::new())
    }

    /// The SealedSecret check of Flux's `runtime/cel` tests and docs.
    fn sealed_secrets() -> CelHealthChecks {
        checks(json!([{
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "failed": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')",
            "current": "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')"
        }]))
        .unwrap()
    }

    fn sealed(status: Value) -> Value {
        let mut o = json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "s", "generation": 2}, "spec": {}});
        if !status.is_null() {
            o["status"] = status;
        }
        o
    }

    #[test]
    fn the_first_true_expression_should_give_the_status_in_flux_order() {
        let c = sealed_secrets();
        let h = c
            .assess(&sealed(json!({"observedGeneration": 2, "conditions": [{"type": "Synced", "status": "True"}]})))
            .unwrap();
        assert_eq!(h.status, Status::Current, "{}", h.message);
        assert!(h.message.starts_with("SealedSecret s: "), "{}", h.message);
        let h = c
            .assess(&sealed(json!({"observedGeneration": 2, "conditions": [{"type": "Synced", "status": "False"}]})))
            .unwrap();
        assert_eq!(h.status, Status::Failed);
        // `inProgress` is evaluated before `failed`, `failed` before `current`.
        let c = checks(json!([{"apiVersion": "example.com/v1", "kind": "Thing",
            "inProgress": "true", "failed": "true", "current": "true"}]))
        .unwrap();
        let thing =
            json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}});
        assert_eq!(c.assess(&thing).unwrap().status, Status::InProgress);
        let c = checks(json!([{"apiVersion": "example.com/v1", "kind": "Thing",
            "inProgress": "false", "failed": "true", "current": "true"}]))
        .unwrap();
        assert_eq!(c.assess(&thing).unwrap().status, Status::Failed);
    }

    #[test]
    fn none_true_should_be_in_progress() {
        let c = sealed_secrets();
        let h = c
            .assess(&sealed(
                json!({"conditions": [{"type": "Synced", "status": "Unknown"}]}),
            ))
            .unwrap();
        // `all` over a filter that keeps an Unknown condition is false for both expressions.
        assert_eq!(h.status, Status::InProgress, "{}", h.message);
    }

    #[test]
    fn a_stale_observed_generation_should_be_in_progress_before_any_expression() {
        let c = sealed_secrets();
        let h = c
            .assess(&sealed(json!({"observedGeneration": 1, "conditions": [{"type": "Synced", "status": "True"}]})))
            .unwrap();
        assert_eq!(h.status, Status::InProgress);
        assert!(h.message.contains("observedGeneration 1"), "{}", h.message);
        // A string observedGeneration is not compared (some CRDs type it so).
        let h = c
            .assess(&sealed(json!({"observedGeneration": "1", "conditions": [{"type": "Synced", "status": "True"}]})))
            .unwrap();
        assert_eq!(h.status, Status::Current);
    }

    #[test]
    fn has_should_guard_missing_fields_and_missing_fields_should_be_unknown() {
        let c = checks(json!([{"apiVersion": "example.com/v1", "kind": "Db",
            "current": "has(status.ready) && status.ready"}]))
        .unwrap();
        let db = |status: Value| json!({"apiVersion": "example.com/v1", "kind": "Db", "metadata": {"name": "d"}, "status": status});
        assert_eq!(c.assess(&db(json!({}))).unwrap().status, Status::InProgress);
        assert_eq!(
            c.assess(&db(json!({"ready": true}))).unwrap().status,
            Status::Current
        );
        let c = checks(
            json!([{"apiVersion": "example.com/v1", "kind": "Db", "current": "status.ready"}]),
        )
        .unwrap();
        let h = c.assess(&db(json!({}))).unwrap();
        assert_eq!(h.status, Status::Unknown);
        assert!(
            h.message.contains("`status.ready`") && h.message.contains("`current`"),
            "{}",
            h.message
        );
        // No `status` at all: an undeclared variable.
        let h = c
            .assess(
                &json!({"apiVersion": "example.com/v1", "kind": "Db", "metadata": {"name": "d"}}),
            )
            .unwrap();
        assert_eq!(h.status, Status::Unknown, "{}", h.message);
        // A result that is not a boolean.
        let c = checks(
            json!([{"apiVersion": "example.com/v1", "kind": "Db", "current": "status.ready"}]),
        )
        .unwrap();
        let h = c.assess(&db(json!({"ready": "yes"}))).unwrap();
        assert_eq!(h.status, Status::Unknown);
        assert!(h.message.contains("not a boolean"), "{}", h.message);
    }

    #[test]
    fn checks_should_apply_by_group_and_kind_or_whole_group() {
        let c = checks(json!([
            {"apiVersion": "example.com/v1", "kind": "A", "current": "true"},
            {"apiVersion": "other.io/v1beta1", "current": "false", "failed": "true"}
        ]))
        .unwrap();
        assert!(c.supports("example.com/v2", "A"), "any version");
        assert!(!c.supports("example.com/v1", "B"));
        assert!(c.supports("other.io/v1", "Anything"));
        assert!(!c.supports("v1", "ConfigMap"));
        let o = json!({"apiVersion": "other.io/v1", "kind": "X", "metadata": {"name": "x"}});
        assert_eq!(c.assess(&o).unwrap().status, Status::Failed);
        assert!(
            c.assess(&json!({"apiVersion": "v1", "kind": "ConfigMap"}))
                .is_none()
        );
    }

    #[test]
    fn invalid_entries_should_be_refused_naming_the_expression_and_the_kind() {
        let e = checks(
            json!([{"apiVersion": "example.com/v1", "kind": "Db", "current": "status.ready =="}]),
        )
        .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("healthCheckExprs[0] (Db.example.com)")
                && m.contains("`current` expression `status.ready ==`"),
            "{m}"
        );
        let e = checks(json!([{"apiVersion": "example.com/v1", "kind": "Db", "current": "true", "failed": "(("}])).unwrap_err();
        assert!(e.to_string().contains("`failed`"), "{e}");
        let e = checks(json!([{"apiVersion": "example.com/v1", "kind": "Db", "current": ""}]))
            .unwrap_err();
        assert!(
            e.to_string().contains("`current` expression is required"),
            "{e}"
        );
        let e = checks(json!([
            {"apiVersion": "example.com/v1", "kind": "Db", "current": "true"},
            {"apiVersion": "example.com/v2", "kind": "Db", "current": "false"}
        ]))
        .unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.to_string().contains("already defined"), "{e}");
        let e =
            checks(json!([{"apiVersion": "a/b/c", "kind": "Db", "current": "true"}])).unwrap_err();
        assert!(e.to_string().contains("apiVersion"), "{e}");
    }

    /// The table of `TestStatusEvaluator_Evaluate` in fluxcd/pkg `runtime/cel`
    /// (`status_evaluator_test.go`): `None` is an evaluation error (Flux returns it, its poller
    /// reports `Unknown`).
    #[test]
    fn flux_status_evaluator_table_should_pass() {
        let data = |c: bool, i: bool, f: bool| json!({"data": {"current": c, "inProgress": i, "failed": f}});
        let generic = ("data.current", "data.inProgress", "data.failed");
        let ready = (
            "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')",
            "has(status.observedGeneration) && metadata.generation != status.observedGeneration",
            "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')",
        );
        type Row<'a> = ((&'a str, &'a str, &'a str), Value, Option<Status>);
        let rows: Vec<Row> = vec![
            (
                ("true", "", ""),
                json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}),
                Some(Status::InProgress),
            ),
            (
                ("data.currentt", generic.1, generic.2),
                data(true, false, false),
                None,
            ),
            (
                (generic.0, "data.inProgresss", generic.2),
                data(true, false, false),
                None,
            ),
            (
                (generic.0, generic.1, "data.failedd"),
                data(true, false, false),
                None,
            ),
            (generic, data(false, false, false), Some(Status::InProgress)),
            (generic, data(true, true, true), Some(Status::InProgress)),
            (generic, data(true, false, true), Some(Status::Failed)),
            (generic, data(true, false, false), Some(Status::Current)),
            (ready, json!({}), None),
            ((ready.0, "", ready.2), json!({}), None),
            (ready, json!({"status": {}}), None),
            ((ready.0, "", ready.2), json!({"status": {}}), None),
            (
                ready,
                json!({"status": {"conditions": []}}),
                Some(Status::Failed),
            ),
            (
                (ready.0, "", ready.2),
                json!({"status": {"conditions": []}}),
                Some(Status::Failed),
            ),
            (
                ready,
                json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}),
                Some(Status::InProgress),
            ),
            (
                (ready.0, "", ready.2),
                json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}),
                Some(Status::InProgress),
            ),
            (
                ("status.observedGeneration == '2'", "", ""),
                json!({"metadata": {"generation": 2}, "status": {"observedGeneration": "2"}}),
                Some(Status::Current),
            ),
            (
                ("metadata.generation == '2'", "", ""),
                json!({"metadata": {"generation": "2"}, "status": {"observedGeneration": 2}}),
                Some(Status::Current),
            ),
        ];
        for ((current, in_progress, failed), mut obj, want) in rows {
            let c = checks(json!([{"apiVersion": "example.com/v1", "kind": "Thing",
                "current": current, "inProgress": in_progress, "failed": failed}]))
            .unwrap();
            obj["apiVersion"] = json!("example.com/v1");
            obj["kind"] = json!("Thing");
            let h = c.assess(&obj).unwrap();
            assert_eq!(
                h.status,
                want.unwrap_or(Status::Unknown),
                "{current} / {in_progress} / {failed} on {obj}: {}",
                h.message
            );
        }
    }

    #[test]
    fn compiled_checks_should_be_shareable_between_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<CelHealthChecks>();
        shareable::<ExpressionCache>();
    }

    #[test]
    fn the_cache_should_compile_an_expression_once() {
        let cache = ExpressionCache::new();
        let a = cache.compile("1 < 2").unwrap();
        let b = cache.compile("1 < 2").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
        assert!(cache.compile(")").is_err());
        assert_eq!(cache.len(), 1, "failures are not cached");
    }

    #[test]
    fn flux_environment_functions_should_be_available() {
        let cache = ExpressionCache::new();
        let obj = json!({"spec": {"tags": ["a", "b"], "n": 3, "name": "Web-1"},
                         "status": {"phase": "Running", "ratio": 0.5}});
        for expr in [
            "spec.n > 2.5", // cross-type numeric comparison
            "spec.n == 3.0",
            "status.phase.startsWith('Run') && status.phase.endsWith('ing')",
            "status.phase.matches('^R.*g$')",
            "spec.name.lowerAscii() == 'web-1'", // ext.Strings
            "spec.name.split('-')[1] == '1'",
            "spec.name.indexOf('-') == 3",
            "base64.encode(b'ok') == 'b2s='",  // ext.Encoders
            "sets.contains(spec.tags, ['a'])", // ext.Sets
            "sets.equivalent(spec.tags, ['b', 'a', 'a'])",
            "sets.intersects(spec.tags, ['z', 'b'])",
            "!sets.contains(spec.tags, ['z'])",
            "spec.?missing.orValue('d') == 'd'", // optional types
            "size(spec.tags) == 2 && 'a' in spec.tags",
            "spec.tags.exists(t, t == 'b') && spec.tags.all(t, t.size() == 1)",
            "status.ratio * 2.0 == 1.0",
        ] {
            let e = cache
                .compile(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(e.evaluate(&obj), Ok(true), "{expr}");
        }
    }
}
