//! Post-build substitution (`spec.postBuild`), with the semantics of Flux kustomize-controller
//! 1.9/1.10 (`fluxcd/pkg/kustomize` `SubstituteVariables`, `envsubst`).
//!
//! Flux substitutes in the *YAML text* of each rendered object: the object is printed as
//! kustomize prints it (`JSONToYAML`, go-yaml v2), `${…}` is expanded over that text
//! ([`envsubst`]), and the result is read back with go-yaml v2's YAML 1.1 rules. So types follow
//! the text, not the source file: a value written `"${replicas}"` is printed unquoted and becomes
//! the *number* 3 after substitution, `on` becomes `true`, `1.0` the number 1; to keep a string,
//! put the quotes in the value itself (`replicas: '"3"'`) or use a block scalar.
//!
//! Entry points: [`Variables::resolve`] (merge the sources, validate names) and
//! [`substitute`] (over the rendered objects, after SOPS decryption, as Flux orders them).
//!
//! * forms: `${var}`, `${var:=default}`, `${var:-default}`, `${var=default}`, `${var:pos}`,
//!   `${var:pos:len}`, `${var/from/to}`, `${var//from/to}`, `${var/#from/to}`,
//!   `${var/%from/to}`, `${var#glob}`, `${var##glob}`, `${var%glob}`, `${var%%glob}`,
//!   `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`; a default is taken when the
//!   variable is unset or empty; `$var` is left alone; `$$` is always one `$`, so `$${var}` is
//!   the literal text `${var}`;
//! * names must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$` (every variable of every source);
//! * precedence: `substitute` over `substituteFrom`, a later `substituteFrom` over an earlier
//!   one; newlines are removed from values;
//! * strict (Flux 1.9's default): an unset variable without a default fails, naming the object,
//!   the variable and the field;
//! * an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is
//!   left as it is;
//! * `substituteStrategy: WithVariables` (default) substitutes only when at least one variable
//!   is defined, `Always` even then.
//!
//! Errors never carry a value: an object may be a decrypted Secret.

pub mod envsubst;
mod yaml11;

use std::collections::BTreeMap;

use serde_json::Value;

use super::Object;
use crate::api::{PostBuild, SubstituteKind, SubstituteReference, SubstituteStrategy};
use crate::error::RetryClass;

/// An object (or its labels' or annotations' key) set to `disabled` opts out of substitution.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Why substitution failed. No variant holds a value of a variable or of the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A variable name Flux refuses.
    #[error(
        "variable `{name}` from {source_name}: the name is invalid, it must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`"
    )]
    InvalidVariableName {
        /// The name.
        name: String,
        /// `spec.postBuild.substitute`, `ConfigMap `vars``, …
        source_name: String,
    },
    /// A `substituteFrom` ConfigMap or Secret that does not exist and is not `optional`.
    #[error(
        "spec.postBuild.substituteFrom: {kind} `{name}` not found (set `optional: true` to proceed without it)"
    )]
    SourceNotFound {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// A Secret value that is not UTF-8 text.
    #[error("spec.postBuild.substituteFrom: Secret `{name}` key `{key}` is not UTF-8 text")]
    NotText {
        /// The Secret.
        name: String,
        /// The key.
        key: String,
    },
    /// The expansion of one object failed.
    #[error("`{origin}`: {object}: substitution failed{}: {error}", field.as_ref().map(|f| format!(" at `{f}`")).unwrap_or_default())]
    Expansion {
        /// The file the object came from.
        origin: String,
        /// `Kind namespace/name`.
        object: String,
        /// The field holding the bad expression, when it can be found.
        field: Option<String>,
        /// What went wrong.
        error: envsubst::Error,
    },
    /// The substituted text is not a valid object any more.
    #[error("`{origin}`: {object}: after substitution the object is not valid YAML: {message}")]
    Reparse {
        /// The file the object came from.
        origin: String,
        /// `Kind namespace/name`.
        object: String,
        /// The parser's message (a line number, no text).
        message: String,
    },
}

impl SubstituteError {
    /// A missing source may appear (retry with backoff); everything else is in the revision or
    /// the spec.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            SubstituteError::SourceNotFound { .. } => RetryClass::Transient,
            _ => RetryClass::Terminal,
        }
    }
}

/// The data of one `substituteFrom` entry as the caller read it from the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceData {
    /// A ConfigMap's `data`.
    ConfigMap(BTreeMap<String, String>),
    /// A Secret's `data`, base64-decoded.
    Secret(BTreeMap<String, Vec<u8>>),
    /// It does not exist.
    NotFound,
}

/// The merged variables of one Application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variables {
    vars: BTreeMap<String, String>,
}

/// `^[_[:alpha:]][_[:alpha:][:digit:]]*$` (POSIX classes are ASCII in Go's regexp).
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Variables {
    /// Merges the sources of `post_build` in Flux's order: each `substituteFrom` entry in turn
    /// (a later one overrides an earlier one), then `substitute`. `fetched[i]` is the data of
    /// `post_build.substituteFrom[i]`. Newlines are removed from every value.
    ///
    /// # Errors
    /// A source that is missing and not optional, a Secret value that is not text, or an
    /// invalid variable name, naming its source.
    pub fn resolve(
        post_build: &PostBuild,
        fetched: &[SourceData],
    ) -> Result<Self, SubstituteError> {
        let mut vars = BTreeMap::new();
        for (i, reference) in post_build.substitute_from.iter().enumerate() {
            let data = fetched.get(i).unwrap_or(&SourceData::NotFound);
            Self::merge_source(&mut vars, reference, data)?;
        }
        for (k, v) in &post_build.substitute {
            if !is_valid_name(k) {
                return Err(SubstituteError::InvalidVariableName {
                    name: k.clone(),
                    source_name: "spec.postBuild.substitute".into(),
                });
            }
            vars.insert(k.clone(), v.replace('\n', ""));
        }
        Ok(Variables { vars })
    }

    fn merge_source(
        vars: &mut BTreeMap<String, String>,
        reference: &SubstituteReference,
        data: &SourceData,
    ) -> Result<(), SubstituteError> {
        let kind = match reference.kind {
            SubstituteKind::ConfigMap => "ConfigMap",
            SubstituteKind::Secret => "Secret",
        };
        let check = |k: &str| {
            if is_valid_name(k) {
                Ok(())
            } else {
                Err(SubstituteError::InvalidVariableName {
                    name: k.to_owned(),
                    source_name: format!("{kind} `{}`", reference.name),
                })
            }
        };
        match (data, reference.kind) {
            (SourceData::NotFound, _) if reference.optional => {}
            (SourceData::NotFound, _) => {
                return Err(SubstituteError::SourceNotFound {
                    kind: kind.into(),
                    name: reference.name.clone(),
                });
            }
            (SourceData::ConfigMap(m), SubstituteKind::ConfigMap) => {
                for (k, v) in m {
                    check(k)?;
                    vars.insert(k.clone(), v.replace('\n', ""));
                }
            }
            (SourceData::Secret(m), SubstituteKind::Secret) => {
                for (k, v) in m {
                    check(k)?;
                    let text = std::str::from_utf8(v).map_err(|_| SubstituteError::NotText {
                        name: reference.name.clone(),
                        key: k.clone(),
                    })?;
                    vars.insert(k.clone(), text.replace('\n', ""));
                }
            }
            // The caller read the other kind: treat it as what the reference names.
            (SourceData::ConfigMap(m), SubstituteKind::Secret) => {
                for (k, v) in m {
                    check(k)?;
                    vars.insert(k.clone(), v.replace('\n', ""));
                }
            }
            (SourceData::Secret(m), SubstituteKind::ConfigMap) => {
                for (k, v) in m {
                    check(k)?;
                    let text = String::from_utf8_lossy(v);
                    vars.insert(k.clone(), text.replace('\n', ""));
                }
            }
        }
        Ok(())
    }

    /// Variables from a plain map (tests, the CLI's `--var`).
    ///
    /// # Errors
    /// An invalid name.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<Self, SubstituteError> {
        if let Some(k) = map.keys().find(|k| !is_valid_name(k)) {
            return Err(SubstituteError::InvalidVariableName {
                name: k.clone(),
                source_name: "the variables".into(),
            });
        }
        Ok(Variables {
            vars: map
                .into_iter()
                .map(|(k, v)| (k, v.replace('\n', "")))
                .collect(),
        })
    }

    /// No variable at all.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// How substitution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// An unset variable without a default is an error (Flux 1.9's default,
    /// `StrictPostBuildSubstitutions`); otherwise it expands to the empty string.
    pub strict: bool,
    /// `WithVariables` or `Always`.
    pub strategy: SubstituteStrategy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strict: true,
            strategy: SubstituteStrategy::WithVariables,
        }
    }
}

fn disabled(obj: &Value) -> bool {
    let key = SUBSTITUTE_ANNOTATION.replace('/', "~1");
    ["labels", "annotations"].iter().any(|field| {
        obj.pointer(&format!("/metadata/{field}/{key}"))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes the variables in every object that has not opted out, in place. Returns how
/// many objects went through substitution. Call it after SOPS decryption and before admission,
/// as Flux does.
///
/// # Errors
/// The first object whose expansion fails (malformed `${…}`, unset variable in strict mode) or
/// whose substituted text is not a valid object, naming the object, its file and, when it can
/// be found, the field. Nothing is changed then.
///
/// # Guarantees
/// All or nothing: on error, `objects` is left as it was.
pub fn substitute(
    objects: &mut [Object],
    vars: &Variables,
    options: Options,
) -> Result<usize, SubstituteError> {
    if vars.is_empty() && options.strategy != SubstituteStrategy::Always {
        return Ok(0);
    }
    let lookup = |name: &str| -> Option<String> {
        match vars.get(name) {
            Some(v) => Some(v.to_owned()),
            None if options.strict => None,
            None => Some(String::new()),
        }
    };
    let mut out = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        if disabled(&o.value) {
            continue;
        }
        let text = kustomize::yaml::to_yaml_document(&o.value);
        let expanded =
            envsubst::eval(&text, &lookup).map_err(|error| SubstituteError::Expansion {
                origin: o.origin.clone(),
                object: o.display_id(),
                field: locate(&o.value, &lookup, &error),
                error,
            })?;
        let value = match yaml11::parse_first_document(&expanded) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return Err(SubstituteError::Reparse {
                    origin: o.origin.clone(),
                    object: o.display_id(),
                    message: "it is no longer a map".into(),
                });
            }
            Err(message) => {
                return Err(SubstituteError::Reparse {
                    origin: o.origin.clone(),
                    object: o.display_id(),
                    message,
                });
            }
        };
        out.push((i, value));
    }
    let n = out.len();
    for (i, v) in out {
        objects[i].value = v;
    }
    Ok(n)
}

/// Fuzz body (cargo-fuzz target `substitute` in `agent/fuzz/`, and `tests/fuzz_bodies.rs` on
/// stable): untrusted manifest text through the expander, strict and not, and the YAML 1.1
/// reader, as a substitution would run them. Never panics.
pub fn fuzz_substitute(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars = |n: &str| (n == "a").then(|| "1: x".to_owned());
    let _ = envsubst::eval(text, &vars);
    let _ = envsubst::eval(text, &|n: &str| Some(vars(n).unwrap_or_default()));
    let _ = yaml11::parse_first_document(text);
    if let Ok(Value::Object(m)) = yaml11::parse_first_document(text) {
        let mut objs = [Object {
            value: Value::Object(m),
            origin: "fuzz.yaml".into(),
        }];
        let v = Variables::from_map([("a".to_owned(), "1".to_owned())].into()).unwrap_or_default();
        let _ = substitute(&mut objs, &v, Options::default());
    }
}

/// The first field (`spec.template.metadata.labels.zone`, keys included) whose own text fails
/// the same way, for the error message.
fn locate(
    v: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    error: &envsubst::Error,
) -> Option<String> {
    fn walk(
        v: &Value,
        path: &mut Vec<String>,
        lookup: &dyn Fn(&str) -> Option<String>,
        error: &envsubst::Error,
    ) -> Option<String> {
        let fails =
            |s: &str| s.contains('$') && envsubst::eval(s, lookup).err().as_ref() == Some(error);
        match v {
            Value::String(s) if fails(s) => Some(path.join(".")),
            Value::Object(m) => {
                for (k, child) in m {
                    path.push(k.clone());
                    if fails(k) {
                        return Some(path.join("."));
                    }
                    let found = walk(child, path, lookup, error);
                    path.pop();
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let last = path.pop().unwrap_or_default();
                    path.push(format!("{last}[{i}]"));
                    let found = walk(child, path, lookup, error);
                    path.pop();
                    path.push(last);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            _ => None,
        }
    }
    walk(v, &mut Vec::new(), lookup, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        Object {
            value: v,
            origin: "apps/web.yaml".into(),
        }
    }

    fn vars(kv: &[(&str, &str)]) -> Variables {
        Variables::from_map(
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    fn run(v: Value, kv: &[(&str, &str)]) -> Result<Value, SubstituteError> {
        let mut objs = [obj(v)];
        substitute(&mut objs, &vars(kv), Options::default())?;
        Ok(objs[0].value.clone())
    }

    fn post_build(v: Value) -> PostBuild {
        serde_json::from_value(v).unwrap()
    }

    /// kustomize-controller's `TestKustomizationReconciler_Varsub`: inline `_Region`, a
    /// ConfigMap and then a Secret both defining `zone` (the later wins, newlines removed), and
    /// a default for `env`.
    #[test]
    fn flux_varsub_test_should_give_the_same_objects() {
        let pb = post_build(json!({
            "substitute": {"_Region": "eu-central-1"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "cm"}, {"kind": "Secret", "name": "s"}]
        }));
        let v = Variables::resolve(
            &pb,
            &[
                SourceData::ConfigMap([("zone".to_owned(), "\naz-1a\n".to_owned())].into()),
                SourceData::Secret([("zone".to_owned(), b"\naz-1b\n".to_vec())].into()),
            ],
        )
        .unwrap();
        let mut objs = [
            obj(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "sa", "namespace": "ns", "labels": {
                    "environment": "${env:=dev}", "region": "${_Region}", "zone": "${zone}"}}})),
            obj(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "sa", "namespace": "ns"}, "stringData": {"zone": "${zone}"}})),
        ];
        assert_eq!(substitute(&mut objs, &v, Options::default()).unwrap(), 2);
        assert_eq!(
            objs[0].value["metadata"]["labels"],
            json!({"environment": "dev", "region": "eu-central-1", "zone": "az-1b"})
        );
        assert_eq!(objs[1].value["stringData"]["zone"], "az-1b");
    }

    /// `TestKustomizationReconciler_VarsubOptional`: an optional missing source is empty, a
    /// required one fails.
    #[test]
    fn optional_sources_should_be_empty_when_missing() {
        let pb = post_build(json!({
            "substitute": {"var_substituted": "substituted"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "nope", "optional": true},
                               {"kind": "Secret", "name": "nope2", "optional": true}]
        }));
        let v = Variables::resolve(&pb, &[SourceData::NotFound, SourceData::NotFound]).unwrap();
        assert_eq!(v.len(), 1);
        let pb = post_build(json!({"substituteFrom": [{"kind": "Secret", "name": "must"}]}));
        let e = Variables::resolve(&pb, &[SourceData::NotFound]).unwrap_err();
        assert_eq!(
            e,
            SubstituteError::SourceNotFound {
                kind: "Secret".into(),
                name: "must".into()
            }
        );
        assert_eq!(e.retry_class(), RetryClass::Transient);
    }

    #[test]
    fn inline_variables_should_take_precedence_over_sources() {
        let pb = post_build(json!({
            "substitute": {"a": "inline"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "one"}, {"kind": "ConfigMap", "name": "two"}]
        }));
        let v = Variables::resolve(
            &pb,
            &[
                SourceData::ConfigMap(
                    [("a".into(), "one".into()), ("b".into(), "one".into())].into(),
                ),
                SourceData::ConfigMap([("b".into(), "two".into())].into()),
            ],
        )
        .unwrap();
        assert_eq!((v.get("a"), v.get("b")), (Some("inline"), Some("two")));
    }

    #[test]
    fn invalid_names_should_be_refused_naming_their_source() {
        let pb =
            post_build(json!({"substituteFrom": [{"kind": "ConfigMap", "name": "app-config"}]}));
        let e = Variables::resolve(
            &pb,
            &[SourceData::ConfigMap(
                [("my-key".into(), "x".into())].into(),
            )],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`my-key` from ConfigMap `app-config`"),
            "{e}"
        );
        for bad in ["1a", "a-b", "", "é", "a.b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        for good in ["_", "a1", "A_b_9", "_Region"] {
            assert!(is_valid_name(good), "{good}");
        }
        let pb = post_build(json!({"substitute": {"bad name": "x"}}));
        assert!(Variables::resolve(&pb, &[]).is_err());
    }

    #[test]
    fn types_should_follow_the_substituted_text_as_in_flux() {
        let v = run(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w",
                "annotations": {"quoted": "${quoted}", "plain": "${version}", "inner": "'${version}'"}},
                "spec": {"replicas": "${replicas}", "paused": "${paused}", "x": "${n}"}}),
            &[("replicas", "3"), ("paused", "on"), ("version", "1.0"), ("quoted", "\"1.0\""), ("n", "007")],
        )
        .unwrap();
        // `"${replicas}"` is printed unquoted, so 3 comes back as a number, as in Flux.
        assert_eq!(v["spec"]["replicas"], json!(3));
        assert_eq!(v["spec"]["paused"], json!(true), "YAML 1.1: `on` is true");
        assert_eq!(v["spec"]["x"], json!(7), "YAML 1.1: a leading 0 is octal");
        assert_eq!(
            v["metadata"]["annotations"]["plain"],
            json!(1),
            "1.0 is printed as 1"
        );
        assert_eq!(
            v["metadata"]["annotations"]["quoted"],
            json!("1.0"),
            "quotes in the value keep a string"
        );
        assert_eq!(
            v["metadata"]["annotations"]["inner"],
            json!("'1.0'"),
            "quotes in the source are text"
        );
    }

    #[test]
    fn strict_mode_should_name_the_object_the_variable_and_the_field() {
        let e = run(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
                   "data": {"a": "ok", "b": ["x", "zone ${zone}"]}}),
            &[("other", "1")],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`apps/web.yaml`")
                && msg.contains("ConfigMap n/c")
                && msg.contains("`zone`")
                && msg.contains("at `data.b[1]`"),
            "{msg}"
        );
        // Not strict: an unset variable is empty.
        let mut objs = [obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "[${zone}]"}}),
        )];
        substitute(
            &mut objs,
            &vars(&[("other", "1")]),
            Options {
                strict: false,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(objs[0].value["data"]["a"], "[]");
    }

    #[test]
    fn errors_should_not_carry_values() {
        let e = run(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "stringData": {"password": "hunter2-${nope"}}),
            &[("x", "1")],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("at `stringData.password`"), "{msg}");
        // A substitution that breaks the YAML: the parser's message has a line, no text.
        let e = run(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "stringData": {"k": "${v}"}}),
            &[("v", "secret: [unclosed")],
        )
        .unwrap_err();
        assert!(matches!(e, SubstituteError::Reparse { .. }), "{e}");
        assert!(!e.to_string().contains("unclosed"), "{e}");
    }

    #[test]
    fn objects_that_opt_out_should_be_left_alone() {
        for field in ["labels", "annotations"] {
            let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", field: {SUBSTITUTE_ANNOTATION: "disabled"}},
                "data": {"script": "echo ${HOME} ${missing}"}});
            assert_eq!(run(v.clone(), &[("HOME", "/root")]).unwrap(), v);
        }
        // Only the exact value opts out, as in Flux.
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {SUBSTITUTE_ANNOTATION: "Disabled"}},
            "data": {"a": "${x}"}});
        assert_eq!(run(v, &[("x", "1")]).unwrap()["data"]["a"], 1);
    }

    #[test]
    fn without_variables_nothing_should_run_unless_always() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                       "data": {"env": "${cluster_env:=dev}", "x": "$${kept}"}});
        let mut objs = [obj(v.clone())];
        assert_eq!(
            substitute(&mut objs, &Variables::default(), Options::default()).unwrap(),
            0
        );
        assert_eq!(objs[0].value, v);
        let always = Options {
            strategy: SubstituteStrategy::Always,
            ..Options::default()
        };
        assert_eq!(
            substitute(&mut objs, &Variables::default(), always).unwrap(),
            1
        );
        assert_eq!(objs[0].value["data"], json!({"env": "dev", "x": "${kept}"}));
    }

    #[test]
    fn a_failure_should_leave_every_object_unchanged() {
        let good = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "${x}"}});
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"x": "${y}"}});
        let mut objs = [obj(good.clone()), obj(bad.clone())];
        assert!(substitute(&mut objs, &vars(&[("x", "1")]), Options::default()).is_err());
        assert_eq!((&objs[0].value, &objs[1].value), (&good, &bad));
    }

    #[test]
    fn keys_and_names_should_be_substituted_too() {
        let v = run(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-${env}"},
                   "data": {"${key}": "v", "dollar": "$HOME", "literal": "$${HOME}"}}),
            &[("env", "prod"), ("key", "k1")],
        )
        .unwrap();
        assert_eq!(v["metadata"]["name"], "app-prod");
        assert_eq!(
            v["data"],
            json!({"k1": "v", "dollar": "$HOME", "literal": "${HOME}"})
        );
    }

    #[test]
    fn multi_line_values_should_stay_strings() {
        let v = run(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                   "data": {"script": "#!/bin/sh\necho ${greeting}\nexit 0\n", "n": "${num}"}}),
            &[("greeting", "hello"), ("num", "12")],
        )
        .unwrap();
        assert_eq!(v["data"]["script"], "#!/bin/sh\necho hello\nexit 0\n");
        assert_eq!(v["data"]["n"], 12);
    }
}
