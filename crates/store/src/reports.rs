//! What sekisho reports to other domains: the TLS sessions it had with each recipient domain,
//! counted per day (RFC 8460 aggregate reports are built from these counts), the DMARC results
//! of the mail it received (RFC 7489 aggregate reports, `crate::dmarc_rows`), and which reports
//! went out.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::dmarc_rows::DmarcCount;
use crate::error::StoreError;

/// Which kind of report sekisho sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// An SMTP TLS report (RFC 8460) to a recipient domain.
    Tls,
    /// A DMARC aggregate report (RFC 7489 §7.2) to a sender's domain.
    Dmarc,
}

impl ReportKind {
    /// The stored keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Tls => "tls",
            ReportKind::Dmarc => "dmarc",
        }
    }
}

/// The TLS policy a session was held to, as a TLS-RPT report names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportedPolicy {
    /// `sts`, `tlsa` or `no-policy-found`.
    pub kind: String,
    /// The policy as published: the MTA-STS policy's lines or the TLSA records.
    pub strings: Vec<String>,
    /// The MTA-STS policy's `mx` patterns (empty for other policies).
    pub mx_patterns: Vec<String>,
}

/// One day's count of like sessions to one recipient domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSessionCount {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The recipient (policy) domain, lower case.
    pub domain: String,
    pub policy: ReportedPolicy,
    /// The MX host the session went to.
    pub mx_host: String,
    /// Its address.
    pub receiving_ip: String,
    /// The RFC 8460 result type of a failed session; None for a successful one.
    pub failure: Option<String>,
    /// Why it failed, in words (the first seen).
    pub detail: Option<String>,
    pub count: u64,
}

/// A report that was sent (or could not be), one per kind, domain, day and destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentReport {
    pub kind: ReportKind,
    pub domain: String,
    pub day: String,
    /// The `rua` URI it went to.
    pub destination: String,
    pub report_id: String,
    /// Unix seconds.
    pub at: i64,
    /// `queued as ID` (mailto), `posted` (https), `failed: why` (tried again on the next run)
    /// or `not sent: why` (never tried again, e.g. larger than the destination accepts).
    pub status: String,
}

/// Counting TLS sessions and remembering sent reports.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Adds counts (one transaction; like rows are summed).
    async fn count_tls_sessions(&self, counts: &[TlsSessionCount]) -> Result<(), StoreError>;
    /// The domains with sessions counted on `day`.
    async fn tls_report_domains(&self, day: &str) -> Result<Vec<String>, StoreError>;
    /// The counts of one domain on one day.
    async fn tls_sessions(&self, day: &str, domain: &str) -> Result<Vec<TlsSessionCount>, StoreError>;
    /// Records a report sent (or failed) to one destination.
    async fn record_sent_report(&self, report: &SentReport) -> Result<(), StoreError>;
    /// The reports of one kind recorded for one domain and day.
    async fn sent_reports(&self, kind: ReportKind, domain: &str, day: &str) -> Result<Vec<SentReport>, StoreError>;
    /// Removes TLS session counts and records of TLS reports of days before `day`; returns how
    /// many rows went.
    async fn purge_tls_sessions(&self, before_day: &str) -> Result<u64, StoreError>;
    /// Adds DMARC counts (one transaction; like rows are summed).
    async fn count_dmarc_rows(&self, counts: &[DmarcCount]) -> Result<(), StoreError>;
    /// The policy domains with DMARC rows counted on `day`.
    async fn dmarc_report_domains(&self, day: &str) -> Result<Vec<String>, StoreError>;
    /// The DMARC rows of one policy domain on one day.
    async fn dmarc_rows(&self, day: &str, domain: &str) -> Result<Vec<DmarcCount>, StoreError>;
    /// Removes DMARC rows and records of DMARC reports of days before `day`; returns how many
    /// rows went.
    async fn purge_dmarc_rows(&self, before_day: &str) -> Result<u64, StoreError>;
    /// Keeps a report another organisation sent; false when the same report (kind,
    /// organisation, id) was kept before.
    async fn keep_received_report(&self, report: &ReceivedReport) -> Result<bool, StoreError>;
    /// The reports received since `since` (unix seconds), newest first, at most `limit`; the
    /// whole report (`report`) only `with_report`, else empty.
    async fn received_reports(
        &self,
        since: i64,
        limit: u32,
        with_report: bool,
    ) -> Result<Vec<ReceivedReport>, StoreError>;
    /// Removes the reports received before `before` (unix seconds); how many went.
    async fn purge_received_reports(&self, before: i64) -> Result<u64, StoreError>;
}

/// What kind of report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceivedKind {
    /// An SMTP TLS report (RFC 8460) about mail to the organisation's domains.
    Tls,
    /// A DMARC aggregate report (RFC 7489 §7.2) about mail claiming the organisation's domains.
    Dmarc,
}

impl ReceivedKind {
    /// The stored keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceivedKind::Tls => "tls",
            ReceivedKind::Dmarc => "dmarc",
        }
    }
}

/// A report another organisation sent about the organisation's domains, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedReport {
    pub kind: ReceivedKind,
    /// The reporting organisation.
    pub organization: String,
    pub report_id: String,
    /// The domain it is about (TLS: the first policy's domain; DMARC: the published policy's).
    pub domain: String,
    /// The reporting period, unix seconds.
    pub begin: i64,
    pub end: i64,
    /// Successful sessions (TLS) or messages that passed DMARC.
    pub good: u64,
    /// Failed sessions (TLS) or messages that failed DMARC.
    pub bad: u64,
    /// The failures in words, most frequent first ("certificate-expired at mx1.corp.test
    /// (192.0.2.1): 3 sessions", "203.0.113.9: 12 messages failed DMARC (dkim fail, spf fail),
    /// quarantine").
    pub failures: Vec<String>,
    /// The whole report as parsed, JSON.
    pub report: String,
    /// When it arrived (unix seconds), from whom (envelope sender) and as which queued message.
    pub received_at: i64,
    pub sender: String,
    pub message_id: String,
}
