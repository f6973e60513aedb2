//! Sending the daily SMTP TLS reports (RFC 8460): for each recipient domain sekisho had
//! sessions with on a UTC day and that publishes a `_smtp._tls` record, the aggregate report
//! built from the day's counts goes to each `rua` — by mail through sekisho's own queue (an
//! attachment, never a link: sekisho's own mail is sent as spooled) or by HTTPS POST. What went
//! where is recorded, so a report is sent once per destination and a failed upload is tried
//! again on the next run of the same day.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_store::{QueueControl, QueueId, SentReport, StoreError, Stores};

use crate::session_counts::utc_day;
use crate::tls::TlsClient;
use crate::tlsrpt::{ReportMeta, Rua, build_report, parse_record, post_report};

/// How often the sender looks for due reports.
const CHECK_INTERVAL: Duration = Duration::from_secs(600);

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
    /// Sent (or recorded as failed) to these destinations.
    Sent(Vec<SentReport>),
    /// The domain takes no reports (no record, several, no usable rua), or its record could
    /// not be looked up now: why.
    NotWanted(String),
    /// Every destination had it already.
    AlreadySent,
}

/// Builds and sends TLS reports.
#[derive(Clone)]
pub struct TlsReports {
    config: Config,
    stores: Stores,
    control: QueueControl,
    dns: Arc<dyn Dns>,
    tls: TlsClient,
    /// Tells delivery that mail was queued (a running `serve`); nothing for the CLI.
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl TlsReports {
    /// A sender of the counts in `stores`, queuing report mail through `control` (then
    /// calling `wake`), looking records up with `dns`.
    pub fn new(
        config: Config,
        stores: Stores,
        control: QueueControl,
        dns: Arc<dyn Dns>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<TlsReports, ReportError> {
        let tls = TlsClient::new(&config.tls.extra_roots)?;
        Ok(TlsReports { config, stores, control, dns, tls, wake })
    }

    fn meta(&self, day: &str) -> ReportMeta {
        ReportMeta {
            organization: self.config.reports.organization.clone(),
            contact: self.config.reports.contact.clone(),
            submitter: self.config.hostname.clone(),
            day: day.to_string(),
        }
    }

    /// The report `domain` would get for `day` (JSON), None without sessions that day.
    pub async fn preview(&self, domain: &str, day: &str) -> Result<Option<String>, ReportError> {
        let counts = self.stores.reports.tls_sessions(day, &domain.to_ascii_lowercase()).await?;
        Ok(build_report(&self.meta(day), &domain.to_ascii_lowercase(), &counts))
    }

    /// Sends the reports of `day` that are not sent yet, domain by domain.
    pub async fn send_day(&self, day: &str, now: i64) -> Result<Vec<(String, Outcome)>, ReportError> {
        let domains = self.stores.reports.tls_report_domains(day).await?;
        let mut out = Vec::new();
        for domain in domains {
            let outcome = self.send_domain(&domain, day, now).await?;
            out.push((domain, outcome));
        }
        Ok(out)
    }

    async fn send_domain(&self, domain: &str, day: &str, now: i64) -> Result<Outcome, ReportError> {
        let store = &self.stores.reports;
        let done = store.sent_reports(domain, day).await?;
        let destinations = match self.dns.txt(&format!("_smtp._tls.{domain}")).await {
            Ok(answers) => match parse_record(&answers) {
                Ok(d) => d,
                Err(e) => return Ok(Outcome::NotWanted(e.to_string())),
            },
            // Tried again on the next run: nothing is recorded.
            Err(e) if e.is_temporary() => return Ok(Outcome::NotWanted(e.to_string())),
            Err(_) => return Ok(Outcome::NotWanted(crate::tlsrpt::RecordError::Missing.to_string())),
        };
        let pending: Vec<Rua> = destinations
            .into_iter()
            .filter(|d| !done.iter().any(|s| s.destination == d.to_string() && !s.status.starts_with("failed")))
            .collect();
        if pending.is_empty() {
            return Ok(Outcome::AlreadySent);
        }
        let meta = self.meta(day);
        let counts = store.tls_sessions(day, domain).await?;
        let Some(json) = build_report(&meta, domain, &counts) else { return Ok(Outcome::AlreadySent) };
        let report_id = meta.report_id(domain);
        let gz = gzip(json.as_bytes());
        let mut sent = Vec::new();
        for rua in pending {
            let status = if gz.len() as u64 > self.config.tlsrpt.max_report_size.0 {
                format!(
                    "failed: the compressed report ({} bytes) exceeds [tlsrpt] max_report_size ({} bytes)",
                    gz.len(),
                    self.config.tlsrpt.max_report_size.0
                )
            } else {
                self.deliver(&rua, domain, day, &report_id, &gz).await
            };
            let record = SentReport {
                domain: domain.to_string(),
                day: day.to_string(),
                destination: rua.to_string(),
                report_id: report_id.clone(),
                at: now,
                status,
            };
            if record.status.starts_with("failed") {
                tracing::warn!(%domain, %day, destination = %record.destination, status = %record.status, "TLS report not sent");
            } else {
                tracing::info!(%domain, %day, destination = %record.destination, status = %record.status, "TLS report sent");
            }
            store.record_sent_report(&record).await?;
            sent.push(record);
        }
        Ok(Outcome::Sent(sent))
    }

    async fn deliver(&self, rua: &Rua, domain: &str, day: &str, report_id: &str, gz: &[u8]) -> String {
        match rua {
            Rua::Mailto(to) => {
                let start = day_start(day);
                let id = QueueId::generate();
                let from = self.config.reports.from_address(&self.config.hostname);
                let mail = sekisho_rewrite::tls_report_mail(
                    &sekisho_rewrite::TlsReportMail {
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
                // RFC 8460 §3: reports are delivered even where TLS fails; the mail says so itself
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
            Rua::Https(url) => {
                match post_report(self.dns.as_ref(), &self.tls, url, gz, self.config.tlsrpt.https_timeout.0).await {
                    Ok(()) => "posted".to_string(),
                    Err(e) => format!("failed: {e}"),
                }
            }
        }
    }

    /// Until `shutdown`: sends yesterday's reports after `[tlsrpt] send_at` (UTC) when `[tlsrpt]
    /// send`, and, whether or not it sends, drops session counts older than `[tlsrpt] keep` and
    /// received reports older than `[store] retention`. A shutdown does not wait for a run.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.run_once() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(CHECK_INTERVAL) => {}
            }
        }
    }

    async fn run_once(&self) {
        let now = chrono::Utc::now().timestamp();
        let minute_of_day = (now.rem_euclid(86_400) / 60) as u16;
        let due = self.config.tlsrpt.send_at.minutes().is_some_and(|at| minute_of_day >= at);
        if self.config.tlsrpt.send && due {
            let yesterday = utc_day(now - 86_400);
            if let Err(e) = self.send_day(&yesterday, now).await {
                tracing::error!(error = %e, "cannot send the TLS reports");
            }
        }
        let keep = self.config.tlsrpt.keep.0.as_secs() as i64;
        if let Err(e) = self.stores.reports.purge_tls_sessions(&utc_day(now - keep)).await {
            tracing::error!(error = %e, "cannot purge old TLS session counts");
        }
        let retention = self.config.store.retention.0.as_secs() as i64;
        if retention > 0
            && let Err(e) = self.stores.reports.purge_received_reports(now - retention).await
        {
            tracing::error!(error = %e, "cannot purge old received reports");
        }
    }
}

/// Unix time of a UTC day's first second (`YYYY-MM-DD`); 0 for a malformed day.
fn day_start(day: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| t.and_utc().timestamp())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_its_utc_midnight() {
        assert_eq!(day_start("2026-12-03"), 1_796_256_000);
        assert_eq!(utc_day(1_796_256_000 + 86_399), "2026-12-03");
        assert_eq!(day_start("yesterday"), 0);
    }
}
