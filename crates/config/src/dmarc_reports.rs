//! `[dmarc]`: the DMARC aggregate reports (RFC 7489 §7.2) sekisho sends to the domains that
//! ask for them (`rua=`) about the mail it received claiming to come from them, and the failure
//! reports (`ruf=`, RFC 7489 §7.3), off by default: they carry parts of messages (redacted
//! headers, never bodies).

use serde::Deserialize;

use crate::digest_time::DigestTime;
use crate::duration::Duration;
use crate::reports::ReportsConfig;

/// The reporting period. Only daily (UTC days, RFC 7489's default `ri=86400`) exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReportPeriod {
    /// One report per UTC day.
    #[default]
    Daily,
}

/// `[dmarc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmarcReportsConfig {
    /// Send aggregate reports (needs `org_name` and `contact`, or `[reports] organization` and
    /// `contact`). Results are counted either way, so `sekisho dmarc preview` works before.
    pub reports: bool,
    /// The organisation named in every report (`org_name`); empty: `[reports] organization`.
    pub org_name: String,
    /// The report's `email` (contact) address; empty: `[reports] contact`.
    pub contact: String,
    /// The reporting period: `"daily"`.
    pub period: ReportPeriod,
    /// The UTC time of day after which yesterday's reports go out ("00:40").
    pub send_at: DigestTime,
    /// How long the counted results and the record of sent reports are kept.
    pub keep: Duration,
    /// Send failure reports (RFC 6591, redacted) to the domains whose record asks for them
    /// (`ruf=`), as the failing mail arrives (needs `org_name` and `contact` as `reports`).
    pub failure_reports: bool,
    /// At most one failure report about a domain per this interval.
    pub failure_interval: Duration,
    /// At most this many failure reports per UTC day, all domains together.
    pub failure_daily_max: u32,
}

impl Default for DmarcReportsConfig {
    fn default() -> Self {
        DmarcReportsConfig {
            reports: false,
            org_name: String::new(),
            contact: String::new(),
            period: ReportPeriod::Daily,
            send_at: DigestTime::at(0, 40).expect("a time of day"),
            keep: Duration(std::time::Duration::from_secs(30 * 86_400)),
            failure_reports: false,
            failure_interval: Duration(std::time::Duration::from_secs(3600)),
            failure_daily_max: 100,
        }
    }
}

impl DmarcReportsConfig {
    /// The organisation reports name.
    pub fn organization<'a>(&'a self, reports: &'a ReportsConfig) -> &'a str {
        if self.org_name.trim().is_empty() { &reports.organization } else { &self.org_name }
    }

    /// The contact reports give; an address (`mailto:` taken off).
    pub fn contact_address<'a>(&'a self, reports: &'a ReportsConfig) -> &'a str {
        let c = if self.contact.trim().is_empty() { &reports.contact } else { &self.contact };
        c.trim().strip_prefix("mailto:").unwrap_or(c.trim())
    }

    /// The first problem: its key and a sentence.
    pub(crate) fn problem(&self, reports: &ReportsConfig) -> Option<(String, String)> {
        if self.reports || self.failure_reports {
            let key = if self.reports { "reports" } else { "failure_reports" };
            if self.organization(reports).trim().is_empty() {
                return Some((
                    "dmarc.org_name".into(),
                    format!("must be set (or [reports] organization) when [dmarc] {key} = true: every report names it"),
                ));
            }
            if self.contact_address(reports).is_empty() {
                return Some((
                    "dmarc.contact".into(),
                    format!("must be set (or [reports] contact) when [dmarc] {key} = true: every report gives it"),
                ));
            }
        }
        if self.failure_daily_max == 0 {
            return Some((
                "dmarc.failure_daily_max".into(),
                "must be at least 1 (failure_reports = false sends none)".into(),
            ));
        }
        if self.failure_interval.0.as_secs() < 60 {
            return Some(("dmarc.failure_interval".into(), "must be at least 1 minute".into()));
        }
        if self.reports && self.send_at.minutes().is_none() {
            return Some(("dmarc.send_at".into(), "must be a time of day such as \"00:40\"".into()));
        }
        if self.keep.0.as_secs() < 2 * 86_400 {
            return Some(("dmarc.keep".into(), "must be at least 2 days: yesterday's results are sent today".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn reports_need_an_organisation_and_a_contact_named_on_their_line() {
        let text = "hostname = \"gw.corp.test\"\n\n[dmarc]\nreports = true\ncontact = \"dmarc@corp.test\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3: dmarc.org_name: must be set"), "{e}");
        let text = "hostname = \"gw.corp.test\"\n[dmarc]\nreports = true\norg_name = \"Corp\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2: dmarc.contact: must be set"), "{e}");
        let ok = Config::parse(
            "hostname = \"gw.corp.test\"\n[dmarc]\nreports = true\n[reports]\norganization = \"Corp\"\n\
             contact = \"mailto:postmaster@corp.test\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(ok.dmarc.organization(&ok.reports), "Corp");
        assert_eq!(ok.dmarc.contact_address(&ok.reports), "postmaster@corp.test");
        assert_eq!(ok.dmarc.send_at.minutes(), Some(40));
        let defaults = Config::parse("hostname = \"gw.corp.test\"\n", Path::new("t.toml")).unwrap();
        assert!(!defaults.dmarc.reports, "off by default");
        assert!(!defaults.dmarc.failure_reports, "failure reports are off by default");
        assert_eq!((defaults.dmarc.failure_interval.0.as_secs(), defaults.dmarc.failure_daily_max), (3600, 100));
        let text = "hostname = \"gw.corp.test\"\n[dmarc]\nfailure_reports = true\norg_name = \"Corp\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:2: dmarc.contact: must be set"), "{e}");
        assert!(e.contains("failure_reports = true"), "{e}");
        let text = "hostname = \"gw.corp.test\"\n[dmarc]\nfailure_interval = \"10s\"\n";
        let e = Config::parse(text, Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:3: dmarc.failure_interval: must be at least 1 minute"), "{e}");
        let e = Config::parse("[dmarc]\nperiod = \"hourly\"\n", Path::new("t.toml")).unwrap_err().to_string();
        assert!(e.contains("dmarc.period") || e.contains("hourly"), "{e}");
    }
}
