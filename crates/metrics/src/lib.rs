//! sekisho's Prometheus metrics: one registry, created by `serve` and handed to the stages as a
//! [`Metrics`] handle (cheap to clone). A stage built without one gets [`Metrics::default`], a
//! registry nobody scrapes, so tests of a stage need no metrics at all.
//!
//! Every name starts with `sekisho_`; counters end in `_total` and durations in `_seconds`
//! (prometheus-client adds both suffixes when it encodes). The queue depth is a gauge set from
//! the store just before each scrape ([`Metrics::set_queue_depth`]).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use sekisho_policy::inbound::FileClass;
use sekisho_policy::{Assurance, Carriage};

/// Label pairs of one series.
type Labels = Vec<(&'static str, String)>;

/// Which side of sekisho a TLS handshake failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A client's STARTTLS to one of sekisho's listeners.
    Inbound,
    /// sekisho's STARTTLS to a recipient's server.
    Outbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The recipients of the queue that are not finished, by state, as the store counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting for their next attempt.
    pub queued: u64,
    /// Being delivered now.
    pub active: u64,
    /// Held (quarantine, a rule, an approval, an administrator).
    pub held: u64,
}

/// The metrics handle the stages count with. Clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    received: Family<Labels, Counter>,
    delivered: Family<Labels, Counter>,
    deferred: Counter,
    bounced: Counter,
    claims_lost: Counter,
    carried: Family<Labels, Counter>,
    downgrade_alarms: Counter,
    downloads: Counter,
    verdicts: Family<Labels, Counter>,
    dns_errors: Counter,
    tls_failures: Family<Labels, Counter>,
    queue: Family<Labels, Gauge>,
    time_to_250: Histogram,
    delivery_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A new registry with every sekisho metric in it, all at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let received = Family::<Labels, Counter>::default();
        registry.register(
            "sekisho_messages_received",
            "Messages accepted (250 after the commit), by listener",
            received.clone(),
        );
        let delivered = Family::<Labels, Counter>::default();
        registry.register(
            "sekisho_recipients_delivered",
            "Recipients delivered, by the assurance of the session that carried them",
            delivered.clone(),
        );
        let deferred = Counter::default();
        registry.register("sekisho_recipients_deferred", "Delivery attempts of a recipient deferred", deferred.clone());
        let bounced = Counter::default();
        registry.register("sekisho_recipients_bounced", "Recipients bounced (failed for good)", bounced.clone());
        let claims_lost = Counter::default();
        registry.register(
            "sekisho_claims_lost",
            "Recipients a delivery left to another node: their claim was taken over before their transaction (several nodes)",
            claims_lost.clone(),
        );
        let carried = Family::<Labels, Counter>::default();
        registry.register(
            "sekisho_recipients_carried",
            "Recipients delivered after the inline-or-link decision (submitted mail with files, inspected inbound mail), by its outcome",
            carried.clone(),
        );
        let downgrade_alarms = Counter::default();
        registry.register(
            "sekisho_downgrade_alarms",
            "Sessions whose TLS was weaker than the destination's record (suspected downgrade)",
            downgrade_alarms.clone(),
        );
        let downloads = Counter::default();
        registry.register("sekisho_portal_downloads", "Files downloaded from the portal", downloads.clone());
        let verdicts = Family::<Labels, Counter>::default();
        registry.register(
            "sekisho_inspection_verdicts",
            "Inbound messages inspected, by their worst file class (safe, unsupported, error, danger)",
            verdicts.clone(),
        );
        let dns_errors = Counter::default();
        registry.register(
            "sekisho_dns_errors",
            "Destinations whose MX or address lookup failed temporarily",
            dns_errors.clone(),
        );
        let tls_failures = Family::<Labels, Counter>::default();
        registry.register(
            "sekisho_tls_handshake_failures",
            "TLS handshakes that failed, by direction",
            tls_failures.clone(),
        );
        let queue = Family::<Labels, Gauge>::default();
        registry.register(
            "sekisho_queue_recipients",
            "Recipients in the queue not yet finished, by state",
            queue.clone(),
        );
        let time_to_250 = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register_with_unit(
            "sekisho_time_to_250",
            "From the end of DATA to the 250 reply (inspection and commit)",
            Unit::Seconds,
            time_to_250.clone(),
        );
        let delivery_latency = Histogram::new(exponential_buckets(0.01, 2.0, 20));
        registry.register_with_unit(
            "sekisho_delivery_latency",
            "From reception to delivery, per delivered recipient",
            Unit::Seconds,
            delivery_latency.clone(),
        );
        for state in ["queued", "active", "held"] {
            let _ = queue.get_or_create(&vec![("state", state.to_string())]);
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                received,
                delivered,
                deferred,
                bounced,
                claims_lost,
                carried,
                downgrade_alarms,
                downloads,
                verdicts,
                dns_errors,
                tls_failures,
                queue,
                time_to_250,
                delivery_latency,
            }),
        }
    }

    /// A message accepted on `listener` (its label, e.g. "127.0.0.1:2525 submission"),
    /// `took` from the end of DATA to the 250.
    pub fn received(&self, listener: &str, took: Duration) {
        self.inner.received.get_or_create(&vec![("listener", listener.to_string())]).inc();
        self.inner.time_to_250.observe(took.as_secs_f64());
    }

    /// A recipient delivered over a session of `assurance`, `latency` after reception.
    pub fn delivered(&self, assurance: Assurance, latency: Duration) {
        self.inner.delivered.get_or_create(&vec![("assurance", assurance.as_str().to_string())]).inc();
        self.inner.delivery_latency.observe(latency.as_secs_f64());
    }

    /// A recipient's attempt deferred.
    pub fn deferred(&self) {
        self.inner.deferred.inc();
    }

    /// A recipient bounced.
    pub fn bounced(&self) {
        self.inner.bounced.inc();
    }

    /// `n` recipients left to the node that took their claims over, before their transaction.
    pub fn claims_lost(&self, n: u64) {
        self.inner.claims_lost.inc_by(n);
    }

    /// A recipient delivered `how` the inline-or-link decision (or inbound inspection) chose.
    pub fn carried(&self, how: Carriage) {
        self.inner.carried.get_or_create(&vec![("carriage", how.as_str().to_string())]).inc();
    }

    /// A session flagged as a suspected downgrade.
    pub fn downgrade_alarm(&self) {
        self.inner.downgrade_alarms.inc();
    }

    /// `files` downloaded from the portal (a ZIP of all counts each file in it).
    pub fn downloaded(&self, files: usize) {
        self.inner.downloads.inc_by(files as u64);
    }

    /// An inbound message inspected, its worst file `class`.
    pub fn inspected(&self, class: FileClass) {
        self.inner.verdicts.get_or_create(&vec![("verdict", class.as_str().to_string())]).inc();
    }

    /// A DNS lookup failed temporarily.
    pub fn dns_error(&self) {
        self.inner.dns_errors.inc();
    }

    /// A TLS handshake failed.
    pub fn tls_failure(&self, direction: Direction) {
        self.inner.tls_failures.get_or_create(&vec![("direction", direction.as_str().to_string())]).inc();
    }

    /// Sets the queue gauges (called just before a scrape).
    pub fn set_queue_depth(&self, depth: QueueDepth) {
        for (state, n) in [("queued", depth.queued), ("active", depth.active), ("held", depth.held)] {
            self.inner.queue.get_or_create(&vec![("state", state.to_string())]).set(n as i64);
        }
    }

    /// The exposition text (OpenMetrics, as Prometheus scrapes it).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_appear_under_their_names_and_labels() {
        let m = Metrics::new();
        m.received("127.0.0.1:25 mx", Duration::from_millis(5));
        m.received("127.0.0.1:25 mx", Duration::from_millis(7));
        m.delivered(Assurance::Dane, Duration::from_secs(1));
        m.carried(Carriage::Link);
        m.inspected(FileClass::Danger);
        m.tls_failure(Direction::Inbound);
        m.set_queue_depth(QueueDepth { queued: 3, active: 1, held: 2 });
        let text = m.encode();
        assert_eq!(value(&text, "sekisho_messages_received_total{listener=\"127.0.0.1:25 mx\"}"), Some(2.0), "{text}");
        assert_eq!(value(&text, "sekisho_recipients_delivered_total{assurance=\"dane\"}"), Some(1.0), "{text}");
        assert_eq!(value(&text, "sekisho_recipients_carried_total{carriage=\"link\"}"), Some(1.0), "{text}");
        assert_eq!(value(&text, "sekisho_inspection_verdicts_total{verdict=\"danger\"}"), Some(1.0), "{text}");
        assert_eq!(value(&text, "sekisho_tls_handshake_failures_total{direction=\"inbound\"}"), Some(1.0), "{text}");
        assert_eq!(value(&text, "sekisho_queue_recipients{state=\"held\"}"), Some(2.0), "{text}");
        assert_eq!(value(&text, "sekisho_time_to_250_seconds_count"), Some(2.0), "{text}");
        assert_eq!(value(&text, "sekisho_recipients_deferred_total"), Some(0.0), "{text}");
    }
}
