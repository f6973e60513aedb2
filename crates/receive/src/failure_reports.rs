//! DMARC failure reports (RFC 7489 §7.3, RFC 6591) about MX mail that failed DMARC, when
//! `[dmarc] failure_reports` is on and the From domain's record asks for them (`ruf=`, `fo=`).
//! What becomes of a report is decided as the message is authenticated and kept in its trace
//! (`dmarc failure report: ...`); the report itself is redacted then (`sekisho_auth::failure`),
//! and queued in the background so the SMTP reply never waits: a worker looks up the
//! destination's authorisation (§7.1, shared with the aggregate reports), checks its `!size`
//! limit, queues the mail through sekisho's own queue (DKIM-signed at delivery like every
//! report) and records the outcome as the message's `dmarc-failure-report` event. At most
//! [`MAX_PENDING`] reports wait; the rate limits are `[dmarc] failure_interval` per reported
//! organisation, [`sekisho_auth::failure::PER_ORGANISATION_DAILY_MAX`] a day per organisation
//! and `failure_daily_max` a day in all (a report no destination took gives its slot back).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use sekisho_auth::aggregate::{Destination, destinations, refusal};
use sekisho_auth::failure::{Failure, Limiter, Redactor, asks};
use sekisho_auth::policy::DmarcAction;
use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_policy::LinkEvent;
use sekisho_rewrite::{FailureReport, failure_report_mail};
use sekisho_store::{PortalEvent, Queue, QueueId};
use tokio::sync::mpsc;

/// Reports waiting to be queued, at most; more are not sent (and their trace says so).
pub(crate) const MAX_PENDING: usize = 64;

/// The destinations of one record a report goes to, at most.
const MAX_DESTINATIONS: usize = 4;

/// Bytes of the reported message's (redacted) header included, at most.
const MAX_HEADER: usize = 32 * 1024;

/// The failure reports' state, kept across reloads: the rate limits, the redaction key (made
/// at start, never written) and the reports waiting to be queued.
pub(crate) struct FailureReports {
    sender: mpsc::Sender<Job>,
    receiver: Mutex<Option<mpsc::Receiver<Job>>>,
    limiter: Mutex<Limiter>,
    redactor: Redactor,
}

/// One report to queue, already redacted.
struct Job {
    queue_id: String,
    domain: String,
    destinations: Vec<Destination>,
    report: FailureReport,
    from: String,
    hostname: String,
    /// Unix time of the reported message's arrival (the day its rate-limit slot counts in).
    at: i64,
}

/// A message that failed DMARC, as authentication saw it.
pub(crate) struct Failed<'a> {
    pub queue_id: &'a str,
    /// The policy domain.
    pub domain: &'a str,
    pub failure: &'a Failure,
    pub action: &'a DmarcAction,
    /// The message as spooled.
    pub raw: &'a [u8],
    /// The Authentication-Results field written for it.
    pub results_field: &'a str,
    pub client_ip: IpAddr,
    pub mail_from: &'a str,
    pub rcpt_to: Vec<&'a str>,
    /// Unix time of arrival.
    pub at: i64,
}

impl FailureReports {
    pub(crate) fn new() -> FailureReports {
        let (sender, receiver) = mpsc::channel(MAX_PENDING);
        FailureReports {
            sender,
            receiver: Mutex::new(Some(receiver)),
            limiter: Mutex::new(Limiter::default()),
            redactor: Redactor::random(),
        }
    }

    /// What becomes of a report about `m`, in words for its trace: `queued for sending to
    /// URI, ...` or `not sent: why`. Never waits.
    pub(crate) fn consider(&self, config: &Config, m: &Failed<'_>) -> String {
        let (c, f) = (&config.dmarc, m.failure);
        if !c.failure_reports {
            return "not sent: [dmarc] failure_reports is off".into();
        }
        if own_domain(config, m.domain) {
            return format!("not sent: {} is this organisation's own domain", m.domain);
        }
        if let Some(why) = automatic(m) {
            return format!("not sent: the message is itself automatic ({why})");
        }
        if !asks(&f.fo, f) {
            return format!("not sent: the record's fo={} does not ask for a report about this failure", f.fo);
        }
        let to: Vec<Destination> = destinations(&f.ruf).into_iter().take(MAX_DESTINATIONS).collect();
        if to.is_empty() {
            return "not sent: the record's ruf names no mailto: address".into();
        }
        let Ok(permit) = self.sender.try_reserve() else {
            return format!("not sent: {MAX_PENDING} failure reports are already waiting to be queued");
        };
        let interval = c.failure_interval.0.as_secs() as i64;
        let admitted = self.limiter.lock().expect("the limiter").admit(m.domain, m.at, interval, c.failure_daily_max);
        if let Err(limited) = admitted {
            return format!("not sent: {limited}");
        }
        let uris = to.iter().map(|d| d.uri.clone()).collect::<Vec<_>>().join(", ");
        permit.send(Job {
            queue_id: m.queue_id.to_string(),
            domain: m.domain.to_string(),
            destinations: to,
            report: self.report(config, m),
            from: config.reports.from_address(&config.hostname),
            hostname: config.hostname.clone(),
            at: m.at,
        });
        format!("queued for sending to {uris}")
    }

    /// The report about `m`, redacted.
    fn report(&self, config: &Config, m: &Failed<'_>) -> FailureReport {
        let r = &self.redactor;
        let end = m.raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(m.raw.len(), |p| p + 2);
        let header = r.header(&String::from_utf8_lossy(&m.raw[..end]), MAX_HEADER);
        let results = r.header(m.results_field, MAX_HEADER);
        let results = results.split_once(':').map_or("", |(_, v)| v);
        let results = results.split_whitespace().collect::<Vec<_>>().join(" ");
        let f = m.failure;
        let alignment = match (f.dkim_aligned, f.spf_aligned) {
            (true, true) => "dkim, spf",
            (true, false) => "dkim",
            (false, true) => "spf",
            (false, false) => "none",
        };
        let delivery = match m.action {
            DmarcAction::Deliver { .. } => "delivered",
            DmarcAction::Quarantine { .. } => "spam",
            DmarcAction::Reject { .. } => "reject",
        };
        FailureReport {
            org_name: config.dmarc.organization(&config.reports).to_string(),
            contact: config.dmarc.contact_address(&config.reports).to_string(),
            reporting_host: config.hostname.clone(),
            domain: m.domain.to_string(),
            mail_from: r.address(m.mail_from),
            rcpt_to: m.rcpt_to.iter().map(|a| r.address(a)).collect(),
            arrival_date: chrono::DateTime::from_timestamp(m.at, 0).unwrap_or_default().to_rfc2822(),
            source_ip: m.client_ip.to_canonical().to_string(),
            authentication_results: results,
            identity_alignment: alignment.into(),
            delivery_result: delivery.into(),
            header,
        }
    }

    /// Queues the waiting reports until `shutdown`, looking authorisations up with `dns`.
    pub(crate) async fn run(&self, queue: Queue, dns: Arc<dyn Dns>, shutdown: impl std::future::Future<Output = ()>) {
        let Some(mut receiver) = self.receiver.lock().expect("the receiver").take() else { return };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                job = receiver.recv() => match job {
                    Some(job) => {
                        let at = job.at;
                        if !send(&queue, dns.as_ref(), job).await {
                            self.limiter.lock().expect("the limiter").release(at);
                        }
                    }
                    None => return,
                },
            }
        }
    }
}

/// Queues one report to each of its destinations that takes it; records what became of it.
/// False when none took it (not authorised, too large, not queued): its daily slot is given back.
async fn send(queue: &Queue, dns: &dyn Dns, job: Job) -> bool {
    let mut sent = false;
    for d in &job.destinations {
        let id = QueueId::generate();
        let date = chrono::Utc::now().to_rfc2822();
        let mail = failure_report_mail(&job.report, &job.from, &d.address, &date, id.as_str());
        let status = match refusal(dns, &job.domain, d, mail.len() as u64, "report").await {
            Some(why) => why,
            None => {
                let not_required = Some(sekisho_policy::SenderTls::NotRequired);
                match queue.control().inject_with(&id, &job.hostname, &d.address, &mail, not_required).await {
                    Ok(()) => {
                        queue.wake();
                        format!("queued as {}", id.as_str())
                    }
                    Err(e) => format!("failed: cannot queue the report mail: {e}"),
                }
            }
        };
        let (queue_id, domain, destination) = (&job.queue_id, &job.domain, &d.uri);
        if status.starts_with("queued") {
            sent = true;
            tracing::info!(%queue_id, %domain, %destination, %status, "DMARC failure report sent");
        } else {
            tracing::warn!(%queue_id, %domain, %destination, %status, "DMARC failure report not sent");
        }
        let event = PortalEvent {
            at: queue.now(),
            message_id: job.queue_id.clone(),
            idx: None,
            event: LinkEvent::DmarcFailureReport,
            client: "local".into(),
            user_agent: "sekisho".into(),
            detail: format!("{destination}: {status}"),
        };
        if let Err(e) = queue.stores().links.record_event(&event).await {
            tracing::error!(%queue_id, error = %e, "cannot record the DMARC failure report's outcome");
        }
    }
    sent
}

/// True when `domain` belongs to this organisation (a local domain's, the host's or the report
/// sender's organisational domain): its failures are not reported, to itself.
fn own_domain(config: &Config, domain: &str) -> bool {
    let org = sekisho_lookalike::organisational_domain;
    let domain = org(domain);
    let from = config.reports.from_address(&config.hostname);
    let from_domain = from.rsplit_once('@').map_or("", |(_, d)| d);
    config
        .local_domains
        .iter()
        .map(String::as_str)
        .chain([config.hostname.as_str(), from_domain])
        .any(|d| org(d) == domain)
}

/// Why `m` is itself an automatic message, which is never reported on (no loops, no reports
/// about bounces): a null envelope sender, `Auto-Submitted` other than `no` (RFC 3834), a
/// `multipart/report`.
fn automatic(m: &Failed<'_>) -> Option<&'static str> {
    if m.mail_from.trim().trim_start_matches('<').trim_end_matches('>').is_empty() {
        return Some("null envelope sender");
    }
    let auto = field(m.raw, "auto-submitted");
    if auto.is_some_and(|v| !v.split(['(', ';']).next().unwrap_or("").trim().eq_ignore_ascii_case("no")) {
        return Some("Auto-Submitted");
    }
    if field(m.raw, "content-type").is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/report"))
    {
        return Some("multipart/report");
    }
    None
}

/// The unfolded value of the header's first field `name` (lower case).
fn field(raw: &[u8], name: &str) -> Option<String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..end]);
    let mut lines = header.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let Some((n, value)) = line.split_once(':') else { continue };
        if n.trim_end().eq_ignore_ascii_case(name) && !line.starts_with([' ', '\t']) {
            let mut value = value.to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next);
                lines.next();
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_says_why_a_report_is_not_sent() {
        let reports = FailureReports::new();
        let mut config = Config::embedded();
        config.hostname = "gw.corp.test".into();
        config.local_domains = vec!["corp.test".into()];
        let failure = Failure {
            ruf: vec!["mailto:fr@example.net".into(), "https://example.net/ruf".into()],
            fo: "0".into(),
            dkim_aligned: false,
            spf_aligned: false,
            dkim_failed: false,
            spf_failed: true,
        };
        let action = DmarcAction::Quarantine { reason: "r".into() };
        let raw = b"From: alice@example.net\r\nSubject: s\r\n\r\nbody\r\n";
        let failed = |domain| Failed {
            queue_id: "Q1",
            domain,
            failure: &failure,
            action: &action,
            raw,
            results_field: "Authentication-Results: gw.corp.test; dmarc=fail\r\n",
            client_ip: "192.0.2.1".parse().unwrap(),
            mail_from: "b@bulk.example",
            rcpt_to: vec!["bob@corp.test"],
            at: 1_796_256_000,
        };
        assert_eq!(reports.consider(&config, &failed("example.net")), "not sent: [dmarc] failure_reports is off");
        config.dmarc.failure_reports = true;
        assert_eq!(
            reports.consider(&config, &failed("mail.corp.test")),
            "not sent: mail.corp.test is this organisation's own domain"
        );
        assert_eq!(reports.consider(&config, &failed("example.net")), "queued for sending to mailto:fr@example.net");
        assert!(reports.consider(&config, &failed("example.net")).starts_with("not sent: rate-limited: "));
        // The waiting reports are bounded: nothing takes them here.
        let domains: Vec<String> = (0..MAX_PENDING).map(|i| format!("d{i}.example")).collect();
        let outcomes: Vec<String> = domains.iter().map(|d| reports.consider(&config, &failed(d))).collect();
        assert!(outcomes[..MAX_PENDING - 1].iter().all(|o| o.starts_with("queued for sending")), "{outcomes:?}");
        assert_eq!(outcomes[MAX_PENDING - 1], "not sent: 64 failure reports are already waiting to be queued");
    }

    fn failed<'a>(failure: &'a Failure, action: &'a DmarcAction, raw: &'a [u8], mail_from: &'a str) -> Failed<'a> {
        Failed {
            queue_id: "Q1",
            domain: "example.net",
            failure,
            action,
            raw,
            results_field: "",
            client_ip: "192.0.2.1".parse().unwrap(),
            mail_from,
            rcpt_to: vec![],
            at: 0,
        }
    }

    #[test]
    fn automatic_messages_are_never_reported_on() {
        let failure = Failure {
            ruf: vec![],
            fo: "0".into(),
            dkim_aligned: false,
            spf_aligned: false,
            dkim_failed: false,
            spf_failed: false,
        };
        let action = DmarcAction::Reject { reason: "r".into() };
        let is = |raw: &[u8], from: &str| automatic(&failed(&failure, &action, raw, from));
        let plain = b"From: a@example.net\r\nAuto-Submitted: no (a person)\r\n\r\nAuto-Submitted: auto-replied\r\n";
        assert_eq!(is(plain, "a@example.net"), None);
        assert_eq!(is(plain, ""), Some("null envelope sender"));
        assert_eq!(is(plain, "<>"), Some("null envelope sender"));
        assert_eq!(
            is(b"From: a@example.net\r\nauto-submitted:\r\n auto-replied\r\n\r\nx", "a@example.net"),
            Some("Auto-Submitted")
        );
        assert_eq!(is(b"Auto-Submitted: auto-generated\r\n\r\n", "a@example.net"), Some("Auto-Submitted"));
        let report = b"From: a@b\r\nContent-Type:\r\n multipart/report; report-type=feedback-report\r\n\r\nx";
        assert_eq!(is(report, "a@example.net"), Some("multipart/report"));
        let inner = b"From: a@b\r\nContent-Type: text/plain\r\n\r\nContent-Type: multipart/report\r\n";
        assert_eq!(is(inner, "a@example.net"), None);
    }
}
