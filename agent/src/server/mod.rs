//! The HTTP server: health (`/healthz`, `/readyz`), Prometheus metrics (`/metrics`) and the
//! forced-sync API (`POST /api/v1/namespaces/{ns}/applications/{name}/sync`) and push webhooks
//! (`POST /hooks/gitlab|github|generic`, [`webhook`]).
//!
//! Every replica serves them. The replica running the controller (the leader, or the only one)
//! triggers a reconcile directly; a follower hands it to the leader by writing the
//! `reconcile.pi-agent.io/requestedAt` annotation, which the leader's watch turns into a
//! reconcile (the same path as `kubectl annotate`).

pub mod webhook;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::api::{Application, REQUESTED_AT_ANNOTATION};
use crate::controller::Handles;
use crate::report::Metrics;
use crate::report::metrics::RequestLabels;

/// Where the forced-sync bearer token comes from.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// No token: the sync API refuses every request.
    None,
    /// A file (a mounted Secret), read at each request so a rotated Secret applies at once.
    File(PathBuf),
}

impl TokenSource {
    fn current(&self) -> Option<Vec<u8>> {
        match self {
            TokenSource::None => None,
            TokenSource::File(path) => crate::secrets::read_secret_file(path)
                .ok()
                .filter(|token| !token.is_empty()),
        }
    }
}

/// What the handlers need.
pub struct State {
    /// Metrics to expose and count into.
    pub metrics: Arc<Metrics>,
    /// The controller's cache and trigger, set once this replica runs the controller (at once
    /// without leader election; on becoming leader with it).
    pub handles: Arc<std::sync::OnceLock<Handles>>,
    /// The forced-sync token.
    pub token: TokenSource,
    /// The agent's own client: a follower writes the `requestedAt` annotation with it.
    pub client: kube::Client,
    /// Push webhook receivers.
    pub webhooks: webhook::Webhooks,
}

/// Asks this replica's controller for an immediate reconcile of `key` (forced sync and push
/// webhooks). Idempotent: a reconcile already pending for the same Application absorbs it.
/// False when the queue is full.
pub fn request_reconcile(handles: &Handles, key: ObjectRef<Application>) -> bool {
    // Someone waits for it: its reconcile does not queue behind the others.
    handles.slots.ask(key.clone());
    handles.trigger.clone().try_send(key).is_ok()
}

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The route of a request path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/healthz`
    Healthz,
    /// `/readyz`
    Readyz,
    /// `/metrics`
    Metrics,
    /// `/api/v1/namespaces/{ns}/applications/{name}/sync`
    Sync { namespace: &'a str, name: &'a str },
    /// Anything else.
    NotFound,
}

/// Maps a path to a route.
pub fn route(path: &str) -> Route<'_> {
    match path {
        "/healthz" | "/livez" => Route::Healthz,
        "/readyz" => Route::Readyz,
        "/metrics" => Route::Metrics,
        _ => {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match parts.as_slice() {
                ["api", "v1", "namespaces", ns, "applications", name, "sync"]
                    if !ns.is_empty() && !name.is_empty() =>
                {
                    Route::Sync {
                        namespace: ns,
                        name,
                    }
                }
                _ => Route::NotFound,
            }
        }
    }
}

fn respond(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(code: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    respond(code, "application/json", format!("{value}\n"))
}

/// Handles one request.
pub async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(receiver) = webhook::Receiver::of_path(&path) {
        return Ok(webhook::handle(req, &state, receiver).await);
    }
    let response = match (req.method(), route(&path)) {
        (&Method::GET, Route::Healthz) => respond(StatusCode::OK, "text/plain", "ok\n"),
        // Ready means "can serve": a follower serves health, metrics and the sync API (handed to
        // the leader), so it is ready; the replica running the controller is ready once its
        // Application cache is synced.
        (&Method::GET, Route::Readyz) => match state.handles.get() {
            None => respond(StatusCode::OK, "text/plain", "ok (follower)\n"),
            Some(h) if h.ready.load(Ordering::SeqCst) => {
                respond(StatusCode::OK, "text/plain", "ok\n")
            }
            Some(_) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "cache not synced yet\n",
            ),
        },
        (&Method::GET, Route::Metrics) => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.encode(),
        ),
        (&Method::POST, Route::Sync { namespace, name }) => {
            let r = sync(bearer(&req), &state, namespace, name).await;
            state
                .metrics
                .api_requests
                .get_or_create(&RequestLabels {
                    endpoint: "sync".into(),
                    code: r.status().as_u16().to_string(),
                })
                .inc();
            r
        }
        (_, Route::Sync { .. }) => {
            json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use POST"}))
        }
        (_, Route::Healthz | Route::Readyz | Route::Metrics) => {
            json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use GET"}))
        }
        (_, Route::NotFound) => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no route for `{path}`")}),
        ),
    };
    Ok(response)
}

/// The bearer token a request presents.
fn bearer(req: &Request<Incoming>) -> Option<Vec<u8>> {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().as_bytes().to_vec())
}

async fn sync(
    presented: Option<Vec<u8>>,
    state: &State,
    namespace: &str,
    name: &str,
) -> Response<Full<Bytes>> {
    // Authenticate before anything else, so an unauthenticated caller learns nothing, not even
    // whether the Application exists.
    let Some(expected) = state.token.current() else {
        warn!("forced sync refused: no token is configured (--sync-token-file)");
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "forced sync is disabled: no token configured"}),
        );
    };
    match presented {
        Some(p) if constant_time_eq(&p, &expected) => {}
        _ => {
            warn!(
                namespace,
                name, "forced sync refused: missing or wrong bearer token"
            );
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": "missing or wrong bearer token"}),
            );
        }
    }
    let handles = match state.handles.get() {
        Some(h) if h.ready.load(Ordering::SeqCst) => h,
        // Not running the controller (a follower), or its cache is not synced yet.
        _ => return hand_to_leader(&state.client, namespace, name).await,
    };
    let key = ObjectRef::<Application>::new(name).within(namespace);
    if handles.store.get(&key).is_none() {
        if handles.sharded {
            // Maybe another shard's: the annotation reaches whichever shard selects it.
            return hand_to_leader(&state.client, namespace, name).await;
        }
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("Application `{namespace}/{name}` not found")}),
        );
    }
    match request_reconcile(handles, key) {
        true => {
            info!(namespace, name, "forced sync requested");
            json_response(
                StatusCode::ACCEPTED,
                json!({"status": "sync triggered", "namespace": namespace, "name": name}),
            )
        }
        false => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "sync queue full, retry later"}),
        ),
    }
}

/// A forced sync received by a replica that does not run the controller: written as the
/// `requestedAt` annotation (a merge patch of that one key), which the leader reconciles.
pub(crate) async fn hand_to_leader(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Response<Full<Bytes>> {
    let api: kube::Api<Application> = kube::Api::namespaced(client.clone(), namespace);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: now}}});
    match api
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {
            info!(
                namespace,
                name, "forced sync handed to the leader (requestedAt annotation)"
            );
            json_response(
                StatusCode::ACCEPTED,
                json!({"status": "sync requested from the leader", "namespace": namespace, "name": name}),
            )
        }
        Err(kube::Error::Api(e)) if e.code == 404 => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("Application `{namespace}/{name}` not found")}),
        ),
        Err(e) => {
            warn!(namespace, name, error = %e, "cannot hand the forced sync to the leader");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "cannot reach the API server, retry later"}),
            )
        }
    }
}

/// Serves until `shutdown` resolves.
///
/// # Errors
/// Only if accepting connections fails fatally.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            // The peer address goes with the request: the webhooks rate-limit per source.
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(peer);
                handle(req, state.clone())
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(std::time::Duration::from_secs(10))
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_should_match_exactly() {
        assert_eq!(route("/healthz"), Route::Healthz);
        assert_eq!(route("/readyz"), Route::Readyz);
        assert_eq!(route("/metrics"), Route::Metrics);
        assert_eq!(
            route("/api/v1/namespaces/team-a/applications/web/sync"),
            Route::Sync {
                namespace: "team-a",
                name: "web"
            }
        );
        assert_eq!(
            route("/api/v1/namespaces//applications/web/sync"),
            Route::NotFound
        );
        assert_eq!(
            route("/api/v1/namespaces/a/applications/web/sync/x"),
            Route::NotFound
        );
        assert_eq!(route("/"), Route::NotFound);
    }

    #[test]
    fn constant_time_eq_should_compare_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn token_files_should_be_trimmed_and_empty_means_none() {
        let dir = std::env::temp_dir().join(format!("pi-agent-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        assert_eq!(
            TokenSource::File(f.clone()).current(),
            Some(b"s3cret".to_vec())
        );
        std::fs::write(&f, "\n").unwrap();
        assert_eq!(TokenSource::File(f).current(), None);
        assert_eq!(TokenSource::None.current(), None);
        assert_eq!(TokenSource::File(dir.join("missing")).current(), None);
        std::fs::remove_dir_all(dir).ok();
    }
}
