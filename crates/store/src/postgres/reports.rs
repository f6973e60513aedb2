//! PostgreSQL: TLS session counts and DMARC rows per day, the reports sent from them, and the
//! reports other organisations sent. Counts from several nodes add up in the same rows (an
//! upsert each, in one key order so that two batches never wait on each other).

use async_trait::async_trait;

use crate::dmarc_rows::DmarcCount;
use crate::error::StoreError;
use crate::reports::{ReceivedReport, ReportKind, ReportStore, SentReport, TlsSessionCount};
use crate::rows::{self, Cols as _, json_list};

use super::PgStore;

impl PgStore {
    /// The domains with rows of `day` in `table` (`tls_sessions` or `dmarc_rows`), in order.
    async fn report_domains(&self, table: &'static str, day: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!("SELECT DISTINCT domain FROM {table} WHERE day = $1 ORDER BY domain"))
            .bind(day)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.text("domain")).collect())
    }

    /// Removes the rows of `table` of days before `before_day`, and the records of reports of
    /// `kind` sent for those days; how many rows went.
    async fn purge_days(&self, table: &'static str, kind: ReportKind, before_day: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let a = sqlx::query(&format!("DELETE FROM {table} WHERE day < $1")).bind(before_day).execute(&mut *tx).await?;
        let b = sqlx::query("DELETE FROM sent_reports WHERE kind = $1 AND day < $2")
            .bind(kind.as_str())
            .bind(before_day)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}

#[async_trait]
impl ReportStore for PgStore {
    async fn count_tls_sessions(&self, counts: &[TlsSessionCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for c in rows::tls_in_key_order(counts) {
            sqlx::query(
                "INSERT INTO tls_sessions AS t (day, domain, policy_type, policy_strings, mx_patterns, mx_host, \
                 receiving_ip, failure, detail, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (day, domain, policy_type, md5(policy_strings), md5(mx_patterns), mx_host, \
                 receiving_ip, failure) DO UPDATE SET count = t.count + excluded.count",
            )
            .bind(&c.day)
            .bind(&c.domain)
            .bind(&c.policy.kind)
            .bind(json_list(&c.policy.strings))
            .bind(json_list(&c.policy.mx_patterns))
            .bind(&c.mx_host)
            .bind(&c.receiving_ip)
            .bind(c.failure.as_deref().unwrap_or(""))
            .bind(&c.detail)
            .bind(rows::stored_count(c.count))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tls_report_domains(&self, day: &str) -> Result<Vec<String>, StoreError> {
        self.report_domains("tls_sessions", day).await
    }

    async fn tls_sessions(&self, day: &str, domain: &str) -> Result<Vec<TlsSessionCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM tls_sessions WHERE day = $1 AND domain = $2 \
             ORDER BY policy_type, policy_strings, mx_patterns, failure, mx_host, receiving_ip",
        )
        .bind(day)
        .bind(domain)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::tls_session).collect()
    }

    async fn record_sent_report(&self, s: &SentReport) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sent_reports (kind, domain, day, destination, report_id, at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, domain, day, destination) DO UPDATE SET \
             report_id = excluded.report_id, at = excluded.at, status = excluded.status",
        )
        .bind(s.kind.as_str())
        .bind(&s.domain)
        .bind(&s.day)
        .bind(&s.destination)
        .bind(&s.report_id)
        .bind(s.at)
        .bind(&s.status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sent_reports(&self, kind: ReportKind, domain: &str, day: &str) -> Result<Vec<SentReport>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM sent_reports WHERE kind = $1 AND domain = $2 AND day = $3 ORDER BY destination")
                .bind(kind.as_str())
                .bind(domain)
                .bind(day)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(|r| rows::sent_report(kind, r)).collect())
    }

    async fn purge_tls_sessions(&self, before_day: &str) -> Result<u64, StoreError> {
        self.purge_days("tls_sessions", ReportKind::Tls, before_day).await
    }

    async fn count_dmarc_rows(&self, counts: &[DmarcCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut keyed =
            counts.iter().map(|c| Ok((c, rows::dmarc_row_json(&c.row)?))).collect::<Result<Vec<_>, StoreError>>()?;
        keyed.sort_by(|(a, ja), (b, jb)| (&a.row.day, &a.row.domain, ja).cmp(&(&b.row.day, &b.row.domain, jb)));
        let mut tx = self.pool.begin().await?;
        for (c, row) in keyed {
            sqlx::query(
                "INSERT INTO dmarc_rows AS d (day, domain, \"row\", count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (day, domain, md5(\"row\")) DO UPDATE SET count = d.count + excluded.count",
            )
            .bind(&c.row.day)
            .bind(&c.row.domain)
            .bind(row)
            .bind(rows::stored_count(c.count))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn dmarc_report_domains(&self, day: &str) -> Result<Vec<String>, StoreError> {
        self.report_domains("dmarc_rows", day).await
    }

    async fn dmarc_rows(&self, day: &str, domain: &str) -> Result<Vec<DmarcCount>, StoreError> {
        let rows = sqlx::query("SELECT \"row\", count FROM dmarc_rows WHERE day = $1 AND domain = $2 ORDER BY \"row\"")
            .bind(day)
            .bind(domain)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::dmarc_count).collect()
    }

    async fn purge_dmarc_rows(&self, before_day: &str) -> Result<u64, StoreError> {
        self.purge_days("dmarc_rows", ReportKind::Dmarc, before_day).await
    }

    async fn keep_received_report(&self, r: &ReceivedReport) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO received_reports (kind, organization, report_id, domain, begin_at, end_at, good, bad, \
             failures, report, received_at, sender, message_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (kind, md5(organization), md5(report_id)) DO NOTHING",
        )
        .bind(r.kind.as_str())
        .bind(&r.organization)
        .bind(&r.report_id)
        .bind(&r.domain)
        .bind(r.begin)
        .bind(r.end)
        .bind(rows::stored_count(r.good))
        .bind(rows::stored_count(r.bad))
        .bind(json_list(&r.failures))
        .bind(&r.report)
        .bind(r.received_at)
        .bind(&r.sender)
        .bind(&r.message_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn received_reports(
        &self,
        since: i64,
        limit: u32,
        with_report: bool,
    ) -> Result<Vec<ReceivedReport>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM received_reports WHERE received_at >= $1 ORDER BY received_at DESC, seq DESC LIMIT $2",
            rows::received_columns(with_report)
        ))
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::received_report).collect()
    }

    async fn purge_received_reports(&self, before: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM received_reports WHERE received_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
