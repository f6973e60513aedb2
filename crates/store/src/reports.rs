//! What sekisho reports to other domains: the TLS sessions it had with each recipient domain,
//! counted per day (RFC 8460 aggregate reports are built from these counts), and which reports
//! went out.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

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

/// A report that was sent (or could not be), one per domain, day and destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentReport {
    pub domain: String,
    pub day: String,
    /// The `rua` URI it went to.
    pub destination: String,
    pub report_id: String,
    /// Unix seconds.
    pub at: i64,
    /// `queued` (mailto, queued as the given message), `posted` (https), or `failed: why`.
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
    /// The reports recorded for one domain and day.
    async fn sent_reports(&self, domain: &str, day: &str) -> Result<Vec<SentReport>, StoreError>;
    /// Removes counts and records of days before `day`; returns how many rows went.
    async fn purge_tls_sessions(&self, before_day: &str) -> Result<u64, StoreError>;
}
