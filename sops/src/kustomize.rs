//! kustomize.
