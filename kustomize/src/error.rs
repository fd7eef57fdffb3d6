//! Errors of a render. Every variant names the file it concerns, and the key, object or line
//! where that applies.

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory named by a kustomization does not exist.
    #[error("{file}: `{path}`: no such file or directory")]
    MissingFile { file: String, path: String },
    /// A path leaves the directory it may be read from (kustomize's load restrictor).
    #[error("{file}: `{path}` is outside the kustomization root `{root}` (load restrictor)")]
    PathEscapesRoot {
        file: String,
        path: String,
        root: String,
    },
    /// A remote base or resource; rendering never touches the network.
    #[error("{file}: remote resource `{url}` is not supported: vendor it into the repository")]
    RemoteResource { file: String, url: String },
    /// The YAML could not be parsed.
    #[error("{file}: line {line}: malformed YAML: {message}")]
    Yaml {
        file: String,
        line: usize,
        message: String,
    },
    /// A kustomization field is unknown, mistyped or invalid.
    #[error("{file}: `{key}`: {message}")]
    Field {
        file: String,
        key: String,
        message: String,
    },
    /// A directory has no kustomization file.
    #[error(
        "{dir}: no kustomization file (kustomization.yaml, kustomization.yml or Kustomization)"
    )]
    NoKustomization { dir: String },
    /// A directory has more than one kustomization file.
    #[error("{dir}: found multiple kustomization files")]
    MultipleKustomizations { dir: String },
    /// Kustomizations include each other in a loop.
    #[error("{file}: cycle detected: `{dir}` is already being built")]
    Cycle { file: String, dir: String },
    /// Two resources share group, version, kind, namespace and name.
    #[error("{file}: may not add resource with an already registered id: {id}")]
    DuplicateId { file: String, id: String },
    /// A resource is malformed (no kind, no name, not a mapping).
    #[error("{file}: invalid resource{}: {message}", object.as_ref().map(|o| format!(" {o}")).unwrap_or_default())]
    InvalidResource {
        file: String,
        object: Option<String>,
        message: String,
    },
    /// A patch names no resource that exists.
    #[error("{file}: patch target not found: no resource matches {target}")]
    PatchTargetNotFound { file: String, target: String },
    /// A patch could not be applied.
    #[error("{file}: patch failed on {object}: {message}")]
    PatchFailed {
        file: String,
        object: String,
        message: String,
    },
    /// A ConfigMap or Secret generator failed.
    #[error("{file}: generator `{name}`: {message}")]
    Generator {
        file: String,
        name: String,
        message: String,
    },
    /// A kustomize feature this crate does not implement.
    #[error("{file}: `{key}` is not supported by kustomize-rs")]
    Unsupported { file: String, key: String },
    /// Name references cannot be resolved unambiguously.
    #[error("{file}: {message}")]
    Reference { file: String, message: String },
    /// Nesting of kustomizations deeper than allowed.
    #[error("{file}: kustomizations nested deeper than {limit} levels")]
    TooDeep { file: String, limit: usize },
}
