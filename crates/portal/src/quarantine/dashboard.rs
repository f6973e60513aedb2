//! `/sent/dashboard`, for administrators only: the queue (recipients by state, the age of the
//! oldest queued message), the recent delivery attempts each linked to its message's page
//! (`/sent/m/{id}`, which administrators may open for any message), the recipients delivered
//! per assurance level per hour over 24 hours and per day over 30 days as SVG charts
//! ([`crate::chart`]) with their numbers in tables, the domains whose TLS got worse (the
//! partner TLS report's `worse` trend and suspected downgrades, linked to `/sent/partners/
//! {domain}`), and the links' and the quarantine's counts. Every figure is one bounded query.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_partners::{Partner, Reason, Trend};
use sekisho_store::{AssuranceCount, LinkCounts, LinkEvent, QueueDepth, RecentDelivery};

use super::dashboard_texts::{DashboardTexts, dashboard_texts};
use super::texts::QuarantineTexts;
use crate::Portal;
use crate::chart::{Bar, Chart, LEVELS, percent, svg};
use crate::lang::Texts;
use crate::page::{now, render, unavailable};

/// Attempts the page lists.
const RECENT: u32 = 20;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// The long window: the chart's days, the links', the quarantine's and the partners'.
const DAYS: i64 = 30;

/// One attempt as the table shows it.
pub struct RecentRow {
    pub id: String,
    pub when: String,
    pub domain: String,
    pub origin: String,
    pub assurance: String,
    pub tls: String,
    pub outcome: String,
}

/// One bucket in a chart's table: its label, "count (share%)" per level, the total.
pub struct NumberRow {
    pub label: String,
    pub cells: Vec<String>,
    pub total: u64,
}

/// One domain whose TLS got worse.
pub struct WorseRow {
    pub domain: String,
    pub reasons: String,
    pub trend: &'static str,
    pub since: String,
}

/// A chart and its numbers.
pub struct ChartView {
    pub svg: String,
    pub rows: Vec<NumberRow>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    d: &'static DashboardTexts,
    who: String,
    depth: QueueDepth,
    oldest: String,
    recent: Vec<RecentRow>,
    day: ChartView,
    month: ChartView,
    worse: Vec<WorseRow>,
    links: LinkCounts,
    held: usize,
    released: u64,
    deleted: u64,
}

/// The start of the `width`-second period (an hour, a day) `unix` is in, in a zone `offset`
/// seconds east of UTC.
pub fn period_start(unix: i64, width: i64, offset: i64) -> i64 {
    (unix + offset).div_euclid(width) * width - offset
}

/// `n` bars from the store's counts, bucket `i` labelled `label(i)`; counts outside 0..n
/// are left out. Pure.
pub fn bars(rows: &[AssuranceCount], n: usize, label: &dyn Fn(i64) -> String) -> Vec<Bar> {
    let mut bars: Vec<Bar> = (0..n as i64).map(|i| Bar { label: label(i), counts: [0; 6] }).collect();
    for r in rows {
        let Some(bar) = usize::try_from(r.bucket).ok().and_then(|i| bars.get_mut(i)) else { continue };
        let level =
            r.assurance.as_deref().and_then(|a| LEVELS.iter().position(|l| *l == a)).unwrap_or(LEVELS.len() - 1);
        bar.counts[level] += r.delivered;
    }
    bars
}

/// The chart and its table.
fn chart_view(id: &str, title: &str, bars: &[Bar], d: &DashboardTexts, label_every: usize) -> ChartView {
    let svg = svg(&Chart { id, title, bars, level_names: d.levels, no_mail: d.no_mail, label_every });
    let rows = bars
        .iter()
        .map(|b| {
            let total = b.total();
            NumberRow {
                label: b.label.clone(),
                cells: b.counts.iter().map(|&c| format!("{c} ({}%)", percent(c, total))).collect(),
                total,
            }
        })
        .collect();
    ChartView { svg, rows }
}

/// An age in words: "2 h 05 min", "45 s".
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ if s < DAY => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / DAY, s % DAY / 3600),
    }
}

/// The partners whose TLS got worse: a larger share fell short lately, or a downgrade was
/// suspected. Pure.
pub fn worse(partners: &[Partner], at: &dyn Fn(i64) -> String) -> Vec<WorseRow> {
    use sekisho_policy::text::visible;
    partners
        .iter()
        .filter(|p| p.trend == Trend::Worse || p.reasons.iter().any(|r| r.reason == Reason::DowngradeSuspected))
        .map(|p| WorseRow {
            domain: visible(&p.domain).into_owned(),
            reasons: p
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.reason.words(), r.attempts))
                .collect::<Vec<_>>()
                .join(", "),
            trend: p.trend.as_str(),
            since: at(p.since),
        })
        .collect()
}

fn recent_rows(recent: &[RecentDelivery], at: &dyn Fn(i64) -> String) -> Vec<RecentRow> {
    use sekisho_policy::text::visible;
    recent
        .iter()
        .map(|r| RecentRow {
            id: r.message_id.clone(),
            when: at(r.at),
            domain: visible(&r.domain).into_owned(),
            origin: r.origin.clone(),
            assurance: r.assurance.clone().unwrap_or_else(|| "-".into()),
            tls: r.tls.as_deref().map(|t| visible(t).into_owned()).unwrap_or_else(|| "-".into()),
            outcome: r.outcome.clone(),
        })
        .collect()
}

/// `GET /sent/dashboard`.
pub async fn page(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let d = dashboard_texts(t);
    let now = now();
    let zone = &portal.inner.config.time_zone;
    let offset = i64::from(zone.offset_at(now));
    let hours_since = period_start(now, HOUR, offset) - 23 * HOUR;
    let days_since = period_start(now, DAY, offset) - (DAYS - 1) * DAY;
    let month_ago = now - DAYS * DAY;
    let (messages, links) = (&portal.inner.stores.messages, &portal.inner.stores.links);
    let found = tokio::try_join!(
        messages.queue_depth(),
        messages.oldest_queued(),
        messages.recent_deliveries(now, RECENT),
        messages.delivered_by_assurance(hours_since, hours_since + 24 * HOUR, HOUR),
        messages.delivered_by_assurance(days_since, days_since + DAYS * DAY, DAY),
        links.link_counts(now, month_ago),
        messages.quarantined(),
        links.count_events(LinkEvent::QuarantineReleased, month_ago),
        links.count_events(LinkEvent::QuarantineDeleted, month_ago),
        portal.partners(),
    );
    let (depth, oldest, recent, hourly, daily, link_counts, held, released, deleted, partners) = match found {
        Ok(v) => v,
        Err(e) => return unavailable(e),
    };
    let minute = |t: i64| zone.format(t, "%Y-%m-%d %H:%M");
    let hour_bars = bars(&hourly, 24, &|i| zone.format(hours_since + i * HOUR, "%H:%M"));
    let day_bars = bars(&daily, DAYS as usize, &|i| zone.format(days_since + i * DAY + DAY / 2, "%m-%d"));
    let page = DashboardPage {
        t,
        q,
        d,
        who: session.sender,
        depth,
        oldest: oldest.map(|o| age(now - o)).unwrap_or_else(|| d.nothing_waits.to_string()),
        recent: recent_rows(&recent, &minute),
        day: chart_view("chart-24h", d.chart_day, &hour_bars, d, 3),
        month: chart_view("chart-30d", d.chart_month, &day_bars, d, 5),
        worse: worse(&partners, &|t| zone.format(t, "%Y-%m-%d")),
        links: link_counts,
        held: held.len(),
        released,
        deleted,
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(bucket: i64, assurance: Option<&str>, delivered: u64) -> AssuranceCount {
        AssuranceCount { bucket, assurance: assurance.map(str::to_string), delivered }
    }

    #[test]
    fn the_stores_counts_become_bars_per_level_and_unknown_levels_count_as_no_record() {
        let rows = [
            count(0, Some("dane"), 2),
            count(0, None, 1),
            count(2, Some("none"), 3),
            count(2, Some("something-new"), 1),
            count(7, Some("none"), 9),
            count(-1, Some("none"), 9),
        ];
        let bars = bars(&rows, 3, &|i| format!("b{i}"));
        let got: Vec<_> = bars.iter().map(|b| (b.label.as_str(), b.counts)).collect();
        assert_eq!(got, [("b0", [0, 0, 0, 0, 2, 1]), ("b1", [0; 6]), ("b2", [3, 0, 0, 0, 0, 1])]);
    }

    fn evidence(domain: &str, late: bool, plain: bool, downgrade: bool) -> sekisho_store::PartnerEvidence {
        sekisho_store::PartnerEvidence {
            domain: domain.into(),
            outcome: "delivered".into(),
            variant: None,
            assurance: Some(if plain { "none" } else { "authenticated" }.into()),
            failure: plain.then(|| "starttls-not-supported".into()),
            downgrade,
            below_policy: false,
            late,
            attempts: 1,
            first_at: if late { 2000 } else { 1000 },
            last_at: if late { 2000 } else { 1000 },
        }
    }

    #[test]
    fn domains_whose_share_short_of_the_policy_grew_or_with_a_downgrade_are_the_worse_ones() {
        let rows = [
            // worse.example: 1 of 2 short, then 2 of 2.
            evidence("worse.example", false, true, false),
            evidence("worse.example", false, false, false),
            evidence("worse.example", true, true, false),
            evidence("worse.example", true, true, false),
            // better.example: 2 of 2 short, then 1 of 2.
            evidence("better.example", false, true, false),
            evidence("better.example", false, true, false),
            evidence("better.example", true, true, false),
            evidence("better.example", true, false, false),
            // down.example: new in the window, with a suspected downgrade.
            evidence("down.example", true, true, true),
        ];
        let partners = sekisho_partners::partners(&rows, &[]);
        assert_eq!(partners.len(), 3);
        let worse = worse(&partners, &|t| t.to_string());
        let got: Vec<_> = worse.iter().map(|w| (w.domain.as_str(), w.trend, w.since.as_str())).collect();
        assert_eq!(got, [("worse.example", "worse", "1000"), ("down.example", "new", "2000")], "in the report's order");
        assert!(worse[1].reasons.contains("downgrade"), "{}", worse[1].reasons);
    }

    #[test]
    fn periods_start_at_the_zones_hour_and_midnight() {
        // 2026-12-04 23:30 UTC is 2026-12-05 08:30 in Tokyo (UTC+9).
        let t = 1_796_427_000;
        let tokyo = 9 * HOUR;
        assert_eq!(period_start(t, HOUR, tokyo), t - 30 * 60);
        assert_eq!((period_start(t, DAY, tokyo) + tokyo) % DAY, 0);
        assert_eq!(t - period_start(t, DAY, tokyo), 8 * HOUR + 30 * 60, "Tokyo's midnight");
        assert_eq!(t - period_start(t, DAY, 0), 23 * HOUR + 30 * 60, "UTC's midnight");
    }

    #[test]
    fn ages_read_in_the_largest_units() {
        assert_eq!(
            (age(45), age(600), age(2 * 3600 + 300), age(DAY + 3 * 3600)),
            ("45 s".to_string(), "10 min".to_string(), "2 h 05 min".to_string(), "1 d 3 h".to_string())
        );
    }
}
