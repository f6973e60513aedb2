//! What sekisho reports about mail it received (RFC 7489 §7.2 aggregate reports): the DMARC
//! results of inbound mail, counted per UTC day, policy domain, source address, disposition and
//! DKIM/SPF results. The aggregation keeps these rows in memory (`crate::Counts`) and writes
//! them in batches; the daily report is built from the stored rows.

use serde::{Deserialize, Serialize};

/// The DMARC record a domain published, as the report's `policy_published` shows it, with the
/// destinations it asked aggregate reports for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublishedDmarc {
    /// `adkim`: `r` or `s`.
    pub adkim: String,
    /// `aspf`: `r` or `s`.
    pub aspf: String,
    /// `p`: `none`, `quarantine` or `reject`.
    pub p: String,
    /// `sp` (`p` when absent).
    pub sp: String,
    /// `pct` (100 when absent).
    pub pct: u8,
    /// `fo` (`0` when absent).
    pub fo: String,
    /// The `rua` URIs as published, each with its `!size` suffix if any.
    pub rua: Vec<String>,
}

/// One DKIM signature's result, uninterpreted with respect to DMARC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DkimAuth {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `pass`, `fail`, `neutral`, `temperror`, `permerror`, `none` or `policy`.
    pub result: String,
}

/// The SPF result, uninterpreted with respect to DMARC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpfAuth {
    /// The domain checked.
    pub domain: String,
    /// `mfrom` (the envelope sender) or `helo` (the null sender's HELO name).
    pub scope: String,
    /// `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror` or `permerror`.
    pub result: String,
}

/// What like messages share in a DMARC aggregate report: one `record` of the report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DmarcRow {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The policy domain (the header From's domain), lower case.
    pub domain: String,
    /// The record as seen when the message arrived.
    pub policy: PublishedDmarc,
    /// The connecting client's address.
    pub source_ip: String,
    /// What was done: `none`, `quarantine` or `reject`.
    pub disposition: String,
    /// DKIM aligned with the header From: `pass` or `fail`.
    pub dkim: String,
    /// SPF aligned with the header From: `pass` or `fail`.
    pub spf: String,
    /// Why the published policy was not applied in full (RFC 7489 `PolicyOverrideType`:
    /// `sampled_out`, `trusted_forwarder`, `forwarded`, `local_policy`).
    pub reason: Option<String>,
    /// The envelope sender's domain (the HELO name for the null sender).
    pub envelope_from: String,
    /// The header From's domain.
    pub header_from: String,
    /// Every DKIM signature's result.
    pub dkim_results: Vec<DkimAuth>,
    /// The SPF result.
    pub spf_result: SpfAuth,
}

/// A row and how many messages it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcCount {
    pub row: DmarcRow,
    pub count: u64,
}
