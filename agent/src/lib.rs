//! pi-agent: a small rootless GitOps agent for one Kubernetes region.
//!
//! A front door ([`work::application`] for [`api::Application`]) turns a resource into a
//! [`work::Work`], CRD-independent; the [`pipeline`] runs its stages in order over it —
//! depends → fetch → verify → render → admit → plan → apply → prune → assess — each a
//! function from the previous stage's typed output to its own, calling the domain modules:
//! [`source`] (gix, signatures), [`render`] (kustomize-rs, pure), [`images`] (cosign, digest
//! pinning), [`bluegreen`] (version Deployments), [`apply`] (server-side apply, prune, drift),
//! [`health`] (kstatus). [`report::recorder`] is the one place outcomes are written (conditions,
//! metrics, log line, Events, reports). [`controller`] wires the front door to kube-runtime;
//! [`server`] serves health, metrics, webhooks and the forced-sync API; [`leader`] elects the
//! replica that runs the controller; [`cli`] holds the commands. Start reading at
//! [`pipeline::run`].
#![forbid(unsafe_code)]

pub mod api;
pub mod apply;
pub mod bluegreen;
pub mod cli;
pub mod context;
pub mod controller;
pub mod error;
pub mod health;
pub mod images;
pub mod leader;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod secrets;
pub mod server;
pub mod source;
pub mod work;

pub use context::Context;
pub use controller::reconcile;

/// Installs the process-wide rustls crypto provider (ring). Call once at start-up, before any
/// TLS client (kube, gix's reqwest transport) is built.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The runtime of a one-shot command (`verify`, `fetch`, `status`, …), with the crypto provider
/// installed.
///
/// # Errors
/// The runtime cannot start (no threads, no timer).
pub fn cli_runtime() -> Result<tokio::runtime::Runtime, String> {
    install_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}
