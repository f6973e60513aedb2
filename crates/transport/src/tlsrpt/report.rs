//! The aggregate report (RFC 8460 §4): one JSON document per recipient domain and UTC day,
//! built from the day's session counts.

use sekisho_store::{ReportedPolicy, TlsSessionCount};
use serde::Serialize;

/// Who reports, about which day.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// `[reports] organization`.
    pub organization: String,
    /// `[reports] contact`.
    pub contact: String,
    /// The reporting host (the TLS-Report-Submitter).
    pub submitter: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
}

impl ReportMeta {
    /// The report's id: one per domain, day and submitter, so a report sent again is the same.
    pub fn report_id(&self, domain: &str) -> String {
        format!("{}T00:00:00Z_{domain}@{}", self.day, self.submitter)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Report {
    organization_name: String,
    date_range: DateRange,
    contact_info: String,
    report_id: String,
    policies: Vec<PolicyReport>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct DateRange {
    start_datetime: String,
    end_datetime: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyReport {
    policy: PolicyField,
    summary: Summary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failure_details: Vec<FailureDetail>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyField {
    policy_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policy_string: Vec<String>,
    policy_domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mx_host: Vec<String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Summary {
    total_successful_session_count: u64,
    total_failure_session_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct FailureDetail {
    result_type: String,
    receiving_mx_hostname: String,
    receiving_ip: String,
    failed_session_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason_code: Option<String>,
}

/// The report for `domain` from its counts of one day (as the store returns them); None when
/// there were no sessions. One `policies` entry per distinct policy, failures by result type,
/// host and address.
pub fn build_report(meta: &ReportMeta, domain: &str, counts: &[TlsSessionCount]) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let mut policies: Vec<(ReportedPolicy, PolicyReport)> = Vec::new();
    for c in counts {
        let at = match policies.iter().position(|(p, _)| *p == c.policy) {
            Some(i) => i,
            None => {
                policies.push((
                    c.policy.clone(),
                    PolicyReport {
                        policy: PolicyField {
                            policy_type: c.policy.kind.clone(),
                            policy_string: c.policy.strings.clone(),
                            policy_domain: domain.to_string(),
                            mx_host: c.policy.mx_patterns.clone(),
                        },
                        summary: Summary::default(),
                        failure_details: Vec::new(),
                    },
                ));
                policies.len() - 1
            }
        };
        let report = &mut policies[at].1;
        match &c.failure {
            None => report.summary.total_successful_session_count += c.count,
            Some(kind) => {
                report.summary.total_failure_session_count += c.count;
                match report.failure_details.iter_mut().find(|d| {
                    d.result_type == *kind && d.receiving_mx_hostname == c.mx_host && d.receiving_ip == c.receiving_ip
                }) {
                    Some(d) => d.failed_session_count += c.count,
                    None => report.failure_details.push(FailureDetail {
                        result_type: kind.clone(),
                        receiving_mx_hostname: c.mx_host.clone(),
                        receiving_ip: c.receiving_ip.clone(),
                        failed_session_count: c.count,
                        failure_reason_code: c.detail.clone().filter(|d| !d.is_empty()),
                    }),
                }
            }
        }
    }
    let report = Report {
        organization_name: meta.organization.clone(),
        date_range: DateRange {
            start_datetime: format!("{}T00:00:00Z", meta.day),
            end_datetime: format!("{}T23:59:59Z", meta.day),
        },
        contact_info: meta.contact.clone(),
        report_id: meta.report_id(domain),
        policies: policies.into_iter().map(|(_, r)| r).collect(),
    };
    Some(serde_json::to_string_pretty(&report).expect("a report serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kind: &str, failure: Option<&str>, host: &str, n: u64) -> TlsSessionCount {
        TlsSessionCount {
            day: "2026-12-03".into(),
            domain: "example.jp".into(),
            policy: ReportedPolicy {
                kind: kind.into(),
                strings: if kind == "sts" { vec!["version: STSv1".into()] } else { vec![] },
                mx_patterns: if kind == "sts" { vec!["*.example.jp".into()] } else { vec![] },
            },
            mx_host: host.into(),
            receiving_ip: "192.0.2.7".into(),
            failure: failure.map(str::to_string),
            detail: failure.map(|f| format!("{f} at {host}")),
            count: n,
        }
    }

    fn meta() -> ReportMeta {
        ReportMeta {
            organization: "Corp".into(),
            contact: "mailto:tls@corp.test".into(),
            submitter: "gw.corp.test".into(),
            day: "2026-12-03".into(),
        }
    }

    #[test]
    fn counts_become_one_policy_entry_each_with_summed_failures() {
        let json = build_report(
            &meta(),
            "example.jp",
            &[
                count("sts", None, "mx1.example.jp", 10),
                count("sts", Some("certificate-expired"), "mx2.example.jp", 2),
                count("sts", Some("certificate-expired"), "mx2.example.jp", 1),
                count("no-policy-found", None, "mx1.example.jp", 4),
            ],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["report-id"], "2026-12-03T00:00:00Z_example.jp@gw.corp.test");
        assert_eq!(v["date-range"]["end-datetime"], "2026-12-03T23:59:59Z");
        let sts = &v["policies"][0];
        assert_eq!(sts["policy"]["policy-type"], "sts");
        assert_eq!(sts["policy"]["mx-host"][0], "*.example.jp");
        assert_eq!(sts["summary"]["total-successful-session-count"], 10);
        assert_eq!(sts["summary"]["total-failure-session-count"], 3);
        assert_eq!(sts["failure-details"].as_array().unwrap().len(), 1);
        assert_eq!(sts["failure-details"][0]["failed-session-count"], 3);
        assert_eq!(sts["failure-details"][0]["receiving-mx-hostname"], "mx2.example.jp");
        let none = &v["policies"][1];
        assert_eq!(none["policy"]["policy-type"], "no-policy-found");
        assert!(none["policy"].get("policy-string").is_none());
        assert!(none.get("failure-details").is_none());
        assert_eq!(build_report(&meta(), "example.jp", &[]), None);
    }
}
