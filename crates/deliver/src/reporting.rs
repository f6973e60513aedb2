//! What every kind of report sekisho sends shares (the TLS reports of `tls_reports`, the DMARC
//! aggregate reports of `dmarc_reports`): the daily schedule, the send-once bookkeeping (a
//! destination with a record other than `failed: ...` is not sent to again), and the report
//! mail, queued through sekisho's own queue as `Origin::Local` mail. Such mail is sent as
//! spooled whatever the next hop's TLS: the inline-or-link decision is only for submitted mail
//! (`variants::Files::new`), so the report always travels as an attachment, and it is
//! DKIM-signed when a `[[dkim]]` table covers the From domain (`sign.rs`).

use std::fmt::Display;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use sekisho_config::{Config, DigestTime};
use sekisho_rewrite::MailedReport;
use sekisho_store::{QueueControl, QueueId, ReportKind, SentReport, StoreError, Stores};

/// Why reports could not be looked at.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] crate::SetupError),
}

/// What became of one domain's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent (or recorded as failed or not sent) to these destinations.
    Sent(Vec<SentReport>),
    /// The domain takes no reports (no record, several, no usable rua), or its record could
    /// not be looked up now: why.
    NotWanted(String),
    /// Every destination had it already.
    AlreadySent,
}

/// How often the senders look for due reports.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_secs(600);

/// Queues report mail and remembers what went where.
#[derive(Clone)]
pub(crate) struct Reporter {
    pub config: Config,
    pub stores: Stores,
    control: QueueControl,
    /// Tells delivery that mail was queued (a running `serve`); nothing for the CLI.
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Reporter {
    pub(crate) fn new(
        config: Config,
        stores: Stores,
        control: QueueControl,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Reporter { config, stores, control, wake }
    }

    /// The destinations of `all` that have no record yet for `kind`, `domain` and `day`, or
    /// only a failed one (tried again).
    pub(crate) async fn pending<T: Display>(
        &self,
        kind: ReportKind,
        domain: &str,
        day: &str,
        all: Vec<T>,
    ) -> Result<Vec<T>, StoreError> {
        let done = self.stores.reports.sent_reports(kind, domain, day).await?;
        Ok(all
            .into_iter()
            .filter(|d| !done.iter().any(|s| s.destination == d.to_string() && !s.status.starts_with("failed")))
            .collect())
    }

    /// Queues the mail carrying `gz` (the compressed report of `domain` for `day`) to `to`;
    /// the status to record.
    pub(crate) async fn mail(
        &self,
        kind: MailedReport,
        to: &str,
        domain: &str,
        day: &str,
        report_id: &str,
        gz: &[u8],
    ) -> String {
        let start = day_start(day);
        let id = QueueId::generate();
        let from = self.config.reports.from_address(&self.config.hostname);
        let mail = sekisho_rewrite::report_mail(
            &sekisho_rewrite::ReportMail {
                kind,
                from: &from,
                to,
                submitter: &self.config.hostname,
                domain,
                report_id,
                start,
                end: start + 86_399,
                date: &chrono::Utc::now().to_rfc2822(),
                message_id: id.as_str(),
            },
            gz,
        );
        // Reports are delivered even where TLS fails (RFC 8460 §3): the mail says so itself
        // (`TLS-Required: No`, RFC 8689) and is queued with it.
        let not_required = Some(sekisho_policy::SenderTls::NotRequired);
        match self.control.inject_with(&id, &self.config.hostname, to, &mail, not_required).await {
            Ok(()) => {
                (self.wake)();
                format!("queued as {}", id.as_str())
            }
            Err(e) => format!("failed: cannot queue the report mail: {e}"),
        }
    }

    /// Records what became of one destination, and logs it.
    pub(crate) async fn record(&self, record: &SentReport) -> Result<(), StoreError> {
        let (kind, domain, day, destination, status) =
            (record.kind.as_str(), &record.domain, &record.day, &record.destination, &record.status);
        if record.status.starts_with("queued") || record.status.starts_with("posted") {
            tracing::info!(%kind, %domain, %day, %destination, %status, "report sent");
        } else {
            tracing::warn!(%kind, %domain, %day, %destination, %status, "report not sent");
        }
        self.stores.reports.record_sent_report(record).await
    }
}

/// Runs `once` now and then every [`CHECK_INTERVAL`] until `shutdown`; a shutdown does not wait
/// for a run.
pub(crate) async fn every<F, Fut>(shutdown: impl std::future::Future<Output = ()>, mut once: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = once() => {}
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(CHECK_INTERVAL) => {}
        }
    }
}

/// True when today's (UTC) `send_at` has passed at unix time `now`.
pub(crate) fn due(send_at: DigestTime, now: i64) -> bool {
    let minute_of_day = (now.rem_euclid(86_400) / 60) as u16;
    send_at.minutes().is_some_and(|at| minute_of_day >= at)
}

/// Unix time of a UTC day's first second (`YYYY-MM-DD`); 0 for a malformed day.
pub(crate) fn day_start(day: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp())
}

/// `bytes` gzip-compressed.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_counts::utc_day;

    #[test]
    fn a_day_starts_at_its_utc_midnight_and_reports_are_due_after_send_at() {
        assert_eq!(day_start("2026-12-03"), 1_796_256_000);
        assert_eq!(utc_day(1_796_256_000 + 86_399), "2026-12-03");
        assert_eq!(day_start("yesterday"), 0);
        let at = DigestTime::at(0, 30).unwrap();
        assert!(!due(at, 1_796_256_000 + 29 * 60));
        assert!(due(at, 1_796_256_000 + 30 * 60));
    }
}
