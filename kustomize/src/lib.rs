#![forbid(unsafe_code)]
//! kustomize-rs: an in-process implementation of kustomize v5 whose output is byte-identical
//! to `kustomize build`.
//!
//! Start with [`build`]: give it a [`FileSystem`] ([`DiskFs`] for the local disk, [`MemFs`]
//! in memory, or your own, e.g. over a git tree) and the directory of a kustomization; print
//! the result with [`ResMap::to_yaml`] or walk [`ResMap::objects`].
//!
//! ```
//! use kustomize::{MemFs, build};
//! let mut fs = MemFs::new();
//! fs.add("app/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: x-\n");
//! fs.add("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
//! let out = build(&fs, std::path::Path::new("app")).unwrap();
//! assert_eq!(out.to_yaml(), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x-c\n");
//! ```
//!
//! A directory without a kustomization file is rendered as kustomize would render it if it
//! had one listing its `*.yaml`, `*.yml` and `*.json` files (sorted, not recursive).
//!
//! Reading is pure: only through the [`FileSystem`]; remote bases are refused, and files may
//! not be loaded from outside the kustomization's directory (kustomize's load restrictor).

mod build;
mod config;
mod error;
mod fieldspec;
mod fs;
mod generator;
pub mod kustomization;
mod nameref;
pub mod patch;
mod replacement;
mod resource;
mod select;
mod transform;
pub mod yaml;

pub mod fuzzing;

pub use build::{KUSTOMIZATION_FILES, MAX_NESTING, build};
pub use error::Error;
pub use fs::{DiskFs, FileSystem, MemFs};
pub use resource::{Gvk, ResMap, Resource};
