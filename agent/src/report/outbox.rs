//! The outbox: console events and commit statuses wait here until delivered.
//!
//! # Guarantees
//! - Enqueuing never blocks a reconcile (a short lock, no I/O).
//! - At-least-once: a report leaves the outbox only once its receiver answered 2xx, or a 4xx
//!   other than 408/429 (a request that retrying cannot fix: logged and counted as `rejected`).
//! - Bounded: past `capacity` reports the oldest one is dropped, counted in
//!   `pi_agent_outbox_dropped_total` and logged as a warning.
//! - Order per receiver: one queue per origin (scheme, host, port), delivered in order, so a
//!   later commit status never loses to an earlier one retried late, and a receiver that is down
//!   does not hold back the others. Failed attempts back off exponentially (0.5 s, 1 s, 2 s …
//!   up to `max_backoff`).
//!
//! Reports live in memory only: a restart loses what was not delivered yet (the next outcome
//! is reported again, since deduplication state is in memory too).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::report::Metrics;
use crate::report::metrics::ReportLabels;
use crate::report::payload::Request;

/// Outbox settings.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// Most reports held at once (default 1,000).
    pub capacity: usize,
    /// Longest wait between attempts to one receiver (default 1 min).
    pub max_backoff: Duration,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            capacity: 1000,
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One report to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// `console`, `gitlab` or `github` (the metric label).
    pub kind: &'static str,
    /// The request.
    pub request: Request,
}

/// The wait after `failures` consecutive failed attempts: 0.5 s doubled each time, capped.
pub fn backoff(failures: u32, max: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = failures.saturating_sub(1).min(20);
    Duration::from_millis(500)
        .saturating_mul(1u32 << exp)
        .min(max)
}

/// The queue key of a URL: its origin, so each receiver has its own order and backoff.
pub fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_owned(),
    }
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<(u64, Delivery)>,
    failures: u32,
    not_before: Option<Instant>,
}

/// The queues of every receiver, with the global bound. Pure: the clock is passed in.
#[derive(Debug, Default)]
pub struct Queues {
    queues: BTreeMap<String, Queue>,
    len: usize,
    next_seq: u64,
}

impl Queues {
    /// Reports held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a report; when over `capacity`, drops and returns the oldest report of all.
    pub fn push(&mut self, delivery: Delivery, capacity: usize) -> Option<Delivery> {
        let key = origin_of(&delivery.request.url);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queues
            .entry(key)
            .or_default()
            .items
            .push_back((seq, delivery));
        self.len += 1;
        if self.len <= capacity.max(1) {
            return None;
        }
        let oldest = self
            .queues
            .iter()
            .filter_map(|(k, q)| q.items.front().map(|(s, _)| (*s, k.clone())))
            .min()?;
        let queue = self.queues.get_mut(&oldest.1)?;
        let (_, dropped) = queue.items.pop_front()?;
        self.len -= 1;
        Some(dropped)
    }

    /// The head of every queue whose backoff is over: (queue key, sequence, report).
    pub fn ready(&self, now: Instant) -> Vec<(String, u64, Delivery)> {
        self.queues
            .iter()
            .filter(|(_, q)| q.not_before.is_none_or(|t| t <= now))
            .filter_map(|(k, q)| q.items.front().map(|(s, d)| (k.clone(), *s, d.clone())))
            .collect()
    }

    /// When the next queue in backoff becomes ready.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter(|q| !q.items.is_empty())
            .filter_map(|q| q.not_before)
            .min()
    }

    /// The report `seq` of queue `key` is done (delivered or rejected): removed, backoff reset.
    /// A report dropped meanwhile (bound) is not removed twice.
    pub fn done(&mut self, key: &str, seq: u64) {
        if let Some(q) = self.queues.get_mut(key) {
            q.failures = 0;
            q.not_before = None;
            if q.items.front().is_some_and(|(s, _)| *s == seq) {
                q.items.pop_front();
                self.len -= 1;
            }
            if q.items.is_empty() {
                self.queues.remove(key);
            }
        }
    }

    /// An attempt on queue `key` failed: it waits for the next backoff step.
    pub fn failed(&mut self, key: &str, now: Instant, max_backoff: Duration) -> Duration {
        let Some(q) = self.queues.get_mut(key) else {
            return Duration::ZERO;
        };
        q.failures = q.failures.saturating_add(1);
        let wait = backoff(q.failures, max_backoff);
        q.not_before = Some(now + wait);
        wait
    }
}

/// What a receiver's answer means for a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// Network error, timeout, 408, 429, 5xx: try again later.
    Retry,
    /// Any other answer: retrying cannot fix it.
    Rejected,
}

/// Classifies an HTTP status code.
pub fn verdict(code: u16) -> Verdict {
    match code {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Rejected,
    }
}

/// The outbox and its delivery task.
pub struct Outbox {
    queues: Mutex<Queues>,
    wake: Notify,
    config: OutboxConfig,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// An empty outbox; call [`Outbox::run`] (once) to deliver.
    pub fn new(config: OutboxConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Outbox {
            queues: Mutex::default(),
            wake: Notify::new(),
            config,
            metrics,
        })
    }

    /// Adds a report without waiting (never blocks on I/O).
    pub fn enqueue(&self, delivery: Delivery) {
        let (dropped, len) = {
            let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let dropped = q.push(delivery, self.config.capacity);
            (dropped, q.len())
        };
        self.metrics.outbox_depth.set(len as i64);
        if let Some(d) = dropped {
            self.metrics.outbox_dropped.inc();
            warn!(
                capacity = self.config.capacity,
                kind = d.kind,
                url = %d.request.url,
                "report outbox full: the oldest report was dropped"
            );
        }
        self.wake.notify_one();
    }

    /// Reports waiting.
    pub fn len(&self) -> usize {
        self.queues.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delivers forever: the head of each ready queue, concurrently, one request per receiver
    /// at a time.
    pub async fn run(self: Arc<Self>, client: reqwest::Client) {
        loop {
            let (batch, deadline) = {
                let q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                (q.ready(Instant::now()), q.next_deadline())
            };
            if batch.is_empty() {
                let woken = self.wake.notified();
                match deadline {
                    Some(d) => {
                        tokio::select! {
                            () = woken => {}
                            () = tokio::time::sleep_until(d) => {}
                        }
                    }
                    None => woken.await,
                }
                continue;
            }
            let me = &self;
            let sends = batch.into_iter().map(|(key, seq, delivery)| {
                let client = client.clone();
                async move {
                    let v = me.send(&client, &delivery).await;
                    (key, seq, delivery, v)
                }
            });
            let results = futures::future::join_all(sends).await;
            let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            for (key, seq, delivery, (v, detail)) in results {
                let result = match v {
                    Verdict::Delivered => {
                        q.done(&key, seq);
                        "delivered"
                    }
                    Verdict::Rejected => {
                        warn!(kind = delivery.kind, url = %delivery.request.url, answer = %detail, "report rejected by its receiver; not retried");
                        q.done(&key, seq);
                        "rejected"
                    }
                    Verdict::Retry => {
                        let wait = q.failed(&key, Instant::now(), self.config.max_backoff);
                        debug!(kind = delivery.kind, url = %delivery.request.url, answer = %detail, retry_in = ?wait, "report not delivered; will retry");
                        "retried"
                    }
                };
                self.metrics
                    .reports
                    .get_or_create(&ReportLabels {
                        kind: delivery.kind.to_owned(),
                        result: result.to_owned(),
                    })
                    .inc();
            }
            self.metrics.outbox_depth.set(q.len() as i64);
        }
    }

    async fn send(&self, client: &reqwest::Client, d: &Delivery) -> (Verdict, String) {
        let mut req = client
            .post(&d.request.url)
            .timeout(self.config.timeout)
            .header(
                "User-Agent",
                concat!("pi-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(d.request.body.clone());
        for (k, v) in &d.request.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                (verdict(code), code.to_string())
            }
            Err(e) => (Verdict::Retry, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(url: &str, n: u8) -> Delivery {
        Delivery {
            kind: "console",
            request: Request {
                url: url.into(),
                headers: vec![],
                body: vec![n],
            },
        }
    }

    #[test]
    fn backoff_should_double_up_to_the_cap() {
        let max = Duration::from_secs(60);
        let waits: Vec<u64> = (0..10)
            .map(|f| backoff(f, max).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [0, 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(backoff(u32::MAX, max), max);
    }

    #[test]
    fn full_outbox_should_drop_the_oldest_report_of_all_receivers() {
        let mut q = Queues::default();
        assert_eq!(q.push(d("http://a/x", 1), 3), None);
        assert_eq!(q.push(d("http://b/x", 2), 3), None);
        assert_eq!(q.push(d("http://a/y", 3), 3), None);
        assert_eq!(q.push(d("http://b/y", 4), 3), Some(d("http://a/x", 1)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.push(d("http://a/z", 5), 3), Some(d("http://b/x", 2)));
        let now = Instant::now();
        let heads: Vec<u8> = q
            .ready(now)
            .iter()
            .map(|(_, _, d)| d.request.body[0])
            .collect();
        assert_eq!(heads, [3, 4]);
    }

    #[test]
    fn receivers_should_be_delivered_in_order_and_back_off_independently() {
        let mut q = Queues::default();
        q.push(d("http://a:1/x", 1), 10);
        q.push(d("http://a:1/y", 2), 10);
        q.push(d("http://b/x", 3), 10);
        let now = Instant::now();
        let max = Duration::from_secs(60);
        let ready = q.ready(now);
        assert_eq!(ready.len(), 2);
        let (a, a_seq) = (ready[0].0.clone(), ready[0].1);
        let (b, b_seq) = (ready[1].0.clone(), ready[1].1);
        assert_eq!(a, "http://a:1");
        // a is down: it waits; b goes on.
        assert_eq!(q.failed(&a, now, max), Duration::from_millis(500));
        q.done(&b, b_seq);
        assert!(q.ready(now).is_empty());
        assert_eq!(q.next_deadline(), Some(now + Duration::from_millis(500)));
        assert_eq!(q.failed(&a, now, max), Duration::from_secs(1));
        let later = now + Duration::from_secs(1);
        let ready = q.ready(later);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].1, a_seq);
        // Nothing lost: the first report of a is still the head until delivered.
        q.done(&a, a_seq);
        assert_eq!(q.ready(later)[0].2.request.body, [2]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_report_dropped_while_in_flight_should_not_remove_the_next_one() {
        let mut q = Queues::default();
        q.push(d("http://a/x", 1), 1);
        let (key, seq, _) = q.ready(Instant::now()).remove(0);
        // While the first is sent, a second push drops it (capacity 1).
        assert_eq!(q.push(d("http://a/x", 2), 1), Some(d("http://a/x", 1)));
        q.done(&key, seq);
        assert_eq!(q.len(), 1);
        assert_eq!(q.ready(Instant::now())[0].2.request.body, [2]);
    }

    #[test]
    fn answers_should_be_classified() {
        assert_eq!(verdict(200), Verdict::Delivered);
        assert_eq!(verdict(201), Verdict::Delivered);
        assert_eq!(verdict(503), Verdict::Retry);
        assert_eq!(verdict(429), Verdict::Retry);
        assert_eq!(verdict(408), Verdict::Retry);
        assert_eq!(verdict(401), Verdict::Rejected);
        assert_eq!(verdict(404), Verdict::Rejected);
    }

    #[test]
    fn origins_should_key_receivers() {
        assert_eq!(
            origin_of("https://Console.example/a/b"),
            "https://console.example"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin_of("not a url"), "not a url");
    }
}
