//! pi-agent: a small rootless GitOps agent for one Kubernetes region.
//!
//! One reconcile of an [`api::Application`] runs the stages in order:
//! [`source`] (fetch with gix, resolve the reference) → [`render`] (manifests to objects, pure)
//! → [`images`] (cosign signatures, digest pinning) → [`bluegreen`] (Deployments that opted in become versions) → [`apply`] (server-side apply, in order; prune; drift correction) → [`health`] (kstatus)
//! → [`report`] (status conditions, metrics).
//! [`controller`] wires them to kube-runtime; [`server`] serves health, metrics and the
//! forced-sync API; [`leader`] elects the replica that runs the controller. Start reading at
//! [`controller::reconcile`].
#![forbid(unsafe_code)]

pub mod api;
pub mod apply;
pub mod bluegreen;
pub mod controller;
pub mod error;
pub mod health;
pub mod images;
pub mod leader;
pub mod render;
pub mod report;
pub mod server;
pub mod source;
pub mod status;

pub use controller::{Context, reconcile};

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
