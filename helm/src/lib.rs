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
//! - [`chart`]: charts — `Chart.yaml`, values, dependencies, built-in objects, rendering and
//!   `helm template`'s output; [`render`] is the entry point.
//!
//! Start with [`template::Templates`]: register the functions ([`functions::add_to`] gives
//! Sprig and Helm's), parse templates into the set, execute one with a [`Value`] as dot.
//!
//! ```
//! use helm::{Templates, Value};
//! let mut t = Templates::new();
//! helm::functions::add_to(&mut t);
//! t.parse("_helpers.tpl", r#"{{define "app.name"}}{{ .Chart.Name | trunc 63 }}{{end}}"#).unwrap();
//! t.parse("cm.yaml", "name: {{ include \"app.name\" . }}\ndata:\n  {{- toYaml .Values.data | nindent 2 }}").unwrap();
//! let top = Value::from_json(&serde_json::json!({
//!     "Chart": {"Name": "web"},
//!     "Values": {"data": {"size": 1000000, "on": "yes"}},
//! }));
//! assert_eq!(t.execute("cm.yaml", &top).unwrap(), "name: web\ndata:\n  \"on\": \"yes\"\n  size: 1000000");
//! ```
//!
//! The crate does no I/O (the random and `now` functions read the system's randomness and
//! clock; [`sprig::NONDETERMINISTIC`] lists them). Execution is bounded by
//! [`template::Limits`].
#![forbid(unsafe_code)]

pub mod chart;
pub mod duration;
pub mod functions;
pub mod gofmt;
pub mod sprig;
pub mod template;
pub mod toml;
pub mod value;

pub use chart::{ChartError, Options, render, render_with_warnings};
pub use template::{Error, Func, Templates};
pub use value::Value;
