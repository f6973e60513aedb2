//! SQLite: TLS session counts and DMARC rows per day, the reports sent from them, and the
//! reports other organisations sent.

use async_trait::async_trait;
use sqlx::Row;

use crate::dmarc_rows::DmarcCount;
use crate::error::StoreError;
use crate::reports::{ReceivedReport, ReportKind, ReportStore, SentReport, TlsSessionCount};
use crate::sqlite::SqliteStore;

use crate::rows::json_list;

impl SqliteStore {
    /// The domains with rows of `day` in `table` (`tls_sessions` or `dmarc_rows`), in order.
    async fn report_domains(&self, table: &'static str, day: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!("SELECT DISTINCT domain FROM {table} WHERE day = ? ORDER BY domain"))
            .bind(day)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| r.get("domain")).collect())
    }
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn count_tls_sessions(&self, counts: &[TlsSessionCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut conn = self.write_conn(false).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO tls_sessions (day, domain, policy_type, policy_strings, mx_patterns, mx_host, \
                 receiving_ip, failure, detail, count) VALUES (?,?,?,?,?,?,?,?,?,?) \
                 ON CONFLICT(day, domain, policy_type, policy_strings, mx_patterns, mx_host, receiving_ip, failure) \
                 DO UPDATE SET count = count + excluded.count",
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
            .bind(c.count as i64)
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
            "SELECT * FROM tls_sessions WHERE day = ? AND domain = ? \
             ORDER BY policy_type, policy_strings, mx_patterns, failure, mx_host, receiving_ip",
        )
        .bind(day)
        .bind(domain)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::rows::tls_session).collect()
    }

    async fn record_sent_report(&self, s: &SentReport) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sent_reports (kind, domain, day, destination, report_id, at, status) \
             VALUES (?,?,?,?,?,?,?) ON CONFLICT(kind, domain, day, destination) DO UPDATE SET \
             report_id = excluded.report_id, at = excluded.at, status = excluded.status",
        )
        .bind(s.kind.as_str())
        .bind(&s.domain)
        .bind(&s.day)
        .bind(&s.destination)
        .bind(&s.report_id)
        .bind(s.at)
        .bind(&s.status)
        .execute(&mut *self.write_conn(false).await?)
        .await?;
        Ok(())
    }

    async fn sent_reports(&self, kind: ReportKind, domain: &str, day: &str) -> Result<Vec<SentReport>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM sent_reports WHERE kind = ? AND domain = ? AND day = ? ORDER BY destination")
                .bind(kind.as_str())
                .bind(domain)
                .bind(day)
                .fetch_all(&self.reader)
                .await?;
        Ok(rows.iter().map(|r| crate::rows::sent_report(kind, r)).collect())
    }

    async fn keep_received_report(&self, r: &ReceivedReport) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO received_reports (kind, organization, report_id, domain, begin_at, end_at, good, bad, \
             failures, report, received_at, sender, message_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) \
             ON CONFLICT(kind, organization, report_id) DO NOTHING",
        )
        .bind(r.kind.as_str())
        .bind(&r.organization)
        .bind(&r.report_id)
        .bind(&r.domain)
        .bind(r.begin)
        .bind(r.end)
        .bind(crate::rows::stored_count(r.good))
        .bind(crate::rows::stored_count(r.bad))
        .bind(json_list(&r.failures))
        .bind(&r.report)
        .bind(r.received_at)
        .bind(&r.sender)
        .bind(&r.message_id)
        .execute(&mut *self.write_conn(false).await?)
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
            "SELECT {} FROM received_reports WHERE received_at >= ? \
             ORDER BY received_at DESC, rowid DESC LIMIT ?",
            crate::rows::received_columns(with_report)
        ))
        .bind(since)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::rows::received_report).collect()
    }

    async fn purge_received_reports(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM received_reports WHERE received_at < ?")
            .bind(before)
            .execute(&mut *self.write_conn(false).await?)
            .await?;
        Ok(done.rows_affected())
    }

    async fn purge_tls_sessions(&self, before_day: &str) -> Result<u64, StoreError> {
        let mut conn = self.write_conn(false).await?;
        let a = sqlx::query("DELETE FROM tls_sessions WHERE day < ?").bind(before_day).execute(&mut *conn).await?;
        let b = sqlx::query("DELETE FROM sent_reports WHERE kind = 'tls' AND day < ?")
            .bind(before_day)
            .execute(&mut *conn)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    async fn count_dmarc_rows(&self, counts: &[DmarcCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut conn = self.write_conn(false).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for c in counts {
            let row = crate::rows::dmarc_row_json(&c.row)?;
            sqlx::query(
                "INSERT INTO dmarc_rows (day, domain, row, count) VALUES (?,?,?,?) \
                 ON CONFLICT(day, domain, row) DO UPDATE SET count = count + excluded.count",
            )
            .bind(&c.row.day)
            .bind(&c.row.domain)
            .bind(row)
            .bind(crate::rows::stored_count(c.count))
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
        let rows = sqlx::query("SELECT row, count FROM dmarc_rows WHERE day = ? AND domain = ? ORDER BY row")
            .bind(day)
            .bind(domain)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(crate::rows::dmarc_count).collect()
    }

    async fn purge_dmarc_rows(&self, before_day: &str) -> Result<u64, StoreError> {
        let mut conn = self.write_conn(false).await?;
        let a = sqlx::query("DELETE FROM dmarc_rows WHERE day < ?").bind(before_day).execute(&mut *conn).await?;
        let b = sqlx::query("DELETE FROM sent_reports WHERE kind = 'dmarc' AND day < ?")
            .bind(before_day)
            .execute(&mut *conn)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}
