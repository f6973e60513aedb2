//! `sekisho reports [--days N] [--json]`: the TLS and DMARC reports other organisations sent
//! about the organisation's domains (mail to `[reports] receive`), per reporting organisation
//! and kind, those with failures first.

use std::collections::BTreeMap;

use clap::Args;
use sekisho_config::Config;
use sekisho_store::ReceivedReport;

use super::{format_time, print_json};
use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

/// Most reports read at once.
const MAX_REPORTS: u32 = 10_000;

#[derive(Args)]
pub(crate) struct ReportsArgs {
    /// Reports received in the last N days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[arg(long)]
    json: bool,
}

/// One reporting organisation's reports of one kind about one domain.
#[derive(serde::Serialize)]
struct Group<'a> {
    organization: &'a str,
    kind: &'a str,
    domain: &'a str,
    reports: usize,
    good: u64,
    bad: u64,
    /// Failures of every report, most frequent first within each report, newest report first.
    failures: Vec<&'a str>,
    last_received: i64,
}

/// The groups, those with failures first (most failures first), then by organisation.
fn groups(reports: &[ReceivedReport]) -> Vec<Group<'_>> {
    let mut by: BTreeMap<(&str, &str, &str), Group> = BTreeMap::new();
    for r in reports {
        let g = by.entry((&r.organization, r.kind.as_str(), &r.domain)).or_insert_with(|| Group {
            organization: &r.organization,
            kind: r.kind.as_str(),
            domain: &r.domain,
            reports: 0,
            good: 0,
            bad: 0,
            failures: Vec::new(),
            last_received: r.received_at,
        });
        g.reports += 1;
        g.good = g.good.saturating_add(r.good);
        g.bad = g.bad.saturating_add(r.bad);
        g.failures.extend(r.failures.iter().map(String::as_str));
        g.last_received = g.last_received.max(r.received_at);
    }
    let mut out: Vec<Group> = by.into_values().collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.bad));
    out
}

pub(crate) async fn run(args: ReportsArgs, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    let (stores, _) = super::open_store(config, source, super::DataDir::MustExist).await?;
    let since = chrono::Utc::now().timestamp() - i64::from(args.days) * 86_400;
    let reports = stores
        .reports
        .received_reports(since, MAX_REPORTS, args.json)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let groups = groups(&reports);
    if args.json {
        return print_json(&serde_json::json!({ "days": args.days, "groups": groups, "reports": reports }));
    }
    if groups.is_empty() {
        outln!("no report received in the last {} day(s)", args.days);
        if config.reports.receive.is_empty() {
            outln!("([reports] receive names no address where reports arrive)");
        }
    }
    use sekisho_policy::text::visible;
    for g in &groups {
        let (ok, failed) = if g.kind == "tls" { ("successful sessions", "failed") } else { ("passed DMARC", "failed") };
        outln!(
            "{} ({} reports) about {}: {} report(s), {} {ok}, {} {failed}; last {}",
            visible(g.organization),
            g.kind,
            visible(g.domain),
            g.reports,
            g.good,
            g.bad,
            format_time(&config.time_zone, g.last_received)
        );
        for f in g.failures.iter().take(20) {
            outln!("    {}", visible(f));
        }
        if g.failures.len() > 20 {
            outln!("    ... and {} more (--json lists them all)", g.failures.len() - 20);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_store::ReceivedKind;

    fn report(org: &str, kind: ReceivedKind, good: u64, bad: u64) -> ReceivedReport {
        ReceivedReport {
            kind,
            organization: org.into(),
            report_id: format!("{org}-{good}"),
            domain: "corp.test".into(),
            begin: 0,
            end: 1,
            good,
            bad,
            failures: (0..bad.min(1)).map(|_| format!("{org} failure")).collect(),
            report: "{}".into(),
            received_at: 10,
            sender: String::new(),
            message_id: String::new(),
        }
    }

    #[test]
    fn organisations_with_failures_come_first_and_their_reports_add_up() {
        let reports = [
            report("a.example", ReceivedKind::Dmarc, 10, 0),
            report("b.example", ReceivedKind::Tls, 5, 2),
            report("b.example", ReceivedKind::Tls, 7, 1),
            report("b.example", ReceivedKind::Dmarc, 3, 0),
        ];
        let g = groups(&reports);
        let seen: Vec<(&str, &str, usize, u64, u64)> =
            g.iter().map(|g| (g.organization, g.kind, g.reports, g.good, g.bad)).collect();
        assert_eq!(
            seen,
            [("b.example", "tls", 2, 12, 3), ("a.example", "dmarc", 1, 10, 0), ("b.example", "dmarc", 1, 3, 0)]
        );
        assert_eq!(g[0].failures, ["b.example failure", "b.example failure"]);
    }
}
