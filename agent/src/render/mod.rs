//! Render stage: turn the files of a revision into Kubernetes objects, with kustomize-rs over a
//! [`kustomize::FileSystem`] (the verified git tree, or the local disk for the CLI). Pure: reads
//! only through the file system. A directory with a kustomization renders exactly as
//! `kustomize build`; a directory without one renders as if it had one listing its `*.yaml`,
//! `*.yml` and `*.json` files.

pub mod substitute;

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
    /// A document is not a Kubernetes object.
    #[error("`{origin}`: {message}")]
    InvalidObject { origin: String, message: String },
    /// kustomize-rs refused the kustomization (the message names the file and key).
    #[error("{0}")]
    Kustomize(String),
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

/// Renders `dir` of `fs` as `kustomize build` would.
///
/// # Errors
/// Any kustomize error (missing file, path outside the root, malformed YAML with its line,
/// patch target not found…), naming the file.
pub fn render(fs: &dyn kustomize::FileSystem, dir: &str) -> Result<Vec<Object>, RenderError> {
    // Moved out of the map, not cloned: a large revision is held once in memory.
    Ok(build(fs, dir)?
        .into_resources()
        .into_iter()
        .map(|r| {
            let origin = r.origin().to_owned();
            Object {
                value: r.into_object(),
                origin,
            }
        })
        .collect())
}

/// Renders `dir` of `fs` to the YAML `kustomize build` prints.
///
/// # Errors
/// As [`render`].
pub fn render_yaml(fs: &dyn kustomize::FileSystem, dir: &str) -> Result<String, RenderError> {
    Ok(build(fs, dir)?.to_yaml())
}

/// `kustomize build` of `dir` (`/`-separated, relative to the file system's root; empty: the root).
fn build(fs: &dyn kustomize::FileSystem, dir: &str) -> Result<kustomize::ResMap, RenderError> {
    let dir = dir.trim_matches('/');
    let dir = if dir.is_empty() { "." } else { dir };
    kustomize::build(fs, std::path::Path::new(dir))
        .map_err(|e| RenderError::Kustomize(e.to_string()))
}

/// [`waves`], taking the objects: each wave owns its objects, in render order.
///
/// # Errors
/// As [`waves`].
pub fn into_waves(objects: Vec<Object>) -> Result<Vec<(i64, Vec<Object>)>, RenderError> {
    let order: Vec<i64> = waves(&objects)?.into_iter().map(|(w, _)| w).collect();
    let mut by_wave: std::collections::BTreeMap<i64, Vec<Object>> =
        order.iter().map(|w| (*w, Vec::new())).collect();
    for o in objects {
        let wave = wave_of(&o)?;
        by_wave.entry(wave).or_default().push(o);
    }
    Ok(by_wave.into_iter().collect())
}

fn wave_of(o: &Object) -> Result<i64, RenderError> {
    let key = format!(
        "/metadata/annotations/{}",
        crate::api::SYNC_WAVE_ANNOTATION.replace('/', "~1")
    );
    match o.value.pointer(&key) {
        None => Ok(0),
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
            }),
    }
}

/// Groups objects by their `gitops.pi-agent.io/sync-wave` annotation, in ascending wave order,
/// keeping the render order inside each wave.
///
/// # Errors
/// An annotation that is not an integer, naming the object and its file.
pub fn waves(objects: &[Object]) -> Result<Vec<(i64, Vec<&Object>)>, RenderError> {
    let mut by_wave: std::collections::BTreeMap<i64, Vec<&Object>> = Default::default();
    for o in objects {
        by_wave.entry(wave_of(o)?).or_default().push(o);
    }
    if by_wave.is_empty() {
        by_wave.insert(0, Vec::new());
    }
    Ok(by_wave.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, wave: Option<&str>) -> Object {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        if let Some(w) = wave {
            v["metadata"]["annotations"] = json!({crate::api::SYNC_WAVE_ANNOTATION: w});
        }
        Object {
            value: v,
            origin: "w.yaml".into(),
        }
    }

    #[test]
    fn waves_should_order_by_annotation_and_refuse_non_integers() {
        let objs = [cm("a", Some("2")), cm("b", None), cm("c", Some("-1"))];
        let w = waves(&objs).unwrap();
        let names: Vec<(i64, Vec<&str>)> = w
            .iter()
            .map(|(n, os)| (*n, os.iter().map(|o| o.name()).collect()))
            .collect();
        assert_eq!(names, vec![(-1, vec!["c"]), (0, vec!["b"]), (2, vec!["a"])]);
        assert_eq!(waves(&[]).unwrap().len(), 1);
        let owned = into_waves(objs.to_vec()).unwrap();
        assert_eq!(owned.len(), 3);
        assert_eq!(owned[2].1[0].name(), "a");
        assert_eq!(into_waves(Vec::new()).unwrap().len(), 1);
        let e = waves(&[cm("a", Some("soon"))]).unwrap_err().to_string();
        assert!(
            e.contains("`w.yaml`") && e.contains("must be an integer"),
            "{e}"
        );
    }

    #[test]
    fn kustomizations_and_plain_directories_should_render() {
        let mut fs = kustomize::MemFs::new();
        fs.add("plain/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
        fs.add(
            "k/kustomization.yaml",
            "resources: [../plain]\nnamePrefix: x-\n",
        );
        fs.add("plain/kustomization.yaml", "resources: [a.yaml]\n");
        let objs = render(&fs, "k").unwrap();
        assert_eq!(
            objs.iter().map(Object::name).collect::<Vec<_>>(),
            ["x-a", "x-b"]
        );
        assert_eq!(objs[0].origin, "plain/a.yaml");
        assert!(
            render_yaml(&fs, "/k/")
                .unwrap()
                .starts_with("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x-a\n")
        );
        let e = render(&fs, "missing").unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn display_ids_should_name_kind_namespace_and_name() {
        let o = Object {
            value: json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "n"}}),
            origin: "f".into(),
        };
        assert_eq!(o.display_id(), "Deployment n/w");
        assert_eq!(o.api_version(), "apps/v1");
        assert_eq!(cm("a", None).display_id(), "ConfigMap a");
    }
}
