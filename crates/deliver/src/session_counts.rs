//! TLS sessions to recipient domains, counted in memory as delivery has them and written to
//! the store in batches (every minute and at shutdown), for the daily TLS-RPT reports. Memory
//! is bounded by the number of distinct (day, domain, policy, host, address, result) rows, not
//! by the number of sessions.

use sekisho_store::{Counts, ReportedPolicy, TlsSessionCount};

/// Distinct rows kept before the oldest counts are written anyway (a flood of distinct hosts).
const MAX_ROWS: usize = 10_000;

type Key = (String, String, ReportedPolicy, String, String, Option<String>);

/// Session counts not yet in the store.
pub struct SessionCounts {
    rows: Counts<Key, Option<String>>,
}

impl Default for SessionCounts {
    fn default() -> Self {
        SessionCounts { rows: Counts::new(MAX_ROWS) }
    }
}

/// The UTC day of unix time `t`, `YYYY-MM-DD`.
pub fn utc_day(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().format("%Y-%m-%d").to_string()
}

impl SessionCounts {
    /// Counts one session to `domain`'s host `host` at `ip` at unix time `at`; `failure` is
    /// the result type and detail of a failed one. Returns true when the rows should be
    /// written now (too many distinct ones).
    pub fn add(
        &self,
        at: i64,
        domain: &str,
        host: &str,
        ip: &str,
        policy: ReportedPolicy,
        failure: Option<(String, String)>,
    ) -> bool {
        let (kind, detail) = match failure {
            Some((k, d)) => (Some(k), Some(d)),
            None => (None, None),
        };
        let key = (utc_day(at), domain.to_ascii_lowercase(), policy, host.to_ascii_lowercase(), ip.to_string(), kind);
        self.rows.add(key, || detail)
    }

    /// Takes every row counted so far.
    pub fn take(&self) -> Vec<TlsSessionCount> {
        self.rows
            .take()
            .into_iter()
            .map(|((day, domain, policy, mx_host, receiving_ip, failure), count, detail)| TlsSessionCount {
                day,
                domain,
                policy,
                mx_host,
                receiving_ip,
                failure,
                detail,
                count,
            })
            .collect()
    }

    /// Puts rows back after the store refused them, so a passing failure loses no count.
    pub fn restore(&self, rows: Vec<TlsSessionCount>) {
        self.rows.restore(
            rows.into_iter()
                .map(|r| ((r.day, r.domain, r.policy, r.mx_host, r.receiving_ip, r.failure), r.count, r.detail))
                .collect(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> ReportedPolicy {
        ReportedPolicy { kind: "no-policy-found".into(), strings: vec![], mx_patterns: vec![] }
    }

    #[test]
    fn like_sessions_make_one_row_per_day_and_result() {
        let c = SessionCounts::default();
        let day1 = 1_764_806_400; // 2025-12-04T00:00:00Z
        for _ in 0..3 {
            c.add(day1 + 10, "Example.JP", "mx.example.jp", "192.0.2.1", none(), None);
        }
        c.add(
            day1 + 20,
            "example.jp",
            "mx.example.jp",
            "192.0.2.1",
            none(),
            Some(("starttls-not-supported".into(), "no".into())),
        );
        c.add(day1 + 86_400, "example.jp", "mx.example.jp", "192.0.2.1", none(), None);
        let mut rows = c.take();
        rows.sort_by(|a, b| (&a.day, &a.failure).cmp(&(&b.day, &b.failure)));
        let seen: Vec<(&str, Option<&str>, u64)> =
            rows.iter().map(|r| (r.day.as_str(), r.failure.as_deref(), r.count)).collect();
        assert_eq!(
            seen,
            [("2025-12-04", None, 3), ("2025-12-04", Some("starttls-not-supported"), 1), ("2025-12-05", None, 1)]
        );
        assert!(c.take().is_empty(), "taken rows are gone");
        c.restore(rows);
        assert_eq!(c.take().iter().map(|r| r.count).sum::<u64>(), 5);
    }
}
