//! Patch targets: kustomize's selector (regex names and namespaces, label and annotation
//! selectors) matched against a resource's current and original ids.

use regex::Regex;
use serde_json::{Map, Value};

use crate::kustomization::Selector;
use crate::resource::Resource;

fn anchored(pat: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pat})$"))
        .map_err(|e| format!("invalid regular expression `{pat}`: {e}"))
}

/// A compiled selector.
pub struct Matcher {
    sel: Selector,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

enum Requirement {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for part in split_top(s) {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Vec<String> {
            rest.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|x| x.trim().to_string())
                .collect()
        };
        if let Some(k) = p.strip_prefix('!') {
            reqs.push(Requirement::NotExists(k.trim().to_string()));
        } else if let Some((k, v)) = p.split_once("!=") {
            reqs.push(Requirement::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("==") {
            reqs.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once('=') {
            reqs.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            reqs.push(Requirement::NotIn(k.trim().into(), set(rest)));
        } else if let Some((k, rest)) = p.split_once(" in ") {
            reqs.push(Requirement::In(k.trim().into(), set(rest)));
        } else if p.chars().all(|c| c.is_alphanumeric() || "-_./".contains(c)) {
            reqs.push(Requirement::Exists(p.to_string()));
        } else {
            return Err(format!("invalid selector `{s}`"));
        }
    }
    Ok(reqs)
}

fn matches(reqs: &[Requirement], m: &Map<String, Value>) -> bool {
    let get = |k: &str| m.get(k).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
        Requirement::Ne(k, v) => get(k) != Some(v.as_str()),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        Requirement::Exists(k) => m.contains_key(k),
        Requirement::NotExists(k) => !m.contains_key(k),
    })
}

impl Matcher {
    /// Compiles `sel`.
    ///
    /// # Errors
    /// A message for an invalid regular expression or selector.
    pub fn new(sel: &Selector) -> Result<Self, String> {
        Ok(Matcher {
            sel: sel.clone(),
            name: (!sel.name.is_empty())
                .then(|| anchored(&sel.name))
                .transpose()?,
            namespace: (!sel.namespace.is_empty())
                .then(|| anchored(&sel.namespace))
                .transpose()?,
            labels: parse_selector(&sel.label_selector)?,
            annotations: parse_selector(&sel.annotation_selector)?,
        })
    }

    /// Whether `r` is selected.
    pub fn matches(&self, r: &Resource) -> bool {
        let gvk = r.gvk();
        if (!self.sel.group.is_empty() && self.sel.group != gvk.group)
            || (!self.sel.version.is_empty() && self.sel.version != gvk.version)
            || (!self.sel.kind.is_empty() && self.sel.kind != gvk.kind)
        {
            return false;
        }
        if let Some(ns) = &self.namespace {
            let org = Resource::effective_ns(r.kind(), r.org_namespace());
            let cur = Resource::effective_ns(r.kind(), r.namespace());
            if !ns.is_match(&org) && !ns.is_match(&cur) {
                return false;
            }
        }
        if let Some(n) = &self.name
            && !n.is_match(r.org_name())
            && !n.is_match(r.name())
        {
            return false;
        }
        matches(&self.labels, &r.labels()) && matches(&self.annotations, &r.annotations())
    }
}
