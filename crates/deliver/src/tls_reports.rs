//! Sending the daily SMTP TLS reports (RFC 8460): for each recipient domain sekisho had
//! sessions with on a UTC day and that publishes a `_smtp._tls` record, the aggregate report
//! built from the day's counts goes to each `rua` — by mail through sekisho's own queue (an
//! attachment, never a link: `crate::reporting`) or by HTTPS POST. What went where is recorded,
//! so a report is sent once per destination and a failed upload is tried again on the next run
//! of the same day.

use std::sync::Arc;

use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_rewrite::MailedReport;
use sekisho_store::{QueueControl, ReportKind, SentReport, Stores};

pub use crate::reporting::{Outcome, ReportError};
use crate::reporting::{Reporter, due, every, gzip};
use crate::session_counts::utc_day;
use crate::tls::TlsClient;
use crate::tlsrpt::{ReportMeta, Rua, build_report, parse_record, post_report};

/// Builds and sends TLS reports.
#[derive(Clone)]
pub struct TlsReports {
    reporter: Reporter,
    config: Config,
    stores: Stores,
    dns: Arc<dyn Dns>,
    tls: TlsClient,
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
        let reporter = Reporter::new(config.clone(), stores.clone(), control, wake);
        Ok(TlsReports { reporter, config, stores, dns, tls })
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
        let destinations = match self.dns.txt(&format!("_smtp._tls.{domain}")).await {
            Ok(answers) => match parse_record(&answers) {
                Ok(d) => d,
                Err(e) => return Ok(Outcome::NotWanted(e.to_string())),
            },
            // Tried again on the next run: nothing is recorded.
            Err(e) if e.is_temporary() => return Ok(Outcome::NotWanted(e.to_string())),
            Err(_) => return Ok(Outcome::NotWanted(crate::tlsrpt::RecordError::Missing.to_string())),
        };
        let pending: Vec<Rua> = self.reporter.pending(ReportKind::Tls, domain, day, destinations).await?;
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
                kind: ReportKind::Tls,
                domain: domain.to_string(),
                day: day.to_string(),
                destination: rua.to_string(),
                report_id: report_id.clone(),
                at: now,
                status,
            };
            self.reporter.record(&record).await?;
            sent.push(record);
        }
        Ok(Outcome::Sent(sent))
    }

    async fn deliver(&self, rua: &Rua, domain: &str, day: &str, report_id: &str, gz: &[u8]) -> String {
        match rua {
            Rua::Mailto(to) => self.reporter.mail(MailedReport::Tls, to, domain, day, report_id, gz).await,
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
        every(shutdown, || self.run_once()).await
    }

    async fn run_once(&self) {
        let now = chrono::Utc::now().timestamp();
        if self.config.tlsrpt.send && due(self.config.tlsrpt.send_at, now) {
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
