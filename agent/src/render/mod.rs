//! Render stage: turn the files of a revision into Kubernetes objects. Pure: takes bytes, returns
//! values. A plain directory renders every `*.yaml`, `*.yml` and `*.json` file in it, one object
//! per YAML document (`List` kinds are expanded), in file order.

use serde_json::Value;

use crate::error::RetryClass;

/// A rendered object, with where it came from for error messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The object as JSON.
    pub value: Value,
    /// `path` (and document index when the file holds several).
    pub origin: String,
}

impl Object {
    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    /// `Kind namespace/name` for messages.
    pub fn display_id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }
}

/// Why rendering failed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The YAML does not parse.
    #[error("`{path}`: invalid YAML: {message}")]
    InvalidYaml { path: String, message: String },
    /// A document is not a Kubernetes object.
    #[error("`{origin}`: {message}")]
    InvalidObject { origin: String, message: String },
    /// The same object twice.
    #[error("`{origin}`: {id} is already defined in `{first}`")]
    DuplicateObject {
        origin: String,
        first: String,
        id: String,
    },
}

impl RenderError {
    /// Rendering the same revision again gives the same error.
    pub fn retry_class(&self) -> RetryClass {
        RetryClass::Terminal
    }
}

/// Parses one file into objects.
///
/// # Errors
/// Malformed YAML or JSON (with the line), or a document that is not a Kubernetes object.
pub fn parse_manifest(path: &str, data: &[u8]) -> Result<Vec<Object>, RenderError> {
    let text = std::str::from_utf8(data).map_err(|e| RenderError::InvalidYaml {
        path: path.to_owned(),
        message: format!("not UTF-8 ({e})"),
    })?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| RenderError::InvalidYaml {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let many = docs.len() > 1;
    let mut objects = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        // Empty documents are skipped by the parser: N counts the non-empty ones.
        let origin = if many {
            format!("{path} (document {})", i + 1)
        } else {
            path.to_owned()
        };
        if doc.is_null() {
            continue;
        }
        expand(doc, &origin, &mut objects)?;
    }
    Ok(objects)
}

fn expand(doc: Value, origin: &str, out: &mut Vec<Object>) -> Result<(), RenderError> {
    let invalid = |message: String| RenderError::InvalidObject {
        origin: origin.to_owned(),
        message,
    };
    let Value::Object(map) = &doc else {
        return Err(invalid("document is not a mapping".into()));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty() {
        return Err(invalid("missing `apiVersion`".into()));
    }
    if kind.is_empty() {
        return Err(invalid("missing `kind`".into()));
    }
    if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = map.get("items") {
            for (j, item) in items.iter().enumerate() {
                expand(item.clone(), &format!("{origin} items[{j}]"), out)?;
            }
        }
        return Ok(());
    }
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        return Err(invalid(format!("{kind} has no `metadata.name`")));
    }
    out.push(Object {
        value: doc,
        origin: origin.to_owned(),
    });
    Ok(())
}

/// Renders a plain directory: every file in order, then a check that no object is defined twice.
///
/// # Errors
/// The first file that fails to parse, or a duplicate object.
pub fn render_plain<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<Object>, RenderError> {
    let mut objects = Vec::new();
    for (path, data) in files {
        objects.extend(parse_manifest(path, data)?);
    }
    let mut seen: std::collections::HashMap<(String, String, String, String), &str> =
        Default::default();
    for o in &objects {
        let group = o
            .api_version()
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let key = (
            group.to_owned(),
            o.kind().to_owned(),
            o.namespace().unwrap_or_default().to_owned(),
            o.name().to_owned(),
        );
        if let Some(first) = seen.insert(key, &o.origin) {
            return Err(RenderError::DuplicateObject {
                origin: o.origin.clone(),
                first: first.to_owned(),
                id: o.display_id(),
            });
        }
    }
    Ok(objects)
}

/// Groups objects by their `gitops.pi-agent.io/sync-wave` annotation, in ascending wave order,
/// keeping the render order inside each wave.
///
/// # Errors
/// An annotation that is not an integer, naming the object and its file.
pub fn waves(objects: &[Object]) -> Result<Vec<(i64, Vec<&Object>)>, RenderError> {
    let mut by_wave: std::collections::BTreeMap<i64, Vec<&Object>> = Default::default();
    for o in objects {
        let key = format!(
            "/metadata/annotations/{}",
            crate::api::SYNC_WAVE_ANNOTATION.replace('/', "~1")
        );
        let wave = match o.value.pointer(&key) {
            None => 0,
            Some(v) => v
                .as_str()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| RenderError::InvalidObject {
                    origin: o.origin.clone(),
                    message: format!(
                        "{}: annotation `{}` must be an integer, got {v}",
                        o.display_id(),
                        crate::api::SYNC_WAVE_ANNOTATION
                    ),
                })?,
        };
        by_wave.entry(wave).or_default().push(o);
    }
    if by_wave.is_empty() {
        by_wave.insert(0, Vec::new());
    }
    Ok(by_wave.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_should_yield_one_object_per_document() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
        let objs = parse_manifest("app/cm.yaml", yaml).unwrap();
        assert_eq!(
            objs.iter().map(Object::name).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(objs[1].origin, "app/cm.yaml (document 2)");
    }

    #[test]
    fn bad_yaml_should_name_the_file_and_line() {
        let e = parse_manifest("app/bad.yaml", b"apiVersion: v1\nkind: [unclosed\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("`app/bad.yaml`: invalid YAML"), "{msg}");
        assert!(msg.contains("line 2") || msg.contains("2:"), "{msg}");
    }

    #[test]
    fn documents_that_are_not_objects_should_be_refused() {
        for (yaml, why) in [
            (&b"- a\n- b\n"[..], "not a mapping"),
            (
                b"kind: ConfigMap\nmetadata: {name: a}\n",
                "missing `apiVersion`",
            ),
            (b"apiVersion: v1\nmetadata: {name: a}\n", "missing `kind`"),
            (b"apiVersion: v1\nkind: ConfigMap\n", "no `metadata.name`"),
        ] {
            let e = parse_manifest("f.yaml", yaml).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn lists_should_be_expanded() {
        let yaml = b"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let objs = parse_manifest("l.yaml", yaml).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].origin, "l.yaml items[1]");
    }

    #[test]
    fn duplicate_objects_should_name_both_files() {
        let a = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
        let e = render_plain([("x.yaml", &a[..]), ("y.yaml", &a[..])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`y.yaml`") && e.contains("`x.yaml`"), "{e}");
    }

    #[test]
    fn waves_should_order_by_annotation_and_refuse_non_integers() {
        let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {gitops.pi-agent.io/sync-wave: '2'}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {gitops.pi-agent.io/sync-wave: '-1'}}\n";
        let objs = parse_manifest("w.yaml", yaml).unwrap();
        let w = waves(&objs).unwrap();
        let names: Vec<(i64, Vec<&str>)> = w
            .iter()
            .map(|(n, os)| (*n, os.iter().map(|o| o.name()).collect()))
            .collect();
        assert_eq!(names, vec![(-1, vec!["c"]), (0, vec!["b"]), (2, vec!["a"])]);
        assert_eq!(waves(&[]).unwrap().len(), 1);
        let bad = parse_manifest("b.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {gitops.pi-agent.io/sync-wave: soon}}\n").unwrap();
        let e = waves(&bad).unwrap_err().to_string();
        assert!(
            e.contains("`b.yaml`") && e.contains("must be an integer"),
            "{e}"
        );
    }

    #[test]
    fn json_files_should_parse() {
        let objs = parse_manifest(
            "cm.json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}"#,
        )
        .unwrap();
        assert_eq!(objs[0].name(), "j");
    }
}
