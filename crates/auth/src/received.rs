//! Reports other organisations send about the organisation's domains, read from the mail that
//! carries them: SMTP TLS reports (RFC 8460: JSON, gzip or zip) and DMARC aggregate reports
//! (RFC 7489: XML, gzip or zip). Parsed by mail-auth within a size limit for the decompressed
//! report; anything else is refused with the reason. Pure: no I/O.

use mail_auth::report::tlsrpt::TlsReport;
use mail_auth::report::{ActionDisposition, DmarcResult, Report};
use sekisho_store::{ReceivedKind, ReceivedReport};

/// Why a message is not a report sekisho can keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAReport {
    #[error("the message carries no TLS or DMARC report")]
    NoReport,
    #[error("the report is larger than {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("the report cannot be read: {0}")]
    Unreadable(String),
}

fn not_a_report(e: mail_auth::report::Error, max: usize) -> NotAReport {
    use mail_auth::report::Error;
    match e {
        Error::NoReportsFound | Error::MailParseError => NotAReport::NoReport,
        Error::ReportTooLarge => NotAReport::TooLarge(max),
        Error::ReportParseError(why) | Error::UncompressError(why) => NotAReport::Unreadable(why),
    }
}

/// Reads the report in `message` (a whole RFC 5322 message), its decompressed report at most
/// `max_size` bytes. The fields about the arrival (`received_at`, `sender`, `message_id`) are
/// left empty for the caller.
pub fn parse_received(message: &[u8], max_size: usize) -> Result<ReceivedReport, NotAReport> {
    // A gzip attachment may be either kind: each parser is tried, and the most telling of
    // their refusals is given (too large, then unreadable, then no report).
    let tls = match TlsReport::parse_rfc5322(message, max_size) {
        Ok(report) => return Ok(tls_summary(&report)),
        Err(e) => not_a_report(e, max_size),
    };
    if tls == NotAReport::TooLarge(max_size) {
        return Err(tls);
    }
    let dmarc = match Report::parse_rfc5322(message, max_size) {
        Ok(report) => return Ok(dmarc_summary(&report)),
        Err(e) => not_a_report(e, max_size),
    };
    Err(match (tls, dmarc) {
        (_, too_large @ NotAReport::TooLarge(_)) => too_large,
        (NotAReport::NoReport, other) => other,
        (unreadable, _) => unreadable,
    })
}

/// Most failure sentences kept per report; the rest are counted in one more line.
const MAX_FAILURE_LINES: usize = 100;

/// The failures' sentences, the most frequent first, at most [`MAX_FAILURE_LINES`].
fn ranked(mut failures: Vec<(u64, String)>) -> Vec<String> {
    failures.sort_by_key(|f| std::cmp::Reverse(f.0));
    let more = failures.len().saturating_sub(MAX_FAILURE_LINES);
    let mut out: Vec<String> = failures.into_iter().take(MAX_FAILURE_LINES).map(|(_, s)| s).collect();
    if more > 0 {
        out.push(format!("... and {more} more"));
    }
    out
}

/// A report's counts, failures and JSON; the caller names who, what and when.
fn counted<T: serde::Serialize>(good: u64, bad: u64, failures: Vec<(u64, String)>, report: &T) -> ReceivedReport {
    ReceivedReport {
        kind: ReceivedKind::Tls,
        organization: String::new(),
        report_id: String::new(),
        domain: String::new(),
        begin: 0,
        end: 0,
        good,
        bad,
        failures: ranked(failures),
        report: serde_json::to_string(report).unwrap_or_default(),
        received_at: 0,
        sender: String::new(),
        message_id: String::new(),
    }
}

fn keyword<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "other".into())
}

fn tls_summary(r: &TlsReport) -> ReceivedReport {
    let (mut good, mut bad) = (0u64, 0u64);
    let mut failures: Vec<(u64, String)> = Vec::new();
    for p in &r.policies {
        good += u64::from(p.summary.total_success);
        bad += u64::from(p.summary.total_failure);
        for f in &p.failure_details {
            let host = f.receiving_mx_hostname.as_deref().unwrap_or("?");
            let ip = f.receiving_ip.map(|i| format!(" ({i})")).unwrap_or_default();
            let n = u64::from(f.failed_session_count);
            failures.push((n, format!("{} at {host}{ip}: {n} session(s)", keyword(&f.result_type))));
        }
    }
    ReceivedReport {
        kind: ReceivedKind::Tls,
        organization: r.organization_name.clone().unwrap_or_default(),
        report_id: r.report_id.clone(),
        domain: r.policies.first().map(|p| p.policy.policy_domain.to_ascii_lowercase()).unwrap_or_default(),
        begin: r.date_range.start_datetime.to_timestamp(),
        end: r.date_range.end_datetime.to_timestamp(),
        ..counted(good, bad, failures, r)
    }
}

fn dmarc_summary(r: &Report) -> ReceivedReport {
    let (mut good, mut bad) = (0u64, 0u64);
    let mut failures: Vec<(u64, String)> = Vec::new();
    for rec in r.records() {
        let n = u64::from(rec.count());
        let (dkim, spf) = (rec.dmarc_dkim_result(), rec.dmarc_spf_result());
        if dkim == DmarcResult::Pass || spf == DmarcResult::Pass {
            good += n;
        } else {
            bad += n;
            let ip = rec.source_ip().map_or("?".to_string(), |i| i.to_string());
            let disposition = match rec.action_disposition() {
                ActionDisposition::None | ActionDisposition::Pass => "delivered",
                ActionDisposition::Quarantine => "quarantined",
                ActionDisposition::Reject => "rejected",
                _ => "disposition unknown",
            };
            failures.push((
                n,
                format!(
                    "{ip}: {n} message(s) failed DMARC (dkim {}, spf {}), {disposition}",
                    keyword(&dkim).to_ascii_lowercase(),
                    keyword(&spf).to_ascii_lowercase()
                ),
            ));
        }
    }
    ReceivedReport {
        kind: ReceivedKind::Dmarc,
        organization: r.org_name().to_string(),
        report_id: r.report_id().to_string(),
        domain: r.domain().to_ascii_lowercase(),
        begin: i64::try_from(r.date_range_begin()).unwrap_or(i64::MAX),
        end: i64::try_from(r.date_range_end()).unwrap_or(i64::MAX),
        ..counted(good, bad, failures, r)
    }
}
