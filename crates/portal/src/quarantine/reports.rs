//! `/sent/reports`, for administrators only: the TLS and DMARC reports other organisations
//! sent about the organisation's domains (mail to `[reports] receive`), newest first, those
//! with failures marked, each with its failures in words — what `sekisho reports` prints.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_store::ReceivedReport;

use super::texts::QuarantineTexts;
use crate::Portal;
use crate::lang::Texts;
use crate::page::{now, render, unavailable};

/// Reports shown at most (the last 30 days').
const SHOWN: u32 = 500;

/// What the page says.
pub struct ReportTexts {
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub organization: &'static str,
    pub kind: &'static str,
    pub domain: &'static str,
    pub period: &'static str,
    pub good: &'static str,
    pub bad: &'static str,
    pub failures: &'static str,
}

const JA: ReportTexts = ReportTexts {
    heading: "受け取ったレポート（管理者）",
    intro: "他組織から届いた、当組織のドメインについての TLS レポート（RFC 8460）と DMARC 集計レポート（過去30日、新しい順）。失敗を含むものを先頭に示します。",
    empty: "過去30日に受け取ったレポートはありません。",
    organization: "報告元",
    kind: "種類",
    domain: "ドメイン",
    period: "期間（UTC）",
    good: "成功",
    bad: "失敗",
    failures: "失敗の内訳",
};

const EN: ReportTexts = ReportTexts {
    heading: "Reports received (administration)",
    intro: "TLS reports (RFC 8460) and DMARC aggregate reports other organisations sent about the organisation's domains in the last 30 days, those with failures first, then the newest.",
    empty: "No report was received in the last 30 days.",
    organization: "From",
    kind: "Kind",
    domain: "Domain",
    period: "Period (UTC)",
    good: "Passed",
    bad: "Failed",
    failures: "Failures",
};

fn report_texts(t: &Texts) -> &'static ReportTexts {
    if t.lang == "ja" { &JA } else { &EN }
}

/// One report as the page shows it: outsiders' text made visible (escaped again by the
/// template).
pub struct ReportRow {
    pub organization: String,
    pub kind: &'static str,
    pub domain: String,
    pub period: String,
    pub good: u64,
    pub bad: u64,
    pub failures: Vec<String>,
}

/// The rows, failures first, then newest first. Pure.
pub fn rows(reports: &[ReceivedReport]) -> Vec<ReportRow> {
    use sekisho_policy::text::visible;
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0).map_or(t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
    };
    let mut sorted: Vec<&ReceivedReport> = reports.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse((r.bad > 0, r.received_at)));
    sorted
        .into_iter()
        .map(|r| ReportRow {
            organization: visible(&r.organization).into_owned(),
            kind: if r.kind == sekisho_store::ReceivedKind::Tls { "TLS-RPT" } else { "DMARC" },
            domain: visible(&r.domain).into_owned(),
            period: format!("{} – {}", day(r.begin), day(r.end)),
            good: r.good,
            bad: r.bad,
            failures: r.failures.iter().take(20).map(|f| visible(f).into_owned()).collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    r: &'static ReportTexts,
    who: String,
    rows: Vec<ReportRow>,
}

/// `GET /sent/reports`.
pub async fn list(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let reports = match portal.inner.stores.reports.received_reports(now() - 30 * 86_400, SHOWN, false).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    render(StatusCode::OK, &ReportsPage { t, q, r: report_texts(t), who: session.sender, rows: rows(&reports) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_store::ReceivedKind;

    #[test]
    fn reports_with_failures_come_first_and_outsiders_text_is_made_visible() {
        let report = |org: &str, bad: u64, at: i64| ReceivedReport {
            kind: ReceivedKind::Dmarc,
            organization: org.into(),
            report_id: "1".into(),
            domain: "corp.test".into(),
            begin: 0,
            end: 86_399,
            good: 1,
            bad,
            failures: vec!["x\u{202e}y".into()],
            report: "{}".into(),
            received_at: at,
            sender: String::new(),
            message_id: String::new(),
        };
        let r = rows(&[report("new-ok", 0, 30), report("old-bad", 2, 10), report("newer-bad", 1, 20)]);
        let order: Vec<&str> = r.iter().map(|r| r.organization.as_str()).collect();
        assert_eq!(order, ["newer-bad", "old-bad", "new-ok"]);
        assert_eq!(r[0].period, "1970-01-01 00:00 – 1970-01-01 23:59");
        assert!(!r[0].failures[0].contains('\u{202e}'), "a bidi override is not shown as is");
    }
}
