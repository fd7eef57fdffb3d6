//! The YAML layer: parsing with go-yaml v3's scalar resolution and emitting with go-yaml v2's
//! formatting, the two halves of kustomize's round trip through JSON.

mod emit;
pub(crate) mod gofmt;
mod parse;

pub use emit::to_yaml_document;
pub use parse::{
    MAX_DEPTH, YamlError, parse_documents, parse_documents_verbatim, parse_kustomization_documents,
    parse_one, resolve_plain,
};
