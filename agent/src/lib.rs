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

pub use controller::{Context, reconcile};

/// Installs the process-wide rustls crypto provider (ring). Call once at start-up, before any
/// TLS client (kube, gix's reqwest transport) is built.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
