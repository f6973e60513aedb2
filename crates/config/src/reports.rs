//! `[reports]` (who sekisho says it is in the reports it sends to other domains) and
//! `[tlsrpt]` (the daily SMTP TLS reports, RFC 8460).

use serde::Deserialize;

use crate::digest_time::DigestTime;
use crate::duration::Duration;
use crate::size::Size;

/// `[reports]`: the reporting organisation, shared by every kind of report sekisho sends, and
/// where other organisations' reports arrive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// The organisation's name as reports show it ("Example Corp").
    pub organization: String,
    /// Where the receiving domain can reach whoever runs sekisho ("mailto:postmaster@corp.test"
    /// or an address).
    pub contact: String,
    /// The sender address of report mail; empty: `noreply-reports@` the host name.
    pub from: String,
    /// Addresses of the local domains where other organisations' TLS and DMARC reports arrive
    /// (the `rua` the organisation publishes): mail to them is read and kept as reports
    /// (`sekisho reports`) instead of being passed to the internal server.
    pub receive: Vec<String>,
    /// Largest report accepted once decompressed.
    pub max_report_size: Size,
    /// Keep only reports whose mail carries a DKIM signature that verified (RFC 8460 §3 asks
    /// receivers to ignore unsigned reports); applies when `[authentication]` checked the
    /// mail.
    pub require_dkim: bool,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            organization: String::new(),
            contact: String::new(),
            from: String::new(),
            receive: Vec::new(),
            max_report_size: Size(20 << 20),
            require_dkim: true,
        }
    }
}

/// `[tlsrpt]`: daily aggregate reports of the TLS sessions with each recipient domain that
/// publishes a `_smtp._tls` record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsRptConfig {
    /// Send the reports (needs `[reports] organization` and `contact`). Sessions are counted
    /// either way, so `sekisho tlsrpt preview` works before reports are turned on.
    pub send: bool,
    /// The UTC time of day after which yesterday's reports go out ("00:30").
    pub send_at: DigestTime,
    /// Time for one HTTPS report upload.
    pub https_timeout: Duration,
    /// Largest compressed report sent; a larger one is not sent (and logged).
    pub max_report_size: Size,
    /// How long session counts and the record of sent reports are kept.
    pub keep: Duration,
}

impl Default for TlsRptConfig {
    fn default() -> Self {
        TlsRptConfig {
            send: false,
            send_at: DigestTime::at(0, 30).expect("a time of day"),
            https_timeout: Duration(std::time::Duration::from_secs(30)),
            max_report_size: Size(10 << 20),
            keep: Duration(std::time::Duration::from_secs(30 * 86_400)),
        }
    }
}

impl ReportsConfig {
    /// True when mail to `address` is a report to read and keep.
    pub fn receives(&self, address: &str) -> bool {
        self.receive.iter().any(|a| a.eq_ignore_ascii_case(address))
    }

    /// The sender address of report mail.
    pub fn from_address(&self, hostname: &str) -> String {
        if self.from.is_empty() { format!("noreply-reports@{hostname}") } else { self.from.clone() }
    }
}

/// The first problem of the two tables: its key and a sentence.
pub(crate) fn problem(reports: &ReportsConfig, tlsrpt: &TlsRptConfig) -> Option<(String, String)> {
    if tlsrpt.send {
        for (key, value) in [("reports.organization", &reports.organization), ("reports.contact", &reports.contact)] {
            if value.trim().is_empty() {
                return Some((
                    key.into(),
                    "must be set when [tlsrpt] send = true: the receiving domains read it in every report".into(),
                ));
            }
        }
        if tlsrpt.send_at.minutes().is_none() {
            return Some(("tlsrpt.send_at".into(), "must be a time of day such as \"00:30\"".into()));
        }
    }
    if !reports.from.is_empty() && reports.from.rsplit_once('@').is_none_or(|(l, d)| l.is_empty() || d.is_empty()) {
        return Some(("reports.from".into(), format!("`{}` is not an address", reports.from)));
    }
    if let Some(a) =
        reports.receive.iter().find(|a| a.rsplit_once('@').is_none_or(|(l, d)| l.is_empty() || d.is_empty()))
    {
        return Some(("reports.receive".into(), format!("`{a}` is not an address")));
    }
    if reports.max_report_size.0 == 0 {
        return Some(("reports.max_report_size".into(), "must be at least 1".into()));
    }
    if tlsrpt.https_timeout.0.is_zero() {
        return Some(("tlsrpt.https_timeout".into(), "must be more than 0".into()));
    }
    if tlsrpt.max_report_size.0 == 0 {
        return Some(("tlsrpt.max_report_size".into(), "must be at least 1".into()));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn sending_reports_needs_an_organisation_and_a_contact_named_on_their_line() {
        let text = "hostname = \"gw.corp.test\"\n\n[tlsrpt]\nsend = true\n\n[reports]\norganization = \"Corp\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:6: reports.contact: must be set when [tlsrpt] send = true"), "{e}");
        let ok = Config::parse(
            "hostname = \"gw.corp.test\"\n[tlsrpt]\nsend = true\n[reports]\norganization = \"Corp\"\n\
             contact = \"mailto:postmaster@corp.test\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(ok.tlsrpt.send_at.minutes(), Some(30));
        assert_eq!(ok.reports.from_address(&ok.hostname), "noreply-reports@gw.corp.test");
        let e = Config::parse("[reports]\nfrom = \"nobody\"\n", Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2: reports.from: `nobody` is not an address"), "{e}");
    }
}
