//! Push webhook receivers: `POST /hooks/gitlab`, `/hooks/github`, `/hooks/generic`.
//!
//! A push to a repository triggers an immediate reconcile of every Application that follows
//! that repository and ref, through the same trigger as the forced-sync API.
//!
//! Checks, in order: per-source rate limit (receiver + remote IP, token bucket; 429), size
//! (1 MiB; 413), authentication (401): GitLab's `X-Gitlab-Token` equal to the secret, GitHub's
//! `X-Hub-Signature-256` and the generic `X-Signature` (`sha256=<hex HMAC-SHA256 of the body>`),
//! compared in constant time; then the event type (pings and other events: 200, nothing
//! triggered), a delivery id seen before (200, nothing triggered), the payload (400).
//!
//! # Guarantees
//! A replayed delivery is harmless: triggering is idempotent (a reconcile of the current state)
//! and a delivery id seen recently triggers nothing. Matching is deliberately lenient (scheme,
//! user, port, `.git`, trailing slash and case are ignored): a spurious trigger only costs a
//! fetch, and the revision is still verified before anything is applied.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::api::Application;
use crate::report::metrics::WebhookLabels;
use crate::report::payload::verify_signature;
use crate::server::{State, constant_time_eq, json_response};
use crate::source::Reference;

/// Largest payload accepted.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// Requests a source may send at once (token bucket capacity).
pub const RATE_BURST: f64 = 20.0;
/// Requests per second a source regains.
pub const RATE_PER_SECOND: f64 = 2.0;

/// A receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Receiver {
    /// `/hooks/gitlab`
    Gitlab,
    /// `/hooks/github`
    Github,
    /// `/hooks/generic`
    Generic,
}

impl Receiver {
    /// The receiver of a path.
    pub fn of_path(path: &str) -> Option<Receiver> {
        match path.trim_end_matches('/') {
            "/hooks/gitlab" => Some(Receiver::Gitlab),
            "/hooks/github" => Some(Receiver::Github),
            "/hooks/generic" => Some(Receiver::Generic),
            _ => None,
        }
    }

    /// Its name (metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Receiver::Gitlab => "gitlab",
            Receiver::Github => "github",
            Receiver::Generic => "generic",
        }
    }
}

/// A repository URL reduced to `host/path` (or a local path), so the URLs a push names and
/// the one an Application uses compare equal: scheme, user, port, trailing `/` and `.git` are
/// dropped, host and path lower-cased (except for local paths, which are case-sensitive).
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let (host, path, local) = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            ("", rest, true)
        } else {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            (authority, path, false)
        }
    } else if let Some((authority, path)) = url.split_once(':').filter(|(a, _)| !a.contains('/')) {
        // scp-like `git@host:group/project.git`
        (authority, path, false)
    } else {
        ("", url, true)
    };
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let mut path = path.trim_matches('/');
    while let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/');
    }
    let key = format!("{}/{path}", host.to_ascii_lowercase());
    if local { key } else { key.to_ascii_lowercase() }
}

/// What a push says: the repository (any of its URLs) and the full ref name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// The repository's URLs, normalized.
    pub urls: Vec<String>,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`; `None`: any ref (generic receiver).
    pub reference: Option<String>,
    /// The ref was deleted: nothing to reconcile.
    pub deleted: bool,
}

/// What the request asks for, by event type.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A push (or tag push).
    Push,
    /// GitHub's ping when a webhook is created.
    Ping,
    /// Another event: acknowledged, ignored.
    Other(String),
}

/// The event type from the receiver's header.
pub fn kind_of(receiver: Receiver, event_header: Option<&str>) -> Kind {
    match (receiver, event_header) {
        (Receiver::Generic, _) => Kind::Push,
        (Receiver::Github, Some("push")) => Kind::Push,
        (Receiver::Github, Some("ping")) => Kind::Ping,
        (Receiver::Gitlab, Some("Push Hook" | "Tag Push Hook")) => Kind::Push,
        (_, other) => Kind::Other(other.unwrap_or_default().to_owned()),
    }
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Parses a push payload.
///
/// # Errors
/// Not JSON, or without a repository URL or ref; the message names what is missing.
pub fn parse_push(receiver: Receiver, body: &[u8]) -> Result<Push, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("payload is not JSON: {e}"))?;
    let strings = |paths: &[&[&str]]| -> Vec<String> {
        paths
            .iter()
            .filter_map(|p| p.iter().try_fold(&v, |v, k| v.get(k))?.as_str())
            .filter(|s| !s.is_empty())
            .map(normalize_url)
            .collect()
    };
    let (urls, fields) = match receiver {
        Receiver::Gitlab => (
            strings(&[
                &["project", "git_http_url"],
                &["project", "git_ssh_url"],
                &["project", "web_url"],
                &["repository", "git_http_url"],
                &["repository", "git_ssh_url"],
                &["repository", "url"],
            ]),
            "`project.git_http_url` or `project.git_ssh_url`",
        ),
        Receiver::Github => (
            strings(&[
                &["repository", "clone_url"],
                &["repository", "ssh_url"],
                &["repository", "html_url"],
                &["repository", "git_url"],
            ]),
            "`repository.clone_url`, `ssh_url` or `html_url`",
        ),
        Receiver::Generic => (strings(&[&["url"], &["repository"]]), "`url`"),
    };
    if urls.is_empty() {
        return Err(format!("payload has no repository URL ({fields})"));
    }
    let reference = v.get("ref").and_then(Value::as_str).map(str::to_owned);
    if reference.is_none() && receiver != Receiver::Generic {
        return Err("payload has no `ref`".into());
    }
    if let Some(r) = &reference
        && !(r.starts_with("refs/heads/") || r.starts_with("refs/tags/"))
    {
        return Err(format!(
            "`ref` `{r}` is not `refs/heads/…` or `refs/tags/…`"
        ));
    }
    let deleted = v.get("deleted").and_then(Value::as_bool) == Some(true)
        || v.get("after").and_then(Value::as_str) == Some(ZERO_SHA);
    let mut urls = urls;
    urls.dedup();
    Ok(Push {
        urls,
        reference,
        deleted,
    })
}

/// Whether an Application following `reference` is concerned by a push of `pushed`.
pub fn ref_matches(reference: &Reference, pushed: Option<&str>) -> bool {
    let Some(pushed) = pushed else {
        return !matches!(reference, Reference::Commit(_));
    };
    match reference {
        Reference::Branch(b) => pushed.strip_prefix("refs/heads/") == Some(b.as_str()),
        Reference::Tag(t) => pushed.strip_prefix("refs/tags/") == Some(t.as_str()),
        Reference::Semver { .. } => pushed.starts_with("refs/tags/"),
        // A pinned commit does not move with pushes.
        Reference::Commit(_) => false,
    }
}

/// The Applications a push concerns (suspended ones excluded), sorted.
pub fn matching<'a>(
    apps: impl IntoIterator<Item = &'a Application>,
    push: &Push,
) -> Vec<ObjectRef<Application>> {
    let mut out: Vec<ObjectRef<Application>> = apps
        .into_iter()
        .filter(|a| !a.spec.sync.suspend)
        .filter(|a| push.urls.contains(&normalize_url(&a.spec.source.url)))
        .filter(|a| {
            Reference::parse(&a.spec.source.reference)
                .is_ok_and(|r| ref_matches(&r, push.reference.as_deref()))
        })
        .map(ObjectRef::from_obj)
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per source (receiver, remote IP). Pure: the clock is passed in.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<(Receiver, IpAddr), Bucket>,
    burst: f64,
    per_second: f64,
    max_sources: usize,
}

impl RateLimiter {
    /// `burst` requests at once, `per_second` regained, at most `max_sources` tracked.
    pub fn new(burst: f64, per_second: f64, max_sources: usize) -> Self {
        RateLimiter {
            buckets: HashMap::new(),
            burst,
            per_second,
            max_sources,
        }
    }

    /// Takes one token of the source's bucket; false when empty (rate limited).
    pub fn allow(&mut self, receiver: Receiver, ip: IpAddr, now: Instant) -> bool {
        let (burst, rate) = (self.burst, self.per_second);
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * rate).min(burst)
        };
        if self.buckets.len() >= self.max_sources && !self.buckets.contains_key(&(receiver, ip)) {
            // Forget the sources whose bucket is full again: they are as if new.
            self.buckets.retain(|_, b| refill(b) < burst);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let b = self.buckets.entry((receiver, ip)).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = refill(b);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Delivery ids seen recently (bounded, oldest forgotten first).
#[derive(Debug, Default)]
pub struct RecentDeliveries {
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl RecentDeliveries {
    /// How many ids are remembered.
    pub const CAPACITY: usize = 1024;

    /// Records `id`; false if it was seen already.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() >= Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

/// An address block (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an address or a CIDR block (10.0.0.0/8, fd00::/8)");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let p = u32::from(self.prefix);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client a request comes from: the peer, or, when the peer is a trusted proxy (an ingress),
/// the rightmost address of `X-Forwarded-For` that is not a trusted proxy itself. An address a
/// client writes into the header can only be trusted as far as the proxies that appended it.
pub fn source_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Cidr]) -> IpAddr {
    let trusted_ip = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !trusted_ip(peer) {
        return peer;
    }
    let mut source = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                source = ip;
                if !trusted_ip(ip) {
                    break;
                }
            }
            // Garbage: what lies left of it cannot be trusted; the last good hop stands.
            Err(_) => break,
        }
    }
    source
}

/// The receivers' shared state.
pub struct Webhooks {
    secret_file: Option<PathBuf>,
    trusted_proxies: Vec<Cidr>,
    limiter: Mutex<RateLimiter>,
    recent: Mutex<RecentDeliveries>,
}

impl Webhooks {
    /// Receivers authenticated with the secret in `secret_file` (read at each request, so a
    /// rotated Secret applies at once); without one every push is refused.
    pub fn new(secret_file: Option<PathBuf>) -> Self {
        Webhooks {
            secret_file,
            trusted_proxies: Vec::new(),
            limiter: Mutex::new(RateLimiter::new(RATE_BURST, RATE_PER_SECOND, 10_000)),
            recent: Mutex::default(),
        }
    }

    /// Proxies (an ingress) whose `X-Forwarded-For` names the client the rate limit counts.
    pub fn trusting_proxies(mut self, proxies: Vec<Cidr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    fn secret(&self) -> Option<Vec<u8>> {
        crate::secrets::read_secret_file(self.secret_file.as_ref()?)
            .ok()
            .filter(|s| !s.is_empty())
    }
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks::new(None)
    }
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Handles one webhook request (any method: only POST is accepted).
pub async fn handle(
    req: Request<Incoming>,
    state: &State,
    receiver: Receiver,
) -> Response<Full<Bytes>> {
    let (result, response) = receive(req, state, receiver).await;
    state
        .metrics
        .webhook_requests
        .get_or_create(&WebhookLabels {
            receiver: receiver.as_str().into(),
            result: result.into(),
        })
        .inc();
    response
}

async fn receive(
    req: Request<Incoming>,
    state: &State,
    receiver: Receiver,
) -> (&'static str, Response<Full<Bytes>>) {
    let reply = |code, result, body| (result, json_response(code, body));
    if req.method() != hyper::Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_request",
            json!({"error": "use POST"}),
        );
    }
    let hooks = &state.webhooks;
    let peer = source_ip(
        req.extensions()
            .get::<SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        header(&req, "x-forwarded-for"),
        &hooks.trusted_proxies,
    );
    let allowed = hooks
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .allow(receiver, peer, Instant::now());
    if !allowed {
        warn!(receiver = receiver.as_str(), %peer, "webhook rate limited");
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            json!({"error": "too many requests"}),
        );
    }
    let declared = header(&req, "content-length").and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            json!({"error": format!("payload over {MAX_PAYLOAD} bytes")}),
        )
    };
    if declared.is_some_and(|n| n > MAX_PAYLOAD) {
        return too_large();
    }
    let token = header(&req, "x-gitlab-token").map(str::to_owned);
    let signature = match receiver {
        Receiver::Github => header(&req, "x-hub-signature-256"),
        _ => header(&req, "x-signature"),
    }
    .map(str::to_owned);
    let event = match receiver {
        Receiver::Github => header(&req, "x-github-event"),
        Receiver::Gitlab => header(&req, "x-gitlab-event"),
        Receiver::Generic => None,
    }
    .map(str::to_owned);
    let delivery = match receiver {
        Receiver::Github => header(&req, "x-github-delivery"),
        Receiver::Gitlab => header(&req, "x-gitlab-event-uuid"),
        Receiver::Generic => header(&req, "x-delivery-id"),
    }
    .map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "bad_request",
                json!({"error": format!("cannot read the body: {e}")}),
            );
        }
    };
    let Some(secret) = hooks.secret() else {
        warn!(
            receiver = receiver.as_str(),
            "webhook refused: no secret is configured (--webhook-secret-file)"
        );
        return reply(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            json!({"error": "webhooks are disabled: no secret configured"}),
        );
    };
    let authentic = match receiver {
        Receiver::Gitlab => token.is_some_and(|t| constant_time_eq(t.trim().as_bytes(), &secret)),
        Receiver::Github | Receiver::Generic => {
            signature.is_some_and(|s| verify_signature(&secret, &body, &s))
        }
    };
    if !authentic {
        warn!(receiver = receiver.as_str(), %peer, "webhook refused: missing or wrong token or signature");
        return reply(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            json!({"error": "missing or wrong token or signature"}),
        );
    }
    match kind_of(receiver, event.as_deref()) {
        Kind::Push => {}
        Kind::Ping => return reply(StatusCode::OK, "ping", json!({"status": "pong"})),
        Kind::Other(e) => {
            return reply(
                StatusCode::OK,
                "ignored",
                json!({"status": format!("event `{e}` ignored: only pushes trigger a reconcile")}),
            );
        }
    }
    if let Some(id) = &delivery {
        let first = hooks
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first_time(&format!("{}:{id}", receiver.as_str()));
        if !first {
            return reply(
                StatusCode::OK,
                "duplicate",
                json!({"status": "delivery already handled", "delivery": id}),
            );
        }
    }
    let push = match parse_push(receiver, &body) {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::BAD_REQUEST, "bad_request", json!({"error": e})),
    };
    if push.deleted {
        return reply(
            StatusCode::OK,
            "ignored",
            json!({"status": "ref deleted: nothing to reconcile"}),
        );
    }
    // The leader matches against its cache; a follower lists the Applications.
    let apps: Vec<Application> = match state.handles.get() {
        Some(h) => h.store.state().iter().map(|a| (**a).clone()).collect(),
        None => match kube::Api::<Application>::all(state.client.clone())
            .list(&Default::default())
            .await
        {
            Ok(list) => list.items,
            Err(e) => {
                warn!(error = %e, "push: cannot list Applications");
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    json!({"error": "cannot reach the API server, retry later"}),
                );
            }
        },
    };
    let matched = matching(apps.iter(), &push);
    let names: Vec<String> = matched
        .iter()
        .map(|k| format!("{}/{}", k.namespace.clone().unwrap_or_default(), k.name))
        .collect();
    if matched.is_empty() {
        info!(receiver = receiver.as_str(), urls = ?push.urls, reference = ?push.reference, "push concerns no Application");
        return reply(
            StatusCode::OK,
            "no_match",
            json!({"status": "no Application follows this repository and ref", "applications": []}),
        );
    }
    let mut queued = true;
    for key in matched {
        queued &= match state.handles.get() {
            Some(h) => crate::server::request_reconcile(h, key),
            None => {
                let ns = key.namespace.clone().unwrap_or_default();
                crate::server::hand_to_leader(&state.client, &ns, &key.name)
                    .await
                    .status()
                    .is_success()
            }
        };
    }
    if !queued {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            json!({"error": "sync queue full, retry later", "applications": names}),
        );
    }
    info!(receiver = receiver.as_str(), reference = ?push.reference, applications = ?names, "push: reconcile triggered");
    reply(
        StatusCode::ACCEPTED,
        "triggered",
        json!({"status": "reconcile triggered", "applications": names}),
    )
}

/// Fuzz body (cargo-fuzz target `webhook_push` in `agent/fuzz/`, and `tests/fuzz_bodies.rs` on
/// stable): a push payload of any receiver, whatever its bytes, is parsed or refused without a
/// panic; and a refused payload never names an Application to trigger.
pub fn fuzz_push(data: &[u8]) {
    for receiver in [Receiver::Gitlab, Receiver::Github, Receiver::Generic] {
        if let Ok(push) = parse_push(receiver, data) {
            let _ = (push.urls.len(), push.reference.as_deref(), push.deleted);
        }
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_should_parse_and_contain() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.9")), "IPv4-mapped");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
        for bad in ["10.0.0.0/33", "fd00::/129", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_source_should_come_from_trusted_proxies_only() {
        let ingress: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        // No trusted proxy: the header is the client's word, ignored.
        assert_eq!(
            source_ip(ip("203.0.113.9"), Some("1.2.3.4"), &ingress),
            ip("203.0.113.9")
        );
        // Through the ingress: the client it saw.
        assert_eq!(
            source_ip(ip("10.0.0.5"), Some("198.51.100.7"), &ingress),
            ip("198.51.100.7")
        );
        // A client forging hops left of the real one gains nothing.
        assert_eq!(
            source_ip(ip("10.0.0.5"), Some("1.1.1.1, 198.51.100.7"), &ingress),
            ip("198.51.100.7")
        );
        // Several trusted hops are skipped.
        assert_eq!(
            source_ip(ip("10.0.0.5"), Some("198.51.100.7, 10.2.0.1"), &ingress),
            ip("198.51.100.7")
        );
        // Garbage or nothing: the last good hop, else the proxy itself.
        assert_eq!(
            source_ip(ip("10.0.0.5"), Some("junk, 198.51.100.7"), &ingress),
            ip("198.51.100.7")
        );
        assert_eq!(
            source_ip(ip("10.0.0.5"), Some("junk"), &ingress),
            ip("10.0.0.5")
        );
        assert_eq!(source_ip(ip("10.0.0.5"), None, &ingress), ip("10.0.0.5"));
        assert_eq!(source_ip(ip("10.0.0.5"), None, &[]), ip("10.0.0.5"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn urls_of_one_repository_should_normalize_alike() {
        let key = "gitlab.example.com/infra/team-a";
        for u in [
            "https://gitlab.example.com/infra/team-a.git",
            "https://GitLab.Example.com/infra/team-a/",
            "http://user:pw@gitlab.example.com:8443/infra/team-a.git/",
            "ssh://git@gitlab.example.com:2222/infra/team-a.git",
            "git@gitlab.example.com:infra/team-a.git",
            "https://gitlab.example.com/Infra/Team-A",
        ] {
            assert_eq!(normalize_url(u), key, "{u}");
        }
        assert_ne!(
            normalize_url("https://gitlab.example.com/infra/team-b.git"),
            key
        );
        // Local paths keep their case.
        assert_eq!(normalize_url("file:///tmp/Repo.git/"), "/tmp/Repo");
        assert_eq!(normalize_url("/tmp/Repo"), "/tmp/Repo");
    }

    fn app(url: &str, reference: Value, suspend: bool) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": format!("{}", reference.to_string().len()), "namespace": "n"},
            "spec": {"source": {"url": url, "ref": reference}, "sync": {"suspend": suspend}}
        }))
        .unwrap()
    }

    #[test]
    fn refs_should_match_branches_tags_and_semver() {
        let b = Reference::Branch("main".into());
        assert!(ref_matches(&b, Some("refs/heads/main")));
        assert!(!ref_matches(&b, Some("refs/heads/main2")));
        assert!(!ref_matches(&b, Some("refs/tags/main")));
        assert!(ref_matches(&b, None));
        let t = Reference::Tag("v1".into());
        assert!(ref_matches(&t, Some("refs/tags/v1")));
        assert!(!ref_matches(&t, Some("refs/heads/v1")));
        let s = Reference::parse(&crate::api::GitRef {
            semver: Some(">=1".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(ref_matches(&s, Some("refs/tags/v9")));
        assert!(!ref_matches(&s, Some("refs/heads/main")));
        let c = Reference::Commit(gix::ObjectId::null(gix::hash::Kind::Sha1));
        assert!(!ref_matches(&c, Some("refs/heads/main")));
        assert!(!ref_matches(&c, None));
    }

    #[test]
    fn pushes_should_match_applications_by_url_and_ref() {
        let main = app("https://git.example/infra.git", json!({}), false);
        let tag = app("https://git.example/infra.git", json!({"tag": "v1"}), false);
        let suspended = app(
            "https://git.example/infra.git",
            json!({"branch": "main"}),
            true,
        );
        let other = app(
            "https://git.example/other.git",
            json!({"branch": "main"}),
            false,
        );
        let apps = [main.clone(), tag, suspended, other];
        let push = Push {
            urls: vec![normalize_url("git@git.example:infra.git")],
            reference: Some("refs/heads/main".into()),
            deleted: false,
        };
        let m = matching(apps.iter(), &push);
        assert_eq!(m, vec![ObjectRef::from_obj(&main)]);
        let unknown = Push {
            urls: vec![normalize_url("https://git.example/nope.git")],
            ..push
        };
        assert!(matching(apps.iter(), &unknown).is_empty());
    }

    #[test]
    fn gitlab_and_github_payloads_should_parse() {
        let gl = json!({"object_kind": "push", "ref": "refs/heads/main",
            "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "project": {"git_http_url": "http://example.com/mike/diaspora.git",
                        "git_ssh_url": "git@example.com:mike/diaspora.git"}});
        let p = parse_push(Receiver::Gitlab, gl.to_string().as_bytes()).unwrap();
        assert_eq!(p.urls, vec!["example.com/mike/diaspora"]);
        assert_eq!(p.reference.as_deref(), Some("refs/heads/main"));
        assert!(!p.deleted);
        let gh = json!({"ref": "refs/tags/v1", "deleted": false,
            "repository": {"clone_url": "https://github.com/Octo/Infra.git",
                           "ssh_url": "git@github.com:Octo/Infra.git",
                           "html_url": "https://github.com/Octo/Infra"}});
        let p = parse_push(Receiver::Github, gh.to_string().as_bytes()).unwrap();
        assert_eq!(p.urls, vec!["github.com/octo/infra"]);
        let deleted = json!({"ref": "refs/heads/x", "after": ZERO_SHA,
            "project": {"git_http_url": "http://e/x.git"}});
        assert!(
            parse_push(Receiver::Gitlab, deleted.to_string().as_bytes())
                .unwrap()
                .deleted
        );
        let generic = json!({"url": "https://e/x.git"});
        let p = parse_push(Receiver::Generic, generic.to_string().as_bytes()).unwrap();
        assert_eq!(p.reference, None);
        for (r, bad) in [
            (Receiver::Gitlab, "not json".to_owned()),
            (
                Receiver::Gitlab,
                json!({"ref": "refs/heads/main"}).to_string(),
            ),
            (
                Receiver::Github,
                json!({"repository": {"clone_url": "https://e/x"}}).to_string(),
            ),
            (
                Receiver::Github,
                json!({"ref": "main", "repository": {"clone_url": "https://e/x"}}).to_string(),
            ),
        ] {
            assert!(parse_push(r, bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_headers_should_select_pushes_and_pings() {
        assert_eq!(kind_of(Receiver::Github, Some("push")), Kind::Push);
        assert_eq!(kind_of(Receiver::Github, Some("ping")), Kind::Ping);
        assert_eq!(
            kind_of(Receiver::Github, Some("issues")),
            Kind::Other("issues".into())
        );
        assert_eq!(kind_of(Receiver::Gitlab, Some("Push Hook")), Kind::Push);
        assert_eq!(kind_of(Receiver::Gitlab, Some("Tag Push Hook")), Kind::Push);
        assert!(matches!(
            kind_of(Receiver::Gitlab, Some("Merge Request Hook")),
            Kind::Other(_)
        ));
        assert!(matches!(kind_of(Receiver::Gitlab, None), Kind::Other(_)));
        assert_eq!(kind_of(Receiver::Generic, None), Kind::Push);
        assert_eq!(Receiver::of_path("/hooks/gitlab"), Some(Receiver::Gitlab));
        assert_eq!(Receiver::of_path("/hooks/github/"), Some(Receiver::Github));
        assert_eq!(Receiver::of_path("/hooks/x"), None);
    }

    #[test]
    fn rate_limiter_should_refill_per_source() {
        let mut l = RateLimiter::new(3.0, 1.0, 2);
        let t = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..3).all(|_| l.allow(Receiver::Github, ip, t)));
        assert!(!l.allow(Receiver::Github, ip, t));
        // Another receiver or another address has its own bucket.
        assert!(l.allow(Receiver::Gitlab, ip, t));
        assert!(
            !l.allow(Receiver::Github, other, t),
            "over max_sources while all are busy"
        );
        let later = t + Duration::from_millis(1500);
        assert!(l.allow(Receiver::Github, ip, later));
        assert!(!l.allow(Receiver::Github, ip, later));
        // Once full again, a source is forgotten to make room.
        let much_later = t + Duration::from_secs(60);
        assert!(l.allow(Receiver::Github, other, much_later));
    }

    #[test]
    fn deliveries_should_be_remembered_boundedly() {
        let mut r = RecentDeliveries::default();
        assert!(r.first_time("a"));
        assert!(!r.first_time("a"));
        for i in 0..RecentDeliveries::CAPACITY {
            r.first_time(&i.to_string());
        }
        assert!(r.first_time("a"), "forgotten after CAPACITY newer ids");
    }
}
