//! helm-rs: Helm's template engine in-process, aiming at output byte-identical to
//! `helm template` (Helm v4.3.2).
//!
//! Layers, each usable alone:
//! - [`value`]: values with Go's type identity (`int`, `int64`, `float64`, `string`, slices,
//!   maps with Go's sorted iteration order).
//! - [`gofmt`]: Go's `fmt` (`%v`, `%q`, `%d`, `%!d(string=x)` …) and `strconv` formatting.
//! - [`template`]: Go's `text/template` — lexer, parser and executor with Go's semantics and
//!   error messages.
//! - [`sprig`]: Sprig v3.3.0's functions; [`functions`]: Helm's own (`include`, `tpl`,
//!   `required`, `toYaml` …).
//!
//! Start with [`template::Templates`]. The crate does no I/O.
#![forbid(unsafe_code)]

pub mod functions;
pub mod gofmt;
pub mod sprig;
pub mod template;
pub mod value;

pub use template::{Error, Func, Templates};
pub use value::Value;
