//! Sending the daily DMARC aggregate reports (RFC 7489 §7.2): for each domain whose DMARC
//! record (as seen when its mail arrived) has `rua=` and that inbound mail claimed on a UTC day,
//! the report built from the day's rows goes by mail to each `mailto:` destination, through
//! sekisho's own queue (`crate::reporting`: an attachment, never a link; DKIM-signed when a
//! `[[dkim]]` table covers the From domain). A destination outside the policy domain's
//! organisation gets it only when `<domain>._report._dmarc.<its domain>` authorises it (§7.1);
//! one whose `!size` limit is smaller than the report does not get it. What went where is
//! recorded: a report is sent once per destination. Failure reports (`ruf`) are sent as mail
//! arrives (`sekisho_receive`'s `failure_reports`).

use std::sync::Arc;

use sekisho_auth::aggregate::{ReportMeta, build_report, destinations, policy_of, refusal};
use sekisho_config::Config;
use sekisho_dns::Dns;
use sekisho_rewrite::MailedReport;
use sekisho_store::{QueueControl, ReportKind, SentReport, Stores};

pub use crate::reporting::{Outcome, ReportError};
use crate::reporting::{Reporter, day_start, due, every, gzip};
use crate::session_counts::utc_day;

/// Builds and sends DMARC aggregate reports.
#[derive(Clone)]
pub struct DmarcReports {
    reporter: Reporter,
    dns: Arc<dyn Dns>,
}

impl DmarcReports {
    /// A sender of the rows in `stores`, queuing report mail through `control` (then calling
    /// `wake`), looking authorisation records up with `dns`.
    pub fn new(
        config: Config,
        stores: Stores,
        control: QueueControl,
        dns: Arc<dyn Dns>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> DmarcReports {
        DmarcReports { reporter: Reporter::new(config, stores, control, wake), dns }
    }

    fn meta(&self, day: &str) -> ReportMeta {
        let c = &self.reporter.config;
        ReportMeta {
            org_name: c.dmarc.organization(&c.reports).to_string(),
            email: c.dmarc.contact_address(&c.reports).to_string(),
            submitter: c.hostname.clone(),
            day: day.to_string(),
            begin: day_start(day),
        }
    }

    /// The report (XML) `domain` would get for `day`, None without mail claiming it that day.
    pub async fn preview(&self, domain: &str, day: &str) -> Result<Option<String>, ReportError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let rows = self.reporter.stores.reports.dmarc_rows(day, &domain).await?;
        Ok(build_report(&self.meta(day), &domain, &rows))
    }

    /// Sends the reports of `day` that are not sent yet, domain by domain.
    pub async fn send_day(&self, day: &str, now: i64) -> Result<Vec<(String, Outcome)>, ReportError> {
        let domains = self.reporter.stores.reports.dmarc_report_domains(day).await?;
        let mut out = Vec::new();
        for domain in domains {
            let outcome = self.send_domain(&domain, day, now).await?;
            out.push((domain, outcome));
        }
        Ok(out)
    }

    async fn send_domain(&self, domain: &str, day: &str, now: i64) -> Result<Outcome, ReportError> {
        let rows = self.reporter.stores.reports.dmarc_rows(day, domain).await?;
        let meta = self.meta(day);
        let (Some(policy), Some(xml)) = (policy_of(&rows), build_report(&meta, domain, &rows)) else {
            return Ok(Outcome::AlreadySent);
        };
        let all = destinations(&policy.rua);
        if all.is_empty() {
            return Ok(Outcome::NotWanted("the DMARC record has no mailto: rua destination".into()));
        }
        let pending = self.reporter.pending(ReportKind::Dmarc, domain, day, all).await?;
        if pending.is_empty() {
            return Ok(Outcome::AlreadySent);
        }
        let report_id = meta.report_id(domain);
        let gz = gzip(xml.as_bytes());
        let mut sent = Vec::new();
        for d in pending {
            let status = match refusal(self.dns.as_ref(), domain, &d, gz.len() as u64, "compressed report").await {
                Some(why) => why,
                None => self.reporter.mail(MailedReport::Dmarc, &d.address, domain, day, &report_id, &gz).await,
            };
            let record = SentReport {
                kind: ReportKind::Dmarc,
                domain: domain.to_string(),
                day: day.to_string(),
                destination: d.uri.clone(),
                report_id: report_id.clone(),
                at: now,
                status,
            };
            self.reporter.record(&record).await?;
            sent.push(record);
        }
        Ok(Outcome::Sent(sent))
    }

    /// Until `shutdown`: sends yesterday's reports after `[dmarc] send_at` (UTC) when `[dmarc]
    /// reports`, and, whether or not it sends, drops rows older than `[dmarc] keep`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        every(shutdown, || self.run_once()).await
    }

    async fn run_once(&self) {
        let config = &self.reporter.config.dmarc;
        let now = chrono::Utc::now().timestamp();
        if config.reports && due(config.send_at, now) {
            let yesterday = utc_day(now - 86_400);
            if let Err(e) = self.send_day(&yesterday, now).await {
                tracing::error!(error = %e, "cannot send the DMARC reports");
            }
        }
        let keep = config.keep.0.as_secs() as i64;
        if let Err(e) = self.reporter.stores.reports.purge_dmarc_rows(&utc_day(now - keep)).await {
            tracing::error!(error = %e, "cannot purge old DMARC report rows");
        }
    }
}
