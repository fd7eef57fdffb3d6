//! Fields left to other managers (`spec.sync.ignore`, Flux's `spec.ignore` rules): JSON
//! pointers that pi-agent sets when it creates an object and never corrects afterwards, so that
//! an autoscaler's `/spec/replicas` or a mutating controller's field stays as that manager set it.
//!
//! Pure. Compile the rules once per spec generation with [`IgnoreRules::compile`], then call
//! [`IgnoreRules::prepare`] on each body just before it is server-side applied, with the live
//! object when there is one. It follows Flux's `ssa` package (`computeDriftedPaths`):
//!
//! * a new object (no live one) is created with the values of Git: nothing is removed;
//! * for an existing object, an ignored path whose desired value equals the live one is left
//!   as it is (applying it changes nothing);
//! * a path whose value differs and that another **Apply** manager owns (its
//!   `metadata.managedFields`, not a subresource) is **removed** from the body, so server-side
//!   apply leaves it to that manager;
//! * a path whose value differs and that no other Apply manager owns (pi-agent alone, or an
//!   `Update` manager such as the HPA's scale subresource) gets the **live value** in the body:
//!   removing a field pi-agent alone owns would make the API server delete it (an HPA's replicas
//!   reset to 1), so the value in the cluster is kept instead.
//!
//! A pointer to a field the body does not have is not an error (nothing to leave); a malformed
//! pointer, regular expression or selector is refused at compile time, naming the rule.

use regex::Regex;
use serde_json::{Map, Value};

use crate::api::{IgnoreRule, Selector};

/// A refused rule: what is wrong and where (`spec.sync.ignore[1].paths[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct IgnoreError {
    /// The spec field, with indices.
    pub field: String,
    /// Why it is refused.
    pub message: String,
}

/// One RFC 6901 JSON pointer, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses `/a/b~1c/0` (`~1` is `/`, `~0` is `~`).
    ///
    /// # Errors
    /// The pointer is empty (it would name the whole object), does not start with `/`, or has a
    /// `~` not followed by `0` or `1`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an empty pointer names the whole object".into());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "`{text}` is not a JSON pointer: it must start with `/`"
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "`{text}`: `~` must be followed by `0` (for `~`) or `1` (for `/`)"
                        ));
                    }
                }
            }
            tokens.push(token);
        }
        Ok(Pointer {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn get<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        let mut cur = v;
        for t in &self.tokens {
            cur = match cur {
                Value::Object(m) => m.get(t)?,
                Value::Array(a) => a.get(index(t, a.len())?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    fn parent_mut<'a>(&self, v: &'a mut Value) -> Option<(&'a mut Value, &str)> {
        let (last, init) = self.tokens.split_last()?;
        let mut cur = v;
        for t in init {
            cur = match cur {
                Value::Object(m) => m.get_mut(t)?,
                Value::Array(a) => {
                    let i = index(t, a.len())?;
                    a.get_mut(i)?
                }
                _ => return None,
            };
        }
        Some((cur, last.as_str()))
    }

    /// Removes the field; `false` when there is none.
    fn remove(&self, v: &mut Value) -> bool {
        match self.parent_mut(v) {
            Some((Value::Object(m), last)) => m.remove(last).is_some(),
            Some((Value::Array(a), last)) => match index(last, a.len()) {
                Some(i) if i < a.len() => {
                    a.remove(i);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Replaces an existing field; `false` when there is none.
    fn replace(&self, v: &mut Value, new: Value) -> bool {
        match self.parent_mut(v) {
            Some((Value::Object(m), last)) => match m.get_mut(last) {
                Some(slot) => {
                    *slot = new;
                    true
                }
                None => false,
            },
            Some((Value::Array(a), last)) => {
                match index(last, a.len()).and_then(|i| a.get_mut(i)) {
                    Some(slot) => {
                        *slot = new;
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }
}

/// An array index token: decimal, or negative counting from the end (as Flux's JSON patch
/// library allows). Anything else names no element.
fn index(token: &str, len: usize) -> Option<usize> {
    let i: i64 = token.parse().ok()?;
    if i >= 0 {
        usize::try_from(i).ok()
    } else {
        let back = usize::try_from(i.unsigned_abs()).ok()?;
        len.checked_sub(back)
    }
}

/// A label (or annotation) selector, as Kubernetes' `labels.Parse` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn lex(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let (tok, width) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '!' if next == Some('=') => (Token::NotEq, 2),
            '!' => (Token::Not, 1),
            '=' if next == Some('=') => (Token::DoubleEq, 2),
            '=' => (Token::Eq, 1),
            '>' => (Token::Gt, 1),
            '<' => (Token::Lt, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ',' => (Token::Comma, 1),
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && !"!=<>(),".contains(b[i]) {
                    i += 1;
                }
                out.push(Token::Ident(b[start..i].iter().collect()));
                continue;
            }
        };
        out.push(tok);
        i += width;
    }
    out
}

fn valid_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !s.is_empty()
        && s.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn valid_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !l.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn check_key(key: &str) -> Result<(), String> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => valid_dns_subdomain(prefix) && valid_name(name),
        None => valid_name(key),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a valid label key (an optional DNS subdomain prefix and `/`, then up to 63 of `A-Za-z0-9-_.`, starting and ending alphanumeric)"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || valid_name(value) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a valid label value (up to 63 of `A-Za-z0-9-_.`, starting and ending alphanumeric)"
        ))
    }
}

impl LabelSelector {
    /// Parses `app=web, tier in (a,b), !legacy, release!=canary, x, n>3`; empty selects
    /// everything.
    ///
    /// # Errors
    /// A syntax error or an invalid key or value, naming it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let toks = lex(s);
        let mut requirements = Vec::new();
        let mut i = 0;
        let ident = |i: usize, what: &str| -> Result<String, String> {
            match toks.get(i) {
                Some(Token::Ident(x)) => Ok(x.clone()),
                _ => Err(format!("`{s}`: expected {what}")),
            }
        };
        while i < toks.len() {
            if toks[i] == Token::Not {
                let key = ident(i + 1, "a key after `!`")?;
                check_key(&key)?;
                requirements.push(Requirement::NotExists(key));
                i += 2;
            } else {
                let key = ident(i, "a key")?;
                check_key(&key)?;
                i += 1;
                match toks.get(i) {
                    None | Some(Token::Comma) => requirements.push(Requirement::Exists(key)),
                    Some(op @ (Token::Eq | Token::DoubleEq | Token::NotEq)) => {
                        let value = match toks.get(i + 1) {
                            Some(Token::Ident(v)) => {
                                i += 1;
                                v.clone()
                            }
                            _ => String::new(),
                        };
                        check_value(&value)?;
                        requirements.push(if *op == Token::NotEq {
                            Requirement::NotIn(key, vec![value])
                        } else {
                            Requirement::In(key, vec![value])
                        });
                        i += 1;
                    }
                    Some(op @ (Token::Gt | Token::Lt)) => {
                        let v = ident(i + 1, "an integer")?;
                        let n: i64 = v
                            .parse()
                            .map_err(|_| format!("`{s}`: `{v}` is not an integer"))?;
                        requirements.push(if *op == Token::Gt {
                            Requirement::Gt(key, n)
                        } else {
                            Requirement::Lt(key, n)
                        });
                        i += 2;
                    }
                    Some(Token::Ident(op)) if op == "in" || op == "notin" => {
                        let not = op == "notin";
                        i += 1;
                        if toks.get(i) != Some(&Token::Open) {
                            return Err(format!("`{s}`: expected `(` after `{op}`"));
                        }
                        i += 1;
                        if toks.get(i) == Some(&Token::Close) {
                            return Err(format!("`{s}`: the values of `{op}` cannot be empty"));
                        }
                        let mut values = Vec::new();
                        loop {
                            let value = match toks.get(i) {
                                Some(Token::Ident(v)) => {
                                    i += 1;
                                    v.clone()
                                }
                                _ => String::new(),
                            };
                            check_value(&value)?;
                            values.push(value);
                            match toks.get(i) {
                                Some(Token::Comma) => i += 1,
                                Some(Token::Close) => {
                                    i += 1;
                                    break;
                                }
                                _ => return Err(format!("`{s}`: expected `,` or `)`")),
                            }
                        }
                        requirements.push(if not {
                            Requirement::NotIn(key, values)
                        } else {
                            Requirement::In(key, values)
                        });
                    }
                    Some(_) => return Err(format!("`{s}`: unexpected operator after `{key}`")),
                }
            }
            match toks.get(i) {
                None => break,
                Some(Token::Comma) if i + 1 < toks.len() => i += 1,
                _ => return Err(format!("`{s}`: expected `,` between requirements")),
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether `labels` (a JSON map of strings, or none) satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Gt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }
}

/// A compiled `target`: anchored regular expressions for group, version, kind, name and
/// namespace (an empty field matches anything), and label and annotation selectors.
#[derive(Clone, Debug)]
pub struct Target {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: LabelSelector,
    annotations: LabelSelector,
}

fn anchored(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| format!("invalid regular expression `{pattern}`: {e}"))
}

impl Target {
    /// Compiles a selector.
    ///
    /// # Errors
    /// An invalid regular expression or selector, with the field name.
    pub fn compile(s: &Selector) -> Result<Self, (&'static str, String)> {
        Ok(Target {
            group: anchored(&s.group).map_err(|e| ("group", e))?,
            version: anchored(&s.version).map_err(|e| ("version", e))?,
            kind: anchored(&s.kind).map_err(|e| ("kind", e))?,
            name: anchored(&s.name).map_err(|e| ("name", e))?,
            namespace: anchored(&s.namespace).map_err(|e| ("namespace", e))?,
            labels: LabelSelector::parse(&s.label_selector).map_err(|e| ("labelSelector", e))?,
            annotations: LabelSelector::parse(&s.annotation_selector)
                .map_err(|e| ("annotationSelector", e))?,
        })
    }

    /// Whether the object is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let (group, version) = match s("/apiVersion").rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", s("/apiVersion")),
        };
        let is = |re: &Option<Regex>, v: &str| re.as_ref().is_none_or(|r| r.is_match(v));
        is(&self.group, group)
            && is(&self.version, version)
            && is(&self.kind, s("/kind"))
            && is(&self.name, s("/metadata/name"))
            && is(&self.namespace, s("/metadata/namespace"))
            && self
                .labels
                .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && self.annotations.matches(
                obj.pointer("/metadata/annotations")
                    .and_then(Value::as_object),
            )
    }
}

#[derive(Clone, Debug)]
struct Compiled {
    target: Option<Target>,
    paths: Vec<Pointer>,
}

/// The compiled `spec.sync.ignore` of one Application.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Compiled>,
}

/// What [`IgnoreRules::prepare`] did with one path of one object (no values: a value may be
/// secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Removed from the body: another Apply manager owns it.
    LeftTo {
        /// The pointer.
        path: String,
        /// The manager that owns it.
        manager: String,
    },
    /// Set to the value in the cluster: no other Apply manager owns it, and removing it would
    /// delete it.
    KeptLiveValue {
        /// The pointer.
        path: String,
    },
    /// Removed from the body: the live object does not have it and no one else owns it.
    Removed {
        /// The pointer.
        path: String,
    },
}

impl IgnoreRules {
    /// Compiles the rules of `spec.sync.ignore`.
    ///
    /// # Errors
    /// The first malformed pointer, regular expression or selector, naming its field
    /// (`spec.sync.ignore[0].target.name`).
    pub fn compile(rules: &[IgnoreRule]) -> Result<Self, IgnoreError> {
        let mut out = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let target = match &rule.target {
                None => None,
                Some(sel) => Some(Target::compile(sel).map_err(|(f, message)| IgnoreError {
                    field: format!("spec.sync.ignore[{i}].target.{f}"),
                    message,
                })?),
            };
            if rule.paths.is_empty() {
                return Err(IgnoreError {
                    field: format!("spec.sync.ignore[{i}].paths"),
                    message: "a rule needs at least one path".into(),
                });
            }
            let paths = rule
                .paths
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    Pointer::parse(p).map_err(|message| IgnoreError {
                        field: format!("spec.sync.ignore[{i}].paths[{j}]"),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Compiled { target, paths });
        }
        Ok(IgnoreRules { rules: out })
    }

    /// No rule at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The ignored paths that apply to `obj`, in rule order.
    pub fn paths_for<'a>(&'a self, obj: &Value) -> Vec<&'a Pointer> {
        self.rules
            .iter()
            .filter(|r| r.target.as_ref().is_none_or(|t| t.matches(obj)))
            .flat_map(|r| r.paths.iter())
            .collect()
    }

    /// Rewrites `body` (the object about to be server-side applied by `field_manager`) so that
    /// the ignored fields stay as other managers left them; see the module documentation.
    /// `live` is the object as the API server has it, `None` when it does not exist yet.
    /// Returns what was done, path by path.
    ///
    /// # Guarantees
    /// Idempotent; never adds a field the body does not have; a missing field is not an error.
    pub fn prepare(
        &self,
        body: &mut Value,
        live: Option<&Value>,
        field_manager: &str,
    ) -> Vec<Resolution> {
        let Some(live) = live else {
            return Vec::new();
        };
        let paths = self.paths_for(body);
        if paths.is_empty() {
            return Vec::new();
        }
        let owners = apply_managers(live, field_manager);
        let mut done = Vec::new();
        for p in paths {
            let Some(desired) = p.get(body) else { continue };
            let current = p.get(live);
            if current.is_some_and(|c| same(c, desired)) {
                continue;
            }
            let owner = fields_v1_segments(live, p, &owners).and_then(|segs| {
                owners
                    .iter()
                    .find(|(_, fields)| contains(fields, &segs))
                    .map(|(m, _)| m.clone())
            });
            match (owner, current.cloned()) {
                (Some(manager), _) => {
                    p.remove(body);
                    done.push(Resolution::LeftTo {
                        path: p.as_str().into(),
                        manager,
                    });
                }
                (None, Some(value)) => {
                    p.replace(body, value);
                    done.push(Resolution::KeptLiveValue {
                        path: p.as_str().into(),
                    });
                }
                (None, None) => {
                    p.remove(body);
                    done.push(Resolution::Removed {
                        path: p.as_str().into(),
                    });
                }
            }
        }
        done
    }
}

/// Values equal as Kubernetes compares them: numbers by value (`3` and `3.0` are equal).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The `fieldsV1` of every Apply manager other than `ours`, on the main resource (not a
/// subresource). Entries without a readable `fieldsV1` are skipped, as Flux does.
fn apply_managers(live: &Value, ours: &str) -> Vec<(String, Map<String, Value>)> {
    let Some(entries) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| e.get("operation").and_then(Value::as_str) == Some("Apply"))
        .filter(|e| {
            e.get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .filter_map(|e| {
            let manager = e.get("manager").and_then(Value::as_str)?;
            if manager == ours {
                return None;
            }
            let fields = e.get("fieldsV1").and_then(Value::as_object)?;
            Some((manager.to_owned(), fields.clone()))
        })
        .collect()
}

/// `/spec/containers/0/image` as `fieldsV1` segments (`f:spec`, `f:containers`,
/// `k:{"name":"web"}`, `f:image`): an array index is resolved to the `k:` key of the owners'
/// entries that matches the live item. `None` when it cannot be resolved (Flux then treats the
/// field as pi-agent's alone).
fn fields_v1_segments(
    live: &Value,
    p: &Pointer,
    owners: &[(String, Map<String, Value>)],
) -> Option<Vec<String>> {
    let mut segs: Vec<String> = Vec::new();
    let mut cur = live;
    for t in &p.tokens {
        match cur {
            Value::Array(items) => {
                let item = items.get(index(t, items.len())?)?;
                let key = k_keys(owners, &segs)
                    .into_iter()
                    .find(|k| k_matches(k, item))?;
                segs.push(key);
                cur = item;
            }
            Value::Object(m) => {
                segs.push(format!("f:{t}"));
                // A missing field still has a name in fieldsV1.
                cur = m.get(t).unwrap_or(&Value::Null);
            }
            _ => segs.push(format!("f:{t}")),
        }
    }
    Some(segs)
}

fn walk<'a>(fields: &'a Map<String, Value>, segs: &[String]) -> Option<&'a Map<String, Value>> {
    let mut cur = fields;
    for s in segs {
        cur = cur.get(s)?.as_object()?;
    }
    Some(cur)
}

fn k_keys(owners: &[(String, Map<String, Value>)], parent: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = owners
        .iter()
        .filter_map(|(_, f)| walk(f, parent))
        .flat_map(|m| m.keys().filter(|k| k.starts_with("k:")).cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn k_matches(key: &str, item: &Value) -> bool {
    let Some(Value::Object(kv)) = key
        .strip_prefix("k:")
        .and_then(|j| serde_json::from_str(j).ok())
    else {
        return false;
    };
    kv.iter()
        .all(|(k, v)| item.get(k).is_some_and(|w| same(v, w)))
}

fn contains(fields: &Map<String, Value>, segs: &[String]) -> bool {
    match segs.split_last() {
        None => false,
        Some((last, init)) => walk(fields, init).is_some_and(|m| m.contains_key(last)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> IgnoreRules {
        let r: Vec<IgnoreRule> = serde_json::from_value(v).unwrap();
        IgnoreRules::compile(&r).unwrap()
    }

    fn deployment(replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "resources": {"limits": {"cpu": "1"}}},
                {"name": "side", "image": "side:1"}
            ]}}}
        })
    }

    fn managed(mut live: Value, entries: Value) -> Value {
        live["metadata"]["managedFields"] = entries;
        live
    }

    #[test]
    fn pointers_should_unescape_tilde_zero_and_one() {
        let p = Pointer::parse("/metadata/annotations/a~1b~0c").unwrap();
        assert_eq!(p.tokens, ["metadata", "annotations", "a/b~c"]);
        let v = json!({"metadata": {"annotations": {"a/b~c": "x"}}});
        assert_eq!(p.get(&v), Some(&json!("x")));
        assert_eq!(
            Pointer::parse("/a/").unwrap().tokens,
            ["a", ""],
            "a trailing slash names the empty key"
        );
    }

    #[test]
    fn malformed_pointers_should_be_refused_naming_the_rule() {
        for bad in ["", "spec/replicas", "/a~2b", "/a~"] {
            let r: Vec<IgnoreRule> =
                serde_json::from_value(json!([{"paths": ["/ok", bad]}])).unwrap();
            let e = IgnoreRules::compile(&r).unwrap_err();
            assert_eq!(e.field, "spec.sync.ignore[0].paths[1]", "{bad}: {e}");
        }
        let r: Vec<IgnoreRule> = serde_json::from_value(json!([{"paths": []}])).unwrap();
        assert!(IgnoreRules::compile(&r).is_err());
    }

    #[test]
    fn invalid_targets_should_be_refused_naming_the_field() {
        for (target, field) in [
            (json!({"name": "web("}), "name"),
            (json!({"kind": "["}), "kind"),
            (json!({"labelSelector": "app in (a"}), "labelSelector"),
            (json!({"annotationSelector": "a b"}), "annotationSelector"),
            (json!({"labelSelector": "-bad=x"}), "labelSelector"),
        ] {
            let r: Vec<IgnoreRule> = serde_json::from_value(
                json!([{"paths": ["/a"]}, {"target": target, "paths": ["/a"]}]),
            )
            .unwrap();
            let e = IgnoreRules::compile(&r).unwrap_err();
            assert_eq!(
                e.field,
                format!("spec.sync.ignore[1].target.{field}"),
                "{e}"
            );
        }
    }

    #[test]
    fn targets_should_match_anchored_regexes_and_selectors() {
        let d = deployment(3);
        let t = |v: Value| Target::compile(&serde_json::from_value(v).unwrap()).unwrap();
        assert!(t(json!({"group": "apps", "version": "v1", "kind": "Deployment"})).matches(&d));
        assert!(t(json!({"name": "w.*", "namespace": "team-.*"})).matches(&d));
        assert!(
            !t(json!({"name": "we"})).matches(&d),
            "anchored: `we` is not `web`"
        );
        assert!(!t(json!({"group": "batch"})).matches(&d));
        assert!(t(json!({"labelSelector": "app=web"})).matches(&d));
        assert!(t(json!({"labelSelector": "app in (api, web),!legacy"})).matches(&d));
        assert!(!t(json!({"labelSelector": "app notin (web)"})).matches(&d));
        assert!(!t(json!({"annotationSelector": "owner"})).matches(&d));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(t(json!({"version": "v1", "kind": "ConfigMap"})).matches(&cm));
        assert!(!t(json!({"group": "apps"})).matches(&cm));
    }

    #[test]
    fn label_selectors_should_follow_kubernetes_semantics() {
        let labels = json!({"a": "1", "b": "x", "n": "5"});
        let m = labels.as_object();
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(m);
        assert!(ok(""));
        assert!(ok("a"));
        assert!(ok("a==1"));
        assert!(ok("a = 1 , b != y"));
        assert!(ok("c!=1"), "`!=` holds for an absent key");
        assert!(ok("c notin (1)"));
        assert!(!ok("c in (1)"));
        assert!(ok("n>4") && ok("n<6") && !ok("n>5") && !ok("b>1"));
        assert!(ok("b in (x,),!z"));
        assert!(ok("example.com/z notin (q)"));
        for bad in ["a in ()", "a in b", "a,", ",a", "a b", "a>x", "!", "a=b=c"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_object_should_be_created_with_the_values_of_git() {
        let r = rules(json!([{"paths": ["/spec/replicas"]}]));
        let mut body = deployment(3);
        assert!(r.prepare(&mut body, None, "pi-agent").is_empty());
        assert_eq!(body, deployment(3));
    }

    #[test]
    fn an_unchanged_field_should_stay_in_the_body() {
        let r = rules(json!([{"paths": ["/spec/replicas"]}]));
        let mut body = deployment(3);
        let live = deployment(3);
        assert!(r.prepare(&mut body, Some(&live), "pi-agent").is_empty());
        assert_eq!(body["spec"]["replicas"], 3);
    }

    #[test]
    fn a_field_changed_by_an_update_manager_should_keep_its_live_value() {
        // The HPA scales through the `scale` subresource (operation Update): pi-agent must not
        // remove the field it may still co-own, it applies the cluster's value.
        let r = rules(json!([{"target": {"kind": "Deployment"}, "paths": ["/spec/replicas"]}]));
        let mut body = deployment(3);
        let live = managed(
            deployment(7),
            json!([
                {"manager": "pi-agent", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]),
        );
        let done = r.prepare(&mut body, Some(&live), "pi-agent");
        assert_eq!(body["spec"]["replicas"], 7);
        assert_eq!(
            done,
            [Resolution::KeptLiveValue {
                path: "/spec/replicas".into()
            }]
        );
        // Applying the prepared body again changes nothing.
        let again = r.prepare(&mut body, Some(&live), "pi-agent");
        assert!(again.is_empty());
    }

    #[test]
    fn a_field_owned_by_another_apply_manager_should_be_left_to_it() {
        let r = rules(json!([{"paths": ["/spec/replicas"]}]));
        let mut body = deployment(3);
        let live = managed(
            deployment(5),
            json!([
                {"manager": "pi-agent", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {}}}},
                {"manager": "keda", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
            ]),
        );
        let done = r.prepare(&mut body, Some(&live), "pi-agent");
        assert!(body["spec"].get("replicas").is_none());
        assert_eq!(
            done,
            [Resolution::LeftTo {
                path: "/spec/replicas".into(),
                manager: "keda".into()
            }]
        );
    }

    #[test]
    fn array_indices_should_resolve_to_the_owners_merge_keys() {
        let r = rules(json!([{"paths": ["/spec/template/spec/containers/1/image"]}]));
        let mut body = deployment(3);
        let mut live = deployment(3);
        live["spec"]["template"]["spec"]["containers"][1]["image"] = json!("side:2");
        let live = managed(
            live,
            json!([{"manager": "injector", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"side\"}": {"f:image": {}}
            }}}}}}]),
        );
        let done = r.prepare(&mut body, Some(&live), "pi-agent");
        assert!(
            body.pointer("/spec/template/spec/containers/1/image")
                .is_none()
        );
        assert_eq!(
            body.pointer("/spec/template/spec/containers/0/image"),
            Some(&json!("web:1"))
        );
        assert!(matches!(&done[..], [Resolution::LeftTo { manager, .. }] if manager == "injector"));
        // Negative indices count from the end.
        let r = rules(json!([{"paths": ["/spec/template/spec/containers/-1/image"]}]));
        let mut body = deployment(3);
        r.prepare(&mut body, Some(&live), "pi-agent");
        assert!(
            body.pointer("/spec/template/spec/containers/1/image")
                .is_none()
        );
    }

    #[test]
    fn a_missing_field_should_not_be_an_error_nor_be_added() {
        let r = rules(
            json!([{"paths": ["/spec/paused", "/spec/template/spec/containers/9/image", "/spec/replicas/x"]}]),
        );
        let mut body = deployment(3);
        let live = deployment(4);
        assert!(r.prepare(&mut body, Some(&live), "pi-agent").is_empty());
        assert_eq!(body, deployment(3));
    }

    #[test]
    fn a_field_the_cluster_lost_should_be_removed_not_restored() {
        let r = rules(json!([{"paths": ["/metadata/labels/app"]}]));
        let mut body = deployment(3);
        let mut live = deployment(3);
        live["metadata"]["labels"] = json!({});
        let done = r.prepare(&mut body, Some(&live), "pi-agent");
        assert!(body.pointer("/metadata/labels/app").is_none());
        assert_eq!(
            done,
            [Resolution::Removed {
                path: "/metadata/labels/app".into()
            }]
        );
    }

    #[test]
    fn rules_whose_target_does_not_match_should_not_apply() {
        let r = rules(json!([{"target": {"kind": "StatefulSet"}, "paths": ["/spec/replicas"]}]));
        let mut body = deployment(3);
        assert!(
            r.prepare(&mut body, Some(&deployment(9)), "pi-agent")
                .is_empty()
        );
        assert_eq!(body["spec"]["replicas"], 3);
        assert!(!r.is_empty());
        assert!(IgnoreRules::compile(&[]).unwrap().is_empty());
    }

    #[test]
    fn numbers_should_compare_by_value() {
        assert!(same(&json!(3), &json!(3.0)));
        assert!(!same(&json!(3), &json!("3")));
        assert!(same(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
    }
}
